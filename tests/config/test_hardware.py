"""hardware: and simulation: sections: defaults, units, and one-line errors for bad values."""

from __future__ import annotations

import pytest

from accelsim.config.base import parse_model
from accelsim.config.hardware import HardwareConfig
from accelsim.config.run import config_from_dict, configs_dir, load_config
from accelsim.config.simulation import SimulationConfig
from accelsim.errors import ConfigError


def test_defaults_and_derived_values():
    hw = HardwareConfig()
    assert (hw.array.rows, hw.array.cols, hw.dataflow, hw.clock_hz) == (32, 32, "os", 200e6)
    assert (hw.pe.mult_stages, hw.pe.acc_stages, hw.array.skew, hw.array.drain, hw.array.overlap_folds) == \
        (0, 1, "feeder", "shift", False)
    assert hw.pes == 1024 and hw.macs_per_pe(4, 4) == 1
    sc = parse_model(HardwareConfig, {"pe": {"precision_scalable": True, "native_bits": 8}})
    assert (sc.macs_per_pe(8, 8), sc.macs_per_pe(4, 4), sc.macs_per_pe(2, 2), sc.macs_per_pe(2, 8)) == (1, 2, 4, 1)
    assert sc.peak_macs_per_cycle(2, 2) == 4096
    assert SimulationConfig().convention == "accelsim" and not SimulationConfig().stall_free
    assert hw.buffers.keep_activations is True and hw.loop_order == "auto"


@pytest.mark.parametrize("data,match", [
    ({"array": {"rows": 0}}, r"hw.yaml: hardware.array.rows: Input should be greater than or equal to 1 \(got 0\)"),
    ({"dataflow": "rs"}, r"hardware.dataflow: Input should be 'os', 'ws' or 'is' \(got 'rs'\)"),
    ({"buffers": {"ifmap_kb": 0}}, r"hardware.buffers.ifmap_kb: Input should be greater than 0"),
    ({"dram": {"bandwidth_bytes_per_cycle": -1}}, r"hardware.dram.bandwidth_bytes_per_cycle"),
    ({"array": {"skew": "diagonal"}}, r"hardware.array.skew: Input should be 'feeder' or 'array'"),
    ({"pe": {"acc_stages": 0}}, r"hardware.pe.acc_stages: Input should be greater than or equal to 1"),
    ({"array": {"colls": 3}}, r"hardware.array.colls: unknown key \(valid keys: rows, cols, skew"),
    ({"pe": {"precision_scalable": True, "native_bits": 6}}, r"native_bits must be a multiple of 4"),
    ({"loop_order": "best"}, r"hardware.loop_order: Input should be 'auto', 'dataflow' or 'search' \(got 'best'\)"),
    ({"buffers": {"keep_activations": "maybe"}}, r"hardware.buffers.keep_activations: Input should be a valid boolean"),
])
def test_bad_hardware_values_fail_in_one_line(data, match):
    with pytest.raises(ConfigError, match=match) as err:
        parse_model(HardwareConfig, data, source="hw.yaml", prefix="hardware")
    assert "\n" not in str(err.value)


def test_bad_simulation_convention():
    with pytest.raises(ConfigError, match=r"simulation.convention: Input should be 'accelsim' or 'scalesim'"):
        config_from_dict({"simulation": {"convention": "timeloop"}}, source="run.yaml")


@pytest.mark.parametrize("name", ["edge_32x32", "tpu_v1_256x256", "eyeriss_12x14"])
def test_shipped_configs_load(name):
    cfg = load_config(configs_dir() / f"{name}.yaml")
    assert cfg.workload.topology is not None
    rows, cols = name.split("_")[-1].split("x")
    assert (cfg.hardware.array.rows, cfg.hardware.array.cols) == (int(rows), int(cols))


@pytest.mark.parametrize("name,rows,cols,tech", [("eyeriss_v1", 12, 14, "65nm"), ("envision", 16, 16, "40nm"),
                                                  ("tpu_v1", 256, 256, "28nm")])
def test_chip_configs_load_and_their_tables_price_them(name, rows, cols, tech):
    from accelsim.energy import table_for

    cfg = load_config(configs_dir() / "chips" / f"{name}.yaml")
    assert (cfg.hardware.array.rows, cfg.hardware.array.cols, cfg.energy.technology) == (rows, cols, tech)
    table_for(cfg.energy, cfg.hardware)   # raises if the table cannot price a buffer or the DRAM


def test_sram_macro_keys_default_and_validate():
    hw = HardwareConfig()
    assert (hw.buffers.weight.cell, hw.buffers.weight.ports, hw.buffers.weight.power_gating) == ("itrs-lstp", 1, "off")
    # defaults: the array edge at native bits, 2 banks when double-buffered
    assert (hw.sram_width_bits("ifmap"), hw.sram_width_bits("weight"), hw.sram_banks("ofmap")) == (256, 256, 2)
    single = config_from_dict({"hardware": {"array": {"rows": 4, "cols": 8}, "buffers": {
        "double_buffered": False, "weight": {"width_bits": 64, "banks": 8}}}}).hardware
    assert (single.sram_width_bits("ifmap"), single.sram_width_bits("weight"), single.sram_banks("ifmap"),
            single.sram_banks("weight")) == (32, 64, 1, 8)
    with pytest.raises(ConfigError, match=r"hardware\.buffers\.weight\.cell: Input should be 'itrs-lstp', 'itrs-lop' or 'itrs-hp'"):
        config_from_dict({"hardware": {"buffers": {"weight": {"cell": "sram6t"}}}}, source="run.yaml")
    with pytest.raises(ConfigError, match=r"hardware\.buffers\.ifmap\.banks: Input should be 1, 2, 4, 8 or 16"):
        config_from_dict({"hardware": {"buffers": {"ifmap": {"banks": 3}}}}, source="run.yaml")
