"""Every op family of issue 9 through the whole path, on small ONNX models built with onnx.helper:

import -> float executor vs onnxruntime (1e-4 relative) -> calibrate -> integer datapath equal to
the numpy int64 reference of the documented semantics (tests/quant/intref.py, written from the
descriptor docstring) layer by layer -> hardware simulation and energy count every layer.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from onnx import helper

from accelsim.config.hardware import HardwareConfig
from accelsim.config.simulation import SimulationConfig
from accelsim.datapath.executor import run_network
from accelsim.energy.model import price_network
from accelsim.energy.table import shipped_table
from accelsim.errors import UnsupportedOpError
from accelsim.graph.executor import run_graph
from accelsim.graph.onnx_import import import_model
from accelsim.hw.sim import simulate_network
from accelsim.layers.arith import quantize_tensor
from accelsim.quant.calibrate import calibrate
from tests.graph.conftest import build_model, close_to, ort_run
from tests.quant.intref import run_layer

H = helper.make_node


def _w(rng, *shape, scale=0.4):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def _conv(name, x, y, cin, cout, rng, inits, k=3, pad=1, bias=True):
    inits[name + "_w"] = _w(rng, cout, cin, k, k, scale=1.0 / math.sqrt(cin * k * k))
    ins = [x, name + "_w"]
    if bias:
        inits[name + "_b"] = _w(rng, cout, scale=0.1)
        ins.append(name + "_b")
    return H("Conv", ins, [y], pads=[pad] * 4, name=name)


def through_all(model, shape, rng, expect_ops=None):
    """Run the whole path; return (graph, net, timing) after checking every stage."""
    x_cal = rng.standard_normal((8,) + tuple(shape[1:])).astype(np.float32)
    x = rng.standard_normal((3,) + tuple(shape[1:])).astype(np.float32)
    graph = import_model(model)
    if expect_ops is not None:
        assert [n.op for n in graph.nodes] == expect_ops
    got = run_graph(graph, {"x": x})
    refs = ort_run(model, {"x": x})
    for name, ref in zip([o.name for o in model.graph.output], refs):
        assert close_to(got[name], ref), (name, float(np.abs(got[name] - ref).max()))
    net = calibrate(graph, x_cal)
    res = run_network(net, x, keep="all")
    t, s, bits = net.input_quant["x"]
    env = {"x": quantize_tensor(x, s, bits).reshape((3,) + tuple(net.layers[0].in_shape[1:]))}
    for layer in net.layers:
        ref = run_layer(net, layer, [env[i] for i in layer.inputs])
        assert np.array_equal(res.codes[layer.name].reshape(ref.shape), ref), layer.name
        env[layer.output] = ref
    # the quantized network still computes the float function (a sanity bound: 8 bits, thresholds
    # from 8 random images, the residual add's max-of-inputs threshold saturating)
    y_int = res.logits.reshape(3, -1)
    y_ref = refs[0].reshape(3, -1)
    assert np.abs(y_int - y_ref).max() <= 0.3 * np.abs(y_ref).max() + 1e-3
    hw = HardwareConfig()
    timing = simulate_network(net, hw, SimulationConfig())
    for layer, counts in zip(net.layers, timing.layers):
        if layer.op not in ("conv2d", "depthwise", "gemm", "reshape", "concat"):
            assert counts.vector_ops > 0, layer.name
    energy = price_network(timing.layers, net.layers, hw, shipped_table("45nm"))
    assert all(le.breakdown.vector >= 0 for le in energy.layers) if hasattr(energy, "layers") else True
    return graph, net, timing


def _ops(net):
    return [layer.op for layer in net.layers]


# ---------------------------------------------------------------------------------------- PRelu


@pytest.mark.parametrize("slope_shape", [(4, 1, 1), (1,), (1, 4, 1, 1)])
def test_prelu_per_channel_and_scalar(slope_shape):
    rng = np.random.default_rng(1)
    inits = {"slope": (rng.standard_normal(slope_shape) * 0.5).astype(np.float32)}
    nodes = [_conv("c1", "x", "a", 3, 4, rng, inits), H("PRelu", ["a", "slope"], ["p"], name="pr"),
             _conv("c2", "p", "y", 4, 2, rng, inits)]
    _, net, _ = through_all(build_model(nodes, (1, 3, 6, 6), inits), (1, 3, 6, 6), rng)
    assert _ops(net) == ["conv2d", "prelu", "conv2d"]
    assert net.tensors["pr.weight"].size == (1 if slope_shape == (1,) else 4)


def test_leaky_relu_is_a_prelu_layer_with_its_own_negative_requantization():
    rng = np.random.default_rng(2)
    inits = {}
    nodes = [_conv("c1", "x", "a", 3, 4, rng, inits), H("LeakyRelu", ["a"], ["l"], alpha=0.1, name="lk"),
             _conv("c2", "l", "y", 4, 2, rng, inits)]
    _, net, _ = through_all(build_model(nodes, (1, 3, 6, 6), inits), (1, 3, 6, 6), rng)
    assert _ops(net) == ["conv2d", "prelu", "conv2d"]
    # hand-worked: slope 0.1 coded at 8 bits is 127 with step 0.1/127; the negative-side
    # multiplier is s_in * (0.1/127) / s_out
    layer = net.layer("lk")
    q = layer.quant
    m_neg = q.in_steps[0] * (0.1 / 127) / q.out_step
    scale, pre, post = (int(net.tensors["lk." + k][0]) for k in ("scale", "pre_shift", "post_shift"))
    assert int(net.tensors["lk.weight"].reshape(-1)[0]) == 127
    assert scale * 2.0 ** -(pre + post) == pytest.approx(m_neg, rel=2 ** -7)


# ------------------------------------------------------------------------- constant arithmetic


def test_per_channel_constants_after_conv_fold_into_it():
    rng = np.random.default_rng(3)
    inits = {"k": _w(rng, 1, 4, 1, 1), "c": _w(rng, 4, 1, 1)}
    nodes = [_conv("c1", "x", "a", 3, 4, rng, inits), H("Mul", ["a", "k"], ["m"]), H("Sub", ["m", "c"], ["s"]),
             H("Relu", ["s"], ["y"])]
    graph, net, _ = through_all(build_model(nodes, (1, 3, 5, 5), inits), (1, 3, 5, 5), rng, ["conv", "relu"])
    assert _ops(net) == ["conv2d"] and net.layers[0].activation == "relu"


@pytest.mark.parametrize("const_shape,op", [((1,), "Mul"), ((4, 1, 1), "Add"), ((1, 4, 5, 5), "Add"),
                                            ((5,), "Mul"), ((), "Sub_rev"), ((4, 1, 1), "Div")])
def test_constant_operand_not_foldable_is_an_affine_layer(const_shape, op):
    rng = np.random.default_rng(4)
    c = _w(rng, *const_shape, scale=1.0) if const_shape else np.float32(0.7)
    if op == "Div":
        c = (np.abs(c) + 0.5).astype(np.float32)
    inits = {"k": np.asarray(c, np.float32)}
    onnx_op = "Sub" if op == "Sub_rev" else op
    ins = ["k", "r"] if op == "Sub_rev" else ["r", "k"]
    nodes = [_conv("c1", "x", "a", 3, 4, rng, inits), H("Relu", ["a"], ["ra"]),
             H("MaxPool", ["ra"], ["r"], kernel_shape=[1, 1]),  # keeps the relu out of an element-wise region
             H(onnx_op, ins, ["z"], name="ar"), _conv("c2", "z", "y", 4, 2, rng, inits)]
    _, net, _ = through_all(build_model(nodes, (1, 3, 5, 5), inits), (1, 3, 5, 5), rng)
    assert _ops(net) == ["conv2d", "maxpool", "affine", "conv2d"]


def test_constant_with_batch_dimension_is_refused_by_name():
    rng = np.random.default_rng(5)
    inits = {"k": _w(rng, 2, 4, 5, 5)}
    nodes = [_conv("c1", "x", "a", 3, 4, rng, inits), H("Add", ["a", "k"], ["y"], name="bad_add")]
    graph = import_model(build_model(nodes, (2, 3, 5, 5), inits, batch_param=False))
    with pytest.raises(UnsupportedOpError, match=r"node 'bad_add': add of the activation \(2, 4, 5, 5\) and a "
                                                 r"constant of shape \(2, 4, 5, 5\)"):
        calibrate(graph, rng.standard_normal((2, 3, 5, 5)).astype(np.float32))


def test_bad_broadcast_shape_is_one_line_naming_the_node():
    rng = np.random.default_rng(6)
    inits = {"k": _w(rng, 3, 1, 1)}
    nodes = [_conv("c1", "x", "a", 3, 4, rng, inits), H("Add", ["a", "k"], ["y"], name="bad_add")]
    model = build_model([H("Relu", ["x"], ["y"])], (1, 3, 5, 5), inits)
    model.graph.ClearField("node")
    model.graph.node.extend(nodes)
    for k, v in inits.items():
        if k != "k":
            from onnx import numpy_helper
            model.graph.initializer.append(numpy_helper.from_array(v, k))
    with pytest.raises(UnsupportedOpError, match=r"node 'bad_add': operand shapes \(1, 4, 5, 5\) and \(3, 1, 1\) "
                                                 r"do not broadcast"):
        import_model(model)


# --------------------------------------------------------------------- activation idioms as LUTs


def _idiom(kind):
    """(nodes from 'a' to 'f', extra initializers, expected function name)."""
    f3, f6, half, one, sq2 = (np.float32(v) for v in (3.0, 6.0, 0.5, 1.0, math.sqrt(2.0)))
    zero = np.float32(0.0)
    c = {"three": f3, "six": f6, "zero": zero, "half": half, "one": one, "sq2": sq2,
         "k": np.float32(math.sqrt(2 / math.pi)), "c3": np.float32(0.044715), "p3": np.float32(3.0)}
    if kind == "paddle_hard_swish":  # x * Clip(x + 3, 0, 6) / 6
        nodes = [H("Add", ["a", "three"], ["t"]), H("Clip", ["t", "zero", "six"], ["cl"]),
                 H("Mul", ["a", "cl"], ["m"]), H("Div", ["m", "six"], ["f"])]
        return nodes, c, "hard_swish"
    if kind == "hard_sigmoid_idiom":  # Relu6(x + 3) / 6
        nodes = [H("Add", ["a", "three"], ["t"]), H("Clip", ["t", "zero", "six"], ["cl"]),
                 H("Div", ["cl", "six"], ["f"])]
        return nodes, c, "hard_sigmoid"
    if kind == "silu":
        return [H("Sigmoid", ["a"], ["s"]), H("Mul", ["a", "s"], ["f"])], c, "silu"
    if kind == "mish":
        return [H("Softplus", ["a"], ["sp"]), H("Tanh", ["sp"], ["th"]), H("Mul", ["a", "th"], ["f"])], c, "mish"
    if kind == "gelu_erf":  # torch's export: x * 0.5 * (1 + erf(x / sqrt 2)) in its op order
        nodes = [H("Div", ["a", "sq2"], ["d"]), H("Erf", ["d"], ["e"]), H("Add", ["e", "one"], ["p"]),
                 H("Mul", ["a", "p"], ["m"]), H("Mul", ["m", "half"], ["f"])]
        return nodes, c, "gelu"
    if kind == "gelu_tanh":
        nodes = [H("Pow", ["a", "p3"], ["cu"]), H("Mul", ["cu", "c3"], ["cm"]), H("Add", ["a", "cm"], ["in"]),
                 H("Mul", ["in", "k"], ["ik"]), H("Tanh", ["ik"], ["th"]), H("Add", ["th", "one"], ["p"]),
                 H("Mul", ["a", "half"], ["ah"]), H("Mul", ["ah", "p"], ["f"])]
        return nodes, c, "gelu_tanh"
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["paddle_hard_swish", "hard_sigmoid_idiom", "silu", "mish", "gelu_erf", "gelu_tanh"])
def test_activation_idiom_is_one_lookup_table(kind):
    rng = np.random.default_rng(7)
    nodes, consts, name = _idiom(kind)
    inits = {k: np.asarray(v, np.float32) for k, v in consts.items()}
    nodes = [_conv("c1", "x", "a", 3, 4, rng, inits)] + nodes + [_conv("c2", "f", "y", 4, 2, rng, inits)]
    graph, net, _ = through_all(build_model(nodes, (1, 3, 6, 6), inits), (1, 3, 6, 6), rng,
                                ["conv", "elementwise", "conv"])
    assert graph.nodes[1].attrs["function"] == name
    assert _ops(net) == ["conv2d", "lut", "conv2d"] and net.layers[1].extra["function"] == name


@pytest.mark.parametrize("op,attrs", [("Tanh", {}), ("Softplus", {}), ("Elu", {"alpha": 0.7}), ("Selu", {}),
                                      ("HardSwish", {}), ("HardSigmoid", {"alpha": 0.25}), ("Erf", {}),
                                      ("Softsign", {}), ("Celu", {"alpha": 1.5}), ("Sigmoid", {})])
def test_native_activation_is_a_lookup_table(op, attrs):
    rng = np.random.default_rng(8)
    inits = {}
    nodes = [_conv("c1", "x", "a", 3, 4, rng, inits), H(op, ["a"], ["f"], **attrs),
             _conv("c2", "f", "y", 4, 2, rng, inits)]
    _, net, _ = through_all(build_model(nodes, (1, 3, 6, 6), inits, opset=17), (1, 3, 6, 6), rng)
    assert _ops(net) == ["conv2d", "lut", "conv2d"]


def test_squeeze_excitation_with_hard_sigmoid_gate():
    """MobileNet-V3's SE: ReduceMean -> Conv -> ReLU -> Conv -> HardSigmoid -> Mul(x, gate)."""
    rng = np.random.default_rng(9)
    inits = {"ax": np.array([2, 3], np.int64)}
    nodes = [_conv("c0", "x", "a", 3, 8, rng, inits), H("Relu", ["a"], ["r"]),
             H("ReduceMean", ["r", "ax"], ["g"], keepdims=1), _conv("se1", "g", "s1", 8, 4, rng, inits, k=1, pad=0),
             H("Relu", ["s1"], ["s1r"]), _conv("se2", "s1r", "s2", 4, 8, rng, inits, k=1, pad=0),
             H("HardSigmoid", ["s2"], ["gate"], alpha=1 / 6), H("Mul", ["r", "gate"], ["m"]),
             _conv("c3", "m", "y", 8, 2, rng, inits)]
    _, net, _ = through_all(build_model(nodes, (1, 3, 6, 6), inits, opset=18), (1, 3, 6, 6), rng)
    assert _ops(net) == ["conv2d", "avgpool", "conv2d", "conv2d", "lut", "mul", "conv2d"]


