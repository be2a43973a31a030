"""``energy:`` — which energy table prices the counted events (DESIGN §5).

A run names either a shipped table by ``technology`` (``configs/energy/<technology>.yaml``) or its
own table file by ``table`` (a path, relative to the config file). The table format and the
pricing live in :mod:`accelsim.energy`; this section only chooses the table, and checks at load
time that a named technology has a shipped table.
"""

from pydantic import Field

from accelsim.config.base import ConfigModel
from accelsim.config.sections import EnergyRules, available_technologies, tables_dir  # noqa: F401 - re-exported


class EnergyConfig(EnergyRules, ConfigModel):
    technology: str = Field(
        "45nm",
        description="Name of a shipped table under configs/energy/ (45nm, 28nm, 16nm, 7nm); ignored when `table` is set.",
    )
    table: str | None = Field(
        None, description="Path to your own energy table YAML (relative to the config file); overrides `technology`."
    )
    logic_supply_v: float | None = Field(
        None, gt=0, le=5,
        description="Supply voltage of the logic (PEs, vector unit), V: the table's dynamic logic energies "
        "(multiplier, adder, PE register writes and forwarding, vector ops) are scaled by (this / the table's "
        "logic_voltage)^2, the CMOS switching energy C V^2. null = the table's own voltage (0.9 V in the "
        "shipped tables: Horowitz's 45 nm figures). SRAM (CACTI, at its cell type's own supply), DRAM and "
        "leakage are not scaled; nor is the clock: set hardware.clock_hz to what the voltage allows.",
    )
