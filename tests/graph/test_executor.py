"""Float executor against onnxruntime: the two shipped trained models on real images, one small
model per op type (built here with onnx.helper, seeded random weights), shape inference."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from accelsim.errors import InputFileError, UnsupportedOpError
from accelsim.graph.executor import execute_node, infer_shapes, pool_output_size, run_graph
from accelsim.graph.ir import Node
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
    with pytest.raises(UnsupportedOpError, match="op 'lstm' is not in the IR vocabulary"):
        execute_node(Node("n", "lstm", ["x"], ["y"]), [np.zeros(3, np.float32)])


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


# ---------------------------------------------------------------- one small model per op type

from onnx import helper  # noqa: E402

from .conftest import build_model, rand  # noqa: E402

H = helper.make_node


def _conv_case(rng, opset=17, cin=4, cout=6, k=(3, 3), hw=(9, 11), bias=True, **attrs):
    groups = attrs.get("group", 1)
    inits = {"W": rand(rng, cout, cin // groups, *k)}
    ins = ["x", "W"]
    if bias:
        inits["B"] = rand(rng, cout)
        ins.append("B")
    node = H("Conv", ins, ["y"], **attrs)
    return build_model([node], (2, cin) + hw, inits, opset), rand(rng, 2, cin, *hw)


def _pool_case(rng, op, opset=17, hw=(9, 10), **attrs):
    return build_model([H(op, ["x"], ["y"], **attrs)], (2, 3) + hw, {}, opset), rand(rng, 2, 3, *hw)


def _unary_case(rng, op, opset=17, **attrs):
    return build_model([H(op, ["x"], ["y"], **attrs)], (2, 3, 5, 5), {}, opset), rand(rng, 2, 3, 5, 5, scale=4.0)


def _gemm_case(rng, opset=17, trans_b=1, alpha=1.0, beta=1.0, c_shape=(5,)):
    w = rand(rng, 5, 7) if trans_b else rand(rng, 7, 5)
    node = H("Gemm", ["x", "W", "C"], ["y"], transB=trans_b, alpha=alpha, beta=beta)
    model = build_model([node], (3, 7), {"W": w, "C": rand(rng, *c_shape)}, opset)
    return model, rand(rng, 3, 7)


def _matmul_add_case(rng, opset=17):
    nodes = [H("MatMul", ["x", "W"], ["m"]), H("Add", ["m", "B"], ["y"])]
    return build_model(nodes, (3, 7), {"W": rand(rng, 7, 4), "B": rand(rng, 4)}, opset), rand(rng, 3, 7)


def _bn_inits(rng, c):
    return {"s": rand(rng, c), "b": rand(rng, c), "m": rand(rng, c),
            "v": (np.abs(rand(rng, c)) + 0.5).astype(np.float32)}


def _bn_after_conv_case(rng, opset=17):
    inits = {"W": rand(rng, 5, 3, 3, 3), "B": rand(rng, 5), **_bn_inits(rng, 5)}
    nodes = [H("Conv", ["x", "W", "B"], ["c"], pads=[1, 1, 1, 1]),
             H("BatchNormalization", ["c", "s", "b", "m", "v"], ["y"], epsilon=1e-3)]
    return build_model(nodes, (2, 3, 6, 6), inits, opset), rand(rng, 2, 3, 6, 6)


def _bn_alone_case(rng, opset=17):
    nodes = [H("Relu", ["x"], ["r"]), H("BatchNormalization", ["r", "s", "b", "m", "v"], ["y"])]
    return build_model(nodes, (2, 4, 5, 5), _bn_inits(rng, 4), opset), rand(rng, 2, 4, 5, 5)


def _bn_shared_conv_case(rng, opset=17):
    """The conv output feeds the BN and an Add: the BN cannot be folded."""
    inits = {"W": rand(rng, 3, 3, 1, 1), **_bn_inits(rng, 3)}
    nodes = [H("Conv", ["x", "W"], ["c"]), H("BatchNormalization", ["c", "s", "b", "m", "v"], ["n"]),
             H("Add", ["c", "n"], ["y"])]
    return build_model(nodes, (2, 3, 4, 4), inits, opset), rand(rng, 2, 3, 4, 4)


def _clip11_case(rng, opset=11, lo=-0.5, hi=1.5):
    ins = ["x", "lo" if lo is not None else "", "hi" if hi is not None else ""]
    inits = {}
    if lo is not None:
        inits["lo"] = np.array(lo, np.float32)
    if hi is not None:
        inits["hi"] = np.array(hi, np.float32)
    while ins[-1] == "":
        ins.pop()
    return build_model([H("Clip", ins, ["y"])], (2, 3, 4, 4), inits, opset), rand(rng, 2, 3, 4, 4, scale=3.0)


def _se_case(rng, opset=17):
    """Squeeze-and-excitation: x * hard_sigmoid(conv(relu(conv(gap(x)))))."""
    inits = {"W1": rand(rng, 2, 8, 1, 1), "B1": rand(rng, 2), "W2": rand(rng, 8, 2, 1, 1), "B2": rand(rng, 8)}
    nodes = [H("GlobalAveragePool", ["x"], ["g"]), H("Conv", ["g", "W1", "B1"], ["a"]), H("Relu", ["a"], ["r"]),
             H("Conv", ["r", "W2", "B2"], ["b"]), H("Sigmoid", ["b"], ["s"]), H("Mul", ["x", "s"], ["y"])]
    return build_model(nodes, (2, 8, 5, 5), inits, opset), rand(rng, 2, 8, 5, 5)


def _residual_concat_case(rng, opset=17):
    inits = {"W": rand(rng, 4, 4, 3, 3)}
    nodes = [H("Conv", ["x", "W"], ["c"], pads=[1, 1, 1, 1]), H("Add", ["x", "c"], ["a"]),
             H("Concat", ["a", "x", "c"], ["y"], axis=1)]
    return build_model(nodes, (2, 4, 6, 6), inits, opset), rand(rng, 2, 4, 6, 6)


def _reduce_mean_case(rng, opset, keepdims=1):
    if opset >= 18:
        node = H("ReduceMean", ["x", "axes"], ["y"], keepdims=keepdims)
        inits = {"axes": np.array([-1, -2], np.int64)}
    else:
        node = H("ReduceMean", ["x"], ["y"], axes=[2, 3], keepdims=keepdims)
        inits = {}
    return build_model([node], (2, 5, 4, 6), inits, opset), rand(rng, 2, 5, 4, 6)


def _flatten_reshape_case(rng, opset=17):
    inits = {"shape": np.array([0, -1, 4], np.int64)}
    nodes = [H("Flatten", ["x"], ["f"], axis=2), H("Reshape", ["x", "shape"], ["r"]),
             H("Relu", ["r"], ["y"])]
    model = build_model(nodes, (2, 3, 4, 6), inits, opset, outputs=("f", "y"))
    return model, rand(rng, 2, 3, 4, 6)


def _torch_flatten_case(rng, opset=11):
    """PyTorch's x.view(x.size(0), -1): Shape -> Gather -> Unsqueeze -> Concat -> Reshape, then a Gemm."""
    axes = dict(axes=[0]) if opset < 13 else {}
    uins = ["n"] if opset < 13 else ["n", "ax"]
    inits = {"idx": np.array(0, np.int64), "minus1": np.array([-1], np.int64), "W": rand(rng, 3, 40),
             "B": rand(rng, 3)}
    if opset >= 13:
        inits["ax"] = np.array([0], np.int64)
    nodes = [H("Shape", ["x"], ["s"]), H("Gather", ["s", "idx"], ["n"], axis=0),
             H("Unsqueeze", uins, ["nu"], **axes), H("Concat", ["nu", "minus1"], ["shp"], axis=0),
             H("Reshape", ["x", "shp"], ["f"]), H("Gemm", ["f", "W", "B"], ["y"], transB=1)]
    return build_model(nodes, (2, 10, 2, 2), inits, opset), rand(rng, 2, 10, 2, 2)


