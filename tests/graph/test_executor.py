"""Float executor against onnxruntime: the two shipped trained models on real images, one small
model per op type (built here with onnx.helper, seeded random weights), shape inference."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from accelsim.errors import InputFileError, UnsupportedOpError
from accelsim.graph.executor import execute_node, infer_shapes, pool_output_size, run_graph
from accelsim.graph.ir import Graph, Node
from accelsim.graph.onnx_import import import_model, load_onnx

from .conftest import DATA, MODELS, close_to, ort_run

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081
SVHN_MEAN = np.array([0.4377, 0.4438, 0.4728], np.float32)
SVHN_STD = np.array([0.1980, 0.2010, 0.1970], np.float32)


# ---------------------------------------------------------------- the shipped, trained models


def test_mnist_model_matches_ort_on_real_digits(mnist_images):
    images, labels = mnist_images
    x = ((images[:500].astype(np.float32) / 255.0 - MNIST_MEAN) / MNIST_STD)[:, None]
    path = MODELS / "ccexam_mnist_cnn.onnx"
    graph = load_onnx(path)
    y = run_graph(graph, {"input": x})["logits"]
    (ref,) = ort_run(path, {"input": x})
    assert close_to(y, ref)
    assert np.array_equal(y.argmax(1), ref.argmax(1))
    # published float top-1 is 0.9985 on all 10k; this slice holds no more than 0.2 % errors
    assert (y.argmax(1) == labels[:500]).mean() >= 0.996


def test_svhn_model_classifies_the_svhn_samples_like_ort():
    files = sorted(DATA.glob("ccexam_samples/svhn_digit_*.png"))
    assert len(files) == 4
    raw = np.stack([np.asarray(Image.open(f).convert("RGB"), np.float32) for f in files])  # NHWC via PIL
    x = ((raw / 255.0 - SVHN_MEAN) / SVHN_STD).transpose(0, 3, 1, 2).copy()
    labels = [int(f.stem.rsplit("_", 1)[1]) for f in files]
    path = MODELS / "ccexam_svhn_cnn.onnx"
    graph = load_onnx(path)
    assert [n.op for n in graph.nodes].count("batchnorm") == 0  # all six BNs folded into their convs
    y = run_graph(graph, {"input": x})["logits"]
    (ref,) = ort_run(path, {"input": x})
    assert close_to(y, ref)
    assert y.argmax(1).tolist() == labels  # 4/4, as documented


def test_mnist_model_on_mnist_sample_pngs():
    files = sorted(DATA.glob("ccexam_samples/mnist_test_*.png"))
    raw = np.stack([np.asarray(Image.open(f).convert("L"), np.float32) for f in files])
    x = ((raw / 255.0 - MNIST_MEAN) / MNIST_STD)[:, None]
    y = run_graph(load_onnx(MODELS / "ccexam_mnist_cnn.onnx"), {"input": x})["logits"]
    assert y.argmax(1).tolist() == [int(f.stem.rsplit("_", 1)[1]) for f in files]


def test_run_graph_keep_all_and_shapes_agree():
    graph = load_onnx(MODELS / "ccexam_svhn_cnn.onnx")
    x = np.random.default_rng(0).standard_normal((3, 3, 32, 32)).astype(np.float32)
    env = run_graph(graph, {"input": x}, keep="all")
    shapes = infer_shapes(graph, {"input": (3, 3, 32, 32)})
    for node in graph.nodes:
        for out in node.outputs:
            assert env[out].shape == shapes[out]
            assert env[out].dtype == np.float32
    assert shapes["logits"] == (3, 10)
    # hand-worked: three 2x2/2 pools take 32 -> 4, 128 channels at the end of the features
    flat = [n for n in graph.nodes if n.op == "flatten"][0]
    assert shapes[flat.outputs[0]][1] == env[flat.inputs[0]].shape[1] * 4 * 4


def test_run_graph_rejects_wrong_input_shape():
    graph = load_onnx(MODELS / "ccexam_mnist_cnn.onnx")
    with pytest.raises(InputFileError, match=r"input 'input' has shape \(2, 3, 28, 28\), model expects"):
        run_graph(graph, {"input": np.zeros((2, 3, 28, 28), np.float32)})
    with pytest.raises(InputFileError, match="no data fed for input 'input'"):
        run_graph(graph, {})


def test_execute_node_rejects_unknown_op():
    with pytest.raises(UnsupportedOpError, match="op 'gelu' is not in the IR vocabulary"):
        execute_node(Node("n", "gelu", ["x"], ["y"]), [np.zeros(3, np.float32)])


@pytest.mark.parametrize(
    "size,k,s,pb,pe,d,ceil,expected",
    [
        (32, 2, 2, 0, 0, 1, False, 16),
        (5, 2, 2, 0, 0, 1, True, 3),  # hand-worked: windows start at 0, 2, 4 (the last one partial)
        (6, 3, 2, 1, 1, 1, True, 4),  # ceil(5/2)+1 = 4; last start 6 < 6+1, kept
        (4, 2, 2, 0, 0, 1, True, 2),
        (7, 3, 2, 0, 0, 2, False, 2),  # span 5: starts 0, 2
    ],
)
def test_pool_output_size_hand_worked(size, k, s, pb, pe, d, ceil, expected):
    assert pool_output_size(size, k, s, pb, pe, d, ceil) == expected
