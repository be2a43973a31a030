"""The bundled default model and its data: where the shipped files are, and what the metadata says.

accelsim ships one small float CNN trained on Fashion-MNIST (``accelsim/data/default_model.onnx``,
made by ``benchmarks/train_default_model.py`` in the source repository), its metadata (``default_model.json``: input and
output names, preprocessing, class names, accuracies, training facts) and two data subsets as
``.npz`` (``images`` uint8 [N,28,28], ``labels`` uint8 [N], ``indices`` int64 [N] into the split):

- ``test``: the first 2,000 images of the official Fashion-MNIST test split;
- ``calib``: 512 training images drawn by a seeded generator (the JSON names the seed).

Everything here only locates and reads those files; nothing is trained or computed.
"""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np

from accelsim.config.data import PreprocessConfig
from accelsim.errors import ConfigError, InputFileError

__all__ = [
    "MODEL_FILE", "METADATA_FILE", "DATASET_FILES",
    "bundled_path", "model_path", "metadata", "preprocess_config", "class_names",
    "dataset_path", "load_dataset",
]

MODEL_FILE = "default_model.onnx"
METADATA_FILE = "default_model.json"
DATASET_FILES = {"test": "fashion_mnist_test_2000.npz", "calib": "fashion_mnist_calib_512.npz"}


def bundled_path(name: str) -> Path:
    """Path of one file in the package's ``data/`` folder.

    The package is installed as plain files (editable or wheel), so the resource is a real path.

    Raises
    ------
    InputFileError
        The file is missing from this installation.
    """
    path = Path(str(files("accelsim") / "data" / name))
    if not path.is_file():
        raise InputFileError(f"{path}: bundled file {name!r} is missing from this accelsim installation "
                             f"(reinstall the package)")
    return path


def model_path() -> Path:
    """The bundled float ONNX model (opset 17, input ``input`` [N,1,28,28], output ``logits`` [N,10])."""
    return bundled_path(MODEL_FILE)


def metadata() -> dict[str, Any]:
    """The bundled model's metadata, ``default_model.json``, as a dict.

    Raises
    ------
    InputFileError
        The file is missing or is not valid JSON.
    """
    path = bundled_path(METADATA_FILE)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputFileError(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg})") from None


def preprocess_config() -> PreprocessConfig:
    """The preprocessing the bundled model was trained with: ``x * scale``, then ``(x - mean) / std``.

    ``scale`` is 1/255; ``mean`` and ``std`` are those of the Fashion-MNIST training pixels after
    scaling (about 0.2860 and 0.3530), one channel, NCHW.
    """
    pp = metadata()["preprocessing"]
    return PreprocessConfig(scale=float(pp["scale"]), mean=tuple(float(m) for m in pp["mean"]),
                            std=tuple(float(s) for s in pp["std"]), layout=pp.get("layout", "nchw"),
                            channels=1)


def class_names() -> list[str]:
    """The ten Fashion-MNIST class names, in label order (0 = 'T-shirt/top', ..., 9 = 'Ankle boot')."""
    return list(metadata()["class_names"])


def dataset_path(split: str) -> Path:
    """Path of the bundled ``'test'`` (2,000 images) or ``'calib'`` (512 images) ``.npz``.

    Raises
    ------
    ConfigError
        *split* is neither ``'test'`` nor ``'calib'``.
    InputFileError
        The file is missing from this installation.
    """
    if split not in DATASET_FILES:
        raise ConfigError(f"bundled data: unknown split {split!r} (valid: {', '.join(DATASET_FILES)})")
    return bundled_path(DATASET_FILES[split])


def load_dataset(split: str) -> tuple[np.ndarray, np.ndarray]:
    """Raw images (uint8 [N,28,28]) and labels (uint8 [N]) of a bundled split, read without pickle.

    Raises
    ------
    ConfigError, InputFileError
        As :func:`dataset_path`; also when the arrays are not there or not uint8 of matching length.
    """
    path = dataset_path(split)
    with np.load(path, allow_pickle=False) as npz:
        if "images" not in npz.files or "labels" not in npz.files:
            raise InputFileError(f"{path}: needs arrays 'images' and 'labels' (found {', '.join(npz.files)})")
        images, labels = npz["images"], npz["labels"]
    if images.dtype != np.uint8 or labels.dtype != np.uint8 or images.ndim != 3 or len(images) != len(labels):
        raise InputFileError(f"{path}: expected images uint8 [N,28,28] and labels uint8 [N] (found "
                             f"{images.dtype} {images.shape} and {labels.dtype} {labels.shape})")
    return images, labels
