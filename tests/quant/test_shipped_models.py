"""The shipped third-party models (and the bundled default model once it is in the package):
the requantization bar and the integer path against the float model."""

from importlib.resources import files
from pathlib import Path

import numpy as np
import pytest

from accelsim.config.quant import QuantConfig
from accelsim.graph.executor import run_graph
from accelsim.graph.onnx_import import load_onnx
from accelsim.quant.calibrate import calibrate
from tests.quant.intref import run_int
from tests.shared import DATA, MODELS

MNIST = DATA / "mnist_train_subset_1k.npz"
BUNDLED = Path(str(files("accelsim") / "data" / "default_model.onnx"))
SVHN_MEAN = np.array([0.4377, 0.4438, 0.4728], np.float32).reshape(1, 3, 1, 1)
SVHN_STD = np.array([0.1980, 0.2010, 0.1970], np.float32).reshape(1, 3, 1, 1)


def _mnist_x(n, start=0, mean=0.1307, std=0.3081):
    with np.load(MNIST, allow_pickle=False) as z:
        img, lab = z["images"][start:start + n], z["labels"][start:start + n]
    return ((img[:, None].astype(np.float32) / 255 - mean) / std), lab.astype(np.int64)


def _svhn_x(n):
    """Seeded stand-in images for SVHN (no SVHN set is shipped): uniform pixels, preprocessed."""
    raw = np.random.default_rng(0).uniform(0, 1, (n, 3, 32, 32)).astype(np.float32)
    return (raw - SVHN_MEAN) / SVHN_STD


def _bundled_x(split, n):
    from accelsim.config.data import DatasetConfig
    from accelsim.datasets.readers import open_dataset

    ds = open_dataset(DatasetConfig(path="bundled"), (1, 1, 28, 28), split=split)
    return ds.get(np.arange(n))


def _models():
    out = []
    if (MODELS / "ccexam_mnist_cnn.onnx").is_file():
        out.append(("mnist", MODELS / "ccexam_mnist_cnn.onnx", lambda: _mnist_x(64)[0]))
        out.append(("svhn", MODELS / "ccexam_svhn_cnn.onnx", lambda: _svhn_x(64)))
    if BUNDLED.is_file():
        out.append(("bundled", BUNDLED, lambda: _bundled_x("calib", 64)[0]))
    return out


@pytest.fixture(scope="module", params=_models(), ids=lambda m: m[0])
def calibrated(request):
    name, path, data = request.param
    g = load_onnx(path)
    return name, g, calibrate(g, data(), QuantConfig(scale_bits=8))


def test_requant_reproduces_real_multiplier_within_1pct(calibrated):
    """Bar: every channel of every layer, m = s_in * s_w[c] / s_out recomputed from the stored
    steps, against scale * 2**-(pre+post). Worst case measured: 0.39 % (bound 2**-8)."""
    _, _, net = calibrated
    worst = 0.0
    for layer in net.layers:
        q = layer.quant
        if layer.on_array:
            m = q.in_steps[0] * net.tensors[layer.key("w_step")] / q.out_step
        elif layer.op == "avgpool":
            m = np.full(layer.out_shape[1], q.in_steps[0] / (q.out_step * layer.kernel[0] * layer.kernel[1]))
        else:
            continue
        eff = net.tensors[layer.key("scale")] / 2.0 ** (
            net.tensors[layer.key("pre_shift")].astype(np.float64) + net.tensors[layer.key("post_shift")])
        rel = np.abs(eff - m) / m
        worst = max(worst, float(rel.max()))
        assert rel.max() < 0.01, layer.name
    assert worst <= 2.0**-8


def test_integer_path_follows_float(calibrated):
    name, g, net = calibrated
    if name == "svhn":
        x, y = _svhn_x(96)[64:], None
    elif name == "mnist":
        x, y = _mnist_x(150, start=500)  # held out: calibration draws the first 64
    else:
        x, y = _bundled_x("test", 150)
    out = net.outputs[0]
    yf = run_graph(g, {"input": x})[g.outputs[0]]
    yi = run_int(net, x)[out]
    agree = np.mean(yi.argmax(1) == yf.argmax(1))
    assert agree >= (0.95 if name != "svhn" else 0.9)
    if y is not None:  # top-1 of the integer path within 3 points of the float model's
        assert np.mean(yi.argmax(1) == y) >= np.mean(yf.argmax(1) == y) - 0.03