def _softmax_case(rng, opset, axis, shape=(2, 3, 4, 5)):
    return build_model([H("Softmax", ["x"], ["y"], axis=axis)], shape, {}, opset), rand(rng, *shape, scale=3.0)


def _pad_case(rng, opset, value=0.0, then_conv=True, axes=False):
    inits = {"W": rand(rng, 2, 3, 3, 3)}
    if opset < 11:
        pad = H("Pad", ["x"], ["p"], pads=[0, 0, 1, 2, 0, 0, 2, 1], value=value)
    else:
        if axes:
            inits["pads"] = np.array([1, 2, 2, 1], np.int64)
            inits["axes"] = np.array([2, 3], np.int64)
        else:
            inits["pads"] = np.array([0, 0, 1, 2, 0, 0, 2, 1], np.int64)
        inits["val"] = np.array(value, np.float32)
        pad = H("Pad", ["x", "pads", "val"] + (["axes"] if axes else []), ["p"], mode="constant")
    nodes = [pad, H("Conv", ["p", "W"], ["y"])] if then_conv else [pad, H("Relu", ["p"], ["y"])]
    if not then_conv:
        del inits["W"]
    return build_model(nodes, (2, 3, 5, 6), inits, opset), rand(rng, 2, 3, 5, 6)


def _identity_dropout_constant_case(rng, opset=17):
    c = helper.make_tensor("cval", 1, [1, 3, 1, 1], rand(rng, 3).tolist())
    nodes = [H("Identity", ["x"], ["i"]), H("Dropout", ["i"], ["d"]), H("Constant", [], ["k"], value=c),
             H("Mul", ["d", "k"], ["m"]), H("Sub", ["m", "sub"], ["s"]), H("Div", ["s", "div"], ["y"])]
    inits = {"sub": rand(rng, 3, 1, 1), "div": (np.abs(rand(rng, 1)) + 0.5).astype(np.float32)}
    return build_model(nodes, (2, 3, 4, 4), inits, opset), rand(rng, 2, 3, 4, 4)


