"""The end-to-end run: numbers that must follow from each other, accuracy against onnxruntime,
and determinism."""

import json

import numpy as np
import pytest

from accelsim.config.run import config_from_dict
from accelsim.pipeline import run, run_point, write_outputs

TOPO_CSV = """Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,
conv1, 18, 18, 3, 3, 8, 16, 1,
conv2, 16, 16, 3, 3, 16, 32, 2,
fc, 1, 1, 1, 1, 512, 10, 1,
"""


@pytest.fixture
def topo_cfg(tmp_path):
    path = tmp_path / "tiny.csv"
    path.write_text(TOPO_CSV)
    return config_from_dict({"name": "tiny", "workload": {"topology": {"csv": str(path)}},
                             "hardware": {"array": {"rows": 8, "cols": 8}, "clock_hz": 5e8}})


def test_topology_run_numbers_follow_from_each_other(topo_cfg):
    s = run_point(topo_cfg)
    # MACs by hand: SCALE-Sim output size ceil((H - R + S) / S)
    macs = 16 * 16 * 16 * (3 * 3 * 8) + 8 * 8 * 32 * (3 * 3 * 16) + 1 * 10 * 512  # ceil(15 / 2) = 8
    assert s["macs"] == macs
    assert s["total_cycles"] == s["compute_cycles"] + s["stall_cycles"]
    assert s["latency_s"] == pytest.approx(s["total_cycles"] / 5e8, rel=1e-12)
    assert s["inferences_per_s"] == pytest.approx(1 / s["latency_s"], rel=1e-12)
    assert s["tops"] == pytest.approx(2 * macs / s["latency_s"] / 1e12, rel=1e-12)
    assert s["peak_tops"] == pytest.approx(2 * 64 * 5e8 / 1e12, rel=1e-12)
    assert s["energy_per_inference_uj"] == pytest.approx(sum(s["energy_breakdown_uj"].values()), rel=1e-9)
    assert s["power_mw"] == pytest.approx(s["energy_per_inference_uj"] * 1e-6 * s["inferences_per_s"] * 1e3)
    assert s["tops_per_w"] == pytest.approx(2 * macs / (s["energy_per_inference_uj"] * 1e6), rel=1e-9)
    assert sum(layer["energy_uj"] for layer in s["layers"]) == pytest.approx(s["energy_per_inference_uj"])
    assert s["quant_top1"] is None and "no weights" in s["accuracy_note"]


def test_topology_run_is_deterministic(topo_cfg):
    assert json.dumps(run_point(topo_cfg)) == json.dumps(run_point(topo_cfg))


def _bundled_cfg(limit=200, **quant):
    return config_from_dict({"name": "b", "workload": {"model": "bundled"},
                             "data": {"test": {"path": "bundled", "limit": limit}},
                             "quant": {"calib_batch": 32, **quant}})


@pytest.fixture(scope="module")
def bundled_result():
    return run(_bundled_cfg())


def test_bundled_float_accuracy_equals_onnxruntime(bundled_result):
    ort = pytest.importorskip("onnxruntime")
    from accelsim.workloads.bundled import load_dataset, model_path, preprocess_config

    images, labels = load_dataset("test")
    pp = preprocess_config()
    x = ((images[:200].astype(np.float32) * pp.scale - pp.mean[0]) / pp.std[0])[:, None]
    sess = ort.InferenceSession(str(model_path()), providers=["CPUExecutionProvider"])
    logits = sess.run(None, {sess.get_inputs()[0].name: x.astype(np.float32)})[0]
    ort_top1 = float(np.mean(logits.argmax(1) == labels[:200]))
    s = bundled_result.summary()
    assert s.accuracy_images == 200
    assert s.float_top1 == pytest.approx(ort_top1, abs=1e-12)
    assert abs(s.quant_top1 - s.float_top1) <= 0.03  # 8-bit KL-J: close to float
    assert s.method == "kl-j" and bundled_result.network.quantized


def test_bundled_run_is_deterministic_bit_for_bit(bundled_result):
    again = run(_bundled_cfg()).summary()
    assert json.dumps(again.to_dict()) == json.dumps(bundled_result.summary().to_dict())


def test_outputs_written_and_readable(bundled_result, tmp_path):
    from accelsim.layers import read_network

    paths = write_outputs(bundled_result, tmp_path / "out")
    summary = json.loads(paths["summary"].read_text())
    assert summary["config"]["name"] == "b" and summary["energy"]["energy_per_inference_uj"] > 0
    lines = paths["layers"].read_text().splitlines()
    assert len(lines) == 1 + len(bundled_result.network.layers)
    back = read_network(paths["descriptors"])
    assert [layer.name for layer in back.layers] == [layer.name for layer in bundled_result.network.layers]


def test_user_model_without_calibration_data_is_a_clear_error():
    from accelsim.errors import ConfigError

    import accelsim.workloads.bundled as bundled

    cfg = config_from_dict({"workload": {"model": str(bundled.model_path())}})
    with pytest.raises(ConfigError, match=r"data.calib: required to calibrate model .*default_model.onnx"):
        run(cfg)


def test_clamps_and_calibration_warnings_are_in_the_summary_also_from_the_cache(tmp_path):
    """A calibration set of 5 images for calib_batch 64, 16-bit accumulators: warned and recorded."""
    from accelsim.workloads.bundled import dataset_path
    from accelsim.sweep.cache import ResultCache

    with np.load(dataset_path("calib")) as z:
        key = "x" if "x" in z.files else "images"
        np.savez(tmp_path / "five.npz", **{key: z[key][:5]})
    cfg = config_from_dict({"name": "clamp", "data": {"calib": {"path": str(tmp_path / "five.npz")},
                                                      "test": {"path": "bundled", "limit": 20}},
                            "quant": {"calib_batch": 64, "acc_bits": 16}})
    cache = ResultCache(tmp_path / "cache")
    with pytest.warns(UserWarning) as record:
        first = run_point(cfg, cache=cache)
    again = run_point(cfg, cache=cache)  # a cache hit: no calibration runs, the record stays
    assert first["calib_images_requested"] == 64 and first["calib_images"] == 5
    w = first["warnings"]
    assert w[0].startswith("calibration batch: 64 images requested (quant.calib_batch)") and "holds 5" in w[0]
    assert w[1].startswith("calibration batch: only 5 images")
    assert any("worst-case accumulator needs" in line and "quant.acc_bits=16" in line for line in w)
    assert {str(r.message).splitlines()[0] for r in record} >= set(w)  # the user saw them too
    assert again["warnings"] == w and again["calib_images"] == 5
