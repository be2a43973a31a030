"""``accelsim quantize``: files written, summary printed, and every bad input a one-line error."""

from pathlib import Path

from tests.shared import DATA, MODELS

import numpy as np
import pytest

from accelsim.cli import main
from accelsim.layers import read_network

MNIST_MODEL = MODELS / "ccexam_mnist_cnn.onnx"


@pytest.fixture(scope="module")
def calib_npz(tmp_path_factory):
    with np.load(DATA / "mnist_train_subset_1k.npz", allow_pickle=False) as z:
        x = ((z["images"][:80, None].astype(np.float32) / 255) - 0.1307) / 0.3081
    path = tmp_path_factory.mktemp("d") / "calib.npz"
    np.savez(path, x=x)
    return path


def _err(capsys):
    return capsys.readouterr().err.strip().splitlines()


def test_quantize_writes_descriptors_and_prints_table(tmp_path, calib_npz, capsys):
    rc = main(["quantize", str(MNIST_MODEL), "--data", str(calib_npz), "--batch", "32", "--weight-bits", "6",
               "--act-bits", "7", "--method", "max", "--per-tensor", "-o", str(tmp_path / "q")])
    assert rc == 0
    out = capsys.readouterr().out
    assert "conv2d+relu" in out and "max |err| %" in out and "worst requantization error" in out
    net = read_network(tmp_path / "q")
    assert net.quantized and [layer.name for layer in net.layers][0] == "conv_1"
    conv = net.layers[0]
    assert conv.weight_bits == 6 and conv.out_bits == 7 and conv.in_shape[0] == 32
    assert np.abs(net.tensors["conv_1.weight"]).max() <= 31
    assert net.meta["method"] == "max" and net.meta["per_channel"] is False


def test_quantize_with_config_file(tmp_path, calib_npz, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("quant:\n  method: percentile\n  percentile: 99.9\n  layers:\n    gemm_10: {act_bits: 12}\n")
    rc = main(["quantize", str(MNIST_MODEL), "--data", str(calib_npz), "--config", str(cfg), "--batch", "16",
               "-q", "-o", str(tmp_path / "q")])
    assert rc == 0 and capsys.readouterr().out == ""
    net = read_network(tmp_path / "q")
    assert net.layer("gemm_10").out_bits == 12 and net.meta["method"] == "percentile"


@pytest.mark.parametrize("argv, match", [
    (["--bits", "17"], r"quant.weight_bits: Input should be less than or equal to 16"),
    (["--act-bits", "1"], r"quant.act_bits: Input should be greater than or equal to 2"),
    (["--bits", "8", "--act-bits", "4"], r"give either --bits or --weight-bits/--act-bits"),
    (["--batch", "0"], r"quant.calib_batch: Input should be greater than or equal to 1"),
])
def test_bad_flags(tmp_path, calib_npz, capsys, argv, match):
    rc = main(["quantize", str(MNIST_MODEL), "--data", str(calib_npz), "-o", str(tmp_path / "q"), *argv])
    err = _err(capsys)
    assert rc == 2 and len(err) == 1
    assert err[0].startswith("accelsim quantize: error:")
    import re

    assert re.search(match, err[0]), err[0]


def test_corrupt_and_truncated_onnx(tmp_path, calib_npz, capsys):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07garbage that is not a protobuf" * 3)
    trunc = tmp_path / "trunc.onnx"
    trunc.write_bytes(MNIST_MODEL.read_bytes()[:5000])
    for path in (bad, trunc):
        rc = main(["quantize", str(path), "--data", str(calib_npz), "-o", str(tmp_path / "q")])
        err = _err(capsys)
        assert rc == 2 and len(err) == 1 and str(path) in err[0], err


def test_nan_and_wrong_channels_in_calibration_data(tmp_path, calib_npz, capsys):
    with np.load(calib_npz) as z:
        x = z["x"][:8].copy()
    x[2, 0, 3, 4] = np.nan
    np.savez(tmp_path / "nan.npz", x=x)
    rc = main(["quantize", str(MNIST_MODEL), "--data", str(tmp_path / "nan.npz"), "-o", str(tmp_path / "q")])
    err = _err(capsys)
    assert rc == 2 and len(err) == 1 and "NaN" in err[0]
    np.savez(tmp_path / "rgb.npz", x=np.zeros((8, 3, 28, 28), np.float32))
    rc = main(["quantize", str(MNIST_MODEL), "--data", str(tmp_path / "rgb.npz"), "-o", str(tmp_path / "q")])
    err = _err(capsys)
    assert rc == 2 and len(err) == 1 and "rgb.npz" in err[0] and "3" in err[0]


def test_unsupported_op_names_the_node(tmp_path, calib_npz, capsys):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.ones((2, 1, 3, 3), np.float32), "w")
    nodes = [helper.make_node("Conv", ["input", "w"], ["c"], name="conv0", pads=[1, 1, 1, 1]),
             helper.make_node("Softmax", ["c"], ["s"], name="mid_softmax", axis=1),
             helper.make_node("Relu", ["s"], ["out"], name="relu0")]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 1, 28, 28])],
                          [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["N", 2, 28, 28])], [w])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, tmp_path / "m.onnx")
    rc = main(["quantize", str(tmp_path / "m.onnx"), "--data", str(calib_npz), "-o", str(tmp_path / "q")])
    err = _err(capsys)
    assert rc == 2 and len(err) == 1 and "'mid_softmax'" in err[0] and "softmax inside the network" in err[0]


def test_unsupported_model_is_refused_before_any_data_is_read(tmp_path, capsys):
    """The support check runs on the graph alone: a missing data file is never reached."""
    import onnx
    from onnx import TensorProto, helper

    nodes = [helper.make_node("Relu", ["input"], ["r"], name="relu0"),
             helper.make_node("Softmax", ["r"], ["s"], name="mid_softmax", axis=1),
             helper.make_node("Relu", ["s"], ["out"], name="relu1")]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 1, 8, 8])],
                          [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["N", 1, 8, 8])])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "m.onnx")
    for argv in (["quantize", str(tmp_path / "m.onnx"), "--data", str(tmp_path / "missing.npz"), "-o", str(tmp_path / "q")],
                 ["evaluate", str(tmp_path / "m.onnx"), "--data", str(tmp_path / "missing.npz"),
                  "--calib", str(tmp_path / "missing.npz")]):
        rc = main(argv)
        err = _err(capsys)
        assert rc == 2 and len(err) == 1 and "'mid_softmax'" in err[0] and "outside accelsim's CNN scope" in err[0]


def test_quantize_low_bit_options_reach_the_network(tmp_path, capsys):
    rc = main(["quantize", "bundled", "--data", "bundled", "--batch", "16", "--bits", "4", "--method", "auto",
               "--weight-method", "mse", "--bias-correction", "--unsigned", "-o", str(tmp_path / "q")])
    assert rc == 0
    out = capsys.readouterr().out
    assert "weight method mse" in out and "unsigned activations True" in out
    net = read_network(tmp_path / "q")
    assert net.meta["weight_method"] == "mse" and net.meta["bias_correction"] is True
    stem = net.layer("stem.conv")
    assert (stem.quant.out_min, stem.quant.out_max) == (0, 15) and stem.quant.method.startswith("auto:")
    assert net.layer("fc").quant.out_min == -7  # logits stay signed
