"""The float reference executor: runs an IR :class:`~accelsim.graph.ir.Graph` in numpy float32.

It owns the meaning of every op of the IR vocabulary (``conv``, ``gemm``, ``batchnorm``, activations,
``add``/``mul``, ``concat``, pools, ``flatten``/``reshape``, ``softmax``, ``pad``) and the matching
shape rules. Semantics follow ONNX exactly (pads as ``(top, left, bottom, right)``, pool ``ceil_mode``
and ``count_include_pad``), so its outputs can be held to onnxruntime's.

How the arithmetic is laid out (numpy only; Numba did not pay, see ``benchmarks/README.md``):

- ``conv``: im2col by a loop over the ``kh*kw`` kernel positions (each a strided slice of an NHWC
  copy of the padded input, vectorised over batch, channels and pixels) into a reused buffer of
  about ``COLS_BYTES`` (a chunk of images at a time), then one matmul per group batched by
  ``np.matmul``. Depthwise convs (groups = input channels > 1) skip im2col: they accumulate
  ``kh*kw`` shifted slices times a per-channel weight, vectorised over channels.
- pools: the same kernel-position loop with ``max`` / ``+``; the average divisor is obtained by
  pooling a mask of ones, so ``count_include_pad`` and ``ceil_mode`` edge windows match ONNX.

Public API: :func:`execute_node`, :func:`run_graph`, :func:`infer_shapes`, :func:`node_output_shapes`.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from accelsim.errors import InputFileError, UnsupportedOpError
from accelsim.graph.ir import Graph, Node

COLS_BYTES = 4 * 2**20
"""Target size of the im2col buffer of one conv chunk (bytes); bounds memory at large batches."""

__all__ = ["execute_node", "run_graph", "infer_shapes", "node_output_shapes", "SUPPORTED_OPS", "pool_output_size"]


# ----------------------------------------------------------------------------------------------
# shapes


def pool_output_size(size: int, kernel: int, stride: int, pad_begin: int, pad_end: int,
                     dilation: int = 1, ceil_mode: bool = False) -> int:
    """Output length of a conv/pool window along one axis, exactly as ONNX (and onnxruntime).

    ``out = floor_or_ceil((size + pad_begin + pad_end - ((kernel-1)*dilation + 1)) / stride) + 1``;
    with ``ceil_mode`` the last window must still start inside the input or its left padding
    (``(out-1)*stride < size + pad_begin``), else it is dropped (the PyTorch/onnxruntime rule).
    """
    span = (kernel - 1) * dilation + 1
    num = size + pad_begin + pad_end - span
    if ceil_mode:
        out = -(-num // stride) + 1
        if (out - 1) * stride >= size + pad_begin:
            out -= 1
    else:
        out = num // stride + 1
    return int(out)


def _conv_like_hw(shape, attrs, ceil_mode=False):
    kh, kw = attrs["kernel"]
    sh, sw = attrs.get("stride", (1, 1))
    pt, pl, pb, pr = attrs.get("padding", (0, 0, 0, 0))
    dh, dw = attrs.get("dilation", (1, 1))
    oh = pool_output_size(shape[2], kh, sh, pt, pb, dh, ceil_mode)
    ow = pool_output_size(shape[3], kw, sw, pl, pr, dw, ceil_mode)
    return oh, ow


def _reshape_target(in_shape: tuple, target: tuple) -> tuple:
    """Resolve one ``-1`` in *target* against the element count of *in_shape*."""
    total = math.prod(in_shape)
    target = list(target)
    if -1 in target:
        known = math.prod(d for d in target if d != -1)
        target[target.index(-1)] = total // known if known else 0
    return tuple(int(d) for d in target)


def _broadcast(a: tuple, b: tuple) -> tuple:
    return tuple(np.broadcast_shapes(tuple(a), tuple(b)))


def node_output_shapes(node: Node, in_shapes: list[tuple]) -> list[tuple]:
    """Output shapes of *node* given its input shapes (same order as ``node.inputs``).

    Raises
    ------
    UnsupportedOpError
        ``node.op`` is not in the IR vocabulary.
    """
    op, a = node.op, node.attrs
    s = tuple(in_shapes[0])
    if op == "conv":
        oh, ow = _conv_like_hw(s, a)
        return [(s[0], in_shapes[1][0], oh, ow)]
    if op in ("maxpool", "avgpool"):
        oh, ow = _conv_like_hw(s, a, bool(a.get("ceil_mode", False)))
        return [(s[0], s[1], oh, ow)]
    if op == "gemm":
        return [(s[0], in_shapes[1][0])]
    if op in UNARY_OPS or op in ("batchnorm", "softmax", "prelu", "affine", "elementwise"):
        if op in ("prelu", "affine"):
            for t in in_shapes[1:]:
                if _broadcast(s, t) != s:
                    raise UnsupportedOpError(
                        f"node {node.name!r}: constant operand of shape {tuple(t)} does not broadcast onto the "
                        f"activation's {s} without enlarging it (valid: scalar, per-channel [C, 1, 1] or a shape "
                        f"broadcastable to the activation's)")
        return [s]
    if op in ("add", "mul", "sub", "div"):
        try:
            return [_broadcast(s, in_shapes[1])]
        except ValueError:
            raise UnsupportedOpError(
                f"node {node.name!r}: operand shapes {tuple(s)} and {tuple(in_shapes[1])} do not broadcast "
                f"(numpy/ONNX broadcasting: trailing dimensions equal or 1)") from None
    if op == "concat":
        axis = a.get("axis", 1) % len(s)
        out = list(s)
        out[axis] = sum(int(t[axis]) for t in in_shapes)
        return [tuple(out)]
    if op == "global_avgpool":
        return [(s[0], s[1], 1, 1)]
    if op == "flatten":
        axis = int(a.get("axis", 1))
        axis = axis + len(s) if axis < 0 else axis
        return [(math.prod(s[:axis]), math.prod(s[axis:]))]
    if op == "reshape":
        return [_reshape_target(s, a["shape"])]
    if op == "pad":
        pt, pl, pb, pr = a["pads"]
        return [(s[0], s[1], s[2] + pt + pb, s[3] + pl + pr)]
    if op in MOVEMENT_OPS or op == "resize":
        return [tuple(int(d) for d in _KERNELS[op]([np.zeros(s, np.int8)], a).shape)]
    raise UnsupportedOpError(
        f"node {node.name!r}: op {op!r} is not in the IR vocabulary (valid: {', '.join(sorted(SUPPORTED_OPS))})"
    )


def infer_shapes(graph: Graph, input_shapes: dict[str, tuple] | None = None) -> dict[str, tuple]:
    """Every tensor's shape (inputs, params and node outputs) for the given input shapes.

    Parameters
    ----------
    graph : the IR graph.
    input_shapes : shape per graph input; missing inputs take ``graph.inputs``' shape.

    Returns
    -------
    dict name -> shape tuple (elements).
    """
    shapes: dict[str, tuple] = {k: tuple(v.shape) for k, v in graph.params.items()}
    for name, shp in graph.inputs.items():
        shapes[name] = tuple(int(d) for d in (input_shapes or {}).get(name, shp))
    for node in graph.nodes:
        outs = node_output_shapes(node, [shapes[i] for i in node.inputs])
        for name, shp in zip(node.outputs, outs):
            shapes[name] = tuple(int(d) for d in shp)
    return shapes


# ----------------------------------------------------------------------------------------------
# kernels


def _pad_nchw(x: np.ndarray, pads, value: float, extra_b: int = 0, extra_r: int = 0) -> np.ndarray:
    pt, pl, pb, pr = pads
    if not (pt or pl or pb or pr or extra_b or extra_r):
        return x
    n, c, h, w = x.shape
    out = np.full((n, c, h + pt + pb + extra_b, w + pl + pr + extra_r), value, dtype=x.dtype)
    out[:, :, pt:pt + h, pl:pl + w] = x
    return out


def _window_slices(oh, ow, kh, kw, sh, sw, dh, dw):
    """Yield (i, j, row slice, col slice) for each kernel position of a strided, dilated window."""
    for i in range(kh):
        r0 = i * dh
        rs = slice(r0, r0 + (oh - 1) * sh + 1, sh)
        for j in range(kw):
            c0 = j * dw
            yield i, j, rs, slice(c0, c0 + (ow - 1) * sw + 1, sw)


def _conv(x, w, b, attrs):
    """2-D convolution, ONNX ``Conv`` semantics; float32 accumulation in numpy matmul."""
    n, c, h, wd = x.shape
    cout, cg, kh, kw = w.shape
    groups = int(attrs.get("groups", 1))
    sh, sw = attrs.get("stride", (1, 1))
    dh, dw = attrs.get("dilation", (1, 1))
    pads = attrs.get("padding", (0, 0, 0, 0))
    oh, ow = _conv_like_hw(x.shape, attrs)
    xp = _pad_nchw(x, pads, 0.0)
    og = cout // groups
    if cg == 1 and groups == c and groups > 1:
        # depthwise (channel multiplier og): out[:, o] = sum_ij xp[:, o // og] shifted * w[o, 0, i, j]
        src = xp if og == 1 else np.repeat(xp, og, axis=1)
        out = np.zeros((n, cout, oh, ow), dtype=np.float32)
        for i, j, rs, cs in _window_slices(oh, ow, kh, kw, sh, sw, dh, dw):
            out += src[:, :, rs, cs] * w[:, 0, i, j][None, :, None, None]
    else:
        # im2col in chunks of images so the column buffer stays near COLS_BYTES (reused, cache-sized).
        # Columns are laid out [pixel, group, kh, kw, cg] from an NHWC copy of the input, so every
        # fill writes contiguous runs of channels; weights are reordered to match.
        k = cg * kh * kw
        chunk = max(1, min(n, COLS_BYTES // max(1, oh * ow * c * kh * kw * 4)))
        xh = np.ascontiguousarray(xp.transpose(0, 2, 3, 1))
        buf = np.empty((chunk, oh, ow, groups, kh, kw, cg), dtype=np.float32)
        res = np.empty((n, oh, ow, cout), dtype=np.float32)
        wt = np.ascontiguousarray(w.reshape(groups, og, cg, kh, kw).transpose(0, 3, 4, 2, 1).reshape(groups, k, og))
        for s in range(0, n, chunk):
            e = min(n, s + chunk)
            cols = buf[: e - s]
            for i, j, rs, cs in _window_slices(oh, ow, kh, kw, sh, sw, dh, dw):
                cols[:, :, :, :, i, j, :] = xh[s:e, rs, cs, :].reshape(e - s, oh, ow, groups, cg)
            m = (e - s) * oh * ow
            if groups == 1:
                np.matmul(cols.reshape(m, k), wt[0], out=res[s:e].reshape(m, cout))
            else:
                part = np.matmul(cols.reshape(m, groups, k).transpose(1, 0, 2), wt)  # [G, m, og]
                res[s:e] = part.transpose(1, 0, 2).reshape(e - s, oh, ow, cout)
        out = res.transpose(0, 3, 1, 2)
    if b is not None:
        out = out + b.reshape(1, -1, 1, 1)
    return np.ascontiguousarray(out, dtype=np.float32)


def _pool(x, attrs, kind):
    """Max or average pooling with ONNX padding, dilation and ``ceil_mode`` semantics."""
    n, c, h, wd = x.shape
    kh, kw = attrs["kernel"]
    sh, sw = attrs.get("stride", (1, 1))
    dh, dw = attrs.get("dilation", (1, 1))
    pads = tuple(attrs.get("padding", (0, 0, 0, 0)))
    ceil_mode = bool(attrs.get("ceil_mode", False))
    oh, ow = _conv_like_hw(x.shape, attrs, ceil_mode)
    # ceil_mode windows may run past the bottom/right padding: extend so every slice is in range
    need_h = (oh - 1) * sh + (kh - 1) * dh + 1
    need_w = (ow - 1) * sw + (kw - 1) * dw + 1
    ext_b = max(0, need_h - (h + pads[0] + pads[2]))
    ext_r = max(0, need_w - (wd + pads[1] + pads[3]))
    if kind == "max":
        xp = _pad_nchw(x, pads, -np.inf, ext_b, ext_r)
        out = np.full((n, c, oh, ow), -np.inf, dtype=np.float32)
        for _, _, rs, cs in _window_slices(oh, ow, kh, kw, sh, sw, dh, dw):
            np.maximum(out, xp[:, :, rs, cs], out=out)
        return out
    xp = _pad_nchw(x, pads, 0.0, ext_b, ext_r)
    total = np.zeros((n, c, oh, ow), dtype=np.float32)
    for _, _, rs, cs in _window_slices(oh, ow, kh, kw, sh, sw, dh, dw):
        total += xp[:, :, rs, cs]
    # divisor: pool a mask of the positions that count (input only, or input + explicit padding)
    hp, wp = xp.shape[2], xp.shape[3]
    mask = np.zeros((hp, wp), dtype=np.float32)
    if attrs.get("count_include_pad", False):
        mask[: h + pads[0] + pads[2], : wd + pads[1] + pads[3]] = 1.0
    else:
        mask[pads[0]: pads[0] + h, pads[1]: pads[1] + wd] = 1.0
    count = np.zeros((oh, ow), dtype=np.float32)
    for _, _, rs, cs in _window_slices(oh, ow, kh, kw, sh, sw, dh, dw):
        count += mask[rs, cs]
    return total / np.maximum(count, 1.0)


def _softmax(x, axis):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def _hard_sigmoid(x, alpha, beta):
    return np.clip(alpha * x + beta, 0.0, 1.0)


def _clip(x, lo, hi):
    if lo is not None:
        x = np.maximum(x, np.float32(lo))
    if hi is not None:
        x = np.minimum(x, np.float32(hi))
    return x


def _flatten(x, axis):
    if axis < 0:
        axis += x.ndim
    return x.reshape(math.prod(x.shape[:axis]), -1) if axis > 0 else x.reshape(1, -1)


def _reshape(x, shape):
    return x.reshape(_reshape_target(x.shape, tuple(shape)))


def _erf(x):
    """erf in float64 from the Numerical Recipes ``erfcc`` Chebyshev fit (fractional error < 1.2e-7)."""
    x = np.asarray(x, dtype=np.float64)
    z = np.abs(x)
    t = 1.0 / (1.0 + 0.5 * z)
    poly = -z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (
        -0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))))
    erfc = t * np.exp(poly)
    return np.where(x >= 0, 1.0 - erfc, erfc - 1.0)


def _softplus(x):
    x64 = np.asarray(x, dtype=np.float64)
    return np.logaddexp(0.0, x64)


def _f64(fn):
    """Evaluate *fn* in float64 and return float32 (transcendental activations)."""
    return lambda i, a: fn(np.asarray(i[0], dtype=np.float64), a).astype(np.float32)


def _elu(x, alpha):
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0.0)))


_UNARY_KERNELS: dict[str, Callable[[list, dict], np.ndarray]] = {
    "tanh": _f64(lambda x, a: np.tanh(x)),
    "erf": _f64(lambda x, a: _erf(x)),
    "softplus": _f64(lambda x, a: _softplus(x)),
    "softsign": _f64(lambda x, a: x / (1.0 + np.abs(x))),
    "elu": _f64(lambda x, a: _elu(x, float(a.get("alpha", 1.0)))),
    "celu": _f64(lambda x, a: float(a.get("alpha", 1.0)) * _elu(x / float(a.get("alpha", 1.0)), 1.0)),
    "selu": _f64(lambda x, a: float(a.get("gamma", 1.0507009873554805))
                 * _elu(x, float(a.get("alpha", 1.6732632423543772)))),
    "mish": _f64(lambda x, a: x * np.tanh(_softplus(x))),
    "gelu": _f64(lambda x, a: 0.5 * x * (1.0 + (np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x ** 3))
                                               if a.get("approximate", "none") == "tanh"
                                               else _erf(x / np.sqrt(2.0))))),
    "exp": _f64(lambda x, a: np.exp(np.minimum(x, 88.0))),
    "neg": lambda i, a: -i[0],
    "abs": lambda i, a: np.abs(i[0]),
    "pow": lambda i, a: np.power(i[0], np.float32(a["exponent"])),
    "thresholded_relu": lambda i, a: np.where(i[0] > np.float32(a.get("alpha", 1.0)), i[0], np.float32(0.0)),
}


def _run_elementwise(x, attrs):
    """A fused element-wise region: its body nodes run on one input (see accelsim.graph.fuse)."""
    env = {k: np.asarray(v, dtype=np.float32) for k, v in attrs["consts"].items()}
    env[attrs["input"]] = x
    for node in attrs["body"]:
        env[node.outputs[0]] = execute_node(node, [env[i] for i in node.inputs])[0]
    return env[attrs["output"]]


# -- data movement: dtype-preserving, so index maps can be computed by running them on integers --


def _slice(x, a):
    idx = [slice(None)] * x.ndim
    for s, e, ax, st in zip(a["starts"], a["ends"], a["axes"], a["steps"]):
        idx[ax] = slice(int(s), int(e), int(st))
    return x[tuple(idx)]


def _pad_hw(x, a):
    """Pad H and W (``pads`` = top, left, bottom, right): mode ``constant`` (``value``), ``reflect``, ``edge``."""
    pt, pl, pb, pr = (int(p) for p in a["pads"])
    width = [(0, 0)] * (x.ndim - 2) + [(pt, pb), (pl, pr)]
    mode = a.get("mode", "constant")
    if mode == "constant":
        return np.pad(x, width, mode="constant", constant_values=a.get("value", 0.0))
    return np.pad(x, width, mode=mode)


def resize_source(out_len: int, in_len: int, scale: float, attrs: dict) -> np.ndarray:
    """Source coordinate (float64) of each output position along one axis, ONNX Resize rules."""
    o = np.arange(out_len, dtype=np.float64)
    mode = attrs.get("coordinate_transformation_mode", "half_pixel")
    if mode == "asymmetric":
        return o / scale
    if mode == "align_corners":
        return o * (in_len - 1) / (out_len - 1) if out_len > 1 else np.zeros(out_len)
    if mode == "pytorch_half_pixel":
        return (o + 0.5) / scale - 0.5 if out_len > 1 else np.zeros(out_len)
    if mode == "tf_half_pixel_for_nn":
        return (o + 0.5) / scale
    if mode == "half_pixel":
        return (o + 0.5) / scale - 0.5
    raise UnsupportedOpError(f"Resize coordinate_transformation_mode {mode!r} is not supported")


def resize_nearest_index(out_len: int, in_len: int, scale: float, attrs: dict) -> np.ndarray:
    """Input index of each output position along one axis (ONNX ``nearest`` mode)."""
    src = resize_source(out_len, in_len, scale, attrs)
    nm = attrs.get("nearest_mode", "round_prefer_floor")
    if nm == "floor":
        idx = np.floor(src)
    elif nm == "ceil":
        idx = np.ceil(src)
    elif nm == "round_prefer_ceil":
        idx = np.floor(src + 0.5)
    else:  # round_prefer_floor
        idx = np.ceil(src - 0.5)
    return np.clip(idx, 0, in_len - 1).astype(np.int64)


def resize_linear_taps(out_len: int, in_len: int, scale: float, attrs: dict):
    """(i0, i1, w1) per output position along one axis: ``y = x[i0] * (1 - w1) + x[i1] * w1``."""
    src = resize_source(out_len, in_len, scale, attrs)
    src = np.clip(src, 0.0, in_len - 1)
    i0 = np.floor(src).astype(np.int64)
    i1 = np.minimum(i0 + 1, in_len - 1)
    return i0, i1, src - i0


def _resize(x, a):
    out = x
    for ax in (2, 3):
        n_in, n_out = x.shape[ax], int(a["sizes"][ax])
        if n_in == n_out and a["scales"][ax] == 1.0:
            continue
        if a["mode"] == "nearest":
            out = np.take(out, resize_nearest_index(n_out, n_in, a["scales"][ax], a), axis=ax)
        else:
            i0, i1, w = resize_linear_taps(n_out, n_in, a["scales"][ax], a)
            shape = [1] * x.ndim
            shape[ax] = n_out
            w = w.reshape(shape).astype(np.float32)
            if np.issubdtype(out.dtype, np.integer):  # shape inference only
                out = np.take(out, i0, axis=ax)
            else:
                out = np.take(out, i0, axis=ax) * (np.float32(1.0) - w) + np.take(out, i1, axis=ax) * w
    return out


MOVEMENT_KERNELS: dict[str, Callable[[np.ndarray, dict], np.ndarray]] = {
    "flatten": lambda x, a: _flatten(x, a.get("axis", 1)),
    "reshape": lambda x, a: _reshape(x, a["shape"]),
    "transpose": lambda x, a: np.transpose(x, a["perm"]),
    "slice": _slice,
    "pad": _pad_hw,
    "gather": lambda x, a: np.take(x, np.asarray(a["indices"], dtype=np.int64), axis=a["axis"]),
    "expand": lambda x, a: np.broadcast_to(x, (x.shape[0],) + tuple(a["shape"][1:])).copy(),
}
"""Ops that only move elements (each output element is one input element or a constant): they
keep the dtype, so lowering computes their per-sample index map by running them on integers.
``resize`` in ``nearest`` mode moves elements too (:func:`is_movement`)."""


def move(node: Node, x: np.ndarray, attrs: dict | None = None) -> np.ndarray:
    """Run data-movement *node* on *x* keeping its dtype (``attrs`` overrides ``node.attrs``)."""
    a = node.attrs if attrs is None else attrs
    return _resize(x, a) if node.op == "resize" else MOVEMENT_KERNELS[node.op](x, a)


def is_movement(node: Node) -> bool:
    """True when every output element of *node* is one element of its input (or a pad constant)."""
    return node.op in MOVEMENT_OPS or (node.op == "resize" and node.attrs.get("mode") == "nearest")

MOVEMENT_OPS = frozenset(MOVEMENT_KERNELS)


_KERNELS: dict[str, Callable[[list, dict], np.ndarray]] = {
    "conv": lambda i, a: _conv(i[0], i[1], i[2] if len(i) > 2 else None, a),
    "gemm": lambda i, a: (i[0] @ i[1].T + (i[2] if len(i) > 2 else 0.0)),
    "batchnorm": lambda i, a: i[0] * i[1].reshape(1, -1, *([1] * (i[0].ndim - 2)))
    + i[2].reshape(1, -1, *([1] * (i[0].ndim - 2))),
    "relu": lambda i, a: np.maximum(i[0], np.float32(0.0)),
    "clip": lambda i, a: _clip(i[0], a.get("min"), a.get("max")),
    "leaky_relu": lambda i, a: np.where(i[0] >= 0, i[0], i[0] * np.float32(a.get("alpha", 0.01))),
    "sigmoid": lambda i, a: np.float32(0.5) * (np.float32(1.0) + np.tanh(np.float32(0.5) * i[0])),  # no exp overflow
    "hard_sigmoid": lambda i, a: _hard_sigmoid(i[0], np.float32(a.get("alpha", 0.2)), np.float32(a.get("beta", 0.5))),
    "hard_swish": lambda i, a: i[0] * _hard_sigmoid(i[0], np.float32(1.0 / 6.0), np.float32(0.5)),
    "add": lambda i, a: i[0] + i[1],
    "mul": lambda i, a: i[0] * i[1],
    "concat": lambda i, a: np.concatenate(i, axis=a.get("axis", 1)),
    "maxpool": lambda i, a: _pool(i[0], a, "max"),
    "avgpool": lambda i, a: _pool(i[0], a, "avg"),
    "global_avgpool": lambda i, a: i[0].mean(axis=(2, 3), keepdims=True, dtype=np.float32),
    "flatten": lambda i, a: _flatten(i[0], a.get("axis", 1)),
    "reshape": lambda i, a: _reshape(i[0], a["shape"]),
    "softmax": lambda i, a: _softmax(i[0], a.get("axis", -1)),
    "sub": lambda i, a: i[0] - i[1],
    "div": lambda i, a: i[0] / i[1],
    "prelu": lambda i, a: np.where(i[0] >= 0, i[0], i[0] * i[1]),
    "affine": lambda i, a: i[0] * i[1] + i[2],
    "elementwise": lambda i, a: _run_elementwise(i[0], a),
    "resize": lambda i, a: _resize(i[0], a),
    **_UNARY_KERNELS,
    **{op: (lambda f: lambda i, a: f(i[0], a))(f) for op, f in MOVEMENT_KERNELS.items()},
}

UNARY_OPS = frozenset(("relu", "clip", "leaky_relu", "sigmoid", "hard_sigmoid", "hard_swish", *_UNARY_KERNELS))
"""Element-wise functions of one activation (the integer path runs them as lookup tables)."""

SUPPORTED_OPS = frozenset(_KERNELS)
"""The IR op names this executor runs (the vocabulary the importer emits)."""


def execute_node(node: Node, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """Run one node on float32 arrays (params and activations in ``node.inputs`` order).

    Returns
    -------
    list of float32 arrays, one per ``node.outputs``.

    Raises
    ------
    UnsupportedOpError
        ``node.op`` is not in the IR vocabulary.
    """
    kernel = _KERNELS.get(node.op)
    if kernel is None:
        raise UnsupportedOpError(
            f"node {node.name!r}: op {node.op!r} is not in the IR vocabulary "
            f"(valid: {', '.join(sorted(SUPPORTED_OPS))})"
        )
    xs = [np.asarray(v, dtype=np.float32) for v in inputs]
    out = kernel(xs, node.attrs)
    return [np.asarray(out, dtype=np.float32)]


def run_graph(graph: Graph, feeds: dict[str, np.ndarray], keep: str = "outputs") -> dict[str, np.ndarray]:
    """Run *graph* on *feeds* (graph input name -> float32 array, any batch size).

    Parameters
    ----------
    keep : ``"outputs"`` returns the graph outputs only (intermediates are freed as soon as their
        last consumer ran, so memory stays bounded); ``"all"`` returns every activation tensor
        (inputs included), for calibration and debugging.

    Raises
    ------
    InputFileError
        A graph input is missing from *feeds*, or its shape disagrees with the model's beyond the
        batch dimension.
    """
    if keep not in ("outputs", "all"):
        raise ValueError(f"keep must be 'outputs' or 'all' (got {keep!r})")
    env: dict[str, np.ndarray] = {}
    for name, shp in graph.inputs.items():
        if name not in feeds:
            raise InputFileError(f"graph {graph.name!r}: no data fed for input {name!r} (fed: {sorted(feeds)})")
        x = np.asarray(feeds[name], dtype=np.float32)
        if x.ndim != len(shp) or tuple(x.shape[1:]) != tuple(shp[1:]):
            raise InputFileError(
                f"graph {graph.name!r}: input {name!r} has shape {tuple(x.shape)}, model expects "
                f"{('N',) + tuple(shp[1:])}"
            )
        env[name] = x
    last_use: dict[str, int] = {}
    if keep == "outputs":
        for idx, node in enumerate(graph.nodes):
            for name in node.inputs:
                last_use[name] = idx
    outputs = set(graph.outputs)
    params = graph.params
    for idx, node in enumerate(graph.nodes):
        ins = [env[n] if n in env else params[n] for n in node.inputs]
        for name, val in zip(node.outputs, execute_node(node, ins)):
            env[name] = val
        if keep == "outputs":
            for name in node.inputs:
                if last_use.get(name) == idx and name not in outputs and name in env:
                    del env[name]
    if keep == "all":
        return env
    return {name: env[name] if name in env else params[name] for name in graph.outputs}
