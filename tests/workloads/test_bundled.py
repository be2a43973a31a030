"""The bundled default model and data: provenance against the real Fashion-MNIST files, accuracy
under onnxruntime, the network's structure and size, and the loader's errors.

References are independent of the package: onnxruntime for the float model, MACs counted from
the ONNX graph's own shapes. The subsets against the full Fashion-MNIST files (60,000 + 10,000
images, not vendored): ``benchmarks/bundled_provenance.py``.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from accelsim.errors import ConfigError, InputFileError
from accelsim.workloads import bundled
from tests.shared import DATA



def _idx(path: Path) -> np.ndarray:
    """Unsigned-byte IDX reader written for this test: magic 0x00000803 / 0x00000801, big-endian sizes."""
    raw = gzip.decompress(path.read_bytes())
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(shape)


@pytest.fixture(scope="module")
def session():
    ort = pytest.importorskip("onnxruntime")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    return ort.InferenceSession(str(bundled.model_path()), opts, providers=["CPUExecutionProvider"])


def _prep(images: np.ndarray) -> np.ndarray:
    """The documented preprocessing, written out: x/255, minus mean, over std (values from the JSON)."""
    pp = json.loads(bundled.bundled_path("default_model.json").read_text())["preprocessing"]
    x = images.astype(np.float32) / np.float32(255.0)
    return ((x - np.float32(pp["mean"][0])) / np.float32(pp["std"][0]))[:, None]


def _top1(session, images: np.ndarray, labels: np.ndarray) -> float:
    correct = 0
    for i in range(0, len(images), 1000):
        logits = session.run(["logits"], {"input": _prep(images[i:i + 1000])})[0]
        correct += int((logits.argmax(1) == labels[i:i + 1000]).sum())
    return correct / len(images)


def test_npz_files_load_without_pickle():
    for split, n in (("test", 2000), ("calib", 512)):
        with np.load(bundled.dataset_path(split), allow_pickle=False) as npz:
            assert {"images", "labels", "indices"} <= set(npz.files)
            assert npz["images"].dtype == np.uint8 and npz["images"].shape == (n, 28, 28)
            assert npz["labels"].dtype == np.uint8 and npz["labels"].shape == (n,)
            assert npz["labels"].max() <= 9
        images, labels = bundled.load_dataset(split)
        assert images.shape == (n, 28, 28) and labels.shape == (n,)


def test_test_subset_starts_with_the_official_test_split():
    """The vendored first 100 records of the official t10k IDX files, read by :func:`_idx` above."""
    official = DATA / "fashion-mnist-t10k-100"
    images, labels = bundled.load_dataset("test")
    np.testing.assert_array_equal(images[:100], _idx(official / "t10k-images-idx3-ubyte.gz"))
    np.testing.assert_array_equal(labels[:100], _idx(official / "t10k-labels-idx1-ubyte.gz"))


def test_float_top1_on_bundled_2000_at_least_90_percent(session):
    images, labels = bundled.load_dataset("test")
    acc = _top1(session, images, labels)
    assert acc >= 0.90
    assert acc == pytest.approx(bundled.metadata()["float_top1"]["test_subset_2000"], abs=1e-9)


def test_structure_size_and_macs_from_the_onnx_graph():
    onnx = pytest.importorskip("onnx")
    path = bundled.model_path()
    assert path.stat().st_size <= 500 * 1024
    model = onnx.load(str(path))
    assert [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")] == [17]
    g = model.graph
    (inp,), (out,) = g.input, g.output
    assert inp.name == "input" and out.name == "logits"
    dims = [d.dim_value or d.dim_param for d in inp.type.tensor_type.shape.dim]
    assert isinstance(dims[0], str) and dims[1:] == [1, 28, 28]
    ops = [n.op_type for n in g.node]
    for op in ("BatchNormalization", "Add", "MaxPool", "GlobalAveragePool", "Gemm", "Relu"):
        assert op in ops, op

    inits = {t.name: onnx.numpy_helper.to_array(t) for t in g.initializer}
    params = sum(a.size for a in inits.values())
    assert params <= 100_000
    inferred = onnx.shape_inference.infer_shapes(model).graph
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim] for v in inferred.value_info}
    macs, depthwise = 0, 0
    for n in g.node:
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}
        if n.op_type == "Conv":
            w = inits[n.input[1]]
            _, oc, oh, ow = shapes[n.output[0]]
            macs += oh * ow * oc * w.shape[1] * w.shape[2] * w.shape[3]
            if attrs.get("group", 1) > 1:
                assert attrs["group"] == oc and w.shape[1] == 1
                depthwise += 1
        elif n.op_type == "Gemm":
            macs += inits[n.input[1]].size
    assert depthwise == 2
    meta = bundled.metadata()
    assert meta["macs_per_image"]["total"] == macs
    # BN parameters are counted as stored in the file; torch's count excludes running mean/var.
    bn_stats = sum(inits[n.input[i]].size for n in g.node if n.op_type == "BatchNormalization" for i in (3, 4))
    assert meta["parameters"] == params - bn_stats


def test_importer_matches_onnxruntime_on_bundled_images(session):
    from accelsim.graph.executor import run_graph
    from accelsim.graph.onnx_import import load_onnx

    x = _prep(bundled.load_dataset("calib")[0][:16])
    graph = load_onnx(bundled.model_path())
    assert "batchnorm" not in {n.op for n in graph.nodes}  # folded by the importer
    got = run_graph(graph, {"input": x})["logits"]
    ref = session.run(["logits"], {"input": x})[0]
    assert float(np.abs(got - ref).max()) <= 1e-4 * float(np.abs(ref).max()) + 1e-6


def test_metadata_names_and_preprocess_config():
    meta = bundled.metadata()
    assert meta["input"]["name"] == "input" and meta["output"]["name"] == "logits"
    assert bundled.class_names()[0] == "T-shirt/top" and bundled.class_names()[9] == "Ankle boot"
    assert len(bundled.class_names()) == 10
    pp = bundled.preprocess_config()
    assert pp.layout == "nchw" and pp.channels == 1 and len(pp.mean) == len(pp.std) == 1


def test_unknown_split_and_missing_file_errors():
    with pytest.raises(ConfigError, match=r"unknown split 'train' \(valid: test, calib\)"):
        bundled.dataset_path("train")
    with pytest.raises(InputFileError, match=r"bundled file 'nope.onnx' is missing"):
        bundled.bundled_path("nope.onnx")
