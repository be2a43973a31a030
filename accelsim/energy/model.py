"""The energy model: counted events x energy per event = a breakdown in pJ, per layer and per network.

Inputs per layer: a :class:`~accelsim.hw.counts.LayerCounts` (what the hardware model counted),
the layer's :class:`~accelsim.layers.LayerDescriptor` (its bit widths) and the
:class:`~accelsim.config.hardware.HardwareConfig` (array size, buffer capacities, DRAM kind, clock),
priced with an :class:`~accelsim.energy.table.EnergyTable`. Every component, in pJ:

``mac``            ``macs x (E_mul x (weight_bits x act_bits) / (w_ref x a_ref) + E_add x acc_bits / add_ref)``:
                   the multiplier scales with the product of the operand widths, the accumulator adder
                   linearly with its width (peers such as ZigZag charge one constant per MAC).
``pe_registers``   ``pe_reg_write_bits x E_reg_write`` (operand and accumulator register writes).
``pe_forwarding``  ``pe_forward_bits x E_forward``: the wire hop of operands and partial sums from a
                   PE to its neighbour (the receiving register's write is already in ``pe_registers``).
``pe_stores``      the stores inside every PE (``hardware.pe.local_stores``), per store: ``register``:
                   ``write_bits x E_reg_write + read_bits x ceil(log2(words)) x E_mux2`` (a read
                   passes a tree of 2:1 multiplexers); ``sram``: ``read_bits x e_read + write_bits x
                   e_write`` with ``e`` its CACTI energy per bit (the table's ``local_sram`` grid at its
                   cell, capacity ``words x width_bits`` and width).
``clock``          ``clock_bit_cycles x E_clock``: every clocked flip-flop bit of the array, every cycle
                   its clock runs (:mod:`accelsim.hw.registers`, ``hardware.clock_gating``).
``sram_<buffer>``  ``8 x (read_bytes x e_read + write_bytes x e_write)``, ``e`` the buffer's CACTI
                   access energy per bit (:meth:`~accelsim.energy.table.SramTable.macro`: its cell
                   type, capacity ``hardware.buffers.<buffer>_kb`` — the whole buffer even when
                   double-buffered —, port width, banks and ports).
``dram``           ``8 x (dram_read_bytes + dram_write_bytes) x E_dram(hardware.dram.kind)``.
``leakage_logic``  ``rows x cols x (P_pe + sum of the PE's sram stores' CACTI leakage) x total_cycles /
                   clock_hz``: leakage is a power, so its energy
                   is power x time (doubling the clock at the same cycle count halves it; the dynamic
                   components do not depend on the clock).
``leakage_<buffer>`` the buffer's CACTI leakage ``P`` x time; with ``power_gating`` the time asleep is
                   charged at the gated leakage ``P_g`` plus one wake-up energy ``E_w`` per sleep:
                   ``off``: ``P t``; ``idle_layers``: ``P_g t + E_w`` in a layer that neither reads
                   nor writes the buffer, else ``P t``; ``idle_cycles``: awake for
                   ``busy = min(cycles, ceil(8 x bytes / (width_bits x ports)))`` cycles,
                   ``P busy/f + P_g (cycles - busy)/f + folds x E_w`` (no wake-up when never asleep).
``vector``         ``vector_ops x E_vec(op) x bits / bits_ref``: an element operation beside the array,
                   ``op`` = the layer's op kind for pool/add/mul/concat/lut (scaled by ``act_bits``),
                   ``mul`` for affine/prelu/resize taps and ``concat`` for gather moves
                   (:data:`VECTOR_ENTRY`), ``requant`` for array layers (output requantization, scaled
                   by ``out_bits``); ``reshape`` costs nothing.

A breakdown's :attr:`~EnergyBreakdown.total_pj` is the sum of its components in the order above;
a network's breakdown is the component-wise sum of its layers'. Energy per inference divides by the
images per pass (the batch ``N`` of the first layer's input). Average power = energy per pass /
latency; TOPS/W counts 2 operations (multiply and add) per MAC, so TOPS/W = 2 x MACs / energy in pJ.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Sequence

from accelsim.config.hardware import HardwareConfig
from accelsim.hw.counts import BUFFERS, LayerCounts
from accelsim.layers import ARRAY_OPS, LayerDescriptor

if TYPE_CHECKING:  # pragma: no cover - annotations only; the table's models are built when a table is read
    from accelsim.energy.table import EnergyTable, SramMacro

LEAKAGE_COMPONENTS = ("leakage_logic", "leakage_ifmap", "leakage_weight", "leakage_ofmap")
"""The breakdown's leakage components: the logic (PEs) and each buffer."""