# ---------------------------------------------------------------------------------- data movement


def test_channel_shuffle_reshape_transpose_reshape():
    rng = np.random.default_rng(10)
    inits = {"s1": np.array([0, 2, 3, 5, 6], np.int64), "s2": np.array([0, 6, 5, 6], np.int64)}
    nodes = [_conv("c1", "x", "a", 3, 6, rng, inits), H("Relu", ["a"], ["r"]), H("Reshape", ["r", "s1"], ["v"]),
             H("Transpose", ["v"], ["t"], perm=[0, 2, 1, 3, 4]), H("Reshape", ["t", "s2"], ["sh"]),
             _conv("c2", "sh", "y", 6, 2, rng, inits)]
    _, net, _ = through_all(build_model(nodes, (1, 3, 5, 6), inits), (1, 3, 5, 6), rng)
    assert _ops(net) == ["conv2d", "gather", "conv2d"]
    assert net.layers[1].extra["moves"] == ["reshape", "transpose", "reshape"]


def test_split_slice_concat_on_height_and_transpose():
    rng = np.random.default_rng(11)
    inits = {"sp": np.array([2, 4], np.int64), "st": np.array([1], np.int64), "en": np.array([6], np.int64),
             "axh": np.array([2], np.int64)}
    nodes = [_conv("c1", "x", "a", 3, 6, rng, inits), H("Split", ["a", "sp"], ["p", "q"], axis=1),
             H("Slice", ["q", "st", "en", "axh"], ["qs"]), H("Slice", ["p", "st", "en", "axh"], ["ps"]),
             H("Concat", ["ps", "qs"], ["cat"], axis=1), H("Transpose", ["cat"], ["t"], perm=[0, 1, 3, 2]),
             H("Concat", ["t", "t"], ["cat2"], axis=2), _conv("c2", "cat2", "y", 6, 2, rng, inits)]
    _, net, _ = through_all(build_model(nodes, (1, 3, 6, 5), inits), (1, 3, 6, 5), rng)
    assert _ops(net) == ["conv2d", "gather", "gather", "concat", "gather", "concat", "conv2d"]  # split+slice: one map


