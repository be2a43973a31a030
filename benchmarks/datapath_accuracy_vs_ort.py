"""Accuracy of accelsim's integer datapath beside onnxruntime's ``quantize_static``.

Models: the two third-party trained CNNs in ``/work/shared/models`` (not written by this project).

* MNIST CNN on ``mnist_train_subset_10k.npz`` (10,000 real MNIST training digits; x/255 then
  (x - 0.1307) / 0.3081). One calibration batch of 64 images drawn with seed 0 feeds BOTH
  accelsim's calibration and onnxruntime's calibrator; accuracy on all 10,000 images.
* SVHN CNN: only 4 labelled SVHN digits exist here (``ccexam_samples/svhn_digit_*.png``), so it is
  calibrated and evaluated on those same 4 images — this shows the path works end to end, it is
  not an accuracy measurement.

onnxruntime: ``quantize_static`` (QDQ format, its default uint8 asymmetric activations and int8
symmetric weights), per-channel and per-tensor, MinMax and Entropy. Note: through
``quantize_static`` the Entropy method gets ``num_bins = num_quantized_bins = 128`` (the bin options
are not forwarded from ``extra_options``), so it degenerates to MinMax; the ``Entropy (2048 bins)``
rows call ``create_calibrator`` with ``num_bins=2048, num_quantized_bins=128`` themselves and hand
the ranges to ``quantize_static`` through a calibrator stand-in.

accelsim: symmetric 8-bit weights and activations, the paper's KL-J threshold (and max),
per-channel and per-tensor weights, 32-bit accumulator; float reference = accelsim's float executor.

Run: ``python benchmarks/datapath_accuracy_vs_ort.py [--limit N]`` (a few minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

SHARED = next((p for p in (Path(__file__).resolve().parents[2] / "shared", Path("/work/shared")) if p.is_dir()),
              Path("/work/shared"))
MNIST_MODEL = SHARED / "models" / "ccexam_mnist_cnn.onnx"
SVHN_MODEL = SHARED / "models" / "ccexam_svhn_cnn.onnx"


def mnist_data(limit):
    from accelsim.config.data import DatasetConfig, PreprocessConfig
    from accelsim.datasets.readers import open_dataset

    cfg = DatasetConfig(path=str(SHARED / "data" / "mnist_train_subset_10k.npz"), limit=limit,
                        preprocess=PreprocessConfig(mean=(0.1307,), std=(0.3081,)))
    return open_dataset(cfg, (1, 1, 28, 28))


def svhn_data():
    from PIL import Image

    mean = np.array([0.4377, 0.4438, 0.4728], np.float32)
    std = np.array([0.1980, 0.2010, 0.1970], np.float32)
    xs, ys = [], []
    for p in sorted((SHARED / "data" / "ccexam_samples").glob("svhn_digit_*.png")):
        img = np.asarray(Image.open(p).convert("RGB"), np.float32) / 255.0
        xs.append(((img - mean) / std).transpose(2, 0, 1))
        ys.append(int(p.stem.rsplit("_", 1)[1]))
    return np.stack(xs).astype(np.float32), np.array(ys)


class ArrayDataset:
    """The minimal dataset interface :func:`accelsim.datapath.evaluate` reads."""

    def __init__(self, x, y):
        self.x, self.labels = x, y

    def __len__(self):
        return len(self.x)

    def get(self, idx):
        return self.x[idx], self.labels[idx]


def ort_accuracy(model: Path, calib_x, ds, per_channel: bool, method: str) -> float:
    import onnxruntime as ort
    from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter([{"input": calib_x}])

        def get_next(self):
            return next(self.it, None)

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "q.onnx"
        if method == "Entropy2048":
            _quantize_entropy_bins(model, calib_x, out, per_channel)
        else:
            quantize_static(str(model), str(out), Reader(), quant_format=QuantFormat.QDQ, per_channel=per_channel,
                            calibrate_method=getattr(CalibrationMethod, method))
        sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
        hits = n = 0
        for start in range(0, len(ds), 1000):
            x, y = ds.get(np.arange(start, min(start + 1000, len(ds))))
            hits += int((np.argmax(sess.run(None, {"input": x})[0], 1) == y).sum())
            n += len(x)
    return hits / n


def _quantize_entropy_bins(model, calib_x, out, per_channel):
    """Entropy calibration with real histogram options, ranges then fed to quantize_static."""
    import sys

    import onnxruntime.quantization  # noqa: F401
    qz = sys.modules["onnxruntime.quantization.quantize"]
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, create_calibrator
    from onnxruntime.quantization.calibrate import CalibrationDataReader

    with tempfile.TemporaryDirectory() as tmp:
        cal = create_calibrator(str(model), calibrate_method=CalibrationMethod.Entropy,
                                augmented_model_path=str(Path(tmp) / "aug.onnx"),
                                extra_options={"num_bins": 2048, "num_quantized_bins": 128, "symmetric": False})
        cal.collect_data(_OneBatch(calib_x))
        ranges = cal.compute_data()
    real = qz.create_calibrator

    class Fixed:
        def __init__(self, *a, **k):
            pass

        def collect_data(self, reader):
            pass

        def compute_data(self):
            return ranges

    qz.create_calibrator = lambda *a, **k: Fixed()
    try:
        qz.quantize_static(str(model), str(out), _OneBatch(calib_x), quant_format=QuantFormat.QDQ,
                           per_channel=per_channel, calibrate_method=CalibrationMethod.Entropy)
    finally:
        qz.create_calibrator = real
    _ = CalibrationDataReader


class _OneBatch:
    def __init__(self, x):
        self.it = iter([{"input": x}])

    def get_next(self):
        return next(self.it, None)

    def __iter__(self):
        return self

    def __next__(self):
        v = self.get_next()
        if v is None:
            raise StopIteration
        return v


def accelsim_eval(graph, calib_x, ds, per_channel: bool, method: str, bits: int = 8, batch: int = 500):
    from accelsim.config.quant import QuantConfig
    from accelsim.datapath import evaluate
    from accelsim.quant.calibrate import calibrate

    net = calibrate(graph, calib_x, QuantConfig(weight_bits=bits, act_bits=bits, per_channel=per_channel,
                                                method=method))
    return evaluate(graph, net, ds, batch, progress=False)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=None, help="MNIST images to evaluate (default all 10,000)")
    args = ap.parse_args()
    from accelsim.graph.onnx_import import load_onnx

    rows = []
    t0 = time.perf_counter()
    ds = mnist_data(args.limit)
    calib_x, _ = ds.take(64, 0)
    g = load_onnx(MNIST_MODEL)
    for pc in (True, False):
        for method in ("kl-j", "max"):
            r = accelsim_eval(g, calib_x, ds, pc, method)
            rows.append(("mnist", "accelsim", method, pc, r.float_top1, r.quant_top1, r.samples))
        for method in ("MinMax", "Entropy", "Entropy2048"):
            try:
                acc = ort_accuracy(MNIST_MODEL, calib_x, ds, pc, method)
            except Exception as exc:  # report, keep going
                print(f"ORT {method} per_channel={pc} failed: {exc}")
                acc = float("nan")
            rows.append(("mnist", "onnxruntime", method, pc, None, acc, len(ds)))
    sx, sy = svhn_data()
    sds = ArrayDataset(sx, sy)
    gs = load_onnx(SVHN_MODEL)
    for pc in (True, False):
        r = accelsim_eval(gs, sx, sds, pc, "kl-j", batch=4)
        rows.append(("svhn(4)", "accelsim", "kl-j", pc, r.float_top1, r.quant_top1, r.samples))
        rows.append(("svhn(4)", "onnxruntime", "MinMax", pc, None, ort_accuracy(SVHN_MODEL, sx, sds, pc, "MinMax"), 4))
    print(f"{'model':<8} {'tool':<12} {'method':<12} {'weights':<11} {'float top-1':>11} {'quant top-1':>11} {'images':>7}")
    for m, tool, meth, pc, f, q, n in rows:
        fs = "" if f is None else f"{100 * f:.2f} %"
        print(f"{m:<8} {tool:<12} {meth:<12} {'per-channel' if pc else 'per-tensor':<11} {fs:>11} "
              f"{100 * q:>9.2f} % {n:>7}")
    print(f"({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