OPS_PER_MAC = 2
"""Operations counted per multiply-accumulate in TOPS and TOPS/W (one multiply, one add)."""


@dataclass(frozen=True)
class EnergyBreakdown:
    """Energy of one layer (or of a sum of layers) by component, each in pJ."""

    mac: float = 0.0
    pe_registers: float = 0.0
    pe_forwarding: float = 0.0
    pe_stores: float = 0.0
    clock: float = 0.0
    sram_ifmap: float = 0.0
    sram_weight: float = 0.0
    sram_ofmap: float = 0.0
    dram: float = 0.0
    leakage_logic: float = 0.0
    leakage_ifmap: float = 0.0
    leakage_weight: float = 0.0
    leakage_ofmap: float = 0.0
    vector: float = 0.0

    @classmethod
    def components(cls) -> tuple[str, ...]:
        """Component names, in the order reports list them and :attr:`total_pj` adds them."""
        return tuple(f.name for f in fields(cls))

    def as_dict(self) -> dict[str, float]:
        """``{component: pJ}`` in :meth:`components` order."""
        return {name: getattr(self, name) for name in self.components()}

    @property
    def leakage(self) -> float:
        """All leakage (logic and every buffer), pJ."""
        return self.leakage_logic + self.leakage_ifmap + self.leakage_weight + self.leakage_ofmap

    @property
    def total_pj(self) -> float:
        """Sum of the components, added left to right in :meth:`components` order, pJ."""
        total = 0.0
        for name in self.components():
            total += getattr(self, name)
        return total

    def __add__(self, other: "EnergyBreakdown") -> "EnergyBreakdown":
        return EnergyBreakdown(**{n: getattr(self, n) + getattr(other, n) for n in self.components()})


ENERGY_KINDS: tuple[str, ...] = EnergyBreakdown.components()
"""The event kinds of every energy breakdown, in the order totals add them and reports draw them."""


@dataclass(frozen=True)
class LayerEnergy:
    """The priced layer: its name, op, MACs, cycles, seconds and breakdown."""

    name: str
    op: str
    macs: int
    total_cycles: int
    seconds: float
    breakdown: EnergyBreakdown

    @property
    def total_pj(self) -> float:
        return self.breakdown.total_pj