def _squeeze_case(rng, opset):
    """GAP -> Squeeze (axes as attr before opset 13, as input from 13; none = all size-1 dims) -> Gemm,
    Unsqueeze back, Cast to float."""
    inits = {"W": rand(rng, 4, 6), "B": rand(rng, 4)}
    if opset >= 13:
        inits["ax"] = np.array([2, 3], np.int64)
        sq = [H("Squeeze", ["g", "ax"], ["s"]), H("Unsqueeze", ["q", "ax"], ["u"])]
    else:
        sq = [H("Squeeze", ["g"], ["s"]), H("Unsqueeze", ["q"], ["u"], axes=[2, 3])]
    nodes = [H("GlobalAveragePool", ["x"], ["g"]), sq[0], H("Gemm", ["s", "W", "B"], ["q"], transB=1), sq[1],
             H("Cast", ["u"], ["y"], to=1)]
    return build_model(nodes, (2, 6, 3, 3), inits, opset), rand(rng, 2, 6, 3, 3)


def _bn_after_gemm_case(rng, opset=17):
    inits = {"W": rand(rng, 6, 5), "B": rand(rng, 6), **_bn_inits(rng, 6)}
    nodes = [H("Gemm", ["x", "W", "B"], ["g"], transB=1), H("BatchNormalization", ["g", "s", "b", "m", "v"], ["y"])]
    return build_model(nodes, (4, 5), inits, opset), rand(rng, 4, 5)


