"""The model input's shape: what the ONNX file declares, what the user gives, what the data says.

An exported model often leaves dimensions symbolic: the batch (``N``) almost always, and sometimes
the spatial size too (``(?, 3, ?, ?)``). Importing needs every dimension, so the shape is put
together in three steps, each refusing a contradiction with one line that names the dimension:

1. :func:`declared_input_shape` reads the file's input: ints, or ``None`` where symbolic (an NHWC
   input that the model transposes to NCHW at once is reported, and imported, as NCHW).
2. :func:`merge_input_shape` lays a user-given shape (``--input-shape``, ``workload.input_shape``)
   over it: a given dimension must equal a fixed one (the batch aside: the graph runs at any batch).
3. :func:`complete_input_shape` fills what is still symbolic from one data sample (channels and
   spatial size from the preprocessed image, batch 1), checking the fixed dimensions against it
   with :func:`check_sample_shape` (which the data readers also use).

Dimensions are named ``N, C, H, W`` for rank-4 inputs (the NCHW layout the data readers produce).
"""

from __future__ import annotations

from pathlib import Path

from accelsim.errors import InputFileError
from accelsim.graph.passes import nhwc_input_perm

__all__ = ["declared_input_shape", "merge_input_shape", "check_sample_shape", "complete_input_shape",
           "format_shape", "parse_shape"]

Shape = tuple  # of int | None


def _dim_names(rank: int) -> tuple[str, ...]:
    return ("N", "C", "H", "W") if rank == 4 else tuple(f"dim {i}" for i in range(rank))


def format_shape(shape) -> str:
    """``(?, 3, ?, ?)`` for a shape with symbolic (None) dimensions."""
    return "(" + ", ".join("?" if d is None else str(int(d)) for d in shape) + ")"


def parse_shape(text: str, what: str) -> tuple[int, ...]:
    """``"1,3,224,224"`` (or ``1x3x224x224``) -> ``(1, 3, 224, 224)``; positive ints only.

    Raises
    ------
    InputFileError
        Anything else, naming *what* (e.g. ``--input-shape``) and the valid form.
    """
    parts = [p.strip() for p in str(text).replace("x", ",").split(",")]
    try:
        shape = tuple(int(p) for p in parts)
    except ValueError:
        shape = ()
    if not shape or any(d <= 0 for d in shape):
        raise InputFileError(f"{what}: {text!r} is not a shape; valid: positive integers N,C,H,W, e.g. 1,3,224,224")
    return shape


def declared_input_shape(path: str | Path) -> tuple[str, Shape]:
    """Name and declared shape of the model's one data input (None where symbolic).

    Reads the file without its external data (cheap even for large models).

    Raises
    ------
    InputFileError
        Missing or unreadable file; a model with no input or with several data inputs.
    """
    import onnx

    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"{path}: ONNX model file not found")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf DecodeError and friends
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputFileError(f"{path}: not a readable ONNX model (corrupt or truncated file?): {first}") from None
    inits = {i.name for i in model.graph.initializer}
    real = [i for i in model.graph.input if i.name not in inits]
    if len(real) != 1:
        raise InputFileError(f"{path}: model has {len(real)} data inputs {[i.name for i in real]}; "
                             f"valid: exactly one (an image batch)")
    vi = real[0]
    tt = vi.type.tensor_type
    if not tt.HasField("shape"):
        return vi.name, (None, None, None, None)
    dims = tuple(d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None for d in tt.shape.dim)
    perm = nhwc_input_perm(model.graph, vi.name) if len(dims) == 4 else None
    if perm is not None:  # an NHWC export: the importer absorbs its input Transpose, the model takes NCHW
        dims = tuple(dims[k] for k in perm)
    return vi.name, dims


def merge_input_shape(declared: Shape, given: tuple[int, ...] | None, source: str, given_label: str) -> Shape:
    """*declared* with the dimensions of *given* laid over it.

    Parameters
    ----------
    declared : the file's shape, None where symbolic.
    given : a full user-given shape, or None.
    source : names the model input in messages (``"m.onnx: input 'x'"``).
    given_label : names where *given* came from (``"--input-shape"``, ``"workload.input_shape"``).

    Raises
    ------
    InputFileError
        *given* of another rank, or a dimension other than the batch that differs from a fixed one.
    """
    if given is None:
        return tuple(declared)
    given = tuple(int(d) for d in given)
    if len(given) != len(declared):
        raise InputFileError(f"{source}: {given_label} {format_shape(given)} has {len(given)} dimensions, the model "
                             f"input {format_shape(declared)} has {len(declared)}")
    names = _dim_names(len(given))
    for i, (d, g) in enumerate(zip(declared, given)):
        if g <= 0:
            raise InputFileError(f"{source}: {given_label} {format_shape(given)}: {names[i]} must be positive")
        if i > 0 and d is not None and d != g:
            raise InputFileError(f"{source}: {given_label} {format_shape(given)} contradicts the model input "
                                 f"{format_shape(declared)}: {names[i]}={g}, the model wants {names[i]}={d}")
    return given


def check_sample_shape(sample_shape: tuple[int, ...], shape: Shape, source: str) -> None:
    """Raise unless samples of *sample_shape* fit a model input of *shape* (batch dimensions aside;
    a None dimension of the model, symbolic in the file, fits any size).

    Raises
    ------
    InputFileError
        One line naming *source* (the data), the dimensions that differ (``model wants C=3, data
        has C=1``) and the preprocess key that would fix it; or a rank mismatch.
    """
    xs = tuple(int(d) for d in sample_shape[1:])
    ms = tuple(None if d is None else int(d) for d in shape[1:])
    shown = format_shape(ms)
    if len(xs) != len(ms):
        raise InputFileError(f"{source}: data samples have shape {xs}, the model input expects {shown} "
                             f"(batch dimension aside)")
    names = _dim_names(len(ms) + 1)[1:]
    bad = [i for i, (x, m) in enumerate(zip(xs, ms)) if m is not None and x != m]
    if not bad:
        return
    hint = ""
    if len(xs) == 3:
        if bad[0] == 0:
            hint = "; set preprocess.channels (1 grey, 3 colour)" if len(bad) == 1 else \
                "; check preprocess.channels, resize and center_crop"
        else:
            hint = "; set preprocess.resize and/or center_crop"
    wants = ", ".join(f"{names[i]}={ms[i]}" for i in bad)
    has = ", ".join(f"{names[i]}={xs[i]}" for i in bad)
    raise InputFileError(
        f"{source}: data samples have shape {xs}, the model input expects {shown} (batch dimension aside): "
        f"model wants {wants}, data has {has}{hint}"
    )


def complete_input_shape(shape: Shape, sample_shape: tuple[int, ...], data_source: str) -> tuple[int, ...]:
    """*shape* with its symbolic dimensions taken from one data sample ``(1, C, H, W)``; batch 1.

    Raises
    ------
    InputFileError
        A fixed dimension the sample contradicts, or a rank mismatch (:func:`check_sample_shape`).
    """
    check_sample_shape(sample_shape, shape, data_source)
    full = tuple(int(s) if d is None else int(d) for d, s in zip(shape, sample_shape))
    return (full[0] if shape[0] is not None else 1,) + full[1:]
