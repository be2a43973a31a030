"""Reader for SCALE-Sim topology CSVs: shapes only, one independent layer per row.

Two forms, told apart by the header (the first non-blank line, always skipped, as SCALE-Sim does):

conv  ``Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,``
      optionally followed by ``Sparsity`` (``N:M``) and, in a few shipped files, more columns.
gemm  ``Layer, M, N, K,`` optionally followed by ``Sparsity``.

How each row becomes a :class:`~accelsim.layers.LayerDescriptor` (all quirks of SCALE-Sim 3.0.0
``topology_utils.py`` that change a number are kept, so cycle counts can be compared 1:1):

* No padding field: the IFMAP dims are already padded. SCALE-Sim's output size is
  ``OH = ceil((H - R + S) / S)`` (ceil, not floor). We keep its output shape and make the
  descriptor self-consistent by adding bottom/right padding ``pb = (OH - 1) * S + R - H``
  (``0 <= pb < S``; zero when the stride divides evenly), so floor-based shape rules agree.
  ``extra["shape_convention"] = "scalesim"`` marks such descriptors.
* One stride for both dims.
* A name containing ``DP`` is depthwise: SCALE-Sim expands it into ``Channels`` layers of one
  channel and ``Num Filter`` filters each. We carry one ``depthwise`` descriptor with
  ``groups = C`` and ``C * Num Filter`` output channels, whose GEMM view (C groups of
  M x K=R*S x N=Num Filter) is the same set of folds; ``extra["scalesim_expanded_layers"] = C``.
* Rows with ``Num Filter = 1`` (the shipped ``mobilenet.csv`` writes depthwise layers so) are
  dense convolutions, as written.
* GEMM rows ``M, N, K`` become op ``gemm`` with ``in_shape (N=batch, K, M, 1)`` and
  ``out_shape (batch, N, M, 1)``: the M rows sit in H, so the GEMM view is M x K x N and
  :meth:`Network.with_batch` scales M instead of overwriting it (with M in the batch dim, as
  ``(M, K, 1, 1)``, ``with_batch(1)`` would silently turn every row into M = 1). SCALE-Sim
  lowers such a row to a conv with H=M, W=K, R=1, S=K, C=1: the same GEMM.
* Rows are independent (SCALE-Sim does not chain them): layer ``L`` reads tensor ``"L.ifmap"``,
  a network input, and writes tensor ``"L"``. A repeated name gets a ``#2``, ``#3`` suffix
  (``extra["csv_name"]`` keeps the original).

Tolerated beyond SCALE-Sim (which would crash or misread these): a UTF-8 byte order mark, a
missing trailing comma, all-empty rows (``,,,,``), extra columns the header names (kept as
text in ``extra``, e.g. ``Eh, Ew`` in ``Resnet50.csv``), ``#`` comments to the end of a line
(``#dw`` in ``mobilnet_paper.csv``, kept as ``extra["csv_comment"]``), and a ``Batch Size``
column (it sets N). Everything else that is malformed raises
:class:`~accelsim.errors.InputFileError` naming the file, the line and what is valid.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from accelsim.atomic import write_text
from accelsim.errors import ConfigError, InputFileError, UnsupportedOpError
from accelsim.layers import LayerDescriptor, Network

FORMS = ("auto", "conv", "gemm")
"""Accepted values of ``form``."""

CONV_COLUMNS = ("IFMAP Height", "IFMAP Width", "Filter Height", "Filter Width", "Channels",
                "Num Filter", "Strides")
GEMM_COLUMNS = ("M", "N", "K")


def scalesim_out_size(size: int, kernel: int, stride: int) -> int:
    """SCALE-Sim's output size ``ceil((size - kernel + stride) / stride)`` in integer math."""
    return (size - kernel + stride - 1) // stride + 1


def _split(line: str) -> list[str]:
    """Comma-split, strip each field, drop the trailing empty field(s) of trailing commas."""
    fields = [f.strip() for f in line.split(",")]
    while fields and fields[-1] == "":
        fields.pop()
    return fields


