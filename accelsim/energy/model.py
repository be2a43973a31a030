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
``sram_<buffer>``  ``8 x (read_bytes x E_read(C) + write_bytes x E_write(C))`` with ``C`` the buffer's
                   configured capacity in KiB (``hardware.buffers.<buffer>_kb``, the whole buffer
                   even when double-buffered) and ``E(C)`` interpolated from the table in log capacity.
``dram``           ``8 x (dram_read_bytes + dram_write_bytes) x E_dram(hardware.dram.kind)``.
``leakage``        ``(rows x cols x P_pe + (ifmap_kb + weight_kb + ofmap_kb) x P_sram) x total_cycles / clock_hz``:
                   leakage is a power, so its energy is power x time (doubling the clock at the same
                   cycle count halves it; the dynamic components do not depend on the clock).
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

from dataclasses import dataclass, fields
from typing import Sequence

from accelsim.config.hardware import HardwareConfig
from accelsim.energy.table import EnergyTable
from accelsim.hw.counts import BUFFERS, LayerCounts
from accelsim.layers import ARRAY_OPS, LayerDescriptor

OPS_PER_MAC = 2
"""Operations counted per multiply-accumulate in TOPS and TOPS/W (one multiply, one add)."""


@dataclass(frozen=True)
class EnergyBreakdown:
    """Energy of one layer (or of a sum of layers) by component, each in pJ."""

    mac: float = 0.0
    pe_registers: float = 0.0
    pe_forwarding: float = 0.0
    sram_ifmap: float = 0.0
    sram_weight: float = 0.0
    sram_ofmap: float = 0.0
    dram: float = 0.0
    leakage: float = 0.0
    vector: float = 0.0

    @classmethod
    def components(cls) -> tuple[str, ...]:
        """Component names, in the order reports list them and :attr:`total_pj` adds them."""
        return tuple(f.name for f in fields(cls))

    def as_dict(self) -> dict[str, float]:
        """``{component: pJ}`` in :meth:`components` order."""
        return {name: getattr(self, name) for name in self.components()}

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


def leakage_power_uw(table: EnergyTable, hw: HardwareConfig) -> float:
    """Leakage power of the whole machine (all PEs and all SRAM buffers), microwatt."""
    pes = hw.array.rows * hw.array.cols
    kib = hw.buffers.ifmap_kb + hw.buffers.weight_kb + hw.buffers.ofmap_kb
    return pes * table.leakage.pe.power_uw + kib * table.leakage.sram.power_uw_per_kib


def price_layer(counts: LayerCounts, layer: LayerDescriptor, hw: HardwareConfig,
                table: EnergyTable) -> EnergyBreakdown:
    """Price one layer's counted events.

    Parameters
    ----------
    counts : what the hardware model counted for the layer.
    layer : the layer's descriptor (bit widths and op kind).
    hw : the hardware config (array size, buffer capacities, DRAM kind, clock).
    table : the energy table.

    Returns
    -------
    EnergyBreakdown
        Each component in pJ (formulas in the module docstring).

    Raises
    ------
    ConfigError
        The table has no entry for ``hw.dram.kind``.
    """
    reg = table.pe_register
    sram = {}
    for buf in BUFFERS:
        cap = getattr(hw.buffers, f"{buf}_kb")
        rd = counts.sram_read_bytes.get(buf, 0.0)
        wr = counts.sram_write_bytes.get(buf, 0.0)
        sram[buf] = 8.0 * (rd * table.sram.energy_pj_per_bit(cap, "read")
                           + wr * table.sram.energy_pj_per_bit(cap, "write"))
    dram_bits = 8.0 * (counts.dram_read_bytes + counts.dram_write_bytes)
    seconds = counts.total_cycles / hw.clock_hz
    return EnergyBreakdown(
        mac=counts.macs * mac_energy_pj(table, layer.weight_bits, layer.act_bits, layer.acc_bits),
        pe_registers=counts.pe_reg_write_bits * reg.write.energy_pj_per_bit,
        pe_forwarding=counts.pe_forward_bits * reg.forward.energy_pj_per_bit,
        sram_ifmap=sram["ifmap"],
        sram_weight=sram["weight"],
        sram_ofmap=sram["ofmap"],
        dram=dram_bits * table.dram_energy_pj_per_bit(hw.dram.kind),
        leakage=leakage_power_uw(table, hw) * seconds * 1e6,
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
    priced = []
    total = EnergyBreakdown()
    for counts, layer in zip(counts_list, layers):
        if counts.name != layer.name:
            raise ValueError(f"count record {counts.name!r} paired with layer {layer.name!r}")
        b = price_layer(counts, layer, hw, table)
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
    )
