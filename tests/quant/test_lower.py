"""Shape-only lowering: descriptor kinds, shapes and MACs against hand-computed numbers."""

from pathlib import Path

from tests.shared import MODELS

import numpy as np
import pytest

from accelsim.config.base import parse_model
from accelsim.config.quant import QuantConfig
from accelsim.errors import ConfigError, UnsupportedOpError
from accelsim.graph.ir import Graph, Node
from accelsim.graph.onnx_import import load_onnx
from accelsim.quant.lower import lower

SVHN = MODELS / "ccexam_svhn_cnn.onnx"


def test_svhn_shapes_and_macs_by_hand():
    net = lower(load_onnx(SVHN), (2, 3, 32, 32))
    assert not net.quantized and all(layer.quant is None for layer in net.layers)
    kinds = [layer.op for layer in net.layers]
    assert kinds == ["conv2d", "conv2d", "maxpool", "conv2d", "conv2d", "maxpool", "conv2d", "conv2d",
                     "maxpool", "reshape", "gemm", "gemm"]
    # 3x3 'same' convs: N * H * W * Cout * Cin * 9
    convs = [(32, 3, 32), (32, 32, 32), (64, 32, 16), (64, 64, 16), (128, 64, 8), (128, 128, 8)]
    macs = sum(2 * hw * hw * co * ci * 9 for co, ci, hw in convs) + 2 * 2048 * 256 + 2 * 256 * 10
    assert net.macs == macs
    assert net.layers[-2].in_shape == (2, 2048, 1, 1) and net.layers[-2].activation == "relu"
    assert net.outputs == ("logits",)


def test_maxpool_ceil_mode_becomes_extra_padding():
    nodes = [Node("p", "maxpool", ["x"], ["y"], {"kernel": (3, 3), "stride": (2, 2), "padding": (0, 0, 0, 0),
                                                  "dilation": (1, 1), "ceil_mode": True})]
    net = lower(Graph("g", nodes, {"x": (1, 4, 8, 8)}, ["y"], {}))
    p = net.layers[0]
    # ceil((8 - 3) / 2) + 1 = 4 windows; floor mode needs one more row/column of padding
    assert p.out_shape == (1, 4, 4, 4) and p.padding == (0, 0, 1, 1)


def test_overrides_checked_and_applied():
    g = load_onnx(SVHN)
    net = lower(g, (1, 3, 32, 32), parse_model(QuantConfig, {"weight_bits": 4, "layers": {"conv_1": {"weight_bits": 8}}}))
    assert net.layers[0].weight_bits == 8 and net.layers[1].weight_bits == 4
    with pytest.raises(ConfigError, match="unknown layer name"):
        lower(g, None, parse_model(QuantConfig, {"layers": {"relu_3": {"act_bits": 4}}}))
    with pytest.raises(ConfigError, match="maxpool passes its 8-bit input codes through"):
        lower(g, None, parse_model(QuantConfig, {"layers": {"maxpool_7": {"act_bits": 4}}}))


def test_avgpool_without_one_divisor_is_unsupported():
    nodes = [Node("ap", "avgpool", ["x"], ["y"], {"kernel": (3, 3), "stride": (1, 1), "padding": (1, 1, 1, 1),
                                                   "ceil_mode": False, "count_include_pad": False})]
    with pytest.raises(UnsupportedOpError, match="node 'ap': avgpool with padding"):
        lower(Graph("g", nodes, {"x": (1, 2, 5, 5)}, ["y"], {}))


def test_unknown_op_names_node():
    nodes = [Node("sm", "softmax", ["x"], ["s"], {"axis": 1}), Node("r", "relu", ["s"], ["y"])]
    with pytest.raises(UnsupportedOpError, match="node 'sm': softmax inside the network is outside accelsim's CNN "
                                                 "scope"):
        lower(Graph("g", nodes, {"x": (1, 2, 5, 5)}, ["y"], {"k": np.zeros(1)}))
