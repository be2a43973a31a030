"""The integer arithmetic a descriptor means, as plain numpy int64 (the specification).

The datapath implements the same rules in Numba for speed; the quantizer uses them to quantize
network inputs. Every rule here is what the hardware does:

* quantize a float input: ``q = clip(floor(x / s + 1/2), -qmax, qmax)``, ``qmax = 2**(b-1) - 1``
  (round half up; the only float operation, at the network boundary);
* a tensor that cannot be negative may use unsigned codes ``0 .. 2**b - 1`` (:func:`code_range`):
  same integers, twice the positive levels; the datapath needs no other change (codes are int32);
* shift right with rounding half up: ``rshift_round(v, n) = (v + (1 << (n-1))) >> n`` for n > 0,
  an arithmetic (floor) shift, so ties go towards +inf for negative values too;
* requantize: ``out = clip(rshift_round(rshift_round(acc, pre) * scale, post), lo, hi)``;
* requantize a sum (``add``): each input's product ``p_i = rshift_round(x_i, pre_i) * scale_i`` is
  exact, the two are summed exactly at the finer of the two post shifts and the sum is rounded
  **once**: ``out = clip(round_half_up(p_0 / 2**post_0 + p_1 / 2**post_1), lo, hi)``
  (:func:`requantize_sum`). Rounding each input to the output step before adding would add a second
  rounding error to every residual sum.
"""

from __future__ import annotations

import numpy as np


def qmax(bits: int) -> int:
    """Largest code of a symmetric signed *bits*-bit value: ``2**(bits-1) - 1``."""
    return (1 << (bits - 1)) - 1


def code_range(bits: int, unsigned: bool = False) -> tuple[int, int]:
    """Lowest and highest code of a *bits*-bit value: ``(-qmax, qmax)`` signed, ``(0, 2**bits - 1)`` unsigned."""
    if unsigned:
        return 0, (1 << bits) - 1
    m = qmax(bits)
    return -m, m


def step_from_threshold(threshold: float, bits: int, unsigned: bool = False) -> float:
    """Step ``s = T / hi`` of a *bits*-bit quantizer with threshold *T* (``hi`` of :func:`code_range`)."""
    return float(threshold) / code_range(bits, unsigned)[1]


def quantize_tensor(x: np.ndarray, step: float, bits: int) -> np.ndarray:
    """Float -> int64 codes: ``clip(floor(x / step + 0.5), -qmax, qmax)``."""
    m = qmax(bits)
    q = np.floor(np.asarray(x, dtype=np.float64) / step + 0.5)
    return np.clip(q, -m, m).astype(np.int64)


def rshift_round(v: np.ndarray, shift: np.ndarray | int) -> np.ndarray:
    """Arithmetic right shift by *shift* (>= 0) rounding half up; shift 0 is the identity."""
    v = np.asarray(v, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    half = np.where(shift > 0, np.left_shift(np.int64(1), np.maximum(shift - 1, 0)), 0)
    return np.right_shift(v + half, shift)


def requantize(acc: np.ndarray, pre: np.ndarray | int, scale: np.ndarray | int,
               post: np.ndarray | int, lo: int, hi: int) -> np.ndarray:
    """``clip(rshift_round(rshift_round(acc, pre) * scale, post), lo, hi)`` in int64.

    Per-channel parameters broadcast against *acc* (put the channel axis last or reshape first).
    """
    v = rshift_round(acc, pre) * np.asarray(scale, dtype=np.int64)
    return np.clip(rshift_round(v, post), lo, hi)


def requantize_sum(x0: np.ndarray, x1: np.ndarray, p0: tuple, p1: tuple, lo: int, hi: int) -> np.ndarray:
    """``clip(round_half_up(rshift_round(x0, pre0) * scale0 / 2**post0 + (the same for x1)), lo, hi)``.

    *p0*, *p1* are ``(pre_shift, scale, post_shift)``, each broadcast against its input. The sum is
    exact (the product with the smaller post shift is split into whole codes and a remainder that is
    aligned to the larger shift), so there is one rounding, and no intermediate exceeds int64 for
    shifts up to 62.
    """
    a = rshift_round(x0, p0[0]) * np.asarray(p0[1], dtype=np.int64)
    b = rshift_round(x1, p1[0]) * np.asarray(p1[1], dtype=np.int64)
    qa = np.asarray(p0[2], dtype=np.int64)
    qb = np.asarray(p1[2], dtype=np.int64)
    swap = qa > qb  # make qa the smaller shift
    a, b, qa, qb = np.where(swap, b, a), np.where(swap, a, b), np.where(swap, qb, qa), np.where(swap, qa, qb)
    one = np.int64(1)
    ha, hb = np.right_shift(a, qa), np.right_shift(b, qb)
    la, lb = a - np.left_shift(ha, qa), b - np.left_shift(hb, qb)  # 0 <= la < 2**qa, 0 <= lb < 2**qb
    qb1 = np.maximum(qb, 1)
    # floor((la * 2**(qb-qa) + lb + 2**(qb-1)) / 2**qb), the numerator taken minus 2**qb so it fits int64
    t = np.left_shift(la, qb - qa) - np.left_shift(one, qb1) + lb + np.left_shift(one, qb1 - 1)
    v = np.where(qb > 0, ha + hb + 1 + np.right_shift(t, qb1), a + b)
    return np.clip(v, lo, hi)
