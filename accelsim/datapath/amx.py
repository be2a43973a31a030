"""Exact 8-bit convolutions on Intel AMX tiles (Advanced Matrix Extensions, ``amx-int8``).

Processors with AMX (Xeon Sapphire Rapids and later) hold eight tile registers of 16 rows x 64
bytes and multiply them with one instruction: ``tdpbsud C, A, B`` adds to each int32 element

    C[m][n] += sum_{k<16} sum_{e<4} s8 A[m][4k+e] * u8 B[k][4n+e]

(16 x 16 x 64 = 16384 byte products per instruction, modulo ``2**32``, never saturating). The
exact 8-bit path of :func:`accelsim.datapath.ops.conv` runs here when the processor and the
operating system allow AMX (:func:`available`); everything else (the faithful path, 16-bit codes,
depthwise layers, other processors) keeps :mod:`accelsim.datapath.igemm`'s kernels.

Operands
--------
The weights are ``A`` (rows = output channels, signed bytes), the activations ``B``: exactly
:mod:`accelsim.datapath.igemm`'s packed activation words (four input channels of one pixel
offset to unsigned bytes ``x + 128``, one row of words per k-group ``q`` at word ``q*qstride``),
so a ``B`` tile is 16 k-groups x 16 consecutive virtual pixels read with row stride
``4*qstride`` bytes, and the accumulators ``C`` come out channel-major, 16 pixels per row, as the
NCHW output wants them. The offset is removed as in the micro-kernel (``sum x w = sum u w - 128
sum w``), and the same bound (``max|x| * max_c sum_k |w_{c,k}| < 2**31``) makes every lane the
exact sum: the module docstring of :mod:`accelsim.datapath.igemm` carries over unchanged.

A stride-1 convolution whose padded input plane is large reads the plane itself, one pointer
offset per kernel tap (no im2col); every other layer reads a per-tap im2col pack (every image of
the batch side by side, so 7 x 7 planes still fill the 16-pixel tiles) whose taps and k-groups form
one reduction. Reductions are padded to whole 16-k-group steps with zero weights (a zero weight
adds 0 whatever the activation) and channels to blocks of 32.

A micro-kernel step computes 32 channels x 32 pixels in four accumulator tiles (tiles 0-3; weights
in 4-5, activations in 6-7): each loaded tile serves two products. Every worker thread loads the
tile configuration at the start of each job.

Dispatch
--------
:func:`available` is true on Linux when the processor Numba compiles for has ``amx-tile`` and
``amx-int8`` (the host, or ``NUMBA_CPU_NAME`` / ``NUMBA_CPU_FEATURES`` when set) and the kernel
grants this process the tile data state (``arch_prctl(ARCH_REQ_XCOMP_PERM)``). The environment
variable ``ACCELSIM_AMX=0`` turns the AMX path off (to compare, or to test the other kernels).
The AMX kernels are separate Numba functions, compiled only when first used, so no AMX
instruction is ever compiled for a target without it; Numba's on-disk cache is keyed by the
target processor and features, so a cached AMX kernel is never loaded on another host.
"""

from __future__ import annotations

import os
import sys

import numba
import numpy as np
from llvmlite import ir
from numba import get_thread_id, njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic

from accelsim.datapath import igemm
from accelsim.errors import ConfigError

TILE_CH = 32
"""Output channels per micro-kernel step (two 16-row weight tiles)."""
TILE_PX = 32
"""Virtual pixels per micro-kernel step (two 16-column activation tiles)."""
KSTEP = 16
"""k-groups (of four input channels) per tile product: 64 bytes of a tile row."""

PLANE_K_WASTE = 1.25
"""A stride-1 layer reads the padded plane (taps as pointer offsets; each tap's reduction padded
to whole k-steps) when that costs at most this many times the k-steps of one flat im2col
reduction (else few input channels would pad every tap to 64 bytes)."""

_I8 = ir.IntType(8)
_I64 = ir.IntType(64)
_PTR = _I8.as_pointer()

_ARCH_REQ_XCOMP_PERM = 0x1023
_XFEATURE_XTILEDATA = 18
_SYS_ARCH_PRCTL = 158  # x86-64


