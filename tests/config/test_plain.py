"""The pydantic-free config reader (accelsim.config.plain) against pydantic, the reference it defers to.

Whatever the reader accepts must be exactly what the pydantic models make of the same mapping
(values and their types, derived values); whatever pydantic refuses, the reader must leave to it.
"""

import warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accelsim.config import plain
from accelsim.config.files import config_data, configs_dir, set_dotted
from accelsim.config.plain_spec import MODELS
from accelsim.config.run import RunConfig, load_config, parse_model
from accelsim.errors import ConfigError

SPEC_FILE = Path(plain.__file__).with_name("plain_spec.py")
SHIPPED = sorted(p for p in configs_dir().rglob("*.yaml") if not {"energy", "sweeps"} & set(p.relative_to(configs_dir()).parts))
OVERRIDES = (
    {},
    {"workload.topology": {"zoo": "resnet18"}, "workload.model": None, "hardware.array.rows": 16,
     "hardware.array.cols": 8},
    {"workload.topology": {"csv": "t.csv"}, "workload.model": None, "hardware.dram.bandwidth_bytes_per_cycle": 4,
     "hardware.dataflow": "ws", "simulation.stall_free": True},
)


def _same(record, model) -> None:
    """Equal values of equal types (``repr`` tells 64 from 64.0 and a tuple from a list)."""
    assert repr(plain.as_dict(record)) == repr(model.model_dump())


def test_the_declarations_are_generated_from_the_models_and_current():
    assert SPEC_FILE.read_text(encoding="utf-8") == plain.spec_source(), (
        "stale: python -m accelsim.config.plain > accelsim/config/plain_spec.py")


def test_every_model_and_every_key_is_declared():
    names = {"RunConfig", "WorkloadConfig", "TopologyConfig", "DataConfig", "DatasetConfig", "PreprocessConfig",
             "QuantConfig", "LayerQuantOverride", "HardwareConfig", "ArrayConfig", "PeConfig", "LocalStoreConfig",
             "BuffersConfig", "SramMacroConfig", "DramConfig", "SimulationConfig", "EnergyConfig"}
    assert set(MODELS) == names
    assert list(MODELS["HardwareConfig"]["fields"]) == list(RunConfig.model_fields["hardware"].annotation.model_fields)


@pytest.mark.parametrize("overrides", OVERRIDES, ids=("as shipped", "zoo topology", "csv ws stall-free"))
@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.relative_to(configs_dir()).as_posix())
def test_every_shipped_config_reads_without_pydantic_as_pydantic_reads_it(path, overrides):
    _, data = config_data(path, overrides)
    record = plain.validate(data)  # never Unsure on a shipped config: simulate stays pydantic-free
    model = load_config(path, overrides)
    _same(record, model)
    hw, ref = record.hardware, model.hardware
    assert (hw.pes, hw.peak_macs_per_cycle(4, 4), hw.macs_per_pe(2, 8)) == (ref.pes, ref.peak_macs_per_cycle(4, 4),
                                                                            ref.macs_per_pe(2, 8))
    assert [(hw.sram_width_bits(b), hw.sram_banks(b)) for b in ("ifmap", "weight", "ofmap")] == [
        (ref.sram_width_bits(b), ref.sram_banks(b)) for b in ("ifmap", "weight", "ofmap")]
    assert {k: s.bits for k, s in hw.pe.local_stores.items()} == {k: s.bits for k, s in ref.pe.local_stores.items()}
    assert record.workload.model_or_bundled == model.workload.model_or_bundled
    if model.workload.topology is not None:
        assert record.workload.topology.label == model.workload.topology.label


