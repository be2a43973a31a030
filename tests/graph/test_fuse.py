"""Fusion passes: which nodes merge, hand-worked folded constants, recognised idioms."""

from __future__ import annotations

import numpy as np
import pytest

from accelsim.graph.executor import infer_shapes, run_graph
from accelsim.graph.fuse import KNOWN_FUNCTIONS, fuse_affine, fuse_elementwise, recognise_function
from accelsim.graph.ir import Graph, Node

CONV = {"kernel": (1, 1), "stride": (1, 1), "padding": (0, 0, 0, 0), "dilation": (1, 1), "groups": 1}


def _conv_graph(extra_nodes, params, outputs=("y",)):
    p = {"w": np.array([[[[2.0]]], [[[-1.0]]]], np.float32), "b": np.array([1.0, 0.5], np.float32)}
    p.update(params)
    nodes = [Node("c", "conv", ["x", "w", "b"], ["a"], CONV)] + extra_nodes
    return Graph("g", nodes, {"x": (1, 1, 2, 2)}, list(outputs), p)


def test_per_channel_mul_then_add_fold_into_the_conv_by_hand():
    """(2x + 1) * 3 + 4 = 6x + 7 on channel 0; (-x + 0.5) * 5 + 6 = -5x + 8.5 on channel 1."""
    g = _conv_graph([Node("m", "mul", ["a", "k"], ["am"]), Node("ad", "add", ["am", "c0"], ["y"])],
                    {"k": np.array([3.0, 5.0], np.float32).reshape(2, 1, 1),
                     "c0": np.array([4.0, 6.0], np.float32).reshape(1, 2, 1, 1)})
    x = np.random.default_rng(0).standard_normal((2, 1, 2, 2)).astype(np.float32)
    ref = run_graph(g, {"x": x})["y"]
    fuse_affine(g, infer_shapes(g))
    assert [n.op for n in g.nodes] == ["conv"] and g.nodes[0].outputs == ["y"]
    w, b = (g.params[n] for n in g.nodes[0].inputs[1:])
    np.testing.assert_allclose(w.reshape(2), [6.0, -5.0])
    np.testing.assert_allclose(b, [7.0, 8.5])
    np.testing.assert_allclose(run_graph(g, {"x": x})["y"], ref, rtol=1e-6)


def test_affine_not_folded_into_a_shared_conv_output_nor_a_spatial_constant():
    g = _conv_graph([Node("m", "mul", ["a", "k"], ["y"]), Node("r", "relu", ["a"], ["z"])],
                    {"k": np.float32(2.0).reshape(1)}, outputs=("y", "z"))
    fuse_affine(g, infer_shapes(g))
    assert [n.op for n in g.nodes] == ["conv", "affine", "relu"]
    g = _conv_graph([Node("m", "add", ["a", "k"], ["y"])], {"k": np.ones((1, 2, 2), np.float32)})
    fuse_affine(g, infer_shapes(g))
    assert [n.op for n in g.nodes] == ["conv", "affine"]


def test_constant_minus_activation_and_consecutive_affines_merge():
    """c - relu(a), then * 2: one affine with w = -2, b = 2c."""
    g = _conv_graph([Node("r", "relu", ["a"], ["ar"]), Node("s", "sub", ["c0", "ar"], ["sb"]),
                     Node("m", "mul", ["sb", "two"], ["y"])],
                    {"c0": np.float32(3.0).reshape(1), "two": np.float32(2.0).reshape(1)})
    fuse_affine(g, infer_shapes(g))
    assert [n.op for n in g.nodes] == ["conv", "relu", "affine"]
    w, b = (g.params[n] for n in g.nodes[2].inputs[1:])
    assert w.reshape(-1).tolist() == [-2.0] and b.reshape(-1).tolist() == [6.0]


def test_elementwise_region_keeps_an_intermediate_read_elsewhere():
    """s = sigmoid(a) is read by the gate mul and by an output: s keeps its node, a*s is fused."""
    g = _conv_graph([Node("s", "sigmoid", ["a"], ["s"]), Node("m", "mul", ["a", "s"], ["y"])], {},
                    outputs=("y", "s"))
    fuse_elementwise(g)
    assert [n.op for n in g.nodes] == ["conv", "sigmoid", "elementwise"]
    assert g.nodes[2].attrs["function"] == "silu" and g.nodes[2].inputs == ["a"]


def test_lone_relu_and_scalar_arithmetic_are_left_alone():
    g = _conv_graph([Node("r", "relu", ["a"], ["y"])], {})
    fuse_elementwise(g)
    assert [n.op for n in g.nodes] == ["conv", "relu"]
    g = _conv_graph([Node("m", "mul", ["a", "k"], ["am"]), Node("ad", "add", ["am", "k"], ["y"])],
                    {"k": np.float32(2.0).reshape(1)})
    fuse_elementwise(g)
    assert [n.op for n in g.nodes] == ["conv", "mul", "add"]


@pytest.mark.parametrize("name", sorted(KNOWN_FUNCTIONS))
def test_recognise_function_names_each_idiom_and_nothing_else(name):
    fn = KNOWN_FUNCTIONS[name]
    assert recognise_function(lambda x: fn(x.astype(np.float64))) == name
    assert recognise_function(lambda x: fn(x.astype(np.float64)) * 1.01 + 0.01) == "composite"


def test_hand_built_activation_minus_constant_is_an_affine():
    g = _conv_graph([Node("r", "relu", ["a"], ["ar"]), Node("s", "sub", ["ar", "k"], ["y"])],
                    {"k": np.array([1.0, 2.0], np.float32).reshape(2, 1, 1)})
    fuse_affine(g, infer_shapes(g))
    assert [n.op for n in g.nodes] == ["conv", "relu", "affine"]
    w, b = (g.params[n] for n in g.nodes[2].inputs[1:])
    assert w.reshape(-1).tolist() == [1.0] and b.reshape(-1).tolist() == [-1.0, -2.0]