def _request_tile_permission() -> bool:
    """Ask Linux for the AMX tile data state for this process (needed before any tile op)."""
    import ctypes
    import platform

    if platform.machine() not in ("x86_64", "AMD64"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.syscall(_SYS_ARCH_PRCTL, _ARCH_REQ_XCOMP_PERM, _XFEATURE_XTILEDATA) == 0
    except (OSError, AttributeError):  # pragma: no cover - no libc syscall()
        return False


_SUPPORTED: bool | None = None


def supported() -> bool:
    """True when this process can run the AMX kernels: Linux, a target with ``amx-tile`` and
    ``amx-int8``, and the tile data permission granted (requested once per process, here)."""
    global _SUPPORTED
    if _SUPPORTED is None:
        _SUPPORTED = (sys.platform.startswith("linux") and igemm.target_has("amx-tile", "amx-int8")
                      and _request_tile_permission())
    return _SUPPORTED


_ENV_ON = ("1", "on", "true", "yes")
_ENV_OFF = ("0", "off", "false", "no")


def enabled_by_env() -> bool:
    """False when the environment variable ``ACCELSIM_AMX`` is ``0``, ``off``, ``false`` or ``no``;
    true when it is unset, ``1``, ``on``, ``true`` or ``yes``; any other value is a
    :class:`~accelsim.errors.ConfigError` (a misspelt switch must not silently leave AMX on)."""
    value = os.environ.get("ACCELSIM_AMX", "1").strip().lower()
    if value not in _ENV_ON + _ENV_OFF:
        raise ConfigError(f"environment variable ACCELSIM_AMX={os.environ['ACCELSIM_AMX']!r}: expected one of "
                          f"{', '.join(_ENV_ON)} (AMX tiles where available) or {', '.join(_ENV_OFF)} (register kernel)")
    return value in _ENV_ON


def available() -> bool:
    """True when the exact 8-bit path should run on AMX here: :func:`supported` and not turned
    off by ``ACCELSIM_AMX``."""
    return enabled_by_env() and supported()


# --------------------------------------------------------------------------- tile intrinsics


def _fn(builder, name, args):
    return cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), args), name)


def _byte_ptr(context, builder, aty, arr, offset):
    data = context.make_array(aty)(context, builder, arr).data
    return builder.gep(builder.bitcast(data, _PTR), [offset])


def tile_config() -> np.ndarray:
    """The 64-byte tile configuration: palette 1, tiles 0-7 of 16 rows x 64 bytes."""
    cfg = np.zeros(64, dtype=np.uint8)
    cfg[0] = 1
    cfg[16:32].view(np.uint16)[:] = 64  # colsb of tiles 0..7
    cfg[48:56] = 16  # rows of tiles 0..7
    return cfg


_CFG = tile_config()


@intrinsic
def load_tile_config(typingctx, cfg):
    """``ldtilecfg`` from the 64 bytes of *cfg* (uint8 array)."""
    def codegen(context, builder, sig, args):
        builder.call(_fn(builder, "llvm.x86.ldtilecfg", [_PTR]), [_byte_ptr(context, builder, sig.args[0], args[0],
                                                                             ir.Constant(_I64, 0))])
        return context.get_dummy_value()

    return types.void(cfg), codegen


@intrinsic
def release_tiles(typingctx):
    """``tilerelease``: back to the initial state (nothing to save on a context switch)."""
    def codegen(context, builder, sig, args):
        builder.call(_fn(builder, "llvm.x86.tilerelease", []), [])
        return context.get_dummy_value()

    return types.void(), codegen


