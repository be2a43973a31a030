"""Models with a symbolic input shape through ``quantize``, ``evaluate`` and ``run``: the shape comes
from ``--input-shape``, ``workload.input_shape`` or the data; every contradiction is one line, exit 2."""

import json

import numpy as np
import pytest

from accelsim.cli import main

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402


def _model(path, dims, head_k=None, seed=0):
    """Conv 3->4 (3x3, no pad) + ReLU, then a global-pool head (any size) or, with *head_k*, a
    Flatten -> Gemm head that fixes the size (K = 4*(H-2)*(W-2))."""
    rng = np.random.default_rng(seed)
    inits = {"w1": rng.normal(0, 0.4, (4, 3, 3, 3)), "b1": rng.normal(0, 0.1, 4)}
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c"], kernel_shape=[3, 3], name="conv"),
             helper.make_node("Relu", ["c"], ["r"], name="relu")]
    if head_k is None:
        nodes += [helper.make_node("GlobalAveragePool", ["r"], ["p"], name="gap"),
                  helper.make_node("Flatten", ["p"], ["f"], axis=1, name="flat")]
        inits["w2"] = rng.normal(0, 0.5, (3, 4))
    else:
        nodes += [helper.make_node("Flatten", ["r"], ["f"], axis=1, name="flat")]
        inits["w2"] = rng.normal(0, 0.1, (3, head_k))
    inits["b2"] = rng.normal(0, 0.1, 3)
    nodes.append(helper.make_node("Gemm", ["f", "w2", "b2"], ["y"], transB=1, name="fc"))
    g = helper.make_graph(nodes, "sym", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(dims))],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])],
                          [numpy_helper.from_array(np.asarray(v, np.float32), k) for k, v in inits.items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.save(m, str(path))
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("shape")
    rng = np.random.default_rng(1)
    _model(d / "dyn.onnx", ["N", 3, "H", "W"])
    _model(d / "fc8.onnx", ["N", 3, "H", "W"], head_k=4 * 6 * 6)  # runs at 8x8 only
    for name, shape in (("rgb12", (40, 3, 12, 12)), ("grey12", (40, 1, 12, 12)), ("rgb8", (40, 3, 8, 8)),
                        ("rgb2", (8, 3, 2, 2))):
        np.savez(d / f"{name}.npz", x=rng.normal(0, 1, shape).astype(np.float32), labels=rng.integers(0, 3, shape[0]))
    return d


def _one_line_error(capsys, rc):
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1, err
    return err[0]


def test_symbolic_spatial_shape_is_taken_from_the_data(files, tmp_path, capsys):
    """(N, 3, H, W) model + 12x12 data: descriptors at 12x12 (10x10 after the 3x3 conv), and the
    float model the importer built at that size equals onnxruntime."""
    from accelsim.layers import read_network
    from accelsim.pipeline.stages import Workload, load_float_graph

    rc = main(["quantize", str(files / "dyn.onnx"), "--data", str(files / "rgb12.npz"), "--batch", "8", "-q",
               "-o", str(tmp_path / "q")])
    assert rc == 0, capsys.readouterr().err
    net = read_network(tmp_path / "q")
    conv = net.layers[0]
    assert tuple(conv.in_shape) == (8, 3, 12, 12) and tuple(conv.out_shape) == (8, 4, 10, 10)

    from accelsim.graph.executor import run_graph

    from accelsim.datasets.readers import open_dataset

    wl = Workload(label="dyn.onnx", model_path=files / "dyn.onnx", topology=None, topology_form="auto",
                  input_shape=None)
    graph = load_float_graph(wl, _cfg(files / "rgb12.npz"))
    assert graph.inputs == {"x": (1, 3, 12, 12)}
    x, _ = open_dataset(_cfg(files / "rgb12.npz")).get(np.arange(5))
    ref = ort.InferenceSession(str(files / "dyn.onnx"), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    y = run_graph(graph, {"x": x})["y"]
    assert np.max(np.abs(y - ref)) <= 1e-4 * np.max(np.abs(ref))


def _cfg(path):
    from accelsim.config.data import DatasetConfig

    return DatasetConfig(path=str(path))


def test_evaluate_takes_the_shape_from_the_data(files, tmp_path):
    out = tmp_path / "r.json"
    rc = main(["evaluate", str(files / "dyn.onnx"), "--data", str(files / "rgb12.npz"), "--calib",
               str(files / "rgb12.npz"), "--batch", "16", "--json", str(out), "-q"])
    assert rc == 0
    res = json.loads(out.read_text())
    assert res["samples"] == 40 and res["layers"][0]["sqnr_db"] > 20


def test_input_shape_flag_sets_the_shape(files, tmp_path, capsys):
    from accelsim.layers import read_network

    rc = main(["quantize", str(files / "dyn.onnx"), "--data", str(files / "rgb12.npz"), "--input-shape",
               "1,3,12,12", "--batch", "4", "-q", "-o", str(tmp_path / "q")])
    assert rc == 0, capsys.readouterr().err
    assert tuple(read_network(tmp_path / "q").layers[0].in_shape) == (4, 3, 12, 12)


def test_data_with_the_wrong_channel_count(files, tmp_path, capsys):
    rc = main(["quantize", str(files / "dyn.onnx"), "--data", str(files / "grey12.npz"), "-q",
               "-o", str(tmp_path / "q")])
    line = _one_line_error(capsys, rc)
    assert "grey12.npz" in line and "model wants C=3, data has C=1" in line and "preprocess.channels" in line


def test_input_shape_contradicting_the_model(files, tmp_path, capsys):
    rc = main(["quantize", str(files / "dyn.onnx"), "--data", str(files / "rgb12.npz"), "--input-shape",
               "1,1,12,12", "-q", "-o", str(tmp_path / "q")])
    line = _one_line_error(capsys, rc)
    assert "dyn.onnx: input 'x'" in line and "--input-shape / workload.input_shape (1, 1, 12, 12) contradicts the model input (?, 3, ?, ?)" \
        in line and "C=1, the model wants C=3" in line


@pytest.mark.parametrize("text", ["1,3,twelve,12", "0,3,12,12", ""])
def test_malformed_input_shape(files, tmp_path, capsys, text):
    rc = main(["quantize", str(files / "dyn.onnx"), "--data", str(files / "rgb12.npz"), "--input-shape", text,
               "-q", "-o", str(tmp_path / "q")])
    assert "--input-shape" in _one_line_error(capsys, rc)


def test_input_shape_contradicting_the_data(files, tmp_path, capsys):
    rc = main(["evaluate", str(files / "dyn.onnx"), "--data", str(files / "rgb12.npz"), "--calib",
               str(files / "rgb12.npz"), "--input-shape", "1,3,16,16", "-q"])
    line = _one_line_error(capsys, rc)
    assert "rgb12.npz" in line and "model wants H=16, W=16, data has H=12, W=12" in line


def test_config_input_shape_is_honoured(files, tmp_path, capsys):
    """workload.input_shape from --config: 12x12 is checked against 8x8 data; the fc8 model (8x8
    only) is refused at 12x12 before any data is read; --input-shape beats the config."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text("workload:\n  input_shape: [1, 3, 12, 12]\n")
    rc = main(["quantize", str(files / "dyn.onnx"), "--data", str(files / "rgb8.npz"), "--config", str(cfg), "-q",
               "-o", str(tmp_path / "q")])
    line = _one_line_error(capsys, rc)
    assert "model wants H=12, W=12, data has H=8, W=8" in line
    rc = main(["quantize", str(files / "fc8.onnx"), "--data", str(files / "rgb8.npz"), "--config", str(cfg), "-q",
               "-o", str(tmp_path / "q")])
    line = _one_line_error(capsys, rc)
    assert "node 'fc' (gemm)" in line and "[input shape (1, 3, 12, 12) from --input-shape / workload.input_shape]" in line
    rc = main(["quantize", str(files / "fc8.onnx"), "--data", str(files / "rgb8.npz"), "--config", str(cfg),
               "--input-shape", "1,3,8,8", "--batch", "8", "-q", "-o", str(tmp_path / "q")])
    err = capsys.readouterr().err
    assert rc == 0, err
    cfg.write_text("workload:\n  input_shape: [1, 2, 8, 8]\n")
    rc = main(["quantize", str(files / "fc8.onnx"), "--data", str(files / "rgb8.npz"), "--config", str(cfg), "-q",
               "-o", str(tmp_path / "q")])
    assert "workload.input_shape (1, 2, 8, 8) contradicts the model input (?, 3, ?, ?): C=2" in _one_line_error(capsys, rc)


def test_data_size_the_fully_connected_head_cannot_take(files, tmp_path, capsys):
    rc = main(["quantize", str(files / "fc8.onnx"), "--data", str(files / "rgb12.npz"), "-q",
               "-o", str(tmp_path / "q")])
    line = _one_line_error(capsys, rc)
    # 12x12 -> conv 10x10 -> 400 features; the weight wants 4*6*6 = 144
    assert "node 'fc' (gemm)" in line and "needs 144 input features, it gets 400" in line
    assert "from the data" in line and "rgb12.npz" in line


def test_data_too_small_for_the_window(files, tmp_path, capsys):
    rc = main(["quantize", str(files / "dyn.onnx"), "--data", str(files / "rgb2.npz"), "-q",
               "-o", str(tmp_path / "q")])
    line = _one_line_error(capsys, rc)
    assert "node 'conv' (conv)" in line and "3x3 window" in line and "2x2 input" in line


def test_run_takes_the_shape_from_the_calibration_data(files, tmp_path, capsys):
    cfg = tmp_path / "run.yaml"
    cfg.write_text(f"workload:\n  model: {files / 'dyn.onnx'}\ndata:\n  calib:\n    path: {files / 'rgb12.npz'}\n"
                   f"  test:\n    path: {files / 'rgb12.npz'}\nquant:\n  calib_batch: 8\n"
                   f"output_dir: {tmp_path / 'out'}\n")
    rc = main(["run", str(cfg)])
    assert rc == 0, capsys.readouterr().err
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["macs"] == 4 * 10 * 10 * 27 + 3 * 4  # conv 10x10x4 outputs x 27 taps + fc 4x3
