"""Integer GEMM micro-kernels on the dot-product instructions int8 inference engines use.

A MAC layer's exact accumulators ``sum_k x_k * w_k`` are computed here on packed integer codes
with 32-bit lanes, the way int8 inference engines do it:

``int8``   activations offset to unsigned bytes ``u = x + 128`` and signed 8-bit weights; four
           ``u * w`` products are summed into each 32-bit lane (``vpdpbusd`` on AVX-512 VNNI);
           the offset is removed afterwards, ``sum x w = sum u w - 128 * sum w``.
``int16``  16-bit activations and weights; two products per 32-bit lane (``vpdpwssd``).

Why the integers are exact
--------------------------
Both instructions (and the portable code used on processors without them) add in two's
complement modulo ``2**32`` and never saturate, so every lane holds the true sum modulo
``2**32`` whatever order the additions take. When the true sum lies in ``[-2**31, 2**31)`` the
lane *is* the true sum. :func:`accelsim.datapath.ops.conv` uses these kernels only when
``max|x| * max_c sum_k |w_{c,k}| < 2**31``, which bounds every output's ``|sum x w|``; the
``+128`` offset and its removal cancel modulo ``2**32`` and need no bound of their own.

Layout
------
Packed activations ``A`` are words of four bytes (``int8``: four k of one pixel) or two 16-bit
halves (``int16``), one word per (k-group ``q``, virtual pixel ``r``) at word ``q*qstride + r``.
Packed weights ``B`` hold one word per (tap ``t``, k-group ``q``, output channel ``j``) at word
``((j // NR)*nt*nq + t*nq + q)*NR + j % NR`` (one contiguous panel per block of ``NR`` channels). The micro-kernel computes

    raw[j, r] = sum_t sum_q dot(A[q*qstride + r + toff[t]], B[((j // NR)*nt*nq + t*nq + q)*NR + j % NR])

in register tiles of :data:`NR` channels x :data:`MR` virtual pixels (24 vector accumulators).
A stride-1 convolution uses the zero-padded input plane as ``A`` with one tap per kernel
position (``toff = ky*dil_h*Wp + kx*dil_w``), so no im2col copy is made: virtual pixel
``r = oy*Wp + ox`` and the columns ``ox >= out_w`` are computed and dropped. Any other layer
(strided, 1x1, fully connected) uses a per-tap im2col pack: one block of k-groups (input
channels) per kernel position, every image of the batch side by side as virtual pixels. Both
layouts put four (two) input channels of one position in a word, so packing assembles each word
from ``per`` contiguous rows in one vectorised pass, and the k order inside a sum is free (the
sums are exact in any order; the faithful order is stepped from the unpacked codes).

Instruction choice happens when a kernel is compiled: the AVX-512 VNNI intrinsics when the
processor Numba compiles for has them (``avx512vnni``, ``avx512bw``), else the same arithmetic
as plain LLVM vector code (sign/zero extension, multiply, pairwise adds), which any target
lowers correctly (the tests compile both and compare).
"""

from __future__ import annotations

import math
import threading

import numba
import numpy as np
from llvmlite import ir
from numba import get_thread_id, njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic, models, register_model

from accelsim.datapath.kernels import _acc_step, _fits, _requant, _step_output

NR = 8
"""Output channels per register tile."""
MR = 48
"""Virtual pixels per register tile (three 16-lane vectors)."""
LANES = 16

_I32 = ir.IntType(32)
_VT = ir.VectorType(_I32, LANES)


def target_has(*features: str) -> bool:
    """Whether the processor Numba compiles for has every one of *features* (LLVM names such as
    ``avx512vnni``): the host's, or ``NUMBA_CPU_NAME`` / ``NUMBA_CPU_FEATURES`` when set."""
    from llvmlite import binding as ll

    if numba.config.CPU_NAME not in (None, "host"):
        feats = (numba.config.CPU_FEATURES or "").split(",")
        return all(f"+{f}" in feats for f in features)
    try:
        host = ll.get_host_cpu_features()
    except RuntimeError:  # pragma: no cover - LLVM cannot read this host's features
        return False
    return all(bool(host.get(f)) for f in features)


def _host_has_vnni() -> bool:
    return target_has("avx512vnni", "avx512bw", "avx512f")


HAVE_VNNI = _host_has_vnni()
"""True when the kernels are compiled to AVX-512 VNNI instructions (else portable vector code)."""


class _I32x16(types.Type):
    """Sixteen int32 lanes held in one register (an accumulator of the micro-kernel)."""

    def __init__(self):
        super().__init__(name="int32x16")


i32x16 = _I32x16()


@register_model(_I32x16)
class _I32x16Model(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        super().__init__(dmm, fe_type, _VT)


def _word_ptr(context, builder, aty, arr, word):
    """Pointer to 32-bit word *word* of array *arr* (any dtype; words of 4 bytes)."""
    data = context.make_array(aty)(context, builder, arr).data
    return builder.gep(builder.bitcast(data, _I32.as_pointer()), [word])


@intrinsic
def vzero(typingctx):
    """Sixteen zero lanes."""
    def codegen(context, builder, sig, args):
        return ir.Constant(_VT, None)
    return i32x16(), codegen


def _portable_dot(builder, acc, va, vb, sixteen_bit):
    """acc + per-lane dot product of the 4 bytes (u8 * s8) or 2 halves (s16 * s16) of va, vb."""
    if sixteen_bit:
        et, n, ext_a = ir.IntType(16), 2, builder.sext
    else:
        et, n, ext_a = ir.IntType(8), 4, builder.zext
    wide = ir.VectorType(_I32, LANES * n)
    a = ext_a(builder.bitcast(va, ir.VectorType(et, LANES * n)), wide)
    b = builder.sext(builder.bitcast(vb, ir.VectorType(et, LANES * n)), wide)
    prod = builder.mul(a, b)
    out = acc
    for i in range(n):
        mask = ir.Constant(ir.VectorType(_I32, LANES), [j * n + i for j in range(LANES)])
        out = builder.add(out, builder.shuffle_vector(prod, prod, mask))
    return out


@intrinsic
def vdot(typingctx, acc, a, aword, b, bword):
    """``acc + dot(A word vector at aword .. aword+15, B word bword broadcast)``.

    ``a`` uint8 (unsigned bytes, four per word) with ``b`` int8, or ``a`` and ``b`` int16 (two
    per word). Wraps modulo 2**32 per lane.
    """
    if not (isinstance(a, types.Array) and isinstance(b, types.Array)):
        return None
    if a.dtype == types.uint8 and b.dtype == types.int8:
        sixteen = False
    elif a.dtype == types.int16 and b.dtype == types.int16:
        sixteen = True
    else:
        return None

    def codegen(context, builder, sig, args):
        vacc, va_arr, aw, vb_arr, bw = args
        pa = _word_ptr(context, builder, sig.args[1], va_arr, aw)
        pb = _word_ptr(context, builder, sig.args[3], vb_arr, bw)
        va = builder.load(builder.bitcast(pa, _VT.as_pointer()), align=4)
        sb = builder.load(pb, align=4)
        vb = builder.insert_element(ir.Constant(_VT, None), sb, ir.Constant(_I32, 0))
        vb = builder.shuffle_vector(vb, vb, ir.Constant(_VT, None))
        if HAVE_VNNI:
            name = "llvm.x86.avx512.vpdpwssd.512" if sixteen else "llvm.x86.avx512.vpdpbusd.512"
            fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(_VT, [_VT, _VT, _VT]), name)
            return builder.call(fn, [vacc, va, vb])
        return _portable_dot(builder, vacc, va, vb, sixteen)

    return i32x16(i32x16, a, types.intp, b, types.intp), codegen


@intrinsic
def vstore(typingctx, acc, out, word):
    """Store sixteen lanes to int32 array *out* at element *word*."""
    if not (isinstance(out, types.Array) and out.dtype == types.int32):
        return None

    def codegen(context, builder, sig, args):
        vacc, arr, w = args
        p = _word_ptr(context, builder, sig.args[1], arr, w)
        builder.store(vacc, builder.bitcast(p, _VT.as_pointer()), align=4)
        return context.get_dummy_value()

    return types.none(i32x16, out, types.intp), codegen


def _splat(builder, v):
    """Sixteen copies of the integer scalar *v* (truncated to 32 bits)."""
    if v.type != _I32:
        v = builder.trunc(v, _I32)
    vec = builder.insert_element(ir.Constant(_VT, None), v, ir.Constant(_I32, 0))
    return builder.shuffle_vector(vec, vec, ir.Constant(_VT, None))


@intrinsic
def vload(typingctx, arr, word):
    """Sixteen consecutive int32 elements of *arr* from element *word* (no alignment needed)."""
    if not (isinstance(arr, types.Array) and arr.dtype == types.int32):
        return None

    def codegen(context, builder, sig, args):
        p = _word_ptr(context, builder, sig.args[0], args[0], args[1])
        return builder.load(builder.bitcast(p, _VT.as_pointer()), align=4)

    return i32x16(arr, types.intp), codegen


@intrinsic
def vsplat(typingctx, v):
    """Sixteen lanes equal to the integer *v* (its low 32 bits)."""
    if not isinstance(v, types.Integer):
        return None

    def codegen(context, builder, sig, args):
        return _splat(builder, args[0])

    return i32x16(v), codegen


