"""Data movement of one layer: DRAM traffic per tile, SRAM accesses, PE register traffic.

Tile/reuse policy (what is reloaded from DRAM when). A *tile* is the inner loop of folds under
one outer index. Two loop orders (``hardware.loop_order``): ``rows`` (outer loop over the row
folds i, over Sr) and ``cols`` (outer over the column folds j, over Sc). The dataflow's own order
(:func:`canonical_order`) is os ``rows`` (a block of output pixels with all its column folds),
ws/is ``cols`` (a block of output channels (ws) or pixels (is) with the reduction inside). With
``loop_order: auto`` each array layer takes the order whose DRAM bytes (reads + writes, formulas
below) are smaller, ties keeping the dataflow's; the folds, their cycles and the SRAM/PE counts
are the same in both orders (only which operand the buffers keep across the inner loop changes).

With ``loop_order: search`` (:func:`search_nest`, :func:`nest_traffic`) a layer is tiled as
ZigZag or Timeloop tile it: three tile loops, the row folds, the column folds and ``steps``,
the streamed dimension T cut into chunks (ws: output pixels, is: output channels, os: the
reduction, only with ``buffers.split_reduction: auto``; every chunk is a fold of its own), in
any of the six orders; per layer the order with the fewest DRAM bytes wins, and chunk counts are
compared by compute cycles + DRAM bytes / bandwidth (a chunk's fold fill is worth it only when
it saves more transfer cycles; ties: fewer bytes, fewer chunks, then the dataflow's order). An input operand is read once when its block under the
loops outside the one loop that does not index it fits its buffer half, else once per iteration
of that loop; the partial sums stay across the reduction loop when their block under the loops
outside it fits the output half, else they spill (written and read back at acc_bits). SRAM and
PE counts are those below with T per chunk (a stationary tile is preloaded once per chunk).

Notation (one group): I = unique ifmap bytes (``in_shape`` x act_bits / groups; 0 when the input
is resident on chip, :mod:`accelsim.hw.residency`), W = weight bytes, O = output bytes at out_bits
(0 when resident), P = M*N*acc_bits/8, h_i/h_w/h_o = half of each buffer (the whole buffer when
not double-buffered), nfr/nfc = row/column folds, f_i = r_i/Sr, g_j = c_j/Sc the shares of the
folds. ``keep(x, h, n) = x if x <= h else n*x`` (kept across n inner folds, or re-read per fold),
``once(x, h, n) = x if x <= h else n*x`` for an operand every one of n tiles needs whole.

- os ``rows``: ifmap ``sum_i keep(I f_i, h_i, nfc)`` + weights ``once(W, h_w, nfr)``;
  os ``cols``: weights ``sum_j keep(W g_j, h_w, nfr)`` + ifmap ``once(I, h_i, nfc)``. Writes O
  (each fold's finished outputs).
- ws ``cols``: ifmap ``once(I, h_i, nfc)``, each fold's weights once (W); the partial sums of a
  tile (M x c_j at acc_bits) stay in the output buffer over its nfr row folds when they fit h_o,
  else each row fold but the last spills them and the next reads them back
  (``(nfr-1) * M*c_j*acc/8`` each way); writes O.
  ws ``rows``: ifmap ``sum_i keep(I f_i, h_i, nfc)`` (a K block of the input is kept across the
  column folds), weights W; the partial sums of the whole output (P) stay over the row folds when
  P <= h_o, else ``(nfr-1) * P`` spill each way; O written after the last row fold.
- is: the same as ws with weights and ifmap swapped (stationary ifmap read once, I; the streamed
  weights ``once(W, h_w, nfc)`` in ``cols``, ``sum_i keep(W f_i, h_w, nfc)`` in ``rows``; tile
  partial sums c_j x N).
- DRAM reads of the ifmap count the input tensor's unique bytes (split over the tiles in
  proportion to the rows or columns they cover; window halos between tiles are ignored), not the
  im2col copy; SRAM reads count what the array consumes (the im2col stream): os ifmap
  ``M*K*nfc``, weights ``K*N*nfr``; ws ifmap ``M*K*nfc``, weights once; is weights ``K*N*nfc``,
  ifmap once; ws/is partial sums ``M*N*acc*(nfr-1)`` read and written, plus the final outputs.
  SRAM writes include the DRAM fills, SRAM reads the write-back (neither exists for a resident
  tensor: it is produced into and consumed from the buffer it sits in; with
  ``buffers.unified_activations`` a resident output is also read once from the output buffer and
  written once into the ifmap buffer, where it then stays).

PE traffic (bits; per fold with r rows, c columns, T steps, p = MACs per PE per cycle, operand
registers p elements wide, m/a the multiplier/adder stages, R/C the physical array):

- os: forwards ``T*p*(act*r*(c-1) + w*c*(r-1))``; register writes ``T*r*c*(p*(act+w)*(1+m) + acc)
  + (a-1)*r*c*acc``; drain ``shift`` or ``wavefront`` adds the copy (``r*c*acc`` writes) and
  ``r*sum_{j<c}(C-1-j)*acc`` bits both forwarded and written; array skew adds
  ``T*p*(act*sum_i (i+s) + w*sum_j (j+s))`` writes (s = 1 with the skew input register, else 0).
- ws/is (stationary s bits = weight/act, streamed x bits = act/weight): preload forwards
  ``c*p*s*r(r-1)/2`` and writes ``c*p*s*r(r+1)/2``; stream forwards ``T*p*x*r*(c-1)`` plus the
  partial sums ``T*c*(R-1)*acc``; writes ``T*r*c*p*x`` (operands) + ``m*T*r*c*p*(x+s)`` (multiplier
  stages) + ``T*c*((R-1)*a + b)*acc`` (partial-sum stages; b = a with the registers after the
  adder, 0 before it); array skew adds ``T*p*x*sum_i (i*a+s)``.
- Edge folds ``padded``: every fold counts as R x C (the zeros fed to the unused rows and columns
  move and are latched like operands); ``trimmed``: r x c. SRAM and DRAM bytes do not change
  (the zeros are made at the array edge).

Layers off the array move no PE bits.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import permutations
from math import ceil
from typing import TYPE_CHECKING

import numpy as np

from accelsim.hw.mapping import KIB, LayerMapping
from accelsim.hw.timing import MicroArch, layer_schedule, reduction_chunks, single_fold_cycles
from accelsim.layers import LayerDescriptor

if TYPE_CHECKING:  # annotations only: the config may be a pydantic model or a plain record (accelsim.config.plain)
    from accelsim.config.hardware import HardwareConfig


@dataclass
class LayerTraffic:
    """Bytes a layer moves: per tile from DRAM (for the SimPy model) and totals per SRAM buffer."""

    tile_read_bytes: np.ndarray
    """[tiles, 3] DRAM->SRAM bytes per tile into the ifmap, weight, ofmap (spilled partials) buffers."""
    tile_write_bytes: np.ndarray
    """[tiles] SRAM->DRAM bytes written back after each tile."""
    sram_read_bytes: dict[str, float]
    sram_write_bytes: dict[str, float]
    pe_forward_bits: float
    pe_reg_write_bits: float
    order: str = "rows"
    """Loop order of the tiles: ``rows`` (outer loop over row folds) or ``cols``; with
    ``loop_order: search`` the nest's label (:attr:`LoopNest.label`)."""
    k_chunks: int = 1
    """Chunks the streamed dimension T is split into (os: the reduction, with partial-sum spills;
    ws/is only with ``loop_order: search``); 1 = whole T per fold."""
    nest: "LoopNest | None" = None
    """The searched loop nest (``loop_order: search``), else None."""

    @property
    def dram_read_bytes(self) -> float:
        return float(self.tile_read_bytes.sum())

    @property
    def dram_write_bytes(self) -> float:
        return float(self.tile_write_bytes.sum())


