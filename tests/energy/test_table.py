"""Energy tables: the shipped tables load, carry the published numbers, and bad tables fail clearly."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from accelsim.config.hardware import HardwareConfig
from accelsim.config.run import config_from_dict
from accelsim.energy import available_technologies, load_table, shipped_table, table_for
from accelsim.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


def minimal_table() -> dict:
    """A complete, valid table with round numbers (also used by the model tests)."""
    src = {"source": "test"}
    vec = {"energy_pj": 0.1, "bits": 8, **src}
    return {
        "technology": "test",
        "multiplier": {"energy_pj": 0.2, "weight_bits": 8, "act_bits": 8, **src},
        "adder": {"energy_pj": 0.1, "bits": 32, **src},
        "pe_register": {"write": {"energy_pj_per_bit": 0.01, **src},
                        "forward": {"energy_pj_per_bit": 0.005, **src}},
        "sram": {"read": [{"capacity_kib": 1, "energy_pj_per_bit": 0.01, **src},
                          {"capacity_kib": 16, "energy_pj_per_bit": 0.04, **src}],
                 "write": [{"capacity_kib": 8, "energy_pj_per_bit": 0.03, **src}]},
        "dram": {"lpddr4": {"energy_pj_per_bit": 8.0, **src}},
        "leakage": {"pe": {"power_uw": 10.0, **src}, "sram": {"power_uw_per_kib": 1.0, **src}},
        "vector": {op: dict(vec) for op in ("maxpool", "avgpool", "add", "mul", "concat", "lut", "requant")},
    }


def write_table(tmp_path: Path, data: dict, name: str = "t.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_shipped_tables_all_load_and_price_every_dram_kind():
    assert available_technologies() == ["16nm", "28nm", "45nm", "7nm"]
    for tech in available_technologies():
        table = shipped_table(tech)
        assert table.technology == tech
        for kind in ("lpddr4", "ddr3", "ddr4", "gddr5", "hbm2"):
            assert table.dram_energy_pj_per_bit(kind) > 0


def test_45nm_table_carries_the_published_figures():
    t = shipped_table("45nm")
    # Horowitz ISSCC 2014, 45 nm: int8 multiply 0.2 pJ, int32 add 0.1 pJ
    assert t.multiplier.energy_pj == 0.2 and (t.multiplier.weight_bits, t.multiplier.act_bits) == (8, 8)
    assert t.adder.energy_pj == 0.1 and t.adder.bits == 32
    # CACTI 7, 45 nm, 64-bit port: 8 KiB read 6.14 pJ, 1 MiB read 93.5 pJ, 8 KiB write 7.9 pJ
    assert t.sram.energy_pj_per_bit(8, "read") == pytest.approx(6.14 / 64, rel=1e-5)
    assert t.sram.energy_pj_per_bit(1024, "read") == pytest.approx(93.5 / 64, rel=1e-5)
    assert t.sram.energy_pj_per_bit(8, "write") == pytest.approx(7.9 / 64, rel=1e-5)
    # Accelergy DRAM tables: LPDDR4 8, DDR3 70, GDDR5 14 pJ/bit
    assert [t.dram_energy_pj_per_bit(k) for k in ("lpddr4", "ddr3", "gddr5")] == [8, 70, 14]


def test_every_entry_names_its_source():
    for tech in available_technologies():
        data = yaml.safe_load((REPO / "accelsim" / "configs" / "energy" / f"{tech}.yaml").read_text())

        def walk(node, path):
            if isinstance(node, dict):
                numbers = [k for k, v in node.items() if isinstance(v, (int, float)) and not k.endswith("bits")
                           and k != "capacity_kib"]
                if numbers:
                    assert str(node.get("source", "")).strip(), f"{tech}: {path} has no source"
                for k, v in node.items():
                    walk(v, f"{path}.{k}")
            elif isinstance(node, list):
                for i, v in enumerate(node):
                    walk(v, f"{path}[{i}]")

        walk(data, tech)


def test_scaled_tables_follow_the_accelergy_mac_ratios():
    """ENERGY_SOURCES.md: the Accelergy 8-bit MAC (24-bit accumulator) is 1.09 pJ at 45 nm, 0.56 at
    28 nm, 0.19 at 16 nm, 0.10 at 7 nm (Stillmaker & Baas scaling) -- an independent statement of
    the same scaling our logic entries use."""
    base = shipped_table("45nm").multiplier.energy_pj
    for tech, published in (("28nm", 0.56), ("16nm", 0.19), ("7nm", 0.10)):
        ratio = shipped_table(tech).multiplier.energy_pj / base
        assert ratio == pytest.approx(published / 1.09, rel=0.06), tech


def test_shipped_tables_match_their_derivation_script():
    out = subprocess.run([sys.executable, str(REPO / "benchmarks" / "energy_make_tables.py"), "--check"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


def test_sram_interpolation_is_a_power_law_between_points(tmp_path):
    t = load_table(write_table(tmp_path, minimal_table()))
    # points (1 KiB, 0.01) and (16 KiB, 0.04): E = 0.01 * C ** 0.5
    assert t.sram.energy_pj_per_bit(4, "read") == pytest.approx(0.02, rel=1e-12)
    assert t.sram.energy_pj_per_bit(16, "read") == 0.04
    assert t.sram.energy_pj_per_bit(64, "read") == pytest.approx(0.08, rel=1e-12)   # extended
    assert t.sram.energy_pj_per_bit(0.25, "read") == pytest.approx(0.005, rel=1e-12)
    assert t.sram.energy_pj_per_bit(1000, "write") == 0.03                          # one point: constant


def test_table_for_uses_own_table_path(tmp_path):
    path = write_table(tmp_path, minimal_table())
    cfg = config_from_dict({"energy": {"table": str(path)}})
    assert table_for(cfg.energy, cfg.hardware).technology == "test"


# --- bad tables ----------------------------------------------------------------------------------

def test_missing_entry_names_file_and_key(tmp_path):
    data = minimal_table()
    del data["multiplier"]
    path = write_table(tmp_path, data)
    with pytest.raises(ConfigError, match=r"t\.yaml: multiplier: required key is missing"):
        load_table(path)


def test_negative_energy_names_key(tmp_path):
    data = minimal_table()
    data["pe_register"]["forward"]["energy_pj_per_bit"] = -0.1
    with pytest.raises(ConfigError, match=r"t\.yaml: pe_register\.forward\.energy_pj_per_bit: .*greater than or equal to 0 \(got -0\.1\)"):
        load_table(write_table(tmp_path, data))


def test_unknown_dram_kind_in_table_is_an_unknown_key(tmp_path):
    data = minimal_table()
    data["dram"]["ddr9"] = {"energy_pj_per_bit": 1.0, "source": "x"}
    with pytest.raises(ConfigError, match=r"t\.yaml: dram\.ddr9: unknown key \(valid keys: lpddr4, ddr3, ddr4, gddr5, hbm2\)"):
        load_table(write_table(tmp_path, data))


def test_entry_without_source_is_refused(tmp_path):
    data = minimal_table()
    del data["adder"]["source"]
    with pytest.raises(ConfigError, match=r"adder\.source: required key is missing"):
        load_table(write_table(tmp_path, data))


def test_sram_points_must_ascend(tmp_path):
    data = minimal_table()
    data["sram"]["read"].reverse()
    with pytest.raises(ConfigError, match=r"sram\.read: capacity_kib must strictly ascend"):
        load_table(write_table(tmp_path, data))


def test_hardware_dram_kind_missing_from_table(tmp_path):
    path = write_table(tmp_path, minimal_table())
    cfg = config_from_dict({"energy": {"table": str(path)}, "hardware": {"dram": {"kind": "hbm2"}}})
    with pytest.raises(ConfigError, match=r"t\.yaml: dram\.hbm2: no entry for DRAM kind 'hbm2' \(this table prices: lpddr4\)"):
        table_for(cfg.energy, cfg.hardware)


def test_unknown_technology_lists_the_available_ones():
    with pytest.raises(ConfigError, match=r"energy: technology '3nm' has no shipped energy table \(available: 16nm, 28nm, 45nm, 7nm\)"):
        config_from_dict({"energy": {"technology": "3nm"}}, source="run.yaml")
    with pytest.raises(ConfigError, match=r"no shipped energy table '3nm' \(available: 16nm, 28nm, 45nm, 7nm\)"):
        shipped_table("3nm")


def test_missing_table_file(tmp_path):
    cfg = config_from_dict({"energy": {"table": str(tmp_path / "nope.yaml")}})
    with pytest.raises(ConfigError, match=r"nope\.yaml: file not found"):
        table_for(cfg.energy, HardwareConfig())


def test_register_and_dram_derivations_reproduce_their_anchors():
    # the 28 nm register write is the published gate-level flip-flop, 1.70 fJ/bit (28 nm, 0.9 V)
    assert shipped_table("28nm").pe_register.write.energy_pj_per_bit == pytest.approx(0.0017, rel=1e-4)
    # DDR4 = DDR3 70 pJ/bit x (1.2 V / 1.5 V)^2
    assert shipped_table("45nm").dram_energy_pj_per_bit("ddr4") == pytest.approx(70 * 0.64, rel=1e-9)
    # DRAM is off-chip: the same in every table
    for tech in available_technologies():
        assert shipped_table(tech).dram_energy_pj_per_bit("lpddr4") == 8.0
