"""Data movement of one layer: DRAM traffic per tile, SRAM accesses, PE register traffic.

Tile/reuse policy (what is reloaded from DRAM when). A *tile* is the inner loop of folds under
one outer index (:attr:`LayerMapping.tiles`). os: tile = row fold i (a block of output pixels)
with all its column folds; ws/is: tile = column fold j (a block of output channels (ws) or output
pixels (is)) with all its row folds (the reduction).

- os: the ifmap rows of tile i are read from DRAM once at the start of the tile and kept across
  its column folds when they fit in half the ifmap buffer (the whole buffer if not
  double-buffered), else re-read for every column fold. The weights are read once per layer when
  the whole weight matrix of a group fits in half the weight buffer, else once per tile. Each
  fold's finished outputs (out_bits) are written back.
- ws: every tile needs the whole ifmap (streamed once per row fold): read once per layer when it
  fits in half the ifmap buffer, else once per tile. The weights of a fold are read once. The
  partial sums of the tile (M x c at acc_bits) accumulate in the output buffer over the row
  folds; when they do not fit in half of it, each row fold but the last spills them to DRAM and
  the next reads them back. The final outputs (out_bits) are written at the end of the tile.
- is: the same with the roles swapped: the whole weight matrix is needed by every tile, the ifmap
  block of a fold is read once, the partial sums are c x N.
- DRAM reads of the ifmap count the input tensor's unique bytes (``in_shape`` x act_bits, split
  over the tiles in proportion to the rows or columns they cover; window halos between tiles are
  ignored), not the im2col copy; SRAM reads count what the array consumes (the im2col stream):
  os ifmap ``M*K*nfc``, weights ``K*N*nfr``; ws ifmap ``M*K*nfc``, weights once; is weights
  ``K*N*nfc``, ifmap once; ws/is partial sums ``M*N*acc*(nfr-1)`` read and written, plus the final
  outputs. SRAM writes include the DRAM fills, SRAM reads the write-back.

PE traffic (bits; per fold with r rows, c columns, T steps, p = MACs per PE per cycle, operand
registers p elements wide, m/a the multiplier/adder stages, R/C the physical array):

- os: forwards ``T*p*(act*r*(c-1) + w*c*(r-1))``; register writes ``T*r*c*(p*(act+w)*(1+m) + acc)
  + (a-1)*r*c*acc``; drain ``shift`` adds the copy (``r*c*acc`` writes) and
  ``r*sum_{j<c}(C-1-j)*acc`` bits both forwarded and written; array skew adds
  ``T*p*(act*sum_i (i+1) + w*sum_j (j+1))`` writes.
- ws/is (stationary s bits = weight/act, streamed x bits = act/weight): preload forwards
  ``c*p*s*r(r-1)/2`` and writes ``c*p*s*r(r+1)/2``; stream forwards ``T*p*x*r*(c-1)`` plus the
  partial sums ``T*c*(R-1)*acc``; writes ``T*r*c*p*x`` (operands) + ``m*T*r*c*p*(x+s)`` (multiplier
  stages) + ``T*c*R*a*acc`` (partial-sum stages); array skew adds ``T*p*x*sum_i (i*a+1)``.

Layers off the array move no PE bits.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import ceil

import numpy as np

from accelsim.config.hardware import HardwareConfig
from accelsim.hw.mapping import KIB, LayerMapping
from accelsim.hw.timing import MicroArch
from accelsim.layers import LayerDescriptor


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

    @property
    def dram_read_bytes(self) -> float:
        return float(self.tile_read_bytes.sum())

    @property
    def dram_write_bytes(self) -> float:
        return float(self.tile_write_bytes.sum())


def _half_bytes(kb: float, hw: HardwareConfig) -> float:
    return kb * KIB / (2 if hw.buffers.double_buffered else 1)


def layer_traffic(layer: LayerDescriptor, mp: LayerMapping, hw: HardwareConfig, arch: MicroArch) -> LayerTraffic:
    """DRAM bytes per tile, SRAM bytes per buffer and PE register bits of array layer *layer*."""
    g, nfr, nfc = mp.groups, mp.row_folds, mp.col_folds
    r = np.array([mp.fold_rows(i) for i in range(nfr)], dtype=np.float64)
    c = np.array([mp.fold_cols(j) for j in range(nfc)], dtype=np.float64)
    frac = r / mp.sr  # share of the row dimension each tile covers
    n, ch, h, w_ = layer.in_shape
    ifmap_unique = n * ch * h * w_ * mp.act_bits / 8 / g  # bytes per group
    ifm, wgt, ofm, psum = mp.ifmap_bytes, mp.weight_bytes, mp.ofmap_bytes, mp.psum_bytes
    half_i = _half_bytes(hw.buffers.ifmap_kb, hw)
    half_w = _half_bytes(hw.buffers.weight_kb, hw)
    half_o = _half_bytes(hw.buffers.ofmap_kb, hw)
    rd = np.zeros((nfr, 3))
    wr = np.zeros(nfr)
    df = mp.dataflow
    if df == "os":
        slice_i = ifmap_unique * frac
        rd[:, 0] = np.where(slice_i <= half_i, slice_i, slice_i * nfc)
        if wgt <= half_w:
            rd[0, 1] = wgt
        else:
            rd[:, 1] = wgt
        wr[:] = ofm * frac
        s_rd = {"ifmap": ifm * nfc, "weight": wgt * nfr, "ofmap": 0.0}
        s_wr = {"ofmap": ofm}
    else:
        # tiles are column folds j; the row folds i (the reduction) run inside each tile
        fc = c / mp.sc  # share of the column dimension each tile covers
        rd = np.zeros((nfc, 3))
        wr = np.zeros(nfc)
        if df == "ws":
            whole, whole_half, whole_col, per_fold, per_col = ifmap_unique, half_i, 0, wgt, 1
            psum_j = mp.gemm.M * c * mp.acc_bits / 8
        else:
            whole, whole_half, whole_col, per_fold, per_col = wgt, half_w, 1, ifmap_unique, 0
            psum_j = c * mp.gemm.N * mp.acc_bits / 8
        if whole <= whole_half:
            rd[0, whole_col] = whole
        else:
            rd[:, whole_col] = whole
        rd[:, per_col] += per_fold * fc
        wr[:] = ofm * fc
        if nfr > 1:
            spill = psum_j > half_o
            wr += np.where(spill, psum_j * (nfr - 1), 0.0)
            rd[:, 2] = np.where(spill, psum_j * (nfr - 1), 0.0)
        stream_sram = (ifm if df == "ws" else wgt) * nfc
        stat_sram = wgt if df == "ws" else ifm
        s_rd = {"ifmap": stream_sram if df == "ws" else stat_sram,
                "weight": stat_sram if df == "ws" else stream_sram,
                "ofmap": psum * (nfr - 1)}
        s_wr = {"ofmap": psum * (nfr - 1) + ofm}
    tiles_rd = np.tile(rd, (g, 1))
    tiles_wr = np.tile(wr, g)
    # SRAM writes of the fills, SRAM reads of the write-back
    sram_read = {"ifmap": s_rd["ifmap"] * g, "weight": s_rd["weight"] * g,
                 "ofmap": s_rd["ofmap"] * g + float(tiles_wr.sum())}
    sram_write = {"ifmap": float(tiles_rd[:, 0].sum()), "weight": float(tiles_rd[:, 1].sum()),
                  "ofmap": s_wr["ofmap"] * g + float(tiles_rd[:, 2].sum())}
    fwd, regs = pe_traffic(mp, arch, r, c)
    return LayerTraffic(tiles_rd, tiles_wr, sram_read, sram_write, fwd * g, regs * g)


def pe_traffic(mp: LayerMapping, arch: MicroArch, r: np.ndarray, c: np.ndarray) -> tuple[float, float]:
    """(PE-to-PE forwarded bits, PE register write bits) of one group's folds.

    Sums the per-fold formulas of the module docstring over every (row fold, column fold) pair;
    all of them separate into sums over r and over c, so the cost is O(row folds + col folds).
    """
    T, p = mp.t, mp.macs_per_pe
    m, a = arch.mult_stages, arch.acc_stages
    act, wb, acc = mp.act_bits, mp.weight_bits, mp.acc_bits
    sr_, sc_ = r.sum(), c.sum()
    nr, nc = len(r), len(c)
    pairs_rc = sr_ * sc_  # sum over folds of r*c
    if mp.dataflow == "os":
        fwd = T * p * (act * sr_ * (sc_ - nc) + wb * sc_ * (sr_ - nr))
        regs = T * pairs_rc * (p * (act + wb) * (1 + m) + acc) + (a - 1) * pairs_rc * acc
        if arch.drain == "shift":
            shifts = (c * (arch.cols - 1) - c * (c - 1) / 2).sum()  # sum_j sum_{jj<c_j} (C-1-jj)
            fwd += sr_ * shifts * acc
            regs += pairs_rc * acc + sr_ * shifts * acc
        if arch.skew == "array":
            regs += T * p * (act * nc * (r * (r + 1) / 2).sum() + wb * nr * (c * (c + 1) / 2).sum())
        return float(fwd), float(regs)
    s_bits, x_bits = (wb, act) if mp.dataflow == "ws" else (act, wb)
    tri = (r * (r - 1) / 2).sum()
    fwd = sc_ * p * s_bits * tri + T * p * x_bits * sr_ * (sc_ - nc) + T * sc_ * nr * (arch.rows - 1) * acc
    regs = (sc_ * p * s_bits * (tri + sr_)
            + T * pairs_rc * p * x_bits
            + m * T * pairs_rc * p * (x_bits + s_bits)
            + T * sc_ * nr * arch.rows * a * acc)
    if arch.skew == "array":
        regs += T * p * x_bits * nc * (r * (r - 1) / 2 * a + r).sum()
    return float(fwd), float(regs)


VECTOR_OPS_PER_OUTPUT = {"maxpool": "window", "avgpool": "window", "add": 1, "mul": 1, "lut": 1, "concat": 0, "reshape": 0}
"""Element operations per output element of layers off the array ('window' = kernel area)."""


def off_array_traffic(layer: LayerDescriptor) -> tuple[int, float, float]:
    """(vector ops, DRAM read bytes, DRAM write bytes) of a layer beside the array.

    Pooling: kernel-area compares/adds per output; add, mul, lut: one op per output; concat and
    reshape: none. Reads: each input once (``add``/``mul`` read ``len(inputs)`` tensors of
    in_shape; concat reads its output's worth); writes: the output once. ``reshape`` moves nothing
    (layout only).
    """
    out_elems = int(np.prod(layer.out_shape))
    in_elems = int(np.prod(layer.in_shape))
    kind = VECTOR_OPS_PER_OUTPUT.get(layer.op, 1)
    per_out = layer.kernel[0] * layer.kernel[1] if kind == "window" else int(kind)
    ops = out_elems * per_out
    if layer.op == "reshape":
        return 0, 0.0, 0.0
    if layer.op == "concat":
        reads = out_elems * layer.act_bits / 8
    else:
        reads = in_elems * max(1, len(layer.inputs) if layer.op in ("add", "mul") else 1) * layer.act_bits / 8
    writes = out_elems * layer.out_bits / 8
    return ops, float(reads), float(writes)


def chunks_for(read_bytes: np.ndarray, write_bytes: float, hw: HardwareConfig) -> int:
    """Pieces a tile is streamed in so each piece fits its buffers' halves (at least 1)."""
    halves = (_half_bytes(hw.buffers.ifmap_kb, hw), _half_bytes(hw.buffers.weight_kb, hw),
              _half_bytes(hw.buffers.ofmap_kb, hw))
    n = 1
    for b, half in zip(read_bytes, halves):
        n = max(n, ceil(b / half - 1e-9))
    return max(n, ceil(write_bytes / halves[2] - 1e-9))
