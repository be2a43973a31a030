"""Pooling, add, mul, concat and lut kernels on random shapes, bit-exact to numpy int64 here."""

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from accelsim.datapath import ops
from accelsim.layers.arith import requantize_sum
from tests.datapath.test_kernels import ref_add_requant, ref_requant


@st.composite
def pool_case(draw):
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    pad = tuple(draw(st.integers(0, k - 1)) for k in (kh, kw, kh, kw))  # ONNX: pad < kernel
    h, w = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    assume(h + pad[0] + pad[2] >= kh and w + pad[1] + pad[3] >= kw)
    bits = draw(st.integers(2, 16))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    q = 2 ** (bits - 1) - 1
    x = rng.integers(-q, q + 1, (draw(st.integers(1, 2)), draw(st.integers(1, 4)), h, w))
    return x, (kh, kw), (sh, sw), pad, bits, rng


def _windows(x, kernel, stride, pad, fill):
    n, c, h, w = x.shape
    xp = np.full((n, c, h + pad[0] + pad[2], w + pad[1] + pad[3]), fill, np.int64)
    xp[:, :, pad[0]:pad[0] + h, pad[1]:pad[1] + w] = x
    oh = (h + pad[0] + pad[2] - kernel[0]) // stride[0] + 1
    ow = (w + pad[1] + pad[3] - kernel[1]) // stride[1] + 1
    return np.stack([xp[:, :, i * stride[0]:i * stride[0] + kernel[0], j * stride[1]:j * stride[1] + kernel[1]]
                     .reshape(n, c, -1) for i in range(oh) for j in range(ow)], axis=2).reshape(n, c, oh, ow, -1)


@settings(max_examples=50, deadline=None)
@given(pool_case())
def test_maxpool(case):
    x, k, s, pad, bits, _ = case
    want = _windows(x, k, s, pad, np.iinfo(np.int64).min).max(axis=-1)
    np.testing.assert_array_equal(ops.maxpool(x, k, s, pad), want)


@settings(max_examples=50, deadline=None)
@given(pool_case(), st.integers(0, 3))
def test_maxpool_on_narrow_codes_clips_into_the_narrowest_dtype(case, lo_shift):
    """int8 / int16 input codes, clipped to a range at most as wide as theirs: same values as the
    int64 windows clipped, in :func:`ops.code_dtype` of the clip range."""
    x, k, s, pad, bits, _ = case
    q = 2 ** (bits - 1) - 1
    lo, hi = (0, q) if lo_shift == 0 else (-q + lo_shift, q - lo_shift)
    assume(lo <= hi)
    want = np.clip(_windows(x, k, s, pad, np.iinfo(np.int64).min).max(axis=-1), lo, hi)
    got = ops.maxpool(x.astype(ops.code_dtype(-q, q)), k, s, pad, lo=lo, hi=hi)
    assert got.dtype == ops.code_dtype(lo, hi)
    np.testing.assert_array_equal(got, want)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3), st.integers(1, 3), st.integers(1, 2),
       st.integers(1, 2), st.sampled_from([np.int8, np.int16, np.int32]), st.integers(0, 2 ** 32 - 1))