CASES = {
    "bn_after_gemm_folded": _bn_after_gemm_case,
    "squeeze_unsqueeze_cast_opset11": lambda r: _squeeze_case(r, 11),
    "squeeze_unsqueeze_cast_opset17": lambda r: _squeeze_case(r, 17),
    "conv_pads_bias_opset11": lambda r: _conv_case(r, 11, pads=[1, 1, 1, 1]),
    "conv_pads_bias_opset17": lambda r: _conv_case(r, 17, pads=[1, 0, 2, 1]),
    "conv_stride_dilation": lambda r: _conv_case(r, 17, bias=False, strides=[2, 3], dilations=[2, 2], pads=[2, 1, 0, 2]),
    "conv_1x1_rect_kernel": lambda r: _conv_case(r, 17, k=(1, 3), strides=[1, 2]),
    "conv_groups2": lambda r: _conv_case(r, 17, cin=4, cout=6, group=2, pads=[1, 1, 1, 1]),
    "conv_depthwise": lambda r: _conv_case(r, 17, cin=5, cout=5, group=5, pads=[1, 1, 1, 1], strides=[2, 2]),
    "conv_depthwise_multiplier2": lambda r: _conv_case(r, 17, cin=3, cout=6, group=3, dilations=[2, 1]),
    "conv_same_upper_stride2": lambda r: _conv_case(r, 17, k=(4, 3), auto_pad="SAME_UPPER", strides=[2, 2]),
    "conv_same_lower_stride2": lambda r: _conv_case(r, 17, k=(4, 2), auto_pad="SAME_LOWER", strides=[2, 2]),
    "conv_valid": lambda r: _conv_case(r, 11, auto_pad="VALID", strides=[2, 1]),
    "gemm_transB": lambda r: _gemm_case(r, 17, trans_b=1),
    "gemm_alpha_beta_noTrans_opset11": lambda r: _gemm_case(r, 11, trans_b=0, alpha=0.5, beta=2.0, c_shape=(1, 5)),
    "matmul_add": _matmul_add_case,
    "bn_after_conv_folded": _bn_after_conv_case,
    "bn_alone": _bn_alone_case,
    "bn_conv_output_shared": _bn_shared_conv_case,
    "relu": lambda r: _unary_case(r, "Relu"),
    "clip_opset10_attrs": lambda r: (build_model([H("Clip", ["x"], ["y"], min=0.0, max=6.0)], (2, 3, 4, 4), {}, 10),
                                     rand(r, 2, 3, 4, 4, scale=5.0)),
    "clip_opset11_inputs": _clip11_case,
    "clip_relu6_opset13": lambda r: _clip11_case(r, 13, 0.0, 6.0),
    "clip_min_only": lambda r: _clip11_case(r, 17, -1.0, None),
    "leaky_relu": lambda r: _unary_case(r, "LeakyRelu", alpha=0.1),
    "sigmoid": lambda r: _unary_case(r, "Sigmoid"),
    "hard_sigmoid": lambda r: _unary_case(r, "HardSigmoid", alpha=0.3, beta=0.4),
    "hard_swish": lambda r: _unary_case(r, "HardSwish", opset=14),
    "se_gate_mul": _se_case,
    "add_concat": _residual_concat_case,
    "maxpool_basic": lambda r: _pool_case(r, "MaxPool", kernel_shape=[2, 2], strides=[2, 2]),
    "maxpool_pads_ceil": lambda r: _pool_case(r, "MaxPool", kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1],
                                              ceil_mode=1),
    "maxpool_dilation_opset11": lambda r: _pool_case(r, "MaxPool", 11, kernel_shape=[2, 3], dilations=[2, 1],
                                                     strides=[1, 2]),
    "maxpool_same_upper": lambda r: _pool_case(r, "MaxPool", kernel_shape=[3, 3], strides=[2, 2],
                                               auto_pad="SAME_UPPER"),
    "avgpool_exclude_pad": lambda r: _pool_case(r, "AveragePool", kernel_shape=[3, 3], strides=[2, 2],
                                                pads=[1, 1, 1, 1]),
    "avgpool_include_pad": lambda r: _pool_case(r, "AveragePool", kernel_shape=[3, 3], strides=[2, 2],
                                                pads=[1, 0, 1, 2], count_include_pad=1),
    "avgpool_ceil_include_pad": lambda r: _pool_case(r, "AveragePool", kernel_shape=[2, 2], strides=[2, 2],
                                                     pads=[0, 1, 0, 1], ceil_mode=1, count_include_pad=1,
                                                     hw=(7, 9)),
    "avgpool_ceil_exclude_pad_opset11": lambda r: _pool_case(r, "AveragePool", 11, kernel_shape=[3, 2],
                                                             strides=[2, 3], ceil_mode=1, hw=(8, 8)),
    "global_avgpool": lambda r: _pool_case(r, "GlobalAveragePool"),
    "reduce_mean_opset13": lambda r: _reduce_mean_case(r, 13),
    "reduce_mean_opset18_axes_input": lambda r: _reduce_mean_case(r, 18),
    "reduce_mean_keepdims0": lambda r: _reduce_mean_case(r, 17, keepdims=0),
    "flatten_reshape": _flatten_reshape_case,
    "torch_flatten_opset11": lambda r: _torch_flatten_case(r, 11),
    "torch_flatten_opset17": lambda r: _torch_flatten_case(r, 17),
    "softmax_opset13_axis1": lambda r: _softmax_case(r, 13, 1),
    "softmax_opset11_axis1_4d": lambda r: _softmax_case(r, 11, 1),
    "softmax_opset11_2d": lambda r: _softmax_case(r, 11, 1, shape=(3, 10)),
    "pad_zero_folded_opset11": lambda r: _pad_case(r, 11),
    "pad_nonzero_value_opset17": lambda r: _pad_case(r, 17, value=0.7),
    "pad_opset18_axes": lambda r: _pad_case(r, 18, axes=True),
    "pad_opset10_attrs": lambda r: _pad_case(r, 10, value=-1.0, then_conv=False),
    "identity_dropout_constant_sub_div": _identity_dropout_constant_case,
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_small_model_matches_ort(case):
    rng = np.random.default_rng(sum(map(ord, case)))
    model, x = CASES[case](rng)
    graph = import_model(model, source=case)
    got = run_graph(graph, {"x": x})
    refs = ort_run(model, {"x": x})
    shapes = infer_shapes(graph, {"x": x.shape})
    for name, ref in zip([o.name for o in model.graph.output], refs):
        assert got[name].shape == ref.shape == shapes[name], name
        assert close_to(got[name], ref), (name, float(np.abs(got[name] - ref).max()), float(np.abs(ref).max()))


