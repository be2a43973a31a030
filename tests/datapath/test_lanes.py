"""The 32-bit lane intrinsics and the 32-byte chunk runs, against numpy."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import njit

from accelsim.datapath.kernels import _chunked
from accelsim.datapath.lanes import add32, mul32, sra32


@njit(cache=True)
def _lane_ops(a, b, s, out):
    for i in range(a.shape[0]):
        out[0, i] = add32(a[i], b[i])
        out[1, i] = mul32(a[i], b[i])
        out[2, i] = sra32(a[i], s[i])


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2 ** 32 - 1))
def test_int32_lane_ops_wrap_like_int32(seed):
    """add32/mul32 wrap modulo 2**32 (numpy int32 arithmetic), sra32 is numpy's arithmetic right
    shift; int8 to int64 operands are truncated to their low 32 bits first."""
    rng = np.random.default_rng(seed)
    a = rng.integers(-2 ** 31, 2 ** 31, 64)
    b = rng.integers(-2 ** 31, 2 ** 31, 64)
    a[:4] = [-2 ** 31, 2 ** 31 - 1, -1, 0]
    b[:4] = [-1, 2 ** 31 - 1, -2 ** 31, 7]
    s = rng.integers(0, 32, 64)
    out = np.empty((3, 64), np.int32)
    _lane_ops(a, b, s, out)
    a32, b32 = a.astype(np.int32), b.astype(np.int32)
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(out[0], a32 + b32)
        np.testing.assert_array_equal(out[1], a32 * b32)
    np.testing.assert_array_equal(out[2], a32 >> s.astype(np.int32))
    out8 = np.empty((3, 64), np.int32)  # narrow operands: sign-extended
    _lane_ops(a.astype(np.int8), b.astype(np.int8), s, out8)
    np.testing.assert_array_equal(out8[1], a.astype(np.int8).astype(np.int32) * b.astype(np.int8).astype(np.int32))


@njit(cache=True)
def _run(dst, src, count, step, is_max):
    _chunked(dst, src, count, step, is_max)


@settings(max_examples=80, deadline=None)
@given(st.integers(0, 140), st.integers(1, 3), st.sampled_from([np.int8, np.int16, np.int32]), st.booleans(),
       st.integers(0, 2), st.integers(0, 2 ** 32 - 1))
def test_chunked_runs_match_numpy(count, step, dt, is_max, slack, seed):
    """Copy / running max of ``src[::step]`` into ``dst`` for runs shorter and longer than a chunk
    (32 int8, 16 int16, 8 int32 lanes), sources exactly as long as the run needs or a little
    longer (the stride-2 chunks need one more element); the elements past the run untouched."""
    rng = np.random.default_rng(seed)
    info = np.iinfo(dt)
    dst = rng.integers(int(info.min), int(info.max) + 1, count + 3).astype(dt)
    src = rng.integers(int(info.min), int(info.max) + 1, max(0, step * (count - 1) + 1) + slack).astype(dt)
    want = dst.copy()
    picked = src[:step * count:step]
    want[:count] = np.maximum(want[:count], picked) if is_max else picked
    _run(dst, src, count, step, is_max)
    np.testing.assert_array_equal(dst, want)