def test_maxpool_dilated_rows_at_the_dtype_extremes(kh, kw, sh, sw, dh, dw, dt, seed):
    """Dilation, rows long enough for the vector loops (up to 70 columns), codes spanning the
    whole dtype (its minimum included) and a clip range inside it: the int64 windows' maxima."""
    rng = np.random.default_rng(seed)
    info = np.iinfo(dt)
    h, w = int(rng.integers(dh * (kh - 1) + 1, 12)), int(rng.integers(dw * (kw - 1) + 1, 71))
    pad = tuple(int(rng.integers(0, k)) for k in (kh, kw, kh, kw))
    x = rng.integers(int(info.min), int(info.max) + 1, (2, 3, h, w), dtype=np.int64)
    x.reshape(-1)[:2] = [info.min, info.max]
    lo, hi = sorted(int(v) for v in rng.integers(int(info.min), int(info.max) + 1, 2))
    n, c = x.shape[:2]
    xp = np.full((n, c, h + pad[0] + pad[2], w + pad[1] + pad[3]), np.iinfo(np.int64).min, np.int64)
    xp[:, :, pad[0]:pad[0] + h, pad[1]:pad[1] + w] = x
    oh, ow = ops.conv_out_hw(h, w, (kh, kw), (sh, sw), pad, (dh, dw))
    want = np.full((n, c, oh, ow), np.iinfo(np.int64).min, np.int64)
    for ky in range(kh):
        for kx in range(kw):
            want = np.maximum(want, xp[:, :, ky * dh:ky * dh + sh * (oh - 1) + 1:sh, kx * dw:kx * dw + sw * (ow - 1) + 1:sw])
    got = ops.maxpool(x.astype(dt), (kh, kw), (sh, sw), pad, (dh, dw), lo=lo, hi=hi)
    assert got.dtype == ops.code_dtype(lo, hi)
    np.testing.assert_array_equal(got, np.clip(want, lo, hi))


def test_code_dtype_is_the_narrowest_holding_the_range():
    assert ops.code_dtype(-127, 127) == np.int8 and ops.code_dtype(-128, 127) == np.int8
    assert ops.code_dtype(0, 255) == np.int16 and ops.code_dtype(-129, 0) == np.int16
    assert ops.code_dtype(-32768, 32767) == np.int16 and ops.code_dtype(0, 32768) == np.int32
    assert ops.codes(np.array([[1, -2]], np.int64)).dtype == np.int32
    assert ops.codes(np.array([[1, -2]], np.int8)).dtype == np.int8


@settings(max_examples=50, deadline=None)
@given(pool_case(), st.booleans())
def test_avgpool(case, narrow):
    """Codes as int64 or in their narrowest dtype; the output in the clip range's dtype."""
    x, k, s, pad, bits, rng = case
    c = x.shape[1]
    pre, scale, post = rng.integers(0, 3, c), rng.integers(0, 256, c), rng.integers(0, 12, c)
    lo, hi = -(2 ** (bits - 1)) + 1, 2 ** (bits - 1) - 1
    want = ref_requant(_windows(x, k, s, pad, 0).sum(axis=-1), pre, scale, post, lo, hi)
    if narrow:
        x = x.astype(ops.code_dtype(lo, hi))
    got = ops.avgpool(x, k, pre, scale, post, lo=lo, hi=hi, stride=s, padding=pad)
    assert got.dtype == ops.code_dtype(lo, hi)
    np.testing.assert_array_equal(got, want)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 9), st.integers(1, 40), st.sampled_from([np.int8, np.int16, np.int32]),
       st.integers(0, 2 ** 32 - 1))
def test_global_avgpool_at_the_dtype_extremes(h, w, dt, seed):
    """Kernel = the whole plane (global average pooling, one contiguous sum): codes spanning the
    dtype, extremes included, scales up to 32 bits (as wide as int64 allows) and shifts up to 40;
    the numpy int64 rule."""
    rng = np.random.default_rng(seed)
    info = np.iinfo(dt)
    x = rng.integers(int(info.min), int(info.max) + 1, (2, 3, h, w), dtype=np.int64)
    x[0, 0] = info.min
    x[1, 0] = info.max
    top = (h * w * -int(info.min)).bit_length()  # the sum's magnitude stays below 2**top
    pre, scale, post = rng.integers(0, 8, 3), rng.integers(0, 2 ** min(32, 62 - top), 3), rng.integers(0, 41, 3)
    want = ref_requant(x.sum(axis=(2, 3), keepdims=True), pre, scale, post, -127, 127)
    got = ops.avgpool(x.astype(dt), (h, w), pre, scale, post, lo=-127, hi=127)
    assert got.dtype == np.int8
    np.testing.assert_array_equal(got, want)


