"""Numba integer kernels: what the MAC array and the vector unit compute on integer codes.

Every kernel here implements a rule of :mod:`accelsim.layers.arith` and the op table in
:mod:`accelsim.layers.descriptor`, bit for bit. Activations travel as ``int32`` codes in NCHW
layout (codes are at most 16 bits wide); accumulators and requantization run in ``int64``.

Two ways to compute a MAC layer's accumulators
----------------------------------------------
*Faithful* (:func:`conv_acc_faithful`): one output at a time, the accumulator starts at the bias
and adds one product per step, saturating or wrapping to ``acc_bits`` after **every** step. The
order is the array's reduction order, chosen here and used by the hardware model as well:

    bias first, then over the group's K = (c, kh, kw) in im2col order —
    input channel outermost, then kernel row, then kernel column.

Padded positions contribute a zero product; adding zero to an in-range accumulator changes
nothing, so they are skipped. An *overflow event* is one step (the bias load or one add) whose
exact result lies outside ``[-2**(acc_bits-1), 2**(acc_bits-1) - 1]``; events are counted.

*Exact* (:func:`conv_acc_exact`; the GEMM helpers :func:`im2col_t`, :func:`gemm_cols_to_nchw`,
:func:`tap_sum_to_nchw` driven by :func:`accelsim.datapath.ops.conv`): when the bound

    max_c ( |bias_c| + max|x| * sum_k |w_{c,k}| ) < 2**(acc_bits-1)

holds, no partial sum in any order can leave the accumulator range, so saturate and wrap never
act and any summation order gives the same integers. Then the sum may be computed by an int64
direct loop or by a floating-point GEMM: a float32 (float64) sum of integers whose every partial
sum and product is below 2**24 (2**53) in magnitude is exact — each intermediate value is an
integer representable in the mantissa, so no rounding ever happens, whatever order or fused
multiply-add the BLAS uses. The float bound used is ``max|x| * max_c sum_k |w_{c,k}|`` (the bias
is added afterwards in int64).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from accelsim.datapath.lanes import add32, chunk_lanes, copy_chunk1, copy_chunk2, max_chunk1, max_chunk2, mul32, sra32

FLOAT32_EXACT_LIMIT = 1 << 24
"""Integers of magnitude below this are exact in float32 (24-bit significand)."""
FLOAT64_EXACT_LIMIT = 1 << 53
"""Integers of magnitude below this are exact in float64 (53-bit significand)."""


# --------------------------------------------------------------------------- scalar rules


@njit(inline="always")
def _rshift_round(v, shift):
    """``(v + (1 << (shift-1))) >> shift`` for shift > 0 (arithmetic shift), identity for 0.

    Branch-free (``(1 << shift) >> 1`` is 0 for shift 0) so loops over pixels vectorise.
    """
    return (v + ((np.int64(1) << shift) >> 1)) >> shift


@njit(inline="always")
def _requant(acc, pre, scale, post, lo, hi):
    """``clip(rshift_round(rshift_round(acc, pre) * scale, post), lo, hi)`` in int64."""
    v = _rshift_round(acc, pre) * scale
    v = _rshift_round(v, post)
    return min(max(v, np.int64(lo)), np.int64(hi))


@njit(inline="always")
def _sum_round(a, qa, b, qb):
    """``round_half_up(a / 2**qa + b / 2**qb)`` exactly (one rounding), for shifts up to 62."""
    if qa > qb:
        a, qa, b, qb = b, qb, a, qa
    if qb == 0:
        return a + b
    one = np.int64(1)
    ha = a >> qa
    hb = b >> qb
    la = a - (ha << qa)
    lb = b - (hb << qb)
    t = (la << (qb - qa)) - (one << qb) + lb + (one << (qb - 1))
    return ha + hb + 1 + (t >> qb)


@njit(inline="always")
def _requant_noclip(acc, pre, scale, post):
    v = _rshift_round(acc, pre) * scale
    return _rshift_round(v, post)


@njit(inline="always")
def _acc_step(s, lo, hi, wrap):
    """Bring an exact partial sum *s* back into ``[lo, hi]``; returns (value, overflowed)."""
    if s > hi or s < lo:
        if wrap:
            span = hi - lo + 1
            return ((s - lo) & (span - 1)) + lo, 1
        if s > hi:
            return hi, 1
        return lo, 1
    return s, 0


@njit(inline="always")
def _fits(b, s, sa, lo, hi):
    """Whether no partial sum of ``b + sum_k p_k`` can leave ``[lo, hi]``, from ``s = sum_k p_k``
    and ``sa = sum_k |p_k|`` (exact integers).

    Whatever the order of the products, every prefix ``b + sum_{k<=j} p_k`` lies between
    ``b + neg`` and ``b + pos``, where ``pos = (sa + s) / 2`` sums the positive products and
    ``neg = (s - sa) / 2`` the negative ones (``sa`` and ``s`` have the same parity, so both are
    exact). This is the screen of every faithful path; it is tighter than ``|b| + sa <= hi``,
    which bounds ``|prefix|`` by both sides together, and the tightest bound that holds for every
    order (positive products first reach ``b + pos``, negative ones first ``b + neg``).
    """
    return b + ((sa + s) >> 1) <= hi and b + ((s - sa) >> 1) >= lo


@njit(inline="always")
def _rshift_round32(v, shift, shift_m1):
    """:func:`_rshift_round` in int32 lanes as ``((v >> (shift-1)) + 1) >> 1`` (the rounding
    constant cannot overflow: the first shift drops the bits below it), *v* itself for shift 0;
    *shift_m1* is ``max(shift - 1, 0)``, shifts at most 31."""
    r = sra32(add32(sra32(v, shift_m1), 1), 1)
    return r if shift > 0 else np.int32(v)


@njit(inline="always")
def _chunked(dst, src, count, step, is_max):
    """``dst[i] = src[i*step]`` (or ``max(dst[i], src[i*step])`` with *is_max*) for ``i < count``.

    Both views start at the run. Steps 1 and 2 go in 32-byte chunks
    (:mod:`accelsim.datapath.lanes`: vector code however short the run), the last chunk
    overlapping the one before (both operations are idempotent); a stride-2 chunk loads a pair
    per lane, so a chunk is used only where *src* holds its last pair whole, the rest element by
    element. Other steps, and runs shorter than a chunk, go element by element.
    """
    lanes = chunk_lanes(dst)
    i = 0
    if step <= 2 and count >= lanes:
        last = count - lanes if step == 1 else min(count - lanes, (src.shape[0] - 2 * lanes) // 2)
        while last >= 0:
            b = min(i, last)
            if step == 1:
                if is_max:
                    max_chunk1(dst, b, src, b)
                else:
                    copy_chunk1(dst, b, src, b)
            elif is_max:
                max_chunk2(dst, b, src, 2 * b)
            else:
                copy_chunk2(dst, b, src, 2 * b)
            i = b + lanes
            if b == last:
                break
    # the rest element by element, constant steps where they are 1 or 2 (no gathers)
    if step == 1:
        for k in range(i, count):
            dst[k] = max(dst[k], src[k]) if is_max else src[k]
    elif step == 2:
        for k in range(i, count):
            dst[k] = max(dst[k], src[2 * k]) if is_max else src[2 * k]
    else:
        for k in range(i, count):
            dst[k] = max(dst[k], src[k * step]) if is_max else src[k * step]


# --------------------------------------------------------------------------- MAC layers


@njit(inline="always")
def _step_output(x, w, n, o, c_base, b, oy, ox, sh, sw, pt, pl, dh, dw, lo, hi, wrap):
    """The faithful accumulator of one output: bias, then (c, ky, kx), fixed after every step."""
    h = x.shape[2]
    wd = x.shape[3]
    cg, kh, kw = w.shape[1], w.shape[2], w.shape[3]
    a, cnt = _acc_step(b, lo, hi, wrap)
    for ci in range(cg):
        for ky in range(kh):
            iy = oy * sh - pt + ky * dh
            if iy < 0 or iy >= h:
                continue
            for kx in range(kw):
                ix = ox * sw - pl + kx * dw
                if ix < 0 or ix >= wd:
                    continue
                a, e = _acc_step(a + np.int64(x[n, c_base + ci, iy, ix]) * np.int64(w[o, ci, ky, kx]),
                                 lo, hi, wrap)
                cnt += e
    return a, cnt


@njit(cache=True, parallel=True)
def conv_acc_faithful(x, w, bias, stride_h, stride_w, pad_t, pad_l, dil_h, dil_w, groups,
                      out_h, out_w, acc_bits, wrap):
    """Accumulators of a (grouped) convolution with per-step saturate/wrap.

    Parameters
    ----------
    x : int32 [N, C, H, W] codes; w : int32 [Cout, C/groups, kh, kw]; bias : int64 [Cout].
    acc_bits : accumulator width in bits (8-48); wrap : True wraps (two's complement), False
        saturates.

    Returns
    -------
    acc : int64 [N, Cout, out_h, out_w] (each within the acc_bits range)
    events : int64 [Cout] overflow events per output channel (summed over the batch).
    """
    n_img, c_in, h, wd = x.shape
    c_out, cg, kh, kw = w.shape
    ng = c_out // groups
    lo = -(np.int64(1) << (acc_bits - 1))
    hi = (np.int64(1) << (acc_bits - 1)) - 1
    acc = np.empty((n_img, c_out, out_h, out_w), dtype=np.int64)
    ev = np.zeros((n_img, c_out), dtype=np.int64)
    for job in prange(n_img * c_out):
        n = job // c_out
        oc = job % c_out
        g = oc // ng
        cnt = np.int64(0)
        for oy in range(out_h):
            for ox in range(out_w):
                a, o = _step_output(x, w, n, oc, g * cg, np.int64(bias[oc]), oy, ox, stride_h, stride_w,
                                    pad_t, pad_l, dil_h, dil_w, lo, hi, wrap)
                cnt += o
                acc[n, oc, oy, ox] = a
        ev[n, oc] = cnt
    return acc, ev.sum(axis=0)


@njit(cache=True, parallel=True)
def conv_acc_exact(x, w, bias, stride_h, stride_w, pad_t, pad_l, dil_h, dil_w, groups,
                   out_h, out_w):
    """Accumulators ``bias + sum(x * w)`` of a (grouped) convolution in plain int64.

    Exact only when no partial sum overflows the accumulator (see the module docstring); used
    for depthwise and small layers where a GEMM does not pay. Shapes as in
    :func:`conv_acc_faithful`.
    """
    n_img, c_in, h, wd = x.shape
    c_out, cg, kh, kw = w.shape
    ng = c_out // groups
    acc = np.empty((n_img, c_out, out_h, out_w), dtype=np.int64)
    for job in prange(n_img * c_out):
        n = job // c_out
        oc = job % c_out
        g = oc // ng
        b = np.int64(bias[oc])
        for oy in range(out_h):
            for ox in range(out_w):
                acc[n, oc, oy, ox] = b
        for ci in range(cg):
            c = g * cg + ci
            for ky in range(kh):
                for kx in range(kw):
                    wv = np.int64(w[oc, ci, ky, kx])
                    if wv == 0:
                        continue
                    for oy in range(out_h):
                        iy = oy * stride_h - pad_t + ky * dil_h
                        if iy < 0 or iy >= h:
                            continue
                        for ox in range(out_w):
                            ix = ox * stride_w - pad_l + kx * dil_w
                            if ix < 0 or ix >= wd:
                                continue
                            acc[n, oc, oy, ox] += np.int64(x[n, c, iy, ix]) * wv
    return acc


@njit(cache=True, parallel=True)
def depthwise_codes(x, w, bias, stride_h, stride_w, pad_t, pad_l, dil_h, dil_w, out_h, out_w,
                    pre, scale, post, lo, hi):
    """Requantized codes of a depthwise convolution (one input channel per group), exact path.

    Memory-bound, so no GEMM lowering: one output row at a time, each in-bounds kernel tap adds
    ``w * x`` to the row's int64 accumulators over the output columns it reaches (a vectorised
    pass with no bounds test inside), then the row is requantized. Every sum is exact (int64);
    the caller has checked the no-overflow bound, so the order does not matter.
    Channel multiplier ``Cout / C`` may exceed 1 (output channel ``o`` reads input ``o // m``).
    """
    n_img, c_in, h, wd = x.shape
    c_out, _, kh, kw = w.shape
    mult = c_out // c_in
    out = np.empty((n_img, c_out, out_h, out_w), dtype=np.int32)
    for job in prange(n_img * c_out):
        n = job // c_out
        o = job % c_out
        ci = o // mult
        b = np.int64(bias[o])
        p0 = np.int64(pre[o])
        s = np.int64(scale[o])
        p1 = np.int64(post[o])
        acc = np.empty(out_w, dtype=np.int64)
        for oy in range(out_h):
            acc[:] = b
            for ky in range(kh):
                iy = oy * stride_h - pad_t + ky * dil_h
                if iy < 0 or iy >= h:
                    continue
                src = x[n, ci, iy]
                for kx in range(kw):
                    wv = np.int64(w[o, 0, ky, kx])
                    t = kx * dil_w - pad_l
                    ox_lo = min(max(0, -(t // stride_w)), out_w)
                    ox_hi = max(min(out_w, (wd - 1 - t) // stride_w + 1), ox_lo)
                    if stride_w == 1:
                        for ox in range(ox_lo, ox_hi):
                            acc[ox] += np.int64(src[ox + t]) * wv
                    else:
                        for ox in range(ox_lo, ox_hi):
                            acc[ox] += np.int64(src[ox * stride_w + t]) * wv
            orow = out[n, o, oy]
            for ox in range(out_w):
                orow[ox] = _requant(acc[ox], p0, s, p1, lo, hi)
    return out


def depthwise_taps(h, wd, kh, kw, stride_h, stride_w, pad_t, pad_l, pad_b, pad_r, dil_h, dil_w, out_h):
    """Geometry of :func:`depthwise_phase`'s flat plane: ``(hq, wq, size, taps)``.

    The zero-padded input plane ``xpad`` is split into its ``stride_h * stride_w`` stride phases,
    each ``hq x wq`` (``hq = ceil(Hp / sh)``, ``wq = ceil(Wp / sw)``), laid end to end:
    ``flat[(py*sw + px)*hq*wq + u*wq + v] = xpad[u*sh + py, v*sw + px]``. Output ``(oy, ox)``,
    numbered ``r = oy*wq + ox``, then reads its tap ``(ky, kx)`` at ``flat[r + taps[ky*kw + kx]]``
    for every stride and dilation: consecutive outputs read consecutive elements. *size* holds
    the phases and the zero slack the last virtual row's taps read past them.
    """
    hp, wp = h + pad_t + pad_b, wd + pad_l + pad_r
    hq, wq = -(-hp // stride_h), -(-wp // stride_w)
    taps = np.empty(kh * kw, dtype=np.int64)
    for ky in range(kh):
        for kx in range(kw):
            py, px = (ky * dil_h) % stride_h, (kx * dil_w) % stride_w
            taps[ky * kw + kx] = (py * stride_w + px) * hq * wq + ((ky * dil_h) // stride_h) * wq + (kx * dil_w) // stride_w
    size = max(stride_h * stride_w * hq * wq, out_h * wq + int(taps.max()))
    return hq, wq, size, taps


@njit(inline="always")
def _fill_phase_plane(src, flat, sh, sw, pt, pl, hq, wq):
    """Zero *flat*, then copy input plane *src* [H, W] into its stride phases (see
    :func:`depthwise_taps`)."""
    h, wd = src.shape
    flat[:] = 0
    for py in range(sh):
        for px in range(sw):
            base = (py * sw + px) * hq * wq
            # phase columns v whose input column v*sw + px - pl lies inside [0, wd)
            t = px - pl
            v_lo = min(max(0, -(t // sw)), wq)
            v_hi = max(min(wq, (wd - 1 - t) // sw + 1), v_lo)
            if v_hi == v_lo:
                continue
            for u in range(hq):
                iy = u * sh + py - pt
                if iy < 0 or iy >= h:
                    continue
                d0 = base + u * wq + v_lo
                dst = flat[d0:]
                row = src[iy, v_lo * sw + t:]
                count = v_hi - v_lo
                if count >= chunk_lanes(flat):
                    _chunked(dst, row, count, sw, False)
                elif sw == 1:
                    for k in range(count):
                        dst[k] = row[k]
                elif sw == 2:
                    for k in range(count):
                        dst[k] = row[2 * k]
                else:
                    for k in range(count):
                        dst[k] = row[k * sw]


_PHASE_BLOCK = 1 << 16
"""Elements of phase planes one :func:`depthwise_phase` job fills (images of one channel side
by side, so small planes still make long vector loops; L2-sized)."""


@njit(cache=True, parallel=True)
def depthwise_phase(x, w, mult, taps, hq, wq, size, stride_h, stride_w, pad_t, pad_l, bias, pre, scale, post,
                    lo, hi, out, req32):
    """Requantized codes of a depthwise convolution in int32 lanes, into *out* (narrow codes).

    Memory-bound, so no GEMM lowering. A job is one output channel over a block of images: their
    input planes are copied into zero-padded stride phases (:func:`depthwise_taps`; *x*'s dtype,
    one plane of *size* elements per image, side by side), then one flat pass over the virtual
    outputs ``r = i*size + oy*wq + ox`` — a long loop however small the planes — sums the taps
    ``w_t * flat[r + taps[t]]`` in int32 lanes (3x3 kernels: all nine in one pass, fused with
    the requantization; others tap by tap into an int32 buffer), and the valid columns
    ``ox < ow`` of each virtual row are copied out. The caller guarantees
    ``max|x| * max_c sum_k |w_{c,k}| < 2**31`` (every partial sum, in any order, fits int32);
    with *req32* also that the requantization fits int32 lanes
    (:func:`accelsim.datapath.igemm.requant_fits_int32`), which then runs in them (3x3 kernels).
    Output channel ``o`` reads input channel ``o // mult``.
    """
    n_img, c_out, oh, ow = out.shape
    nk = taps.shape[0]
    per = max(1, min(n_img, _PHASE_BLOCK // size))
    nblk = (n_img + per - 1) // per
    for job in prange(c_out * nblk):
        o = job // nblk
        n0 = (job % nblk) * per
        ni = min(per, n_img - n0)
        flat = np.empty(ni * size, dtype=x.dtype)  # image i's taps read inside its own plane (size: slack)
        for i in range(ni):
            _fill_phase_plane(x[n0 + i, o // mult], flat[i * size:(i + 1) * size], stride_h, stride_w, pad_t, pad_l,
                              hq, wq)
        nr = (ni - 1) * size + oh * wq
        vout = np.empty(nr, dtype=out.dtype)
        b = np.int64(bias[o])
        p0 = np.int64(pre[o])
        s = np.int64(scale[o])
        p1 = np.int64(post[o])
        wr = w[o]
        if nk == 9:
            s0, s1, s2 = flat[taps[0]:], flat[taps[1]:], flat[taps[2]:]
            s3, s4, s5 = flat[taps[3]:], flat[taps[4]:], flat[taps[5]:]
            s6, s7, s8 = flat[taps[6]:], flat[taps[7]:], flat[taps[8]:]
            w0, w1, w2, w3, w4, w5, w6, w7, w8 = wr[0], wr[1], wr[2], wr[3], wr[4], wr[5], wr[6], wr[7], wr[8]
            b32 = np.int32(b)
            q0 = max(p0 - 1, 0)
            q1 = max(p1 - 1, 0)
            lo32 = np.int32(lo)
            hi32 = np.int32(hi)
            for r in range(nr):
                a = add32(add32(add32(mul32(s0[r], w0), mul32(s1[r], w1)), add32(mul32(s2[r], w2), mul32(s3[r], w3))),
                          add32(add32(mul32(s4[r], w4), mul32(s5[r], w5)),
                                add32(add32(mul32(s6[r], w6), mul32(s7[r], w7)), mul32(s8[r], w8))))
                if req32:
                    v = _rshift_round32(add32(a, b32), p0, q0)
                    v = _rshift_round32(mul32(v, s), p1, q1)
                    vout[r] = min(max(v, lo32), hi32)
                else:
                    vout[r] = _requant(np.int64(a) + b, p0, s, p1, lo, hi)
        else:
            acc = np.zeros(nr, dtype=np.int32)
            for t in range(nk):
                wt = wr[t]
                src = flat[taps[t]:]
                for r in range(nr):
                    acc[r] = add32(acc[r], mul32(src[r], wt))
            for r in range(nr):
                vout[r] = _requant(np.int64(acc[r]) + b, p0, s, p1, lo, hi)
        for i in range(ni):
            for oy in range(oh):
                r0 = i * size + oy * wq
                out[n0 + i, o, oy, :] = vout[r0:r0 + ow]


@njit(cache=True, parallel=True)
def im2col_t(x, out, n0, group, cg, kh, kw, stride_h, stride_w, pad_t, pad_l, dil_h, dil_w,
             out_h, out_w):
    """Fill *out* [cg*kh*kw, cols] (any numeric dtype) with transposed patches of group *group*.

    Row ``(ci * kh + ky) * kw + kx`` (im2col order c, kh, kw) holds, for images
    ``n0 .. n0 + cols / (out_h*out_w) - 1`` and every output pixel ``(oy, ox)`` at column
    ``(n - n0) * out_h * out_w + oy * out_w + ox``, the input code it multiplies; padding is 0.
    ``W_g [ng, K] @ out`` is then the accumulator in NCHW order, one image after another.
    """
    h = x.shape[2]
    wd = x.shape[3]
    per_img = out_h * out_w
    n_img = out.shape[1] // per_img
    rows = cg * kh * kw
    for job in prange(rows * n_img):
        r = job % rows
        i = job // rows
        n = n0 + i
        ci = r // (kh * kw)
        ky = (r // kw) % kh
        kx = r % kw
        c = group * cg + ci
        base = i * per_img
        # output columns whose input column ix = ox * stride_w + t lies inside [0, wd)
        t = kx * dil_w - pad_l
        ox_lo = min(max(0, -(t // stride_w)), out_w)
        ox_hi = max(min(out_w, (wd - 1 - t) // stride_w + 1), ox_lo)
        for oy in range(out_h):
            iy = oy * stride_h - pad_t + ky * dil_h
            col = base + oy * out_w
            if iy < 0 or iy >= h:
                for ox in range(out_w):
                    out[r, col + ox] = 0
                continue
            row = x[n, c, iy]
            for ox in range(ox_lo):
                out[r, col + ox] = 0
            for ox in range(ox_lo, ox_hi):
                out[r, col + ox] = row[ox * stride_w + t]
            for ox in range(ox_hi, out_w):
                out[r, col + ox] = 0


@njit(cache=True, parallel=True)
def im2col_rows(x, out, n0, group, cg, kh, kw, stride_h, stride_w, pad_t, pad_l, dil_h, dil_w,
                out_h, out_w):
    """Fill *out* [rows, cg*kh*kw] with the patches of group *group*, one output pixel per row.

    Row ``(n - n0) * out_h * out_w + oy * out_w + ox``, columns in im2col order (c, kh, kw);
    padded positions are 0. The row-major twin of :func:`im2col_t`.
    """
    h = x.shape[2]
    wd = x.shape[3]
    per_img = out_h * out_w
    for r in prange(out.shape[0]):
        n = n0 + r // per_img
        pix = r % per_img
        oy = pix // out_w
        ox = pix % out_w
        col = 0
        for ci in range(cg):
            c = group * cg + ci
            for ky in range(kh):
                iy = oy * stride_h - pad_t + ky * dil_h
                for kx in range(kw):
                    ix = ox * stride_w - pad_l + kx * dil_w
                    if iy < 0 or iy >= h or ix < 0 or ix >= wd:
                        out[r, col] = 0
                    else:
                        out[r, col] = x[n, c, iy, ix]
                    col += 1


@njit(cache=True, parallel=True)
def gemm_acc_faithful(cols, w2, bias, acc_bits, wrap, screen):
    """Faithful accumulators of ``bias[j] + sum_k cols[r, k] * w2[j, k]`` -> int64 [rows, ng].

    Steps in k order (the im2col order), saturating or wrapping after the bias load and after
    every add, as :func:`conv_acc_faithful`. With *screen*, each output first gets its exact sum
    the sums of its positive and its negative products (:func:`_fits`); when both
    ends stay inside the accumulator range no partial sum can overflow and the exact sum is the faithful result, so the
    sequential per-step pass runs only for outputs that might overflow (identical bits).

    Returns ``(acc, events)``, events int64 [ng] overflow events per output channel.
    """
    rows, kk = cols.shape
    ng = w2.shape[0]
    lo = -(np.int64(1) << (acc_bits - 1))
    hi = (np.int64(1) << (acc_bits - 1)) - 1
    acc = np.empty((rows, ng), dtype=np.int64)
    ev = np.zeros((rows, ng), dtype=np.int64)
    for r in prange(rows):
        for j in range(ng):
            b = np.int64(bias[j])
            if screen:
                s = np.int64(0)
                sa = np.int64(0)
                for k in range(kk):
                    p = np.int64(cols[r, k]) * np.int64(w2[j, k])
                    s += p
                    sa += abs(p)
                if _fits(b, s, sa, lo, hi):
                    acc[r, j] = b + s
                    continue
            a, o = _acc_step(b, lo, hi, wrap)
            cnt = o
            for k in range(kk):
                a, o = _acc_step(a + np.int64(cols[r, k]) * np.int64(w2[j, k]), lo, hi, wrap)
                cnt += o
            acc[r, j] = a
            ev[r, j] = cnt
    return acc, ev.sum(axis=0)


@njit(cache=True, parallel=True)
def gemm_cols_to_nchw(res, bias, pre, scale, post, lo, hi, out, n0, c0):
    """Requantize ``res`` [ng, cols] (exact integer sums, any numeric dtype) into NCHW codes.

    Column order as :func:`im2col_t` makes it; channel ``c0 + j`` of image ``n0 + i`` gets
    ``clip(requant(res[j, i*P + p] + bias, pre, scale, post), lo, hi)`` (P = pixels per image).
    """
    ng = res.shape[0]
    out_h = out.shape[2]
    out_w = out.shape[3]
    per_img = out_h * out_w
    n_img = res.shape[1] // per_img
    for job in prange(n_img * ng):
        i = job // ng
        j = job % ng
        c = c0 + j
        b = np.int64(bias[c])
        p0 = np.int64(pre[c])
        s = np.int64(scale[c])
        p1 = np.int64(post[c])
        base = i * per_img
        for oy in range(out_h):
            for ox in range(out_w):
                acc = np.int64(res[j, base + oy * out_w + ox]) + b
                out[n0 + i, c, oy, ox] = _requant(acc, p0, s, p1, lo, hi)


@njit(cache=True, parallel=True)
def tap_sum_to_nchw(y, c_out, kh, kw, dil_h, dil_w, wp, bias, pre, scale, post, lo, hi, out, n):
    """Finish a stride-1 convolution computed as one GEMM over the zero-padded input plane.

    ``y`` [kh*kw*c_out, Hp*Wp] holds, for tap ``t = ky*kw + kx`` and output channel ``o`` at row
    ``t*c_out + o``, ``sum_c w[o, c, ky, kx] * xpad[c, p]`` for every padded position ``p``
    (exact integers in float). Output ``(o, oy, ox)`` is the sum over taps of
    ``y[t*c_out + o, (oy + ky*dil_h) * wp + ox + kx*dil_w]``, plus bias, requantized and clipped
    into ``out[n, o]``. Every partial sum is bounded like the full sum, so it stays exact.
    """
    out_h = out.shape[2]
    out_w = out.shape[3]
    for job in prange(c_out * out_h):
        o = job // out_h
        oy = job % out_h
        buf = np.zeros(out_w, dtype=y.dtype)
        for ky in range(kh):
            for kx in range(kw):
                row = (ky * kw + kx) * c_out + o
                base = (oy + ky * dil_h) * wp + kx * dil_w
                for ox in range(out_w):
                    buf[ox] += y[row, base + ox]
        b = np.int64(bias[o])
        p0 = np.int64(pre[o])
        sc = np.int64(scale[o])
        p1 = np.int64(post[o])
        for ox in range(out_w):
            out[n, o, oy, ox] = _requant(np.int64(buf[ox]) + b, p0, sc, p1, lo, hi)


@njit(cache=True, parallel=True)
def requant_nchw(acc, pre, scale, post, lo, hi):
    """``clip(requant(acc[n, c], pre[c], scale[c], post[c]), lo, hi)`` as int32 [N, C, H, W]."""
    n_img, c_out, oh, ow = acc.shape
    out = np.empty((n_img, c_out, oh, ow), dtype=np.int32)
    for job in prange(n_img * c_out):
        n = job // c_out
        c = job % c_out
        p0 = np.int64(pre[c])
        s = np.int64(scale[c])
        p1 = np.int64(post[c])
        for y in range(oh):
            for xx in range(ow):
                out[n, c, y, xx] = _requant(np.int64(acc[n, c, y, xx]), p0, s, p1, lo, hi)
    return out


# --------------------------------------------------------------------------- vector-unit ops


@njit(cache=True, parallel=True)
def maxpool(x, kh, kw, stride_h, stride_w, pad_t, pad_l, dil_h, dil_w, out_h, out_w, lo, hi, out):
    """Max of codes over each window (padded positions never win), clipped to ``[lo, hi]``, into *out*.

    ``[lo, hi]`` must lie inside *x*'s dtype range. Separable, in the input's dtype, in 32-byte
    chunks (:func:`_chunked`): for each output row the window's in-bounds input rows are reduced
    to one row of column maxima, then each kernel column tap updates the row's running maxima,
    which start at *lo* (the lower clip), over the output columns it reaches; then the upper
    clip. A window made only of padding (impossible with ONNX-legal pads) yields *lo*.
    (Image, channel) planes in parallel.
    """
    n_img, c, h, wd = x.shape
    for job in prange(n_img * c):
        n = job // c
        ch = job % c
        cm = np.empty(wd + 1, dtype=x.dtype)  # one spare element: a stride-2 chunk's last pair
        cm[wd] = lo
        m = np.empty(out_w, dtype=x.dtype)
        lim = np.empty(1, dtype=x.dtype)
        lim[0] = hi
        top = lim[0]
        for oy in range(out_h):
            m[:] = lo
            first = True
            for ky in range(kh):
                iy = oy * stride_h - pad_t + ky * dil_h
                if iy < 0 or iy >= h:
                    continue
                _chunked(cm, x[n, ch, iy], wd, 1, not first)
                first = False
            if not first:
                for kx in range(kw):
                    t = kx * dil_w - pad_l
                    ox_lo = min(max(0, -(t // stride_w)), out_w)
                    ox_hi = max(min(out_w, (wd - 1 - t) // stride_w + 1), ox_lo)
                    if ox_hi > ox_lo:
                        _chunked(m[ox_lo:], cm[ox_lo * stride_w + t:], ox_hi - ox_lo, stride_w, True)
            dst = out[n, ch, oy]
            for ox in range(out_w):
                dst[ox] = min(m[ox], top)


@njit(cache=True, parallel=True)
def avgpool(x, kh, kw, stride_h, stride_w, pad_t, pad_l, out_h, out_w, pre, scale, post, lo, hi, out):
    """``clip(requant(sum of the window's codes, pre[c], scale[c], post[c]), lo, hi)`` into *out*.

    The sum runs in int64 over the in-bounds positions (padding adds 0; the divisor is folded
    into the per-channel multiplier by the quantizer), separably: the window's input rows summed
    column by column (contiguous, vectorised), then the kernel column taps. A window covering
    the whole plane (global average pooling) is one contiguous sum. Codes of any integer dtype
    in, *out* any integer dtype holding ``[lo, hi]``; (image, channel) planes in parallel.
    """
    n_img, c, h, wd = x.shape
    whole = out_h == 1 and out_w == 1 and kh >= h and kw >= wd and pad_t <= 0 and pad_l <= 0
    for job in prange(n_img * c):
        n = job // c
        ch = job % c
        p0 = np.int64(pre[ch])
        s = np.int64(scale[ch])
        p1 = np.int64(post[ch])
        if whole:
            plane = x[n, ch].reshape(h * wd)
            acc = np.int64(0)
            for i in range(h * wd):
                acc += plane[i]
            out[n, ch, 0, 0] = _requant(acc, p0, s, p1, lo, hi)
            continue
        cs = np.empty(wd, dtype=np.int64)
        for oy in range(out_h):
            cs[:] = 0
            for ky in range(kh):
                iy = oy * stride_h - pad_t + ky
                if iy < 0 or iy >= h:
                    continue
                src = x[n, ch, iy]
                for i in range(wd):
                    cs[i] += src[i]
            dst = out[n, ch, oy]
            for ox in range(out_w):
                acc = np.int64(0)
                for kx in range(kw):
                    ix = ox * stride_w - pad_l + kx
                    if 0 <= ix < wd:
                        acc += cs[ix]
                dst[ox] = _requant(acc, p0, s, p1, lo, hi)


@njit(cache=True, parallel=True)
def requant_channels_noclip(x, pre, scale, post):
    """``requant(x[n, c], pre[c], scale[c], post[c])`` without clipping, as int64."""
    n_img, c, h, wd = x.shape
    out = np.empty((n_img, c, h, wd), dtype=np.int64)
    for job in prange(n_img * c):
        n = job // c
        ch = job % c
        p0 = np.int64(pre[ch])
        s = np.int64(scale[ch])
        p1 = np.int64(post[ch])
        for y in range(h):
            for xx in range(wd):
                out[n, ch, y, xx] = _requant_noclip(np.int64(x[n, ch, y, xx]), p0, s, p1)
    return out


@njit(inline="always")
def _add_run(xa, xb, dst, count, pa, sa, qa, pb, sb, qb, lo, hi):
    """``dst[i] = clip(round(rshift_round(xa[i], pa)*sa / 2**qa + rshift_round(xb[i], pb)*sb / 2**qb))``
    for ``i < count`` with ``qa <= qb``: :func:`_sum_round`'s arithmetic with its branches hoisted
    out of the loop (branch-free int64 lanes; vectorises)."""
    one = np.int64(1)
    ha = (one << pa) >> 1
    hb = (one << pb) >> 1
    lo64 = np.int64(lo)
    hi64 = np.int64(hi)
    if qb == 0:
        for i in range(count):
            v = ((np.int64(xa[i]) + ha) >> pa) * sa + ((np.int64(xb[i]) + hb) >> pb) * sb
            dst[i] = min(max(v, lo64), hi64)
        return
    d = qb - qa
    c = (one << (qb - 1)) - (one << qb)
    for i in range(count):
        a = ((np.int64(xa[i]) + ha) >> pa) * sa
        b = ((np.int64(xb[i]) + hb) >> pb) * sb
        ia = a >> qa
        ib = b >> qb
        t = ((a - (ia << qa)) << d) + (b - (ib << qb)) + c
        v = ia + ib + 1 + (t >> qb)
        dst[i] = min(max(v, lo64), hi64)


@njit(inline="always")
def _add_run32(x0, x1, dst, count, fp, lo, hi):
    """:func:`_add_run` in int32 lanes with one channel's row *fp* of
    :func:`accelsim.datapath.ops.lane_constants`: ``dst[i] = clip((r0*s0 + r1*s1 + half) >> q)``,
    ``r_i = (x_i[i] + h_i) >> p_i``.

    The same integers as :func:`_add_run` when every intermediate fits int32: the caller's
    proof (:func:`accelsim.datapath.ops.add_lanes`). ``round_half_up(a / 2**qa + b / 2**qb)`` is
    ``floor((a * 2**(q-qa) + b * 2**(q-qb) + 2**(q-1)) / 2**q)``, one arithmetic shift of the exact
    numerator.
    """
    h0, p0, s0 = np.int32(fp[0]), fp[1], np.int32(fp[2])
    h1, p1, s1 = np.int32(fp[3]), fp[4], np.int32(fp[5])
    half, q = np.int32(fp[6]), fp[7]
    lo32 = np.int32(lo)
    hi32 = np.int32(hi)
    pre = p0 != 0 or p1 != 0  # loop-invariant: LLVM unswitches, the common no-pre-shift loop is shorter
    for i in range(count):
        if pre:
            r0 = sra32(add32(x0[i], h0), p0)
            r1 = sra32(add32(x1[i], h1), p1)
        else:
            r0 = np.int32(x0[i])
            r1 = np.int32(x1[i])
        v = sra32(add32(add32(mul32(r0, s0), mul32(r1, s1)), half), q)
        dst[i] = min(max(v, lo32), hi32)


@njit(cache=True, parallel=True)
def add_requant(x0, x1, pre0, scale0, post0, pre1, scale1, post1, lo, hi, out, narrow, table):
    """``clip(round(p_0 / 2**post0 + p_1 / 2**post1), lo, hi)`` per channel, ``p_i = rshift_round(x_i,
    pre_i) * scale_i``: the sum rounded once (:func:`accelsim.layers.arith.requantize_sum`), written
    to *out* (any integer dtype holding ``[lo, hi]``; inputs of any integer dtype).

    Channels with ``narrow[c]`` run in int32 lanes (:func:`_add_run32` with row ``c`` of *table*,
    :func:`accelsim.datapath.ops.lane_constants`; the caller has proved them exact), the others in
    int64 (:func:`_add_run`). One pass, (image, channel) runs in
    parallel, no temporaries."""
    n_img, c, h, wd = x0.shape
    hw = h * wd
    f0 = x0.reshape(n_img * c, hw)
    f1 = x1.reshape(n_img * c, hw)
    fo = out.reshape(n_img * c, hw)
    for job in prange(n_img * c):
        ch = job % c
        a0 = np.int64(pre0[ch])
        s0 = np.int64(scale0[ch])
        b0 = np.int64(post0[ch])
        a1 = np.int64(pre1[ch])
        s1 = np.int64(scale1[ch])
        b1 = np.int64(post1[ch])
        if narrow[ch]:
            _add_run32(f0[job], f1[job], fo[job], hw, table[ch], lo, hi)
        elif b0 <= b1:
            _add_run(f0[job], f1[job], fo[job], hw, a0, s0, b0, a1, s1, b1, lo, hi)
        else:
            _add_run(f1[job], f0[job], fo[job], hw, a1, s1, b1, a0, s0, b0, lo, hi)


@njit(cache=True, parallel=True)
def mul_requant(x0, x1, pre, scale, post, lo, hi):
    """``clip(requant(x0 * x1, pre[c], scale[c], post[c]), lo, hi)``; x1 broadcasts over H, W.

    ``x1`` is [N, C, H, W] or [N, C, 1, 1] (e.g. a squeeze-and-excitation gate).
    """
    n_img, c, h, wd = x0.shape
    bh = x1.shape[2] == 1
    bw = x1.shape[3] == 1
    out = np.empty((n_img, c, h, wd), dtype=np.int32)
    for job in prange(n_img * c):
        n = job // c
        ch = job % c
        p0 = np.int64(pre[ch])
        s = np.int64(scale[ch])
        p1 = np.int64(post[ch])
        for y in range(h):
            yy = 0 if bh else y
            for xx in range(wd):
                xw = 0 if bw else xx
                v = np.int64(x0[n, ch, y, xx]) * np.int64(x1[n, ch, yy, xw])
                out[n, ch, y, xx] = _requant(v, p0, s, p1, lo, hi)
    return out


@njit(cache=True, parallel=True)
def lut_apply(x, table, offset):
    """``table[x + offset]`` for every code (offset = qmax(act_bits))."""
    flat = x.ravel()
    out = np.empty(flat.size, dtype=np.int32)
    for i in prange(flat.size):
        out[i] = table[flat[i] + offset]
    return out.reshape(x.shape)


@njit(cache=True, parallel=True)
def quantize_codes(x, step, qmax, out):
    """``out = clip(floor(x / step + 0.5), -qmax, qmax)`` in float64, element by element
    (:func:`accelsim.layers.arith.quantize_tensor`'s rule, same IEEE operations), stored in
    *out*'s integer dtype; *x* and *out* flat, of one length."""
    lo = -float(qmax)
    hi = float(qmax)
    for i in prange(x.shape[0]):
        q = np.floor(np.float64(x[i]) / step + 0.5)
        out[i] = min(max(q, lo), hi)


@njit(cache=True, parallel=True)
def max_abs(x):
    """Largest |code| of an integer array (0 for an empty one), as int64.

    Branch-free min/max over blocks (vectorised), blocks in parallel.
    """
    flat = x.ravel()
    size = flat.size
    blk = 1 << 16
    nblk = (size + blk - 1) // blk
    mx = np.zeros(max(nblk, 1), dtype=np.int64)
    for b in prange(nblk):
        lo = np.int64(0)
        hi = np.int64(0)
        for i in range(b * blk, min(size, (b + 1) * blk)):
            v = np.int64(flat[i])
            lo = min(lo, v)
            hi = max(hi, v)
        mx[b] = max(hi, -lo)
    return mx.max()


__all__ = [
    "FLOAT32_EXACT_LIMIT", "FLOAT64_EXACT_LIMIT", "conv_acc_faithful", "conv_acc_exact", "depthwise_codes", "im2col_t", "im2col_rows", "tap_sum_to_nchw", "gemm_acc_faithful",
    "gemm_cols_to_nchw", "requant_nchw", "maxpool", "avgpool", "requant_channels_noclip",
    "add_requant", "mul_requant", "lut_apply", "max_abs", "quantize_codes",
]
