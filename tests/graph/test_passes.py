"""Graph passes: constant folding of shape subgraphs, the NHWC input transpose, the IR shape check.
References: onnxruntime on the unmodified model, and hand-worked shapes."""

import numpy as np
import pytest

from accelsim.errors import InputFileError
from accelsim.graph.executor import run_graph
from accelsim.graph.onnx_import import import_model
from accelsim.graph.passes import absorb_input_transpose, fold_constants
from tests.graph.conftest import build_model, close_to, ort_run, rand

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

H = helper.make_node


def _c(name, value, dtype=np.int64):
    return H("Constant", [], [name], value=numpy_helper.from_array(np.asarray(value, dtype), name + "_v"))


def _shape_chain_model(opset=17):
    """x (N,4,3,3) flattened through a target computed by Shape/Range/Gather/ReduceProd/Cast/Div/
    Floor/Mul/Unsqueeze/Concat/Equal/Where, times ConstantOfShape ones, then a Gemm."""
    rng = np.random.default_rng(0)
    nodes = [
        H("Shape", ["x"], ["s"]), _c("r0", 1), _c("r1", 4), _c("r2", 1),
        H("Range", ["r0", "r1", "r2"], ["idx"]),
        H("Gather", ["s", "idx"], ["dims"]),
        H("ReduceProd", ["dims"], ["prod"], keepdims=1),
        H("Cast", ["prod"], ["pf"], to=TensorProto.FLOAT), _c("two", 2.0, np.float32),
        H("Div", ["pf", "two"], ["half"]), H("Floor", ["half"], ["fl"]), H("Mul", ["fl", "two"], ["m"]),
        H("Cast", ["m"], ["back"], to=TensorProto.INT64),
        _c("zero", 0), H("Gather", ["s", "zero"], ["n"]), _c("ax0", [0]), H("Unsqueeze", ["n", "ax0"], ["nu"]),
        H("Concat", ["nu", "back"], ["tgt"], axis=0),
        _c("zz", [0, 0]), H("Equal", ["tgt", "zz"], ["eq"]), _c("ones2", [1, 1]),
        H("Where", ["eq", "ones2", "tgt"], ["tgt2"]),
        H("Reshape", ["x", "tgt2"], ["r"]),
        H("Shape", ["r"], ["rs"], start=1),
        H("ConstantOfShape", ["rs"], ["ones"], value=numpy_helper.from_array(np.array([1.0], np.float32))),
        H("Mul", ["r", "ones"], ["rm"]),
        H("Gemm", ["rm", "w"], ["y"], transB=1),
    ]
    return build_model(nodes, (1, 4, 3, 3), {"w": rand(rng, 5, 36)}, opset)


def test_shape_subgraph_folds_to_constants_and_matches_onnxruntime():
    model = _shape_chain_model()
    folded = fold_constants(model, (1, 4, 3, 3))
    assert sorted(n.op_type for n in folded.graph.node) == ["Gemm", "Mul", "Reshape"]
    graph = import_model(model)
    x = rand(np.random.default_rng(1), 3, 4, 3, 3)  # batch 3: the folded target keeps the batch free
    assert close_to(run_graph(graph, {"x": x})["y"], ort_run(model, {"x": x})[0])


def test_random_ops_and_unknown_shapes_are_not_folded():
    nodes = [H("RandomNormal", [], ["rn"], shape=[1, 3, 4, 4]), H("Add", ["x", "rn"], ["a"]),
             H("Shape", ["a"], ["s"]), H("Relu", ["a"], ["y"])]
    model = build_model(nodes, (1, 3, 4, 4), {}, 17, outputs=("y", "s"))
    out = fold_constants(model, None)
    assert [n.op_type for n in out.graph.node][:2] == ["RandomNormal", "Add"]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, "H", "W"])
    g = helper.make_graph([H("Shape", ["x"], ["s"]), H("Relu", ["x"], ["y"])], "u", [x],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None),
                           helper.make_tensor_value_info("s", TensorProto.INT64, None)])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    assert [n.op_type for n in fold_constants(m, None).graph.node] == ["Shape", "Relu"]
    assert [n.op_type for n in fold_constants(m, (1, 3, 5, 5)).graph.node] == ["Relu"]


def _nhwc_model():
    rng = np.random.default_rng(2)
    nodes = [H("Transpose", ["x"], ["t"], perm=[0, 3, 1, 2]),
             H("Conv", ["t", "w", "b"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             H("Relu", ["c"], ["r"]), H("GlobalAveragePool", ["r"], ["p"]), H("Flatten", ["p"], ["f"]),
             H("Gemm", ["f", "w2"], ["y"], transB=1)]
    return build_model(nodes, (1, 8, 8, 3), {"w": rand(rng, 6, 3, 3, 3), "b": rand(rng, 6), "w2": rand(rng, 4, 6)}, 13)


def test_nhwc_input_transpose_is_absorbed(tmp_path):
    """A TensorFlow-style export (N,H,W,C) -> Transpose -> NCHW body: accelsim's model takes NCHW
    data; its output on x equals onnxruntime's on x transposed to NHWC."""
    from accelsim.graph.inputs import declared_input_shape

    model = _nhwc_model()
    assert [n.op_type for n in absorb_input_transpose(model).graph.node][0] == "Conv"
    graph = import_model(model)
    assert graph.inputs == {"x": (1, 3, 8, 8)}
    x = rand(np.random.default_rng(3), 2, 3, 8, 8)
    assert close_to(run_graph(graph, {"x": x})["y"], ort_run(model, {"x": x.transpose(0, 2, 3, 1).copy()})[0])
    onnx.save(model, str(tmp_path / "nhwc.onnx"))
    assert declared_input_shape(tmp_path / "nhwc.onnx") == ("x", (None, 3, 8, 8))


def test_transpose_that_is_not_to_nchw_stays():
    model = build_model([H("Transpose", ["x"], ["t"], perm=[0, 1, 3, 2]), H("Relu", ["t"], ["y"])], (1, 3, 4, 5))
    assert absorb_input_transpose(model) is model


def test_shape_check_names_the_node():
    rng = np.random.default_rng(4)
    nodes = [H("Conv", ["x", "w"], ["c"], kernel_shape=[5, 5], name="big"), H("Relu", ["c"], ["y"])]
    model = build_model(nodes, (1, 3, 4, 4), {"w": rand(rng, 2, 3, 5, 5)})
    with pytest.raises(InputFileError, match=r"node 'big' \(conv\) cannot take its input of shape \(1, 3, 4, 4\): "
                                             r"its 5x5 window .* does not fit the padded 4x4 input"):
        import_model(model)