@dataclass(frozen=True)
class NetworkEnergy:
    """Energy of a whole network pass, its per-layer parts, and the power and efficiency it implies."""

    layers: tuple[LayerEnergy, ...]
    total: EnergyBreakdown
    """Component-wise sum of the layers' breakdowns (one pass of ``inferences_per_pass`` images), pJ."""
    macs: int
    total_cycles: int
    clock_hz: float
    inferences_per_pass: int = 1
    sram: dict[str, SramMacro] | None = None
    """Each buffer's SRAM as priced (cell, width, banks, CACTI energies), or None."""

    @property
    def energy_per_pass_pj(self) -> float:
        """Energy of one pass through the network, pJ."""
        return self.total.total_pj

    @property
    def energy_per_inference_pj(self) -> float:
        """Energy of one inference (one image), pJ."""
        return self.total.total_pj / self.inferences_per_pass

    @property
    def energy_per_inference_uj(self) -> float:
        """Energy of one inference, microjoule."""
        return self.energy_per_inference_pj * 1e-6

    @property
    def latency_s(self) -> float:
        """Time of one pass (layers run one after another), seconds."""
        return self.total_cycles / self.clock_hz

    @property
    def inferences_per_s(self) -> float:
        """Inferences per second when passes run back to back (0 if no cycles)."""
        return self.inferences_per_pass / self.latency_s if self.total_cycles else 0.0

    @property
    def power_mw(self) -> float:
        """Average power = energy per inference x inferences per second, milliwatt."""
        return self.energy_per_inference_pj * 1e-12 * self.inferences_per_s * 1e3

    def power_breakdown_mw(self) -> dict[str, float]:
        """Average power by component, milliwatt (sums to :attr:`power_mw`)."""
        rate = self.inferences_per_s / self.inferences_per_pass
        return {k: v * 1e-12 * rate * 1e3 for k, v in self.total.as_dict().items()}

    @property
    def tops_per_w(self) -> float:
        """Operations per joule / 1e12 = ``2 x MACs / energy_pJ`` (2 operations per MAC)."""
        return OPS_PER_MAC * self.macs / self.total.total_pj if self.total.total_pj else 0.0

    def to_dict(self) -> dict:
        """Plain data for JSON reports (units in the keys)."""
        return {
            "energy_per_inference_pj": self.energy_per_inference_pj,
            "energy_per_inference_uj": self.energy_per_inference_uj,
            "breakdown_pj": {k: v / self.inferences_per_pass for k, v in self.total.as_dict().items()},
            "power_mw": self.power_mw,
            "power_breakdown_mw": self.power_breakdown_mw(),
            "tops_per_w": self.tops_per_w,
            "ops_per_mac": OPS_PER_MAC,
            "macs_per_pass": self.macs,
            "inferences_per_pass": self.inferences_per_pass,
            "latency_s": self.latency_s,
            "inferences_per_s": self.inferences_per_s,
            "sram": {k: m.to_dict() for k, m in (self.sram or {}).items()},
            "layers": [
                {"name": le.name, "op": le.op, "macs": le.macs, "total_cycles": le.total_cycles,
                 "energy_pj": le.total_pj, "breakdown_pj": le.breakdown.as_dict()}
                for le in self.layers
            ],
        }


def mac_energy_pj(table: EnergyTable, weight_bits: int, act_bits: int, acc_bits: int) -> float:
    """Energy of one MAC at the given widths, pJ.

    ``E_mul x (weight_bits x act_bits) / (w_ref x a_ref) + E_add x acc_bits / add_ref``: an array
    multiplier's partial-product grid grows with the product of the operand widths (Horowitz:
    8x8 -> 32x32 bit costs x15.5 for x16 the product), a ripple/prefix adder with its width.
    """
    mul = table.multiplier
    add = table.adder
    return (mul.energy_pj * (weight_bits * act_bits) / (mul.weight_bits * mul.act_bits)
            + add.energy_pj * acc_bits / add.bits)


VECTOR_ENTRY = {"affine": "mul", "prelu": "mul", "resize": "mul", "gather": "concat"}
"""Energy-table entry that prices each op kind with no entry of its own: a requantizing multiply
(affine, prelu, each bilinear tap) or a data move (gather, like a concat's)."""


def vector_energy_pj(table: EnergyTable, layer: LayerDescriptor) -> float:
    """Energy of one vector-unit element operation of *layer*, pJ (see the module docstring)."""
    if layer.op == "reshape":
        return 0.0
    if layer.op in ARRAY_OPS:
        entry, bits = table.vector.requant, layer.out_bits
    else:
        entry, bits = getattr(table.vector, VECTOR_ENTRY.get(layer.op, layer.op)), layer.act_bits
    return entry.energy_pj * bits / entry.bits


def pe_leakage_uw(table: EnergyTable, hw: HardwareConfig,
                  stores: dict[str, SramMacro] | None = None) -> float:
    """Leakage power of one PE: its logic and its sram stores (:meth:`EnergyTable.store_macros`), microwatt."""
    if stores is None:
        stores = table.store_macros(hw)
    return table.leakage.pe.power_uw + sum(m.leakage_uw for m in stores.values())


