"""ONNX importer: what the IR looks like after import (folds, resolved pads and shapes) and the
one-line errors a user can cause. Numerical agreement with onnxruntime is in test_executor.py."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper

from accelsim.errors import InputFileError, UnsupportedOpError
from accelsim.graph.onnx_import import SUPPORTED_ONNX_OPS, import_model, load_onnx

from .conftest import MODELS, build_model, rand
from .test_executor import CASES

H = helper.make_node


def _ops(graph):
    return [n.op for n in graph.nodes]


def test_shipped_models_import_to_expected_ir():
    mnist = load_onnx(MODELS / "ccexam_mnist_cnn.onnx")
    assert _ops(mnist) == ["conv", "relu", "maxpool", "conv", "relu", "maxpool", "flatten", "gemm", "relu", "gemm"]
    assert mnist.inputs == {"input": (1, 1, 28, 28)} and mnist.outputs == ["logits"]
    assert all(v.dtype == np.float32 for v in mnist.params.values())
    svhn = load_onnx(MODELS / "ccexam_svhn_cnn.onnx", input_shape=(8, 3, 32, 32))
    assert svhn.inputs == {"input": (8, 3, 32, 32)}
    assert _ops(svhn).count("conv") == 6 and "batchnorm" not in _ops(svhn)
    conv = svhn.nodes[0]
    assert conv.attrs == dict(kernel=(3, 3), stride=(1, 1), padding=(1, 1, 1, 1), dilation=(1, 1), groups=1)
    assert len(conv.inputs) == 3  # folded BN gives a bias


def test_bn_fold_formula_by_hand():
    """Hand-worked: 1 channel, W=2, b=1; BN scale 3, B 0.5, mean 1, var 3, eps 1 -> s = 3/2."""
    inits = {"W": np.full((1, 1, 1, 1), 2.0, np.float32), "B": np.array([1.0], np.float32),
             "s": np.array([3.0], np.float32), "b": np.array([0.5], np.float32),
             "m": np.array([1.0], np.float32), "v": np.array([3.0], np.float32)}
    nodes = [H("Conv", ["x", "W", "B"], ["c"]), H("BatchNormalization", ["c", "s", "b", "m", "v"], ["y"], epsilon=1.0)]
    graph = import_model(build_model(nodes, (1, 1, 2, 2), inits))
    (conv,) = graph.nodes
    assert conv.op == "conv" and conv.outputs == ["y"]
    assert graph.params[conv.inputs[1]].item() == pytest.approx(3.0)  # 2 * 1.5
    assert graph.params[conv.inputs[2]].item() == pytest.approx(0.5)  # (1 - 1) * 1.5 + 0.5


def test_bn_not_folded_when_conv_output_is_shared():
    model, _ = CASES["bn_conv_output_shared"](np.random.default_rng(0))
    assert _ops(import_model(model)) == ["conv", "batchnorm", "add"]


def test_auto_pad_resolved_to_explicit_pads():
    # SAME_UPPER, in 9, k 4, s 2: out 5, total pad (5-1)*2+4-9 = 3 -> (1, 2); SAME_LOWER puts the odd one first
    model, _ = CASES["conv_same_upper_stride2"](np.random.default_rng(0))
    assert import_model(model).nodes[0].attrs["padding"][::2] == (1, 2)
    model, _ = CASES["conv_same_lower_stride2"](np.random.default_rng(0))
    assert import_model(model).nodes[0].attrs["padding"][::2] == (2, 1)


def test_zero_pad_folded_into_conv_nonzero_kept():
    model, _ = CASES["pad_zero_folded_opset11"](np.random.default_rng(0))
    graph = import_model(model)
    assert _ops(graph) == ["conv"] and graph.nodes[0].attrs["padding"] == (1, 2, 2, 1)
    model, _ = CASES["pad_nonzero_value_opset17"](np.random.default_rng(0))
    graph = import_model(model)
    assert _ops(graph) == ["pad", "conv"] and graph.nodes[0].attrs["value"] == pytest.approx(0.7)


def test_matmul_add_becomes_one_gemm():
    model, _ = CASES["matmul_add"](np.random.default_rng(0))
    graph = import_model(model)
    assert _ops(graph) == ["gemm"] and len(graph.nodes[0].inputs) == 3
    assert graph.params[graph.nodes[0].inputs[1]].shape == (4, 7)


def test_torch_flatten_chain_folds_to_batch_free_reshape():
    model, _ = CASES["torch_flatten_opset11"](np.random.default_rng(0))
    graph = import_model(model)
    assert _ops(graph) == ["reshape", "gemm"]
    assert graph.nodes[0].attrs["shape"] == (-1, 40)


def test_identity_dropout_removed_constants_become_params():
    model, _ = CASES["identity_dropout_constant_sub_div"](np.random.default_rng(0))
    graph = import_model(model)
    # ((x * k) - sub) / div merges into one per-channel affine x * w + b (values checked against ORT
    # in test_executor); w = k / div, b = -sub / div by hand
    assert _ops(graph) == ["affine"] and graph.nodes[0].inputs[0] == "x"
    init = {i.name: i for i in model.graph.initializer}
    from onnx import numpy_helper
    k = numpy_helper.to_array(model.graph.node[2].attribute[0].t).reshape(3)
    sub, div = (numpy_helper.to_array(init[n]) for n in ("sub", "div"))
    w, b = (graph.params[n] for n in graph.nodes[0].inputs[1:])
    assert w.shape == (3, 1, 1) and b.shape == (3, 1, 1)
    np.testing.assert_allclose(w.reshape(3), k / div[0], rtol=1e-6)
    np.testing.assert_allclose(b.reshape(3), -sub.reshape(3) / div[0], rtol=1e-6)


def test_relu6_clip_attrs():
    model, _ = CASES["clip_relu6_opset13"](np.random.default_rng(0))
    assert import_model(model).nodes[0].attrs == {"min": 0.0, "max": 6.0}
    model, _ = CASES["clip_min_only"](np.random.default_rng(0))
    assert import_model(model).nodes[0].attrs == {"min": -1.0, "max": None}


# ------------------------------------------------------------------------------------- errors


def test_unsupported_op_names_first_node_and_lists_every_unsupported_type_up_front():
    nodes = [H("Relu", ["x"], ["r"], name="act"), H("Det", ["r"], ["d"], name="my_det"),
             H("Conv", ["d", "w"], ["c"], name="c"), H("Hardmax", ["c"], ["y"], name="hm")]
    model = build_model([H("Relu", ["x"], ["y"])], (1, 3, 4, 4))
    model.graph.ClearField("node")
    model.graph.node.extend(nodes)  # not checker-valid on purpose: the check runs before any translation
    with pytest.raises(UnsupportedOpError, match=r"node 'my_det' \(Det\): op type 'Det' is not supported; "
                                                 r"unsupported op types in this model: Det, Hardmax "
                                                 r"\(supported: .*Conv.*\)"):
        import_model(model)
    assert "Conv" in SUPPORTED_ONNX_OPS and "BatchNormalization" in SUPPORTED_ONNX_OPS


@pytest.mark.parametrize("op,why", [("LayerNormalization", "layer normalization"), ("Einsum", "Einsum"),
                                    ("LSTM", "recurrent")])
def test_out_of_scope_ops_say_so(op, why):
    model = build_model([H("Relu", ["x"], ["y"])], (1, 3, 4, 4))
    model.graph.node.insert(0, H(op, ["x"], ["z"], name="n1"))
    with pytest.raises(UnsupportedOpError, match=rf"node 'n1' \({op}\): .*{why}.* outside accelsim's CNN scope"):
        import_model(model)


def test_unknown_pad_mode_rejected():
    inits = {"pads": np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64)}
    model = build_model([H("Pad", ["x", "pads"], ["y"], mode="wrap", name="p")], (1, 3, 4, 4), inits, 19)
    with pytest.raises(UnsupportedOpError, match=r"node 'p' \(Pad\): Pad mode 'wrap' is not supported "
                                                 r"\(valid: 'constant', 'reflect', 'edge'\)"):
        import_model(model)


def test_attention_matmul_rejected_as_out_of_scope():
    nodes = [H("Transpose", ["x"], ["xt"], perm=[0, 2, 1]), H("MatMul", ["x", "xt"], ["y"], name="qk")]
    model = build_model(nodes, (1, 3, 4))
    with pytest.raises(UnsupportedOpError, match=r"node 'qk' \(MatMul\): MatMul of two computed tensors "
                                                 r"\(as in attention\) is outside accelsim's CNN scope"):
        import_model(model)


def test_non_constant_conv_weight_rejected():
    nodes = [H("Relu", ["x"], ["w"]), H("Conv", ["x", "w"], ["y"], name="c")]
    model = build_model(nodes, (1, 1, 4, 4), {}, 17)
    with pytest.raises(UnsupportedOpError, match=r"node 'c' \(Conv\): weight 'w' must be a constant"):
        import_model(model)


def test_reduce_mean_over_channels_rejected():
    model = build_model([H("ReduceMean", ["x"], ["y"], axes=[1], name="rm")], (1, 3, 4, 4), {}, 13)
    with pytest.raises(UnsupportedOpError, match=r"ReduceMean over axes \[1\].*valid: axes \[2, 3\]"):
        import_model(model)


def _dynamic_hw_model():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, "H", "W"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3, "H", "W"])
    g = helper.make_graph([H("Relu", ["x"], ["y"])], "dyn", [x], [y])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def test_dynamic_shape_needs_input_shape():
    with pytest.raises(InputFileError, match=r"input 'x' has a dynamic shape \(\?, 3, \?, \?\); give its full "
                                             r"shape \(--input-shape N,C,H,W"):
        import_model(_dynamic_hw_model())
    graph = import_model(_dynamic_hw_model(), input_shape=(2, 3, 5, 7))
    assert graph.inputs == {"x": (2, 3, 5, 7)}
    with pytest.raises(InputFileError, match=r"input_shape \(2, 4, 5, 7\) for input 'x' contradicts the model's"):
        import_model(_dynamic_hw_model(), input_shape=(2, 4, 5, 7))


def test_missing_corrupt_and_truncated_files(tmp_path):
    with pytest.raises(InputFileError, match="nothere.onnx: ONNX model file not found"):
        load_onnx(tmp_path / "nothere.onnx")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8)))
    with pytest.raises(InputFileError, match="junk.onnx: "):
        load_onnx(junk)
    cut = tmp_path / "cut.onnx"
    cut.write_bytes((MODELS / "ccexam_svhn_cnn.onnx").read_bytes()[:50_000])
    with pytest.raises(InputFileError, match=r"cut.onnx: .*(corrupt or truncated|onnx.checker)"):
        load_onnx(cut)
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    with pytest.raises(InputFileError, match="empty.onnx: .*no nodes"):
        load_onnx(empty)


def test_checker_failure_is_input_file_error(tmp_path):
    model = build_model([H("Relu", ["x"], ["y"])], (1, 3, 4, 4))
    model.graph.node[0].input[0] = "undefined_tensor"
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(model.SerializeToString())
    with pytest.raises(InputFileError, match="bad.onnx: ONNX model fails onnx.checker"):
        load_onnx(bad)


def test_old_opset_lifted_by_version_converter_or_refused(monkeypatch):
    import onnx

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 4, 4])
    inits = [onnx.numpy_helper.from_array(np.full(3, v, np.float32), n) for n, v in zip("sbmv", (2, 1, 0.5, 3))]
    bn = H("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"], is_test=1, epsilon=1.0)  # opset-6 form
    model = helper.make_model(helper.make_graph([bn], "g", [x], [y], inits), opset_imports=[helper.make_opsetid("", 6)])
    graph = import_model(model)
    assert _ops(graph) == ["batchnorm"]
    assert graph.params[graph.nodes[0].inputs[1]].tolist() == [1.0, 1.0, 1.0]  # 2 / sqrt(3 + 1)
    assert graph.params[graph.nodes[0].inputs[2]].tolist() == [0.5, 0.5, 0.5]  # 1 - 0.5 * 1

    def refuse(*args):
        raise RuntimeError("no adapter for op Foo")

    monkeypatch.setattr(onnx.version_converter, "convert_version", refuse)
    with pytest.raises(UnsupportedOpError, match=r"opset 6 is older than 7 and onnx.version_converter could not "
                                                 r"lift it to 11 \(no adapter for op Foo\); re-export"):
        import_model(model)


def test_gemm_with_transA_rejected():
    model = build_model([H("Gemm", ["x", "W"], ["y"], transA=1, name="g")], (7, 3), {"W": rand(np.random.default_rng(0), 7, 5)})
    with pytest.raises(UnsupportedOpError, match=r"node 'g' \(Gemm\): transA=1 is not supported"):
        import_model(model)


def test_bn_after_gemm_folded():
    model, _ = CASES["bn_after_gemm_folded"](np.random.default_rng(0))
    assert _ops(import_model(model)) == ["gemm"]


def test_more_refusals_name_the_node():
    rng = np.random.default_rng(0)
    model = build_model([H("Gemm", ["x", "W", "C"], ["y"], transB=1, name="g")], (3, 7),
                        {"W": rand(rng, 5, 7), "C": rand(rng, 3, 5)})
    with pytest.raises(UnsupportedOpError, match=r"node 'g' \(Gemm\): C of shape \(3, 5\) is not supported"):
        import_model(model)
    model = build_model([H("MatMul", ["x", "W"], ["y"], name="mm")], (2, 3, 3, 3, 7), {"W": rand(rng, 7, 4)})
    with pytest.raises(UnsupportedOpError, match=r"node 'mm' \(MatMul\): left operand of shape \(1, 3, 3, 3, 7\) "
                                                 r"is not supported \(valid: 2-D"):
        import_model(model)
    x_out = [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in ("y", "i")]
    g = helper.make_graph([H("MaxPool", ["x"], ["y", "i"], kernel_shape=[2, 2], name="mp")], "t",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 4, 4])], x_out)
    with pytest.raises(UnsupportedOpError, match=r"node 'mp' \(MaxPool\): the MaxPool Indices output is not supported"):
        import_model(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]))


def test_input_shape_as_mapping_and_unknown_name():
    graph = import_model(_dynamic_hw_model(), input_shape={"x": (1, 3, 8, 8)})
    assert graph.inputs == {"x": (1, 3, 8, 8)}
    with pytest.raises(InputFileError, match=r"input_shape names \['img'\], model inputs are \['x'\]"):
        import_model(_dynamic_hw_model(), input_shape={"img": (1, 3, 8, 8)})


@pytest.mark.parametrize("bad, counts", [(np.nan, "1 NaN and 0 Inf"), (np.inf, "0 NaN and 1 Inf")])
def test_nan_or_inf_weight_names_the_initializer(bad, counts):
    w = np.ones((2, 1, 3, 3), np.float32)
    w[1, 0, 2, 1] = bad  # flat index 9 + 6 + 1 = 16
    nodes = [H("Conv", ["x", "W", "B"], ["y"], name="conv_a")]
    model = build_model(nodes, (1, 1, 5, 5), {"W": w, "B": np.zeros(2, np.float32)})
    with pytest.raises(InputFileError, match=rf"initializer 'W' \(read by Conv node 'conv_a'\) of shape \(2, 1, 3, 3\) "
                                             rf"holds {counts} values \(first at flat index 16\)"):
        import_model(model)


def test_nan_bias_refused_but_infinite_clip_bound_accepted():
    nodes = [H("Conv", ["x", "W", "B"], ["y"])]
    model = build_model(nodes, (1, 1, 5, 5), {"W": np.ones((2, 1, 3, 3), np.float32),
                                              "B": np.array([0.0, np.nan], np.float32)})
    with pytest.raises(InputFileError, match=r"initializer 'B' .* holds 1 NaN and 0 Inf values"):
        import_model(model)
    clip = [H("Clip", ["x", "lo", "hi"], ["y"])]
    model = build_model(clip, (1, 1, 5, 5), {"lo": np.array(0.0, np.float32), "hi": np.array(np.inf, np.float32)})
    assert import_model(model).nodes[0].op == "clip"
