"""Threshold methods against distributions with known answers, plus one common check over all."""

import numpy as np
import pytest

from accelsim.errors import ConfigError
from accelsim.quant.observers import HistogramObserver
from accelsim.quant.thresholds import THRESHOLD_METHODS, choose_threshold


def _stats(x):
    obs = HistogramObserver()
    obs.update(x)
    return obs.statistics()


GAUSS = np.random.default_rng(0).standard_normal(250_000)
UNIFORM = np.random.default_rng(1).uniform(-2.0, 2.0, 250_000)
OUTLIERS = np.concatenate([np.random.default_rng(2).standard_normal(250_000), [40.0, -55.0, 70.0]])


@pytest.mark.parametrize("method", sorted(THRESHOLD_METHODS))
@pytest.mark.parametrize("data", [GAUSS, UNIFORM, OUTLIERS], ids=["gauss", "uniform", "outliers"])
def test_common_contract(method, data):
    """Every method: 0 < T <= max, sensible (non-decreasing) over bits, zero data -> 0."""
    st = _stats(data)
    amax = np.abs(data).max()
    ts = [choose_threshold(st, method, b) for b in (2, 4, 8, 16)]
    assert all(0 < t <= amax + 1e-12 for t in ts)
    if method != "entropy":  # entropy's KL on the histogram is not monotone at high bits
        assert all(a <= b + 1e-9 for a, b in zip(ts, ts[1:]))
    else:
        assert ts[0] <= ts[1] <= ts[2] + 1e-9
    zero = _stats(np.zeros(100))
    assert choose_threshold(zero, method, 8) == 0.0


def test_max_is_max():
    assert choose_threshold(_stats(OUTLIERS), "max", 8) == 70.0


@pytest.mark.parametrize("p", [90.0, 99.0, 99.99])
def test_percentile_matches_numpy_within_one_bin(p):
    st = _stats(GAUSS)
    ref = np.percentile(np.abs(GAUSS), p)
    assert abs(choose_threshold(st, "percentile", 8, percentile=p) - ref) <= st.bin_width
    assert choose_threshold(st, "percentile", 8, percentile=100.0) == np.abs(GAUSS).max()


def test_kl_j_on_gaussian_in_documented_range():
    """Measured 3.7-4.3 sigma at 8 bits over 1e4-4e6 samples; documented range 3.4-4.5 sigma."""
    for seed in range(3):
        x = np.random.default_rng(10 + seed).standard_normal(100_000)
        t = choose_threshold(_stats(x), "kl-j", 8)
        assert 3.4 <= t <= 4.5
    # fewer levels -> tighter clip: about 2.5 sigma at 4 bits
    assert 2.2 <= choose_threshold(_stats(GAUSS), "kl-j", 4) <= 2.9


def test_kl_j_clips_rare_outliers_max_does_not():
    st = _stats(OUTLIERS)
    assert choose_threshold(st, "max", 8) == 70.0
    assert choose_threshold(st, "kl-j", 8) <= (128 + 1.5) * st.bin_width  # the smallest cut: L+1 bins
    assert choose_threshold(st, "kl-j", 8) < 0.3 * 70.0
    assert choose_threshold(st, "kl-j", 6) < 5.0  # back near the Gaussian body


def test_kl_j_falls_back_to_max_when_fewer_bins_than_levels():
    x = np.random.default_rng(3).standard_normal(10_000)  # 100 bins < 2**15 levels
    assert choose_threshold(_stats(x), "kl-j", 16) == np.abs(x).max()


def test_mse_on_uniform_is_about_the_max():
    """Uniform on [0, M]: E(T) minimum at M - T = sqrt(T^2/(4*127^2)) ~ 0.4 % of M at 8 bits."""
    t = choose_threshold(_stats(UNIFORM), "mse", 8)
    assert 0.99 * 2.0 <= t <= 2.0


def test_mse_gaussian_known_optimum():
    """Optimal clipping of a unit Gaussian, 4-bit symmetric (15 levels): about 2.5 sigma."""
    assert 2.3 <= choose_threshold(_stats(GAUSS), "mse", 4) <= 2.7


def test_bad_method_and_bits():
    st = _stats(GAUSS)
    with pytest.raises(ConfigError, match="unknown threshold method 'kl'.*kl-j"):
        choose_threshold(st, "kl", 8)
    with pytest.raises(ConfigError, match="bit width must be 2-16, got 17"):
        choose_threshold(st, "max", 17)


def test_unsigned_codes_get_the_levels_of_one_more_bit():
    """An unsigned b-bit code has 2**b non-negative levels, as many as a signed (b+1)-bit code."""
    obs = HistogramObserver()
    obs.update(np.maximum(np.random.default_rng(5).standard_normal(20000), 0.0))
    st = obs.statistics()
    for name in THRESHOLD_METHODS:
        for b in (2, 4, 8):
            assert choose_threshold(st, name, b, unsigned=True) == choose_threshold(st, name, b + 1)
    # 16-bit unsigned is allowed (17 "levels bits" inside), 17-bit is not
    choose_threshold(st, "kl-j", 16, unsigned=True)
    with pytest.raises(ConfigError, match="2-16"):
        choose_threshold(st, "max", 17)


def test_auto_keeps_the_candidate_with_the_least_error():
    from accelsim.quant.thresholds import choose_threshold_auto

    obs = HistogramObserver()
    x = np.random.default_rng(6).laplace(size=50000)
    obs.update(x)
    st = obs.statistics()
    cands = {m: choose_threshold(st, m, 4) for m in THRESHOLD_METHODS}

    def err(t):  # true squared error of a 4-bit symmetric quantizer on the data itself
        s = t / 7
        return float(np.mean((np.clip(np.floor(x / s + 0.5), -7, 7) * s - x) ** 2))

    name, t = choose_threshold_auto(st, 4, err)
    assert t == cands[name]
    assert err(t) == min(err(c) for c in cands.values())
    # a score that prefers the largest threshold picks max
    assert choose_threshold_auto(st, 4, lambda t: -t)[0] == "max"