def _rshift_round_lanes(builder, x, p):
    """``floor((x + 2**(p-1)) / 2**p)`` per lane for a shift ``0 <= p <= 32`` (scalar), as
    ``((x >> (p-1)) + 1) >> 1`` (the rounding constant never overflows: the first shift drops
    the bits below it); ``x`` itself when ``p == 0``."""
    pos = builder.icmp_signed(">", p, ir.Constant(p.type, 0))
    pm1 = builder.select(pos, builder.sub(p, ir.Constant(p.type, 1)), ir.Constant(p.type, 0))
    one = _splat(builder, ir.Constant(_I32, 1))
    r = builder.ashr(builder.add(builder.ashr(x, _splat(builder, pm1)), one), one)
    return builder.select(pos, r, x)


@intrinsic
def vrequant32(typingctx, v, cwb, p0, s, p1, lo, hi):
    """``clip(rshift_round(rshift_round(v + cwb, p0) * s, p1), lo, hi)`` per lane, all in 32-bit
    two's complement (exact when the caller's bound keeps ``v + cwb`` plus the pre-shift's
    rounding constant, and the product, inside int32: :func:`requant_fits_int32`). The first
    rounding is ``(v + (cwb + 2**(p0-1))) >> p0``: the constants fold into one add (a shift by 0
    and a constant 0 when ``p0 == 0``); the second is :func:`_rshift_round_lanes`, which needs
    no headroom above the product."""
    def codegen(context, builder, sig, args):
        vv, cwb_, p0_, s_, p1_, lo_, hi_ = args
        p0t = builder.trunc(p0_, _I32) if p0_.type != _I32 else p0_
        half0 = builder.lshr(builder.shl(ir.Constant(_I32, 1), p0t), ir.Constant(_I32, 1))
        cwbt = builder.trunc(cwb_, _I32) if cwb_.type != _I32 else cwb_
        x = builder.add(vv, _splat(builder, builder.add(cwbt, half0)))
        x = builder.ashr(x, _splat(builder, p0t))
        x = builder.mul(x, _splat(builder, s_))
        x = _rshift_round_lanes(builder, x, p1_)
        vlo, vhi = _splat(builder, lo_), _splat(builder, hi_)
        x = builder.select(builder.icmp_signed("<", x, vlo), vlo, x)
        return builder.select(builder.icmp_signed(">", x, vhi), vhi, x)

    return i32x16(i32x16, cwb, p0, s, p1, lo, hi), codegen


def _codes_vec_ptr(context, builder, aty, arr, index):
    """Pointer to sixteen elements of integer array *arr* from element *index*, and their type."""
    vt = ir.VectorType(ir.IntType(aty.dtype.bitwidth), LANES)
    data = context.make_array(aty)(context, builder, arr).data
    p = builder.gep(builder.bitcast(data, vt.element.as_pointer()), [index])
    return builder.bitcast(p, vt.as_pointer()), vt


def _sext_lanes(builder, v):
    return v if v.type == _VT else builder.sext(v, _VT)


@intrinsic
def vload_codes(typingctx, arr, index):
    """Sixteen consecutive elements of the signed integer array *arr* (int8, int16 or int32) from
    element *index*, sign-extended to int32 lanes."""
    if not (isinstance(arr, types.Array) and isinstance(arr.dtype, types.Integer) and arr.dtype.signed
            and arr.dtype.bitwidth <= 32):
        return None

    def codegen(context, builder, sig, args):
        p, _ = _codes_vec_ptr(context, builder, sig.args[0], args[0], args[1])
        return _sext_lanes(builder, builder.load(p, align=1))

    return i32x16(arr, types.intp), codegen


@intrinsic
def vload_codes_first(typingctx, arr, index, count):
    """:func:`vload_codes` of the first *count* (< 16) elements only (a masked load: nothing past
    them is read); the other lanes are 0."""
    if not (isinstance(arr, types.Array) and isinstance(arr.dtype, types.Integer) and arr.dtype.signed
            and arr.dtype.bitwidth <= 32):
        return None

    def codegen(context, builder, sig, args):
        p, vt = _codes_vec_ptr(context, builder, sig.args[0], args[0], args[1])
        lanes = ir.Constant(_VT, list(range(LANES)))
        mask = builder.icmp_signed("<", lanes, _splat(builder, args[2]))
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(vt, [vt.as_pointer(), _I32, mask.type, vt]),
            f"llvm.masked.load.v{LANES}i{vt.element.width}.p0")
        v = builder.call(fn, [p, ir.Constant(_I32, 1), mask, ir.Constant(vt, None)])
        return _sext_lanes(builder, v)

    return i32x16(arr, types.intp, types.intp), codegen


@intrinsic
def vadd_requant32(typingctx, va, vb, ha, pa, sa, hb, pb, sb, half, q, lo, hi):
    """``clip((((va + ha) >> pa) * sa + ((vb + hb) >> pb) * sb + half) >> q, lo, hi)`` per lane
    in 32-bit two's complement: a residual add's two rescaled inputs summed and rounded once
    (one row of :func:`accelsim.datapath.ops.lane_constants`, as
    :func:`accelsim.datapath.kernels._add_run32` applies it to a run; exact under the caller's
    :func:`accelsim.datapath.ops.add_lanes` proof)."""
    def codegen(context, builder, sig, args):
        xa, xb, ha_, pa_, sa_, hb_, pb_, sb_, half_, q_, lo_, hi_ = args
        sp = lambda v: _splat(builder, v)  # noqa: E731
        ra = builder.ashr(builder.add(xa, sp(ha_)), sp(pa_))
        rb = builder.ashr(builder.add(xb, sp(hb_)), sp(pb_))
        x = builder.add(builder.add(builder.mul(ra, sp(sa_)), builder.mul(rb, sp(sb_))), sp(half_))
        x = builder.ashr(x, sp(q_))
        vlo, vhi = sp(lo_), sp(hi_)
        x = builder.select(builder.icmp_signed("<", x, vlo), vlo, x)
        return builder.select(builder.icmp_signed(">", x, vhi), vhi, x)

    return i32x16(i32x16, i32x16, ha, pa, sa, hb, pb, sb, half, q, lo, hi), codegen


@intrinsic
def vstore_narrow(typingctx, v, out, index):
    """Store sixteen lanes, each truncated to *out*'s integer dtype, at element *index*."""
    if not (isinstance(out, types.Array) and isinstance(out.dtype, types.Integer)):
        return None
    width = out.dtype.bitwidth

    def codegen(context, builder, sig, args):
        vv, arr, ix = args
        et = ir.IntType(width)
        data = context.make_array(sig.args[1])(context, builder, arr).data
        p = builder.gep(builder.bitcast(data, et.as_pointer()), [ix])
        val = vv if width == 32 else builder.trunc(vv, ir.VectorType(et, LANES))
        builder.store(val, builder.bitcast(p, ir.VectorType(et, LANES).as_pointer()), align=1)
        return context.get_dummy_value()

    return types.none(i32x16, out, types.intp), codegen


@intrinsic
def vstore_narrow_first(typingctx, v, out, index, count):
    """Store the first *count* (< 16) lanes, truncated to *out*'s integer dtype, at element *index*
    (a masked store: elements past them are not touched)."""
    if not (isinstance(out, types.Array) and isinstance(out.dtype, types.Integer)):
        return None
    width = out.dtype.bitwidth

    def codegen(context, builder, sig, args):
        vv, arr, ix, cnt = args
        et = ir.IntType(width)
        vt = ir.VectorType(et, LANES)
        data = context.make_array(sig.args[1])(context, builder, arr).data
        p = builder.gep(builder.bitcast(data, et.as_pointer()), [ix])
        val = vv if width == 32 else builder.trunc(vv, vt)
        lanes = ir.Constant(ir.VectorType(_I32, LANES), list(range(LANES)))
        mask = builder.icmp_signed("<", lanes, _splat(builder, cnt))
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [vt, vt.as_pointer(), _I32, mask.type]),
            f"llvm.masked.store.v{LANES}i{width}.p0")
        builder.call(fn, [val, builder.bitcast(p, vt.as_pointer()), ir.Constant(_I32, 1), mask])
        return context.get_dummy_value()

    return types.none(i32x16, out, types.intp, types.intp), codegen


@intrinsic
def vmadd(typingctx, acc, xv, w):
    """``acc + xv * w`` per lane in 32-bit two's complement (exact while no lane leaves int32)."""
    if not isinstance(w, types.Integer):
        return None

    def codegen(context, builder, sig, args):
        return builder.add(args[0], builder.mul(args[1], _splat(builder, args[2])))

    return i32x16(i32x16, i32x16, w), codegen


@intrinsic
def vmadd16(typingctx, acc, xv, w):
    """``acc + xv * w`` per lane when every lane of ``xv`` and ``w`` fit in 16 bits (signed).

    One ``vpmaddwd`` (``x_lo * w + x_hi * 0``: the low half of a sign-extended lane is the
    value itself) instead of a two-uop 32-bit multiply; plain vector code without AVX-512 BW.
    """
    if not isinstance(w, types.Integer):
        return None

    def codegen(context, builder, sig, args):
        acc_v, xv, w = args
        if HAVE_VNNI:
            wv = builder.and_(_splat(builder, w), _splat(builder, ir.Constant(_I32, 0xFFFF)))
            v16 = ir.VectorType(ir.IntType(16), 2 * LANES)
            fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(_VT, [v16, v16]),
                                                "llvm.x86.avx512.pmaddw.d.512")
            prod = builder.call(fn, [builder.bitcast(xv, v16), builder.bitcast(wv, v16)])
        else:
            prod = builder.mul(xv, _splat(builder, w))
        return builder.add(acc_v, prod)

    return i32x16(i32x16, i32x16, w), codegen


