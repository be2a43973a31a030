"""Export styles: one small CNN written the way each opset from 7 to 21 spells it (Clip, Pad,
Squeeze/Unsqueeze, ReduceMean, BatchNormalization, Dropout in their attribute and input forms,
a Shape->Gather->Unsqueeze->Concat->Reshape flatten), and weights stored as external data.
Reference: onnxruntime on the same file, 1e-4 relative."""

import os

import numpy as np
import pytest

from accelsim.errors import InputFileError
from accelsim.graph.executor import run_graph
from accelsim.graph.onnx_import import load_onnx
from tests.graph.conftest import close_to, ort_run

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

H = helper.make_node
# the IR version each opset came with (what an exporter of that time wrote)
IR_FOR_OPSET = {7: 3, 8: 3, 9: 4, 10: 5, 11: 6, 12: 7, 13: 7, 14: 7, 15: 8, 16: 8, 17: 8, 18: 8, 19: 9, 20: 9, 21: 10}


def _cnn(opset: int):
    """Conv -> BN -> ReLU6 (Clip) -> Pad -> MaxPool -> Dropout -> Identity, then two heads added:
    ReduceMean(H, W) -> Squeeze -> Gemm, and a Shape-chain flatten -> Gemm."""
    rng = np.random.default_rng(opset)
    f32 = lambda *s, scale=1.0: (rng.standard_normal(s) * scale).astype(np.float32)  # noqa: E731
    i64 = lambda v: np.asarray(v, np.int64)  # noqa: E731
    inits = {"w": f32(6, 3, 3, 3, scale=0.5), "b": f32(6), "sc": 1 + 0.1 * f32(6), "sh": f32(6, scale=0.1),
             "mu": f32(6, scale=0.1), "var": 1 + np.abs(f32(6)), "wa": f32(4, 6), "ba": f32(4), "wb": f32(4, 6 * 5 * 5, scale=0.1),
             "bb": f32(4)}
    bn_attrs = {"epsilon": 1e-3}
    if opset < 9:
        bn_attrs["spatial"] = 1
    nodes = [H("Conv", ["x", "w", "b"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             H("BatchNormalization", ["c", "sc", "sh", "mu", "var"], ["bn"], **bn_attrs)]
    if opset < 11:
        nodes.append(H("Clip", ["bn"], ["r6"], min=0.0, max=6.0))
    else:
        inits.update(lo=np.array(0, np.float32), hi=np.array(6, np.float32))
        nodes.append(H("Clip", ["bn", "lo", "hi"], ["r6"]))
    if opset < 11:
        nodes.append(H("Pad", ["r6"], ["pd"], pads=[0, 0, 1, 1, 0, 0, 1, 1], mode="constant", value=0.0))
    elif opset < 18:
        inits["pads"] = i64([0, 0, 1, 1, 0, 0, 1, 1])
        nodes.append(H("Pad", ["r6", "pads"], ["pd"], mode="constant"))
    else:
        inits.update(pads=i64([1, 1, 1, 1]), padax=i64([2, 3]))
        nodes.append(H("Pad", ["r6", "pads", "", "padax"], ["pd"], mode="constant"))
    nodes.append(H("MaxPool", ["pd"], ["mp"], kernel_shape=[2, 2], strides=[2, 2]))  # 8+2 -> 5
    nodes.append(H("Dropout", ["mp"], ["dr"], ratio=0.5) if opset < 12 else H("Dropout", ["mp"], ["dr"]))
    nodes.append(H("Identity", ["dr"], ["id"]))
    # head A: ReduceMean over H, W (axes attribute before 18, input from 18) -> Squeeze -> Gemm
    if opset < 18:
        nodes.append(H("ReduceMean", ["id"], ["rm"], axes=[2, 3], keepdims=1))
    else:
        inits["rmax"] = i64([2, 3])
        nodes.append(H("ReduceMean", ["id", "rmax"], ["rm"], keepdims=1))
    if opset < 13:
        nodes.append(H("Squeeze", ["rm"], ["sq"], axes=[2, 3]))
    else:
        inits["sqax"] = i64([2, 3])
        nodes.append(H("Squeeze", ["rm", "sqax"], ["sq"]))
    nodes.append(H("Gemm", ["sq", "wa", "ba"], ["ya"], transB=1))
    # head B: flatten as torch.onnx writes x.view(x.size(0), -1)
    nodes += [H("Shape", ["id"], ["s"]),
              H("Constant", [], ["zero"], value=numpy_helper.from_array(i64(0), "zero_v")),
              H("Gather", ["s", "zero"], ["n"])]
    if opset < 13:
        nodes.append(H("Unsqueeze", ["n"], ["nu"], axes=[0]))
    else:
        inits["unax"] = i64([0])
        nodes.append(H("Unsqueeze", ["n", "unax"], ["nu"]))
    inits["minus1"] = i64([-1])
    nodes += [H("Concat", ["nu", "minus1"], ["tgt"], axis=0), H("Reshape", ["id", "tgt"], ["fl"]),
              H("Gemm", ["fl", "wb", "bb"], ["yb"], transB=1), H("Add", ["ya", "yb"], ["y"])]
    g = helper.make_graph(nodes, f"op{opset}", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 8])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])],
                          [numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()])
    if IR_FOR_OPSET[opset] < 4:  # IR 3: every initializer is also a graph input
        g.input.extend(helper.make_tensor_value_info(k, helper.np_dtype_to_tensor_dtype(np.asarray(v).dtype),
                                                     list(np.shape(v))) for k, v in inits.items())
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = IR_FOR_OPSET[opset]
    onnx.checker.check_model(m)
    return m


