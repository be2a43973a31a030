"""Threshold methods: pure functions (histogram of |x|, bits) -> threshold T, in one table.

Every method receives a :class:`~accelsim.quant.observers.HistogramStats` (``counts[k]`` values
with ``k*w <= |x| < (k+1)*w``, the exact ``max_abs``) and the bit width *b*; it returns T in
real units with ``0 < T <= max_abs`` (T = 0 only when every value was 0). ``L = 2**(b-1)``
is the number of non-negative levels of a signed symmetric b-bit code (``qmax + 1``). An
unsigned b-bit code (a tensor that cannot be negative) has ``2**b`` non-negative levels, as many
as a signed (b+1)-bit code: :func:`choose_threshold` passes ``b + 1`` for it.

Methods (register a new one in :data:`THRESHOLD_METHODS`, nowhere else):

``max``
    ``T = max|x|``.
``percentile``
    ``T`` = the *p*-th percentile of |x|, linearly interpolated inside the bin where the
    cumulative count crosses p (so within one bin of ``numpy.percentile``).
``kl-j``
    The paper's method (Settle et al. 2018). ``P = cumsum(counts)/sum(counts)``. For every cut
    ``i`` in ``L+1 .. bins-1``: ``R = P`` with ``R[i-1:] = 1``; resample ``R[:i]`` linearly
    (``np.interp`` over [0, 1]) down to ``L`` points and back up to ``i`` points into
    ``R[:i]``; score ``J(i) = sum((P - R) * log2(P / R))`` (symmetric Kullback-Leibler "J"
    divergence of the two cumulative distributions; both clipped below at 1e-12 so an empty
    leading bin does not make the score infinite). ``T = (i* + 1/2) * w`` for the best cut i*.
    Fewer than ``L + 2`` bins (tiny tensors, or 16 bits) -> ``T = max|x|``.
``entropy``
    TensorRT-style KL on the histogram itself. For every cut ``i`` in ``L .. bins``:
    ``p = counts[:i]`` with the outliers ``sum(counts[i:])`` added to ``p[i-1]``; ``q`` merges
    ``counts[:i]`` into ``L`` contiguous groups (bin ``k`` in group ``floor(k*L/i)``, so group
    sizes differ by at most one), then spreads each group's sum evenly over its non-empty bins; score ``KL(p || q)`` over normalised
    distributions, ``q`` smoothed by 1e-12 where ``p > 0``. ``T = i* * w``. Fewer than ``L``
    bins -> max. Values exactly 0 (half of a ReLU output) are left out: 0 is exact at any
    threshold, and a zero spike merged with its neighbours in ``q`` would otherwise dominate
    the divergence and pull T far down (measured: 1.8 instead of 4.7 on a ReLU'd Gaussian).
``mse``
    Minimise the expected squared error over candidates ``T = (j+1) * w``, ``j = 0..bins-1``,
    with values at bin centres ``c``: ``E(T) = n(c<=T) * s**2/12 + sum_{c>T} n_c (c - T)**2``,
    ``s = T / qmax(b)`` (uniform rounding noise inside the range plus clipping error outside).
    On uniform data the optimum is within a fraction of a percent below the max.
``auto`` (:func:`choose_threshold_auto`, not a histogram rule)
    Every method above proposes its T; the calibration driver measures, on the calibration
    batch, the mean squared error between the layer's quantized output at each T and the
    float model's tensor, and keeps the T with the smallest error (ties: the first in
    :data:`THRESHOLD_METHODS` order). It sees what a histogram cannot: the error already
    carried in from earlier layers and the clipping of a fused activation.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from accelsim.errors import ConfigError
from accelsim.quant.observers import HistogramStats

_EPS = 1e-12

ThresholdFn = Callable[..., float]


def _levels(bits: int) -> int:
    if not 2 <= int(bits) <= 17:  # 17: the levels of an unsigned 16-bit code
        raise ConfigError(f"bit width must be 2-16, got {bits}")
    return 1 << (int(bits) - 1)


def _trivial(stats: HistogramStats) -> float | None:
    """Threshold for degenerate statistics (all zero), else None."""
    if stats.max_abs <= 0.0 or stats.bin_width <= 0.0:
        return 0.0
    return None


def threshold_max(stats: HistogramStats, bits: int, **_: object) -> float:
    """``T = max|x|`` (every value representable; the bits do not matter)."""
    _levels(bits)
    return float(stats.max_abs)


def threshold_percentile(stats: HistogramStats, bits: int, percentile: float = 99.99, **_: object) -> float:
    """``T`` = *percentile* (in %, 0 < p <= 100) of |x|, interpolated inside one bin.

    ``p = 100`` gives the max exactly.
    """
    _levels(bits)
    if (t := _trivial(stats)) is not None:
        return t
    if not 0.0 < percentile <= 100.0:
        raise ConfigError(f"quant.percentile must be in (0, 100], got {percentile}")
    if percentile >= 100.0:
        return float(stats.max_abs)
    counts = stats.counts
    cdf = np.cumsum(counts) / counts.sum()
    target = percentile / 100.0
    j = int(np.searchsorted(cdf, target, side="left"))
    j = min(j, counts.size - 1)
    lo = cdf[j - 1] if j > 0 else 0.0
    frac = (target - lo) / (cdf[j] - lo) if cdf[j] > lo else 1.0
    return float(min((j + frac) * stats.bin_width, stats.max_abs))


def threshold_kl_j(stats: HistogramStats, bits: int, **_: object) -> float:
    """The paper's KL-J search on the cumulative distribution (formula in the module docstring)."""
    levels = _levels(bits)
    if (t := _trivial(stats)) is not None:
        return t
    counts = stats.counts
    n = counts.size
    if n < levels + 2:
        return float(stats.max_abs)
    cdf = np.cumsum(counts) / counts.sum()
    cdf_c = np.maximum(cdf, _EPS)
    x_lev = np.linspace(0.0, 1.0, levels)
    best_i, best_d = -1, np.inf
    r = np.empty_like(cdf)
    for i in range(levels + 1, n):
        r[:] = cdf
        r[i - 1:] = 1.0
        x_i = np.linspace(0.0, 1.0, i)
        down = np.interp(x_lev, x_i, r[:i])
        r[:i] = np.interp(x_i, x_lev, down)
        rc = np.maximum(r, _EPS)
        d = float(np.sum((cdf_c - rc) * np.log2(cdf_c / rc)))
        if d < best_d:
            best_i, best_d = i, d
    return float(min((best_i + 0.5) * stats.bin_width, stats.max_abs))


