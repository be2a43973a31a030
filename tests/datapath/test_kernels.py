"""Every MAC kernel and path, bit-exact against numpy int64 / Python-int references written here."""

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from accelsim.datapath import igemm, ops


# ---------------------------------------------------------------- independent references

def ref_round_shift(v, n):
    """floor((v + 2**(n-1)) / 2**n) via floor division, n >= 0 per element."""
    v = np.asarray(v, dtype=np.int64)
    n = np.asarray(n, dtype=np.int64)
    half = np.where(n > 0, 2 ** np.maximum(n - 1, 0), 0)
    return np.floor_divide(v + half, 2 ** n)


def ref_requant(acc, pre, scale, post, lo, hi):
    """acc [N, C, ...]; per-channel params broadcast on axis 1."""
    shape = (1, -1) + (1,) * (acc.ndim - 2)
    pre, scale, post = (np.asarray(p, np.int64).reshape(shape) for p in (pre, scale, post))
    return np.clip(ref_round_shift(ref_round_shift(acc, pre) * scale, post), lo, hi)


def ref_add_requant(x0, x1, p0, p1, lo, hi):
    """The ``add`` rule in exact rationals (Python ints, element by element): floor(v + 1/2) of
    ``v = round_shift(x0, pre0) * scale0 / 2**post0 + (the same for x1)``, clipped; params per
    channel on axis 1."""
    from fractions import Fraction

    x0, x1 = np.asarray(x0, np.int64), np.asarray(x1, np.int64)
    shape = (1, -1) + (1,) * (x0.ndim - 2)
    pr = [[np.broadcast_to(np.asarray(v, np.int64).reshape(shape), x0.shape) for v in p] for p in (p0, p1)]
    a = ref_round_shift(x0, pr[0][0]) * pr[0][1]
    b = ref_round_shift(x1, pr[1][0]) * pr[1][1]
    out = np.empty(x0.shape, np.int64)
    for i in np.ndindex(x0.shape):
        v = Fraction(int(a[i]), 2 ** int(pr[0][2][i])) + Fraction(int(b[i]), 2 ** int(pr[1][2][i]))
        out[i] = min(max((v + Fraction(1, 2)).__floor__(), lo), hi)
    return out


