"""``energy:`` — which energy table prices the counted events (DESIGN §5).

(Draft by the integrator: the energy owner refines.)
"""

from __future__ import annotations

from pydantic import Field

from accelsim.config.base import ConfigModel


class EnergyConfig(ConfigModel):
    technology: str = Field("45nm", description="Name of a shipped table under configs/energy/ (45nm, 28nm, 16nm, 7nm).")
    table: str | None = Field(None, description="Path to your own energy table YAML; overrides `technology`.")