def threshold_entropy(stats: HistogramStats, bits: int, **_: object) -> float:
    """TensorRT-style KL divergence on the histogram (formula in the module docstring)."""
    levels = _levels(bits)
    if (t := _trivial(stats)) is not None:
        return t
    counts = stats.counts.copy()
    counts[0] -= min(stats.zero_count, counts[0])  # exact zeros are exact at any threshold
    n = counts.size
    if n < levels or counts.sum() <= 0:
        return float(stats.max_abs)
    best_i, best_d = n, np.inf
    tail = np.concatenate([np.cumsum(counts[::-1])[::-1], [0.0]])  # tail[i] = sum(counts[i:])
    for i in range(levels, n + 1):
        p = counts[:i].copy()
        p[i - 1] += tail[i]
        nz = (counts[:i] > 0).astype(np.float64)
        group = (np.arange(i) * levels) // i
        sums = np.bincount(group, weights=counts[:i], minlength=levels)
        nzc = np.bincount(group, weights=nz, minlength=levels)
        per = np.divide(sums, nzc, out=np.zeros(levels), where=nzc > 0)
        q = per[group] * nz
        ps = p.sum()
        qs = q.sum()
        if ps <= 0 or qs <= 0:
            continue
        p /= ps
        q /= qs
        m = p > 0
        d = float(np.sum(p[m] * np.log(p[m] / np.maximum(q[m], _EPS))))
        if d < best_d:
            best_i, best_d = i, d
    return float(min(best_i * stats.bin_width, stats.max_abs))


def threshold_mse(stats: HistogramStats, bits: int, **_: object) -> float:
    """Minimum expected squared quantization error (formula in the module docstring)."""
    levels = _levels(bits)
    if (t := _trivial(stats)) is not None:
        return t
    qm = levels - 1
    n = stats.counts
    c = stats.centers
    cand = np.minimum((np.arange(n.size) + 1) * stats.bin_width, stats.max_abs)
    inside = np.cumsum(n)  # values with centre <= candidate j (bins 0..j)
    s0 = inside[-1] - inside
    s1 = np.cumsum((n * c)[::-1])[::-1]
    s2 = np.cumsum((n * c * c)[::-1])[::-1]
    s1 = np.append(s1[1:], 0.0)  # tails over bins > j
    s2 = np.append(s2[1:], 0.0)
    step = cand / qm
    err = inside * step**2 / 12.0 + (s2 - 2.0 * cand * s1 + cand**2 * s0)
    return float(cand[int(np.argmin(err))])


THRESHOLD_METHODS: dict[str, ThresholdFn] = {
    "kl-j": threshold_kl_j,
    "max": threshold_max,
    "percentile": threshold_percentile,
    "entropy": threshold_entropy,
    "mse": threshold_mse,
}
"""Every threshold method by its config name (``quant.method``)."""


def choose_threshold(stats: HistogramStats, method: str, bits: int, percentile: float = 99.99,
                     unsigned: bool = False) -> float:
    """Apply the method named *method* (a key of :data:`THRESHOLD_METHODS`).

    *unsigned* codes (``0 .. 2**bits - 1``) have the non-negative levels of a signed
    ``bits + 1``-bit code, so the method is asked for ``bits + 1``.

    Raises
    ------
    ConfigError
        Unknown method name or bits outside 2-16.
    """
    try:
        fn = THRESHOLD_METHODS[method]
    except KeyError:
        raise ConfigError(
            f"quant.method: unknown threshold method {method!r} (valid: {', '.join(THRESHOLD_METHODS)}, auto)"
        ) from None
    if not 2 <= int(bits) <= 16:
        raise ConfigError(f"bit width must be 2-16, got {bits}")
    return fn(stats, int(bits) + (1 if unsigned else 0), percentile=percentile)


def choose_threshold_auto(stats: HistogramStats, bits: int, error: Callable[[float], float],
                          percentile: float = 99.99, unsigned: bool = False) -> tuple[str, float]:
    """The ``auto`` rule: the candidate threshold with the smallest ``error(T)``.

    Parameters
    ----------
    error : maps a threshold T (real units) to the error of the quantized output against the
        float reference (any non-negative score; the driver uses a mean squared error).

    Returns
    -------
    (method, T) : the winning method's name and its threshold. Candidates proposing the same T
    are scored once; ties keep the first method in :data:`THRESHOLD_METHODS` order.
    """
    best: tuple[float, str, float] | None = None
    scored: dict[float, float] = {}
    for name in THRESHOLD_METHODS:
        t = choose_threshold(stats, name, bits, percentile, unsigned)
        if t not in scored:
            scored[t] = float(error(t))
        if best is None or scored[t] < best[0]:
            best = (scored[t], name, t)
    assert best is not None
    return best[1], best[2]
