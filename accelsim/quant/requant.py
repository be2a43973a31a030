"""The requantization scheme: threshold -> step -> integer (pre_shift, scale, post_shift).

One path for every op that rescales codes (conv, gemm, avgpool, add/concat inputs, mul): the
real multiplier ``m = s_in * s_w[c] / s_out`` (or ``s_in / s_out``, ``s_in / (s_out * k)``, ...)
becomes ``out = sat(rshift_round(rshift_round(acc, pre) * scale, post))`` (the rule lives in
:func:`accelsim.layers.arith.requantize`; this module only chooses the integers).

Choice of the integers, for ``B = scale_bits``:

* **scale normalised to the top half of its width**: ``n = B - 1 - floor(log2 m)`` so that
  ``m * 2**n`` lies in ``[2**(B-1), 2**B)``; ``scale = round(m * 2**n)`` (a round-up to
  ``2**B`` renormalises to ``2**(B-1)`` with ``n - 1``). An unsigned B-bit integer holds up to
  ``2**B - 1``; using its top half gives the smallest representation error,
  ``|scale / 2**n - m| / m <= 2**-B`` (0.39 % at 8 bits). DESIGN §3's "scale <= 128" would be
  the bound for a scale kept at or below ``2**(B-1)`` (error up to 0.78 % at 8 bits); both meet
  the 1 % bar, we take the more precise one since the multiplier is unsigned either way.
* **pre_shift keeps the product inside the accumulator width**: from the per-channel bound
  ``A >= |acc|`` (``|bias| + qmax_in * sum|w_q|`` for a conv), ``pre`` is the smallest shift
  with ``ceil(A / 2**pre) * scale < 2**(acc_bits-1)``, so ``(acc >> pre) * scale`` can never
  overflow an ``acc_bits`` register; usually 0, and then the requantization is exact up to the
  final rounding. ``post = n - pre``.
* **bounds**: ``0 <= pre <= acc_bits - 1`` and ``0 <= post <= MAX_SHIFT`` (62, so that the
  rounding constant fits int64). A multiplier so small that ``n`` exceeds ``pre + MAX_SHIFT``
  keeps ``post = MAX_SHIFT`` and rounds ``scale`` (possibly to 0: every output is then 0 anyway).
  A multiplier so large that ``n < 0`` (``m >= 2**B``) cannot be represented by right shifts
  and raises :class:`~accelsim.errors.ConfigError` naming the layer.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from accelsim.errors import ConfigError
from accelsim.layers.arith import qmax, quantize_tensor, step_from_threshold

MAX_SHIFT = 62
"""Largest post shift (the rounding constant ``1 << (shift-1)`` must fit int64)."""


def requant_params(multiplier: np.ndarray | float, acc_bound: np.ndarray | int, scale_bits: int,
                   acc_bits: int, where: str = "") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Integers ``(pre_shift, scale, post_shift)`` approximating each real multiplier.

    Parameters
    ----------
    multiplier : real multipliers ``m > 0`` (one per channel, or a scalar).
    acc_bound : upper bound of ``|acc|`` per channel (integer codes), broadcast against *multiplier*.
    scale_bits : width B of the unsigned scale, bits.
    acc_bits : accumulator (and product register) width, bits.
    where : layer name for error messages.

    Returns
    -------
    pre_shift, scale, post_shift : int32, int64, int32 arrays shaped like *multiplier*.

    Raises
    ------
    ConfigError
        A multiplier is not finite and positive, or needs a left shift (``m >= 2**B``).
    """
    m = np.atleast_1d(np.asarray(multiplier, dtype=np.float64))
    bound = np.broadcast_to(np.asarray(acc_bound, dtype=np.float64), m.shape)
    pre = np.zeros(m.shape, dtype=np.int32)
    scale = np.zeros(m.shape, dtype=np.int64)
    post = np.zeros(m.shape, dtype=np.int32)
    top = (1 << scale_bits) - 1
    limit = float(1 << (acc_bits - 1))
    for c in range(m.size):
        mc = float(m.flat[c])
        if not (math.isfinite(mc) and mc > 0.0):
            raise ConfigError(f"layer {where!r}: requantization multiplier must be finite and > 0, got {mc}")
        n = scale_bits - 1 - math.floor(math.log2(mc))
        s = math.floor(mc * 2.0**n + 0.5)
        if s > top:  # rounding reached 2**B: renormalise
            n -= 1
            s = math.floor(mc * 2.0**n + 0.5)
        if n < 0:
            raise ConfigError(
                f"layer {where!r}: requantization multiplier {mc:.4g} >= 2**{scale_bits} needs a left "
                f"shift; raise quant.scale_bits above {scale_bits}"
            )
        p = 0
        b = float(bound.flat[c])
        while p < min(n, acc_bits - 1) and math.ceil(b / 2.0**p) * s >= limit:
            p += 1
        q = n - p
        if q > MAX_SHIFT:
            q = MAX_SHIFT
            s = math.floor(mc * 2.0 ** (p + q) + 0.5)
        pre.flat[c], scale.flat[c], post.flat[c] = p, s, q
    return pre, scale, post


