"""Requantization integers against the real multiplier, and weight/bias quantization."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accelsim.errors import ConfigError
from accelsim.layers.arith import requantize
from accelsim.quant.requant import (
    multiplier_error,
    quantize_bias,
    quantize_weights,
    requant_params,
)


@settings(max_examples=60, deadline=None)
@given(m=st.floats(1e-7, 7.9), bits=st.integers(4, 16), seed=st.integers(0, 2**16))
def test_requant_reproduces_multiplier(m, bits, seed):
    pre, scale, post = requant_params(m, acc_bound=2**20, scale_bits=bits, acc_bits=32)
    assert 2 ** (bits - 1) <= scale[0] <= 2**bits - 1
    assert 0 <= pre[0] <= 31 and 0 <= post[0] <= 62
    eff = scale[0] / 2.0 ** (pre[0] + post[0])
    assert abs(eff - m) / m <= 2.0**-bits + 1e-15
    assert multiplier_error(m, pre, scale, post)[0] == pytest.approx(abs(eff - m) / m)
    # integer path vs exact float product: off by the multiplier error plus two roundings
    acc = np.random.default_rng(seed).integers(-(2**20), 2**20, 500)
    out = requantize(acc, pre[0], scale[0], post[0], -(2**40), 2**40)
    ref = acc * m
    tol = np.abs(ref) * 2.0**-bits + 0.5 + 0.5 * scale[0] / 2.0 ** post[0] + 1e-9
    assert np.all(np.abs(out - ref) <= tol)


def test_hand_worked_case():
    # m = 0.75 at 8 bits: n = 7 - floor(log2 .75) = 8, scale = 192, no pre shift needed
    pre, scale, post = requant_params(0.75, acc_bound=1000, scale_bits=8, acc_bits=32)
    assert (pre[0], scale[0], post[0]) == (0, 192, 8)
    # requantize(10): (10*192 + 128) >> 8 = 2048 >> 8 = 8 (7.5 rounds half up)
    assert requantize(np.array([10]), pre, scale, post, -127, 127)[0] == 8


def test_pre_shift_keeps_product_in_accumulator():
    # |acc| <= 2**28 with scale ~ 2**8 would need 37 bits; acc_bits=32 -> pre >= 5
    pre, scale, post = requant_params(1e-4, acc_bound=2**28, scale_bits=8, acc_bits=32)
    assert ((2**28 + 2 ** (int(pre[0]) - 1)) >> int(pre[0])) * int(scale[0]) < 2**31
    assert pre[0] == 5
    assert multiplier_error(1e-4, pre, scale, post)[0] <= 2**-8


def test_scale_rounding_up_renormalises():
    m = (256 - 0.4) / 2**8  # m*2**8 = 255.6 rounds to 256 -> 128 with one shift less
    pre, scale, post = requant_params(m, 1, 8, 32)
    assert scale[0] == 128 and pre[0] + post[0] == 7


def test_multiplier_too_large_or_bad():
    with pytest.raises(ConfigError, match="layer 'fc'.*left shift.*scale_bits"):
        requant_params(300.0, 1, 8, 32, where="fc")
    with pytest.raises(ConfigError, match="finite and > 0"):
        requant_params(0.0, 1, 8, 32, where="fc")


def test_weights_per_channel_and_per_tensor():
    w = np.array([[0.5, -1.0], [0.02, 0.01]], dtype=np.float32)
    q, t, s = quantize_weights(w, 8, per_channel=True)
    np.testing.assert_allclose(t, [1.0, 0.02])
    np.testing.assert_array_equal(q, [[64, -127], [127, 64]])  # 63.5 -> 64, 63.5 -> 64 (half up)
    assert q.dtype == np.int8
    q, t, s = quantize_weights(w, 8, per_channel=False)
    np.testing.assert_allclose(t, [1.0, 1.0])
    np.testing.assert_array_equal(q, [[64, -127], [3, 1]])
    q, _, _ = quantize_weights(w, 12)
    assert q.dtype == np.int16


def test_bias_in_accumulator_units_saturates_with_warning():
    b = quantize_bias(np.array([0.25, -1.0]), np.array([0.01, 0.001]), 32)
    np.testing.assert_array_equal(b, [25, -1000])
    assert b.dtype == np.int32
    with pytest.warns(UserWarning, match="layer 'c1': 1 bias value"):
        b = quantize_bias(np.array([1.0, 0.0]), np.array([1e-6, 1.0]), 16, where="c1")
    np.testing.assert_array_equal(b, [32767, 0])


# -- weight_method: mse -------------------------------------------------------------------------

def test_mse_weight_threshold_hand_worked():
    """2 bits (codes -1, 0, 1), w = [1.0, 0.4 x 9]: T = max = 1 rounds every 0.4 to 0 (error
    9 * 0.16 = 1.44); for 0.4 <= T <= 0.8 every 0.4 becomes T and 1.0 clips to T, error
    (1 - T)**2 + 9 * (0.4 - T)**2, least at T = 0.46 (derivative -2(1-T) - 18(0.4-T) = 0)."""
    w = np.array([[1.0] + [0.4] * 9])
    from accelsim.quant.requant import weight_thresholds

    assert weight_thresholds(w, True, 2, "max")[0] == 1.0
    assert weight_thresholds(w, True, 2, "mse")[0] == pytest.approx(0.46, abs=1e-9)


def test_mse_weight_thresholds_never_worse_than_max_per_channel():
    from accelsim.quant.requant import quantize_weights

    w = np.random.default_rng(3).standard_t(3, size=(12, 5, 3, 3))  # heavy tails: max is a poor threshold
    for bits in (2, 3, 4, 8):
        errs = {}
        for method in ("max", "mse"):
            q, t, s = quantize_weights(w, bits, True, method)
            errs[method] = ((w - q * s.reshape(-1, 1, 1, 1)) ** 2).reshape(12, -1).sum(axis=1)
            assert np.all(t <= np.abs(w).reshape(12, -1).max(axis=1) + 1e-12)
        assert np.all(errs["mse"] <= errs["max"] + 1e-12)
        if bits <= 4:
            assert errs["mse"].sum() < 0.9 * errs["max"].sum()
    # per tensor: one threshold for every channel
    _, t, _ = quantize_weights(w, 4, False, "mse")
    assert np.all(t == t[0])