@pytest.mark.parametrize("case", ["torch_flatten_opset11", "conv_depthwise", "flatten_reshape", "softmax_opset11_axis1_4d",
                                  "squeeze_unsqueeze_cast_opset11", "squeeze_unsqueeze_cast_opset17"])
def test_graph_imported_at_batch1_runs_at_other_batch_sizes(case):
    rng = np.random.default_rng(7)
    model, x = CASES[case](rng)
    graph = import_model(model)  # symbolic N -> imported at batch 1
    assert next(iter(graph.inputs.values()))[0] == 1
    x5 = np.concatenate([x, x, x[:1]])
    got = run_graph(graph, {"x": x5})
    refs = ort_run(model, {"x": x5})
    for name, ref in zip([o.name for o in model.graph.output], refs):
        assert close_to(got[name], ref)


@pytest.mark.parametrize("case", ["conv_pads_bias_opset17", "conv_groups2", "conv_stride_dilation"])
def test_conv_chunked_im2col_matches_ort(case, monkeypatch):
    """A tiny column buffer forces one image per chunk: results must not depend on the chunking."""
    import accelsim.graph.executor as executor

    monkeypatch.setattr(executor, "COLS_BYTES", 1)
    rng = np.random.default_rng(5)
    model, x = CASES[case](rng)
    x = np.concatenate([x, x[::-1], x[:1]])  # batch 5
    got = run_graph(import_model(model), {"x": x})["y"]
    (ref,) = ort_run(model, {"x": x})
    assert close_to(got, ref)


def test_hand_worked_conv_and_pools():
    """Tiny cases worked by hand (no onnxruntime): 3x3 input 1..9."""
    x = np.arange(1, 10, dtype=np.float32).reshape(1, 1, 3, 3)
    w = np.ones((1, 1, 2, 2), np.float32)
    conv = Node("c", "conv", ["x", "w"], ["y"], dict(kernel=(2, 2), stride=(1, 1), padding=(0, 0, 0, 0),
                                                    dilation=(1, 1), groups=1))
    assert execute_node(conv, [x, w])[0].reshape(-1).tolist() == [12, 16, 24, 28]
    # max pool 2x2/2 with ceil_mode: windows {1,2,4,5} {3,6} {7,8} {9}
    mp = Node("m", "maxpool", ["x"], ["y"], dict(kernel=(2, 2), stride=(2, 2), ceil_mode=True))
    assert execute_node(mp, [x])[0].reshape(-1).tolist() == [5, 6, 8, 9]
    # average pool 2x2/2, pad 1 all round, count_include_pad=0: {1} {2,3} {4,7} {5,6,8,9}
    ap = Node("a", "avgpool", ["x"], ["y"], dict(kernel=(2, 2), stride=(2, 2), padding=(1, 1, 1, 1)))
    assert execute_node(ap, [x])[0].reshape(-1).tolist() == [1.0, 2.5, 5.5, 7.0]
    ap.attrs["count_include_pad"] = True  # divide by 4 always
    assert execute_node(ap, [x])[0].reshape(-1).tolist() == [0.25, 1.25, 2.75, 7.0]