def _half_bytes(kb: float, hw: HardwareConfig) -> float:
    return kb * KIB / (2 if hw.buffers.double_buffered else 1)


def _halves(hw: HardwareConfig) -> tuple[float, float, float]:
    """Bytes of the ifmap, weight and ofmap buffer halves (whole buffers if not double-buffered)."""
    return tuple(_half_bytes(kb, hw) for kb in (hw.buffers.ifmap_kb, hw.buffers.weight_kb, hw.buffers.ofmap_kb))


ORDERS = ("rows", "cols")
"""Tile loop orders: the outer loop runs over the row folds (Sr) or the column folds (Sc)."""


def canonical_order(dataflow: str) -> str:
    """The dataflow's own outer loop: os ``rows`` (ifmap rows stay), ws/is ``cols``."""
    return "rows" if dataflow == "os" else "cols"


def _order_bytes(order: str, mp: LayerMapping, hw: HardwareConfig, ifmap_unique: float,
                 r: np.ndarray, c: np.ndarray, input_resident: bool,
                 output_resident: bool, k_chunks: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(reads [tiles, 3], writes [tiles]) of one group's tiles in loop order *order*.

    The operand whose blocks the outer loop walks is read block by block (kept across the inner
    loop when a block fits its buffer half, else re-read per inner fold); the other operand is
    needed whole by every tile (read once per layer when it fits its half, else once per tile).
    os with *k_chunks* > 1: each outer block runs the reduction in chunks (a tile per block and
    chunk), every block and whole operand cut by the chunk's share of T, and the block's partial
    sums (at acc_bits) stay in the output buffer between chunks when they fit its half, else are
    written after every chunk but the last and read back before every chunk but the first.
    """
    ifm_dram = 0.0 if input_resident else ifmap_unique
    wgt = mp.weight_bytes
    half_i = _half_bytes(hw.buffers.ifmap_kb, hw)
    half_w = _half_bytes(hw.buffers.weight_kb, hw)
    half_o = _half_bytes(hw.buffers.ofmap_kb, hw)
    nfr, nfc = len(r), len(c)
    out = 0.0 if output_resident else mp.ofmap_bytes
    df = mp.dataflow
    if df == "os":
        # Sr = M (ifmap rows), Sc = N (weight columns); outputs finish in every fold
        if order == "rows":
            share, n_inner = r / mp.sr, nfc
            blk_total, blk_half, blk_col = ifm_dram, half_i, 0
            whole, whole_half, whole_col = wgt, half_w, 1
        else:
            share, n_inner = c / mp.sc, nfr
            blk_total, blk_half, blk_col = wgt, half_w, 1
            whole, whole_half, whole_col = ifm_dram, half_i, 0
        nk, step, last = reduction_chunks(mp.t, k_chunks)
        frac = np.full(nk, step / mp.t)
        frac[-1] = last / mp.t
        rd = np.zeros((len(share), nk, 3))
        blk = blk_total * share[:, None] * frac[None, :]
        rd[:, :, blk_col] = np.where(blk <= blk_half, blk, blk * n_inner)
        if whole <= whole_half:
            rd[0, 0, whole_col] += whole
        else:
            rd[:, :, whole_col] += whole * frac[None, :]
        wr = np.zeros((len(share), nk))
        wr[:, -1] = out * share
        if nk > 1:
            psum_blk = share * mp.psum_bytes  # the outer block's M x N share at acc_bits
            spill = np.where(psum_blk > half_o, psum_blk, 0.0)
            wr[:, :-1] += spill[:, None]
            rd[:, 1:, 2] += spill[:, None]
        return rd.reshape(-1, 3), wr.reshape(-1)
    # ws: Sr = K, Sc = N, stationary weights, streamed ifmap; is: Sr = K, Sc = M, stationary
    # ifmap, streamed weights. Every fold's stationary block is read once.
    if df == "ws":
        stream, stream_half, stream_col, stat, stat_col = ifm_dram, half_i, 0, wgt, 1
    else:
        stream, stream_half, stream_col, stat, stat_col = wgt, half_w, 1, ifm_dram, 0
    if order == "cols":
        # tile = column fold j with the reduction (row folds) inside: the whole streamed operand
        # per tile; partial sums of the tile (M x c or c x N at acc_bits) stay in the output
        # buffer over the row folds or spill between them
        share = c / mp.sc
        rd = np.zeros((nfc, 3))
        if stream <= stream_half:
            rd[0, stream_col] = stream
        else:
            rd[:, stream_col] = stream
        rd[:, stat_col] += stat * share
        wr = out * share
        other = mp.gemm.M if df == "ws" else mp.gemm.N
        psum = other * c * mp.acc_bits / 8
    else:
        # tile = row fold i (a block of the reduction) with all column folds inside: its slice of
        # the streamed operand is kept across the column folds when it fits; the partial sums of
        # the whole output (M x N at acc_bits) stay on chip across row folds or spill between them
        share = r / mp.sr
        rd = np.zeros((nfr, 3))
        blk = stream * share
        rd[:, stream_col] = np.where(blk <= stream_half, blk, blk * nfc)
        rd[:, stat_col] += stat * share
        wr = np.zeros(nfr)
        wr[-1] = out
        psum = np.full(nfr, mp.psum_bytes)
    if nfr > 1:
        spill = np.where(psum > half_o, psum * (nfr - 1), 0.0)
        if order == "cols":
            wr = wr + spill
            rd[:, 2] = spill
        elif spill[0] > 0:
            wr[:-1] += mp.psum_bytes
            rd[1:, 2] = mp.psum_bytes
    return rd, wr


def _chunk_candidates(mp: LayerMapping, hw: HardwareConfig, ifmap_unique: float, r: np.ndarray,
                      c: np.ndarray) -> tuple[int, ...]:
    """Reduction chunk counts worth trying for os: 1, and for each loop order the fewest chunks
    that make its largest block fit its buffer half (``hardware.buffers.split_reduction: auto``)."""
    if mp.dataflow != "os" or hw.buffers.split_reduction == "never":
        return (1,)
    out = {1}
    for blk, half in ((ifmap_unique * r.max() / mp.sr, _half_bytes(hw.buffers.ifmap_kb, hw)),
                      (mp.weight_bytes * c.max() / mp.sc, _half_bytes(hw.buffers.weight_kb, hw))):
        if blk > half:
            out.add(min(mp.t, ceil(blk / half - 1e-9)))
    return tuple(sorted(out))


def layer_traffic(layer: LayerDescriptor, mp: LayerMapping, hw: HardwareConfig, arch: MicroArch, *,
                  input_resident: bool = False, output_resident: bool = False,
                  order: str | None = None, k_chunks: int | None = None) -> LayerTraffic:
    """DRAM bytes per tile, SRAM bytes per buffer and PE register bits of array layer *layer*.

    Parameters
    ----------
    input_resident : the input tensor is already in SRAM (kept on chip): no DRAM reads of it.
    output_resident : the output stays in SRAM for its consumers: no DRAM write of it (partial-sum
        spills still go to DRAM).
    order : ``rows`` or ``cols`` (outer loop over row or column folds); ``None`` picks by
        ``hardware.loop_order``: ``auto`` takes the order with fewer DRAM bytes (read + write,
        ties keep :func:`canonical_order`), ``dataflow`` the canonical one, ``search`` the
        searched loop nest (:func:`search_nest`).
    k_chunks : split T in this many chunks (os: the reduction, with partial-sum spills; ws/is
        only with ``loop_order: search``); ``None`` picks by ``loop_order: search``
        (:func:`search_nest`) or, for os, by
        ``hardware.buffers.split_reduction``: ``auto`` tries 1 and the chunk counts that make a
        block fit (:func:`_chunk_candidates`) and keeps the fewest DRAM bytes (ties: fewer chunks),
        ``never`` 1.
    """
    g, nfr, nfc = mp.groups, mp.row_folds, mp.col_folds
    r = np.array([mp.fold_rows(i) for i in range(nfr)], dtype=np.float64)
    c = np.array([mp.fold_cols(j) for j in range(nfc)], dtype=np.float64)
    n, ch, h, w_ = layer.in_shape
    ifmap_unique = n * ch * h * w_ * mp.act_bits / 8 / g  # bytes per group
    canon = canonical_order(mp.dataflow)
    args = (mp, hw, ifmap_unique, r, c, input_resident, output_resident)
    nest = None
    if order is None and hw.loop_order == "search":
        sizes = (0.0 if input_resident else ifmap_unique, mp.weight_bytes, 0.0 if output_resident else mp.ofmap_bytes)
        nest = search_nest(mp, hw, arch, sizes, r, c) if k_chunks is None else None
        if nest is None:
            nest = LoopNest((canon, "steps", "cols" if canon == "rows" else "rows"), k_chunks)
        rd, wr = nest_traffic(nest, mp, hw, sizes, r, c)
        order, k_chunks = nest.label, nest.chunks
    elif order is None and hw.loop_order == "auto":
        orders = (canon,) + tuple(x for x in ORDERS if x != canon)
    else:
        orders = (canon if order is None else order,)
    if nest is None:
        chunks = _chunk_candidates(mp, hw, ifmap_unique, r, c) if k_chunks is None else (k_chunks,)
        best = None
        for nk in chunks:
            for o in orders:
                rd_o, wr_o = _order_bytes(o, *args, nk)
                tot = rd_o.sum() + wr_o.sum()
                if best is None or tot < best[0] * (1 - 1e-12):
                    best = (tot, o, nk, rd_o, wr_o)
        _, order, k_chunks, rd, wr = best
    nk = reduction_chunks(mp.t, k_chunks)[0] if mp.dataflow == "os" or nest is not None else 1
    ifm, wgt, ofm, psum = mp.ifmap_bytes, mp.weight_bytes, mp.ofmap_bytes, mp.psum_bytes
    if mp.dataflow == "os":
        # partial sums of a split reduction are read, added to and written back in the output buffer
        s_rd = {"ifmap": ifm * nfc, "weight": wgt * nfr, "ofmap": psum * (nk - 1)}
        s_wr = {"ofmap": ofm + psum * (nk - 1)}
    else:
        # a split stream preloads every stationary tile once per chunk
        stream_sram = (ifm if mp.dataflow == "ws" else wgt) * nfc
        stat_sram = (wgt if mp.dataflow == "ws" else ifm) * nk
        s_rd = {"ifmap": stream_sram if mp.dataflow == "ws" else stat_sram,
                "weight": stat_sram if mp.dataflow == "ws" else stream_sram,
                "ofmap": psum * (nfr - 1)}
        s_wr = {"ofmap": psum * (nfr - 1) + ofm}
    tiles_rd = np.tile(rd, (g, 1))
    tiles_wr = np.tile(wr, g)
    # SRAM writes of the fills, SRAM reads of the write-back
    sram_read = {"ifmap": s_rd["ifmap"] * g, "weight": s_rd["weight"] * g,
                 "ofmap": s_rd["ofmap"] * g + float(tiles_wr.sum())}
    sram_write = {"ifmap": float(tiles_rd[:, 0].sum()), "weight": float(tiles_rd[:, 1].sum()),
                  "ofmap": s_wr["ofmap"] * g + float(tiles_rd[:, 2].sum())}
    if output_resident and hw.buffers.unified_activations:  # moved into the activation buffer
        sram_read["ofmap"] += ofm * g
        sram_write["ifmap"] += ofm * g
    if arch.padded:  # padded edge folds move zeros through the unused rows and columns
        r = np.full(nfr, float(mp.rows))
        c = np.full(nfc, float(mp.cols))
    if nk == 1:
        fwd, regs = pe_traffic(mp, arch, r, c)
    else:
        _, step, last = reduction_chunks(mp.t, k_chunks)
        f1, g1 = pe_traffic(mp, arch, r, c, step)
        f2, g2 = pe_traffic(mp, arch, r, c, last)
        fwd, regs = f1 * (nk - 1) + f2, g1 * (nk - 1) + g2
    return LayerTraffic(tiles_rd, tiles_wr, sram_read, sram_write, fwd * g, regs * g, order, nk, nest)


def pe_traffic(mp: LayerMapping, arch: MicroArch, r: np.ndarray, c: np.ndarray,
               t: int | None = None) -> tuple[float, float]:
    """(PE-to-PE forwarded bits, PE register write bits) of one group's folds (of *t* steps each,
    default the mapping's T).

    Sums the per-fold formulas of the module docstring over every (row fold, column fold) pair;
    all of them separate into sums over r and over c, so the cost is O(row folds + col folds).
    """
    T, p = (mp.t if t is None else t), mp.macs_per_pe
    m, a = arch.mult_stages, arch.acc_stages
    act, wb, acc = mp.act_bits, mp.weight_bits, mp.acc_bits
    sr_, sc_ = r.sum(), c.sum()
    nr, nc = len(r), len(c)
    pairs_rc = sr_ * sc_  # sum over folds of r*c
    if mp.dataflow == "os":
        fwd = T * p * (act * sr_ * (sc_ - nc) + wb * sc_ * (sr_ - nr))
        regs = T * pairs_rc * (p * (act + wb) * (1 + m) + acc) + (a - 1) * pairs_rc * acc
        if arch.drain in ("shift", "wavefront"):
            shifts = (c * (arch.cols - 1) - c * (c - 1) / 2).sum()  # sum_j sum_{jj<c_j} (C-1-jj)
            fwd += sr_ * shifts * acc
            regs += pairs_rc * acc + sr_ * shifts * acc
        if arch.skew == "array":
            s_in = 1 if arch.skew_input_register else 0
            regs += T * p * (act * nc * (r * (r - 1) / 2 + s_in * r).sum() + wb * nr * (c * (c - 1) / 2 + s_in * c).sum())
        return float(fwd), float(regs)
    s_bits, x_bits = (wb, act) if mp.dataflow == "ws" else (act, wb)
    tri = (r * (r - 1) / 2).sum()
    fwd = sc_ * p * s_bits * tri + T * p * x_bits * sr_ * (sc_ - nc) + T * sc_ * nr * (arch.rows - 1) * acc
    regs = (sc_ * p * s_bits * (tri + sr_)
            + T * pairs_rc * p * x_bits
            + m * T * pairs_rc * p * (x_bits + s_bits)
            + T * sc_ * nr * ((arch.rows - 1) * a + arch.psum_out_latency) * acc)
    if arch.skew == "array":
        s_in = 1 if arch.skew_input_register else 0
        regs += T * p * x_bits * nc * (r * (r - 1) / 2 * a + s_in * r).sum()
    return float(fwd), float(regs)


VECTOR_OPS_PER_OUTPUT = {"maxpool": "window", "avgpool": "window", "add": 1, "mul": 1, "lut": 1, "concat": 0,
                         "reshape": 0, "affine": 1, "prelu": 1, "gather": 1, "resize": 4}
"""Element operations per output element of layers off the array ('window' = kernel area):
``affine``/``prelu`` one multiply-add and requantization, ``gather`` one addressed move,
``resize`` four multiply-adds (the 2x2 bilinear taps)."""


def off_array_traffic(layer: LayerDescriptor, resident_inputs: frozenset[str] = frozenset(),
                      output_resident: bool = False,
                      input_elems: dict[str, int] | None = None) -> tuple[int, float, float]:
    """(vector ops, DRAM read bytes, DRAM write bytes) of a layer beside the array.

    Pooling: kernel-area compares/adds per output; add, mul, lut: one op per output; concat and
    reshape: none. Reads: each input once at act_bits (``add``/``mul``: every input has in_shape;
    ``concat``: each input's own element count from *input_elems*, else an equal share of the
    output); writes: the output once at out_bits. Inputs in *resident_inputs* are read from SRAM
    (no DRAM bytes), a resident output is not written. ``reshape`` moves nothing (layout only).
    """
    out_elems = int(np.prod(layer.out_shape))
    in_elems = int(np.prod(layer.in_shape))
    kind = VECTOR_OPS_PER_OUTPUT.get(layer.op, 1)
    per_out = layer.kernel[0] * layer.kernel[1] if kind == "window" else int(kind)
    ops = out_elems * per_out
    if layer.op == "reshape":
        return 0, 0.0, 0.0
    if layer.op == "concat":
        sizes = [(input_elems or {}).get(t, out_elems / max(1, len(layer.inputs))) for t in layer.inputs]
    elif layer.op in ("add", "mul"):
        sizes = [in_elems] * max(1, len(layer.inputs))
    elif layer.op == "gather":  # an index map may read only part of its input (a slice)
        sizes = [min(in_elems, out_elems)]
    else:
        sizes = [in_elems]
    names = layer.inputs if len(layer.inputs) == len(sizes) else (None,) * len(sizes)
    reads = sum(e for t, e in zip(names, sizes) if t not in resident_inputs) * layer.act_bits / 8
    writes = 0.0 if output_resident else out_elems * layer.out_bits / 8
    return ops, float(reads), float(writes)


def chunks_for(read_bytes: np.ndarray, write_bytes: float, hw: HardwareConfig) -> int:
    """Pieces a tile is streamed in so each piece fits its buffers' halves (at least 1)."""
    halves = _halves(hw)
    n = 1
    for b, half in zip(read_bytes, halves):
        n = max(n, ceil(b / half - 1e-9))
    return max(n, ceil(write_bytes / halves[2] - 1e-9))


# ---- loop_order: search — three tile loops, their order and the stream chunks ----------------

LOOPS = ("rows", "cols", "steps")
"""The tile loops of ``loop_order: search``: row folds (over Sr), column folds (over Sc) and the
chunks of the streamed dimension T."""

_GEMM_DIMS = {"os": ("M", "N", "K"), "ws": ("K", "N", "M"), "is": ("K", "M", "N")}
"""The GEMM dimension each loop of :data:`LOOPS` walks, per dataflow (SCALE-Sim's Sr, Sc, T)."""

_OPERAND_DIMS = (("M", "K"), ("K", "N"), ("M", "N"))
"""GEMM dimensions of the ifmap (A), the weights (B) and the outputs (O); K is the reduction."""


@dataclass(frozen=True)
class LoopNest:
    """One tiling of a layer: the order of the three tile loops (outer first) and the chunks of T."""

    order: tuple[str, str, str]
    chunks: int

    @property
    def label(self) -> str:
        """E.g. ``steps/4>cols>rows`` (outer first; ``steps/n``: T in n chunks; a whole T is left out)."""
        return ">".join(f"steps/{self.chunks}" if x == "steps" else x for x in self.order
                        if x != "steps" or self.chunks > 1)


def _shares(mp: LayerMapping, r: np.ndarray, c: np.ndarray, chunks: int) -> dict[str, np.ndarray]:
    """Each tile loop's blocks as shares of its dimension (they add up to 1)."""
    nk, step, last = reduction_chunks(mp.t, chunks)
    steps = np.full(nk, step / mp.t)
    steps[-1] = last / mp.t
    return {"rows": r / mp.sr, "cols": c / mp.sc, "steps": steps}


def _nest_totals(nest: LoopNest, mp: LayerMapping, sizes: tuple[float, float, float], halves: tuple[float, float, float],
                 shares: dict[str, np.ndarray]) -> tuple[float, float, bool]:
    """(DRAM read bytes, DRAM write bytes, partial sums spill) of one group under *nest*.

    *sizes*: ifmap and weight bytes from DRAM (0 when resident) and output bytes written (0 when
    resident); *halves*: the buffer halves. See :func:`nest_traffic` for the rule.
    """
    dims = dict(zip(LOOPS, _GEMM_DIMS[mp.dataflow]))
    reads = 0.0
    spill = False
    for x, (size, half) in enumerate(zip(sizes[:2], halves[:2])):
        rel = _OPERAND_DIMS[x]
        u = next(lp for lp in nest.order if dims[lp] not in rel)
        reads += size * (len(shares[u]) if _block(rel, u, nest, dims, shares) * size > half else 1)
    u = next(lp for lp in nest.order if dims[lp] == "K")
    psum = mp.psum_bytes
    if len(shares[u]) > 1 and _block(_OPERAND_DIMS[2], u, nest, dims, shares) * psum > halves[2]:
        spill = True
    n_red = len(shares[u]) - 1 if spill else 0
    return reads + n_red * psum, sizes[2] + n_red * psum, spill


def _block(rel: tuple[str, str], u: str, nest: LoopNest, dims: dict[str, str],
           shares: dict[str, np.ndarray]) -> float:
    """Largest share of an operand (over dims *rel*) under one iteration of the loops outside *u*."""
    out = 1.0
    for lp in nest.order[:nest.order.index(u)]:
        if dims[lp] in rel:
            out *= float(shares[lp].max())
    return out


def _chunk_counts(mp: LayerMapping, sizes: tuple[float, float, float], halves: tuple[float, float, float],
                  r: np.ndarray, c: np.ndarray, allow: bool) -> tuple[int, ...]:
    """Stream chunk counts worth trying: 1, and the fewest chunks that make each operand's block
    along T fit its buffer half, with and without the other fold loop outside it."""
    if not allow:
        return (1,)
    dims = dict(zip(LOOPS, _GEMM_DIMS[mp.dataflow]))
    sh = {"rows": float(r.max() / mp.sr), "cols": float(c.max() / mp.sc)}
    out = {1}
    for x, size in enumerate((sizes[0], sizes[1], mp.psum_bytes)):
        rel = _OPERAND_DIMS[x]
        if dims["steps"] not in rel:
            continue
        other = next(lp for lp in ("rows", "cols") if dims[lp] in rel)
        for f in (1.0, sh[other]):
            if size * f > halves[x]:
                out.add(int(min(mp.t, ceil(size * f / halves[x] - 1e-9))))
    return tuple(sorted(out))


def search_nest(mp: LayerMapping, hw: HardwareConfig, arch: MicroArch, sizes: tuple[float, float, float],
                r: np.ndarray, c: np.ndarray) -> LoopNest:
    """The loop nest of one layer with the fewest DRAM bytes, chunks priced by their fold fills.

    Tries every order of the three tile loops with every chunk count of :func:`_chunk_counts`
    (os chunks only with ``hardware.buffers.split_reduction: auto``: a chunked reduction adds
    partial sums in the output buffer). The orders of one chunk count run the same folds, so
    among them the fewest DRAM bytes win. Every chunk is a fold sequence of its own, so chunks
    cost fold fills; chunk counts are compared by compute cycles
    (:func:`~accelsim.hw.timing.layer_schedule`) + DRAM bytes / ``dram.bandwidth_bytes_per_cycle``
    (the layer's time were nothing overlapped): a chunk is worth its fills when it saves more DRAM
    transfer cycles than they cost. Ties keep fewer DRAM bytes, then fewer chunks, then the
    dataflow's own order (os rows > steps > cols, ws/is cols > steps > rows: the order the array
    runs its folds in).
    """
    halves = _halves(hw)
    allow = mp.dataflow != "os" or hw.buffers.split_reduction == "auto"
    outer = canonical_order(mp.dataflow)
    canon = (outer, "steps", "cols" if outer == "rows" else "rows")
    orders = [canon] + [o for o in permutations(LOOPS) if o != canon]
    bw = hw.dram.bandwidth_bytes_per_cycle
    best = None  # (cycles, DRAM bytes of one group, nest)
    for nk in _chunk_counts(mp, sizes, halves, r, c, allow):
        shares = _shares(mp, r, c, nk)
        nk = len(shares["steps"])
        compute = layer_schedule(mp, arch, nk)[0]
        for o in orders:
            nest = LoopNest(o, nk)
            rd, wr, _ = _nest_totals(nest, mp, sizes, halves, shares)
            cycles = compute + (rd + wr) * mp.groups / bw
            if best is None or cycles < best[0] * (1 - 1e-12) or (
                    cycles <= best[0] * (1 + 1e-12) and rd + wr < best[1] * (1 - 1e-12)):
                best = (cycles, rd + wr, nest)
    return best[2]


def nest_traffic(nest: LoopNest, mp: LayerMapping, hw: HardwareConfig, sizes: tuple[float, float, float],
                 r: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(reads [tiles, 3], writes [tiles]) of one group's tiles under *nest*.

    A tile is one iteration of the two outer loops (the inner loop runs inside it). Rule: an
    input operand (ifmap A over M, K; weights B over K, N) has one loop that does not index it;
    it is read from DRAM once when its block under one iteration of the loops outside that loop
    (the largest such block) fits its buffer half, else once per iteration of that loop. Its
    reads land in the tiles that first touch each block. The outputs (over M, N) are written
    once, in the tile of their last reduction step; their partial sums (at acc_bits) stay in the
    output buffer across the reduction loop when their block under the loops outside it fits the
    output half, else they are written after every reduction block but the last and read back
    before every one but the first (in the tiles that touch them).
    """
    halves = _halves(hw)
    shares = _shares(mp, r, c, nest.chunks)
    dims = dict(zip(LOOPS, _GEMM_DIMS[mp.dataflow]))
    l1, l2, l3 = nest.order
    s1, s2, s3 = shares[l1], shares[l2], shares[l3]
    n1, n2, n3 = len(s1), len(s2), len(s3)

    def grid(rel: tuple[str, str]) -> np.ndarray:
        """[n1, n2] share of an operand over *rel* touched by each tile (the inner loop summed)."""
        a = s1 if dims[l1] in rel else np.ones(n1)
        b = s2 if dims[l2] in rel else np.ones(n2)
        return a[:, None] * b[None, :]

    rd = np.zeros((n1, n2, 3))
    for x, size in enumerate(sizes[:2]):
        rel = _OPERAND_DIMS[x]
        u = next(lp for lp in nest.order if dims[lp] not in rel)
        g = grid(rel) * size
        if _block(rel, u, nest, dims, shares) * size > halves[x]:
            rd[:, :, x] = g * (n3 if u == l3 else 1)  # re-read on every iteration of u
        elif u == l1:
            rd[0, :, x] = g[0]
        elif u == l2:
            rd[:, 0, x] = g[:, 0]
        else:
            rd[:, :, x] = g
    wr = np.zeros((n1, n2))
    u = next(lp for lp in nest.order if dims[lp] == "K")
    g_o = grid(_OPERAND_DIMS[2])
    _, _, spill = _nest_totals(nest, mp, sizes, halves, shares)
    psum = g_o * mp.psum_bytes
    if u == l3:
        wr += g_o * sizes[2]
        if spill:
            wr += psum * (n3 - 1)
            rd[:, :, 2] += psum * (n3 - 1)
    elif u == l2:
        wr[:, -1] += g_o[:, -1] * sizes[2]
        if spill:
            wr[:, :-1] += psum[:, :-1]
            rd[:, 1:, 2] += psum[:, 1:]
    else:
        wr[-1, :] += g_o[-1, :] * sizes[2]
        if spill:
            wr[:-1, :] += psum[:-1, :]
            rd[1:, :, 2] += psum[1:, :]
    return rd.reshape(-1, 3), wr.reshape(-1)


def nest_tile_cycles(nest: LoopNest, mp: LayerMapping, arch: MicroArch, scalesim: bool) -> np.ndarray:
    """Weights [tiles] for splitting a layer's compute cycles over the tiles of *nest* (one group):
    the single-fold cycles of the folds each tile runs (SCALE-Sim convention: 1 per fold)."""
    nk, step, last = reduction_chunks(mp.t, nest.chunks)
    r = np.full(mp.row_folds, mp.rows)
    r[-1] = mp.edge_rows
    c = np.full(mp.col_folds, mp.cols)
    c[-1] = mp.edge_cols
    t = np.full(nk, step)
    t[-1] = last
    if scalesim:
        cyc = np.ones((len(r), len(c), nk))
    else:  # at most two distinct rows, columns and steps: price each combination once
        (ur, ri), (uc, ci), (ut, ti) = (np.unique(v, return_inverse=True) for v in (r, c, t))
        table = np.array([[[single_fold_cycles(mp.dataflow, int(tv), int(rv), int(cv), arch) for tv in ut]
                           for cv in uc] for rv in ur], dtype=np.float64)
        cyc = table[ri][:, ci][:, :, ti]
    axes = [LOOPS.index(x) for x in nest.order]
    return cyc.transpose(axes).sum(axis=2).reshape(-1)