def detect_form(header: str) -> str | None:
    """``"gemm"`` or ``"conv"`` from a header line, ``None`` when it is neither."""
    cols = [c.lower() for c in _split(header)]
    if len(cols) >= 4 and cols[1:4] == ["m", "n", "k"]:
        return "gemm"
    if len(cols) >= 8 and "ifmap" in cols[1] and "filter" in cols[3]:
        return "conv"
    return None


def _plural(n: int) -> str:
    return f"{n} field" if n == 1 else f"{n} fields"


class _Row:
    """One data row with its location, for error messages."""

    def __init__(self, path: Path, lineno: int, fields: list[str]):
        self.path, self.lineno, self.fields = path, lineno, fields

    def fail(self, what: str) -> InputFileError:
        return InputFileError(f"{self.path}:{self.lineno}: {what}")

    def positive_int(self, index: int, column: str) -> int:
        text = self.fields[index]
        try:
            value = int(text)
        except ValueError:
            raise self.fail(f"column {column!r} must be a positive integer, got {text!r}") from None
        if value < 1:
            raise self.fail(f"column {column!r} must be a positive integer (>= 1), got {value}")
        return value

    def sparsity(self, index: int) -> str | None:
        """``N:M`` structured-sparsity ratio (``1 <= N <= M``), or None when empty."""
        text = self.fields[index]
        if text == "":
            return None
        parts = text.split(":")
        try:
            n, m = (int(p) for p in parts)
        except ValueError:
            raise self.fail(f"column 'Sparsity' must be N:M with integers 1 <= N <= M, got {text!r}") from None
        if not 1 <= n <= m:
            raise self.fail(f"column 'Sparsity' must be N:M with integers 1 <= N <= M, got {text!r}")
        return f"{n}:{m}"