@intrinsic
def tile_block(typingctx, w, wbase, act, abase, lda, toff, ns, u0, u1, acc, cbase, ldc, accumulate):
    """32 channels x 32 virtual pixels of int32 sums, into *acc* (byte offsets, row strides).

    Reduction steps ``u`` in ``[u0, u1)``: tap ``t = u // ns``, k-step ``s = u % ns``; the
    weight tiles (channels 0-15 and 16-31) are the 2 KiB at ``w + wbase + 2048*u`` (two 16 x 64
    tiles, row stride 64), the activation tiles (pixels 0-15 and 16-31) start at
    ``act + abase + toff[t] + 16*s*lda`` and 64 bytes further, row stride *lda*. The four
    accumulator tiles start at zero, or with *accumulate* from *acc*; they are stored to *acc*
    at ``cbase + ch*ldc + 4*px`` for channel row ``ch < 32`` and pixel ``px < 32``.
    """
    i64 = types.int64
    sig = types.void(w, i64, act, i64, i64, toff, i64, i64, i64, acc, i64, i64, types.boolean)

    def codegen(context, builder, signature, args):
        w_, wbase_, a_, abase_, lda_, toff_, ns_, u0_, u1_, c_, cbase_, ldc_, accum_ = args
        k = lambda v: ir.Constant(_I64, v)  # noqa: E731
        t = lambda v: ir.Constant(_I8, v)  # noqa: E731
        wp = _byte_ptr(context, builder, signature.args[0], w_, wbase_)
        ap = _byte_ptr(context, builder, signature.args[2], a_, abase_)
        cp = _byte_ptr(context, builder, signature.args[9], c_, cbase_)
        tarr = context.make_array(signature.args[5])(context, builder, toff_)
        tdata = tarr.data
        load = _fn(builder, "llvm.x86.tileloadd64", [_I8, _PTR, _I64])
        store = _fn(builder, "llvm.x86.tilestored64", [_I8, _PTR, _I64])
        zero = _fn(builder, "llvm.x86.tilezero", [_I8])
        dp = _fn(builder, "llvm.x86.tdpbsud", [_I8, _I8, _I8])
        cps = [[builder.gep(cp, [builder.add(builder.mul(k(16 * i), ldc_), k(64 * j))]) for j in range(2)]
               for i in range(2)]
        with builder.if_else(accum_) as (then, otherwise):
            with then:
                for i in range(2):
                    for j in range(2):
                        builder.call(load, [t(2 * i + j), cps[i][j], ldc_])
            with otherwise:
                for i in range(4):
                    builder.call(zero, [t(i)])
        count = builder.sub(u1_, u0_)
        # (tap, k-step) stepped along with u: one division before the loop, none per step
        tap0 = builder.sdiv(u0_, ns_)
        tap_p = cgutils.alloca_once_value(builder, tap0)
        s_p = cgutils.alloca_once_value(builder, builder.sub(u0_, builder.mul(tap0, ns_)))
        with cgutils.for_range(builder, count) as loop:
            u = builder.add(u0_, loop.index)
            tap = builder.load(tap_p)
            s = builder.load(s_p)
            s1 = builder.add(s, k(1))
            wrap = builder.icmp_signed("==", s1, ns_)
            builder.store(builder.select(wrap, k(0), s1), s_p)
            builder.store(builder.select(wrap, builder.add(tap, k(1)), tap), tap_p)
            toff_v = builder.load(builder.gep(tdata, [tap]))
            pa = builder.gep(ap, [builder.add(toff_v, builder.mul(s, builder.mul(lda_, k(16))))])
            pw = builder.gep(wp, [builder.mul(u, k(2048))])
            # all four loads, then the products (measured faster than interleaving them)
            builder.call(load, [t(4), pw, k(64)])
            builder.call(load, [t(5), builder.gep(pw, [k(1024)]), k(64)])
            builder.call(load, [t(6), pa, lda_])
            builder.call(load, [t(7), builder.gep(pa, [k(64)]), lda_])
            for i in range(2):
                for j in range(2):
                    builder.call(dp, [t(2 * i + j), t(4 + i), t(6 + j)])
        for i in range(2):
            for j in range(2):
                builder.call(store, [t(2 * i + j), cps[i][j], ldc_])
        return context.get_dummy_value()

    return sig, codegen


# --------------------------------------------------------------------------- kernels


