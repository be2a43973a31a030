"""The typed point result (accelsim.pipeline.result): its JSON form, versions and readers."""

import json

import pytest

from accelsim.energy.model import EnergyBreakdown
from accelsim.errors import InputFileError, SchemaVersionError
from accelsim.pipeline.result import ENERGY_KINDS, SCHEMA_VERSION, LayerSummary, PointSummary


def test_energy_kinds_are_the_breakdown_components_in_order():
    assert ENERGY_KINDS == ("mac", "pe_registers", "pe_forwarding", "pe_stores", "clock", "sram_ifmap", "sram_weight", "sram_ofmap",
                            "dram", "leakage_logic", "leakage_ifmap", "leakage_weight", "leakage_ofmap", "vector")
    assert ENERGY_KINDS == tuple(EnergyBreakdown().as_dict())


def test_json_form_has_the_version_first_and_reads_back():
    s = PointSummary(name="p", macs=10, energy_breakdown_uj={"dram": 2.0, "mac": 1.0},
                     layers=(LayerSummary("c1", "conv", 10, 1, 5, 0, 5, 0.5, 1.0, 2.0, 3.0),))
    d = json.loads(json.dumps(s.to_dict()))
    assert list(d)[0] == "schema_version" and d["schema_version"] == SCHEMA_VERSION
    assert d["layers"][0] == {"name": "c1", "op": "conv", "macs": 10, "folds": 1, "compute_cycles": 5,
                              "stall_cycles": 0, "total_cycles": 5, "utilization": 0.5, "dram_read_bytes": 1.0,
                              "dram_write_bytes": 2.0, "energy_uj": 3.0}
    assert PointSummary.from_dict(d) == s
    assert list(s.breakdown()) == ["mac", "dram"]  # ENERGY_KINDS order, whatever the stored order


def test_a_record_from_before_the_version_field_reads_as_version_0():
    old = {"name": "x", "inferences_per_s": 5.0, "energy_breakdown_uj": {"mac": 1.0, "new_kind": 2.0}, "extra": 1}
    s = PointSummary.from_dict(old)
    assert s.schema_version == 0 and s.quant_top1 is None and s.layers == ()
    assert s.metric("inferences_per_s") == 5.0 and s.metric("name") is None and s.metric("quant_top1") is None
    assert s.breakdown() == {"mac": 1.0, "new_kind": 2.0}


def test_newer_or_malformed_records_are_refused_with_the_source_named():
    with pytest.raises(SchemaVersionError, match=r"run/summary.json: schema_version 99 is newer"):
        PointSummary.from_dict({"schema_version": 99}, source="run/summary.json")
    with pytest.raises(InputFileError, match=r"x: expected a JSON object"):
        PointSummary.from_dict([1], source="x")
    with pytest.raises(InputFileError, match=r"'layers' must be a list of objects"):
        PointSummary.from_dict({"layers": [3]})


def test_non_finite_metrics_read_as_missing():
    assert PointSummary(inferences_per_s=float("nan")).metric("inferences_per_s") is None
    assert PointSummary(macs=True).metric("macs") is None
