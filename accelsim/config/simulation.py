"""``simulation:`` — how the hardware model counts (conventions, stall model).

(Draft by the integrator: the hw owner refines.)
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from accelsim.config.base import ConfigModel


class SimulationConfig(ConfigModel):
    convention: Literal["accelsim", "scalesim"] = Field(
        "accelsim",
        description="'accelsim': the documented micro-architecture; 'scalesim': SCALE-Sim 3.0.0's reported cycles.",
    )
    stall_free: bool = Field(
        False, description="Assume operands are always in SRAM (SCALE-Sim's CALC mode): no DRAM stalls."
    )