def _leaves(name: str, prefix: str = ""):
    for key, field in MODELS[name]["fields"].items():
        kind = field["type"][1] if field["type"][0] == "optional" else field["type"]
        if kind[0] == "model":
            yield from _leaves(kind[1], f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", field


LEAVES = dict(_leaves("RunConfig"))


def _choices(kind: tuple) -> tuple:
    return _choices(kind[1]) if kind[0] == "optional" else kind[1] if kind[0] == "literal" else ()


CHOICES = sorted({c for f in LEAVES.values() for c in _choices(f["type"])}, key=repr)
VALUES = st.one_of(
    st.integers(-3, 70_000), st.floats(allow_nan=True, allow_infinity=True), st.booleans(), st.none(),
    st.sampled_from(CHOICES + ["bogus", "8", "1e3", "resnet18"]), st.sampled_from(CHOICES).map(str), st.just([8, 8]), st.just({"zoo": "resnet18"}),
    st.just({}), st.just({"words": 16, "width_bits": 8, "kind": "register", "reads_per_mac": 1}),
    st.integers(1, 64).map(float),
)




def _plausible(field: dict):
    """Values of the field's type near and across its bounds (junk comes from VALUES)."""
    kind = field["type"][1] if field["type"][0] == "optional" else field["type"]
    lo, hi = field.get("ge", field.get("gt", 0)), field.get("le", field.get("lt", 1e6))
    return {"int": st.integers(int(lo) - 1, int(hi) + 1),
            "float": st.one_of(st.floats(lo - 1, hi + 1), st.integers(int(lo), int(hi))),
            "bool": st.booleans(), "str": st.sampled_from(["x", "45nm", "resnet18", "auto", "gemm"]),
            "literal": st.sampled_from(kind[1] if kind[0] == "literal" else (None,))}.get(kind[0], VALUES)


EDITS = st.sampled_from(sorted(LEAVES) + ["hardware.bogus", "quant.layers.conv1", "hardware.pe.local_stores.spad"]
                        ).flatmap(lambda key: st.tuples(st.just(key), st.one_of(
                            *[_plausible(LEAVES[key]) if key in LEAVES else VALUES] * 3, VALUES)))
"""A dotted key (or an unknown one) and a value, three times in four of the field's type."""


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(EDITS, min_size=1, max_size=3), st.sampled_from(SHIPPED))
def test_whatever_the_reader_accepts_pydantic_makes_the_same_and_what_pydantic_refuses_it_leaves(edits, path):
    _, data = config_data(path)
    for key, value in edits:
        data = set_dotted(data, key, value)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            model = parse_model(RunConfig, data, str(path))
        except ConfigError:
            model = None
        try:
            record = plain.validate(data)
        except plain.Unsure:
            return  # pydantic decides: its value or its message
    assert model is not None, f"the plain reader accepted what pydantic refuses: {edits}"
    _same(record, model)


def test_a_config_error_is_pydantics_message(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("hardware: {array: {rows: 0, colz: 4}, pe: {native_bits: 6, precision_scalable: true}}\n"
                   "workload: {topology: {zoo: resnet18}}\n")
    messages = []
    for load in (plain.load_config, load_config):
        with pytest.raises(ConfigError) as exc:
            load(cfg)
        messages.append(str(exc.value))
    assert messages[0] == messages[1]
    assert "hardware.array.rows" in messages[0] and "colz: unknown key (valid keys: rows, cols" in messages[0]
    cfg.write_text("hardware: {pe: {native_bits: 6, precision_scalable: true}}\nworkload: {topology: {zoo: vgg16}}\n")
    with pytest.raises(ConfigError, match="native_bits must be a multiple of 4"):
        plain.load_config(cfg)


def test_a_value_pydantic_coerces_is_pydantics_model(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("hardware: {array: {rows: '16'}}\nworkload: {topology: {zoo: resnet18}}\n")
    got = plain.load_config(cfg)
    assert isinstance(got, RunConfig) and got.hardware.array.rows == 16


def test_records_are_frozen_and_compare_by_value():
    _, data = config_data(configs_dir() / "edge_32x32.yaml")
    a, b = plain.validate(data), plain.validate(data)
    assert a == b and a.hardware is not b.hardware and a.hardware == b.hardware
    assert hash(a.simulation) == hash(b.simulation) and a.simulation != a.quant
    with pytest.raises(AttributeError, match="frozen"):
        a.hardware.array.rows = 8
    assert repr(a.simulation) == "SimulationConfig(convention='accelsim', stall_free=False, keep_timeline=True)"