@pytest.mark.parametrize("mode,value", [("reflect", 0.0), ("edge", 0.0), ("constant", 0.3)])
def test_pad_modes(mode, value):
    rng = np.random.default_rng(12)
    inits = {"pads": np.array([0, 0, 1, 2, 0, 0, 2, 1], np.int64), "v": np.array(value, np.float32)}
    ins = ["a", "pads", "v"] if mode == "constant" else ["a", "pads"]
    nodes = [_conv("c1", "x", "a", 3, 4, rng, inits), H("Pad", ins, ["p"], mode=mode),
             _conv("c2", "p", "y", 4, 2, rng, inits, pad=0)]
    _, net, _ = through_all(build_model(nodes, (1, 3, 5, 5), inits), (1, 3, 5, 5), rng)
    assert _ops(net) == ["conv2d", "gather", "conv2d"]


@pytest.mark.parametrize("mode,ctm,opset", [("nearest", "asymmetric", 13), ("nearest", "half_pixel", 13),
                                            ("linear", "half_pixel", 13), ("linear", "align_corners", 13),
                                            ("nearest", None, 9)])
def test_resize_and_upsample(mode, ctm, opset):
    rng = np.random.default_rng(13)
    inits = {"sc": np.array([1, 1, 2, 2], np.float32), "roi": np.array([], np.float32)}
    if opset == 9:
        rs = H("Upsample", ["a", "sc"], ["u"], mode=mode)
    else:
        rs = H("Resize", ["a", "roi", "sc"], ["u"], mode=mode, coordinate_transformation_mode=ctm)
    nodes = [_conv("c1", "x", "a", 3, 4, rng, inits), rs, _conv("c2", "u", "y", 4, 2, rng, inits)]
    _, net, _ = through_all(build_model(nodes, (1, 3, 4, 5), inits, opset=opset), (1, 3, 4, 5), rng)
    assert _ops(net) == ["conv2d", "gather" if mode == "nearest" else "resize", "conv2d"]