def multiplier_error(multiplier: np.ndarray | float, pre: np.ndarray, scale: np.ndarray,
                     post: np.ndarray) -> np.ndarray:
    """Relative error ``|scale * 2**-(pre+post) - m| / m`` of the integer multiplier (float64)."""
    m = np.atleast_1d(np.asarray(multiplier, dtype=np.float64))
    eff = np.asarray(scale, dtype=np.float64) * np.exp2(-(np.asarray(pre, np.float64) + np.asarray(post, np.float64)))
    return np.abs(eff - m) / m


def int_dtype(bits: int) -> np.dtype:
    """Smallest signed numpy integer type holding a symmetric *bits*-bit code."""
    for dt in (np.int8, np.int16, np.int32, np.int64):
        if bits <= np.iinfo(dt).bits:
            return np.dtype(dt)
    raise ValueError(f"no integer type holds {bits} bits")


MSE_WEIGHT_GRID = np.linspace(0.2, 1.0, 81)
"""Candidate weight thresholds of ``weight_method: mse``, as fractions of ``max|w|`` (step 1 %)."""


def weight_thresholds(w: np.ndarray, per_channel: bool, bits: int | None = None, method: str = "max") -> np.ndarray:
    """Weight threshold per output channel (axis 0), or one for the tensor repeated per channel.

    ``method="max"``: ``T[c] = max|w[c]|``. ``method="mse"`` (needs *bits*): among the candidates
    ``f * max|w[c]|``, ``f`` in :data:`MSE_WEIGHT_GRID`, the one minimising
    ``sum((w[c] - s * clip(round_half_up(w[c] / s), -qmax, qmax))**2)`` with ``s = T / qmax(bits)``
    (rounding plus clipping error; ``f = 1`` is max, so mse never has a larger error than max;
    ties keep the largest T). Per tensor, the same search runs over the whole tensor.

    An all-zero channel (or tensor) gets T = 1: every weight is code 0 whatever the step, and a
    finite step keeps the bias and multiplier arithmetic defined.
    """
    w = np.asarray(w, dtype=np.float64)
    rows = w.reshape(w.shape[0], -1) if per_channel else w.reshape(1, -1)
    t = np.abs(rows).max(axis=1)
    if method == "mse":
        if bits is None:
            raise ValueError("weight_thresholds: method 'mse' needs bits")
        t = _mse_weight_thresholds(rows, t, bits)
    elif method != "max":
        raise ValueError(f"weight_thresholds: method must be 'max' or 'mse', got {method!r}")
    if not per_channel:
        t = np.full(w.shape[0], t[0])
    return np.where(t > 0, t, 1.0)


def _mse_weight_thresholds(rows: np.ndarray, tmax: np.ndarray, bits: int) -> np.ndarray:
    """Per row of *rows*, the candidate threshold with the least squared quantization error."""
    m = qmax(bits)
    best_t = tmax.copy()
    best_e = np.full(tmax.shape, np.inf)
    for f in MSE_WEIGHT_GRID[::-1]:  # largest first: ties keep the larger threshold
        t = tmax * f
        s = np.where(t > 0, t / m, 1.0)[:, None]
        q = np.clip(np.floor(rows / s + 0.5), -m, m)
        e = ((rows - q * s) ** 2).sum(axis=1)
        better = e < best_e
        best_e = np.where(better, e, best_e)
        best_t = np.where(better, t, best_t)
    return best_t


def quantize_weights(w: np.ndarray, bits: int, per_channel: bool = True, method: str = "max"
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Symmetric weight quantization with the thresholds of :func:`weight_thresholds`.

    Returns
    -------
    codes : weights as the smallest fitting int type, ``q = clip(floor(w/s + 1/2), -qmax, qmax)``.
    thresholds, steps : float64 ``[Cout]``, ``s = T / qmax(bits)``.
    """
    t = weight_thresholds(w, per_channel, bits, method)
    s = t / qmax(bits)
    shape = (-1,) + (1,) * (np.ndim(w) - 1)
    q = quantize_tensor(w, s.reshape(shape), bits)
    return q.astype(int_dtype(bits)), t, s


def quantize_bias(b: np.ndarray | None, acc_step: np.ndarray, bias_bits: int, where: str = ""
                  ) -> np.ndarray:
    """Bias in accumulator units ``round_half_up(b / (s_in * s_w[c]))``, saturated to *bias_bits*.

    Saturation is not an error (the layer still runs, with a clipped bias) but it changes the
    numbers, so it is reported with a :class:`UserWarning` naming the layer and the count.
    Returns int32 when ``bias_bits <= 32``, else int64.
    """
    dtype = np.int32 if bias_bits <= 32 else np.int64
    acc_step = np.asarray(acc_step, dtype=np.float64)
    if b is None:
        return np.zeros(acc_step.shape, dtype=dtype)
    v = np.floor(np.asarray(b, dtype=np.float64) / acc_step + 0.5)
    hi = float(qmax(bias_bits))
    n_sat = int(np.count_nonzero(np.abs(v) > hi))
    if n_sat:
        warnings.warn(f"layer {where!r}: {n_sat} bias value(s) saturated to {bias_bits} bits", stacklevel=2)
    return np.clip(v, -hi, hi).astype(dtype)


__all__ = [
    "MAX_SHIFT",
    "MSE_WEIGHT_GRID",
    "int_dtype",
    "multiplier_error",
    "quantize_bias",
    "quantize_weights",
    "requant_params",
    "step_from_threshold",
    "weight_thresholds",
]
