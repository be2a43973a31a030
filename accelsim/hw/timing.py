"""Closed-form fold timing of the array (compute cycles with operands always ready).

The machine (``hardware.array`` and ``hardware.pe`` keys; R x C physical PEs; a fold uses r <= R
rows and c <= C columns and streams T steps; with ``array.edge_folds: padded`` every fold counts
as r = R, c = C (zero operands in the unused rows and columns); m = ``pe.mult_stages``,
a = ``pe.acc_stages``, e = 1 when ``array.skew`` is ``array`` with ``array.skew_input_register``
else 0, z = 1 when ``pe.mult_input`` is ``register`` (the multiplier reads the operand register,
the cycle after the operand arrived) else 0 (it reads the input wires). Cycle numbers below are
the cycle at whose end a register latches; a fold "starts" at its first cycle; every operand hops
one PE per cycle.

Output stationary (os), fold starting at cycle s, q = e + m + a + z - 2:
    operand k of row i / column j is latched in PE(i, j) at s + k + i + j + e; the product of
    pair k is accumulated at s + k + i + j + e + z + m (the accumulator loop is one cycle and
    restarts on the first pair of a fold); a-1 retiming registers follow, so PE(i, j)'s result is
    final at s + T + i + j + q and the last one at ``L = s + T + r + c + q - 2``.
    drain ``parallel``: each PE writes its result the cycle after it is final: done = L + 1.
    drain ``shift``: at L + 1 all results are copied into an output shift chain, which shifts
    right C times (the physical width): done = L + 1 + C.
    drain ``wavefront``: PE(i, j)'s result is copied into its shadow output register (a place in
    the same chain) at s + T + i + j + q + 1, the last at L + 1; the chain then drains C beats:
    done = L + 1 + C. The chain holds one fold at a time, from its first copy to its last beat.
    Without overlap the next fold starts at done + 1, so one fold takes ``T + r + c + q`` cycles
    (``+ C`` with shift or wavefront).
    With ``overlap_folds``: parallel -> the next fold starts at s + T (results leave per PE while
    the next fold streams); shift -> the next fold starts at
    ``max(L + 2, done - (T + r' + c' + q - 1))``: after the copy, and late enough that its own
    copy (at L' + 1) does not land before the chain has emptied; wavefront -> at
    ``max(s + T, done - (T + q + 1))``: its first copy (PE(0, 0)) lands no earlier than the cycle
    of the previous fold's last beat. Full folds therefore stream T apart when T >= R + 2C - 2,
    else R + 2C - 2 apart (the array idles: back-pressure from the output chain).

Weight / input stationary (ws, is; the same engine, stationary operand r x c; b = a with
``pe.psum_register: after_adder``, 0 with ``before_adder``):
    preload from cycle p: the stationary tile shifts down the columns, one row per cycle, r
    cycles (latched by p + r - 1). The stream starts at s = p + max(0, r - e - z); stream step u
    of row i is latched in PE(i, j) at s + u + i*a + j + e (the feeder/skew staggers rows by a,
    the partial-sum hop); partial sums take a cycles per PE hop and pass through all R physical
    rows; the bottom of column j writes step u at s + u + (R-1)*a + b + j + e + m + z, so
    ``done = s + T + (R-1)*a + b + c + e + m + z - 2``. One fold alone takes
    ``max(0, r-e-z) + T + (R-1)*a + b + c + e + m + z - 1`` cycles. The last multiply of a fold is
    at ``U = s + T + (r-1)*a + c + e + z - 2``.
    Without overlap the next preload starts at done + 1. With ``overlap_folds`` and
    ``array.stationary_registers: shadow`` the stationary registers are double-buffered (two
    banks, alternating per fold; a bank tag travels with the stream): the next fold's preload
    starts at ``max(p + r, U + 1)`` with U of the fold before the current one (its bank is idle);
    with ``single`` registers at ``max(p + r, U + 1)`` with U of the current fold (early preload:
    the preload shifts every row, so no multiply may still need the tile); its stream at
    ``max(s + T, p' + max(0, r'-e-z))``.

Layer compute cycles = (largest done over the layer's folds) + 1, the first fold starting at 0.
Fold order: os runs group, row fold i, column fold j (the ifmap rows stay while the weight
columns cycle); ws and is run group, column fold j, row fold i (the partial sums of one column
block finish before the next block starts, as in the TPU's accumulators).

SCALE-Sim convention (``simulation.convention: scalesim``): per fold os ``T + R + C - 2``, ws and
is ``T + 2R + C - 2`` with the full R and C even on edge folds; per group
``folds * per_fold - 1`` (SCALE-Sim's off-by-one; a depthwise layer is ``groups`` SCALE-Sim
layers, as its ``DP`` expansion makes it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from accelsim.hw.jit import lazy_njit
from accelsim.hw.mapping import LayerMapping

if TYPE_CHECKING:  # annotations only: the config may be a pydantic model or a plain record (accelsim.config.plain)
    from accelsim.config.hardware import HardwareConfig

_DF_CODE = {"os": 0, "ws": 1, "is": 2}


@dataclass(frozen=True)
class MicroArch:
    """The timing-relevant parameters of the array, read from a :class:`HardwareConfig`."""

    rows: int
    cols: int
    mult_stages: int = 0
    acc_stages: int = 1
    skew: str = "feeder"
    drain: str = "shift"
    overlap_folds: bool = False
    skew_input_register: bool = True
    mult_input: str = "register"
    edge_folds: str = "padded"
    psum_register: str = "after_adder"
    stationary_registers: str = "shadow"

    @classmethod
    def from_config(cls, hw: HardwareConfig) -> "MicroArch":
        return cls(
            rows=hw.array.rows, cols=hw.array.cols, mult_stages=hw.pe.mult_stages,
            acc_stages=hw.pe.acc_stages, skew=hw.array.skew, drain=hw.array.drain,
            overlap_folds=hw.array.overlap_folds, skew_input_register=hw.array.skew_input_register,
            mult_input=hw.pe.mult_input, edge_folds=hw.array.edge_folds,
            psum_register=hw.pe.psum_register, stationary_registers=hw.array.stationary_registers,
        )

    @property
    def skew_latency(self) -> int:
        """e: 1 cycle for the skew bank's input register (skew ``array`` with its input register)."""
        return 1 if self.skew == "array" and self.skew_input_register else 0

    @property
    def mult_read_latency(self) -> int:
        """z: 1 when the multiplier reads the operand register, 0 when it reads the input wires."""
        return 1 if self.mult_input == "register" else 0

    @property
    def padded(self) -> bool:
        """Edge folds take full-array time (zero operands) instead of their used rows and columns."""
        return self.edge_folds == "padded"

    @property
    def psum_out_latency(self) -> int:
        """b: cycles of partial-sum registers after the bottom row's adder (a, or 0 before the adder)."""
        return self.acc_stages if self.psum_register == "after_adder" else 0

    def fold_shape(self, r: int, c: int) -> tuple[int, int]:
        """(rows, cols) a fold of *r* x *c* used PEs occupies in time: (R, C) when padded."""
        return (self.rows, self.cols) if self.padded else (r, c)