def test_gather_expand_reduce_max_and_flattening_reduce_mean():
    rng = np.random.default_rng(14)
    inits = {"idx": np.array([3, 0, 1], np.int64), "shp": np.array([1, 3, 5, 5], np.int64),
             "W": _w(rng, 2, 6)}
    nodes = [_conv("c1", "x", "a", 3, 4, rng, inits), H("Gather", ["a", "idx"], ["g"], axis=1),
             H("ReduceMax", ["g"], ["gm"], axes=[2, 3], keepdims=1), H("Expand", ["gm", "shp"], ["e"]),
             H("Add", ["g", "e"], ["s"]), H("ReduceMean", ["s"], ["mean"], axes=[2, 3], keepdims=0),
             H("ReduceMax", ["s"], ["mx"], axes=[2, 3], keepdims=0), H("Concat", ["mean", "mx"], ["f"], axis=1),
             H("Gemm", ["f", "W"], ["y"], transB=1)]
    _, net, _ = through_all(build_model(nodes, (1, 3, 5, 5), inits, opset=13), (1, 3, 5, 5), rng)
    assert "maxpool" in _ops(net) and "gather" in _ops(net)


# ------------------------------------------------------------------------------------- refusals


def test_softmax_inside_the_network_is_refused_before_calibration_as_outside_cnn_scope():
    rng = np.random.default_rng(15)
    inits = {}
    nodes = [_conv("c1", "x", "a", 3, 4, rng, inits), H("Softmax", ["a"], ["s"], axis=1, name="sm"),
             _conv("c2", "s", "y", 4, 2, rng, inits)]
    graph = import_model(build_model(nodes, (1, 3, 5, 5), inits))
    with pytest.raises(UnsupportedOpError, match="node 'sm': softmax inside the network is outside accelsim's CNN"):
        calibrate(graph, rng.standard_normal((2, 3, 5, 5)).astype(np.float32))


