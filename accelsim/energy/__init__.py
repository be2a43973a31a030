"""Energy: per-event energy tables (YAML, cited) and the model that turns count records into pJ.

Reads :mod:`accelsim.hw.counts` records, layer descriptors and the hardware config; knows nothing
about SimPy. Public API::

    table = table_for(cfg.energy, cfg.hardware)        # or load_table(path) / shipped_table("45nm")
    energy = price_network(timing.layers, net.layers, cfg.hardware, table)
    energy.energy_per_inference_uj, energy.power_mw, energy.tops_per_w, energy.to_dict()

Names are imported on first use: the table's pydantic models are built only when a table is read,
not by a command that prices nothing (``accelsim simulate``) nor by a reader of point results
(:data:`~accelsim.energy.model.ENERGY_KINDS`).
"""

from accelsim.lazy import lazy_getattr

_MODEL = ("LEAKAGE_COMPONENTS", "OPS_PER_MAC", "EnergyBreakdown", "LayerEnergy", "NetworkEnergy", "leakage_power_uw",
          "mac_energy_pj", "price_layer", "price_network", "sram_macros", "vector_energy_pj")
_TABLE = ("DRAM_KINDS", "SRAM_CELLS", "VECTOR_OPS", "EnergyTable", "SramMacro", "available_technologies", "load_table",
          "shipped_table", "table_for")
_WHERE = {**{name: "accelsim.energy.model" for name in _MODEL}, **{name: "accelsim.energy.table" for name in _TABLE}}

__all__ = sorted(_WHERE)

__getattr__ = lazy_getattr(__name__, _WHERE)