@st.composite
def eltwise_case(draw):
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 4)), draw(st.integers(1, 5)), draw(st.integers(1, 5)))
    bits = draw(st.integers(2, 16))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    q = 2 ** (bits - 1) - 1
    per_channel = draw(st.booleans())
    c = shape[1] if per_channel else 1

    def params():
        return rng.integers(0, 4, c), rng.integers(0, 256, c), rng.integers(0, 10, c)
    lo = 0 if draw(st.booleans()) else -q
    return rng.integers(-q, q + 1, shape), rng.integers(-q, q + 1, shape), params, lo, q, bits, rng


@settings(max_examples=50, deadline=None)
@given(eltwise_case(), st.booleans())
def test_add(case, narrow):
    """Inputs as int32 or in their narrowest code dtype (int8 / int16), the output in its own."""
    x0, x1, params, lo, hi, _, _ = case
    p0, p1 = params(), params()
    want = ref_add_requant(x0, x1, p0, p1, lo, hi)
    if narrow:
        x0, x1 = (v.astype(ops.code_dtype(-hi, hi)) for v in (x0, x1))
    got = ops.add(x0, x1, p0, p1, lo=lo, hi=hi)
    assert got.dtype == ops.code_dtype(lo, hi)
    np.testing.assert_array_equal(got, want)
    shp = (1, -1, 1, 1)
    spec = requantize_sum(x0, x1, [np.reshape(v, shp) for v in p0], [np.reshape(v, shp) for v in p1], lo, hi)
    np.testing.assert_array_equal(spec, want)


def test_add_rounds_the_sum_once():
    """Hand case: 1 * 0.5 + 1 * 0.5 = 1 (rounding each half first would give 1 + 1 = 2); 3 * 0.25 + 1 *
    0.5 = 1.25 -> 1; -1 * 0.5 + 0 = -0.5 -> 0 (half up); a huge post shift (62) stays exact in int64."""
    x0 = np.array([1, 3, -1, 1]).reshape(1, 1, 1, 4)
    x1 = np.array([1, 1, 0, 1]).reshape(1, 1, 1, 4)
    half, quarter = (0, 128, 8), (0, 128, 9)  # scale 128 = 2**7: multipliers 2**-1, 2**-2
    got = ops.add(x0, x1, half, half, lo=-127, hi=127)
    np.testing.assert_array_equal(got[0, 0, 0, :3], [1, 2, 0])  # 0.5+0.5, 1.5+0.5, -0.5
    got = ops.add(x0, x1, quarter, half, lo=-127, hi=127)
    np.testing.assert_array_equal(got[0, 0, 0], [1, 1, 0, 1])  # 0.75, 1.25, -0.25, 0.75
    tiny = (0, 1 << 61, 62)  # multiplier 2**-1 written with the widest shift
    np.testing.assert_array_equal(ops.add(x0, x1, tiny, (0, 1, 0), lo=-127, hi=127)[0, 0, 0], [2, 3, 0, 2])


@settings(max_examples=50, deadline=None)
@given(eltwise_case(), st.booleans())
def test_mul_with_broadcast(case, gate):
    x0, x1, params, lo, hi, _, _ = case
    if gate:  # squeeze-and-excitation style [N, C, 1, 1]
        x1 = x1[:, :, :1, :1]
    p = params()
    want = ref_requant(x0 * x1, *p, lo, hi)
    np.testing.assert_array_equal(ops.mul(x0, x1, *p, lo=lo, hi=hi), want)


@settings(max_examples=50, deadline=None)
@given(eltwise_case())
def test_concat(case):
    x0, x1, params, lo, hi, _, _ = case
    x1 = x1[:, :1]
    p0 = params()
    p1 = tuple(v[:1] for v in params())
    want = np.concatenate([ref_requant(x0, *p0, lo, hi), ref_requant(x1, *p1, lo, hi)], axis=1)
    np.testing.assert_array_equal(ops.concat([x0, x1], [p0, p1], lo=lo, hi=hi), want)


