"""The AMX tile kernels (exact 8-bit path) against numpy int64 and against the other kernels.

Skipped, with the reason, on a machine whose processor or operating system does not offer AMX.
"""

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from numba import njit

from accelsim.datapath import amx, igemm, ops
from accelsim.errors import ConfigError
from tests.datapath.test_kernels import ref_add_requant, ref_conv_acc, ref_requant

pytestmark = pytest.mark.skipif(not amx.supported(),
                                reason="no AMX here (needs Linux, amx-tile and amx-int8, tile permission)")


@st.composite
def amx_case(draw):
    """Convolutions with channel counts off the 4/16/32/64 grid, 8-bit codes at their extremes."""
    groups = draw(st.sampled_from([1, 1, 1, 2]))
    cg = draw(st.sampled_from([1, 3, 4, 5, 16, 17, 33, 64, 70]))
    ng = draw(st.sampled_from([1, 7, 16, 31, 32, 33, 40]))
    k = draw(st.sampled_from([1, 1, 3, 3, 2, 7]))
    kh, kw = k, draw(st.sampled_from([k, k, 1]))
    stride = draw(st.sampled_from([(1, 1), (1, 1), (2, 2), (1, 2)]))
    dil = draw(st.sampled_from([(1, 1), (1, 1), (2, 1)]))
    pad = tuple(draw(st.integers(0, 3)) for _ in range(4))
    h, wd = draw(st.integers(1, 14)), draw(st.integers(1, 14))
    assume(h + pad[0] + pad[2] >= dil[0] * (kh - 1) + 1 and wd + pad[1] + pad[3] >= dil[1] * (kw - 1) + 1)
    n = draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    xlo = draw(st.sampled_from([-128, 0]))  # signed, or a non-negative (post-ReLU) input
    x = rng.integers(xlo, 128, (n, groups * cg, h, wd))
    w = rng.integers(-128, 128, (groups * ng, cg, kh, kw))
    if draw(st.booleans()):  # corners: largest codes of both signs
        x.flat[:: max(1, x.size // 7)] = 127
        x.flat[1:: max(1, x.size // 5)] = xlo
        w.flat[:: max(1, w.size // 5)] = -128
        w.flat[1:: max(1, w.size // 3)] = 127
    co = groups * ng
    return dict(x=x.astype(np.int8), w=w.astype(np.int32), bias=rng.integers(-2 ** 20, 2 ** 20, co),
                pre=rng.integers(0, 4, co), scale=rng.integers(1, 256, co), post=rng.integers(4, 20, co),
                stride=stride, pad=pad, dil=dil, groups=groups,
                out_range=draw(st.sampled_from([(-128, 127), (0, 127), (-2 ** 15, 2 ** 15 - 1), (-2 ** 31, 2 ** 31 - 1)])))


def _ref(case, lo, hi):
    acc = ref_conv_acc(case["x"].astype(np.int64), case["w"], case["bias"], case["stride"], case["pad"],
                       case["dil"], case["groups"])
    return ref_requant(acc, case["pre"], case["scale"], case["post"], lo, hi)


LAYOUTS = pytest.mark.parametrize("plane", [True, False], ids=["plane", "im2col"])
"""Every stride-1 multi-tap layer on the padded plane, then every layer on im2col."""


@LAYOUTS
@settings(max_examples=30, deadline=None)
@given(case=amx_case())
def test_amx_conv_matches_int64(plane, case):
    x, w = case["x"], case["w"]
    n, c, h, wd = x.shape
    oh, ow = ops.conv_out_hw(h, wd, w.shape[2:], case["stride"], case["pad"], case["dil"])
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(igemm, "_PLANE_MIN", 0 if plane else 1 << 30)
        mp.setattr(amx, "PLANE_K_WASTE", float("inf"))
        lo, hi = case["out_range"]
        out, fused = amx.conv_codes(x, w, case["bias"], case["pre"], case["scale"], case["post"], lo, hi,
                                    case["stride"], case["pad"], case["dil"], case["groups"], oh, ow, {},
                                    ops.code_dtype(lo, hi))
    assert not fused
    np.testing.assert_array_equal(out, _ref(case, lo, hi))


@settings(max_examples=15, deadline=None)
@given(n=st.integers(1, 5), k=st.sampled_from([1, 3, 63, 64, 65, 200]), m=st.sampled_from([1, 10, 32, 33, 100]),
       seed=st.integers(0, 2 ** 32 - 1))
def test_fully_connected_on_amx_matches_int64(n, k, m, seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(-127, 128, (n, k))
    w = rng.integers(-127, 128, (m, k))
    bias = rng.integers(-1000, 1000, m)
    res = ops.gemm(x, w, bias, 0, 1, 0, lo=-2 ** 31, hi=2 ** 31 - 1)
    assert res.path == "int8"
    np.testing.assert_array_equal(res.out.reshape(n, m), x @ w.T + bias)


def test_layers_equal_with_and_without_amx(monkeypatch):
    """ResNet-style layers (plane 3x3, 1x1, strided, stem-like, multi-image 7x7) give the same
    codes on AMX as on the register micro-kernel (ACCELSIM_AMX=0), both equal to int64."""
    rng = np.random.default_rng(7)
    for c, co, h, k, s in [(64, 64, 20, 3, 1), (96, 40, 9, 1, 1), (32, 48, 15, 3, 2), (3, 16, 30, 7, 2),
                           (128, 64, 7, 3, 1)]:
        x = rng.integers(-127, 128, (3, c, h, h)).astype(np.int8)
        w = rng.integers(-127, 128, (co, c, k, k))
        bias, pre, scale, post = rng.integers(-5000, 5000, co), 2, rng.integers(100, 256, co), 14
        kw = dict(lo=-127, hi=127, stride=(s, s), padding=(k // 2,) * 4)
        got = {}
        for env in ("1", "0"):
            monkeypatch.setenv("ACCELSIM_AMX", env)
            assert amx.available() == (env == "1")
            got[env] = ops.conv(x, w, bias, pre, scale, post, packed={}, **kw)
            assert got[env].path == "int8"
        ref = ops.conv(x, w, bias, pre, scale, post, path="int64", **kw).out
        np.testing.assert_array_equal(got["1"].out, ref)
        np.testing.assert_array_equal(got["0"].out, ref)


def test_weight_panels_layout():
    """Hand-checked positions of :func:`amx.pack_weights`: channel 33, tap 1, input channel 5."""
    w = np.zeros((40, 6, 1, 2), np.int32)
    w[33, 5, 0, 1] = 9
    per_tap = amx.pack_weights(w, 0, 40, 2, 1, False)  # [jb, tap, k-step, half, row, byte]
    assert per_tap.shape == (2, 2, 1, 2, 16, 64)
    assert per_tap[1, 1, 0, 0, 1, 4 * 1 + 1] == 9 and np.count_nonzero(per_tap) == 1
    flat = amx.pack_weights(w, 0, 40, 1, 1, True)  # k-group q = t*2 + 5//4 = 3
    assert flat[1, 0, 0, 0, 1, 4 * 3 + 1] == 9 and np.count_nonzero(flat) == 1


@njit
def _run32(src, dst, cw, b, p0, s, p1, lo, hi):
    igemm._requant_run32(src, dst, dst.size, cw, b, p0, s, p1, lo, hi)


@settings(max_examples=40, deadline=None)
@given(bound=st.integers(0, 2 ** 31 - 1), bias=st.integers(-2 ** 31, 2 ** 31), pre=st.integers(0, 31),
       scale=st.integers(0, 2 ** 31), post=st.integers(0, 31), n=st.integers(1, 40), seed=st.integers(0, 2 ** 32 - 1))
def test_int32_lane_requant_equals_int64_when_bound_holds(bound, bias, pre, scale, post, n, seed):
    """The epilogue's 32-bit lanes (:func:`igemm._requant_run32`) give the int64 requantization's
    codes whenever :func:`igemm.requant_fits_int32` accepts the bound, extremes included."""
    lo, hi = -128, 127
    fits = igemm.requant_fits_int32(np.array([bound]), np.array([bias]), np.array([pre]), np.array([scale]),
                                    np.array([post]), lo, hi)
    assume(fits)
    rng = np.random.default_rng(seed)
    sums = rng.integers(-bound, bound + 1, n)
    sums[:: 3] = bound
    sums[1:: 3] = -bound
    corr = int(rng.integers(-2 ** 40, 2 ** 40))
    raw = ((sums + corr + 2 ** 31) % 2 ** 32 - 2 ** 31).astype(np.int32)  # the tiles' sums carry +corr mod 2**32
    dst = np.full(n + 20, 99, np.int8)[:n]  # the tail's masked store must leave dst's neighbours alone
    _run32(np.concatenate([raw, np.zeros(15, np.int32)]), dst, np.int64(-corr), np.int64(bias), np.int64(pre), np.int64(scale), np.int64(post), lo, hi)
    assert (dst.base[n:] == 99).all()
    np.testing.assert_array_equal(dst, ref_requant(sums + bias, np.array([pre]), np.array([scale]), np.array([post]),
                                                   lo, hi).reshape(-1))


def test_int32_lane_bound_refuses_overflowing_parameters():
    one = np.array([1])
    fits = igemm.requant_fits_int32
    assert fits(np.array([2 ** 30]), np.array([2 ** 30 - 2]), 0 * one, one, 0 * one, -128, 127)
    assert not fits(np.array([2 ** 30]), np.array([2 ** 30 - 1]), 0 * one, one, 0 * one, -128, 127)  # T*s = 2**31-1
    assert not fits(np.array([2 ** 20]), 0 * one, 0 * one, 2 ** 11 * one, 0 * one, -128, 127)
    assert fits(np.array([2 ** 20 + 1]), 0 * one, 10 * one, 2 ** 20 * one, 31 * one, -128, 127)  # T = 1025
    assert not fits(one, 0 * one, 0 * one, one, 32 * one, -128, 127)
    # the pre-shift's rounding constant (2**6 for pre 7) is added to the sum: it must fit too
    assert fits(np.array([2 ** 31 - 1 - 64]), 0 * one, 7 * one, one, 0 * one, -128, 127)
    assert not fits(np.array([2 ** 31 - 64]), 0 * one, 7 * one, one, 0 * one, -128, 127)
    assert fits(np.array([2 ** 31 - 64]), 0 * one, 7 * one, one, 0 * one, -128, 127, pre_add=False)
    assert not fits(one, 0 * one, 0 * one, one, 0 * one, -2 ** 31 - 1, 127)


@pytest.mark.parametrize("value, on", [("1", True), ("On", True), (" yes ", True), ("0", False), ("off", False),
                                       ("FALSE", False), ("no", False)])
def test_env_switch_values(monkeypatch, value, on):
    monkeypatch.setenv("ACCELSIM_AMX", value)
    assert amx.enabled_by_env() is on


def test_env_switch_rejects_a_misspelt_value(monkeypatch):
    """A value that is neither on nor off is one clear error naming the variable and the valid
    values, not a silent default (``ACCELSIM_AMX=of`` must not leave AMX on)."""
    monkeypatch.setenv("ACCELSIM_AMX", "of")
    with pytest.raises(ConfigError, match=r"ACCELSIM_AMX='of': expected one of 1, on, true, yes .* or 0, off, false, no"):
        amx.available()


@st.composite
def add_params(draw, c):
    """Per-channel (pre, scale, post) of one add input, as calibration makes them (small
    pre-shifts, scales below 2**8, post shifts 6-14), or one value for every channel."""
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    n = c if draw(st.booleans()) else 1
    p = (rng.integers(0, 3, n), rng.integers(1, 256, n), rng.integers(6, 15, n))
    return tuple(np.broadcast_to(v, c).astype(np.int64) for v in p)


@settings(max_examples=25, deadline=None)
@given(case=amx_case(), data=st.data())
def test_residual_add_in_the_amx_epilogue_matches_int64(case, data):
    """A convolution with the add that follows it computed in its epilogue equals the int64
    convolution, clipped, then the add in exact rationals; the layer's own codes never exist."""
    x, w = case["x"], case["w"]
    n, c, h, wd = x.shape
    co = w.shape[0]
    oh, ow = ops.conv_out_hw(h, wd, w.shape[2:], case["stride"], case["pad"], case["dil"])
    lo, hi = data.draw(st.sampled_from([(-128, 127), (0, 127)]))
    alo, ahi = data.draw(st.sampled_from([(-128, 127), (0, 127), (-2 ** 15, 2 ** 15 - 1)]))
    skip_bits = data.draw(st.sampled_from([8, 16]))
    rng = np.random.default_rng(data.draw(st.integers(0, 2 ** 32 - 1)))
    m = 2 ** (skip_bits - 1)
    skip = rng.integers(-m, m, (n, co, oh, ow)).astype(ops.code_dtype(-m, m - 1))
    skip.flat[:: max(1, skip.size // 5)] = -m
    p_layer, p_skip = data.draw(add_params(co)), data.draw(add_params(co))
    table = ops.residual_params((max(-lo, hi), m), p_layer, p_skip)
    assume(table is not None)
    out, fused = amx.conv_codes(x, w, case["bias"], case["pre"], case["scale"], case["post"], lo, hi,
                                case["stride"], case["pad"], case["dil"], case["groups"], oh, ow, {},
                                ops.code_dtype(lo, hi), residual=(skip, table, alo, ahi, ops.code_dtype(alo, ahi)))
    conv = _ref(case, lo, hi)
    assert fused == igemm.requant_fits_int32(128 * ops.weight_l1(w), case["bias"], case["pre"], case["scale"],
                                             case["post"], lo, hi)
    if fused:
        assert out.dtype == ops.code_dtype(alo, ahi)
        np.testing.assert_array_equal(out, ref_add_requant(conv, skip, p_layer, p_skip, alo, ahi))
    else:
        np.testing.assert_array_equal(out, conv)


def test_residual_add_fuses_on_a_resnet_bottleneck_shape():
    """The case networks have (1x1 conv, 8-bit codes, ReLU after the add) is fused, both on the
    plane and im2col layouts, and gives the reference codes."""
    rng = np.random.default_rng(3)
    x = rng.integers(0, 128, (2, 40, 9, 9)).astype(np.int8)
    w = rng.integers(-127, 128, (72, 40, 1, 1))
    bias, pre, scale, post = rng.integers(-3000, 3000, 72), np.full(72, 1), rng.integers(100, 256, 72), np.full(72, 14)
    skip = rng.integers(0, 128, (2, 72, 9, 9)).astype(np.int8)
    p_layer = (np.zeros(72, np.int64), rng.integers(1, 200, 72), np.full(72, 8))
    p_skip = (np.ones(72, np.int64), rng.integers(1, 200, 72), np.full(72, 7))
    table = ops.residual_params((128, 127), p_layer, p_skip)
    res = ops.conv(x, w, bias, pre, scale, post, lo=-128, hi=127,
                   residual=ops.Residual(skip, table, 0, 127))
    assert res.fused and res.path == "int8"
    conv = ref_requant(ref_conv_acc(x.astype(np.int64), w, bias, (1, 1), (0, 0, 0, 0), (1, 1), 1), pre, scale, post,
                       -128, 127)
    np.testing.assert_array_equal(res.out, ref_add_requant(conv, skip, p_layer, p_skip, 0, 127))