@intrinsic
def vsat(typingctx, s, lo, hi):
    """Each lane clamped to ``[lo, hi]`` (a saturating accumulator)."""
    def codegen(context, builder, sig, args):
        v, vlo, vhi = args[0], _splat(builder, args[1]), _splat(builder, args[2])
        v = builder.select(builder.icmp_signed("<", v, vlo), vlo, v)
        return builder.select(builder.icmp_signed(">", v, vhi), vhi, v)

    return i32x16(i32x16, lo, hi), codegen


@intrinsic
def vwrap(typingctx, s, shift):
    """Each lane reduced to its low ``32 - shift`` bits, sign-extended (a wrapping accumulator)."""
    def codegen(context, builder, sig, args):
        sh = _splat(builder, args[1])
        return builder.ashr(builder.shl(args[0], sh), sh)

    return i32x16(i32x16, shift), codegen


@intrinsic
def vcount(typingctx, cnt, s, f):
    """``cnt + (s != f)`` per lane (an overflow event where fixing changed the partial sum)."""
    def codegen(context, builder, sig, args):
        ne = builder.icmp_signed("!=", args[1], args[2])
        return builder.select(ne, builder.add(args[0], _splat(builder, ir.Constant(_I32, 1))), args[0])

    return i32x16(i32x16, i32x16, i32x16), codegen


# --------------------------------------------------------------------------- micro-kernel


@njit(inline="always")
def _tile(a, b, toff, nq, qstride, jp, abase, j0, dst, o0, ostride):
    """One register tile: sums of channels ``j0 .. j0+7`` over virtual pixels ``abase ..
    abase+47`` into ``dst[o0 + jj*ostride + 0..47]`` (``jj`` = channel in the tile)."""
    nt = toff.shape[0]
    c00 = vzero(); c01 = vzero(); c02 = vzero()
    c10 = vzero(); c11 = vzero(); c12 = vzero()
    c20 = vzero(); c21 = vzero(); c22 = vzero()
    c30 = vzero(); c31 = vzero(); c32 = vzero()
    c40 = vzero(); c41 = vzero(); c42 = vzero()
    c50 = vzero(); c51 = vzero(); c52 = vzero()
    c60 = vzero(); c61 = vzero(); c62 = vzero()
    c70 = vzero(); c71 = vzero(); c72 = vzero()
    for t in range(nt):
        ta = abase + toff[t]
        for q in range(nq):
            ao = ta + q * qstride
            bo = j0 * nt * nq + (t * nq + q) * NR
            c00 = vdot(c00, a, ao, b, bo); c01 = vdot(c01, a, ao + 16, b, bo); c02 = vdot(c02, a, ao + 32, b, bo)
            c10 = vdot(c10, a, ao, b, bo + 1); c11 = vdot(c11, a, ao + 16, b, bo + 1); c12 = vdot(c12, a, ao + 32, b, bo + 1)
            c20 = vdot(c20, a, ao, b, bo + 2); c21 = vdot(c21, a, ao + 16, b, bo + 2); c22 = vdot(c22, a, ao + 32, b, bo + 2)
            c30 = vdot(c30, a, ao, b, bo + 3); c31 = vdot(c31, a, ao + 16, b, bo + 3); c32 = vdot(c32, a, ao + 32, b, bo + 3)
            c40 = vdot(c40, a, ao, b, bo + 4); c41 = vdot(c41, a, ao + 16, b, bo + 4); c42 = vdot(c42, a, ao + 32, b, bo + 4)
            c50 = vdot(c50, a, ao, b, bo + 5); c51 = vdot(c51, a, ao + 16, b, bo + 5); c52 = vdot(c52, a, ao + 32, b, bo + 5)
            c60 = vdot(c60, a, ao, b, bo + 6); c61 = vdot(c61, a, ao + 16, b, bo + 6); c62 = vdot(c62, a, ao + 32, b, bo + 6)
            c70 = vdot(c70, a, ao, b, bo + 7); c71 = vdot(c71, a, ao + 16, b, bo + 7); c72 = vdot(c72, a, ao + 32, b, bo + 7)
    o = o0
    vstore(c00, dst, o); vstore(c01, dst, o + 16); vstore(c02, dst, o + 32)
    o += ostride
    vstore(c10, dst, o); vstore(c11, dst, o + 16); vstore(c12, dst, o + 32)
    o += ostride
    vstore(c20, dst, o); vstore(c21, dst, o + 16); vstore(c22, dst, o + 32)
    o += ostride
    vstore(c30, dst, o); vstore(c31, dst, o + 16); vstore(c32, dst, o + 32)
    o += ostride
    vstore(c40, dst, o); vstore(c41, dst, o + 16); vstore(c42, dst, o + 32)
    o += ostride
    vstore(c50, dst, o); vstore(c51, dst, o + 16); vstore(c52, dst, o + 32)
    o += ostride
    vstore(c60, dst, o); vstore(c61, dst, o + 16); vstore(c62, dst, o + 32)
    o += ostride
    vstore(c70, dst, o); vstore(c71, dst, o + 16); vstore(c72, dst, o + 32)


