"""HistogramObserver: binning rule, growth, merge, save/load, not-calibrated errors."""

import math

import numpy as np
import pytest

from accelsim.errors import InputFileError, NotCalibratedError
from accelsim.quant.observers import HistogramObserver


def test_first_update_fixes_sqrt_bins_and_max():
    x = np.random.default_rng(0).standard_normal(10_000)
    obs = HistogramObserver()
    assert obs.update(x) is x
    assert obs.hist_.size == 100  # ceil(sqrt(10000))
    assert obs.max_ == pytest.approx(np.abs(x).max())
    assert obs.bin_width_ == pytest.approx(np.abs(x).max() / 100)
    ref, _ = np.histogram(np.abs(x), bins=100, range=(0, np.abs(x).max()))
    np.testing.assert_array_equal(obs.hist_, ref)
    assert obs.count_ == 10_000


def test_reading_before_update_raises():
    obs = HistogramObserver()
    for attr in ("hist_", "max_", "bin_width_", "count_"):
        with pytest.raises(NotCalibratedError, match="call update"):
            getattr(obs, attr)
    with pytest.raises(NotCalibratedError):
        obs.statistics()


def test_growth_keeps_width_and_merges_pairs_when_too_many():
    obs = HistogramObserver(max_bins=16)
    obs.update(np.linspace(0, 1, 256))  # 16 bins of width 1/16
    obs.update(np.array([1.5]))  # needs 25 bins > 16 -> width doubles to 1/8, 13 bins
    assert obs.bin_width_ == pytest.approx(1 / 8)
    assert obs.hist_.sum() == 257
    assert obs.max_ == 1.5
    first, _ = np.histogram(np.linspace(0, 1, 256), bins=16, range=(0, 1))  # max in last bin
    ref = np.zeros(13)
    ref[:8] = first.reshape(8, 2).sum(axis=1)
    ref[12] = 1  # 1.5 / (1/8) = 12
    np.testing.assert_array_equal(obs.hist_, ref)


def test_merge_equals_single_pass_for_equal_width_and_reset():
    rng = np.random.default_rng(1)
    a, b = rng.uniform(-1, 1, 400), rng.uniform(-1, 1, 400)
    a[0], b[0] = 1.0, -1.0  # same range -> same width (20 bins of 0.05)
    oa, ob = HistogramObserver(), HistogramObserver()
    oa.update(a)
    ob.update(b)
    oa.merge(ob)
    ref, _ = np.histogram(np.abs(np.concatenate([a, b])), bins=20, range=(0, 1))
    np.testing.assert_array_equal(oa.hist_, ref)
    assert oa.count_ == 800
    oa.reset()
    with pytest.raises(NotCalibratedError):
        oa.max_


def test_all_zero_then_values():
    obs = HistogramObserver()
    obs.update(np.zeros(100))
    assert obs.bin_width_ == 0 and obs.max_ == 0
    obs.update(np.array([0.0, 2.0, 2.0, 2.0]))
    assert obs.hist_[0] == 101 and obs.hist_.sum() == 104


def test_save_load_roundtrip(tmp_path):
    obs = HistogramObserver()
    obs.update(np.arange(-50, 51, dtype=np.float32))
    obs.save(tmp_path / "o.npz")
    back = HistogramObserver.load(tmp_path / "o.npz")
    np.testing.assert_array_equal(back.hist_, obs.hist_)
    assert back.max_ == 50 and back.count_ == 101 and back.bin_width_ == obs.bin_width_
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(InputFileError, match="bad.npz"):
        HistogramObserver.load(tmp_path / "bad.npz")


def test_nan_rejected():
    with pytest.raises(ValueError, match="NaN or Inf"):
        HistogramObserver().update(np.array([1.0, math.nan]))