@settings(max_examples=50, deadline=None)
@given(eltwise_case())
def test_lut(case):
    x0, _, _, lo, hi, bits, rng = case
    table = rng.integers(lo, hi + 1, 2 ** bits - 1)
    want = table[x0 + 2 ** (bits - 1) - 1]
    np.testing.assert_array_equal(ops.lut(x0, table, bits), want)


def _lane_need(bound0, bound1, p0, p1):
    """Largest magnitude the int32-lane add meets for one channel (Python ints), with the inputs at
    their extremes ``-bound, bound``: the rounded inputs, the two products, the numerator."""
    def rs(v, s):
        return (v + ((1 << s) >> 1)) >> s
    (pa, sa, qa, ba), (pb, sb, qb, bb) = sorted([(*p0, bound0), (*p1, bound1)], key=lambda t: t[2])
    ra = max(abs(rs(v, pa)) for v in (-ba, ba))
    rb = max(abs(rs(v, pb)) for v in (-bb, bb))
    return max(ra * (sa << (qb - qa)) + rb * sb + ((1 << qb) >> 1), ba + ((1 << pa) >> 1), bb + ((1 << pb) >> 1))


@st.composite
def add_edge_case(draw):
    """One channel's params at the edge of the int32-lane proof: shifts up to one past
    ``LANE_SHIFT_MAX``, the first scale the largest that fits (then -1, +1, or far over)."""
    dt0, dt1 = (draw(st.sampled_from([np.int8, np.int16, np.int32])) for _ in range(2))
    bounds = []
    for dt in (dt0, dt1):
        top = -int(np.iinfo(dt).min)
        bounds.append(draw(st.sampled_from([top, top - 1, 1, draw(st.integers(1, top))])))
    p = [draw(st.integers(0, ops.LANE_SHIFT_MAX + 1)) for _ in range(4)]
    pre0, post0, pre1, post1 = p
    s1 = draw(st.integers(0, 1 << draw(st.integers(0, 20))))
    # the largest s0 with _lane_need < 2**31 (need grows with s0), by bisection on Python ints
    lo_s, hi_s = 0, 1 << 40
    while lo_s < hi_s:
        mid = (lo_s + hi_s + 1) // 2
        if _lane_need(bounds[0], bounds[1], (pre0, mid, post0), (pre1, s1, post1)) < 2 ** 31:
            lo_s = mid
        else:
            hi_s = mid - 1
    s0 = max(0, lo_s + draw(st.sampled_from([-1, 0, 0, 1, 1 << 20])))
    return (dt0, dt1), tuple(bounds), (pre0, s0, post0), (pre1, s1, post1), draw(st.integers(0, 2 ** 32 - 1))