@njit(cache=True, parallel=True, boundscheck=False)
def gemm_raw(a, b, toff, nq, qstride, jp, rp, n_img, a_img, raw, j_outer):
    """Raw sums (int32, modulo 2**32) for images ``i < n_img``; see the module docstring.

    Sum ``(i, j, r)`` is stored at ``(i*jp + j)*rp + r``. With *j_outer* jobs run channel block
    outer, pixel block inner, so consecutive tiles extend the same 8 rows (sequential stores over
    few pages: long im2col rows); else pixel block outer, so one packed-activation block serves
    every channel block while it is in cache (short padded-plane rows, many taps).

    Parameters
    ----------
    a : uint8 or int16 packed activations, flat; image ``i`` starts at word ``i * a_img``.
    b : int8 or int16 packed weights, flat, ``len(toff) * nq * jp`` words (panels, :func:`pack_weights`).
    toff : int64 word offset of each tap.  nq : k-groups per tap.  qstride : words between
        k-groups of ``a``.  jp : output channels, a multiple of :data:`NR`.
    rp : virtual pixels per image, a multiple of :data:`MR`; ``a`` must hold words up to
        ``(nq-1)*qstride + rp + max(toff)`` past each image start.
    raw : int32 output, ``n_img * jp * rp`` elements, flat.
    """
    nj = jp // NR
    nr = rp // MR
    for job in prange(n_img * nr * nj):
        i = job // (nr * nj)
        rem = job % (nr * nj)
        if j_outer:
            j0 = (rem // nr) * NR
            r0 = (rem % nr) * MR
        else:
            r0 = (rem // nj) * MR
            j0 = (rem % nj) * NR
        _tile(a, b, toff, nq, qstride, jp, i * a_img + r0, j0, raw, (i * jp + j0) * rp + r0, rp)


STRIP_A_BYTES = 1 << 18
"""Packed activations of one :func:`gemm_requant` strip, bytes (L2-resident across the channel
blocks that read it; measured on ResNet-50's 1x1 layers)."""


def strip_pixels(nq: int, ntaps: int) -> int:
    """Virtual pixels per :func:`gemm_requant` strip: a multiple of :data:`MR` whose packed
    activations (``ntaps * nq`` words per pixel) fit :data:`STRIP_A_BYTES`, at least one tile."""
    return max(MR, STRIP_A_BYTES // (4 * nq * ntaps) // MR * MR)


RESIDUAL_PARAMS = 8
"""Per-channel constants of an add in int32 lanes (int64 rows of
:func:`accelsim.datapath.ops.lane_constants`): one input's ``h, p, s``, the other's, then
``half, q``; in an epilogue the layer's side comes first."""


_NO_RESIDUAL = np.zeros((0, RESIDUAL_PARAMS), dtype=np.int64)
"""The *fused* argument of :func:`_requant_strip` when no residual add is fused."""


@njit(cache=True, parallel=True, boundscheck=False)
def gemm_requant(a, b, toff, nq, qstride, jp, rp, n_img, a_img, ipr, img_stride, row, corr, bias, pre, scale,
                 post, lo, hi, out, n0, c0, ng, spx, strips):
    """:func:`gemm_raw` and :func:`finish` blocked together: output codes, no raw-sum buffer.

    A job is one strip of *spx* virtual pixels (a multiple of :data:`MR`) of raw image ``i`` and
    one block of :data:`NR` channels, strips outer, so one strip of packed activations serves
    every channel block from cache (:func:`strip_pixels`). Its register tiles go to the running
    thread's row of *strips* (int32, ``NR`` rows of at least *spx* sums each, L2-resident),
    which is then requantized in long runs straight into ``out[n0 + b, c0 + j, oy, ox]`` in
    *out*'s dtype, with :func:`finish`'s mapping (image ``b = i*ipr + r // img_stride`` of the
    chunk, ``r % img_stride = oy*row + ox``; positions ``ox >= ow`` and channels ``j >= ng``
    dropped). Other arguments as :func:`gemm_raw` and :func:`finish`. Replaces the raw-sum
    round trip through memory (4 bytes per output written, then read) on the exact paths.
    """
    n_out, c_out, oh, ow = out.shape
    flat = out.reshape(-1)
    plane_sz = oh * ow
    nj = jp // NR
    srow = strips.shape[1] // NR
    ns = (rp + spx - 1) // spx
    for job in prange(n_img * ns * nj):
        i = job // (ns * nj)
        rem = job % (ns * nj)
        rb = (rem // nj) * spx
        j0 = (rem % nj) * NR
        re = min(rb + spx, rp)
        strip = strips[get_thread_id()]
        for r0 in range(rb, re, MR):
            _tile(a, b, toff, nq, qstride, jp, i * a_img + r0, j0, strip, r0 - rb, srow)
        _requant_strip(strip, srow, rb, re - rb, i, ipr, img_stride, row, oh, ow, plane_sz, n0, c_out, flat, j0,
                       min(NR, ng - j0), c0, corr, bias, pre, scale, post, lo, hi, False, flat, _NO_RESIDUAL, lo, hi)


@njit(inline="always")
def _requant_strip(strip, srow, rb, cnt, i, ipr, img_stride, row, oh, ow, plane_sz, n0, c_out, flat, j0, nch, c0,
                   corr, bias, pre, scale, post, lo, hi, lanes32, skip, fused, alo, ahi):
    """Requantize one strip of sums into NCHW codes (the epilogue of :func:`gemm_requant`).

    ``strip[jj*srow + k]`` holds the sum of channel ``j0 + jj`` (``jj < nch``) at virtual pixel
    ``rb + k`` (``k < cnt``) of raw image ``i``; it goes to ``flat`` (the output, flat) at image
    ``n0 + i*ipr + r // img_stride``, channel ``c0 + j0 + jj``, ``(oy, ox)`` from
    ``r % img_stride = oy*row + ox`` (:func:`finish`'s mapping), in long contiguous runs;
    positions ``ox >= ow`` are dropped. With *lanes32* (:func:`requant_fits_int32` holds) the
    arithmetic runs in 32-bit lanes (:func:`_requant_run32`), else in int64. With *lanes32* and
    a *fused* array of :func:`accelsim.datapath.ops.residual_params` rows (one per output
    channel; an empty array otherwise), each code is added to the same position of *skip* (flat,
    *flat*'s layout) and clipped to ``[alo, ahi]`` (:func:`_requant_add_lanes`).
    """
    fuse = lanes32 and fused.shape[0] > 0
    runs = np.empty((cnt // ow + 3, 3), dtype=np.int64)
    nr = _strip_runs(rb, cnt, i, ipr, img_stride, row, oh, ow, plane_sz, n0, c_out, runs)
    for jj in range(nch):
        c = c0 + j0 + jj
        cw = _wrap32(-np.int64(corr[j0 + jj]))
        b = np.int64(bias[c])
        p0 = np.int64(pre[c])
        s = np.int64(scale[c])
        p1 = np.int64(post[c])
        cwb = _wrap32(cw + b)
        for t in range(nr):
            s0 = jj * srow + runs[t, 0]
            run = runs[t, 1]
            d0 = runs[t, 2] + c * plane_sz
            if fuse:
                _requant_add_lanes(strip, s0, flat, d0, run, cwb, p0, s, p1, lo, hi, skip, fused[c], alo, ahi)
            elif lanes32:
                _requant_lanes(strip, s0, flat, d0, run, cwb, p0, s, p1, lo, hi)
            else:
                _requant_run(strip[s0:s0 + run], flat[d0:d0 + run], run, cw, b, p0, s, p1, lo, hi)


@njit(inline="always")
def _strip_runs(rb, cnt, i, ipr, img_stride, row, oh, ow, plane_sz, n0, c_out, runs):
    """The contiguous output runs of a strip (see :func:`_requant_strip`): row ``t`` of *runs*
    gets (strip offset, length, output offset of channel 0); returns their number."""
    nr = 0
    k = 0
    while k < cnt:
        r = rb + k
        sub = 0
        if ipr > 1:
            sub = r // img_stride
            r -= sub * img_stride
        if sub >= ipr:
            break
        oy = r // row
        ox = r - oy * row
        if oy >= oh:
            break
        if ox >= ow:
            k += row - ox
            continue
        run = min(cnt - k, (plane_sz - r) if row == ow else (ow - ox))
        runs[nr, 0] = k
        runs[nr, 1] = run
        runs[nr, 2] = (n0 + i * ipr + sub) * c_out * plane_sz + oy * ow + ox
        nr += 1
        k += run
    return nr


# --------------------------------------------------------------------------- packing


@njit(inline="always")
def _word(v0, v1, v2, v3, m0, m1, m2, m3, off, per):
    """One packed word from codes ``v0 ..`` (slot ``e`` holds ``v_e & m_e`` plus the offset).

    ``per`` = 4: four unsigned bytes ``(v_e & m_e) + off``; ``per`` = 2: two 16-bit halves
    ``v_e & m_e`` (``v2``, ``v3`` unused). A mask ``m_e`` of 0 leaves the padding value in the
    slot (a channel past the group's end).
    """
    if per == 4:
        return (((v0 & m0) + off) & 0xFF) | ((((v1 & m1) + off) & 0xFF) << 8) \
            | ((((v2 & m2) + off) & 0xFF) << 16) | (((v3 & m3) + off) << 24)
    return ((v0 & m0) & 0xFFFF) | ((v1 & m1) << 16)


@njit(inline="always")
def _pad_word(off, per):
    """A word whose every slot holds the padding value (``off`` per byte, 0 per half)."""
    if per == 4:
        return np.int32(off * 0x01010101 - (0x100000000 if off >= 128 else 0))
    return np.int32(0)


@njit(inline="always")
def _slots(cg, q, per):
    """Clamped channel of each slot of k-group *q* and its mask (-1 inside ``cg``, else 0)."""
    c = q * per
    return (min(c, cg - 1), min(c + 1, cg - 1), min(c + 2, cg - 1), min(c + 3, cg - 1),
            np.int32(-1 if c < cg else 0), np.int32(-1 if c + 1 < cg else 0),
            np.int32(-1 if c + 2 < cg and per == 4 else 0), np.int32(-1 if c + 3 < cg and per == 4 else 0))


@njit(inline="always")
def _pack_run(dst, d, src, o0, o1, o2, o3, step, count, m0, m1, m2, m3, off, per, absolute):
    """``dst[d + k] = word(src[o0 + k*step], src[o1 + k*step], ..)`` for ``k < count``
    (:func:`_word`; ``|x|`` with *absolute*) on flat arrays at unsigned offsets: no views per run
    (each costs reference counting, which dominated short rows) and no wraparound checks. A full
    k-group (every mask -1) takes a mask-free loop, and ``step == 1`` a unit-stride one, so the
    common case compiles to plain vector loads."""
    u = np.uint64
    if absolute:
        for k in range(u(count)):
            ix = k * u(step)
            dst[d + k] = _word(abs(src[o0 + ix]), abs(src[o1 + ix]), abs(src[o2 + ix]), abs(src[o3 + ix]), m0, m1, m2,
                               m3, 0, per)
    elif m3 == -1 or (per == 2 and m1 == -1):
        if step == 1:
            for k in range(u(count)):
                dst[d + k] = _word(src[o0 + k], src[o1 + k], src[o2 + k], src[o3 + k], -1, -1, -1, -1, off, per)
        else:
            for k in range(u(count)):
                ix = k * u(step)
                dst[d + k] = _word(src[o0 + ix], src[o1 + ix], src[o2 + ix], src[o3 + ix], -1, -1, -1, -1, off, per)
    else:
        for k in range(u(count)):
            ix = k * u(step)
            dst[d + k] = _word(src[o0 + ix], src[o1 + ix], src[o2 + ix], src[o3 + ix], m0, m1, m2, m3, off, per)


@njit(inline="always")
def _fill(dst, d, count, value):
    """``dst[d + k] = value`` for ``k < count`` (flat array, unsigned offset)."""
    for k in range(np.uint64(max(count, 0))):
        dst[d + k] = value


@njit(cache=True, parallel=True)
def pack_plane(x, n0, c0, cg, pt, pl, hp, wp, qstride, per, absolute, a):
    """Zero-padded input planes of images ``n0 ..`` and channels ``c0 .. c0+cg-1`` into *a*.

    *a* is int32 words [n, nq, qstride] with ``nq = ceil(cg/per)``: word ``(q, yy*wp + xx)`` holds
    channels ``per*q ..`` of padded position ``(yy, xx)``, channel ``per*q + e`` in slot ``e``
    (bits ``32/per * e`` up): unsigned byte ``x + 128`` (``per`` = 4; padding 128) or 16-bit
    ``x`` (``per`` = 2; padding 0). Words past the plane (``>= hp*wp``) and channels past ``cg``
    hold the padding value. With *absolute*, ``|x|`` is packed (no offset, padding 0) for the
    overflow screen. Each word is assembled from its ``per`` channels in one vectorised pass.
    """
    n_img = a.shape[0]
    nq = a.shape[1]
    h = x.shape[2]
    wd = x.shape[3]
    off = 128 if per == 4 and not absolute else 0
    pad = _pad_word(off, per)
    xf = x.reshape(-1)
    af = a.reshape(-1)
    u = np.uint64
    cstride = h * wd
    for job in prange(n_img * nq):
        i = job // nq
        q = job % nq
        n = n0 + i
        base = u(job * qstride)
        e0, e1, e2, e3, m0, m1, m2, m3 = _slots(cg, q, per)
        src = u((n * x.shape[1] + c0) * cstride)
        s0, s1, s2, s3 = src + u(e0 * cstride), src + u(e1 * cstride), src + u(e2 * cstride), src + u(e3 * cstride)
        _fill(af, base, pt * wp + pl, pad)  # top rows and the first row's left margin
        for iy in range(h):
            d0 = (pt + iy) * wp + pl
            r = u(iy * wd)
            _pack_run(af, base + u(d0), xf, s0 + r, s1 + r, s2 + r, s3 + r, 1, wd, m0, m1, m2, m3, off, per, absolute)
            # right margin and the next row's left margin; after the last row, the rest of the plane
            end = d0 + wp if iy < h - 1 else qstride
            _fill(af, base + u(d0 + wd), end - d0 - wd, pad)


@njit(cache=True, parallel=True)
def pack_cols(x, n0, nb, c0, cg, kh, kw, sh, sw, pt, pl, dh, dw, oh, ow, per, absolute, a):
    """Per-tap im2col of images ``n0 .. n0+nb-1`` (channels ``c0 ..``) into int32 words *a*.

    *a* is [kh*kw, nq, rp] with ``nq = ceil(cg/per)``: tap ``t = ky*kw + kx``, k-group ``q``
    (channels ``per*q ..`` in slots as :func:`pack_plane`), virtual pixel
    ``r = (n - n0)*oh*ow + oy*ow + ox``. Values and padding as :func:`pack_plane`; pixels past
    ``nb*oh*ow`` and channels past ``cg`` hold padding. (Any k order gives the same exact sums;
    the faithful order is stepped from the unpacked codes.)
    """
    nt = a.shape[0]
    nq = a.shape[1]
    rp = a.shape[2]
    h = x.shape[2]
    wd = x.shape[3]
    per_img = oh * ow
    off = 128 if per == 4 and not absolute else 0
    pad = _pad_word(off, per)
    # a 1x1 stride-1 unpadded tap reads each image's channel plane whole: one run per image
    whole = nt == 1 and sh == 1 and sw == 1 and pt == 0 and pl == 0 and oh == h and ow == wd
    xf = x.reshape(-1)
    af = a.reshape(-1)
    u = np.uint64
    cstride = h * wd
    for job in prange(nt * nq):
        tap = job // nq
        q = job % nq
        ky = tap // kw
        kx = tap % kw
        drow = u(job * rp)
        e0, e1, e2, e3, m0, m1, m2, m3 = _slots(cg, q, per)
        if whole:
            for i in range(nb):
                src = u(((n0 + i) * x.shape[1] + c0) * cstride)
                _pack_run(af, drow + u(i * per_img), xf, src + u(e0 * cstride), src + u(e1 * cstride),
                          src + u(e2 * cstride), src + u(e3 * cstride), 1, per_img, m0, m1, m2, m3, off, per, absolute)
            _fill(af, drow + u(nb * per_img), rp - nb * per_img, pad)
            continue
        t = kx * dw - pl
        # output columns whose input column ox*sw + t lies inside [0, wd)
        ox_lo = min(max(0, -(t // sw)), ow)
        ox_hi = max(min(ow, (wd - 1 - t) // sw + 1), ox_lo)
        for i in range(nb):
            src = u(((n0 + i) * x.shape[1] + c0) * cstride)
            s0, s1, s2, s3 = src + u(e0 * cstride), src + u(e1 * cstride), src + u(e2 * cstride), src + u(e3 * cstride)
            for oy in range(oh):
                r0 = drow + u(i * per_img + oy * ow)
                iy = oy * sh - pt + ky * dh
                if iy < 0 or iy >= h:
                    _fill(af, r0, ow, pad)
                    continue
                _fill(af, r0, ox_lo, pad)
                _fill(af, r0 + u(ox_hi), ow - ox_hi, pad)
                r = u(iy * wd + ox_lo * sw + t)
                _pack_run(af, r0 + u(ox_lo), xf, s0 + r, s1 + r, s2 + r, s3 + r, sw, ox_hi - ox_lo, m0, m1, m2, m3,
                          off, per, absolute)
        _fill(af, drow + u(nb * per_img), rp - nb * per_img, pad)


@njit(cache=True)
def pack_weights(w, c0, ng, per, absolute, b):
    """Weights of output channels ``c0 .. c0+ng-1`` into *b* [jp/NR, nt, nq, NR, per].

    One panel per block of :data:`NR` output channels, holding that block's whole reduction
    contiguously (the micro-kernel walks it sequentially: no page-strided weight reads on deep
    layers). Each kernel position ``t = ky*kw + kx`` is a tap and k runs over input channels
    (both activation layouts). Channels past ``ng`` and k past the end are 0. With *absolute*,
    ``|w|`` is packed.
    """
    cg = w.shape[1]
    kh = w.shape[2]
    kw = w.shape[3]
    b[:] = 0
    for j in range(ng):
        o = c0 + j
        for ci in range(cg):
            for ky in range(kh):
                for kx in range(kw):
                    v = w[o, ci, ky, kx]
                    if absolute and v < 0:
                        v = -v
                    b[j // NR, ky * kw + kx, ci // per, j % NR, ci % per] = v


# --------------------------------------------------------------------------- epilogues


@njit(inline="always")
def _wrap32(v):
    """Two's-complement int32 value of the int64 *v* (reduction modulo 2**32)."""
    return ((v + (np.int64(1) << 31)) & np.int64(0xFFFFFFFF)) - (np.int64(1) << 31)


@njit(inline="always")
def _requant_run(src, dst, count, cw, b, p0, s, p1, lo, hi):
    """``dst[i] = clip(requant(wrap32(src[i] + cw) + b))`` for ``i < count``.

    Branch-free int64 lane arithmetic over one contiguous run (vectorises; the store narrows to
    *dst*'s dtype, which holds ``[lo, hi]``). Callers pass views starting at the run, so every
    index is a plain non-negative offset (no wraparound check, no gather).
    """
    lo64 = np.int64(lo)
    hi64 = np.int64(hi)
    h0 = (np.int64(1) << p0) >> 1
    h1 = (np.int64(1) << p1) >> 1
    for i in range(count):
        v = _wrap32(np.int64(src[i]) + cw) + b
        v = ((v + h0) >> p0) * s
        v = (v + h1) >> p1
        dst[i] = min(max(v, lo64), hi64)


@njit(inline="always")
def _requant_run32(src, dst, count, cw, b, p0, s, p1, lo, hi):
    """:func:`_requant_run` in 32-bit lanes (:func:`_requant_lanes` with its constants)."""
    _requant_lanes(src, 0, dst, 0, count, _wrap32(cw + b), p0, s, p1, lo, hi)


@njit(inline="always")
def _requant_add_lanes(src, soff, dst, doff, count, cwb, p0, s, p1, lo, hi, skip, fp, alo, ahi):
    """:func:`_requant_lanes` followed by a residual add in the same 32-bit lanes: each output
    code (clipped to ``[lo, hi]``) is added to ``skip[doff:]`` with the constants *fp* (one
    row of :data:`RESIDUAL_PARAMS`) and clipped to ``[alo, ahi]``: the codes of the add layer
    itself, with the layer's codes never stored."""
    ha, pa, sa, hb, pb, sb, half, q = fp[0], fp[1], fp[2], fp[3], fp[4], fp[5], fp[6], fp[7]
    k = 0
    while k + LANES <= count:
        v = vrequant32(vload(src, soff + k), cwb, p0, s, p1, lo, hi)
        vstore_narrow(vadd_requant32(v, vload_codes(skip, doff + k), ha, pa, sa, hb, pb, sb, half, q, alo, ahi),
                      dst, doff + k)
        k += LANES
    if k < count:
        v = vrequant32(vload(src, soff + k), cwb, p0, s, p1, lo, hi)
        vstore_narrow_first(vadd_requant32(v, vload_codes_first(skip, doff + k, count - k), ha, pa, sa, hb, pb, sb,
                                           half, q, alo, ahi), dst, doff + k, count - k)


@njit(inline="always")
def _requant_lanes(src, soff, dst, doff, count, cwb, p0, s, p1, lo, hi):
    """:func:`_requant_run` from ``src[soff:]`` to ``dst[doff:]`` in 32-bit lanes, sixteen outputs
    per step (the tail as one masked store; offsets, not views: a view costs reference counting
    per short run), with ``cwb = wrap32(cw + b)``. The
    caller guarantees :func:`requant_fits_int32` for this channel, which makes every step the
    int64 one's value, and that *src* is readable 15 elements past ``count`` (the tail step
    loads a whole vector; the lanes past ``count`` are not stored)."""
    k = 0
    while k + LANES <= count:
        vstore_narrow(vrequant32(vload(src, soff + k), cwb, p0, s, p1, lo, hi), dst, doff + k)
        k += LANES
    if k < count:
        vstore_narrow_first(vrequant32(vload(src, soff + k), cwb, p0, s, p1, lo, hi), dst, doff + k,
                            count - k)


def requant_fits_int32(acc_bound, bias, pre, scale, post, lo: int, hi: int, pre_add: bool = True) -> bool:
    """Whether :func:`_requant_run32` equals :func:`_requant_run` for every channel.

    *acc_bound* bounds ``|sum x w|`` per channel (int64 array). Then ``|sum + bias| <= A =
    acc_bound + |bias|`` and ``|rshift_round(sum + bias, pre)| <= T = ceil(A / 2**pre)``; the
    32-bit lanes (:func:`vrequant32`) are exact when ``A + 2**(pre-1) < 2**31`` (the pre-shift's
    rounding constant is added to the sum itself) and ``T * |scale| < 2**31 - 1`` (the post
    shift's rounding, :func:`_rshift_round_lanes`, adds 1 to the product shifted by ``post - 1``);
    shifts at most 31; ``[lo, hi]`` inside int32. Calibrated layers pass: the quantizer's pre-shift
    keeps ``T * scale`` below ``2**31`` (:mod:`accelsim.quant.requant`) and ``A`` of 8-bit layers is
    far below ``2**31``. With ``pre_add=False`` the condition is that of lanes that round the
    pre-shift like the post shift (``A < 2**31 - 1``; the depthwise kernel,
    :func:`accelsim.datapath.kernels.depthwise_phase`).
    """
    if not (-(1 << 31) <= lo <= hi < (1 << 31)):
        return False
    as64 = lambda v: np.ascontiguousarray(v, dtype=np.int64).reshape(-1)  # noqa: E731
    return bool(_fits_int32(as64(acc_bound), as64(bias), as64(pre), as64(scale), as64(post), pre_add))


@njit(cache=True)
def _fits_int32(acc_bound, bias, pre, scale, post, pre_add):
    """:func:`requant_fits_int32`'s per-channel test (int64 arrays; no step can overflow int64:
    every operand is checked below 2**31 before it is multiplied)."""
    top = np.int64(1) << 31
    for c in range(bias.size):
        p0 = pre[c]
        p1 = post[c]
        sc = abs(scale[c])
        if p0 < 0 or p0 > 31 or p1 < 0 or p1 > 31 or sc >= top or acc_bound[c] >= top or abs(bias[c]) >= top:
            return False
        a = acc_bound[c] + abs(bias[c])
        if pre_add and a + ((np.int64(1) << p0) >> 1) >= top:  # sum plus the pre-shift's rounding constant
            return False
        if not pre_add and a >= top - 1:  # a pre-shift of 1 rounds as (x + 1) >> 1: x + 1 must not wrap
            return False
        t = (a + (np.int64(1) << p0) - 1) >> p0
        if t * sc >= top - 1:
            return False
    return True


@njit(cache=True, parallel=True)
def finish(raw, jp, rp, ipr, img_stride, row, corr, bias, pre, scale, post, lo, hi, out, n0, c0, ng):
    """Requantize raw sums into NCHW codes: ``out[n0+b, c0+j, oy, ox]``.

    Image ``b`` of the chunk reads raw image ``b // ipr`` at virtual pixel
    ``(b % ipr)*img_stride + oy*row + ox``; the sum is ``wrap32(raw - corr[j])`` (exact, see the
    module docstring), then ``clip(requant(sum + bias[c0+j]), lo, hi)``, stored in *out*'s dtype
    (any integer dtype holding ``[lo, hi]``). When ``row == ow`` an image's sums are one
    contiguous run.
    """
    n_out, c_out, oh, ow = out.shape
    nb = (raw.shape[0] // (jp * rp)) * ipr
    flat = out.reshape(n_out * c_out, oh * ow)
    for job in prange(nb * ng):
        bimg = job // ng
        j = job % ng
        c = c0 + j
        base = ((bimg // ipr) * jp + j) * rp + (bimg % ipr) * img_stride
        cw = _wrap32(-np.int64(corr[j]))
        b = np.int64(bias[c])
        p0 = np.int64(pre[c])
        s = np.int64(scale[c])
        p1 = np.int64(post[c])
        dst = flat[(n0 + bimg) * c_out + c]
        if row == ow:
            _requant_run(raw[base:base + oh * ow], dst, oh * ow, cw, b, p0, s, p1, lo, hi)
        else:
            for oy in range(oh):
                rb = base + oy * row
                _requant_run(raw[rb:rb + ow], dst[oy * ow:(oy + 1) * ow], ow, cw, b, p0, s, p1, lo, hi)


@njit(cache=True, parallel=True)
def finish_faithful(raw, rawabs, jp, rp, ipr, img_stride, row, corr, x, w, sh, sw, pt, pl, dh, dw,
                    acc_bits, wrap, bias, pre, scale, post, lo, hi, out, n0, c0, ng, c_base):
    """Faithful accumulators from the screened GEMM, requantized into NCHW codes.

    For each output, the exact sum (``raw``) and ``sum_k |x_k w_k|`` (``rawabs``) give the sums of
    its positive and its negative products, which bound every partial sum
    (:func:`accelsim.datapath.kernels._fits`); when both ends fit the accumulator no step can
    overflow and ``bias + sum`` is the faithful value. Otherwise the output is stepped in the documented order
    (:func:`accelsim.datapath.kernels.conv_acc_faithful`'s rule) from the codes ``x``, ``w``.

    Returns int64 [nb, ng] overflow events of the chunk per image and channel.
    """
    oh = out.shape[2]
    ow = out.shape[3]
    nb = (raw.shape[0] // (jp * rp)) * ipr
    alo = -(np.int64(1) << (acc_bits - 1))
    ahi = (np.int64(1) << (acc_bits - 1)) - 1
    ev = np.zeros((nb, ng), dtype=np.int64)
    for job in prange(nb * ng):
        bimg = job // ng
        j = job % ng
        c = c0 + j
        base = ((bimg // ipr) * jp + j) * rp + (bimg % ipr) * img_stride
        cj = corr[j]
        b = np.int64(bias[c])
        p0 = np.int64(pre[c])
        s = np.int64(scale[c])
        p1 = np.int64(post[c])
        cnt = np.int64(0)
        for oy in range(oh):
            rb = base + oy * row
            for ox in range(ow):
                v = _wrap32(np.int64(raw[rb + ox]) - cj)
                if _fits(b, v, np.int64(rawabs[rb + ox]), alo, ahi):
                    acc = v + b
                else:
                    acc, e = _step_output(x, w, n0 + bimg, c, c_base, b, oy, ox, sh, sw, pt, pl, dh, dw,
                                          alo, ahi, wrap)
                    cnt += e
                out[n0 + bimg, c, oy, ox] = _requant(acc, p0, s, p1, lo, hi)
        ev[bimg, j] = cnt
    return ev


__all__ = ["HAVE_VNNI", "finish", "finish_faithful", "NR", "MR", "LANES", "gemm_raw", "pack_plane", "pack_cols", "pack_weights",
           "vdot", "vzero", "vstore", "i32x16"]


@njit(inline="always")
def _mac(acc, xv, w, narrow):
    """``acc + xv * w`` in lanes: one ``vpmaddwd`` when *narrow* (codes fit 16 bits), else ``vpmulld``."""
    if narrow:
        return vmadd16(acc, xv, w)
    return vmadd(acc, xv, w)


@njit(inline="always")
def _fix(s, lo, hi, sh, wrap):
    if wrap:
        return vwrap(s, sh)
    return vsat(s, lo, hi)


@njit(inline="always")
def _step_body(xq, xbase, cstride, taps, wrow, nk, a0, lo, hi, sh, wrap, nv, narrow, buf, evbuf):
    """Faithful accumulators of 16*nv consecutive virtual pixels of one output channel, in int32 lanes.

    Steps the documented order (bias, then c, ky, kx) on all lanes at once: ``a = fix(a + x*w)``
    with fix a clamp (saturate) or a sign extension of the low bits (wrap), counting a lane's
    event when fixing changed it. Lane values are exact because the caller ensures
    ``2**(acc_bits-1) + max|x*w| < 2**31``. Input channel ``ci`` of tap ``t`` is read at
    ``xbase + ci*cstride + taps[t]`` (+ lane); ``wrow[ci*nk + t]`` is its weight. Writes the
    accumulators to ``buf`` and the per-lane event counts to ``evbuf`` (64 lanes each).
    """
    a0v = vsplat(a0)
    c0 = a0v
    c1 = a0v
    c2 = a0v
    c3 = a0v
    e0 = vzero()
    e1 = vzero()
    e2 = vzero()
    e3 = vzero()
    cg = wrow.shape[0] // nk
    for ci in range(cg):
        cb = xbase + ci * cstride
        for t in range(nk):
            wv = wrow[ci * nk + t]
            if wv == 0:  # adding 0 to an in-range accumulator changes nothing and is no event
                continue
            o = cb + taps[t]
            s = _mac(c0, vload(xq, o), wv, narrow)
            f = _fix(s, lo, hi, sh, wrap)
            e0 = vcount(e0, s, f)
            c0 = f
            if nv > 1:
                s = _mac(c1, vload(xq, o + 16), wv, narrow)
                f = _fix(s, lo, hi, sh, wrap)
                e1 = vcount(e1, s, f)
                c1 = f
            if nv > 2:
                s = _mac(c2, vload(xq, o + 32), wv, narrow)
                f = _fix(s, lo, hi, sh, wrap)
                e2 = vcount(e2, s, f)
                c2 = f
            if nv > 3:
                s = _mac(c3, vload(xq, o + 48), wv, narrow)
                f = _fix(s, lo, hi, sh, wrap)
                e3 = vcount(e3, s, f)
                c3 = f
    vstore(c0, buf, 0)
    vstore(c1, buf, 16)
    vstore(c2, buf, 32)
    vstore(c3, buf, 48)
    vstore(e0, evbuf, 0)
    vstore(e1, evbuf, 16)
    vstore(e2, evbuf, 32)
    vstore(e3, evbuf, 48)


@njit(inline="always")
def _step_block(xq, xbase, cstride, taps, wrow, nk, a0, lo, hi, sh, wrap, nv, narrow, buf, evbuf):
    """:func:`_step_body` with *wrap* and *narrow* as constants, so each variant compiles to its
    own branch-free inner loop."""
    if wrap:
        if narrow:
            _step_body(xq, xbase, cstride, taps, wrow, nk, a0, lo, hi, sh, True, nv, True, buf, evbuf)
        else:
            _step_body(xq, xbase, cstride, taps, wrow, nk, a0, lo, hi, sh, True, nv, False, buf, evbuf)
    elif narrow:
        _step_body(xq, xbase, cstride, taps, wrow, nk, a0, lo, hi, sh, False, nv, True, buf, evbuf)
    else:
        _step_body(xq, xbase, cstride, taps, wrow, nk, a0, lo, hi, sh, False, nv, False, buf, evbuf)


STEP_BLOCK = 64
"""Virtual pixels stepped together by :func:`finish_faithful_vec` (four 16-lane vectors)."""


@njit(cache=True, parallel=True, boundscheck=False)
def finish_faithful_vec(raw, rawabs, jp, rp, ipr, img_stride, row, corr, xq, img_words, cstride, wq_row, taps,
                        wmat, narrow, acc_bits, wrap, bias, pre, scale, post, lo, hi, out, n0, c0, ng):
    """Faithful accumulators from the screened GEMM, blocks that may overflow stepped in lanes.

    Outputs ``(oy, ox)`` are numbered ``r = oy*wq_row + ox`` (the phase-plane row of ``xq``,
    see :func:`phase_planes`) and taken in blocks of :data:`STEP_BLOCK`. A block whose every
    output passes its own screen (:func:`accelsim.datapath.kernels._fits` from ``raw`` and
    ``rawabs``) takes the exact sums ``raw``; any other block is stepped in the documented order
    by :func:`_step_block` (same bits as :func:`accelsim.datapath.kernels.conv_acc_faithful`).

    Returns int64 [nb, ng] overflow events per image and channel of the chunk.
    """
    oh = out.shape[2]
    ow = out.shape[3]
    nb = (raw.shape[0] // (jp * rp)) * ipr
    alo = -(np.int64(1) << (acc_bits - 1))
    ahi = (np.int64(1) << (acc_bits - 1)) - 1
    sh = 32 - acc_bits
    nk = taps.shape[0]
    nr = oh * wq_row
    nblk = (nr + STEP_BLOCK - 1) // STEP_BLOCK
    ev = np.zeros((nb, ng), dtype=np.int64)
    for job in prange(nb * ng):
        bimg = job // ng
        j = job % ng
        c = c0 + j
        base = ((bimg // ipr) * jp + j) * rp + (bimg % ipr) * img_stride
        cj = corr[j]
        b = np.int64(bias[c])
        p0 = np.int64(pre[c])
        s = np.int64(scale[c])
        p1 = np.int64(post[c])
        wrow = wmat[c]
        a0, e_b = _acc_step(b, alo, ahi, wrap)
        buf = np.empty(STEP_BLOCK, dtype=np.int32)
        evbuf = np.empty(STEP_BLOCK, dtype=np.int32)
        cnt = np.int64(0)
        xbase0 = bimg * img_words
        for blk in range(nblk):
            r0 = blk * STEP_BLOCK
            r1 = min(r0 + STEP_BLOCK, nr)
            oy = r0 // wq_row
            ox = r0 - oy * wq_row
            need = False
            for r in range(r0, r1):
                if ox < ow:
                    k = base + oy * row + ox
                    if not _fits(b, _wrap32(np.int64(raw[k]) - cj), np.int64(rawabs[k]), alo, ahi):
                        need = True
                ox += 1
                if ox == wq_row:
                    ox = 0
                    oy += 1
            oy = r0 // wq_row
            ox = r0 - oy * wq_row
            if need:
                nv = (r1 - r0 + 15) // 16
                _step_block(xq, xbase0 + r0, cstride, taps, wrow, nk, a0, alo, ahi, sh, wrap, nv, narrow, buf, evbuf)
                for r in range(r0, r1):
                    if ox < ow:
                        cnt += evbuf[r - r0] + e_b
                        out[n0 + bimg, c, oy, ox] = _requant(np.int64(buf[r - r0]), p0, s, p1, lo, hi)
                    ox += 1
                    if ox == wq_row:
                        ox = 0
                        oy += 1
            else:
                for r in range(r0, r1):
                    if ox < ow:
                        v = _wrap32(np.int64(raw[base + oy * row + ox]) - cj) + b
                        out[n0 + bimg, c, oy, ox] = _requant(v, p0, s, p1, lo, hi)
                    ox += 1
                    if ox == wq_row:
                        ox = 0
                        oy += 1
        ev[bimg, j] = cnt
    return ev


@njit(cache=True, parallel=True)
def _fill_phases(x, n0, nb, c0, cg, sh, sw, pt, pl, hq, wq, flat):
    """``flat[((i*cg + ci)*sh*sw + py*sw + px)*hq*wq + u*wq + v] = xpad[n0+i, c0+ci, u*sh+py, v*sw+px]``."""
    h = x.shape[2]
    wd = x.shape[3]
    for job in prange(nb * cg):
        i = job // cg
        ci = job % cg
        src = x[n0 + i, c0 + ci]
        for py in range(sh):
            for px in range(sw):
                base = (job * sh * sw + py * sw + px) * hq * wq
                # columns v whose input column v*sw + px - pl lies inside [0, wd)
                v_lo = min(max(0, -((px - pl) // sw)), wq)
                v_hi = max(min(wq, (wd - 1 - px + pl) // sw + 1), v_lo)
                for u in range(hq):
                    row = base + u * wq
                    iy = u * sh + py - pt
                    if iy < 0 or iy >= h:
                        flat[row:row + wq] = 0
                        continue
                    flat[row:row + v_lo] = 0
                    flat[row + v_hi:row + wq] = 0
                    srow = src[iy]
                    t = px - pl
                    if sw == 1:
                        for v in range(v_lo, v_hi):
                            flat[row + v] = srow[v + t]
                    else:
                        for v in range(v_lo, v_hi):
                            flat[row + v] = srow[v * sw + t]


def phase_planes(x, n0, nb, c0, cg, sh, sw, pt, pl, pb, pr, dh, dw, kh, kw):
    """Zero-padded input planes split into stride phases, flat int32 with slack, and tap offsets.

    ``xq[i, ci, py, px, u, v] = xpad[n0+i, c0+ci, u*sh + py, v*sw + px]`` (zero outside the
    input) so that output ``(oy, ox)``'s tap ``(ky, kx)`` reads word ``r + taps[ky*kw + kx]``
    of its channel's block with ``r = oy*Wq + ox``: consecutive outputs read consecutive words
    for any stride. Returns ``(xq_flat, img_words, cstride, wq_row, taps)``.
    """
    n, c, h, wd = x.shape
    hp, wp = h + pt + pb, wd + pl + pr
    hq, wq = -(-hp // sh), -(-wp // sw)
    cstride = sh * sw * hq * wq
    body = nb * cg * cstride
    flat = np.empty(body + 2 * STEP_BLOCK + wq * (kh * dh // sh + 2), dtype=np.int32)
    flat[body:] = 0
    _fill_phases(x, n0, nb, c0, cg, sh, sw, pt, pl, hq, wq, flat[:body])
    taps = np.empty(kh * kw, dtype=np.int64)
    for ky in range(kh):
        for kx in range(kw):
            py, px = (ky * dh) % sh, (kx * dw) % sw
            taps[ky * kw + kx] = (py * sw + px) * hq * wq + ((ky * dh) // sh) * wq + (kx * dw) // sw
    return flat, cg * cstride, cstride, wq, taps


# --------------------------------------------------------------------------- driver

_CHUNK_BYTES = 1 << 23
"""Bound on one chunk's packed activations plus raw sums, bytes (whole images, at least one)."""
_PLANE_MIN = 128
"""Padded planes (Hp x Wp) from which a stride-1 kernel runs on the plane instead of im2col
(below it the plane's padding columns cost more than the im2col copy: ResNet-50's 512->512 3x3
layer on 7x7, padded 9x9, 2.5 against 3.1 ms/img on one thread)."""


_SCRATCH = threading.local()

HUGE_PAGE_BYTES = 2 << 20
"""Size of an x86-64 transparent huge page (the unit :func:`huge_empty` aligns to)."""


def huge_empty(nbytes: int) -> np.ndarray:
    """An uninitialised uint8 array of *nbytes* in memory that Linux may back with 2 MiB pages.

    The kernels read packed activations and store accumulator strips with row strides of
    tens of KiB: with 4 KiB pages nearly every row of a tile is another TLB entry, and the page
    walks (two-level under a hypervisor) cost more than the tile products. The array is an
    anonymous mapping aligned to :data:`HUGE_PAGE_BYTES` and advised ``MADV_HUGEPAGE``, which
    takes effect when transparent huge pages are enabled as ``madvise`` or ``always``; elsewhere
    (or where the advice is refused) it is ordinary memory with the same contents and
    semantics. The mapping lives as long as the returned array (or a view of it).
    """
    import mmap

    nbytes = max(int(nbytes), 1)
    advise = getattr(mmap, "MADV_HUGEPAGE", None)
    if advise is None or nbytes < HUGE_PAGE_BYTES // 2 or not hasattr(mmap, "MAP_ANONYMOUS"):
        return np.empty(nbytes, dtype=np.uint8)
    size = -(-nbytes // HUGE_PAGE_BYTES) * HUGE_PAGE_BYTES + HUGE_PAGE_BYTES
    region = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    whole = np.frombuffer(region, dtype=np.uint8)
    start = -whole.ctypes.data % HUGE_PAGE_BYTES
    try:
        region.madvise(advise, start, size - HUGE_PAGE_BYTES)
    except OSError:  # pragma: no cover - kernel without transparent huge pages: plain pages
        pass
    return whole[start:start + nbytes]


def _scratch(slot: str, shape, dtype) -> np.ndarray:
    """A reused per-thread work array in huge-page memory (:func:`huge_empty`; fresh large arrays
    would cost a page fault per page on every call). It grows by at least half when too small, so
    a network's growing layers reallocate it only a few times."""
    nbytes = math.prod(shape) * np.dtype(dtype).itemsize
    buf = getattr(_SCRATCH, slot, None)
    if buf is None or buf.size < nbytes:
        buf = huge_empty(max(nbytes, 3 * (0 if buf is None else buf.size) // 2))
        setattr(_SCRATCH, slot, buf)
    return buf[:nbytes].view(dtype).reshape(shape)


def _ceil(a: int, b: int) -> int:
    return -(-a // b) * b


def conv_codes(x, w, bias, pre, scale, post, lo, hi, stride, padding, dilation, groups, oh, ow,
               sixteen: bool, faithful=None, packed: dict | None = None, step_lanes: bool = False,
               narrow: bool = False, out_dtype=np.int32):
    """Requantized output codes of a (grouped) convolution computed on the integer micro-kernel.

    Parameters
    ----------
    x : int8, int16 or int32 [N, C, H, W] codes; w : int32 [Cout, C/groups, kh, kw] codes; bias, pre, scale,
        post : int64 [Cout]; lo, hi : output code range.
    sixteen : use the 16-bit kernel (codes up to 16 bits) instead of the 8-bit one (activations
        in [-128, 127], weights in [-128, 127]).
    faithful : ``None`` for the exact path, or ``(acc_bits, wrap)``: screen every output with
        its own bound and step the ones that may overflow (:func:`finish_faithful`).
    step_lanes : with *faithful*, step in 32-bit lanes, a block of outputs at a time
        (:func:`finish_faithful_vec`); the caller guarantees
        ``2**(acc_bits-1) + max|x| * max|w| < 2**31`` so that no lane leaves int32.
    narrow : every code of *x* and *w* fits a signed 16-bit half (``|code| <= 32767``), so the
        lane products may use ``vpmaddwd``.
    packed : a dict the caller keeps per layer (weights unchanged between calls); packed
        weights are stored in it on first use and reused.
    out_dtype : integer dtype of the returned codes; must hold ``[lo, hi]``.

    The caller guarantees ``max|x| * max_c sum_k |w_{c,k}| < 2**31`` (module docstring).

    Returns
    -------
    (out, events) : *out_dtype* [N, Cout, oh, ow] codes and the overflow events (0 on the exact path).
    """
    n, c, h, wd = x.shape
    c_out, cg, kh, kw = w.shape
    sh, sw = stride
    pt, pl, pb, pr = padding
    dh, dw = dilation
    ng = c_out // groups
    jp = _ceil(ng, NR)
    per = 2 if sixteen else 4
    adt = np.int16 if sixteen else np.uint8
    bdt = np.int16 if sixteen else np.int8
    hp, wp = h + pt + pb, wd + pl + pr
    plane = (sh, sw) == (1, 1) and kh * kw > 1 and hp * wp >= _PLANE_MIN
    out = np.empty((n, c_out, oh, ow), dtype=out_dtype)
    events = 0
    screen = faithful is not None
    acc_bits, wrap = faithful if screen else (32, False)
    wmat = w.reshape(c_out, -1) if step_lanes else None
    nq = -(-cg // per)
    # im2col with many output channels and a short reduction: channel block outer keeps the
    # stores sequential; else pixel block outer keeps one packed-activation block in cache for
    # every channel block (measured on ResNet-50's 1x1 and strided layers)
    j_outer = not plane and jp > 4 * kh * kw * nq
    for g in range(groups):
        c0 = g * ng
        xc0 = g * cg
        b = np.empty((jp // NR, kh * kw, nq, NR, per), dtype=bdt)
        if plane:
            toff = np.array([ky * dh * wp + kx * dw for ky in range(kh) for kx in range(kw)], dtype=np.int64)
            rp = _ceil(oh * wp, MR)
            qstride = rp + int(toff.max())
            per_img = (nq * qstride + (jp * rp if screen else 0)) * 4
        else:
            per_img = (kh * kw * nq + (jp if screen else 0)) * oh * ow * 4
        key = (sixteen, screen, g)
        if packed is not None and key in packed:
            b, babs, corr = packed[key]
        else:
            pack_weights(w, c0, ng, per, False, b)
            if sixteen:
                corr = np.zeros(jp, dtype=np.int64)
            else:
                corr = 128 * b.sum(axis=(1, 2, 4), dtype=np.int64).reshape(jp)
            babs = None
            if screen:
                babs = np.empty_like(b)
                pack_weights(w, c0, ng, per, True, babs)
            if packed is not None:
                packed[key] = (b, babs, corr)
        imgs = max(1, _CHUNK_BYTES // max(per_img, 1))
        for n0 in range(0, n, imgs):
            nb = min(imgs, n - n0)
            if plane:
                a = _scratch("a", (nb, nq, qstride), np.int32)
                pack_plane(x, n0, xc0, cg, pt, pl, hp, wp, qstride, per, False, a)
                n_raw, ipr, img_stride, row, a_img = nb, 1, 0, wp, nq * qstride
            else:
                rp = _ceil(nb * oh * ow, MR)
                qstride = rp
                toff = np.arange(kh * kw, dtype=np.int64) * (nq * rp)
                a = _scratch("a", (kh * kw, nq, rp), np.int32)
                pack_cols(x, n0, nb, xc0, cg, kh, kw, sh, sw, pt, pl, dh, dw, oh, ow, per, False, a)
                n_raw, ipr, img_stride, row, a_img = 1, nb, oh * ow, ow, 0
            if not screen:
                spx = strip_pixels(nq, len(toff) if not plane else 1)
                strips = _scratch("strips", (numba.config.NUMBA_NUM_THREADS, NR * (spx + LANES)), np.int32)
                gemm_requant(a.reshape(-1).view(adt), b.reshape(-1), toff, nq, qstride, jp, rp, n_raw, a_img, ipr,
                             img_stride, row, corr, bias, pre, scale, post, lo, hi, out, n0, c0, ng, spx, strips)
                continue
            raw = _scratch("raw", (n_raw * jp * rp,), np.int32)
            gemm_raw(a.reshape(-1).view(adt), b.reshape(-1), toff, nq, qstride, jp, rp, n_raw, a_img, raw, j_outer)
            if plane:
                pack_plane(x, n0, xc0, cg, pt, pl, hp, wp, qstride, per, True, a)
            else:
                pack_cols(x, n0, nb, xc0, cg, kh, kw, sh, sw, pt, pl, dh, dw, oh, ow, per, True, a)
            rawabs = _scratch("rawabs", raw.shape, np.int32)
            gemm_raw(a.reshape(-1).view(adt), babs.reshape(-1), toff, nq, qstride, jp, rp, n_raw, a_img, rawabs,
                     j_outer)
            if int(np.abs(bias[c0:c0 + ng]).max()) + int(rawabs.max()) < (1 << (acc_bits - 1)):
                # every output of the chunk passes its screen (the padding lanes' bounds are of the
                # same form, so the largest is conservative): no step can overflow, no event
                finish(raw, jp, rp, ipr, img_stride, row, corr, bias, pre, scale, post, lo, hi, out, n0, c0, ng)
                continue
            if step_lanes:
                xq, img_words, cstride, wq_row, taps = phase_planes(x, n0, nb, xc0, cg, sh, sw, pt, pl, pb, pr,
                                                                    dh, dw, kh, kw)
                ev = finish_faithful_vec(raw, rawabs, jp, rp, ipr, img_stride, row, corr, xq, img_words, cstride,
                                         wq_row, taps, wmat, narrow, acc_bits, wrap, bias, pre, scale, post, lo, hi,
                                         out,
                                         n0, c0, ng)
            else:
                ev = finish_faithful(raw, rawabs, jp, rp, ipr, img_stride, row, corr, x.astype(np.int32, copy=False), w,
                                     sh, sw, pt, pl, dh, dw, acc_bits, wrap, bias, pre, scale, post, lo, hi, out, n0,
                                     c0, ng, xc0)
            events += int(ev.sum())
    return out, events