def test_sub_of_two_different_activations_is_refused():
    rng = np.random.default_rng(16)
    inits = {}
    nodes = [_conv("c1", "x", "a", 3, 4, rng, inits), _conv("c2", "x", "b", 3, 4, rng, inits),
             H("Sub", ["a", "b"], ["y"], name="diff")]
    graph = import_model(build_model(nodes, (1, 3, 5, 5), inits))
    with pytest.raises(UnsupportedOpError, match="node 'diff': sub of two different activations"):
        calibrate(graph, rng.standard_normal((2, 3, 5, 5)).astype(np.float32))


# ------------------------------------------------------------------ import variants, float path


def _float_case(nodes, shape, inits, opset, batch=2):
    model = build_model(nodes, shape, inits, opset=opset)
    x = np.random.default_rng(17).standard_normal((batch,) + tuple(shape[1:])).astype(np.float32)
    got = run_graph(import_model(model), {"x": x})["y"]
    (ref,) = ort_run(model, {"x": x})
    assert close_to(got, ref)


def test_slice_with_negative_step_and_int64_sentinels():
    big = np.iinfo(np.int64).max
    inits = {"st": np.array([-1, big], np.int64), "en": np.array([-big, 0], np.int64),
             "ax": np.array([3, 2], np.int64), "sp": np.array([-2, -1], np.int64)}
    _float_case([H("Slice", ["x", "st", "en", "ax", "sp"], ["y"])], (1, 2, 5, 7), inits, 13)