@njit(cache=True, parallel=True, boundscheck=False)
def gemm_requant(a, wp, toff, ns, nu, lda, jp, rp, n_img, a_img, ipr, img_stride, row, corr, bias, pre, scale,
                 post, lo, hi, out, n0, c0, ng, spx, strips, lanes32, skip, fused, alo, ahi):
    """Requantized output codes from the AMX tiles; :func:`accelsim.datapath.igemm.gemm_requant`
    with tile products instead of register tiles.

    A job is one strip of *spx* virtual pixels (a multiple of :data:`TILE_PX`) of raw image ``i``
    and one block of :data:`TILE_CH` channels; its sums go to the running thread's row of *strips*
    (``TILE_CH`` rows of ``srow`` int32), then are requantized into ``out`` as
    :func:`accelsim.datapath.igemm.gemm_requant` does.

    Parameters
    ----------
    a : uint8 packed activations (:func:`accelsim.datapath.igemm.pack_plane` or ``pack_cols``
        words), flat bytes; raw image ``i`` starts at byte ``i * a_img``.
    wp : int8 packed weights (:func:`pack_weights`), ``jp/32`` panels of ``nu * 2048`` bytes.
    toff : int64 byte offset of each tap.  ns : k-steps per tap.  nu : reduction steps (taps x ns).
    lda : bytes between k-groups of ``a`` (4 * qstride).
    jp : channels, a multiple of 32.  rp : virtual pixels per raw image, a multiple of 32 (the
        last strip may be shorter than *spx*).
    ipr, img_stride, row, corr, bias .. hi, out, n0, c0, ng : as
        :func:`accelsim.datapath.igemm.gemm_requant`.
    lanes32 : requantize in 32-bit lanes (the caller checked
        :func:`accelsim.datapath.igemm.requant_fits_int32`).
    skip, fused, alo, ahi : a residual add fused into the epilogue (with *lanes32*; *fused* empty
        for none): see :func:`accelsim.datapath.igemm._requant_strip`.
    """
    n_out, c_out, oh, ow = out.shape
    flat = out.reshape(-1)
    plane_sz = oh * ow
    nj = jp // TILE_CH
    srow = strips.shape[1] // TILE_CH
    ldc = srow * 4
    nsx = (rp + spx - 1) // spx
    panel = nu * 2048
    for job in prange(n_img * nsx * nj):
        i = job // (nsx * nj)
        rem = job % (nsx * nj)
        rb = (rem // nj) * spx
        jb = rem % nj
        j0 = jb * TILE_CH
        re = min(rb + spx, rp)
        strip = strips[get_thread_id()]
        load_tile_config(_CFG)
        for r0 in range(rb, re, TILE_PX):
            tile_block(wp, jb * panel, a, i * a_img + r0 * 4, lda, toff, ns, 0, nu, strip, (r0 - rb) * 4, ldc, False)
        release_tiles()
        igemm._requant_strip(strip, srow, rb, re - rb, i, ipr, img_stride, row, oh, ow, plane_sz, n0, c_out, flat,
                             j0, min(TILE_CH, ng - j0), c0, corr, bias, pre, scale, post, lo, hi, lanes32, skip, fused,
                             alo, ahi)


@njit(cache=True, parallel=True, boundscheck=False)
def gather_cols(planes, nq, plane, wp, kh, kw, sh, sw, dh, dw, nb, oh, ow, a):
    """Per-tap im2col rows from padded word planes: ``a[t*nq + q, i*oh*ow + oy*ow + ox] =
    planes[(i*nq + q)*plane + (oy*sh + ky*dh)*wp + ox*sw + kx*dw]`` for tap ``t = ky*kw + kx``.

    *planes* are :func:`accelsim.datapath.igemm.pack_plane`'s words (flat, ``plane`` words per
    image and k-group, padding included), so every read is inside them: no bounds, one source
    word per word (the four channels are already packed). Columns past ``nb*oh*ow`` are zeroed.
    """
    rp = a.shape[1]
    per_img = oh * ow
    af = a.reshape(-1)
    u = np.uint64
    for job in prange(kh * kw * nq):
        t = job // nq
        q = job % nq
        ky = t // kw
        kx = t % kw
        drow = u(job * rp)
        for i in range(nb):
            base = (i * nq + q) * plane + ky * dh * wp + kx * dw
            for oy in range(oh):
                src = u(base + oy * sh * wp)
                dst = drow + u(i * per_img + oy * ow)
                if sw == 1:
                    for ox in range(u(ow)):
                        af[dst + ox] = planes[src + ox]
                else:
                    for ox in range(u(ow)):
                        af[dst + ox] = planes[src + ox * u(sw)]
        for r in range(u(nb * per_img), u(rp)):
            af[drow + r] = 0


def pack_weights(w, c0: int, ng: int, nt: int, ns: int, flatten: bool) -> np.ndarray:
    """Weights of output channels ``c0 .. c0+ng-1`` as :func:`gemm_requant` reads them.

    int8 [jp/32, nt, ns, 2, 16, 64]: reduction step ``u = t*ns + s``'s two 16 x 64 weight
    tiles (channels ``32*jb + 16*h + row``; byte ``4*g + e`` of a row is k-group ``16*s + g``,
    slot ``e``). Without *flatten* each kernel tap has ``ns`` steps of input channels (zero past
    the group's channels); with *flatten* (one tap) the k-groups run over taps then channels,
    ``q = t*ceil(cg/4) + ci//4``, as :func:`accelsim.datapath.igemm.pack_cols` lays them out.
    Channels past *ng* and k past the end are zero.
    """
    c_out, cg, kh, kw = w.shape
    nq = -(-cg // 4)
    jp = -(-ng // TILE_CH) * TILE_CH
    # [ng, taps, k-groups * 4] in the activations' order, zero-padded channels
    wt = np.zeros((jp, kh * kw, nq * 4), dtype=np.int8)
    wt[:ng, :, :cg] = w[c0:c0 + ng].transpose(0, 2, 3, 1).reshape(ng, kh * kw, cg)
    if flatten:
        wt = wt.reshape(jp, 1, kh * kw * nq * 4)
    kb = ns * KSTEP * 4
    full = np.zeros((jp, nt, kb), dtype=np.int8)
    full[:, :, :wt.shape[2]] = wt
    return np.ascontiguousarray(full.reshape(jp // TILE_CH, 2, 16, nt, ns, 64).transpose(0, 3, 4, 1, 2, 5))


def conv_codes(x, w, bias, pre, scale, post, lo, hi, stride, padding, dilation, groups, oh, ow,
               packed: dict | None = None, out_dtype=np.int32, max_x: int = 128,
               residual: tuple | None = None) -> tuple[np.ndarray, bool]:
    """Requantized output codes of an exact 8-bit convolution on AMX tiles.

    Arguments and guarantee as :func:`accelsim.datapath.igemm.conv_codes` on its exact 8-bit
    path (codes in [-128, 127], ``max|x| * max_c sum_k |w_{c,k}| < 2**31``), which it replaces
    when :func:`available`. *max_x* bounds ``|x|`` (the caller's proof; it decides whether the
    requantization may run in 32-bit lanes). *residual* = ``(skip, table, alo, ahi, add_dtype)``
    asks for a following residual add in the epilogue: *skip* the add's other input (the output's
    shape, C-contiguous), *table* :func:`accelsim.datapath.ops.residual_params`, ``[alo, ahi]``
    the add's code range and *add_dtype* its codes' dtype. It is fused when every channel's
    requantization runs in 32-bit lanes.

    Returns [N, Cout, oh, ow] codes, *out_dtype* (or *add_dtype*: the add's codes, when fused), and
    whether the add was fused.
    """
    if not supported():
        raise RuntimeError("AMX kernels need Linux, a processor with amx-tile and amx-int8, and the tile permission")
    n, c, h, wd = x.shape
    c_out, cg, kh, kw = w.shape
    sh, sw = stride
    pt, pl, pb, pr = padding
    dh, dw = dilation
    ng = c_out // groups
    jp = -(-ng // TILE_CH) * TILE_CH
    nq = -(-cg // 4)
    nt = kh * kw
    hp, wp = h + pt + pb, wd + pl + pr
    ns_tap = -(-nq // KSTEP)
    ns_flat = -(-nt * nq // KSTEP)
    plane = ((sh, sw) == (1, 1) and nt > 1 and hp * wp >= igemm._PLANE_MIN
             and nt * ns_tap <= PLANE_K_WASTE * ns_flat)
    lanes = []
    for g in range(groups):
        c0 = g * ng
        l1key = ("amx_l1", g)
        if packed is not None and l1key in packed:
            l1 = packed[l1key]
        else:
            l1 = np.abs(w[c0:c0 + ng].reshape(ng, -1).astype(np.int64)).sum(axis=1)
            if packed is not None:
                packed[l1key] = l1
        sl = slice(c0, c0 + ng)
        lkey = ("amx_lanes32", g, max_x, lo, hi)
        if packed is not None and lkey in packed:
            lanes.append(packed[lkey])
        else:
            lanes.append(igemm.requant_fits_int32(max_x * l1, bias[sl], pre[sl], scale[sl], post[sl], lo, hi))
            if packed is not None:
                packed[lkey] = lanes[-1]
    fuse = residual is not None and all(lanes)
    skip, fused, alo, ahi, add_dtype = residual if fuse else (None, igemm._NO_RESIDUAL, lo, hi, out_dtype)
    out = np.empty((n, c_out, oh, ow), dtype=add_dtype)
    skip_flat = skip.reshape(-1) if fuse else out.reshape(-1)
    for g in range(groups):
        c0 = g * ng
        lanes32 = lanes[g]
        key = ("amx", plane, g)
        if packed is not None and key in packed:
            wpk, corr = packed[key]
        else:
            wpk = pack_weights(w, c0, ng, nt if plane else 1, ns_tap if plane else ns_flat, not plane)
            corr = np.zeros(jp, dtype=np.int64)
            corr[:ng] = 128 * w[c0:c0 + ng].reshape(ng, -1).sum(axis=1, dtype=np.int64)
            if packed is not None:
                packed[key] = (wpk, corr)
        if plane:
            ns = ns_tap
            toff_px = np.array([ky * dh * wp + kx * dw for ky in range(kh) for kx in range(kw)], dtype=np.int64)
            rp = -(-oh * wp // TILE_PX) * TILE_PX
            qstride = rp + int(toff_px.max())
            per_img = ns * KSTEP * qstride * 4
        else:
            ns = ns_flat
            per_img = ns * KSTEP * oh * ow * 4
        imgs = max(1, igemm._CHUNK_BYTES // max(per_img, 1))
        for n0 in range(0, n, imgs):
            nb = min(imgs, n - n0)
            if plane:
                a = igemm._scratch("a", (nb, ns * KSTEP, qstride), np.int32)
                igemm.pack_plane(x, n0, g * cg, cg, pt, pl, hp, wp, qstride, 4, False, a)
                toff = toff_px * 4
                n_raw, ipr, img_stride, row, a_img = nb, 1, 0, wp, ns * KSTEP * qstride * 4
            else:
                rp = -(-nb * oh * ow // TILE_PX) * TILE_PX
                qstride = rp
                # k-groups past nt*nq (up to whole k-steps) meet zero weights: whatever bytes the
                # scratch holds there add exactly 0, so they are not cleared
                a = igemm._scratch("a", (ns * KSTEP, rp), np.int32)
                if nt == 1:  # one tap: each word read once, straight from the codes
                    igemm.pack_cols(x, n0, nb, g * cg, cg, 1, 1, sh, sw, pt, pl, dh, dw, oh, ow, 4, False,
                                    a[:nq].reshape(1, nq, rp))
                else:  # padded word planes once, then each tap's rows gathered from them
                    planes = igemm._scratch("planes", (nb, nq, hp * wp), np.int32)
                    igemm.pack_plane(x, n0, g * cg, cg, pt, pl, hp, wp, hp * wp, 4, False, planes)
                    gather_cols(planes.reshape(-1), nq, hp * wp, wp, kh, kw, sh, sw, dh, dw, nb, oh, ow, a)
                toff = np.zeros(1, dtype=np.int64)
                n_raw, ipr, img_stride, row, a_img = 1, nb, oh * ow, ow, 0
            spx = strip_pixels(ns * KSTEP, rp)
            srow = spx + 16
            strips = igemm._scratch("amx_strips", (numba.config.NUMBA_NUM_THREADS, TILE_CH * srow), np.int32)
            gemm_requant(a.reshape(-1).view(np.uint8), wpk.reshape(-1), toff, ns, len(toff) * ns if plane else ns,
                         qstride * 4, jp, rp, n_raw, a_img, ipr, img_stride, row, corr, bias, pre, scale, post,
                         lo, hi, out, n0, c0, ng, spx, strips, lanes32, skip_flat, fused, alo, ahi)
    return out, fuse


STRIP_A_BYTES = 1 << 18
"""Packed activations of one AMX strip, bytes (L2-resident across the channel blocks)."""


def strip_pixels(nq: int, rp: int) -> int:
    """Virtual pixels per :func:`gemm_requant` strip: a multiple of :data:`TILE_PX` whose packed
    activations (*nq* words per pixel) fit :data:`STRIP_A_BYTES`, at most *rp*."""
    return min(rp, max(TILE_PX, STRIP_A_BYTES // (4 * nq) // TILE_PX * TILE_PX))