def ref_conv_acc(x, w, bias, stride, pad, dil, groups):
    """Exact int64 bias + sum(x*w) by padding and slicing (no overflow handling)."""
    n, c, h, wd = x.shape
    co, cg, kh, kw = w.shape
    pt, pl, pb, pr = pad
    xp = np.zeros((n, c, h + pt + pb, wd + pl + pr), np.int64)
    xp[:, :, pt:pt + h, pl:pl + wd] = x
    oh = (h + pt + pb - dil[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (wd + pl + pr - dil[1] * (kw - 1) - 1) // stride[1] + 1
    out = np.zeros((n, co, oh, ow), np.int64) + np.asarray(bias, np.int64)[None, :, None, None]
    ng = co // groups
    for g in range(groups):
        for ky in range(kh):
            for kx in range(kw):
                ys, xs = ky * dil[0], kx * dil[1]
                patch = xp[:, g * cg:(g + 1) * cg, ys:ys + stride[0] * (oh - 1) + 1:stride[0],
                           xs:xs + stride[1] * (ow - 1) + 1:stride[1]]
                wk = w[g * ng:(g + 1) * ng, :, ky, kx].astype(np.int64)
                out[:, g * ng:(g + 1) * ng] += np.einsum("nchw,oc->nohw", patch, wk)
    return out


def ref_conv_faithful(x, w, bias, stride, pad, dil, groups, acc_bits, wrap):
    """Python-int accumulator stepping in the documented order: bias, then (c, kh, kw)."""
    n, c, h, wd = x.shape
    co, cg, kh, kw = w.shape
    lo, hi = -2 ** (acc_bits - 1), 2 ** (acc_bits - 1) - 1
    oh = (h + pad[0] + pad[2] - dil[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (wd + pad[1] + pad[3] - dil[1] * (kw - 1) - 1) // stride[1] + 1
    ng = co // groups
    out = np.zeros((n, co, oh, ow), np.int64)
    events = 0

    def fix(s):
        nonlocal events
        if lo <= s <= hi:
            return s
        events += 1
        if wrap:
            return (s - lo) % 2 ** acc_bits + lo
        return hi if s > hi else lo

    for i in range(n):
        for o in range(co):
            g = o // ng
            for oy in range(oh):
                for ox in range(ow):
                    a = fix(int(bias[o]))
                    for ci in range(cg):
                        for ky in range(kh):
                            for kx in range(kw):
                                iy = oy * stride[0] - pad[0] + ky * dil[0]
                                ix = ox * stride[1] - pad[1] + kx * dil[1]
                                if 0 <= iy < h and 0 <= ix < wd:
                                    a = fix(a + int(x[i, g * cg + ci, iy, ix]) * int(w[o, ci, ky, kx]))
                    out[i, o, oy, ox] = a
    return out, events


# ---------------------------------------------------------------- strategies

@st.composite
def conv_case(draw, max_acc_bits=48, min_acc_bits=8):
    groups = draw(st.integers(1, 3))
    cg = draw(st.integers(1, 3))
    ng = draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    sh, sw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    dh, dw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    pad = tuple(draw(st.integers(0, 2)) for _ in range(4))
    h, wd = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    assume(h + pad[0] + pad[2] >= dh * (kh - 1) + 1 and wd + pad[1] + pad[3] >= dw * (kw - 1) + 1)
    n = draw(st.integers(1, 2))
    wb, ab = draw(st.integers(2, 16)), draw(st.integers(2, 16))
    acc_bits = draw(st.integers(min_acc_bits, max_acc_bits))
    seed = draw(st.integers(0, 2 ** 32 - 1))
    rng = np.random.default_rng(seed)
    wq, aq = 2 ** (wb - 1), 2 ** (ab - 1)
    x = rng.integers(-aq + 1, aq, (n, groups * cg, h, wd))
    w = rng.integers(-wq, wq, (groups * ng, cg, kh, kw))
    # extremes on purpose: saturation limits and sign corners
    if draw(st.booleans()):
        x.flat[0] = aq - 1
        w.flat[0] = -wq
    bias = rng.integers(-2 ** min(acc_bits - 2, 30), 2 ** min(acc_bits - 2, 30), groups * ng)
    co = groups * ng
    pre = rng.integers(0, 6, co)
    scale = rng.integers(0, 256, co)
    post = rng.integers(0, 20, co)
    ob = draw(st.integers(2, 16))
    lo, hi = (0 if draw(st.booleans()) else -2 ** (ob - 1) + 1), 2 ** (ob - 1) - 1
    wrap = draw(st.booleans())
    return dict(x=x, w=w, bias=bias, pre=pre, scale=scale, post=post, lo=lo, hi=hi,
                stride=(sh, sw), pad=pad, dil=(dh, dw), groups=groups, acc_bits=acc_bits, wrap=wrap)


def _run(case, path):
    return ops.conv(case["x"], case["w"], case["bias"], case["pre"], case["scale"], case["post"],
                    lo=case["lo"], hi=case["hi"], stride=case["stride"], padding=case["pad"],
                    dilation=case["dil"], groups=case["groups"], acc_bits=case["acc_bits"],
                    overflow="wrap" if case["wrap"] else "saturate", path=path)


# ---------------------------------------------------------------- tests

@settings(max_examples=60, deadline=None)
@given(conv_case(max_acc_bits=20))
def test_faithful_conv_matches_stepwise_reference(case):
    acc, events = ref_conv_faithful(case["x"], case["w"], case["bias"], case["stride"], case["pad"],
                                    case["dil"], case["groups"], case["acc_bits"], case["wrap"])
    want = ref_requant(acc, case["pre"], case["scale"], case["post"], case["lo"], case["hi"])
    got = _run(case, "faithful")
    assert got.path == "faithful"
    np.testing.assert_array_equal(got.out, want)
    assert got.overflow_events == events


@settings(max_examples=60, deadline=None)
@given(conv_case(min_acc_bits=48))
def test_auto_path_matches_int64_reference(case):
    acc = ref_conv_acc(case["x"], case["w"], case["bias"], case["stride"], case["pad"], case["dil"],
                       case["groups"])
    want = ref_requant(acc, case["pre"], case["scale"], case["post"], case["lo"], case["hi"])
    got = _run(case, "auto")
    np.testing.assert_array_equal(got.out, want)
    assert got.overflow_events == 0


@settings(max_examples=40, deadline=None)
@given(conv_case(min_acc_bits=40))
def test_every_exact_path_gives_the_faithful_bits(case):
    """A non-overflowing case: every path, the per-step one included, gives identical bits."""
    slow = _run(case, "faithful")
    assert slow.overflow_events == 0
    l1 = np.abs(case["w"]).reshape(len(case["w"]), -1).sum(1)
    prod = int(np.abs(case["x"]).max()) * int(l1.max())
    paths = ["int64", "float64", "stepped"] + (["float32"] if prod < 2 ** 24 else [])
    if prod < 2 ** 31 and int(np.abs(case["w"]).max()) <= 32767:
        paths.append("int16")
        if int(np.abs(case["x"]).max()) <= 127 and int(np.abs(case["w"]).max()) <= 127:
            paths.append("int8")
    for p in paths:
        fast = _run(case, p)
        np.testing.assert_array_equal(fast.out, slow.out, err_msg=p)


def test_wrap_and_saturate_by_hand():
    # 8-bit accumulator, bias 100, products 20 then 20: 100 -> 120 -> 140 overflows once.
    x = np.array([[[[1]], [[1]]]])
    w = np.array([[[[20]], [[20]]]])
    kw = dict(lo=-(2 ** 15), hi=2 ** 15, acc_bits=8)
    sat = ops.conv(x, w, [100], 0, 1, 0, overflow="saturate", path="faithful", **kw)
    wrp = ops.conv(x, w, [100], 0, 1, 0, overflow="wrap", path="faithful", **kw)
    assert sat.out.item() == 127 and sat.overflow_events == 1
    assert wrp.out.item() == 140 - 256 and wrp.overflow_events == 1
    # order matters: saturating then coming back down differs from the exact sum
    w2 = np.array([[[[40]], [[-40]]]])
    s2 = ops.conv(x, w2, [100], 0, 1, 0, overflow="saturate", path="faithful", **kw)
    assert s2.out.item() == 127 - 40 and s2.overflow_events == 1


def test_auto_picks_faithful_when_bound_fails():
    x = np.full((1, 4, 1, 1), 100)
    w = np.full((2, 4, 1, 1), 100)
    r = ops.conv(x, w, [0, 0], 0, 1, 0, lo=-2 ** 20, hi=2 ** 20, acc_bits=16, path="auto")
    assert r.path == "faithful" and r.out[0, 0, 0, 0] == 2 ** 15 - 1 and r.overflow_events == 2  # 4th step (40000) of each channel
    with pytest.raises(ValueError, match="not exact"):
        ops.conv(x, w, [0, 0], 0, 1, 0, lo=-2 ** 20, hi=2 ** 20, acc_bits=16, path="float32")


def test_float_gemm_exactness_bound():
    """float32 is exact below 2**24 and can be wrong above; the bound then chooses float64."""
    rng = np.random.default_rng(1)
    k = 64
    x = rng.integers(-32767, 32768, (1, k, 4, 4))
    w = rng.integers(-32767, 32768, (16, k, 1, 1))
    l1 = np.abs(w).reshape(16, -1).sum(1)
    assert ops.choose_path(int(np.abs(x).max()), l1, np.zeros(16), 48) == "float64"
    acc = ref_conv_acc(x, w, np.zeros(16), (1, 1), (0, 0, 0, 0), (1, 1), 1)
    naive32 = np.einsum("nchw,oc->nohw", x.astype(np.float32), w[:, :, 0, 0].astype(np.float32))
    assert not np.array_equal(naive32.astype(np.int64), acc)  # float32 would round here
    got = ops.conv(x, w, np.zeros(16), 0, 1, 0, lo=-2 ** 31, hi=2 ** 31 - 1, acc_bits=48)
    assert got.path == "float64"
    np.testing.assert_array_equal(got.out, np.clip(acc, -2 ** 31, 2 ** 31 - 1))
    small = ops.choose_path(127, np.array([127 * 576]), np.zeros(1), 32)
    assert small == "float32"  # 127 * 127 * 576 = 9290304 < 2**24


def test_rounding_ties_and_negatives():
    # acc -3 >> 1 rounding half up: (-3 + 1) >> 1 = -1; 3 -> 2; -1 -> 0; 1 -> 1
    x = np.array([-3, 3, -1, 1, -2 ** 20]).reshape(1, 5, 1, 1)
    w = np.eye(5, dtype=np.int64).reshape(5, 5, 1, 1)
    r = ops.conv(x, w, np.zeros(5), 1, 1, 0, lo=-100, hi=100, acc_bits=32, path="faithful")
    assert r.out.reshape(-1).tolist() == [-1, 2, 0, 1, -100]
    r2 = ops.conv(x, w, np.zeros(5), 1, 1, 0, lo=-100, hi=100, acc_bits=32, path="int64")
    np.testing.assert_array_equal(r.out, r2.out)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 4), st.integers(1, 20), st.integers(1, 9), st.integers(8, 24), st.booleans(),
       st.integers(0, 2 ** 32 - 1))
def test_gemm(n, k, nout, acc_bits, wrap, seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(-127, 128, (n, k))
    w = rng.integers(-127, 128, (nout, k))
    b = rng.integers(-1000, 1000, nout)
    got = ops.gemm(x, w, b, 0, 3, 4, lo=-2 ** 20, hi=2 ** 20, acc_bits=acc_bits,
                   overflow="wrap" if wrap else "saturate", path="auto")
    lo, hi = -2 ** (acc_bits - 1), 2 ** (acc_bits - 1) - 1
    want = np.zeros((n, nout), np.int64)
    events = 0
    for i in range(n):
        for o in range(nout):
            a = int(b[o])
            for kk in range(-1, k):  # step -1 loads the bias (which may itself overflow)
                a += int(x[i, kk]) * int(w[o, kk]) if kk >= 0 else 0
                if not lo <= a <= hi:
                    events += 1
                    a = (a - lo) % 2 ** acc_bits + lo if wrap else min(max(a, lo), hi)
            want[i, o] = a
    want = np.clip(ref_round_shift(want * 3, 4), -2 ** 20, 2 ** 20)
    np.testing.assert_array_equal(got.out.reshape(n, nout), want)
    assert got.overflow_events == events


@settings(max_examples=60, deadline=None)
@given(conv_case(max_acc_bits=20))
def test_auto_path_with_narrow_accumulator_matches_stepwise_reference(case):
    """``auto`` screens outputs by their own bound and steps only those that may overflow."""
    acc, events = ref_conv_faithful(case["x"], case["w"], case["bias"], case["stride"], case["pad"],
                                    case["dil"], case["groups"], case["acc_bits"], case["wrap"])
    want = ref_requant(acc, case["pre"], case["scale"], case["post"], case["lo"], case["hi"])
    got = _run(case, "auto")
    np.testing.assert_array_equal(got.out, want)
    assert got.overflow_events == events


@pytest.mark.parametrize("stride,pad,dil,groups", [((1, 1), (1, 1, 1, 1), (1, 1), 1), ((2, 2), (0, 1, 2, 0), (1, 1), 2),
                                                   ((1, 2), (3, 2, 3, 2), (2, 3), 1), ((3, 1), (0, 0, 0, 0), (2, 1), 4),
                                                   ((1, 1), (0, 2, 1, 0), (2, 2), 1), ((1, 1), (2, 0, 0, 3), (1, 2), 1)])
@pytest.mark.parametrize("tap_min_plane", [0, 1 << 30])
@pytest.mark.parametrize("path", ["float32", "int8", "int16"])
def test_gemm_paths_on_wider_layers(stride, pad, dil, groups, tap_min_plane, path, monkeypatch):
    """Layers wide enough for a GEMM path (stride 1: all taps over the padded plane, or im2col
    when the plane is below the threshold; otherwise im2col), odd geometry included."""
    monkeypatch.setattr(ops, "_TAP_MIN_PLANE", tap_min_plane)
    monkeypatch.setattr(igemm, "_PLANE_MIN", tap_min_plane)
    rng = np.random.default_rng(7)
    x = rng.integers(-127, 128, (3, 8 * groups, 11, 9))
    w = rng.integers(-127, 128, (8 * groups, 8, 3, 3))
    b = rng.integers(-5000, 5000, 8 * groups)
    got = ops.conv(x, w, b, 1, 90, 12, lo=-127, hi=127, stride=stride, padding=pad, dilation=dil, groups=groups,
                   path=path)
    assert got.path == path
    want = ref_requant(ref_conv_acc(x, w, b, stride, pad, dil, groups), [1], [90], [12], -127, 127)
    np.testing.assert_array_equal(got.out, want)


@settings(max_examples=30, deadline=None)
@given(st.integers(2, 16), st.sampled_from([np.float32, np.float64]), st.integers(0, 2 ** 32 - 1))
def test_quantize_codes_matches_numpy_quantizer(bits, dtype, seed):
    """The parallel input quantizer against numpy's ``clip(floor(x / step + 0.5))``: random values,
    exact ties (k + 0.5 steps, both signs), values far past the clip range and signed zeros."""
    from accelsim.datapath import kernels as K
    from accelsim.layers.arith import quantize_tensor

    rng = np.random.default_rng(seed)
    q = 2 ** (bits - 1) - 1
    step = float(rng.uniform(0.01, 2.0))
    x = np.concatenate([rng.normal(0, q * step / 2, 200), (rng.integers(-q, q, 50) + 0.5) * step,
                        [1e30, -1e30, 0.0, -0.0, q * step * 3]]).astype(dtype)
    out = np.empty(x.size, ops.code_dtype(-q, q))
    K.quantize_codes(x, step, q, out)
    np.testing.assert_array_equal(out, quantize_tensor(x, step, bits))


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 5), st.integers(1, 5), st.integers(1, 3), st.integers(1, 3), st.integers(1, 2), st.integers(1, 2),
       st.integers(1, 2), st.sampled_from([np.int8, np.int16]), st.booleans(), st.integers(0, 2 ** 32 - 1))
def test_depthwise_int32_lanes_match_int64(kh, kw, sh, sw, dh, dw, mult, dt, edge, seed):
    """Depthwise layers (the phase-plane kernel: 3x3 fused, other kernels tap by tap), any
    stride, dilation, padding and channel multiplier, planes from 1 pixel to 40 columns, codes of
    int8 / int16 at their extremes; with *edge*, weights and codes as large as the int32-lane
    bound ``max|x| * max_c sum|w_c| < 2**31`` allows. Bit for bit the numpy int64 reference."""
    rng = np.random.default_rng(seed)
    info = np.iinfo(dt)
    c = int(rng.integers(2, 5))  # groups = c > 1: a depthwise layer
    h = int(rng.integers(max(1, dh * (kh - 1) + 1 - 2), 12))
    wd = int(rng.integers(max(1, dw * (kw - 1) + 1 - 2), 41))
    pad = tuple(int(rng.integers(0, 3)) for _ in range(4))
    assume(h + pad[0] + pad[2] >= dh * (kh - 1) + 1 and wd + pad[1] + pad[3] >= dw * (kw - 1) + 1)
    x = rng.integers(int(info.min), int(info.max) + 1, (2, c, h, wd))
    x.reshape(-1)[:2] = [info.min, info.max]
    max_x = -int(info.min)
    wmax = min(32767, (2 ** 31 - 1) // (max_x * kh * kw)) if edge else 127
    w = rng.integers(-wmax, wmax + 1, (c * mult, 1, kh, kw))
    if edge:
        w[0] = -wmax  # one channel at the bound: max|x| * sum|w| just below 2**31
        assert max_x * int(np.abs(w.reshape(c * mult, -1)).sum(axis=1).max()) < 2 ** 31
    b = rng.integers(-2 ** 20, 2 ** 20, c * mult)
    pre, scale, post = rng.integers(0, 6, c * mult), rng.integers(0, 256, c * mult), rng.integers(0, 30, c * mult)
    got = ops.conv(x.astype(dt), w, b, pre, scale, post, lo=-127, hi=127, stride=(sh, sw), padding=pad,
                   dilation=(dh, dw), groups=c, acc_bits=48)
    assert got.path == "int64" and got.out.dtype == np.int8
    want = ref_requant(ref_conv_acc(x, w, b, (sh, sw), pad, (dh, dw), c), pre, scale, post, -127, 127)
    np.testing.assert_array_equal(got.out, want)


@pytest.mark.parametrize("pre,post", [(0, 0), (0, 31), (1, 0), (7, 20), (31, 0)])
def test_depthwise_requant_in_int32_lanes_at_its_bound(pre, post):
    """A depthwise 3x3 layer on 16-bit codes (the int32-lane kernel) whose sums plus bias reach
    2**31 - 2 in magnitude and whose scale brings ``rshift_round(sum + bias, pre) * scale`` just
    below 2**31: the requantization bound holds, so it runs in int32 lanes, and gives the numpy
    int64 rule's codes at both signs' extremes."""
    from accelsim.datapath import igemm

    x = np.full((1, 2, 5, 6), 32767, np.int64)
    x[0, 1] = -32767
    w = np.full((2, 1, 3, 3), 7281)  # 32767 * 9 * 7281 = 2147188743 < 2**31
    l1 = np.abs(w.reshape(2, -1)).sum(axis=1)
    a_max = 2 ** 31 - 2  # |sum + bias| at most this (the bound's margin: + 1 below 2**31)
    bias = np.array([a_max - 32767 * 9 * 7281, -(a_max - 32767 * 9 * 7281)])
    scale = np.full(2, (2 ** 31 - 2) // -(-(a_max + 1) // 2 ** pre))
    lo, hi = -(2 ** 31), 2 ** 31 - 1
    assert igemm.requant_fits_int32(32767 * l1, bias, [pre] * 2, scale, [post] * 2, lo, hi, pre_add=False)
    got = ops.conv(x.astype(np.int16), w, bias, pre, scale, post, lo=lo, hi=hi, padding=(1, 1, 1, 1), groups=2,
                   acc_bits=48)
    assert got.path == "int64"
    want = ref_requant(ref_conv_acc(x, w, bias, (1, 1), (1, 1, 1, 1), (1, 1), 2), [pre], scale, [post], lo, hi)
    assert np.abs(ref_conv_acc(x, w, bias, (1, 1), (1, 1, 1, 1), (1, 1), 2)).max() == a_max
    np.testing.assert_array_equal(got.out, want)


@pytest.mark.parametrize("pre", [0, 1, 2])
def test_depthwise_requant_where_sum_plus_bias_is_int32_max(pre):
    """``sum + bias = 2**31 - 1`` exactly (codes -32767 times negative weights, positive bias):
    the 32-bit rounding shift by 1 would add 1 and wrap, so that layer must not take the int32
    requantization; the codes equal the numpy int64 rule's."""
    x = np.full((1, 2, 3, 3), -32767, np.int64)
    w = np.full((2, 1, 3, 3), -7281)
    bias = np.array([2 ** 31 - 1 - 32767 * 9 * 7281, 0])
    lo, hi = -(2 ** 31), 2 ** 31 - 1
    got = ops.conv(x.astype(np.int16), w, bias, pre, 1, 0, lo=lo, hi=hi, groups=2, acc_bits=48)
    assert got.path == "int64"
    want = ref_requant(ref_conv_acc(x, w, bias, (1, 1), (0, 0, 0, 0), (1, 1), 2), [pre], [1], [0], lo, hi)
    np.testing.assert_array_equal(got.out, want)


@pytest.mark.parametrize("amx", ["1", "0"])
@pytest.mark.parametrize("pre", [0, 1, 2])
def test_dense_requant_where_sum_plus_bias_is_int32_max(pre, amx, monkeypatch):
    """The same edge on the dense 8-bit path (AMX tiles and the register kernel, both with the
    epilogue's int32 lanes): codes -127 times weights -127 (16 channels, 3x3, padded) plus a bias
    reaching ``sum + bias = 2**31 - 1`` at the interior pixels; the rounding shift by 1 must not
    wrap, so every code equals the numpy int64 rule's (a bound without the margin gave -2**30)."""
    monkeypatch.setenv("ACCELSIM_AMX", amx)
    x = np.full((1, 16, 4, 5), -127, np.int64)
    w = np.full((16, 16, 3, 3), -127)
    bias = np.full(16, 2 ** 31 - 1 - 127 * 127 * 16 * 9)
    lo, hi = -(2 ** 31), 2 ** 31 - 1
    got = ops.conv(x.astype(np.int8), w, bias, pre, 1, 0, lo=lo, hi=hi, padding=(1, 1, 1, 1), acc_bits=48)
    acc = ref_conv_acc(x, w, bias, (1, 1), (1, 1, 1, 1), (1, 1), 1)
    assert acc.max() == 2 ** 31 - 1
    np.testing.assert_array_equal(got.out, ref_requant(acc, [pre], [1], [0], lo, hi))