def test_split_by_num_outputs_opset18_and_attribute_opset11():
    _float_case([H("Split", ["x"], ["a", "b", "c"], axis=1, num_outputs=3), H("Concat", ["c", "a", "b"], ["y"],
                                                                                  axis=1)], (1, 7, 3, 4), {}, 18)
    _float_case([H("Split", ["x"], ["a", "b"], axis=2, split=[1, 3]), H("Concat", ["b", "a"], ["y"], axis=2)],
                (1, 2, 4, 3), {}, 11)


@pytest.mark.parametrize("mode,nearest_mode", [("nearest", "floor"), ("nearest", "round_prefer_ceil"),
                                               ("linear", None), ("nearest", "ceil")])
def test_resize_by_sizes_non_integer_scale(mode, nearest_mode):
    inits = {"roi": np.array([], np.float32), "sc": np.array([], np.float32), "sz": np.array([1, 2, 7, 4], np.int64)}
    attrs = {"mode": mode}
    if nearest_mode:
        attrs["nearest_mode"] = nearest_mode
    _float_case([H("Resize", ["x", "roi", "sc", "sz"], ["y"], **attrs)], (1, 2, 5, 6), inits, 13, batch=1)


def test_pad_opset11_reflect_and_edge_and_prelu_opset7_slope():
    inits = {"p": np.array([0, 0, 2, 1, 0, 0, 1, 2], np.int64)}
    _float_case([H("Pad", ["x", "p"], ["y"], mode="reflect")], (1, 2, 4, 4), inits, 11)
    _float_case([H("Pad", ["x", "p"], ["y"], mode="edge")], (1, 2, 4, 4), inits, 11)
    inits = {"s": np.array([0.1, -0.2, 0.3], np.float32).reshape(3, 1, 1)}
    _float_case([H("PRelu", ["x", "s"], ["y"])], (1, 3, 2, 2), inits, 9)


def test_prelu_slope_of_length_w_follows_onnx_broadcasting():
    """ONNX broadcasts a [k] slope along the last axis (W), even when k equals C."""
    inits = {"s": np.array([0.1, -0.2, 0.3], np.float32)}
    _float_case([H("PRelu", ["x", "s"], ["y"])], (1, 3, 2, 3), inits, 17)


def test_unused_split_output_leaves_no_layer_and_concat_of_a_constant_is_refused():
    rng = np.random.default_rng(18)
    inits = {}
    nodes = [_conv("c1", "x", "a", 3, 4, rng, inits), H("Split", ["a"], ["p", "unused"], axis=1, split=[1, 3]),
             _conv("c2", "p", "y", 1, 2, rng, inits)]
    graph = import_model(build_model(nodes, (1, 3, 5, 5), inits, opset=11))
    assert [n.op for n in graph.nodes] == ["conv", "slice", "conv"]
    inits = {"k": _w(rng, 1, 2, 5, 5)}
    nodes = [_conv("c1", "x", "a", 3, 4, rng, inits), H("Concat", ["a", "k"], ["y"], axis=1, name="cat")]
    graph = import_model(build_model(nodes, (1, 3, 5, 5), inits, batch_param=False))
    with pytest.raises(UnsupportedOpError, match="node 'cat': concat with a constant input is not supported"):
        calibrate(graph, rng.standard_normal((1, 3, 5, 5)).astype(np.float32))


def test_mtcnn_rnet_like_prelu_after_conv_and_fully_connected_with_two_heads():
    """MTCNN's RNet shape: conv-PRelu-maxpool(ceil) x2, flatten, FC-PRelu([F] slope), two heads
    (class scores through a trailing softmax, box regression)."""
    rng = np.random.default_rng(19)
    inits = {"s1": _w(rng, 4, 1, 1, scale=0.3), "s2": _w(rng, 6, 1, 1, scale=0.3), "s3": _w(rng, 16, scale=0.3),
             "W1": _w(rng, 16, 6 * 2 * 2), "b1": _w(rng, 16, scale=0.1), "Wc": _w(rng, 2, 16), "Wb": _w(rng, 4, 16)}
    nodes = [_conv("c1", "x", "a", 3, 4, rng, inits, pad=0), H("PRelu", ["a", "s1"], ["ap"]),
             H("MaxPool", ["ap"], ["m1"], kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1),
             _conv("c2", "m1", "b", 4, 6, rng, inits, pad=0), H("PRelu", ["b", "s2"], ["bp"]),
             H("MaxPool", ["bp"], ["m2"], kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1),
             H("Flatten", ["m2"], ["f"]), H("Gemm", ["f", "W1", "b1"], ["h"], transB=1),
             H("PRelu", ["h", "s3"], ["hp"]), H("Gemm", ["hp", "Wb"], ["y"], transB=1),
             H("Gemm", ["hp", "Wc"], ["cls"], transB=1), H("Softmax", ["cls"], ["prob"], axis=1)]
    model = build_model(nodes, (1, 3, 12, 12), inits, opset=11, outputs=("y", "prob"))
    _, net, _ = through_all(model, (1, 3, 12, 12), rng)
    assert [lay.op for lay in net.layers].count("prelu") == 3 and net.meta["dropped"]


