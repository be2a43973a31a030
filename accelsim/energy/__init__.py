"""Energy: per-event energy tables (YAML, cited) and the model that turns count records into pJ.

Reads :mod:`accelsim.hw.counts` records, layer descriptors and the hardware config; knows nothing
about SimPy. Public API::

    table = table_for(cfg.energy, cfg.hardware)        # or load_table(path) / shipped_table("45nm")
    energy = price_network(timing.layers, net.layers, cfg.hardware, table)
    energy.energy_per_inference_uj, energy.power_mw, energy.tops_per_w, energy.to_dict()
"""

from accelsim.energy.model import (
    LEAKAGE_COMPONENTS,
    OPS_PER_MAC,
    EnergyBreakdown,
    LayerEnergy,
    NetworkEnergy,
    leakage_power_uw,
    mac_energy_pj,
    price_layer,
    price_network,
    sram_macros,
    vector_energy_pj,
)
from accelsim.energy.table import (
    DRAM_KINDS,
    SRAM_CELLS,
    VECTOR_OPS,
    EnergyTable,
    SramMacro,
    available_technologies,
    load_table,
    shipped_table,
    table_for,
)

__all__ = [
    "DRAM_KINDS",
    "LEAKAGE_COMPONENTS",
    "SRAM_CELLS",
    "SramMacro",
    "sram_macros",
    "OPS_PER_MAC",
    "VECTOR_OPS",
    "EnergyBreakdown",
    "EnergyTable",
    "LayerEnergy",
    "NetworkEnergy",
    "available_technologies",
    "leakage_power_uw",
    "load_table",
    "mac_energy_pj",
    "price_layer",
    "price_network",
    "shipped_table",
    "table_for",
    "vector_energy_pj",
]