def leakage_power_uw(table: EnergyTable, hw: HardwareConfig) -> float:
    """Leakage power of the whole machine awake (all PEs and all SRAM buffers), microwatt."""
    macros = sram_macros(table, hw)
    return hw.array.rows * hw.array.cols * pe_leakage_uw(table, hw) + sum(m.leakage_uw for m in macros.values())


def store_energy_pj(counts: LayerCounts, hw: HardwareConfig, table: EnergyTable,
                    stores: dict[str, SramMacro]) -> float:
    """Energy of the accesses to the stores inside the PEs in one layer, pJ (module docstring)."""
    reg = table.pe_register
    total = 0.0
    for name, store in hw.pe.local_stores.items():
        rd = counts.pe_store_read_bits.get(name, 0.0)
        wr = counts.pe_store_write_bits.get(name, 0.0)
        if store.kind == "register":
            levels = math.ceil(math.log2(store.words)) if store.words > 1 else 0
            total += wr * reg.write.energy_pj_per_bit + rd * levels * reg.mux2.energy_pj_per_bit
        else:
            m = stores[name]
            total += rd * m.read_pj_per_bit + wr * m.write_pj_per_bit
    return total


def sram_macros(table: EnergyTable, hw: HardwareConfig) -> dict[str, SramMacro]:
    """Each buffer's SRAM as the table prices it (:meth:`EnergyTable.buffer_macros`)."""
    return table.buffer_macros(hw)


def buffer_leakage_pj(macro: SramMacro, gating: str, read_bytes: float, write_bytes: float,
                      cycles: int, folds: int, clock_hz: float) -> float:
    """Leakage energy of one buffer over one layer, pJ (formulas in the module docstring)."""
    seconds = cycles / clock_hz
    awake_pj = macro.leakage_uw * seconds * 1e6
    moved_bits = 8.0 * (read_bytes + write_bytes)
    if gating == "off" or cycles == 0:
        return awake_pj
    if gating == "idle_layers":
        if moved_bits:
            return awake_pj
        return macro.gated_leakage_uw * seconds * 1e6 + macro.wakeup_pj
    busy = min(cycles, math.ceil(moved_bits / (macro.width_bits * macro.ports)))
    asleep = cycles - busy
    if asleep == 0:
        return awake_pj
    wakeups = max(1, folds) if busy else 1
    return (macro.leakage_uw * busy + macro.gated_leakage_uw * asleep) / clock_hz * 1e6 + wakeups * macro.wakeup_pj


def price_layer(counts: LayerCounts, layer: LayerDescriptor, hw: HardwareConfig,
                table: EnergyTable, macros: dict[str, SramMacro] | None = None,
                stores: dict[str, SramMacro] | None = None) -> EnergyBreakdown:
    """Price one layer's counted events.

    Parameters
    ----------
    counts : what the hardware model counted for the layer.
    layer : the layer's descriptor (bit widths and op kind).
    hw : the hardware config (array size, buffers, DRAM kind, clock).
    table : the energy table.
    macros : the buffers' SRAM (:func:`sram_macros`; computed when None).
    stores : the PEs' sram stores (:meth:`EnergyTable.store_macros`; computed when None).

    Returns
    -------
    EnergyBreakdown
        Each component in pJ (formulas in the module docstring).

    Raises
    ------
    ConfigError
        The table has no entry for ``hw.dram.kind``, or cannot price a buffer's SRAM.
    """
    if macros is None:
        macros = sram_macros(table, hw)
    if stores is None:
        stores = table.store_macros(hw)
    reg = table.pe_register
    sram, leak = {}, {}
    for buf in BUFFERS:
        m = macros[buf]
        rd = counts.sram_read_bytes.get(buf, 0.0)
        wr = counts.sram_write_bytes.get(buf, 0.0)
        sram[buf] = 8.0 * (rd * m.read_pj_per_bit + wr * m.write_pj_per_bit)
        leak[buf] = buffer_leakage_pj(m, getattr(hw.buffers, buf).power_gating, rd, wr, counts.total_cycles,
                                      counts.folds, hw.clock_hz)
    dram_bits = 8.0 * (counts.dram_read_bytes + counts.dram_write_bytes)
    seconds = counts.total_cycles / hw.clock_hz
    return EnergyBreakdown(
        mac=counts.macs * mac_energy_pj(table, layer.weight_bits, layer.act_bits, layer.acc_bits),
        pe_registers=counts.pe_reg_write_bits * reg.write.energy_pj_per_bit,
        pe_forwarding=counts.pe_forward_bits * reg.forward.energy_pj_per_bit,
        pe_stores=store_energy_pj(counts, hw, table, stores),
        clock=counts.clock_bit_cycles * reg.clock.energy_pj_per_bit,
        sram_ifmap=sram["ifmap"],
        sram_weight=sram["weight"],
        sram_ofmap=sram["ofmap"],
        dram=dram_bits * table.dram_energy_pj_per_bit(hw.dram.kind),
        leakage_logic=hw.array.rows * hw.array.cols * pe_leakage_uw(table, hw, stores) * seconds * 1e6,
        leakage_ifmap=leak["ifmap"],
        leakage_weight=leak["weight"],
        leakage_ofmap=leak["ofmap"],
        vector=counts.vector_ops * vector_energy_pj(table, layer),
    )