@pytest.mark.parametrize("op,axes,keep", [("ReduceMean", [2], 0), ("ReduceMax", [3], 1), ("ReduceMean", [3], 1),
                                          ("ReduceMax", [2], 0)])
def test_reduce_over_one_spatial_axis_is_a_pool(op, axes, keep):
    """Text recognisers pool over H only (CRNN): a window spanning that axis."""
    rng = np.random.default_rng(20)
    inits = {}
    nodes = [_conv("c1", "x", "a", 3, 4, rng, inits), H(op, ["a"], ["r"], axes=axes, keepdims=keep),
             H("Relu", ["r"], ["y"])]
    _, net, _ = through_all(build_model(nodes, (1, 3, 4, 6), inits, opset=13), (1, 3, 4, 6), rng)
    assert [lay.op for lay in net.layers][1] == ("avgpool" if op == "ReduceMean" else "maxpool")


@pytest.mark.parametrize("op,mode", [("DepthToSpace", "DCR"), ("DepthToSpace", "CRD"), ("SpaceToDepth", None)])
def test_depth_to_space_and_space_to_depth_are_index_maps(op, mode):
    rng = np.random.default_rng(21)
    inits = {}
    attrs = {"blocksize": 2} | ({"mode": mode} if mode else {})
    cout = 8 if op == "DepthToSpace" else 2
    nodes = [_conv("c1", "x", "a", 3, cout, rng, inits), H(op, ["a"], ["d"], **attrs),
             _conv("c2", "d", "y", 2 if op == "DepthToSpace" else 8, 2, rng, inits)]
    _, net, _ = through_all(build_model(nodes, (1, 3, 4, 6), inits, opset=13), (1, 3, 4, 6), rng)
    assert [lay.op for lay in net.layers] == ["conv2d", "gather", "conv2d"]


def test_relu6_written_as_min_of_max_is_one_clip_range():
    rng = np.random.default_rng(22)
    inits = {"zero": np.float32(0.0), "six": np.float32(6.0)}
    nodes = [_conv("c1", "x", "a", 3, 4, rng, inits), H("Max", ["a", "zero"], ["m"]), H("Min", ["m", "six"], ["r"]),
             _conv("c2", "r", "y", 4, 2, rng, inits)]
    graph, net, _ = through_all(build_model(nodes, (1, 3, 5, 5), inits, opset=13), (1, 3, 5, 5), rng)
    assert graph.nodes[1].op == "elementwise" and graph.nodes[1].attrs["function"] == "relu6"
    nodes = [_conv("c1", "x", "a", 3, 4, rng, inits), H("Max", ["a", "a"], ["y"], name="mx")]
    with pytest.raises(UnsupportedOpError, match=r"node 'mx' \(Max\): Max is supported of one activation"):
        import_model(build_model(nodes, (1, 3, 5, 5), inits, opset=13))


def test_old_opset_attribute_forms_of_slice_upsample_resize_pad():
    _float_case([H("Slice", ["x"], ["y"], starts=[1, 0], ends=[4, -1], axes=[2, 3])], (1, 2, 5, 6), {}, 9)
    _float_case([H("Upsample", ["x"], ["y"], scales=[1.0, 1.0, 2.0, 3.0], mode="nearest")], (1, 2, 3, 2), {}, 7)
    _float_case([H("Upsample", ["x", "s"], ["y"], mode="linear")], (1, 2, 3, 2),
                {"s": np.array([1, 1, 2, 2], np.float32)}, 9)
    _float_case([H("Resize", ["x", "s"], ["y"], mode="nearest")], (1, 2, 3, 2),
                {"s": np.array([1, 1, 2, 2], np.float32)}, 10)
    _float_case([H("Pad", ["x"], ["y"], pads=[0, 0, 1, 2, 0, 0, 2, 1], mode="reflect")], (1, 2, 4, 4), {}, 9)


