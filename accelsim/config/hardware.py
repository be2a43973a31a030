"""``hardware:`` — the systolic array, its PEs, SRAM buffers, DRAM and clock (DESIGN §4).

(Draft by the integrator: the hw owner refines fields, defaults and checks; key names are the
user-facing contract, so change them only with reason.)
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from accelsim.config.base import ConfigModel

Dataflow = Literal["os", "ws", "is"]


class ArrayConfig(ConfigModel):
    rows: int = Field(32, ge=1, description="PE rows of the array.")
    cols: int = Field(32, ge=1, description="PE columns of the array.")


class BuffersConfig(ConfigModel):
    ifmap_kb: float = Field(64.0, gt=0, description="Input-activation SRAM, KiB.")
    weight_kb: float = Field(64.0, gt=0, description="Weight SRAM, KiB.")
    ofmap_kb: float = Field(64.0, gt=0, description="Output SRAM, KiB.")
    double_buffered: bool = Field(True, description="Load the next tile while the current one computes.")


class DramConfig(ConfigModel):
    bandwidth_bytes_per_cycle: float = Field(16.0, gt=0, description="DRAM bandwidth, bytes per clock cycle.")
    kind: Literal["lpddr4", "ddr3", "ddr4", "gddr5", "hbm2"] = Field("lpddr4", description="DRAM technology.")


class HardwareConfig(ConfigModel):
    array: ArrayConfig = Field(default_factory=ArrayConfig)
    dataflow: Dataflow = Field("os", description="os (output-), ws (weight-) or is (input-stationary).")
    clock_hz: float = Field(200e6, gt=0, description="Clock frequency, Hz.")
    buffers: BuffersConfig = Field(default_factory=BuffersConfig)
    dram: DramConfig = Field(default_factory=DramConfig)
