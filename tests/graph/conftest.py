"""Shared fixtures of the graph tests: paths of the shared models and data, and the ORT reference."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

SHARED = Path(__file__).resolve().parents[3] / "shared"
if not SHARED.is_dir():
    SHARED = Path("/work/shared")
MODELS = SHARED / "models"
DATA = SHARED / "data"


def close_to(y: np.ndarray, ref: np.ndarray, rel: float = 1e-4) -> bool:
    """Tolerance used against onnxruntime: ``max|y - ref| <= rel * max|ref| + 1e-6``."""
    y, ref = np.asarray(y, np.float64), np.asarray(ref, np.float64)
    return y.shape == ref.shape and float(np.max(np.abs(y - ref))) <= rel * float(np.max(np.abs(ref))) + 1e-6


def ort_run(model_or_path, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    """Run onnxruntime (the independent reference) on a ModelProto or a file path."""
    ort = pytest.importorskip("onnxruntime")
    src = model_or_path if isinstance(model_or_path, (str, Path)) else model_or_path.SerializeToString()
    sess = ort.InferenceSession(str(src) if isinstance(src, Path) else src, providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


@pytest.fixture(scope="session")
def mnist_images():
    """The 10k MNIST training subset, raw: images uint8 [N,28,28], labels int64 [N]."""
    d = np.load(DATA / "mnist_train_subset_10k.npz", allow_pickle=False)
    return d["images"], d["labels"].astype(np.int64)