def test_gather_negative_and_scalar_indices_and_transpose_perms():
    _float_case([H("Gather", ["x", "i"], ["y"], axis=1)], (1, 4, 3, 3), {"i": np.array([-1, 0, -3], np.int64)}, 13)
    _float_case([H("Gather", ["x", "i"], ["y"], axis=3)], (1, 4, 3, 5), {"i": np.array(-2, np.int64)}, 13)
    _float_case([H("Transpose", ["x"], ["t"], perm=[0, 2, 3, 1]), H("Relu", ["t"], ["y"])], (1, 4, 3, 5), {}, 13)
    model = build_model([H("Transpose", ["x"], ["y"], name="tr")], (1, 4, 3, 5), {}, opset=13)
    with pytest.raises(UnsupportedOpError, match=r"node 'tr' \(Transpose\): perm \[3, 2, 1, 0\] moves the batch"):
        import_model(model)


@pytest.mark.parametrize("rank", [3, 4])
def test_matmul_on_channels_last_data_is_a_pointwise_conv(rank):
    """``x[N, ..., K] @ W[K, M] + b``: permute, 1x1 conv, permute back (ConvNeXt-style Linear)."""
    rng = np.random.default_rng(23)
    inits = {"W": _w(rng, 4, 6), "b": _w(rng, 6, scale=0.1), "s3": np.array([0, 4, 30], np.int64)}
    to_last = ([H("Transpose", ["a"], ["t"], perm=[0, 2, 3, 1])] if rank == 4 else
               [H("Reshape", ["a", "s3"], ["a3"]), H("Transpose", ["a3"], ["t"], perm=[0, 2, 1])])
    nodes = [_conv("c1", "x", "a", 3, 4, rng, inits)] + to_last + [
        H("MatMul", ["t", "W"], ["mm"]), H("Add", ["mm", "b"], ["ab"]), H("Relu", ["ab"], ["y"])]
    _, net, _ = through_all(build_model(nodes, (1, 3, 5, 6), inits, opset=13), (1, 3, 5, 6), rng)
    assert "conv2d" in [lay.op for lay in net.layers][1:]


def test_new_kinds_survive_the_descriptor_files_and_corrupt_arrays_are_named(tmp_path):
    from accelsim.datapath.executor import prepare
    from accelsim.errors import InputFileError
    from accelsim.layers import SCHEMA_VERSION, read_network, write_network

    rng = np.random.default_rng(24)
    inits = {"slope": _w(rng, 4, 1, 1), "k": _w(rng, 1, 4, 1, 1), "p": np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64)}
    nodes = [_conv("c1", "x", "a", 3, 4, rng, inits), H("PRelu", ["a", "slope"], ["pr"]),
             H("MaxPool", ["pr"], ["mp"], kernel_shape=[1, 1]), H("Add", ["mp", "k"], ["ad"]),
             H("Pad", ["ad", "p"], ["pd"], mode="reflect"), H("Tanh", ["pd"], ["y"])]
    graph = import_model(build_model(nodes, (1, 3, 4, 4), inits))
    x = rng.standard_normal((4, 3, 4, 4)).astype(np.float32)
    net = calibrate(graph, x)
    assert [lay.op for lay in net.layers] == ["conv2d", "prelu", "maxpool", "affine", "gather", "lut"]
    write_network(net, tmp_path / "d")
    back = read_network(tmp_path / "d")
    assert SCHEMA_VERSION == 2 and [lay.op for lay in back.layers] == [lay.op for lay in net.layers]
    assert back.layers[4].extra["moves"] == ["pad"]
    assert np.array_equal(run_network(back, x).logits, run_network(net, x).logits)
    gather = net.layers[4]
    bad = dict(net.tensors)
    bad[gather.key("index")] = net.tensors[gather.key("index")] + 1000
    from dataclasses import replace
    with pytest.raises(InputFileError, match=r"layer '.*' \(gather\): index holds values in \[.*\], outside"):
        prepare(replace(net, tensors=bad))


def test_table_not_finite_in_the_calibrated_range_is_refused_by_name():
    rng = np.random.default_rng(25)
    inits = {"e": np.float32(-1.0)}
    nodes = [_conv("c1", "x", "a", 3, 4, rng, inits), H("Pow", ["a", "e"], ["y"], name="recip")]
    graph = import_model(build_model(nodes, (1, 3, 4, 4), inits))
    with pytest.raises(UnsupportedOpError, match=r"node 'recip': pow is not finite at input 0 inside the "
                                                 r"calibrated input range"):
        calibrate(graph, rng.standard_normal((2, 3, 4, 4)).astype(np.float32))
