"""Mapping: SCALE-Sim notation, folds, depthwise as groups, precision scaling, buffer checks."""

from __future__ import annotations

import pytest

from accelsim.errors import MappingError
from accelsim.hw.mapping import check_buffers, map_layer, scalesim_notation
from accelsim.layers import GemmView, LayerDescriptor
from tests.hw.conftest import gemm_layer, hw_config


def conv(name="c", cin=64, cout=128, hw_in=56, k=3, stride=1, groups=1, op="conv2d"):
    oh = (hw_in + 2 * (k // 2) - k) // stride + 1
    return LayerDescriptor(name=name, op=op, inputs=("x",), output=name, in_shape=(1, cin, hw_in, hw_in),
                           out_shape=(1, cout, oh, oh), kernel=(k, k), stride=(stride, stride),
                           padding=(k // 2,) * 4, groups=groups)


def test_notation_per_dataflow():
    g = GemmView(M=10, N=20, K=30)
    assert scalesim_notation("os", g) == (10, 20, 30)
    assert scalesim_notation("ws", g) == (30, 20, 10)
    assert scalesim_notation("is", g) == (30, 10, 20)


def test_folds_of_a_conv_by_hand():
    layer = conv()  # M = 56*56 = 3136, N = 128, K = 64*9 = 576
    mp = map_layer(layer, hw_config(32, 32, "os"))
    assert (mp.sr, mp.sc, mp.t) == (3136, 128, 576)
    assert mp.folds == 98 * 4 and mp.edge_rows == 3136 - 97 * 32 and mp.edge_cols == 32
    mp = map_layer(layer, hw_config(32, 32, "ws"))
    assert (mp.sr, mp.sc, mp.t) == (576, 128, 3136) and mp.folds == 18 * 4


def test_depthwise_is_groups_of_small_gemms_not_dense():
    dw = conv("dw", cin=32, cout=32, hw_in=112, k=3, groups=32, op="depthwise")
    mp = map_layer(dw, hw_config(8, 8, "os"))
    assert (mp.groups, mp.sr, mp.sc, mp.t) == (32, 112 * 112, 1, 9)
    assert mp.folds == 32 * 1568 * 1
    assert mp.macs == 112 * 112 * 32 * 9  # not 32x that, as a dense layer would have


@pytest.mark.parametrize("bits,p", [(8, 1), (5, 1), (4, 2), (3, 2), (2, 4)])
def test_precision_scalable_divides_the_reduction(bits, p):
    hw = hw_config(16, 16, "ws", pe__precision_scalable=True)
    mp = map_layer(gemm_layer(100, 40, 75, weight_bits=bits, act_bits=bits), hw)
    assert mp.macs_per_pe == p and mp.k_eff == -(-75 // p) and mp.sr == mp.k_eff
    hw_os = hw_config(16, 16, "os", pe__precision_scalable=True)
    assert map_layer(gemm_layer(100, 40, 75, weight_bits=bits, act_bits=8), hw_os).macs_per_pe == 1
    assert map_layer(gemm_layer(100, 40, 75, weight_bits=bits, act_bits=bits), hw_os).t == -(-75 // p)


def test_off_array_op_and_bad_groups_raise():
    pool = LayerDescriptor(name="p", op="maxpool", inputs=("x",), output="p", in_shape=(1, 8, 4, 4),
                           out_shape=(1, 8, 2, 2), kernel=(2, 2), stride=(2, 2))
    with pytest.raises(MappingError, match="'p': op 'maxpool' does not run on the MAC array"):
        map_layer(pool, hw_config())
    with pytest.raises(MappingError, match="groups=3 must divide input channels 64"):
        map_layer(conv(groups=3), hw_config())


def test_buffer_smaller_than_one_tile():
    # a 32x32 tile of 8-bit weights is 1 KiB; double-buffered the buffer needs 2 KiB
    hw = hw_config(32, 32, "ws", buffers__weight_kb=1.5)
    with pytest.raises(MappingError, match=r"hardware.buffers.weight_kb: layer 'c' needs at least 2 KiB .* configured 1.5 KiB"):
        check_buffers(map_layer(conv(), hw), hw)
    hw = hw_config(32, 32, "ws", buffers__weight_kb=1.0, buffers__double_buffered=False)
    check_buffers(map_layer(conv(), hw), hw)