def single_fold_cycles(dataflow: str, t: int, r: int, c: int, arch: MicroArch) -> int:
    """Cycles of one fold run alone (no overlap), from its first cycle to its last write.

    os: ``T + r + c + e + m + a + z - 2`` (``+ C`` with drain ``shift`` or ``wavefront``);
    ws/is: ``max(0, r-e-z) + T + (R-1)*a + b + c + e + m + z - 1``. With padded edge folds r = R,
    c = C.
    """
    e, m, a, z = arch.skew_latency, arch.mult_stages, arch.acc_stages, arch.mult_read_latency
    r, c = arch.fold_shape(r, c)
    if dataflow == "os":
        return t + r + c + e + m + a + z - 2 + (arch.cols if arch.drain != "parallel" else 0)
    return max(0, r - e - z) + t + (arch.rows - 1) * a + arch.psum_out_latency + c + e + m + z - 1


_DRAIN_CODE = {"parallel": 0, "shift": 1, "wavefront": 2}


@lazy_njit
def _schedule(df: int, t: int, R: int, C: int, sr: int, sc: int, groups: int,
              m: int, a: int, e: int, z: int, drain: int, overlap: bool, padded: bool,
              b: int, single: bool, nk: int, t_last: int, spans: np.ndarray) -> int:
    """Walk the folds in order; fill *spans* (cycles per tile); return total.

    The streamed dimension split in *nk* chunks (os: the reduction, ws/is: the output pixels or
    channels): chunk kk < nk - 1 streams *t* steps, the last *t_last*; the folds run group, outer
    fold, chunk, inner fold (os: row, chunk, column; ws/is: column, chunk, row; a tile per outer
    fold and chunk).
    """
    nfr = (sr + R - 1) // R
    nfc = (sc + C - 1) // C
    have_prev = False
    have_prev2 = False
    s = 0
    p = 0
    L = 0
    done = 0
    r_prev = 0
    U_prev = 0  # last multiply of the previous fold
    U_prev2 = 0  # ... of the fold before it
    max_done = -1
    tile = 0
    last_marker = 0
    q_os = e + m + a + z - 2  # os: PE(i, j) final at s + T + i + j + q_os
    n_outer = nfr if df == 0 else nfc
    n_inner = nfc if df == 0 else nfr
    t_prev = t
    t_full = t
    for g in range(groups):
        for o in range(n_outer):
            for kk in range(nk):
                t = t_full if kk < nk - 1 else t_last
                for q in range(n_inner):
                    i = o if df == 0 else q
                    j = q if df == 0 else o
                    r = min(R, sr - i * R)
                    c = min(C, sc - j * C)
                    if padded:
                        r = R
                        c = C
                    if df == 0:
                        if not have_prev:
                            s = 0
                        elif not overlap:
                            s = done + 1
                        elif drain == 0:
                            s = s + t_prev
                        elif drain == 2:
                            # first copy (PE(0,0), cycle s + T + q_os + 1) no earlier than the cycle of
                            # the previous fold's last drain beat (done)
                            s = max(s + t_prev, done - (t + q_os + 1))
                        else:
                            s = max(L + 2, done - (t + r + c + q_os - 1))
                        L = s + t + r + c + q_os - 2
                        done = L + 1 + (C if drain != 0 else 0)
                        marker = s
                    else:
                        lead = max(0, r - e - z)
                        if not have_prev:
                            p = 0
                            s = lead
                        elif not overlap:
                            p = done + 1
                            s = p + lead
                        else:
                            pn = p + r_prev
                            if single:
                                pn = max(pn, U_prev + 1)
                            elif have_prev2:
                                pn = max(pn, U_prev2 + 1)
                            p = pn
                            s = max(s + t_prev, p + lead)
                        done = s + t + (R - 1) * a + b + c + e + m + z - 2
                        U = s + t + (r - 1) * a + c + e + z - 2
                        U_prev2 = U_prev
                        U_prev = U
                        have_prev2 = have_prev
                        r_prev = r
                        marker = p
                    if q == 0:
                        if tile > 0:
                            spans[tile - 1] = marker - last_marker
                        last_marker = marker
                        tile += 1
                    if done > max_done:
                        max_done = done
                    have_prev = True
                    t_prev = t
    total = max_done + 1
    spans[tile - 1] = total - last_marker
    return total