@settings(max_examples=150, deadline=None)
@given(add_edge_case(), st.booleans())
def test_add_int32_lanes_at_the_edge_of_their_proof(case, relu):
    """:func:`ops.add_lanes` takes the int32 lanes exactly when every intermediate fits int32
    (checked here in Python ints at the inputs' extremes) and the shifts are at most 30; the result
    equals the numpy int64 rule on inputs that include both extremes, on either path."""
    (dt0, dt1), bounds, p0, p1, seed = case
    rng = np.random.default_rng(seed)
    want_narrow = (max(p0[0], p0[2], p1[0], p1[2]) <= ops.LANE_SHIFT_MAX and max(bounds) <= 2 ** 30
                   and max(p0[1], p1[1]) < 2 ** 31 and _lane_need(bounds[0], bounds[1], p0, p1) < 2 ** 31)
    assert bool(ops.add_lanes(bounds, [[v] for v in p0], [[v] for v in p1])[0]) == want_narrow
    shape = (2, 1, 3, 5)
    ends = [(max(-b, int(np.iinfo(dt).min)), min(b, int(np.iinfo(dt).max))) for b, dt in zip(bounds, (dt0, dt1))]
    x0 = rng.integers(ends[0][0], ends[0][1] + 1, shape)
    x1 = rng.integers(ends[1][0], ends[1][1] + 1, shape)
    x0.reshape(-1)[:4] = [ends[0][0], ends[0][1], ends[0][0], ends[0][1]]
    x1.reshape(-1)[:4] = [ends[1][0], ends[1][0], ends[1][1], ends[1][1]]
    lo, hi = (0, 127) if relu else (-(2 ** 31), 2 ** 31 - 1)
    want = requantize_sum(x0, x1, p0, p1, lo, hi)
    got = ops.add(x0.astype(dt0), x1.astype(dt1), p0, p1, lo=lo, hi=hi, bounds=bounds)
    assert got.dtype == ops.code_dtype(lo, hi)
    np.testing.assert_array_equal(got, want)


def test_add_int32_lanes_would_wrap_one_past_the_proof():
    """The edge is real: one scale step past the proof, the int32 lanes (forced) wrap and give a
    wrong sum on the extreme inputs, while :func:`ops.add` takes int64 and is right."""
    from accelsim.datapath import kernels as K

    p1 = (0, 1, 0)
    s0 = (2 ** 31 - 1 - 127) // 128 + 1  # 128 * s0 + 127 >= 2**31
    p0 = (0, s0, 0)
    assert not ops.add_lanes((128, 127), *[[[v] for v in p] for p in (p0, p1)])[0]
    x0 = np.array([127, -128], np.int8).reshape(1, 1, 1, 2)
    x1 = np.array([127, -127], np.int8).reshape(1, 1, 1, 2)
    lo, hi = -(2 ** 31), 2 ** 31 - 1
    want = requantize_sum(x0, x1, p0, p1, lo, hi)
    np.testing.assert_array_equal(ops.add(x0, x1, p0, p1, lo=lo, hi=hi), want)
    forced = np.empty_like(want, dtype=np.int32)
    one = [np.array([v], np.int64) for v in (*p0, *p1)]
    K.add_requant(x0, x1, *one, lo, hi, forced, np.ones(1, np.bool_), ops.lane_constants(p0, p1))
    assert not np.array_equal(forced, want)


@settings(max_examples=40, deadline=None)
@given(eltwise_case(), st.integers(1, 64), st.booleans())
def test_add_uniform_params_in_channel_blocks(case, run_elements, memo):
    """One rule for the whole tensor: channels are taken in blocks (:func:`ops._run_blocks`) of at
    least *run_elements*; same bits as the int64 reference, with and without a kept memo."""
    x0, x1, params, lo, hi, _, rng = case
    c = x0.shape[1]
    p0 = tuple(np.full(c, v[0]) for v in params())
    p1 = tuple(np.full(c, v[0]) for v in params())
    want = requantize_sum(x0, x1, [np.reshape(v, (1, -1, 1, 1)) for v in p0],
                          [np.reshape(v, (1, -1, 1, 1)) for v in p1], lo, hi)
    old = ops._RUN_ELEMENTS
    ops._RUN_ELEMENTS = run_elements
    try:
        kept = {} if memo else None
        for dt in (ops.code_dtype(-hi, hi), np.int32):
            for _ in range(2):
                got = ops.add(x0.astype(dt), x1.astype(dt), p0, p1, lo=lo, hi=hi, memo=kept)
                np.testing.assert_array_equal(got, want)
    finally:
        ops._RUN_ELEMENTS = old
    k = ops._run_blocks(c, x0.shape[2] * x0.shape[3])
    assert c % k == 0 and (k == 1 or (c // k) * x0.shape[2] * x0.shape[3] >= ops._RUN_ELEMENTS)
