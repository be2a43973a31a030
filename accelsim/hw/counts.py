"""Count records: what the hardware model hands to the energy model and the reports.

Every count is an event count or a quantity with its unit in the name. Records of layers add up
(:meth:`LayerCounts.__add__`) into the network total.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

BUFFERS = ("ifmap", "weight", "ofmap")
"""The on-chip SRAM buffers, in the order reports list them."""


@dataclass(frozen=True)
class LayerCounts:
    """Cycles and access counts of one layer (or of a sum of layers).

    Bytes are bytes actually moved at the configured bit widths (e.g. a 4-bit weight is half a
    byte). ``pe_forward_bits`` counts operand and partial-sum bits passed from one PE register to
    its neighbour (the systolic transfers peers ignore); ``pe_reg_write_bits`` all PE register
    writes (operand and accumulator registers); ``clock_bit_cycles`` the flip-flop bits the array's
    clock drove, summed over the cycles it ran (:mod:`accelsim.hw.registers`);
    ``pe_store_read_bits`` / ``pe_store_write_bits`` the bits moved in each ``pe.local_stores``
    store, over all PEs.
    """

    name: str
    macs: int = 0
    compute_cycles: int = 0
    """Cycles the array needs with operands always ready (the stall-free bound)."""
    stall_cycles: int = 0
    """Extra cycles spent waiting on DRAM or buffer space, as the SimPy model found them."""
    total_cycles: int = 0
    folds: int = 0
    mac_slots: int = 0
    """PEs x MACs-per-PE-per-cycle x compute cycles: the denominator of utilization."""
    dram_read_bytes: float = 0.0
    dram_write_bytes: float = 0.0
    sram_read_bytes: dict[str, float] = field(default_factory=lambda: dict.fromkeys(BUFFERS, 0.0))
    sram_write_bytes: dict[str, float] = field(default_factory=lambda: dict.fromkeys(BUFFERS, 0.0))
    pe_forward_bits: float = 0.0
    pe_reg_write_bits: float = 0.0
    clock_bit_cycles: int = 0
    """Clocked flip-flop bits x cycles clocked (``hardware.clock_gating``), bit-cycles."""
    pe_store_read_bits: dict[str, float] = field(default_factory=dict)
    pe_store_write_bits: dict[str, float] = field(default_factory=dict)
    vector_ops: int = 0
    """Element operations done beside the array (pooling, add, lookup tables)."""

    @property
    def utilization(self) -> float:
        """MACs done / MAC slots offered during compute cycles (0..1)."""
        return self.macs / self.mac_slots if self.mac_slots else 0.0

    def __add__(self, other: "LayerCounts") -> "LayerCounts":
        merged = {}
        for f in fields(self):
            a, b = getattr(self, f.name), getattr(other, f.name)
            if f.name == "name":
                merged["name"] = "total"
            elif isinstance(a, dict):
                merged[f.name] = {k: a.get(k, 0.0) + b.get(k, 0.0) for k in a.keys() | b.keys()}
            else:
                merged[f.name] = a + b
        return LayerCounts(**merged)