def test_activations_at_extremes_are_finite_and_exact():
    """Far tails: sigmoid 0/1 without overflow warnings, softmax of huge logits, hard_swish knees."""
    import warnings

    x = np.array([[-1e4, -20.0, -3.0, 0.0, 3.0, 20.0, 1e4]], np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sig = execute_node(Node("s", "sigmoid", ["x"], ["y"]), [x])[0]
        soft = execute_node(Node("m", "softmax", ["x"], ["y"], {"axis": 1}), [x])[0]
    ref = 1.0 / (1.0 + np.exp(-np.clip(x.astype(np.float64), -700, 700)))
    assert np.allclose(sig, ref, atol=1e-7, rtol=1e-6)
    assert soft[0, -1] == pytest.approx(1.0) and np.isfinite(soft).all()
    hs = execute_node(Node("h", "hard_swish", ["x"], ["y"]), [x])[0]
    assert hs.tolist() == [[0.0, 0.0, 0.0, 0.0, 3.0, 20.0, 1e4]]  # x * clip(x/6 + 1/2, 0, 1)


# ------------------------------------------------------------ random geometries (hypothesis)

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@st.composite
def _window(draw, pool: bool):
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    dh, dw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    pmax = (kh - 1, kw - 1) if pool else (3, 3)  # onnxruntime wants pool pads < kernel
    pads = [draw(st.integers(0, pmax[0])), draw(st.integers(0, pmax[1])),
            draw(st.integers(0, pmax[0])), draw(st.integers(0, pmax[1]))]
    h = draw(st.integers((kh - 1) * dh + 1, 12))
    w = draw(st.integers((kw - 1) * dw + 1, 12))
    return dict(kernel_shape=[kh, kw], strides=[sh, sw], dilations=[dh, dw], pads=pads), (h, w)


@settings(max_examples=25, deadline=None)
@given(geo=_window(pool=False), groups=st.sampled_from([1, 2, 3]), cg=st.integers(1, 3), og=st.integers(1, 3),
       seed=st.integers(0, 2**31 - 1))
def test_random_conv_geometry_matches_ort(geo, groups, cg, og, seed):
    attrs, (h, w) = geo
    rng = np.random.default_rng(seed)
    cin, cout = groups * cg, groups * og
    inits = {"W": rand(rng, cout, cg, *attrs["kernel_shape"]), "B": rand(rng, cout)}
    model = build_model([H("Conv", ["x", "W", "B"], ["y"], group=groups, **attrs)], (2, cin, h, w), inits, 17)
    x = rand(rng, 2, cin, h, w)
    got = run_graph(import_model(model), {"x": x})["y"]
    (ref,) = ort_run(model, {"x": x})
    assert close_to(got, ref)


@settings(max_examples=25, deadline=None)
@given(geo=_window(pool=True), op=st.sampled_from(["MaxPool", "AveragePool"]), ceil=st.booleans(),
       include=st.booleans(), seed=st.integers(0, 2**31 - 1))
def test_random_pool_geometry_matches_ort(geo, op, ceil, include, seed):
    attrs, (h, w) = geo
    if op == "AveragePool":
        attrs = dict(attrs, count_include_pad=int(include))
    rng = np.random.default_rng(seed)
    model = build_model([H(op, ["x"], ["y"], ceil_mode=int(ceil), **attrs)], (2, 3, h, w), {}, 19 if op == "AveragePool" else 17)
    x = rand(rng, 2, 3, h, w)
    got = run_graph(import_model(model), {"x": x})["y"]
    (ref,) = ort_run(model, {"x": x})
    assert close_to(got, ref), (attrs, ceil)
