"""ONNX import: an ``.onnx`` file -> the float IR :class:`~accelsim.graph.ir.Graph`.

The importer owns the translation from ONNX operators (default domain, opset 7 and up; tested at
opsets 10 to 19) into the IR vocabulary, and the clean-ups that make the graph what the quantizer
expects:

- ``Identity`` and ``Dropout`` disappear; ``Constant`` nodes and initializers become constants.
- Everything computable from constants and known shapes is folded at import time (the
  ``Shape -> Gather -> Unsqueeze -> Concat -> Reshape`` chains PyTorch exports for flatten, ``Cast``,
  ``Slice``, arithmetic on constants), given the input shape.
- ``BatchNormalization`` folds into the preceding ``Conv`` (or ``Gemm``) when that node's output feeds
  only the BN;
  otherwise it stays a ``batchnorm`` node (``y = x*scale + shift``).
- ``MatMul`` with a constant right operand (+ a constant ``Add``) and every ``Gemm`` form become
  ``gemm`` (``y = x @ W.T + B``); ``Sub``/``Div`` by a constant become ``add``/``mul``.
- ``auto_pad`` is resolved to explicit ``(top, left, bottom, right)`` pads; a zero constant ``Pad``
  feeding only a ``Conv`` (or an ``AveragePool`` that counts padding) is folded into it.
- ``Reshape`` targets are resolved (``0`` and ``-1``); a resolved first dimension equal to the batch
  is written back as ``-1`` so the graph runs at any batch size.

Shapes are tracked by the executor's own shape rules while importing, so no separate ONNX shape
inference pass is needed. A symbolic batch dimension is taken as 1 unless *input_shape* says
otherwise; any other symbolic dimension needs *input_shape*.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from accelsim.errors import InputFileError, UnsupportedOpError
from accelsim.graph.executor import infer_shapes, node_output_shapes
from accelsim.graph.fuse import consumers, drop_dead_nodes, fuse_affine, fuse_elementwise
from accelsim.graph.ir import Graph, Node
from accelsim.graph.passes import absorb_input_transpose, check_shapes, fold_constants

__all__ = ["load_onnx", "import_model", "SUPPORTED_ONNX_OPS"]

MIN_OPSET = 7


def _onnx():
    import onnx  # local import: keeps `import accelsim.graph` cheap

    return onnx


def load_onnx(path: str | Path, input_shape: tuple | dict[str, tuple] | None = None) -> Graph:
    """Read an ONNX file and translate it into the float IR.

    Parameters
    ----------
    path : the ``.onnx`` file.
    input_shape : full shape ``(N, C, H, W)`` of the model input (a dict name -> shape when the
        model has several inputs). Needed only when the file leaves a non-batch dimension
        symbolic; a symbolic batch dimension defaults to 1.

    Returns
    -------
    Graph with nodes in topological order and float32 params.

    Raises
    ------
    InputFileError
        Missing, corrupt or truncated file; a model failing ``onnx.checker``; a dynamic shape with
        no *input_shape*; an *input_shape* that contradicts the file.
    UnsupportedOpError
        An op, attribute value or non-constant operand the IR cannot express (names the node).
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"{path}: ONNX model file not found")
    onnx = _onnx()
    try:
        model = onnx.load(str(path))  # external data: files beside the model, checked by onnx
    except Exception as exc:  # protobuf DecodeError and friends: corrupt or truncated
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "external" in first.lower() or "TensorProto" in first:
            raise InputFileError(f"{path}: the model's external data cannot be read: {first} (valid: a file in "
                                 f"the model's folder, named by a relative path)") from None
        raise InputFileError(f"{path}: not a readable ONNX model (corrupt or truncated file?): {first}") from None
    if len(model.graph.node) == 0:
        raise InputFileError(f"{path}: not an ONNX model, or a model with no nodes (corrupt or truncated file?)")
    try:
        onnx.checker.check_model(model)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputFileError(f"{path}: ONNX model fails onnx.checker: {first}") from None
    return import_model(model, input_shape, source=str(path), name=path.stem)


def import_model(model: Any, input_shape: tuple | dict[str, tuple] | None = None,
                 source: str = "<onnx model>", name: str | None = None) -> Graph:
    """Translate an in-memory ``onnx.ModelProto`` into the IR (see :func:`load_onnx`)."""
    return _Importer(model, source).run(input_shape, name)


# ----------------------------------------------------------------------------------------------


_BOUND_INPUTS = {"Clip": (1, 2)}
"""Node inputs that may legitimately be infinite (a Clip with no upper bound), by op type."""


def check_finite_initializers(graph_proto: Any, consts: dict[str, np.ndarray], source: str) -> None:
    """Refuse float initializers holding NaN or Inf (a weight or bias the model cannot have meant).

    Inf is allowed only in an initializer every consumer uses as a bound (``Clip`` min/max).

    Raises
    ------
    InputFileError
        Naming the initializer, how many values are NaN / Inf, the first flat index, and a node
        that reads it.
    """
    users: dict[str, list[tuple[Any, int]]] = {}
    for node in graph_proto.node:
        for k, name in enumerate(node.input):
            users.setdefault(name, []).append((node, k))
    for init in graph_proto.initializer:
        arr = consts.get(init.name)
        if arr is None or not np.issubdtype(arr.dtype, np.floating) or arr.size == 0:
            continue
        nan, inf = np.isnan(arr), np.isinf(arr)
        if not nan.any() and not inf.any():
            continue
        readers = users.get(init.name, [])
        if not nan.any() and readers and all(k in _BOUND_INPUTS.get(n.op_type, ()) for n, k in readers):
            continue
        bad = nan | inf
        first = int(np.argmax(bad.reshape(-1)))
        node = f" (read by {readers[0][0].op_type} node {readers[0][0].name or '?'!r})" if readers else ""
        raise InputFileError(
            f"{source}: initializer {init.name!r}{node} of shape {tuple(arr.shape)} holds "
            f"{int(nan.sum())} NaN and {int(inf.sum())} Inf values (first at flat index {first}); "
            "a trained model's weights and biases are finite - re-export the model"
        )


def _attrs(node) -> dict[str, Any]:
    onnx = _onnx()
    out = {}
    for a in node.attribute:
        v = onnx.helper.get_attribute_value(a)
        if isinstance(v, bytes):
            v = v.decode("utf-8")
        out[a.name] = v
    return out