def read_topology(path: str | Path, form: str = "auto", batch: int = 1) -> Network:
    """Read a SCALE-Sim topology CSV into a shape-only :class:`Network` (8-bit defaults).

    Parameters
    ----------
    path : the CSV file.
    form : ``"auto"`` (from the header), ``"conv"`` or ``"gemm"`` (SCALE-Sim's ``-i gemm``).
    batch : N of every layer (inferences); a GEMM row's M rows are per inference.

    Returns
    -------
    Network
        One descriptor per row, in file order, each reading its own input tensor (see module doc);
        ``meta`` holds ``source``, ``form`` and ``shape_convention = "scalesim"``.

    Raises
    ------
    ConfigError
        ``form`` or ``batch`` is not valid.
    InputFileError
        Missing/unreadable file, unrecognised header, or a bad row (wrong field count,
        non-integer or non-positive size, filter larger than the input, bad sparsity), with the
        line number.
    """
    if form not in FORMS:
        raise ConfigError(f"topology form must be one of {', '.join(FORMS)}, got {form!r}")
    if not isinstance(batch, int) or batch < 1:
        raise ConfigError(f"batch must be a positive integer, got {batch!r}")
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputFileError(f"{path}: topology file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputFileError(f"{path}: cannot read topology file ({exc})") from None

    lines = [(i, line) for i, line in enumerate(text.splitlines(), start=1) if line.strip()]
    if not lines:
        raise InputFileError(f"{path}: empty topology file (expected a header line and one row per layer)")
    header_no, header = lines[0]
    detected = detect_form(header)
    if form == "auto":
        if detected is None:
            hint = " (fields must be separated by commas)" if "\t" in header else ""
            raise InputFileError(
                f"{path}:{header_no}: header {header.strip()[:60]!r} is not a SCALE-Sim topology header"
                f"{hint}; expected 'Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, "
                f"Channels, Num Filter, Strides,' (conv) or 'Layer, M, N, K,' (gemm)")
        form = detected
    header_cols = _split(header)

    layers: list[LayerDescriptor] = []
    seen: dict[str, int] = {}
    for lineno, line in lines[1:]:
        line, _, comment = line.partition("#")
        fields = _split(line)
        if not fields:
            continue  # a row of empty fields: ",,,,,,"
        row = _Row(path, lineno, fields)
        if form == "conv":
            layer = _conv_row(row, header_cols, batch)
        else:
            layer = _gemm_row(row, header_cols, batch)
        if comment.strip():
            layer = replace(layer, extra={**layer.extra, "csv_comment": comment.strip()})
        count = seen.get(layer.name, 0) + 1
        seen[layer.name] = count
        if count > 1:
            unique = f"{layer.name}#{count}"
            layer = replace(layer, name=unique, output=unique, inputs=(f"{unique}.ifmap",),
                            extra={**layer.extra, "csv_name": layer.name})
        layers.append(layer)
    if not layers:
        raise InputFileError(f"{path}: no layer rows after the header (line {header_no})")
    return Network(
        name=path.stem,
        layers=tuple(layers),
        inputs=tuple(layer.inputs[0] for layer in layers),
        outputs=tuple(layer.output for layer in layers),
        meta={"source": str(path), "form": form, "shape_convention": "scalesim", "shape_only": True,
              "chained": False},
    )


def _extra_columns(row: _Row, header_cols: list[str], start: int, batch_ok: bool) -> dict[str, object]:
    """Interpret the fields after the fixed ones (from index *start*).

    A field under a ``Sparsity`` column (or, with no column above it, the first extra field when
    it looks like ``N:M``) is the sparsity ratio; one under ``Batch Size`` (conv only) is the
    batch; one under any other header column is kept as text; a non-empty field with no header
    column above it is a wrong field count. Returns ``{"sparsity": str, "batch": int, <col>: str}``.
    """
    out: dict[str, object] = {}
    for i in range(start, len(row.fields)):
        value = row.fields[i]
        if value == "":
            continue
        col = header_cols[i] if i < len(header_cols) else None
        low = (col or "").lower()
        if low.startswith("sparsity") or (not low and i == start and ":" in value):
            sp = row.sparsity(i)
            if sp is not None:
                out["sparsity"] = sp
        elif batch_ok and low.startswith("batch"):
            out["batch"] = row.positive_int(i, col)
        elif col is None:
            raise row.fail(
                f"wrong field count: {_plural(len(row.fields))} but the header has {len(header_cols)} "
                f"columns (expected Layer name, {start - 1} integers and optionally Sparsity N:M)")
        else:
            out[f"csv_{col}" if col else f"csv_column_{i + 1}"] = value
    return out


def _conv_row(row: _Row, header_cols: list[str], batch: int) -> LayerDescriptor:
    if len(row.fields) < 8:
        raise row.fail(
            f"wrong field count: {_plural(len(row.fields))}, expected 8 (Layer name, "
            f"{', '.join(CONV_COLUMNS)}) and optionally Sparsity N:M")
    name = row.fields[0]
    if name == "":
        raise row.fail("empty layer name")
    h, w, r, s, c, nf, stride = (row.positive_int(i, col) for i, col in enumerate(CONV_COLUMNS, start=1))
    if r > h or s > w:
        raise row.fail(f"filter {r}x{s} is larger than the IFMAP {h}x{w} (filter must fit the padded input)")
    extra: dict[str, object] = {"source": f"{row.path}:{row.lineno}", "shape_convention": "scalesim",
                                "ofmap_rule": "ceil((H - R + S) / S)"}
    extra.update(_extra_columns(row, header_cols, 8, batch_ok=True))
    n = batch * int(extra.pop("batch", 1))
    oh, ow = scalesim_out_size(h, r, stride), scalesim_out_size(w, s, stride)
    pad_b, pad_r = (oh - 1) * stride + r - h, (ow - 1) * stride + s - w
    assert 0 <= pad_b < stride and 0 <= pad_r < stride
    common = dict(name=name, inputs=(f"{name}.ifmap",), output=name, in_shape=(n, c, h, w),
                  kernel=(r, s), stride=(stride, stride), padding=(0, 0, pad_b, pad_r))
    if "DP" in name:
        extra["scalesim_expanded_layers"] = c
        return LayerDescriptor(op="depthwise", out_shape=(n, c * nf, oh, ow), groups=c, extra=extra, **common)
    return LayerDescriptor(op="conv2d", out_shape=(n, nf, oh, ow), extra=extra, **common)


def _gemm_row(row: _Row, header_cols: list[str], batch: int) -> LayerDescriptor:
    if len(row.fields) < 4:
        raise row.fail(f"wrong field count: {_plural(len(row.fields))}, expected 4 (Layer, M, N, K) "
                       "and optionally Sparsity N:M")
    name = row.fields[0]
    if name == "":
        raise row.fail("empty layer name")
    m, n, k = (row.positive_int(i, col) for i, col in enumerate(GEMM_COLUMNS, start=1))
    extra: dict[str, object] = {"source": f"{row.path}:{row.lineno}", "shape_convention": "scalesim"}
    extra.update(_extra_columns(row, header_cols, 4, batch_ok=False))
    return LayerDescriptor(name=name, op="gemm", inputs=(f"{name}.ifmap",), output=name,
                           in_shape=(batch, k, m, 1), out_shape=(batch, n, m, 1), extra=extra)


def write_topology(net: Network, path: str | Path) -> list[tuple[str, int]]:
    """Write the array layers of *net* as a SCALE-Sim conv-form CSV, so SCALE-Sim can run a zoo net.

    Each row reproduces the layer's GEMM view exactly under SCALE-Sim's rules: the IFMAP is the
    padded input trimmed to the rows and columns the kernel reads, ``H' = (OH - 1) * S + R``, so
    SCALE-Sim's ``ceil((H' - R + S) / S)`` equals our ``OH`` (floor-based with padding).

    - dense conv: one row; depthwise (``groups == C``, multiplier ``m``): one ``<name>_DP`` row with
      ``C`` channels and ``m`` filters (SCALE-Sim expands it into ``C`` rows);
    - grouped conv (``1 < groups < C``): one row per group, ``<name>.g<i>``, ``C/g`` channels and
      ``Cout/g`` filters each (SCALE-Sim has no groups; the folds are the same);
    - gemm ``(N, K, H, W)`` -> a 1x1 conv over ``N*H*W`` pixels (``IFMAP = N*H*W x 1``).
    - layers off the array (pool, add, concat, ...) are skipped: SCALE-Sim only models the array.

    Returns
    -------
    list of (layer name, number of rows SCALE-Sim's COMPUTE_REPORT will hold for it)

    Raises
    ------
    UnsupportedOpError
        A layer SCALE-Sim cannot express (unequal strides, dilation other than 1).
    """
    header = ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, "
              "Num Filter, Strides,")
    lines, mapping = [header], []
    for layer in net.layers:
        if not layer.on_array:
            continue
        name = layer.name.replace(",", "_").replace("DP", "Dp")
        n, c, _, _ = layer.in_shape
        _, cout, oh, ow = layer.out_shape
        if layer.op == "gemm":
            lines.append(f"{name}, {n * oh * ow}, 1, 1, 1, {c}, {cout}, 1,")
            mapping.append((layer.name, 1))
            continue
        (kh, kw), (sh, sw) = layer.kernel, layer.stride
        if sh != sw or layer.dilation != (1, 1):
            raise UnsupportedOpError(
                f"layer {layer.name!r}: SCALE-Sim takes one stride and no dilation, got stride "
                f"{layer.stride} and dilation {layer.dilation}")
        if n != 1:
            raise UnsupportedOpError(f"layer {layer.name!r}: SCALE-Sim conv rows have no batch, got N={n}")
        h, w = (oh - 1) * sh + kh, (ow - 1) * sw + kw
        g = layer.groups
        if g == 1:
            lines.append(f"{name}, {h}, {w}, {kh}, {kw}, {c}, {cout}, {sh},")
            mapping.append((layer.name, 1))
        elif g == c:
            lines.append(f"{name}_DP, {h}, {w}, {kh}, {kw}, {c}, {cout // c}, {sh},")
            mapping.append((layer.name, c))
        else:
            for i in range(g):
                lines.append(f"{name}.g{i}, {h}, {w}, {kh}, {kw}, {c // g}, {cout // g}, {sh},")
            mapping.append((layer.name, g))
    write_text(path, "\n".join(lines) + "\n")
    return mapping
