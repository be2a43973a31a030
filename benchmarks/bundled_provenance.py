"""The bundled Fashion-MNIST subsets and preprocessing against the full official files.

Scenario: ``accelsim/data`` ships 2,000 test and 512 calibration images of Fashion-MNIST and the
model's preprocessing (mean, std of the training pixels). This checks them against the full
official IDX files (60,000 train + 10,000 test, 30 MB, not vendored in ``tests/``), read by a few
lines of numpy, and the float top-1 on the whole 10k test split with onnxruntime.

    ACCELSIM_SHARED=../shared python benchmarks/bundled_provenance.py

Prints one line per check and exits 1 when one fails.
"""

from __future__ import annotations

import gzip
import json
import os
import sys
from pathlib import Path

import numpy as np

from accelsim.workloads import bundled

SHARED = Path(os.environ.get("ACCELSIM_SHARED", Path(__file__).resolve().parents[2] / "shared"))
FMNIST = SHARED / "data" / "fashion-mnist"


def idx(path: Path) -> np.ndarray:
    """Unsigned-byte IDX reader: magic 0x00000803 / 0x00000801, big-endian sizes."""
    raw = gzip.decompress(path.read_bytes())
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(shape)


def main() -> int:
    test_x, test_y = idx(FMNIST / "t10k-images-idx3-ubyte.gz"), idx(FMNIST / "t10k-labels-idx1-ubyte.gz")
    train_x, train_y = idx(FMNIST / "train-images-idx3-ubyte.gz"), idx(FMNIST / "train-labels-idx1-ubyte.gz")
    checks = {}
    images, labels = bundled.load_dataset("test")
    checks["test subset = first 2,000 of the official test split"] = (
        np.array_equal(images, test_x[:2000]) and np.array_equal(labels, test_y[:2000]))
    idx_calib = np.sort(np.random.default_rng(512).choice(60000, size=512, replace=False))
    with np.load(bundled.dataset_path("calib"), allow_pickle=False) as npz:
        checks["calib subset = seeded draw (seed 512) of 512 training images"] = (
            np.array_equal(npz["indices"], idx_calib) and np.array_equal(npz["images"], train_x[idx_calib])
            and np.array_equal(npz["labels"], train_y[idx_calib]))
    x = train_x.astype(np.float64) / 255.0
    pp = bundled.preprocess_config()
    checks[f"mean {pp.mean[0]:.6f} / std {pp.std[0]:.6f} = training pixels' {x.mean():.6f} / {x.std():.6f}"] = (
        abs(pp.mean[0] - x.mean()) <= 1e-6 and abs(pp.std[0] - x.std()) <= 1e-6)
    import onnxruntime as ort

    sess = ort.InferenceSession(str(bundled.model_path()), providers=["CPUExecutionProvider"])
    meta = json.loads(bundled.bundled_path("default_model.json").read_text())["preprocessing"]
    correct = 0
    for i in range(0, 10000, 1000):
        xb = ((test_x[i:i + 1000].astype(np.float32) / np.float32(255.0) - np.float32(meta["mean"][0]))
              / np.float32(meta["std"][0]))[:, None]
        correct += int((sess.run(["logits"], {"input": xb})[0].argmax(1) == test_y[i:i + 1000]).sum())
    top1 = correct / 10000
    checks[f"float top-1 on the 10k test split {100 * top1:.2f} % >= 90 % and = metadata"] = (
        top1 >= 0.90 and abs(top1 - bundled.metadata()["float_top1"]["test_10000"]) <= 1e-9)
    for name, ok in checks.items():
        print(f"{'ok  ' if ok else 'FAIL'} {name}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