def reduction_chunks(t: int, k_chunks: int) -> tuple[int, int, int]:
    """(chunks, steps per chunk, steps of the last chunk) when T steps are split in *k_chunks*."""
    step = -(-t // max(1, k_chunks))
    n = -(-t // step)
    return n, step, t - (n - 1) * step


def layer_schedule(mapping: LayerMapping, arch: MicroArch, k_chunks: int = 1) -> tuple[int, np.ndarray]:
    """Compute cycles of a layer and their split over its tiles.

    A tile is the inner loop of folds under one outer index (:attr:`LayerMapping.tiles`): os a
    row fold and its column folds, ws/is a column fold and its row folds. ``k_chunks > 1``
    (:mod:`accelsim.hw.traffic`) splits the streamed dimension T (os: the reduction, with
    partial-sum spills; ws: the output pixels; is: the output channels): each outer fold runs
    the chunks one after another, every chunk a tile of its own (T -> :func:`reduction_chunks`);
    the tiles are then ``groups x outer folds x chunks``.

    Returns
    -------
    (total_cycles, spans)
        ``spans[t]`` = cycles from tile t's first fold start to the next tile's (the last tile
        runs to the end of the layer); ``spans.sum() == total_cycles``.
    """
    nk, step, last = reduction_chunks(mapping.t, k_chunks)
    spans = np.zeros(mapping.tiles * nk, dtype=np.int64)
    total = _schedule(
        _DF_CODE[mapping.dataflow], step, arch.rows, arch.cols, mapping.sr, mapping.sc,
        mapping.groups, arch.mult_stages, arch.acc_stages, arch.skew_latency, arch.mult_read_latency,
        _DRAIN_CODE[arch.drain], arch.overlap_folds, arch.padded, arch.psum_out_latency,
        arch.stationary_registers == "single", nk, last, spans,
    )
    return int(total), spans


def layer_compute_cycles(mapping: LayerMapping, arch: MicroArch) -> int:
    """Compute cycles of a layer in the accelsim convention (see the module docstring)."""
    return layer_schedule(mapping, arch)[0]


def scalesim_fold_cycles(dataflow: str, t: int, rows: int, cols: int) -> int:
    """SCALE-Sim 3.0.0 cycles of one fold: os ``T+R+C-2``, ws/is ``T+2R+C-2`` (full R, C)."""
    if dataflow == "os":
        return t + rows + cols - 2
    return t + 2 * rows + cols - 2


def scalesim_layer_cycles(mapping: LayerMapping) -> int:
    """SCALE-Sim's reported total cycles: ``groups * (folds_per_group * per_fold - 1)``."""
    per_group = mapping.row_folds * mapping.col_folds
    pf = scalesim_fold_cycles(mapping.dataflow, mapping.t, mapping.rows, mapping.cols)
    return mapping.groups * (per_group * pf - 1)


def scalesim_schedule(mapping: LayerMapping) -> tuple[int, np.ndarray]:
    """SCALE-Sim cycles split over the layer's tiles (every fold costs the same full-array cycles)."""
    per_group = mapping.row_folds * mapping.col_folds
    pf = scalesim_fold_cycles(mapping.dataflow, mapping.t, mapping.rows, mapping.cols)
    per_tile = mapping.col_folds if mapping.dataflow == "os" else mapping.row_folds
    tiles_per_group = mapping.tiles // mapping.groups
    spans = np.full(mapping.tiles, per_tile * pf, dtype=np.int64)
    spans[tiles_per_group - 1 :: tiles_per_group] -= 1  # the -1 of each group
    total = int(spans.sum())
    assert total == mapping.groups * (per_group * pf - 1)
    return total, spans
