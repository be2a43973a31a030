"""One function per descriptor op on integer codes: picks a kernel and the exact/faithful path.

These are the building blocks of :mod:`accelsim.datapath.executor`; they take plain arrays and
scalars (no descriptors) so that tests can drive them directly. Activations are NCHW integer
codes in any of :data:`CODE_DTYPES`; MAC layers, adds and maxpool read them as they are and write
their outputs in the narrowest dtype holding the output range (:func:`code_dtype`: ``int8`` for
8-bit codes), so a network moves 1-byte tensors between its 8-bit layers; per-channel requantization parameters are 1-D arrays of length C (a scalar or length-1
array is broadcast).

Path choice for MAC layers (see :mod:`accelsim.datapath.kernels` and
:mod:`accelsim.datapath.igemm` for the proofs of exactness):

``faithful``  per-step saturate/wrap, overflow events counted — used whenever the bound
              ``max_c(|bias_c| + max|x| * sum_k |w_{c,k}|) < 2**(acc_bits-1)`` fails (or forced).
              Each output is first screened with its own bounds ``bias + (sum of its positive
              products)`` and ``bias + (sum of its negative products)`` (``kernels._fits``, from
              the exact sum and ``sum_k |x_k w_k|``, computed on the integer micro-kernel when
              ``max|x| * max_c sum|w_c| < 2**31``);
              blocks of 64 outputs that all pass take the exact sums, the others are stepped in
              the documented order — in int32 lanes, 64 outputs at once, when
              ``2**(acc_bits-1) + max|x| * max|w| < 2**31``, else one output at a time in int64;
``stepped``   every output stepped, no screen (the reference the faster paths are tested
              against; same bits as ``faithful``);
``int8``      the integer micro-kernel of :mod:`accelsim.datapath.igemm` on 8-bit codes
              (activations and weights in [-127, 127]) when ``max|x| * max_c sum|w_c| < 2**31``;
``int16``     the same on codes up to 16 bits;
``float32``   a float32 BLAS GEMM (im2col, or all taps over the padded plane) when additionally
              ``max|x| * max_c sum|w_c| < 2**24``;
``float64``   the same in float64 when that product is below 2**53 (always, if acc_bits <= 48);
``int64``     direct loops: depthwise layers (memory-bound, no GEMM lowering) in int32 lanes
              over 64 outputs at a time when ``max|x| * max_c sum|w_c| < 2**31``, else int64;
              tiny layers whose codes are too wide for the int32 paths in int64.

``auto`` takes ``faithful`` when the bound fails; else ``int64`` for depthwise layers (one input
channel per group, several groups) and ``int8``/``int16`` for the others when the int32
condition holds; else ``int64`` for tiny layers and ``float64`` for the rest.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from accelsim.datapath import amx, igemm
from accelsim.datapath import kernels as K

PATHS = ("auto", "faithful", "stepped", "int8", "int16", "int64", "float32", "float64")
"""Accepted values of ``path`` for :func:`conv`; ``auto`` chooses the fastest exact one."""

_SCRATCH_BYTES = 1 << 24
"""Size bound of one im2col block, bytes (whole images per block, at least one)."""
_TAP_GEMM = True
"""Stride-1 single-group layers: one GEMM of all kernel taps over the padded input plane and a
shifted sum (:func:`~accelsim.datapath.kernels.tap_sum_to_nchw`) instead of im2col (measured
10-30 % faster on the ResNet-style 3x3 layer; same integers)."""
_TAP_MIN_PLANE = 2048
"""Padded input plane (Hp x Wp elements) from which the tap GEMM pays: it runs image by image,
so on small planes its per-image GEMM and kernel launches cost more than batched im2col (the
bundled model's 30x30 planes: 24 s against 0.7 s per 256 images on a loaded 2-core machine)."""


def per_channel(values, c: int, name: str = "parameter") -> np.ndarray:
    """Broadcast a scalar / length-1 / length-C array to a contiguous int64 array of length C."""
    a = np.asarray(values, dtype=np.int64).reshape(-1)
    if a.size == 1:
        a = np.full(c, a[0], dtype=np.int64)
    if a.size != c:
        raise ValueError(f"{name}: expected 1 or {c} values, got {a.size}")
    return np.ascontiguousarray(a)


CODE_DTYPES = (np.int8, np.int16, np.int32)
"""Integer dtypes activation codes travel in between layers (the narrowest holding each
tensor's clipped range, :func:`code_dtype`); the kernels read any of them directly."""


def code_dtype(lo: int, hi: int) -> type:
    """Narrowest of :data:`CODE_DTYPES` holding every code in ``[lo, hi]`` (codes are clipped
    to that range, so storing them narrow changes no value)."""
    for dt in CODE_DTYPES:
        info = np.iinfo(dt)
        if info.min <= lo and hi <= info.max:
            return dt
    raise ValueError(f"codes in [{lo}, {hi}] do not fit int32")


def codes(x) -> np.ndarray:
    """*x* as a C-contiguous array of one of :data:`CODE_DTYPES` (its own when it is one, else
    int32; values unchanged — codes are at most 31 bits wide)."""
    x = np.asarray(x)
    return np.ascontiguousarray(x, dtype=x.dtype if x.dtype in CODE_DTYPES else np.int32)


def conv_out_hw(h: int, w: int, kernel, stride, padding, dilation) -> tuple[int, int]:
    """Output height and width: ``(H + pt + pb - d*(k-1) - 1) // s + 1`` per axis."""
    kh, kw = kernel
    sh, sw = stride
    pt, pl, pb, pr = padding
    dh, dw = dilation
    oh = (h + pt + pb - dh * (kh - 1) - 1) // sh + 1
    ow = (w + pl + pr - dw * (kw - 1) - 1) // sw + 1
    return oh, ow


@dataclass(frozen=True)
class MacResult:
    """Output codes of a MAC layer, its overflow events and the path that computed it."""

    out: np.ndarray
    """[N, Cout, OH, OW] output codes in ``code_dtype(lo, hi)`` (the residual add's codes, in its
    dtype, when :attr:`fused`)."""
    overflow_events: int
    """Accumulation steps whose exact partial sum left the accumulator range."""
    path: str
    fused: bool = False
    """Whether the :class:`Residual` add asked for was computed in the epilogue."""


@dataclass(frozen=True)
class Residual:
    """A residual add to compute in a convolution's epilogue: ``add(conv output, skip)`` with the
    add layer's parameters, never storing the convolution's own codes.

    :func:`conv` fuses it when its path requantizes in 32-bit lanes and reports whether it did
    (:attr:`MacResult.fused`); otherwise the caller runs the add itself."""

    skip: np.ndarray
    """The add's other input, [N, Cout, OH, OW] codes (C-contiguous)."""
    table: np.ndarray
    """int64 [Cout, 8] constants of each channel (:func:`residual_params`)."""
    lo: int
    hi: int
    """The add's output code range."""


def weight_l1(w: np.ndarray) -> np.ndarray:
    """``sum_k |w_{c,k}|`` per output channel, int64 [Cout] (for the overflow bound)."""
    w64 = np.asarray(w, dtype=np.int64)
    return np.abs(w64.reshape(w64.shape[0], -1)).sum(axis=1)


def choose_path(max_x: int, l1: np.ndarray, bias: np.ndarray, acc_bits: int) -> str:
    """``faithful`` when the no-overflow bound fails, else the float width that is exact.

    Returns ``faithful``, ``float32`` or ``float64`` (see the module docstring).
    """
    l1 = np.asarray(l1, dtype=np.int64)
    prod = int(max_x) * int(l1.max(initial=0))
    worst = int((np.abs(np.asarray(bias, dtype=np.int64)) + int(max_x) * l1).max(initial=0))
    if worst >= (1 << (acc_bits - 1)):
        return "faithful"
    if prod < K.FLOAT32_EXACT_LIMIT:
        return "float32"
    assert prod < K.FLOAT64_EXACT_LIMIT  # acc_bits <= 48 makes this hold
    return "float64"


INT32_EXACT_LIMIT = 1 << 31
"""Sums of magnitude below this are exact in the micro-kernel's int32 lanes (mod 2**32)."""
INT16_MAX = (1 << 15) - 1
"""Codes up to this magnitude fit a signed 16-bit half (the lane kernels' ``vpmaddwd`` products)."""


def int_kernel(max_x: int, max_w: int, l1: np.ndarray) -> str | None:
    """``int8`` or ``int16`` when the integer micro-kernel is exact for these codes, else None.

    Needs ``max|x| * max_c sum_k |w_{c,k}| < 2**31``; ``int8`` takes codes with ``|x|, |w| <= 127``,
    ``int16`` codes with ``|x|, |w| <= 32767``.
    """
    if int(max_x) * int(np.max(l1, initial=0)) >= INT32_EXACT_LIMIT:
        return None
    if max_x <= 127 and max_w <= 127:
        return "int8"
    if max_x <= 32767 and max_w <= 32767:
        return "int16"
    return None


def conv(x: np.ndarray, w: np.ndarray, bias, pre, scale, post, *, lo: int, hi: int,
         stride=(1, 1), padding=(0, 0, 0, 0), dilation=(1, 1), groups: int = 1,
         acc_bits: int = 32, overflow: str = "saturate", path: str = "auto",
         l1: np.ndarray | None = None, packed: dict | None = None,
         x_bound: int | None = None, residual: Residual | None = None) -> MacResult:
    """``clip(requant(acc, pre, scale, post), lo, hi)`` with ``acc = bias + sum(x*w)`` per channel.

    Parameters
    ----------
    x : int [N, C, H, W] codes.  w : int [Cout, C/groups, kh, kw] codes.
    bias, pre, scale, post : per output channel (scalar broadcasts).
    lo, hi : output code range.  acc_bits : accumulator width, bits.
    overflow : ``saturate`` or ``wrap`` (at every partial sum, in the order of
        :mod:`accelsim.datapath.kernels`).
    path : one of :data:`PATHS`; forcing an exact path on a layer whose bound fails is refused
        (``ValueError``) because it would not be bit-exact.
    l1 : precomputed :func:`weight_l1` (saves work when called per batch).
    packed : a dict kept by the caller for this layer across batches (its weights and parameters
        must not change): the integer paths store their packed weights, ``max|w|`` and the path
        chosen for each input bound in it.
    x_bound : a bound on ``max|x|`` the caller knows (the producing layer's code range). With
        ``path="auto"``, when the bound already selects the fastest path this layer can take
        (the 8-bit micro-kernel; the direct loops of a depthwise layer) the input is not scanned
        for its largest code: a smaller true maximum would select the same path.
    residual : a following residual add to compute in the epilogue; honoured on the AMX 8-bit
        path when the requantization runs in 32-bit lanes (``MacResult.fused`` says whether).

    Returns
    -------
    MacResult
    """
    if not -(1 << 31) <= lo <= hi < (1 << 31):
        raise ValueError(f"conv: output range [{lo}, {hi}] does not fit int32 codes")
    x = codes(x)
    w = np.ascontiguousarray(w, dtype=np.int32)
    out_dt = code_dtype(lo, hi)
    n, c, h, wd = x.shape
    c_out, cg, kh, kw = w.shape
    if c != cg * groups or c_out % groups:
        raise ValueError(f"conv: input channels {c} and weight {w.shape} disagree with groups={groups}")
    oh, ow = conv_out_hw(h, wd, (kh, kw), stride, padding, dilation)
    bias = per_channel(bias, c_out, "bias")
    pre, scale, post = (per_channel(v, c_out, nm) for v, nm in
                        ((pre, "pre_shift"), (scale, "scale"), (post, "post_shift")))
    if l1 is None:
        l1 = weight_l1(w)
    if path not in PATHS:
        raise ValueError(f"conv: path must be one of {PATHS}, got {path!r}")
    if packed is not None and "max_w" in packed:
        max_w = packed["max_w"]
    else:
        max_w = int(K.max_abs(w))
        if packed is not None:
            packed["max_w"] = max_w
    depthwise = cg == 1 and groups > 1
    max_x = None
    if path == "auto" and x_bound is not None:
        # every condition below holds for a smaller max|x| when it holds for a larger one
        key = ("path", int(x_bound), acc_bits)
        if packed is not None and key in packed:
            safe, kern = packed[key]
        else:
            safe, kern = choose_path(int(x_bound), l1, bias, acc_bits), int_kernel(int(x_bound), max_w, l1)
            if packed is not None:
                packed[key] = safe, kern
        if safe != "faithful" and (depthwise or kern == "int8"):
            max_x = int(x_bound)
    if max_x is None:
        max_x = int(K.max_abs(x))
        safe = choose_path(max_x, l1, bias, acc_bits)
        kern = int_kernel(max_x, max_w, l1)
    if path == "auto":
        path = safe
        if path != "faithful":
            path = "int64" if depthwise or kern is None and (c_out // groups < 8 or cg * kh * kw < 8) \
                else kern or safe
    elif path in ("int8", "int16"):
        if safe == "faithful" or kern is None or (path == "int8" and kern != "int8"):
            raise ValueError(f"conv: path {path!r} is not exact here (bound allows {safe!r}, codes allow {kern!r})")
    elif path not in ("faithful", "stepped"):
        if safe == "faithful" or (path == "float32" and safe != "float32"):
            raise ValueError(f"conv: path {path!r} is not exact here (bound allows {safe!r})")
    args = (stride[0], stride[1], padding[0], padding[1], dilation[0], dilation[1], groups, oh, ow)
    if path == "int8" and amx.available():
        res = None
        if residual is not None:
            res = (codes(residual.skip), residual.table, residual.lo, residual.hi, code_dtype(residual.lo, residual.hi))
            if res[0].shape != (n, c_out, oh, ow) or residual.table.shape != (c_out, igemm.RESIDUAL_PARAMS):
                raise ValueError(f"conv: residual of shape {res[0].shape} (table {residual.table.shape}) does not "
                                 f"match the output {(n, c_out, oh, ow)}")
        out, fused = amx.conv_codes(x, w, bias, pre, scale, post, lo, hi, tuple(stride), tuple(padding),
                                    tuple(dilation), groups, oh, ow, packed=packed, out_dtype=out_dt, max_x=max_x,
                                    residual=res)
        return MacResult(out, 0, path, fused)
    if path in ("int8", "int16") or (path == "faithful" and kern is not None):
        out, events = igemm.conv_codes(
            x, w, bias, pre, scale, post, lo, hi, tuple(stride), tuple(padding), tuple(dilation), groups, oh, ow,
            sixteen=kern == "int16" if path == "faithful" else path == "int16",
            faithful=(acc_bits, overflow == "wrap") if path == "faithful" else None, packed=packed,
            step_lanes=(1 << (acc_bits - 1)) + max_x * max_w < INT32_EXACT_LIMIT,
            narrow=max(max_x, max_w) <= INT16_MAX, out_dtype=out_dt)
        return MacResult(out, events, path)
    if path == "int64" and depthwise and kern is not None:
        # int32 lanes are exact under the micro-kernel's bound (max|x| * max_c sum|w_c| < 2**31)
        hq, wq, size, taps = K.depthwise_taps(h, wd, kh, kw, stride[0], stride[1], *padding, dilation[0],
                                              dilation[1], oh)
        out = np.empty((n, c_out, oh, ow), dtype=out_dt)
        key = ("depthwise_req32", max_x)
        req32 = packed.get(key) if packed is not None else None
        if req32 is None:
            req32 = igemm.requant_fits_int32(max_x * l1, bias, pre, scale, post, lo, hi, pre_add=False)
            if packed is not None:
                packed[key] = req32
        K.depthwise_phase(x, w.reshape(c_out, -1), c_out // c, taps, hq, wq, size, stride[0], stride[1], padding[0],
                          padding[1], bias, pre, scale, post, lo, hi, out, req32)
        return MacResult(out, 0, path)
    x = x.astype(np.int32, copy=False)  # the int64 and float paths below read int32 codes
    if path == "stepped":
        acc, ev = K.conv_acc_faithful(x, w, bias, *args, acc_bits, overflow == "wrap")
        return MacResult(K.requant_nchw(acc, pre, scale, post, lo, hi).astype(out_dt), int(ev.sum()), path)
    if path == "faithful":  # codes too wide for the micro-kernel: screen in int64, step where needed
        out = np.empty((n, c_out, oh, ow), dtype=out_dt)
        ng = c_out // groups
        kk = cg * kh * kw
        per_img = oh * ow
        imgs = max(1, _SCRATCH_BYTES // (per_img * kk * 4))
        w2 = w.reshape(groups, ng, kk)
        zero = np.zeros(c_out, dtype=np.int64)
        events = 0
        for n0 in range(0, n, imgs):
            nb = min(imgs, n - n0)
            cols = np.empty((nb * per_img, kk), dtype=np.int32)
            for g in range(groups):
                K.im2col_rows(x, cols, n0, g, cg, kh, kw, stride[0], stride[1], padding[0], padding[1],
                              dilation[0], dilation[1], oh, ow)
                acc, ev = K.gemm_acc_faithful(cols, np.ascontiguousarray(w2[g]), bias[g * ng:(g + 1) * ng],
                                              acc_bits, overflow == "wrap", True)
                events += int(ev.sum())
                K.gemm_cols_to_nchw(acc.T, zero, pre, scale, post, lo, hi, out, n0, g * ng)
        return MacResult(out, events, path)
    if path == "int64" and depthwise:  # codes too wide for int32 lanes: the same row sweep in int64
        return MacResult(K.depthwise_codes(x, w, bias, *args[:6], oh, ow, pre, scale, post, lo, hi).astype(out_dt), 0,
                         path)
    if path == "int64":
        acc = K.conv_acc_exact(x, w, bias, *args)
        return MacResult(K.requant_nchw(acc, pre, scale, post, lo, hi).astype(out_dt), 0, path)
    dtype = np.float32 if path == "float32" else np.float64
    out = np.empty((n, c_out, oh, ow), dtype=out_dt)
    pt, pl, pb, pr = padding
    hp, wp = h + pt + pb, wd + pl + pr
    if _TAP_GEMM and groups == 1 and tuple(stride) == (1, 1) and kh * kw > 1 and hp * wp >= _TAP_MIN_PLANE:
        # one GEMM of all taps over the zero-padded plane, then a shifted sum (no im2col copy)
        wst = np.ascontiguousarray(w.transpose(2, 3, 0, 1).reshape(kh * kw * c_out, c).astype(dtype))
        plane = np.zeros((c, hp, wp), dtype=dtype)
        for i in range(n):
            plane[:, pt:pt + h, pl:pl + wd] = x[i]
            y = wst @ plane.reshape(c, hp * wp)
            K.tap_sum_to_nchw(y, c_out, kh, kw, dilation[0], dilation[1], wp, bias, pre, scale, post,
                              lo, hi, out, i)
        return MacResult(out, 0, path)
    ng = c_out // groups
    kk = cg * kh * kw
    per_img = oh * ow
    imgs = max(1, _SCRATCH_BYTES // (per_img * kk * np.dtype(dtype).itemsize))
    wmat = np.ascontiguousarray(w.reshape(groups, ng, kk).astype(dtype))
    for n0 in range(0, n, imgs):
        nb = min(imgs, n - n0)
        cols = np.empty((kk, nb * per_img), dtype=dtype)
        for g in range(groups):
            K.im2col_t(x, cols, n0, g, cg, kh, kw, stride[0], stride[1], padding[0], padding[1],
                       dilation[0], dilation[1], oh, ow)
            res = wmat[g] @ cols
            K.gemm_cols_to_nchw(res, bias, pre, scale, post, lo, hi, out, n0, g * ng)
    return MacResult(out, 0, path)


def gemm(x: np.ndarray, w: np.ndarray, bias, pre, scale, post, *, lo: int, hi: int,
         acc_bits: int = 32, overflow: str = "saturate", path: str = "auto",
         l1: np.ndarray | None = None, packed: dict | None = None) -> MacResult:
    """Fully connected layer: x int [N, K] or [N, K, 1, 1], w int [Nout, K]; out [N, Nout, 1, 1].

    Same rule and reduction order (bias, then k ascending) as :func:`conv` with a 1x1 kernel.
    """
    x = np.asarray(x)
    x4 = x.reshape(x.shape[0], -1, 1, 1)
    w = np.asarray(w)
    w4 = w.reshape(w.shape[0], w.shape[1], 1, 1)
    return conv(x4, w4, bias, pre, scale, post, lo=lo, hi=hi, acc_bits=acc_bits,
                overflow=overflow, path=path, l1=l1, packed=packed)


def maxpool(x, kernel, stride=(1, 1), padding=(0, 0, 0, 0), dilation=(1, 1),
            lo: int | None = None, hi: int | None = None) -> np.ndarray:
    """Max over each window (padding never wins), then clip to ``[lo, hi]`` when given; the output
    in the narrowest dtype holding both the input dtype's and ``[lo, hi]``'s common range."""
    x = codes(x)
    oh, ow = conv_out_hw(x.shape[2], x.shape[3], kernel, stride, padding, dilation)
    info = np.iinfo(x.dtype)
    lo = int(info.min) if lo is None else min(max(int(lo), int(info.min)), int(info.max))
    hi = int(info.max) if hi is None else min(max(int(hi), lo), int(info.max))
    out = np.empty((x.shape[0], x.shape[1], oh, ow), dtype=code_dtype(lo, hi))
    K.maxpool(x, kernel[0], kernel[1], stride[0], stride[1], padding[0], padding[1],
              dilation[0], dilation[1], oh, ow, lo, hi, out)
    return out


def avgpool(x, kernel, pre, scale, post, *, lo: int, hi: int, stride=(1, 1),
            padding=(0, 0, 0, 0)) -> np.ndarray:
    """``clip(requant(window sum, pre, scale, post), lo, hi)`` per channel; codes of any integer
    dtype in, the output in ``code_dtype(lo, hi)``."""
    x = codes(x)
    c = x.shape[1]
    oh, ow = conv_out_hw(x.shape[2], x.shape[3], kernel, stride, padding, (1, 1))
    if not -(1 << 31) <= lo <= hi < (1 << 31):
        raise ValueError(f"avgpool: output range [{lo}, {hi}] does not fit int32 codes")
    out = np.empty((x.shape[0], c, oh, ow), dtype=code_dtype(lo, hi))
    K.avgpool(x, kernel[0], kernel[1], stride[0], stride[1], padding[0], padding[1], oh, ow,
              per_channel(pre, c, "pre_shift"), per_channel(scale, c, "scale"),
              per_channel(post, c, "post_shift"), lo, hi, out)
    return out


LANE_SHIFT_MAX = 30
"""Largest pre/post shift the int32-lane element-wise kernels take (a shift by 31 or more, and
its rounding half ``2**(shift-1)``, leave int32)."""


def code_bound(x: np.ndarray, bound: int | None = None) -> int:
    """Bound on ``|code|`` of *x*: its dtype's (``-min``), tightened by a caller's *bound*."""
    b = -int(np.iinfo(x.dtype).min)
    return b if bound is None else min(b, int(bound))


def _rounded_bound(bound: int, pre: np.ndarray) -> np.ndarray:
    """``max |rshift_round(x, pre)|`` over ``|x| <= bound`` per channel (at the ends: the rounding
    shift is monotonic); *pre* <= :data:`LANE_SHIFT_MAX`, *bound* <= 2**30."""
    half = np.left_shift(np.int64(1), pre) >> 1
    return np.maximum(np.abs((bound + half) >> pre), np.abs((half - bound) >> pre))


def add_lanes(bounds: tuple[int, int], params0, params1) -> np.ndarray:
    """Per channel, whether :func:`add`'s int32-lane kernel is exact (bool [C]).

    With the inputs ordered so that ``qa <= qb`` (their post shifts), ``d = qb - qa`` and
    ``R_i = max |rshift_round(x_i, pre_i)|`` over ``|x_i| <= bounds[i]``, the kernel computes
    ``(ra * (sa << d) + rb * sb + 2**(qb-1)) >> qb`` in int32. Every intermediate is bounded in
    magnitude by ``R_a*sa*2**d + R_b*sb + 2**(qb-1)`` (the rounded inputs by
    ``bounds[i] + 2**(pre_i-1)``), so the lanes are exact when that is below 2**31, every shift is
    at most :data:`LANE_SHIFT_MAX`, the scales are below 2**31 and the bounds at most 2**30.
    Other channels take the int64 path (exact for shifts up to 62). Computed in int64 without
    overflow: each product is formed only once its factors are known small enough.
    """
    pre0, s0, q0 = (np.asarray(v, dtype=np.int64).reshape(-1) for v in params0)
    pre1, s1, q1 = (np.asarray(v, dtype=np.int64).reshape(-1) for v in params1)
    if max(bounds) > (1 << 30):
        return np.zeros(pre0.shape, dtype=np.bool_)
    ok = (np.maximum(np.maximum(pre0, pre1), np.maximum(q0, q1)) <= LANE_SHIFT_MAX) & \
        (np.maximum(s0, s1) < INT32_EXACT_LIMIT)
    t0 = _rounded_bound(bounds[0], np.where(ok, pre0, 0)) * np.where(ok, s0, 0)  # each < 2**61
    t1 = _rounded_bound(bounds[1], np.where(ok, pre1, 0)) * np.where(ok, s1, 0)
    swap = q0 > q1  # ``a`` is the input with the smaller post shift
    ta, tb = np.where(swap, t1, t0), np.where(swap, t0, t1)
    qb = np.where(ok, np.maximum(q0, q1), 0)
    d = qb - np.where(ok, np.minimum(q0, q1), 0)
    ok &= ta < np.left_shift(np.int64(1), 31 - d)  # ta * 2**d < 2**31
    total = np.left_shift(np.where(ok, ta, 0), d) + tb + (np.left_shift(np.int64(1), qb) >> 1)
    return ok & (total < INT32_EXACT_LIMIT)


def lane_constants(params0, params1) -> np.ndarray:
    """:func:`add`'s int32-lane constants per channel, int64 [C, 8].

    Row ``c`` holds ``(h0, p0, s0, h1, p1, s1, half, q)`` for the inputs' (pre, scale, post):
    ``q`` the larger post shift, ``s_i = scale_i << (q - post_i)``, ``h_i = 2**(p_i - 1)`` (0 for
    no shift) and ``half = 2**(q-1)``, so ``(((x0 + h0) >> p0)*s0 + ((x1 + h1) >> p1)*s1 + half) >> q``
    is the add rounded once, with the inputs in either order. The integers are exact in int32
    lanes for the channels :func:`add_lanes` accepts (its bound is that of this very sum); the
    other rows are not used. The one table both the add's own kernel
    (:func:`accelsim.datapath.kernels.add_requant`) and a convolution epilogue that computes the
    add (:func:`residual_params`) read.
    """
    pa = [np.asarray(v, dtype=np.int64).reshape(-1) for v in params0]
    pb = [np.asarray(v, dtype=np.int64).reshape(-1) for v in params1]
    q = np.maximum(pa[2], pb[2])
    table = np.empty((len(q), 8), dtype=np.int64)
    for k, (pre, scale, post) in enumerate((pa, pb)):
        table[:, 3 * k] = np.left_shift(np.int64(1), pre) >> 1
        table[:, 3 * k + 1] = pre
        table[:, 3 * k + 2] = np.left_shift(scale, q - post)
    table[:, 6] = np.left_shift(np.int64(1), q) >> 1
    table[:, 7] = q
    return table


def residual_params(bounds: tuple[int, int], layer_params, skip_params) -> np.ndarray | None:
    """:func:`lane_constants` of an add for a convolution epilogue to apply, or None.

    *layer_params* and *skip_params* are the add's (pre, scale, post) for the convolution's
    output and for the other input, *bounds* bounds on ``|code|`` of those two (the
    convolution's clip range and the skip tensor's); the layer's constants come first. None
    unless :func:`add_lanes` proves every channel exact in 32-bit lanes (then :func:`add` runs
    alone).
    """
    c = len(np.asarray(layer_params[0]).reshape(-1))
    pl = [per_channel(v, c, "layer") for v in layer_params]
    ps = [per_channel(v, c, "skip") for v in skip_params]
    if not add_lanes(bounds, pl, ps).all():
        return None
    return lane_constants(pl, ps)


def add(x0, x1, params0, params1, *, lo: int, hi: int, bounds: tuple[int | None, int | None] = (None, None),
        memo: dict | None = None) -> np.ndarray:
    """``clip(round(p0 / 2**post0 + p1 / 2**post1), lo, hi)``, ``p<i> = rshift_round(x<i>, pre<i>) *
    scale<i>``: the two scaled inputs summed exactly and rounded once (half up); params are (pre,
    scale, post) each. Inputs of any integer dtype; the output in ``code_dtype(lo, hi)``.

    Channels run in int32 lanes where :func:`add_lanes` proves them exact from the inputs' code
    bounds (their dtypes', tightened by *bounds*: bounds on ``|code|`` the caller knows), else in
    int64. The clip fuses a following ReLU (``lo = 0``). *memo*: a dict kept by the caller for
    this layer across batches (the params must not change), where the lane choice is kept."""
    x0 = codes(x0)
    x1 = codes(x1)
    if x0.shape != x1.shape:
        raise ValueError(f"add: input shapes differ: {x0.shape} vs {x1.shape}")
    if not -(1 << 31) <= lo <= hi < (1 << 31):
        raise ValueError(f"add: output range [{lo}, {hi}] does not fit int32 codes")
    c = x0.shape[1]
    p0 = [per_channel(v, c, "in0") for v in params0]
    p1 = [per_channel(v, c, "in1") for v in params1]
    n, _, h, w = x0.shape
    key = ("add", code_bound(x0, bounds[0]), code_bound(x1, bounds[1]))
    plan = memo.get(key) if memo is not None else None
    if plan is None:
        narrow = add_lanes(key[1:], p0, p1)
        k = c
        if c > 1 and all((v == v[0]).all() for v in p0 + p1):  # one rule for the tensor: longer runs
            k = _run_blocks(c, h * w)
        plan = (k, [v[:k] for v in p0 + p1], narrow[:k], lane_constants(p0, p1)[:k])
        if memo is not None:
            memo[key] = plan
    k, params, narrow, table = plan
    out = np.empty(x0.shape, dtype=code_dtype(lo, hi))
    K.add_requant(x0.reshape(n, k, 1, -1), x1.reshape(n, k, 1, -1), *params, lo, hi, out.reshape(n, k, 1, -1), narrow,
                  table)
    return out


_RUN_ELEMENTS = 4096
"""Run length (elements) from which an element-wise run's fixed cost (parameter loads, vector
loop prologue and remainder) stops mattering."""


def _run_blocks(c: int, hw: int) -> int:
    """Number of equal blocks of whole channels to split an image's ``c`` planes of ``hw``
    elements into: the most whose runs still hold :data:`_RUN_ELEMENTS` (at least 1)."""
    for k in range(c, 0, -1):
        if c % k == 0 and (c // k) * hw >= _RUN_ELEMENTS:
            return k
    return 1


def mul(x0, x1, pre, scale, post, *, lo: int, hi: int) -> np.ndarray:
    """``clip(requant(x0 * x1, pre, scale, post), lo, hi)``; x1 may be [N, C, 1, 1]."""
    x0 = np.ascontiguousarray(x0, dtype=np.int32)
    x1 = np.ascontiguousarray(x1, dtype=np.int32)
    c = x0.shape[1]
    return K.mul_requant(x0, x1, per_channel(pre, c, "pre_shift"), per_channel(scale, c, "scale"),
                         per_channel(post, c, "post_shift"), lo, hi)


def concat(xs, params, *, lo: int, hi: int) -> np.ndarray:
    """Each input requantized by its (pre, scale, post) and clipped to ``[lo, hi]``, along C."""
    parts = []
    for x, (pre, scale, post) in zip(xs, params):
        x = np.ascontiguousarray(x, dtype=np.int32)
        c = x.shape[1]
        v = K.requant_channels_noclip(x, per_channel(pre, c), per_channel(scale, c),
                                      per_channel(post, c))
        parts.append(np.clip(v, lo, hi).astype(np.int32))
    return np.concatenate(parts, axis=1)


def lut(x, table, act_bits: int) -> np.ndarray:
    """``table[x + qmax(act_bits)]``; codes must lie in ``[-qmax, qmax]``."""
    x = np.ascontiguousarray(x, dtype=np.int32)
    off = (1 << (act_bits - 1)) - 1
    table = np.ascontiguousarray(table, dtype=np.int32).reshape(-1)
    if x.size and (int(x.min()) < -off or int(x.max()) > off):
        raise ValueError(f"lut: input codes outside [-{off}, {off}] of {act_bits}-bit activations")
    return K.lut_apply(x, table, off)


# -- vector-unit ops in plain numpy int64 (element-wise or data movement, never the hot path) --


def _requant_c(acc: np.ndarray, pre, scale, post, lo: int, hi: int) -> np.ndarray:
    """Per-channel (axis 1) requantization of an int64 NCHW array, clipped, as int32."""
    c = acc.shape[1]
    pre, scale, post = (per_channel(v, c).reshape(1, c, 1, 1) for v in (pre, scale, post))
    half_pre = np.where(pre > 0, np.left_shift(np.int64(1), np.maximum(pre - 1, 0)), 0)
    v = np.right_shift(acc + half_pre, pre) * scale
    half_post = np.where(post > 0, np.left_shift(np.int64(1), np.maximum(post - 1, 0)), 0)
    return np.clip(np.right_shift(v + half_post, post), lo, hi).astype(np.int32)


def affine(x, w, b, pre, scale, post, *, lo: int, hi: int) -> np.ndarray:
    """``clip(requant(x * w + b, pre, scale, post), lo, hi)`` per channel; x int [N, C, H, W],
    w and b int arrays broadcast onto ``(C, H, W)``."""
    acc = np.asarray(x, dtype=np.int64) * np.asarray(w, dtype=np.int64)[None] + np.asarray(b, dtype=np.int64)[None]
    return _requant_c(acc, pre, scale, post, lo, hi)


def prelu(x, slope, pos_params, neg_params, *, lo: int, hi: int) -> np.ndarray:
    """``x >= 0``: ``requant(x, *pos_params)``; else ``requant(x * slope[c], *neg_params)``; clipped."""
    x = np.asarray(x, dtype=np.int64)
    pos = _requant_c(x, *pos_params, lo, hi)
    neg = _requant_c(x * np.asarray(slope, dtype=np.int64).reshape(1, -1, 1, 1), *neg_params, lo, hi)
    return np.where(x >= 0, pos, neg).astype(np.int32)


def gather(x, index: np.ndarray, fill: np.ndarray, out_shape: tuple) -> np.ndarray:
    """``out[n].flat[i] = x[n].flat[index[i]]``, or ``fill[-1 - index[i]]`` where ``index[i] < 0``."""
    x = np.asarray(x, dtype=np.int32)
    flat = x.reshape(x.shape[0], -1)
    index = np.asarray(index, dtype=np.int64)
    if index.size and index.min() < 0:
        src = np.concatenate([flat, np.broadcast_to(np.asarray(fill, np.int32)[::-1], (x.shape[0], len(fill)))], axis=1)
        index = np.where(index < 0, flat.shape[1] + len(fill) + index, index)  # -1 - k -> column of fill[k]
    else:
        src = flat
    return np.ascontiguousarray(src[:, index]).reshape((x.shape[0],) + tuple(out_shape[1:]))


def resize_bilinear(x, h_index, h_weight, w_index, w_weight, pre, scale, post, *, lo: int, hi: int) -> np.ndarray:
    """``clip(requant(sum_ab x[:, :, h_index[i, a], w_index[j, b]] * h_weight[i, a] * w_weight[j, b]))``."""
    x = np.asarray(x, dtype=np.int64)
    hi_, hw_ = np.asarray(h_index, np.int64), np.asarray(h_weight, np.int64)
    wi_, ww_ = np.asarray(w_index, np.int64), np.asarray(w_weight, np.int64)
    rows = x[:, :, hi_[:, 0], :] * hw_[:, 0][None, None, :, None] + x[:, :, hi_[:, 1], :] * hw_[:, 1][None, None, :, None]
    acc = rows[:, :, :, wi_[:, 0]] * ww_[:, 0] + rows[:, :, :, wi_[:, 1]] * ww_[:, 1]
    return _requant_c(acc, pre, scale, post, lo, hi)


def concat_flat(xs, params, index, *, lo: int, hi: int, out_shape: tuple) -> np.ndarray:
    """Concat along H or W: each input requantized and clipped, samples flattened end to end, then
    ``v[:, index]`` reshaped to *out_shape*."""
    parts = []
    for x, (pre, scale, post) in zip(xs, params):
        x = np.asarray(x, dtype=np.int64)
        x4 = x.reshape(x.shape[0], x.shape[1], -1, 1)
        parts.append(_requant_c(x4, pre, scale, post, lo, hi).reshape(x.shape[0], -1))
    v = np.concatenate(parts, axis=1)
    return np.ascontiguousarray(v[:, np.asarray(index, np.int64)]).reshape((v.shape[0],) + tuple(out_shape[1:]))
