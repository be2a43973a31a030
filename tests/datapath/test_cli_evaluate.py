"""``accelsim evaluate`` end to end on a tiny ONNX model; float numbers against onnxruntime."""

import json

import numpy as np
import pytest

from accelsim.cli import main

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402


def _model(path, seed=0):
    rng = np.random.default_rng(seed)
    w1 = rng.normal(0, 0.4, (4, 1, 3, 3)).astype(np.float32)
    b1 = rng.normal(0, 0.1, 4).astype(np.float32)
    w2 = rng.normal(0, 0.3, (3, 64)).astype(np.float32)
    b2 = rng.normal(0, 0.1, 3).astype(np.float32)
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c"], pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["p"], ["f"], axis=1),
        helper.make_node("Gemm", ["f", "w2", "b2"], ["y"], transB=1),
    ]
    g = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 8, 8])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])],
                          [numpy_helper.from_array(a, n) for a, n in ((w1, "w1"), (b1, "b1"), (w2, "w2"), (b2, "b2"))])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.save(m, str(path))
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("ev")
    model = _model(d / "tiny.onnx")
    rng = np.random.default_rng(1)
    x = rng.normal(0, 1, (96, 1, 8, 8)).astype(np.float32)
    y = rng.integers(0, 3, 96)
    np.savez(d / "test.npz", x=x, labels=y)
    np.savez(d / "calib.npz", x=x[:32])
    np.savez(d / "bad.npz", x=rng.normal(0, 1, (8, 1, 9, 9)).astype(np.float32), labels=y[:8])
    logits = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    return d, model, x, y, logits


def _eval(files, *extra, capsys=None):
    d, model, *_ = files
    out = d / f"r{len(extra)}_{abs(hash(extra))}.json"
    rc = main(["evaluate", str(model), "--data", str(d / "test.npz"), "--json", str(out), "-q", *extra])
    return rc, (json.loads(out.read_text()) if out.exists() else None)


def test_evaluate_calibrates_and_reports(files, capsys):
    _, _, x, y, logits = files
    rc, res = _eval(files, "--calib", str(files[0] / "calib.npz"), "--eval-batch", "40")
    assert rc == 0
    assert res["samples"] == 96
    assert res["float_top1"] == pytest.approx(np.mean(np.argmax(logits, 1) == y))
    assert res["float_top5"] == 1.0  # 3 classes: top-5 covers all
    assert res["agreement"] >= 0.85 and 0.0 <= res["quant_top1"] <= 1.0
    by = {la["name"]: la for la in res["layers"]}
    macs = [la for la in res["layers"] if la["op"] in ("conv2d", "gemm")]
    assert len(macs) == 2 and all(la["overflow_events"] == 0 for la in macs)
    assert all(isinstance(la["sqnr_db"], float) and la["sqnr_db"] > 15 for la in macs)
    assert any(la["op"] == "maxpool" for la in by.values())
    text = capsys.readouterr().out
    assert "float top-1" in text and "SQNR dB" in text and "overflow events" in text


def test_descriptor_folder_gives_the_same_numbers(files):
    d, model, *_ = files
    desc = d / "desc"
    assert main(["quantize", str(model), "--data", str(d / "calib.npz"), "-o", str(desc), "-q", "--bits", "6"]) == 0
    rc1, a = _eval(files, "--descriptors", str(desc))
    rc2, b = _eval(files, "--calib", str(d / "calib.npz"), "--bits", "6")
    assert rc1 == rc2 == 0
    for k in ("float_top1", "quant_top1", "agreement"):
        assert a[k] == b[k]
    assert [la["sqnr_db"] for la in a["layers"]] == [la["sqnr_db"] for la in b["layers"]]


def _desc(files, name):
    d, model, *_ = files
    out = d / name
    assert main(["quantize", str(model), "--data", str(d / "calib.npz"), "-o", str(out), "-q"]) == 0
    return out


def test_newer_schema_is_refused(files, capsys):
    desc = _desc(files, "newer")
    head = json.loads((desc / "descriptors.json").read_text())
    head["schema_version"] = 1000
    (desc / "descriptors.json").write_text(json.dumps(head))
    rc, _ = _eval(files, "--descriptors", str(desc))
    assert rc == 2
    assert "schema_version 1000 is newer than this accelsim reads" in capsys.readouterr().err


def test_missing_array_is_refused(files, capsys):
    desc = _desc(files, "missing")
    with np.load(desc / "tensors.npz", allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    key = next(k for k in arrays if k.endswith(".scale"))
    del arrays[key]
    np.savez(desc / "tensors.npz", **arrays)
    rc, _ = _eval(files, "--descriptors", str(desc))
    assert rc == 2
    assert f"{key!r}" in capsys.readouterr().err


def test_accumulator_width_outside_range_is_refused(files, capsys):
    desc = _desc(files, "accbits")
    head = json.loads((desc / "descriptors.json").read_text())
    head["layers"][0]["acc_bits"] = 64
    (desc / "descriptors.json").write_text(json.dumps(head))
    rc, _ = _eval(files, "--descriptors", str(desc))
    assert rc == 2
    assert "acc_bits = 64; the datapath runs 8-48 bits" in capsys.readouterr().err


def test_weight_codes_wider_than_declared_are_refused(files, capsys):
    desc = _desc(files, "wbits")
    head = json.loads((desc / "descriptors.json").read_text())
    head["layers"][0]["weight_bits"] = 3
    (desc / "descriptors.json").write_text(json.dumps(head))
    rc, _ = _eval(files, "--descriptors", str(desc))
    assert rc == 2
    assert "outside 3-bit weights [-4, 3]" in capsys.readouterr().err


def test_data_of_the_wrong_shape_is_refused(files, capsys):
    d, model, *_ = files
    rc = main(["evaluate", str(model), "--data", str(d / "bad.npz"), "--calib", str(d / "calib.npz"), "-q"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "bad.npz" in err and "9" in err


def test_descriptors_with_calibration_flags_is_refused(files, capsys):
    rc, _ = _eval(files, "--descriptors", str(files[0]), "--bits", "4")
    assert rc == 2
    assert "--bits calibrates; it cannot be combined with --descriptors" in capsys.readouterr().err


def test_two_worker_processes_give_the_same_numbers(files):
    d = files[0]
    rc1, a = _eval(files, "--calib", str(d / "calib.npz"), "--eval-batch", "32")
    rc2, b = _eval(files, "--calib", str(d / "calib.npz"), "--eval-batch", "32", "--workers", "2")
    assert rc1 == rc2 == 0
    a.pop("meta"), b.pop("meta")
    assert a == b


def test_labels_outside_the_classes_are_refused(files, capsys):
    d, model, x, y, _ = files
    np.savez(d / "badlab.npz", x=x[:8], labels=np.full(8, 7))
    rc = main(["evaluate", str(model), "--data", str(d / "badlab.npz"), "--calib", str(d / "calib.npz"), "-q"])
    assert rc == 2
    assert ("badlab.npz: label 7 at sample 0 is outside the model's 3 output classes (valid: 0-2); 8 labels out "
            "of range") in capsys.readouterr().err
