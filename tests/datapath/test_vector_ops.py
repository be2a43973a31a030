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


def test_code_dtype_is_the_narrowest_holding_the_range():
    assert ops.code_dtype(-127, 127) == np.int8 and ops.code_dtype(-128, 127) == np.int8
    assert ops.code_dtype(0, 255) == np.int16 and ops.code_dtype(-129, 0) == np.int16
    assert ops.code_dtype(-32768, 32767) == np.int16 and ops.code_dtype(0, 32768) == np.int32
    assert ops.codes(np.array([[1, -2]], np.int64)).dtype == np.int32
    assert ops.codes(np.array([[1, -2]], np.int8)).dtype == np.int8


@settings(max_examples=50, deadline=None)
@given(pool_case())
def test_avgpool(case):
    x, k, s, pad, bits, rng = case
    c = x.shape[1]
    pre, scale, post = rng.integers(0, 3, c), rng.integers(0, 256, c), rng.integers(0, 12, c)
    lo, hi = -(2 ** (bits - 1)) + 1, 2 ** (bits - 1) - 1
    want = ref_requant(_windows(x, k, s, pad, 0).sum(axis=-1), pre, scale, post, lo, hi)
    np.testing.assert_array_equal(ops.avgpool(x, k, pre, scale, post, lo=lo, hi=hi, stride=s, padding=pad), want)


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
