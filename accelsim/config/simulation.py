"""``simulation:`` — how the hardware model counts (cycle convention, stall model)."""

from typing import Literal

from pydantic import Field

from accelsim.config.base import ConfigModel


class SimulationConfig(ConfigModel):
    """Counting conventions of :func:`accelsim.hw.sim.simulate_network`."""

    convention: Literal["accelsim", "scalesim"] = Field(
        "accelsim",
        description="'accelsim': fold cycles of the documented micro-architecture (hardware.array/pe keys); "
        "'scalesim': SCALE-Sim 3.0.0's reported compute cycles (os T+R+C-2, ws/is T+2R+C-2 per fold, "
        "full R and C even on edge folds, folds*per_fold-1 per layer).",
    )
    stall_free: bool = Field(
        False,
        description="Assume operands are always in SRAM (SCALE-Sim's CALC mode): no DRAM stalls, "
        "total cycles = compute cycles. DRAM and SRAM byte counts are still reported.",
    )
    keep_timeline: bool = Field(
        True, description="Keep per-layer start/end cycles of DMA, compute and write-back phases (for traces)."
    )
