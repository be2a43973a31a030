"""The stage list (accelsim.pipeline.stages): declarations, keys from declared slices, partial runs."""

import hashlib
import inspect

import pytest

from accelsim.config.run import config_from_dict
from accelsim.errors import ConfigError
from accelsim.pipeline.stages import STAGES, VALUES, Stage, check_stages, file_digest, run_stages, stage_keys


def test_the_list_is_the_documented_order_and_every_declaration_matches_its_function():
    assert [s.name for s in STAGES] == ["workload", "float_graph", "calibrate", "topology", "accuracy", "batch",
                                        "timing", "energy"]
    assert VALUES == ("workload", "float_graph", "descriptors", "accuracy", "network", "timing", "energy")
    check_stages()
    for s in STAGES:  # no stage sees the whole config: only its declared slice and earlier values
        assert "cfg" not in inspect.signature(s.fn).parameters


def test_a_declaration_that_leaves_out_a_parameter_is_refused():
    def fn(workload, quant, seed):
        return None

    with pytest.raises(TypeError, match=r"stage 'x': fn takes \['quant', 'seed', 'workload'\], the declaration "
                                        r"gives \['quant', 'workload'\]"):
        check_stages(STAGES[:1] + (Stage("x", fn, "y", needs=("workload",), reads={"quant": "quant"}),))
    with pytest.raises(TypeError, match=r"stage 'x' needs \['timing'\]"):
        check_stages((Stage("x", lambda timing: None, "y", needs=("timing",)),))


def test_file_digest_is_sha256_of_bytes(tmp_path):
    p = tmp_path / "m.onnx"
    p.write_bytes(b"\x00model bytes" * 1000)
    assert file_digest(p) == hashlib.sha256(p.read_bytes()).hexdigest()


def test_keys_follow_the_declared_slices(tmp_path):
    m1, m2, calib = tmp_path / "a.onnx", tmp_path / "b.onnx", tmp_path / "c.npz"
    m1.write_bytes(b"one")
    m2.write_bytes(b"two")
    calib.write_bytes(b"images")
    base = {"workload": {"model": str(m1)}, "quant": {"weight_bits": 4}, "data": {"calib": {"path": str(calib)},
                                                                                 "test": {"path": str(calib)}}}

    def keys(**changes):
        return stage_keys(config_from_dict({**base, **changes}))

    k = keys()
    # hardware, simulation, energy and the batch are read after the descriptors: calibration is shared
    same = keys(hardware={"array": {"rows": 8, "cols": 8}, "dataflow": "ws"}, energy={"technology": "7nm"},
                workload={"model": str(m1), "batch": 4})
    assert (same["descriptors"], same["accuracy"]) == (k["descriptors"], k["accuracy"])
    assert same["timing"] != k["timing"] and same["energy"] != k["energy"]
    for change in ({"quant": {"weight_bits": 6}}, {"seed": 3}, {"workload": {"model": str(m2)}}):
        assert keys(**change)["descriptors"] != k["descriptors"], change
    # the evaluation batch size is read by the accuracy stage only
    other = keys(data={**base["data"], "batch_size": 7})
    assert other["descriptors"] == k["descriptors"] and other["accuracy"] != k["accuracy"]
    calib.write_bytes(b"other images")  # same path, new bytes: a new key
    assert keys()["descriptors"] != k["descriptors"]
    m1.write_bytes(b"changed")
    assert keys()["float_graph"] != k["float_graph"]


def test_simulate_path_keeps_every_quant_width_of_the_config():
    cfg = config_from_dict({"workload": {"topology": {"zoo": "alexnet"}},
                            "quant": {"weight_bits": 4, "act_bits": 6, "acc_bits": 20, "bias_bits": 12}})
    values = run_stages(cfg, "network")
    assert set(values) == {"workload", "descriptors", "network"}  # nothing past what was asked
    layer = values["network"].layers[0]
    assert (layer.weight_bits, layer.act_bits, layer.out_bits, layer.acc_bits, layer.bias_bits) == (4, 6, 6, 20, 12)


def test_unknown_value_is_a_clear_error():
    with pytest.raises(ConfigError, match=r"no stage produces 'timings' \(values: workload, float_graph"):
        run_stages(config_from_dict({}), "timings")


class _DictCache:
    """The two methods run_stages asks of a cache, over a dict; counts the builds."""

    def __init__(self):
        self.values, self.builds = {}, []

    def quantized(self, key, builder):
        if key not in self.values:
            self.builds.append("descriptors")
            self.values[key] = builder()
        return self.values[key]

    def json(self, key, builder):
        if key not in self.values:
            self.builds.append("accuracy")
            self.values[key] = builder()
        return self.values[key]


def test_values_only_cached_stages_need_are_made_on_a_miss_only():
    cfg = config_from_dict({"quant": {"calib_batch": 8}, "data": {"test": {"path": "bundled", "limit": 8}}})
    cache = _DictCache()
    first = run_stages(cfg, ("accuracy", "energy"), cache=cache)
    assert sorted(cache.builds) == ["accuracy", "descriptors"] and "float_graph" in first
    again = run_stages(cfg, ("accuracy", "energy"), cache=cache)
    assert len(cache.builds) == 2  # both read back
    assert set(again) == {"workload", "descriptors", "accuracy", "network", "timing", "energy"}  # no ONNX import
    assert again["timing"].total == first["timing"].total
    assert again["energy"].energy_per_inference_uj == first["energy"].energy_per_inference_uj
