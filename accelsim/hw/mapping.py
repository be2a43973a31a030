"""Mapping a layer onto the array: GEMM view, SCALE-Sim notation (Sr, Sc, T), folds, tile bytes.

A layer on the array (``conv2d``, ``depthwise``, ``gemm``) is ``groups`` independent GEMMs
``O[M, N] = A[M, K] @ B[K, N]`` (A = im2col of the input activations, B = weights). A depthwise
layer is ``groups = C`` GEMMs with ``N = 1`` each, never one dense GEMM.

Per dataflow, in SCALE-Sim's notation (Sr rows of the array's spatial work, Sc columns, T the
streamed dimension):

=====  ==========  =========================================================================
df     (Sr, Sc, T)  what sits where
=====  ==========  =========================================================================
os     (M, N, K)    output O[m, n] stays in PE (m mod R, n mod C); A rows enter from the left,
                    B columns from the top, K is streamed.
ws     (K, N, M)    weight B[k, n] stays in PE (k mod R, n mod C); A streams from the left one
                    output pixel per cycle, partial sums flow down the columns.
is     (K, M, N)    input A[m, k] stays in PE (k mod R, m mod C); B streams from the left one
                    output channel per cycle, partial sums flow down the columns.
=====  ==========  =========================================================================

Folds: ``ceil(Sr/R) * ceil(Sc/C)`` per group. os runs them in the order group, row fold ``i``
(over Sr), column fold ``j`` (over Sc); ws and is in the order group, column fold ``j``, row fold
``i`` (the reduction is innermost, so the partial sums of one column block complete first). The last row fold uses ``Sr - (ceil(Sr/R)-1)*R`` rows, the last
column fold likewise (edge folds).

Precision-scalable PEs (``hardware.pe.precision_scalable``): a PE doing ``p`` MACs per cycle
(2 or 4, :meth:`HardwareConfig.macs_per_pe`) packs ``p`` consecutive reduction elements into one
cycle, so the reduction length becomes ``K_eff = ceil(K / p)``: in os it divides T, in ws and is
it divides Sr (each PE row holds ``p`` weights of consecutive k). Nothing else changes;
utilization counts ``p`` MAC slots per PE per cycle.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import ceil
from typing import TYPE_CHECKING

from accelsim.errors import MappingError
from accelsim.layers import ARRAY_OPS, GemmView, LayerDescriptor

if TYPE_CHECKING:  # annotations only: the config may be a pydantic model or a plain record (accelsim.config.plain)
    from accelsim.config.hardware import HardwareConfig

KIB = 1024.0
"""Bytes per KiB (buffer sizes in the config are KiB)."""


def scalesim_notation(dataflow: str, gemm: GemmView, k_eff: int | None = None) -> tuple[int, int, int]:
    """(Sr, Sc, T) of one group's GEMM for *dataflow*; *k_eff* replaces K (packed PEs).

    os = (M, N, K), ws = (K, N, M), is = (K, M, N).
    """
    k = gemm.K if k_eff is None else k_eff
    if dataflow == "os":
        return gemm.M, gemm.N, k
    if dataflow == "ws":
        return k, gemm.N, gemm.M
    if dataflow == "is":
        return k, gemm.M, gemm.N
    raise MappingError(f"unknown dataflow {dataflow!r}; valid: os, ws, is")


@dataclass(frozen=True)
class LayerMapping:
    """One array layer cut into folds for one array and dataflow.

    All sizes are elements unless the name says bytes. ``rows``/``cols`` are the physical array.
    """

    name: str
    dataflow: str
    gemm: GemmView
    rows: int
    cols: int
    macs_per_pe: int
    """MACs per PE per cycle (1, 2 or 4)."""
    k_eff: int
    """Reduction length after packing: ceil(K / macs_per_pe)."""
    sr: int
    sc: int
    t: int
    weight_bits: int
    act_bits: int
    out_bits: int
    acc_bits: int

    @property
    def groups(self) -> int:
        return self.gemm.groups

    @property
    def row_folds(self) -> int:
        """ceil(Sr / R)."""
        return ceil(self.sr / self.rows)

    @property
    def col_folds(self) -> int:
        """ceil(Sc / C)."""
        return ceil(self.sc / self.cols)

    @property
    def folds(self) -> int:
        """All folds of the layer: groups x ceil(Sr/R) x ceil(Sc/C)."""
        return self.groups * self.row_folds * self.col_folds

    @property
    def tiles(self) -> int:
        """Tiles of the layer: groups x row folds (os) or groups x column folds (ws, is)."""
        return self.groups * (self.row_folds if self.dataflow == "os" else self.col_folds)

    def fold_rows(self, i: int) -> int:
        """Rows used by row fold *i* (R except the last, which takes the remainder)."""
        return min(self.rows, self.sr - i * self.rows)

    def fold_cols(self, j: int) -> int:
        """Columns used by column fold *j*."""
        return min(self.cols, self.sc - j * self.cols)

    @property
    def edge_rows(self) -> int:
        return self.fold_rows(self.row_folds - 1)

    @property
    def edge_cols(self) -> int:
        return self.fold_cols(self.col_folds - 1)

    @property
    def macs(self) -> int:
        return self.gemm.macs

    # ---- operand sizes of one group, bytes -------------------------------------------------
    @property
    def ifmap_bytes(self) -> float:
        """A (im2col activations, M x K) of one group at act_bits, bytes."""
        return self.gemm.M * self.gemm.K * self.act_bits / 8

    @property
    def weight_bytes(self) -> float:
        """B (K x N) of one group at weight_bits, bytes."""
        return self.gemm.K * self.gemm.N * self.weight_bits / 8

    @property
    def ofmap_bytes(self) -> float:
        """O (M x N) of one group at out_bits, bytes."""
        return self.gemm.M * self.gemm.N * self.out_bits / 8

    @property
    def psum_bytes(self) -> float:
        """O (M x N) of one group at acc_bits (partial sums), bytes."""
        return self.gemm.M * self.gemm.N * self.acc_bits / 8

    def min_tile_bytes(self) -> dict[str, float]:
        """Smallest tile each buffer half must hold, bytes.

        The stationary operand needs a whole R x C block (ws: weights, is: ifmap; os: the R x C
        results of a fold, at out_bits, which leave the array together); a streamed operand needs
        one step's vector (R or C elements at its width; ws/is partial sums: C values at acc_bits).
        Everything larger than that streams through the buffer in pieces.
        """
        R, C = self.rows, self.cols
        a, w, o, acc = self.act_bits / 8, self.weight_bits / 8, self.out_bits / 8, self.acc_bits / 8
        if self.dataflow == "os":
            return {"ifmap": R * a, "weight": C * w, "ofmap": R * C * o}
        if self.dataflow == "ws":
            return {"ifmap": R * a, "weight": R * C * w, "ofmap": C * acc}
        return {"ifmap": R * C * a, "weight": R * w, "ofmap": C * acc}


def map_layer(layer: LayerDescriptor, hw: HardwareConfig, dataflow: str | None = None) -> LayerMapping:
    """Cut array layer *layer* into folds of *hw*'s array.

    Parameters
    ----------
    layer : a descriptor whose op is in ``ARRAY_OPS``.
    hw : the hardware config (array shape, PE precision scaling, dataflow).
    dataflow : overrides ``hw.dataflow``.

    Raises
    ------
    MappingError
        The op does not run on the array, the dataflow is unknown, or the shapes give an empty GEMM.
    """
    df = hw.dataflow if dataflow is None else dataflow
    if layer.op not in ARRAY_OPS:
        raise MappingError(f"layer {layer.name!r}: op {layer.op!r} does not run on the MAC array ({', '.join(ARRAY_OPS)} do)")
    if layer.groups < 1 or layer.in_shape[1] % layer.groups or layer.out_shape[1] % layer.groups:
        raise MappingError(
            f"layer {layer.name!r}: groups={layer.groups} must divide input channels {layer.in_shape[1]} "
            f"and output channels {layer.out_shape[1]}"
        )
    gemm = layer.gemm()
    if min(gemm.M, gemm.N, gemm.K) < 1:
        raise MappingError(f"layer {layer.name!r}: empty GEMM M={gemm.M} N={gemm.N} K={gemm.K}")
    p = hw.macs_per_pe(layer.weight_bits, layer.act_bits)
    k_eff = ceil(gemm.K / p)
    sr, sc, t = scalesim_notation(df, gemm, k_eff)
    return LayerMapping(
        name=layer.name, dataflow=df, gemm=gemm, rows=hw.array.rows, cols=hw.array.cols,
        macs_per_pe=p, k_eff=k_eff, sr=sr, sc=sc, t=t,
        weight_bits=layer.weight_bits, act_bits=layer.act_bits, out_bits=layer.out_bits,
        acc_bits=layer.acc_bits,
    )


def check_buffers(mapping: LayerMapping, hw: HardwareConfig) -> None:
    """Raise :class:`MappingError` when a buffer (half, if double-buffered) cannot hold one tile.

    The message names the buffer, the layer, the KiB needed and the KiB configured.
    """
    halves = 2 if hw.buffers.double_buffered else 1
    sizes = {"ifmap": hw.buffers.ifmap_kb, "weight": hw.buffers.weight_kb, "ofmap": hw.buffers.ofmap_kb}
    for buf, need in mapping.min_tile_bytes().items():
        need_kb = need * halves / KIB
        if need_kb > sizes[buf] + 1e-12:
            raise MappingError(
                f"hardware.buffers.{buf}_kb: layer {mapping.name!r} needs at least {need_kb:g} KiB "
                f"(one {mapping.rows}x{mapping.cols} tile{' per half, double-buffered' if halves == 2 else ''}), "
                f"configured {sizes[buf]:g} KiB"
            )
