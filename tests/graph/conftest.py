"""Shared fixtures of the graph tests: paths of the shared models and data, and the ORT reference."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.shared import DATA, MODELS  # noqa: F401  (re-exported for the graph tests)


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
    """1,000 MNIST training images, raw: images uint8 [N,28,28], labels int64 [N]."""
    d = np.load(DATA / "mnist_train_subset_1k.npz", allow_pickle=False)
    return d["images"], d["labels"].astype(np.int64)


def build_model(nodes, x_shape, inits=None, opset=17, outputs=("y",), batch_param=True, name="t"):
    """A one-input ONNX model from ``onnx.helper`` nodes; *inits* name -> array become initializers.

    The input is called ``x``; with *batch_param* its first dimension is the symbolic ``N``.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    dims = (["N"] + list(x_shape[1:])) if batch_param else list(x_shape)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, dims)
    outs = [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs]
    init = [numpy_helper.from_array(np.asarray(v), k) for k, v in (inits or {}).items()]
    graph = helper.make_graph(list(nodes), name, [x], outs, init)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = min(model.ir_version, 8)  # onnxruntime 1.16+ reads IR 8 for every opset used here
    model = onnx.shape_inference.infer_shapes(model)  # gives the outputs the shape the checker wants
    for o in model.graph.output:
        if not o.type.tensor_type.HasField("shape"):
            o.type.tensor_type.shape.SetInParent()
            o.type.tensor_type.shape.dim.add().dim_param = "unknown"
    onnx.checker.check_model(model)
    return model


def rand(rng, *shape, scale=1.0):
    """Seeded float32 normal samples."""
    return (rng.standard_normal(shape) * scale).astype(np.float32)