def price_network(counts_list: Sequence[LayerCounts], layers: Sequence[LayerDescriptor],
                  hw: HardwareConfig, table: EnergyTable,
                  inferences_per_pass: int | None = None) -> NetworkEnergy:
    """Price every layer of a network pass and sum them.

    Parameters
    ----------
    counts_list : one :class:`LayerCounts` per layer, in the order of *layers*
        (e.g. ``simulate_network(...).layers``).
    layers : the descriptors (e.g. ``net.layers``), same order and names.
    hw, table : as in :func:`price_layer`.
    inferences_per_pass : images per pass; default the batch ``N`` of the first layer's input.

    Returns
    -------
    NetworkEnergy
        Per-layer breakdowns, their component-wise sum, and energy per inference (pJ, µJ),
        average power (mW), TOPS/W.

    Raises
    ------
    ConfigError
        The table cannot price ``hw`` (e.g. no entry for its DRAM kind).
    ValueError
        *counts_list* and *layers* differ in length or names (a wiring bug, not a user error).
    """
    if len(counts_list) != len(layers):
        raise ValueError(f"{len(counts_list)} count records for {len(layers)} layers")
    table.check_covers(hw)
    macros = sram_macros(table, hw)
    stores = table.store_macros(hw)
    period_ns = 1e9 / hw.clock_hz
    for buf, m in macros.items():
        if m.cycle_ns > period_ns:
            warnings.warn(
                f"hardware.buffers.{buf}: a {m.capacity_kib:g} KiB {m.cell} SRAM ({m.width_bits}-bit port, {m.banks} "
                f"banks) has a {m.cycle_ns:.3g} ns random cycle (CACTI), longer than the {period_ns:.3g} ns clock "
                "period: it cannot deliver an access every cycle (more banks, a faster cell type or a slower "
                "clock would); energy is priced as if it did", UserWarning, stacklevel=2)
    priced = []
    total = EnergyBreakdown()
    for counts, layer in zip(counts_list, layers):
        if counts.name != layer.name:
            raise ValueError(f"count record {counts.name!r} paired with layer {layer.name!r}")
        b = price_layer(counts, layer, hw, table, macros, stores)
        total = total + b
        priced.append(LayerEnergy(layer.name, layer.op, counts.macs, counts.total_cycles,
                                  counts.total_cycles / hw.clock_hz, b))
    if inferences_per_pass is None:
        inferences_per_pass = layers[0].in_shape[0] if layers else 1
    return NetworkEnergy(
        layers=tuple(priced),
        total=total,
        macs=sum(c.macs for c in counts_list),
        total_cycles=sum(c.total_cycles for c in counts_list),
        clock_hz=hw.clock_hz,
        inferences_per_pass=inferences_per_pass,
        sram=macros,
    )