@pytest.mark.parametrize("opset", [7, 9, 10, 11, 12, 13, 15, 17, 18, 21])
def test_opset_spellings_import_and_match_onnxruntime(tmp_path, opset):
    model = _cnn(opset)
    path = tmp_path / f"op{opset}.onnx"
    onnx.save(model, str(path))
    graph = load_onnx(path)
    ops = sorted({n.op for n in graph.nodes})
    assert "batchnorm" not in ops and "conv" in ops and "clip" in ops  # BN folded into the conv
    x = np.random.default_rng(100 + opset).standard_normal((3, 3, 8, 8)).astype(np.float32)
    assert close_to(run_graph(graph, {"x": x})["y"], ort_run(path, {"x": x})[0])


def _saved_external(folder, location="weights.bin"):
    model = _cnn(17)
    folder.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(folder / "m.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
              location=location, size_threshold=1024)
    return folder / "m.onnx"


def test_external_data_is_read_from_the_model_folder(tmp_path, monkeypatch):
    path = _saved_external(tmp_path / "model")
    assert (tmp_path / "model" / "weights.bin").stat().st_size > 2000  # the weights really are outside
    monkeypatch.chdir(tmp_path)  # a working directory other than the model's folder
    graph = load_onnx(os.path.relpath(path, tmp_path))
    x = np.random.default_rng(5).standard_normal((2, 3, 8, 8)).astype(np.float32)
    assert close_to(run_graph(graph, {"x": x})["y"], ort_run(path, {"x": x})[0])


def test_missing_external_data_is_one_clear_line(tmp_path):
    path = _saved_external(tmp_path / "model")
    (tmp_path / "model" / "weights.bin").unlink()
    with pytest.raises(InputFileError, match=r"m\.onnx: the model's external data cannot be read: .*weights\.bin"):
        load_onnx(path)


def test_external_data_outside_the_model_folder_is_refused(tmp_path):
    path = _saved_external(tmp_path / "model")
    (tmp_path / "model" / "weights.bin").rename(tmp_path / "weights.bin")
    m = onnx.load(str(path), load_external_data=False)
    for t in m.graph.initializer:
        for e in t.external_data:
            if e.key == "location":
                e.value = "../weights.bin"
    onnx.save(m, str(path))
    with pytest.raises(InputFileError, match=r"external data cannot be read: .*points outside the directory.*"
                                             r"valid: a file in the model's folder"):
        load_onnx(path)