def _same_pads(size, kernel, stride, dilation, lower):
    """Total and split padding of ``auto_pad`` SAME_UPPER/SAME_LOWER: ``out = ceil(size/stride)``."""
    out = -(-size // stride)
    total = max(0, (out - 1) * stride + (kernel - 1) * dilation + 1 - size)
    small, big = total // 2, total - total // 2
    return (big, small) if lower else (small, big)


class _Importer:
    """One import: the ONNX model, the constants and shapes known so far, the IR being built."""

    def __init__(self, model, source: str):
        self.model = model
        self.source = source
        self.consts: dict[str, np.ndarray] = {}
        self.shapes: dict[str, tuple] = {}
        self.alias: dict[str, str] = {}
        self.nodes: list[Node] = []
        self.params: dict[str, np.ndarray] = {}
        self.node_names: set[str] = set()
        self.opset = 0
        self.batch = 1

    # -- helpers -------------------------------------------------------------------------------

    def err(self, onode, what: str) -> UnsupportedOpError:
        return UnsupportedOpError(f"{self.source}: node {onode.name!r} ({onode.op_type}): {what}")

    def r(self, name: str) -> str:
        while name in self.alias:
            name = self.alias[name]
        return name

    def const(self, name: str) -> np.ndarray | None:
        return self.consts.get(self.r(name)) if name else None

    def need_const(self, onode, name: str, what: str) -> np.ndarray:
        v = self.const(name)
        if v is None:
            raise self.err(onode, f"{what} {name!r} must be a constant (initializer), found a computed tensor")
        return v

    def shape(self, name: str) -> tuple:
        name = self.r(name)
        if name in self.consts:
            return tuple(self.consts[name].shape)
        if name in self.params:
            return tuple(self.params[name].shape)
        return self.shapes[name]

    def unique_name(self, base: str) -> str:
        name, k = base, 1
        while name in self.node_names:
            k += 1
            name = f"{base}_{k}"
        self.node_names.add(name)
        return name

    def emit(self, op: str, name: str, inputs: list[str], output: str, **attrs) -> str:
        ins = []
        for i in inputs:
            i = self.r(i)
            if i in self.consts:
                self.params.setdefault(i, np.ascontiguousarray(self.consts[i], dtype=np.float32))
            ins.append(i)
        node = Node(self.unique_name(name), op, ins, [output], attrs)
        try:
            shape = node_output_shapes(node, [self.shape(i) for i in ins])[0]
        except UnsupportedOpError as exc:  # e.g. operands that do not broadcast: say which file
            raise UnsupportedOpError(f"{self.source}: {exc}") from None
        self.shapes[output] = tuple(int(d) for d in shape)
        self.nodes.append(node)
        return output

    def new_param(self, base: str, value: np.ndarray) -> str:
        name, k = base, 1
        while name in self.params or name in self.consts or name in self.shapes:
            k += 1
            name = f"{base}_{k}"
        self.params[name] = np.ascontiguousarray(value, dtype=np.float32)
        return name

    # -- driver --------------------------------------------------------------------------------

    def run(self, input_shape, name) -> Graph:
        onnx = _onnx()
        model = self.model
        for imp in model.opset_import:
            if imp.domain in ("", "ai.onnx"):
                self.opset = int(imp.version)
        if self.opset < MIN_OPSET:
            try:  # old files: let onnx's version converter lift them to opset 11 first
                self.model = model = onnx.version_converter.convert_version(model, 11)
                self.opset = 11
            except Exception as exc:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise UnsupportedOpError(
                    f"{self.source}: default-domain opset {self.opset} is older than {MIN_OPSET} and "
                    f"onnx.version_converter could not lift it to 11 ({first}); re-export at opset 11 or later"
                ) from None
        # before any op is looked at: an NHWC input's Transpose goes into the input, constants fold
        self.model = model = fold_constants(absorb_input_transpose(model), input_shape)
        g = model.graph
        for init in g.initializer:
            self.consts[init.name] = onnx.numpy_helper.to_array(init)
        check_finite_initializers(g, self.consts, self.source)
        self._check_support(g)
        inputs = self._inputs(g, input_shape)
        for i, onode in enumerate(g.node):
            if not onode.name:
                onode.name = f"{onode.op_type.lower()}_{i}"
            self._node(onode)
        self._keep_output_names([o.name for o in g.output])
        outputs = []
        for o in g.output:
            rn = self.r(o.name)
            if rn in self.consts and rn not in self.params:
                self.params[rn] = np.ascontiguousarray(self.consts[rn], dtype=np.float32)
            outputs.append(rn)
        graph = Graph(name or g.name or "model", self.nodes, inputs, outputs, self.params)
        _fold_batchnorm(graph)
        _fold_pad(graph)
        _fold_gemm_bias(graph)
        fuse_elementwise(graph)
        fuse_affine(graph, infer_shapes(graph))
        drop_dead_nodes(graph)  # e.g. a Split output nobody reads
        _prune_params(graph)
        check_shapes(graph, self.source)
        return graph

    def _check_support(self, g) -> None:
        """Refuse the model before any work when an op type is unknown: name the first such node and
        list every unsupported op type of the model (so one round trip shows the whole gap)."""
        known = set(SUPPORTED_ONNX_OPS) | set(_FOLDERS)
        bad = [(i, n) for i, n in enumerate(g.node)
               if n.domain not in ("", "ai.onnx") or n.op_type not in known or n.op_type in _OUT_OF_SCOPE]
        if not bad:
            return
        i, first = bad[0]
        name = first.name or f"{first.op_type.lower()}_{i}"
        types = sorted({(n.op_type if n.domain in ("", "ai.onnx") else f"{n.domain}.{n.op_type}") for _, n in bad})
        if first.op_type in _OUT_OF_SCOPE and first.domain in ("", "ai.onnx"):
            why = f"{_OUT_OF_SCOPE[first.op_type]} is outside accelsim's CNN scope (not supported)"
        elif first.domain not in ("", "ai.onnx"):
            why = f"domain {first.domain!r} is not supported (only the default ONNX domain)"
        else:
            why = f"op type {first.op_type!r} is not supported"
        raise UnsupportedOpError(
            f"{self.source}: node {name!r} ({first.op_type}): {why}; unsupported op types in this model: "
            f"{', '.join(types)} (supported: {', '.join(SUPPORTED_ONNX_OPS)})")

    def _keep_output_names(self, names: list[str]) -> None:
        """A graph output reached through a removed Identity/Dropout/Cast keeps its ONNX name: the
        producing node's output is renamed to it (consumers follow)."""
        producer = {o: n for n in self.nodes for o in n.outputs}
        for name in names:
            src = self.r(name)
            node = producer.get(src)
            if src == name or node is None or src in names:
                continue
            node.outputs = [name if o == src else o for o in node.outputs]
            for n in self.nodes:
                n.inputs = [name if i == src else i for i in n.inputs]
            self.shapes[name] = self.shapes[src]
            self.alias = {k: (name if v == src else v) for k, v in self.alias.items() if k != name}
            producer[name] = node

    def _inputs(self, g, input_shape) -> dict[str, tuple]:
        real = [i for i in g.input if i.name not in self.consts]
        if isinstance(input_shape, dict):
            given = {k: tuple(int(d) for d in v) for k, v in input_shape.items()}
            unknown = sorted(set(given) - {i.name for i in real})
            if unknown:
                raise InputFileError(
                    f"{self.source}: input_shape names {unknown}, model inputs are {[i.name for i in real]}"
                )
        elif input_shape is not None:
            if len(real) != 1:
                raise InputFileError(
                    f"{self.source}: model has {len(real)} inputs {[i.name for i in real]}; give input_shape "
                    f"as a mapping input name -> shape"
                )
            given = {real[0].name: tuple(int(d) for d in input_shape)}
        else:
            given = {}
        out = {}
        for vi in real:
            tt = vi.type.tensor_type
            dims = None
            if tt.HasField("shape"):
                dims = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None for d in tt.shape.dim]
            shown = "?" if dims is None else "(" + ", ".join("?" if d is None else str(d) for d in dims) + ")"
            if vi.name in given:
                shp = given[vi.name]
                if dims is not None and (
                    len(dims) != len(shp) or any(d is not None and d != s for d, s in zip(dims[1:], shp[1:]))
                ):
                    raise InputFileError(
                        f"{self.source}: input_shape {shp} for input {vi.name!r} contradicts the model's {shown}"
                    )
                if any(s <= 0 for s in shp):
                    raise InputFileError(f"{self.source}: input_shape {shp} for input {vi.name!r} must be positive")
            else:
                if dims is None or any(d is None for d in dims[1:]):
                    raise InputFileError(
                        f"{self.source}: input {vi.name!r} has a dynamic shape {shown}; give its full shape "
                        f"(--input-shape N,C,H,W, workload.input_shape in the config, or input_shape= in "
                        f"Python), or data to take it from"
                    )
                shp = tuple([dims[0] if dims[0] is not None else 1] + list(dims[1:]))
            out[vi.name] = shp
            self.shapes[vi.name] = shp
        if out:
            self.batch = next(iter(out.values()))[0]
        return out

    def _node(self, onode) -> None:
        op = onode.op_type
        if onode.domain not in ("", "ai.onnx"):
            raise self.err(onode, f"domain {onode.domain!r} is not supported (only the default ONNX domain); "
                                  f"supported ops: {', '.join(SUPPORTED_ONNX_OPS)}")
        if op in ("Identity", "Dropout"):
            extra = [o for o in onode.output[1:] if o]
            if extra and self._used(extra):
                raise self.err(onode, "the Dropout mask output is used; only inference graphs are supported")
            self.alias[onode.output[0]] = self.r(onode.input[0])
            return
        if op == "Constant":
            self.consts[onode.output[0]] = self._constant_value(onode)
            return
        if op == "Shape":
            shp = np.array(self.shape(onode.input[0]), dtype=np.int64)
            a = _attrs(onode)
            self.consts[onode.output[0]] = shp[a.get("start", 0): a.get("end", None)]
            return
        ins = [i for i in onode.input if i]
        if op in _FOLDERS and all(self.const(i) is not None for i in ins):
            vals = [self.const(i) if i else None for i in onode.input]
            self.consts[onode.output[0]] = np.asarray(_FOLDERS[op](self, onode, vals, _attrs(onode)))
            return
        handler = _HANDLERS.get(op)
        if handler is None:
            raise self.err(onode, f"op type {op!r} is not supported (supported: {', '.join(SUPPORTED_ONNX_OPS)})")
        handler(self, onode, _attrs(onode))

    def _used(self, names) -> bool:
        names = set(names)
        g = self.model.graph
        return any(i in names for n in g.node for i in n.input) or any(o.name in names for o in g.output)

    def _constant_value(self, onode) -> np.ndarray:
        onnx = _onnx()
        a = onode.attribute[0]
        v = onnx.helper.get_attribute_value(a)
        if a.name == "value":
            return onnx.numpy_helper.to_array(v)
        if a.name in ("value_float", "value_floats"):
            return np.asarray(v, dtype=np.float32)
        if a.name in ("value_int", "value_ints"):
            return np.asarray(v, dtype=np.int64)
        raise self.err(onode, f"Constant attribute {a.name!r} is not supported (valid: value, value_float(s), value_int(s))")

    # -- op handlers ---------------------------------------------------------------------------

    def _spatial(self, onode, a, kernel, in_shape, allow_ceil: bool):
        if len(in_shape) != 4 or len(kernel) != 2:
            raise self.err(onode, f"only 2-D (NCHW) windows are supported, got input shape {in_shape}")
        strides = tuple(a.get("strides", (1, 1)))
        dil = tuple(a.get("dilations", (1, 1)))
        auto = a.get("auto_pad", "NOTSET")
        if auto in ("NOTSET", ""):
            p = tuple(a.get("pads", (0, 0, 0, 0)))
            pads = (p[0], p[1], p[2], p[3])
        elif auto == "VALID":
            pads = (0, 0, 0, 0)
        elif auto in ("SAME_UPPER", "SAME_LOWER"):
            lower = auto == "SAME_LOWER"
            t, b = _same_pads(in_shape[2], kernel[0], strides[0], dil[0], lower)
            l, r = _same_pads(in_shape[3], kernel[1], strides[1], dil[1], lower)
            pads = (t, l, b, r)
        else:
            raise self.err(onode, f"auto_pad {auto!r} is not supported (valid: NOTSET, VALID, SAME_UPPER, SAME_LOWER)")
        if any(v < 0 for v in pads):
            raise self.err(onode, f"negative pads {pads} are not supported")
        attrs = dict(kernel=tuple(int(k) for k in kernel), stride=tuple(int(s) for s in strides),
                     padding=tuple(int(p) for p in pads), dilation=tuple(int(d) for d in dil))
        if allow_ceil:
            attrs["ceil_mode"] = bool(a.get("ceil_mode", 0))
        return attrs

    def h_conv(self, onode, a):
        w = self.need_const(onode, onode.input[1], "weight")
        if w.ndim != 4:
            raise self.err(onode, f"only 2-D convolution is supported (weight rank {w.ndim}, valid: 4)")
        ins = [onode.input[0], onode.input[1]]
        if len(onode.input) > 2 and onode.input[2]:
            self.need_const(onode, onode.input[2], "bias")
            ins.append(onode.input[2])
        kernel = a.get("kernel_shape", w.shape[2:])
        attrs = self._spatial(onode, a, kernel, self.shape(onode.input[0]), False)
        attrs["groups"] = int(a.get("group", 1))
        self.emit("conv", onode.name, ins, onode.output[0], **attrs)

    def h_pool(self, onode, a):
        if len(onode.output) > 1 and onode.output[1] and self._used([onode.output[1]]):
            raise self.err(onode, "the MaxPool Indices output is not supported")
        attrs = self._spatial(onode, a, a["kernel_shape"], self.shape(onode.input[0]), True)
        if onode.op_type == "MaxPool":
            self.emit("maxpool", onode.name, [onode.input[0]], onode.output[0], **attrs)
        else:
            attrs["count_include_pad"] = bool(a.get("count_include_pad", 0))
            self.emit("avgpool", onode.name, [onode.input[0]], onode.output[0], **attrs)

    def h_global_avgpool(self, onode, a):
        if len(self.shape(onode.input[0])) != 4:
            raise self.err(onode, f"only NCHW input is supported, got shape {self.shape(onode.input[0])}")
        self.emit("global_avgpool", onode.name, [onode.input[0]], onode.output[0])

    def h_reduce_mean(self, onode, a):
        self._spatial_reduce(onode, a, "avgpool")

    def _spatial_reduce(self, onode, a, pool: str):
        """ReduceMean / ReduceMax over H, W or both of NCHW: a pool whose window spans those axes."""
        shp = self.shape(onode.input[0])
        axes = self._reduce_axes(onode, a, shp)
        what = "average" if pool == "avgpool" else "max"
        if len(shp) != 4 or not axes or not set(axes) <= {2, 3}:
            scope = (" (a reduction over channels, as in a decomposed layer normalization, is outside accelsim's "
                     "CNN scope)" if 1 in axes else "")
            raise self.err(onode, f"{onode.op_type} over axes {axes} of a rank-{len(shp)} tensor is not supported "
                                  f"(valid: axes [2, 3] of NCHW, i.e. a global {what} pool, or [2] or [3]){scope}")
        out = onode.output[0]
        keep = bool(a.get("keepdims", 1))
        if pool == "avgpool" and axes == [2, 3]:
            mid = self.emit("global_avgpool", onode.name, [onode.input[0]], out if keep else out + "__gap")
        else:
            k = (shp[2] if 2 in axes else 1, shp[3] if 3 in axes else 1)
            attrs = dict(kernel=k, stride=k, padding=(0, 0, 0, 0), dilation=(1, 1), ceil_mode=False)
            if pool == "avgpool":
                attrs["count_include_pad"] = False
            mid = self.emit(pool, onode.name, [onode.input[0]], out if keep else out + "__pool", **attrs)
        if not keep:
            if axes == [2, 3]:
                self.emit("flatten", onode.name + "__flatten", [mid], out, axis=1)
            else:
                target = tuple(d for i, d in enumerate(shp) if i not in axes)
                self.emit("reshape", onode.name + "__squeeze", [mid], out,
                          shape=self._batch_free(self.shape(mid), target))

    def h_gemm(self, onode, a):
        if a.get("transA", 0):
            raise self.err(onode, "transA=1 is not supported (the activation must be the left operand, untransposed)")
        b = self.need_const(onode, onode.input[1], "right operand B")
        alpha, beta = float(a.get("alpha", 1.0)), float(a.get("beta", 1.0))
        bt = b if a.get("transB", 0) else b.T  # [N_out, K]
        ins = [onode.input[0], self.new_param(onode.name + ".weight", alpha * bt.astype(np.float64))]
        if len(onode.input) > 2 and onode.input[2]:
            c = self.need_const(onode, onode.input[2], "C")
            if c.size not in (1, bt.shape[0]) or (c.ndim == 2 and c.shape[0] != 1):
                raise self.err(onode, f"C of shape {c.shape} is not supported (valid: scalar, [N_out] or [1, N_out])")
            bias = np.broadcast_to(beta * c.astype(np.float64).reshape(-1), (bt.shape[0],))
            ins.append(self.new_param(onode.name + ".bias", bias))
        self._check_2d(onode)
        self.emit("gemm", onode.name, ins, onode.output[0])

    def _check_2d(self, onode):
        shp = self.shape(onode.input[0])
        if len(shp) != 2:
            raise self.err(onode, f"left operand of shape {shp} is not supported (valid: 2-D [N, K]; flatten first)")

    def h_matmul(self, onode, a):
        if self.const(onode.input[1]) is None:
            if self.const(onode.input[0]) is None:
                raise self.err(onode, "MatMul of two computed tensors (as in attention) is outside accelsim's CNN "
                                      "scope (valid: a constant right operand, a fully connected layer)")
            raise self.err(onode, "a constant left operand is not supported (valid: activation @ constant)")
        b = self.need_const(onode, onode.input[1], "right operand")
        if b.ndim != 2:
            raise self.err(onode, f"right operand of rank {b.ndim} is not supported (valid: a 2-D constant)")
        shp = self.shape(onode.input[0])
        if len(shp) in (3, 4):
            self._matmul_last_axis(onode, b, shp)
            return
        self._check_2d(onode)
        w = self.new_param(onode.name + ".weight", b.T)
        self.emit("gemm", onode.name, [onode.input[0], w], onode.output[0])

    def _matmul_last_axis(self, onode, b, shp):
        """``x[N, ..., K] @ W[K, M]`` (a Linear on channels-last data, e.g. after a permute): the last
        axis moves to the channels, a 1x1 conv, and back (both moves are index maps)."""
        r, k, m = len(shp), b.shape[0], b.shape[1]
        if shp[-1] != k:
            raise self.err(onode, f"left operand {shp} and right operand {b.shape} do not multiply")
        name, y = onode.name, onode.output[0]
        t = self.emit("transpose", name + "__k_first", [onode.input[0]], y + "__k_first",
                      perm=(0, r - 1) + tuple(range(1, r - 1)))
        if r == 3:
            t = self.emit("reshape", name + "__to4d", [t], y + "__4d", shape=(-1, k, shp[1], 1))
        w = self.new_param(name + ".weight", b.T.reshape(m, k, 1, 1))
        t = self.emit("conv", name, [t, w], y + "__conv", kernel=(1, 1), stride=(1, 1), padding=(0, 0, 0, 0),
                      dilation=(1, 1), groups=1)
        if r == 3:
            t = self.emit("reshape", name + "__to3d", [t], y + "__3d", shape=(-1, m, shp[1]))
        self.emit("transpose", name + "__k_last", [t], y, perm=(0,) + tuple(range(2, r)) + (1,))

    def h_batchnorm(self, onode, a):
        if a.get("training_mode", 0):
            raise self.err(onode, "training_mode=1 is not supported (inference graphs only)")
        if len(self.shape(onode.input[0])) < 2:
            raise self.err(onode, "input must have a channel dimension")
        scale, bias, mean, var = (self.need_const(onode, n, k).astype(np.float64)
                                  for n, k in zip(onode.input[1:5], ("scale", "B", "mean", "var")))
        eps = float(a.get("epsilon", 1e-5))
        s = scale / np.sqrt(var + eps)
        sp = self.new_param(onode.name + ".scale", s)
        tp = self.new_param(onode.name + ".shift", bias - mean * s)
        self.emit("batchnorm", onode.name, [onode.input[0], sp, tp], onode.output[0])

    def h_unary(self, onode, a):
        op = _UNARY[onode.op_type]
        attrs = {k: (float(v) if isinstance(v, (int, float)) else v) for k, v in a.items()
                 if k in ("alpha", "gamma", "approximate")}
        self.emit(op, onode.name, [onode.input[0]], onode.output[0], **attrs)

    def h_leaky_relu(self, onode, a):
        self.emit("leaky_relu", onode.name, [onode.input[0]], onode.output[0], alpha=float(a.get("alpha", 0.01)))

    def h_prelu(self, onode, a):
        slope = self.need_const(onode, onode.input[1], "slope")
        shp = self.shape(onode.input[0])
        if (slope.ndim == 1 and slope.size == shp[1] and len(shp) > 2 and slope.size > 1
                and (self.opset < 7 or shp[-1] not in (1, slope.size))):
            # a per-channel [C] slope (opset 6 semantics, or one that cannot broadcast along W): [C, 1, 1]
            slope = slope.reshape((-1,) + (1,) * (len(shp) - 2))
        self.emit("prelu", onode.name, [onode.input[0], self.new_param(onode.name + ".slope", slope)],
                  onode.output[0])

    def h_pow(self, onode, a):
        e = self.need_const(onode, onode.input[1], "exponent")
        if e.size != 1:
            raise self.err(onode, f"exponent of shape {e.shape} is not supported (valid: a scalar constant)")
        self.emit("pow", onode.name, [onode.input[0]], onode.output[0], exponent=float(e.reshape(-1)[0]))

    def h_hard_sigmoid(self, onode, a):
        self.emit("hard_sigmoid", onode.name, [onode.input[0]], onode.output[0],
                  alpha=float(a.get("alpha", 0.2)), beta=float(a.get("beta", 0.5)))

    def h_clip(self, onode, a):
        if self.opset < 11 or "min" in a or "max" in a:
            lo, hi = a.get("min"), a.get("max")
        else:
            lo = hi = None
            if len(onode.input) > 1 and onode.input[1]:
                lo = self.need_const(onode, onode.input[1], "min").item()
            if len(onode.input) > 2 and onode.input[2]:
                hi = self.need_const(onode, onode.input[2], "max").item()
        lo = None if lo is None or lo <= -3.4e38 else float(lo)
        hi = None if hi is None or hi >= 3.4e38 else float(hi)
        self.emit("clip", onode.name, [onode.input[0]], onode.output[0], min=lo, max=hi)

    def h_binary(self, onode, a):
        x, y = onode.input[0], onode.input[1]
        cy = self.const(y)
        op = onode.op_type
        if op in ("Add", "Mul"):
            self.emit(op.lower(), onode.name, [x, y], onode.output[0])
        elif op == "Sub" and cy is not None:
            self.emit("add", onode.name, [x, self.new_param(onode.name + ".neg", -cy.astype(np.float64))], onode.output[0])
        elif op == "Div" and cy is not None:
            self.emit("mul", onode.name, [x, self.new_param(onode.name + ".recip", 1.0 / cy.astype(np.float64))],
                      onode.output[0])
        else:  # c - x, x - y, c / x, x / y: element-wise functions or refused by the integer path
            self.emit(op.lower(), onode.name, [x, y], onode.output[0])

    def h_concat(self, onode, a):
        rank = len(self.shape(onode.input[0]))
        self.emit("concat", onode.name, [i for i in onode.input if i], onode.output[0], axis=int(a["axis"]) % rank)

    def h_flatten(self, onode, a):
        rank = len(self.shape(onode.input[0]))
        axis = int(a.get("axis", 1))
        self.emit("flatten", onode.name, [onode.input[0]], onode.output[0], axis=axis + rank if axis < 0 else axis)

    def _batch_free(self, in_shape: tuple, target: tuple) -> tuple:
        """Write a first dimension equal to the batch as -1 when the per-sample sizes agree."""
        if (len(in_shape) and len(target) > 1 and target[0] == self.batch == in_shape[0]
                and math.prod(target[1:]) == math.prod(in_shape[1:])):
            return (-1,) + tuple(target[1:])
        return tuple(target)

    def h_reshape(self, onode, a):
        if "shape" in a and len(onode.input) < 2:
            target = list(a["shape"])
        else:
            target = self.need_const(onode, onode.input[1], "shape").astype(np.int64).tolist()
        in_shape = self.shape(onode.input[0])
        target = _resolve_reshape(in_shape, target, bool(a.get("allowzero", 0)))
        if target is None:
            raise self.err(onode, f"cannot reshape {in_shape} to the given target")
        self.emit("reshape", onode.name, [onode.input[0]], onode.output[0], shape=self._batch_free(in_shape, target))

    def h_softmax(self, onode, a):
        shp = self.shape(onode.input[0])
        rank = len(shp)
        axis = int(a.get("axis", 1 if self.opset < 13 else -1)) % rank
        if self.opset < 13 and axis != rank - 1:
            # opset < 13: softmax over the flattened trailing dims [axis:]
            mid = self.emit("flatten", onode.name + "__flatten", [onode.input[0]], onode.output[0] + "__flat", axis=axis)
            mid = self.emit("softmax", onode.name, [mid], onode.output[0] + "__soft", axis=1)
            self.emit("reshape", onode.name + "__reshape", [mid], onode.output[0], shape=self._batch_free(shp, shp))
        else:
            self.emit("softmax", onode.name, [onode.input[0]], onode.output[0], axis=axis)

    def h_pad(self, onode, a):
        mode = a.get("mode", "constant")
        if mode not in ("constant", "reflect", "edge"):
            raise self.err(onode, f"Pad mode {mode!r} is not supported (valid: 'constant', 'reflect', 'edge')")
        shp = self.shape(onode.input[0])
        rank = len(shp)
        if "pads" in a:  # opset < 11
            pads, value = list(a["pads"]), float(a.get("value", 0.0))
        else:
            pads = self.need_const(onode, onode.input[1], "pads").astype(np.int64).tolist()
            value = 0.0
            if len(onode.input) > 2 and onode.input[2]:
                value = float(self.need_const(onode, onode.input[2], "constant_value").reshape(-1)[0])
            if len(onode.input) > 3 and onode.input[3]:
                axes = [int(x) % rank for x in self.need_const(onode, onode.input[3], "axes").tolist()]
                full = [0] * (2 * rank)
                for k, ax in enumerate(axes):
                    full[ax], full[rank + ax] = pads[k], pads[len(axes) + k]
                pads = full
        if rank != 4 or any(pads[i] or pads[rank + i] for i in (0, 1)):
            raise self.err(onode, f"pads {pads} on a rank-{rank} tensor are not supported (valid: H and W of NCHW)")
        if any(p < 0 for p in pads):
            raise self.err(onode, f"negative pads {pads} are not supported")
        if mode == "reflect" and (max(pads[2], pads[6]) >= shp[2] or max(pads[3], pads[7]) >= shp[3]):
            raise self.err(onode, f"reflect pads {pads} must be smaller than the padded size {shp[2:]}")
        self.emit("pad", onode.name, [onode.input[0]], onode.output[0],
                  pads=(pads[2], pads[3], pads[6], pads[7]), mode=mode, value=value)

    def h_transpose(self, onode, a):
        rank = len(self.shape(onode.input[0]))
        perm = [int(p) % rank for p in a.get("perm", list(range(rank))[::-1])]
        if perm[0] != 0:
            raise self.err(onode, f"perm {perm} moves the batch dimension (valid: perm[0] == 0)")
        self.emit("transpose", onode.name, [onode.input[0]], onode.output[0], perm=tuple(perm))

    def _slice_attrs(self, onode, a, shp):
        if "starts" in a:  # opset < 10
            starts, ends = list(a["starts"]), list(a["ends"])
            axes = list(a.get("axes", range(len(starts))))
            steps = [1] * len(starts)
        else:
            starts = self.need_const(onode, onode.input[1], "starts").tolist()
            ends = self.need_const(onode, onode.input[2], "ends").tolist()
            axes = (self.need_const(onode, onode.input[3], "axes").tolist()
                    if len(onode.input) > 3 and onode.input[3] else list(range(len(starts))))
            steps = (self.need_const(onode, onode.input[4], "steps").tolist()
                     if len(onode.input) > 4 and onode.input[4] else [1] * len(starts))
        axes = [int(ax) % len(shp) for ax in axes]
        return starts, ends, axes, steps

    def h_slice(self, onode, a):
        shp = self.shape(onode.input[0])
        starts, ends, axes, steps = self._slice_attrs(onode, a, shp)
        if any(st == 0 for st in steps):
            raise self.err(onode, "a step of 0 is not valid")
        # clamp the huge INT64 sentinels exporters write to the axis length (same slice)
        lim = [shp[ax] for ax in axes]
        starts = [int(max(-l, min(l, v))) for v, l in zip(starts, lim)]
        ends = [int(max(-l - 1, min(l, v))) for v, l in zip(ends, lim)]
        if 0 in axes:
            full = np.arange(shp[0])[slice(starts[axes.index(0)], ends[axes.index(0)], steps[axes.index(0)])]
            if full.size != shp[0] or np.any(full != np.arange(shp[0])):
                raise self.err(onode, "slicing the batch dimension is not supported (valid: axes >= 1)")
        self.emit("slice", onode.name, [onode.input[0]], onode.output[0], starts=tuple(starts), ends=tuple(ends),
                  axes=tuple(axes), steps=tuple(int(v) for v in steps))

    def h_split(self, onode, a):
        shp = self.shape(onode.input[0])
        axis = int(a.get("axis", 0)) % len(shp)
        if axis == 0:
            raise self.err(onode, "splitting the batch dimension is not supported (valid: axis >= 1)")
        outs = list(onode.output)
        if "split" in a:
            sizes = [int(v) for v in a["split"]]
        elif len(onode.input) > 1 and onode.input[1]:
            sizes = [int(v) for v in self.need_const(onode, onode.input[1], "split").tolist()]
        else:
            k = len(outs)
            step = -(-shp[axis] // k)
            sizes = [min(step, shp[axis] - i * step) for i in range(k)]
        if sum(sizes) != shp[axis] or len(sizes) != len(outs) or min(sizes) < 1:
            raise self.err(onode, f"split sizes {sizes} do not cut axis {axis} of length {shp[axis]} into "
                                  f"{len(outs)} outputs")
        begin = 0
        for k, (out, size) in enumerate(zip(outs, sizes)):
            if out:
                self.emit("slice", f"{onode.name}:{k}", [onode.input[0]], out, starts=(begin,),
                          ends=(begin + size,), axes=(axis,), steps=(1,))
            begin += size

    def h_resize(self, onode, a):
        shp = self.shape(onode.input[0])
        mode = a.get("mode", "nearest")
        if mode not in ("nearest", "linear", "bilinear"):
            raise self.err(onode, f"mode {mode!r} is not supported (valid: nearest, linear)")
        if len(shp) != 4:
            raise self.err(onode, f"only NCHW input is supported, got shape {shp}")
        if onode.op_type == "Upsample" or self.opset < 11:
            sc = a.get("scales")
            if sc is None:
                sc = self.need_const(onode, onode.input[1], "scales")
            scales = [float(v) for v in np.asarray(sc).reshape(-1)]
            sizes = None
            attrs = {"coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"}
        else:
            for k in ("antialias", "exclude_outside"):
                if a.get(k, 0):
                    raise self.err(onode, f"{k}=1 is not supported")
            if a.get("axes") is not None:
                raise self.err(onode, "the axes attribute is not supported (give scales or sizes for all 4 axes)")
            sc = self.const(onode.input[2]) if len(onode.input) > 2 and onode.input[2] else None
            sz = self.const(onode.input[3]) if len(onode.input) > 3 and onode.input[3] else None
            if (len(onode.input) > 2 and onode.input[2] and sc is None) or (
                    len(onode.input) > 3 and onode.input[3] and sz is None):
                raise self.err(onode, "scales and sizes must be constants (known once the input shape is)")
            scales = [float(v) for v in sc.reshape(-1)] if sc is not None and sc.size else None
            sizes = [int(v) for v in sz.reshape(-1)] if sz is not None and sz.size else None
            if sizes is not None and a.get("keep_aspect_ratio_policy", "stretch") != "stretch":
                raise self.err(onode, "keep_aspect_ratio_policy other than 'stretch' is not supported")
            if sizes is not None:
                scales = [o / i for o, i in zip(sizes, shp)]
            attrs = {"coordinate_transformation_mode": a.get("coordinate_transformation_mode", "half_pixel"),
                     "nearest_mode": a.get("nearest_mode", "round_prefer_floor")}
            if attrs["coordinate_transformation_mode"] == "tf_crop_and_resize":
                raise self.err(onode, "coordinate_transformation_mode 'tf_crop_and_resize' is not supported")
        if scales is None or len(scales) != 4:
            raise self.err(onode, f"scales {scales} are not supported (valid: 4 values for N, C, H, W)")
        if sizes is None:
            sizes = [int(math.floor(d * s)) for d, s in zip(shp, scales)]
        if sizes[0] != shp[0] or sizes[1] != shp[1]:
            raise self.err(onode, f"resizing N or C (scales {scales}) is not supported (valid: H and W only)")
        self.emit("resize", onode.name, [onode.input[0]], onode.output[0], mode="nearest" if mode == "nearest"
                  else "linear", scales=tuple(scales), sizes=tuple(sizes), **attrs)

    def h_depth_space(self, onode, a):
        """DepthToSpace / SpaceToDepth as the Reshape -> Transpose -> Reshape the ONNX spec defines."""
        n, c, h, w = self.shape(onode.input[0])
        b = int(a["blocksize"])
        if onode.op_type == "DepthToSpace":
            if c % (b * b):
                raise self.err(onode, f"{c} channels are not a multiple of blocksize^2 = {b * b}")
            if a.get("mode", "DCR") == "DCR":
                mid, perm = (-1, b, b, c // (b * b), h, w), (0, 3, 4, 1, 5, 2)
            else:
                mid, perm = (-1, c // (b * b), b, b, h, w), (0, 1, 4, 2, 5, 3)
            out = (-1, c // (b * b), h * b, w * b)
        else:
            if h % b or w % b:
                raise self.err(onode, f"H, W = {h}, {w} are not multiples of blocksize {b}")
            mid, perm, out = (-1, c, h // b, b, w // b, b), (0, 3, 5, 1, 2, 4), (-1, c * b * b, h // b, w // b)
        name, y = onode.name, onode.output[0]
        t = self.emit("reshape", name + "__split", [onode.input[0]], y + "__split", shape=mid)
        t = self.emit("transpose", name, [t], y + "__perm", perm=perm)
        self.emit("reshape", name + "__merge", [t], y, shape=out)

    def h_min_max(self, onode, a):
        """Max(x, c) / Min(x, c) with a scalar constant c: a one-sided clip (ReLU6 as Min(Max(x, 0), 6))."""
        ins = [i for i in onode.input if i]
        consts = [self.const(i) for i in ins]
        acts = [i for i, c in zip(ins, consts) if c is None]
        vals = [c for c in consts if c is not None]
        if len(acts) != 1 or any(v.size != 1 for v in vals):
            raise self.err(onode, f"{onode.op_type} is supported of one activation and scalar constants only "
                                  f"(a one-sided clip)")
        bound = (max if onode.op_type == "Max" else min)(float(v.reshape(-1)[0]) for v in vals) if vals else None
        key = "min" if onode.op_type == "Max" else "max"
        attrs = {"min": None, "max": None, key: bound}
        self.emit("clip", onode.name, [acts[0]], onode.output[0], **attrs)

    def h_gather(self, onode, a):
        idx = self.need_const(onode, onode.input[1], "indices").astype(np.int64)
        shp = self.shape(onode.input[0])
        axis = int(a.get("axis", 0)) % len(shp)
        if axis == 0:
            raise self.err(onode, "gathering along the batch dimension is not supported (valid: axis >= 1)")
        idx = np.where(idx < 0, idx + shp[axis], idx)
        if idx.size and (idx.min() < 0 or idx.max() >= shp[axis]):
            raise self.err(onode, f"indices outside [0, {shp[axis]}) of axis {axis}")
        self.emit("gather", onode.name, [onode.input[0]], onode.output[0], axis=axis, indices=idx.tolist())

    def h_expand(self, onode, a):
        target = tuple(int(v) for v in self.need_const(onode, onode.input[1], "shape").tolist())
        shp = self.shape(onode.input[0])
        try:
            out = np.broadcast_shapes(shp, target)
        except ValueError:
            raise self.err(onode, f"shape {target} does not broadcast with the input's {shp}") from None
        if len(out) != len(shp) or out[0] != shp[0]:
            raise self.err(onode, f"expanding {shp} to {tuple(out)} changes the rank or the batch (not supported)")
        self.emit("expand", onode.name, [onode.input[0]], onode.output[0], shape=(-1,) + tuple(out[1:]))

    def h_reduce_max(self, onode, a):
        self._spatial_reduce(onode, a, "maxpool")

    def _reduce_axes(self, onode, a, shp):
        axes = a.get("axes")
        if axes is None and len(onode.input) > 1 and onode.input[1]:
            axes = self.need_const(onode, onode.input[1], "axes").tolist()
        if not axes:
            axes = [] if a.get("noop_with_empty_axes", 0) else list(range(len(shp)))
        return sorted(int(x) % len(shp) for x in axes)

    def h_squeeze_unsqueeze(self, onode, a):
        """Squeeze / Unsqueeze of an activation: a reshape to the shape numpy gives (axes attr or input)."""
        shp = self.shape(onode.input[0])
        vals = [np.zeros(shp, np.float32)] + [self.const(i) if i else None for i in onode.input[1:]]
        if len(onode.input) > 1 and onode.input[1] and vals[1] is None:
            raise self.err(onode, "axes must be a constant")
        if onode.op_type == "Squeeze" and _axes_arg(self, onode, vals, a) is None:
            # no axes: squeeze every size-1 dim except the batch (the batch may be 1 only at import)
            a = dict(a, axes=[i for i in range(1, len(shp)) if shp[i] == 1])
        fold = _fold_squeeze if onode.op_type == "Squeeze" else _fold_unsqueeze
        target = tuple(int(d) for d in fold(self, onode, vals, a).shape)
        self.emit("reshape", onode.name, [onode.input[0]], onode.output[0], shape=self._batch_free(shp, target))

    def h_cast(self, onode, a):
        """Cast of an activation to float32 changes nothing here (activations are float32): removed."""
        onnx = _onnx()
        if onnx.helper.tensor_dtype_to_np_dtype(a["to"]) != np.float32:
            raise self.err(onode, f"Cast of an activation to {onnx.helper.tensor_dtype_to_np_dtype(a['to'])} is "
                                  f"not supported (valid: to float32, or of constants)")
        self.alias[onode.output[0]] = self.r(onode.input[0])


def _resolve_reshape(in_shape, target, allowzero):
    target = [int(d) for d in target]
    if not allowzero:
        target = [in_shape[i] if d == 0 and i < len(in_shape) else d for i, d in enumerate(target)]
    total = math.prod(in_shape)
    if target.count(-1) > 1:
        return None
    if -1 in target:
        known = math.prod(d for d in target if d != -1)
        if known == 0 or total % known:
            return None
        target[target.index(-1)] = total // known
    if math.prod(target) != total:
        return None
    return tuple(target)


# -- constant folding (all inputs constant) ----------------------------------------------------


def _axes_arg(imp, onode, vals, a):
    if "axes" in a:
        return [int(x) for x in a["axes"]]
    if len(vals) > 1 and vals[1] is not None:
        return [int(x) for x in np.asarray(vals[1]).reshape(-1)]
    return None


def _fold_unsqueeze(imp, onode, vals, a):
    x = vals[0]
    axes = sorted(ax % (x.ndim + len(_axes_arg(imp, onode, vals, a))) for ax in _axes_arg(imp, onode, vals, a))
    for ax in axes:
        x = np.expand_dims(x, ax)
    return x


def _fold_squeeze(imp, onode, vals, a):
    axes = _axes_arg(imp, onode, vals, a)
    return np.squeeze(vals[0], axis=None if axes is None else tuple(ax % vals[0].ndim for ax in axes))


def _fold_slice(imp, onode, vals, a):
    x = vals[0]
    if "starts" in a:
        starts, ends = a["starts"], a["ends"]
        axes = a.get("axes", list(range(len(starts))))
        steps = [1] * len(starts)
    else:
        starts, ends = vals[1].tolist(), vals[2].tolist()
        axes = vals[3].tolist() if len(vals) > 3 and vals[3] is not None else list(range(len(starts)))
        steps = vals[4].tolist() if len(vals) > 4 and vals[4] is not None else [1] * len(starts)
    idx = [slice(None)] * x.ndim
    for s, e, ax, st in zip(starts, ends, axes, steps):
        idx[ax % x.ndim] = slice(int(s), int(e), int(st))
    return x[tuple(idx)]


def _fold_div(imp, onode, vals, a):
    x, y = vals[0], vals[1]
    if np.issubdtype(x.dtype, np.integer) and np.issubdtype(y.dtype, np.integer):
        return (np.trunc(x / y)).astype(x.dtype)
    return x / y


def _fold_cast(imp, onode, vals, a):
    onnx = _onnx()
    return vals[0].astype(onnx.helper.tensor_dtype_to_np_dtype(a["to"]))


def _fold_constant_of_shape(imp, onode, vals, a):
    onnx = _onnx()
    v = onnx.numpy_helper.to_array(a["value"]) if "value" in a else np.zeros(1, np.float32)
    return np.full(tuple(int(d) for d in vals[0]), v.reshape(-1)[0], dtype=v.dtype)


def _fold_reshape(imp, onode, vals, a):
    target = _resolve_reshape(vals[0].shape, vals[1].tolist() if len(vals) > 1 else a["shape"],
                              bool(a.get("allowzero", 0)))
    return vals[0].reshape(target)


_FOLDERS = {
    "Gather": lambda imp, n, v, a: np.take(v[0], v[1], axis=int(a.get("axis", 0))),
    "Unsqueeze": _fold_unsqueeze,
    "Squeeze": _fold_squeeze,
    "Concat": lambda imp, n, v, a: np.concatenate([np.atleast_1d(x) for x in v if x is not None], axis=int(a["axis"])),
    "Cast": _fold_cast,
    "Slice": _fold_slice,
    "Add": lambda imp, n, v, a: v[0] + v[1],
    "Sub": lambda imp, n, v, a: v[0] - v[1],
    "Mul": lambda imp, n, v, a: v[0] * v[1],
    "Div": _fold_div,
    "Neg": lambda imp, n, v, a: -v[0],
    "Sqrt": lambda imp, n, v, a: np.sqrt(v[0]),
    "Reshape": _fold_reshape,
    "Flatten": lambda imp, n, v, a: v[0].reshape(math.prod(v[0].shape[: a.get("axis", 1)]), -1),
    "Transpose": lambda imp, n, v, a: np.transpose(v[0], a.get("perm")),
    "ConstantOfShape": _fold_constant_of_shape,
}

_UNARY = {"Relu": "relu", "Sigmoid": "sigmoid", "HardSwish": "hard_swish", "Tanh": "tanh", "Erf": "erf",
          "Softplus": "softplus", "Softsign": "softsign", "Elu": "elu", "Selu": "selu", "Celu": "celu",
          "Mish": "mish", "Gelu": "gelu", "Exp": "exp", "Neg": "neg", "Abs": "abs",
          "ThresholdedRelu": "thresholded_relu"}
"""ONNX element-wise activations -> IR op (attributes alpha, gamma, approximate carried over)."""

_OUT_OF_SCOPE = {
    "LayerNormalization": "layer normalization", "GroupNormalization": "group normalization",
    "InstanceNormalization": "instance normalization", "LpNormalization": "Lp normalization",
    "MeanVarianceNormalization": "mean-variance normalization", "Attention": "attention",
    "MultiHeadAttention": "attention", "Einsum": "an Einsum contraction (attention)",
    "LSTM": "a recurrent layer (LSTM)", "GRU": "a recurrent layer (GRU)", "RNN": "a recurrent layer (RNN)",
    "Loop": "control flow (Loop)", "If": "control flow (If)", "Scan": "control flow (Scan)",
}
"""Op types refused up front with the reason: the network is not a CNN accelsim models."""

_HANDLERS = {
    "Conv": _Importer.h_conv,
    "MaxPool": _Importer.h_pool,
    "AveragePool": _Importer.h_pool,
    "GlobalAveragePool": _Importer.h_global_avgpool,
    "ReduceMean": _Importer.h_reduce_mean,
    "Gemm": _Importer.h_gemm,
    "MatMul": _Importer.h_matmul,
    "BatchNormalization": _Importer.h_batchnorm,
    **{op: _Importer.h_unary for op in _UNARY},
    "LeakyRelu": _Importer.h_leaky_relu,
    "PRelu": _Importer.h_prelu,
    "Pow": _Importer.h_pow,
    "Transpose": _Importer.h_transpose,
    "Slice": _Importer.h_slice,
    "Split": _Importer.h_split,
    "Resize": _Importer.h_resize,
    "Upsample": _Importer.h_resize,
    "Gather": _Importer.h_gather,
    "DepthToSpace": _Importer.h_depth_space,
    "SpaceToDepth": _Importer.h_depth_space,
    "Max": _Importer.h_min_max,
    "Min": _Importer.h_min_max,
    "Expand": _Importer.h_expand,
    "ReduceMax": _Importer.h_reduce_max,
    "HardSigmoid": _Importer.h_hard_sigmoid,
    "Clip": _Importer.h_clip,
    "Add": _Importer.h_binary,
    "Mul": _Importer.h_binary,
    "Sub": _Importer.h_binary,
    "Div": _Importer.h_binary,
    "Concat": _Importer.h_concat,
    "Flatten": _Importer.h_flatten,
    "Reshape": _Importer.h_reshape,
    "Softmax": _Importer.h_softmax,
    "Pad": _Importer.h_pad,
    "Squeeze": _Importer.h_squeeze_unsqueeze,
    "Unsqueeze": _Importer.h_squeeze_unsqueeze,
    "Cast": _Importer.h_cast,
}

SUPPORTED_ONNX_OPS = tuple(sorted(set(_HANDLERS) | {"Identity", "Dropout", "Constant", "Shape"}))
"""ONNX op types the importer accepts on activations (Squeeze/Unsqueeze become ``reshape``, a Cast to
float32 disappears). Shape arithmetic (Gather, Unsqueeze, Squeeze, Concat, Cast, Slice, Add/Sub/Mul/Div,
Neg, Sqrt, Reshape, Flatten, Transpose, ConstantOfShape) is
also accepted when every input is constant, and folded away."""


# -- IR clean-up passes ------------------------------------------------------------------------


def _fold_batchnorm(graph: Graph) -> None:
    """Fold ``batchnorm`` into the producing ``conv`` (or ``gemm``) when that node feeds only the BN.

    ``bn(conv(x)) = conv(x; W*scale[o], b*scale + shift)`` per output channel ``o`` (same for gemm rows).
    """
    producer = {o: n for n in graph.nodes for o in n.outputs}
    uses = consumers(graph)
    keep = []
    for node in graph.nodes:
        conv = producer.get(node.inputs[0]) if node.op == "batchnorm" else None
        if (conv is not None and conv.op in ("conv", "gemm") and len(uses.get(conv.outputs[0], [])) == 1
                and conv.outputs[0] not in graph.outputs):
            scale = graph.params[node.inputs[1]].astype(np.float64)
            shift = graph.params[node.inputs[2]].astype(np.float64)
            w = graph.params[conv.inputs[1]].astype(np.float64)
            b = graph.params[conv.inputs[2]].astype(np.float64) if len(conv.inputs) > 2 else np.zeros(w.shape[0])
            wn, bn = _free_name(graph, conv.name + ".weight_bn"), None
            graph.params[wn] = (w * scale.reshape((-1,) + (1,) * (w.ndim - 1))).astype(np.float32)
            bn = _free_name(graph, conv.name + ".bias_bn")
            graph.params[bn] = (b * scale + shift).astype(np.float32)
            conv.inputs = [conv.inputs[0], wn, bn]
            conv.outputs = list(node.outputs)
            continue
        keep.append(node)
    graph.nodes[:] = keep


def _fold_pad(graph: Graph) -> None:
    """Fold a zero constant ``pad`` into the conv (or count-include-pad avgpool) that alone reads it."""
    uses = consumers(graph)
    drop = set()
    for node in graph.nodes:
        if (node.op != "pad" or node.attrs.get("value", 0.0) != 0.0 or node.attrs.get("mode", "constant") != "constant"
                or node.outputs[0] in graph.outputs):
            continue
        users = uses.get(node.outputs[0], [])
        if len(users) != 1 or users[0].inputs[0] != node.outputs[0]:
            continue
        user = users[0]
        ok = user.op == "conv" or (user.op == "avgpool" and user.attrs.get("count_include_pad")
                                    and not user.attrs.get("ceil_mode"))
        if not ok:
            continue
        user.attrs["padding"] = tuple(int(a + b) for a, b in zip(user.attrs.get("padding", (0, 0, 0, 0)),
                                                                  node.attrs["pads"]))
        user.inputs[0] = node.inputs[0]
        drop.add(id(node))
    graph.nodes[:] = [n for n in graph.nodes if id(n) not in drop]


def _fold_gemm_bias(graph: Graph) -> None:
    """Fold ``add(gemm(x, W), c)`` with constant ``c`` of shape [N_out] or [1, N_out] into the gemm bias."""
    producer = {o: n for n in graph.nodes for o in n.outputs}
    uses = consumers(graph)
    drop = set()
    for node in graph.nodes:
        if node.op != "add":
            continue
        for k in (0, 1):
            src, c = node.inputs[k], node.inputs[1 - k]
            g = producer.get(src)
            if (g is None or g.op != "gemm" or len(g.inputs) != 2 or c not in graph.params
                    or len(uses.get(src, [])) != 1 or src in graph.outputs):
                continue
            cv = graph.params[c]
            nout = graph.params[g.inputs[1]].shape[0]
            if cv.shape not in ((nout,), (1, nout)):
                continue
            bn = _free_name(graph, g.name + ".bias")
            graph.params[bn] = cv.reshape(nout).astype(np.float32)
            g.inputs = g.inputs + [bn]
            g.outputs = list(node.outputs)
            drop.add(id(node))
            break
    graph.nodes[:] = [n for n in graph.nodes if id(n) not in drop]


def _free_name(graph: Graph, base: str) -> str:
    name, k = base, 1
    while name in graph.params:
        k += 1
        name = f"{base}_{k}"
    return name


def _prune_params(graph: Graph) -> None:
    used = {i for n in graph.nodes for i in n.inputs} | set(graph.outputs)
    for k in [k for k in graph.params if k not in used]:
        del graph.params[k]
