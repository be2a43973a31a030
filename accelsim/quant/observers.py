"""Observers: statistics of a tensor collected over calibration batches (no decisions here).

An observer only accumulates (``update``, ``merge``, ``reset``, ``save``/``load``); turning its
statistics into a threshold is the job of :mod:`accelsim.quant.thresholds`. Learned values end
in ``_``; reading them before any ``update`` raises :class:`~accelsim.errors.NotCalibratedError`.

Binning rule of :class:`HistogramObserver` (the paper's: about sqrt(count) bins of |x|):

* the first update with a non-zero value fixes the bin width:
  ``bins = clip(ceil(sqrt(count)), 1, max_bins)``, ``bin_width = max|x| / bins``; bin ``k``
  holds ``k*w <= |x| < (k+1)*w`` and ``|x| == max`` goes to the last bin;
* later updates keep the width; values beyond the covered range append bins of the same
  width; when that would exceed ``max_bins``, adjacent bin pairs are merged (width doubles)
  until it fits — an exact operation, since all bins start at 0;
* an update whose values are all 0 before the width is fixed only counts them (bin 0 later).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from accelsim.atomic import save_npz
from accelsim.errors import InputFileError, NotCalibratedError

OBSERVER_VERSION = 1
"""Version of the saved ``.npz`` layout of :class:`HistogramObserver`."""

DEFAULT_MAX_BINS = 4096
"""Cap on the bin count (sqrt of 16.7 M values); keeps the O(bins^2) searches under a second."""


@dataclass(frozen=True)
class HistogramStats:
    """What a threshold method sees: a histogram of |x| with bins of equal width starting at 0.

    Attributes
    ----------
    counts : float64 ``[bins]``, values per bin.
    bin_width : width of a bin, real units (0 when every value seen was 0).
    max_abs : exact largest |x| seen, real units.
    zero_count : how many of the values in bin 0 were exactly 0 (e.g. after a ReLU).
    """

    counts: np.ndarray
    bin_width: float
    max_abs: float
    zero_count: float = 0.0

    @property
    def n_bins(self) -> int:
        return int(self.counts.size)

    @property
    def centers(self) -> np.ndarray:
        """Bin centres ``(k + 1/2) * w``."""
        return (np.arange(self.n_bins) + 0.5) * self.bin_width


class HistogramObserver:
    """Histogram of |x| with about sqrt(count) bins, plus the running max (see module docstring).

    Parameters
    ----------
    max_bins : upper bound on the number of bins.
    """

    def __init__(self, max_bins: int = DEFAULT_MAX_BINS) -> None:
        if int(max_bins) < 1:
            raise ValueError(f"max_bins must be >= 1, got {max_bins}")
        self.max_bins = int(max_bins)
        self.reset()

    # -- state -------------------------------------------------------------------------
    def reset(self) -> "HistogramObserver":
        """Forget every statistic."""
        self._counts: np.ndarray | None = None
        self._width = 0.0
        self._max = 0.0
        self._count = 0
        self._zeros_pending = 0.0  # all-zero values seen before the width was fixed
        self._exact_zeros = 0.0
        return self

    def _check(self) -> None:
        if self._count == 0:
            raise NotCalibratedError(
                "HistogramObserver: no statistics yet; call update(x) with calibration data first"
            )

    @property
    def count_(self) -> int:
        """Number of values seen."""
        self._check()
        return self._count

    @property
    def max_(self) -> float:
        """Largest |x| seen (real units)."""
        self._check()
        return self._max

    @property
    def bin_width_(self) -> float:
        """Bin width (real units); 0 while every value seen was 0."""
        self._check()
        return self._width

    @property
    def hist_(self) -> np.ndarray:
        """Counts per bin (float64); ``[count]`` in one bin while every value seen was 0."""
        self._check()
        if self._counts is None:
            return np.array([self._zeros_pending])
        return self._counts.copy()

    @property
    def zeros_(self) -> float:
        """How many values seen were exactly 0."""
        self._check()
        return self._exact_zeros

    def statistics(self) -> HistogramStats:
        """The collected histogram as an immutable :class:`HistogramStats`."""
        return HistogramStats(counts=self.hist_, bin_width=self._width, max_abs=self._max,
                              zero_count=self.zeros_)

    # -- accumulation ------------------------------------------------------------------
    def _grow_to(self, value: float) -> None:
        """Extend the bins (same width, merged by pairs if too many) to cover *value*."""
        assert self._counts is not None and self._width > 0
        need = int(math.floor(value / self._width)) + 1
        while need > self.max_bins:
            counts = self._counts
            if counts.size % 2:
                counts = np.append(counts, 0.0)
            self._counts = counts.reshape(-1, 2).sum(axis=1)
            self._width *= 2.0
            need = int(math.floor(value / self._width)) + 1
        if need > self._counts.size:
            self._counts = np.append(self._counts, np.zeros(need - self._counts.size))

    def _add_weighted(self, values: np.ndarray, weights: np.ndarray | None) -> None:
        """Add |values| (optionally weighted) to the fixed-width histogram."""
        idx = np.floor(values / self._width).astype(np.int64)
        idx = np.minimum(idx, self._counts.size - 1)
        self._counts += np.bincount(idx, weights=weights, minlength=self._counts.size)

    def update(self, x: np.ndarray) -> np.ndarray:
        """Add the values of *x* (any shape) and return *x* untouched.

        Raises
        ------
        ValueError
            *x* holds NaN or Inf (the calibration driver checks batches first with a clear message).
        """
        a = np.abs(np.asarray(x, dtype=np.float64)).ravel()
        if a.size == 0:
            return x
        if not np.all(np.isfinite(a)):
            raise ValueError("HistogramObserver.update: tensor holds NaN or Inf")
        amax = float(a.max())
        self._exact_zeros += float(a.size - np.count_nonzero(a))
        if self._counts is None:
            if amax == 0.0:
                self._zeros_pending += a.size
                self._count += a.size
                return x
            bins = int(min(max(math.ceil(math.sqrt(a.size)), 1), self.max_bins))
            self._width = amax / bins
            self._counts = np.zeros(bins)
            self._counts[0] += self._zeros_pending
            self._zeros_pending = 0.0
        elif amax > self._counts.size * self._width:
            self._grow_to(amax)
        self._add_weighted(a, None)
        self._max = max(self._max, amax)
        self._count += a.size
        return x

    def merge(self, other: "HistogramObserver") -> "HistogramObserver":
        """Add *other*'s statistics to this observer (in place) and return self.

        Equal widths (or widths differing by a power of two) merge exactly; otherwise each of
        *other*'s bins is moved whole to the bin holding its centre.
        """
        if other._count == 0:
            return self
        self._exact_zeros += other._exact_zeros
        if self._count == 0:
            self._counts = None if other._counts is None else other._counts.copy()
            self._width, self._max = other._width, other._max
            self._count, self._zeros_pending = other._count, other._zeros_pending
            self._exact_zeros = other._exact_zeros
            return self
        if other._counts is None:
            if self._counts is None:
                self._zeros_pending += other._zeros_pending
            else:
                self._counts[0] += other._zeros_pending
            self._count += other._count
            return self
        if self._counts is None:
            zeros = self._zeros_pending
            self._counts = other._counts.copy()
            self._width, self._max = other._width, other._max
            self._counts[0] += zeros
            self._zeros_pending = 0.0
            self._count += other._count
            return self
        top = other._counts.size * other._width
        if top > self._counts.size * self._width:
            self._grow_to(top * (1 - 1e-12))
        centers = (np.arange(other._counts.size) + 0.5) * other._width
        self._add_weighted(centers, other._counts)
        self._max = max(self._max, other._max)
        self._count += other._count
        return self

    # -- persistence -------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """Write the statistics to an ``.npz`` (no pickle)."""
        self._check()
        save_npz(path, dict(
            version=np.int64(OBSERVER_VERSION),
            counts=self.hist_,
            bin_width=np.float64(self._width),
            max_abs=np.float64(self._max),
            count=np.int64(self._count),
            max_bins=np.int64(self.max_bins),
            fixed=np.bool_(self._counts is not None),
            zeros=np.float64(self._exact_zeros),
        ))

    @classmethod
    def load(cls, path: str | Path) -> "HistogramObserver":
        """Read an observer written by :meth:`save`.

        Raises
        ------
        InputFileError
            Missing, corrupt or newer-version file.
        """
        try:
            with np.load(path, allow_pickle=False) as z:
                version = int(z["version"])
                if version > OBSERVER_VERSION:
                    raise InputFileError(
                        f"{path}: observer file version {version} is newer than this accelsim reads "
                        f"(<= {OBSERVER_VERSION})"
                    )
                obs = cls(max_bins=int(z["max_bins"]))
                counts = np.asarray(z["counts"], dtype=np.float64)
                obs._width = float(z["bin_width"])
                obs._max = float(z["max_abs"])
                obs._count = int(z["count"])
                obs._exact_zeros = float(z["zeros"])
                if bool(z["fixed"]):
                    obs._counts = counts
                else:
                    obs._zeros_pending = float(counts.sum())
        except InputFileError:
            raise
        except (OSError, KeyError, ValueError) as exc:
            raise InputFileError(f"{path}: not an accelsim observer file ({exc})") from None
        return obs
