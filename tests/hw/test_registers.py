"""The array's clocked flip-flops, counted by hand from the micro-architecture, and the clock gating."""

from __future__ import annotations

import pytest

from accelsim.config.simulation import SimulationConfig
from accelsim.errors import ConfigError
from accelsim.config.run import config_from_dict
from accelsim.hw.registers import clock_bit_cycles, edge_register_bits, local_store_bits, pe_register_bits
from accelsim.hw.sim import simulate_network
from accelsim.layers import LayerDescriptor
from tests.hw.conftest import gemm_layer, hw_config
from tests.hw.test_sim import net_of

STORES = {"w": {"words": 224, "width_bits": 16, "kind": "sram", "reads_per_mac": 1},
          "x": {"words": 12, "width_bits": 16, "kind": "register", "reads_per_mac": 1},
          "p": {"words": 24, "width_bits": 16, "kind": "register", "reads_per_mac": 1, "writes_per_mac": 1}}


def test_pe_register_bits_by_hand():
    # os, 8-bit native, 2 multiplier stages, 1 adder stage, shift drain: operands 2 x 8 x (1 + 2) = 48,
    # accumulator 32, output chain 32 -> 112; parallel drain has no chain register -> 80
    assert pe_register_bits(hw_config(4, 4, "os", mult_stages=2), 32) == 48 + 32 + 32
    assert pe_register_bits(hw_config(4, 4, "os", mult_stages=2, drain="parallel"), 32) == 80
    # os with 3 adder stages: accumulator + 2 retiming registers = 3 x 24
    assert pe_register_bits(hw_config(4, 4, "os", acc_stages=3, drain="parallel"), 24) == 16 + 72
    # ws, shadow stationary: 2 x 8 + streamed 8 + 1 multiplier stage 2 x 8 + 2 psum stages x 32 = 104
    assert pe_register_bits(hw_config(4, 4, "ws", mult_stages=1, acc_stages=2), 32) == 16 + 8 + 16 + 64
    # is with one stationary register: 8 + 8 + 32
    assert pe_register_bits(hw_config(4, 4, "is", stationary_registers="single"), 32) == 48
    # register-kind local stores add words x width (12 x 16 + 24 x 16); the sram one adds nothing
    hw = hw_config(4, 4, "ws", pe__native_bits=16, pe__local_stores=STORES)
    assert pe_register_bits(hw, 16) == 32 + 16 + 16 + 12 * 16 + 24 * 16


def test_edge_register_bits_by_hand():
    assert edge_register_bits(hw_config(4, 4, "ws")) == 0                       # skew feeder: none
    # ws 4 rows, skew array with input register, 1 adder stage: 8 x (1 + 2 + 3 + 4) = 80
    assert edge_register_bits(hw_config(4, 4, "ws", skew="array")) == 80
    # ws without the input register, 2 adder stages: 8 x (0 + 2 + 4 + 6) = 96
    assert edge_register_bits(hw_config(4, 4, "ws", skew="array", acc_stages=2, skew_input_register=False)) == 96
    # os 3 x 2: rows 8 x (1 + 2 + 3), columns 8 x (1 + 2)
    assert edge_register_bits(hw_config(3, 2, "os", skew="array")) == 8 * 6 + 8 * 3


@pytest.mark.parametrize("gating", ["off", "idle_array", "idle_pes"])
def test_clock_bit_cycles_by_gating(gating):
    hw = hw_config(4, 4, "ws", skew="array", clock_gating=gating)
    b, e = 8 * 2 + 8 + 32, 80
    args = dict(total_cycles=100, compute_cycles=60, macs=700, macs_per_pe=1)
    on = clock_bit_cycles(hw, 32, on_array=True, **args)
    off_array = clock_bit_cycles(hw, 32, on_array=False, **args)
    expected = {"off": ((16 * b + e) * 100, (16 * b + e) * 100),
                "idle_array": ((16 * b + e) * 60, 0),
                "idle_pes": (b * 700 + e * 60, 0)}[gating]
    assert (on, off_array) == expected


def test_idle_pes_counts_packed_macs_per_pe_cycle():
    hw = hw_config(4, 4, "os", clock_gating="idle_pes", drain="parallel")
    # 2 MACs per PE-cycle: ceil(7 / 2) = 4 PE-cycles of 16 + 32 bits
    assert clock_bit_cycles(hw, 32, on_array=True, total_cycles=9, compute_cycles=9, macs=7, macs_per_pe=2) == 4 * 48


def test_local_store_bits_are_macs_times_accesses_times_width():
    hw = hw_config(4, 4, "ws", pe__native_bits=16, pe__local_stores=STORES)
    reads, writes = local_store_bits(hw, 1000)
    assert reads == {"w": 16000.0, "x": 16000.0, "p": 16000.0}
    assert writes == {"w": 0.0, "x": 0.0, "p": 16000.0}


def test_simulated_network_counts_the_clock_per_gating():
    """A GEMM that stalls on a slow DRAM, then a pooling layer beside the array."""
    pool = LayerDescriptor(name="pool", op="maxpool", inputs=("g",), output="pool", in_shape=(16, 8, 1, 1),
                           out_shape=(16, 8, 1, 1), kernel=(1, 1), stride=(1, 1))
    net = net_of(gemm_layer(16, 8, 4), pool)
    runs = {}
    for gating in ("off", "idle_array", "idle_pes"):
        hw = hw_config(4, 4, "os", clock_gating=gating, dram__bandwidth_bytes_per_cycle=1)
        runs[gating] = simulate_network(net, hw, SimulationConfig())
    b = pe_register_bits(hw_config(4, 4, "os"), 32)
    gemm, vec = runs["off"].layers
    assert gemm.stall_cycles > 0 and vec.total_cycles > 0
    assert gemm.clock_bit_cycles == 16 * b * gemm.total_cycles
    assert vec.clock_bit_cycles == 16 * b * vec.total_cycles
    gemm, vec = runs["idle_array"].layers
    assert gemm.clock_bit_cycles == 16 * b * gemm.compute_cycles and vec.clock_bit_cycles == 0
    gemm, vec = runs["idle_pes"].layers
    assert gemm.clock_bit_cycles == b * gemm.macs and vec.clock_bit_cycles == 0
    assert (runs["off"].total.clock_bit_cycles > runs["idle_array"].total.clock_bit_cycles
            > runs["idle_pes"].total.clock_bit_cycles > 0)


def test_local_store_config_errors_name_the_key():
    with pytest.raises(ConfigError, match=r"hardware\.pe\.local_stores\.s\.kind: .*'register' or 'sram'"):
        config_from_dict({"hardware": {"pe": {"local_stores": {"s": {"words": 4, "width_bits": 8, "kind": "latch"}}}}})
    with pytest.raises(ConfigError, match=r"hardware\.pe\.local_stores\.s\.words: .*greater than or equal to 1"):
        config_from_dict({"hardware": {"pe": {"local_stores": {"s": {"words": 0, "width_bits": 8,
                                                                      "kind": "register"}}}}})
    with pytest.raises(ConfigError, match=r"hardware\.clock_gating: .*'off', 'idle_array' or 'idle_pes'"):
        config_from_dict({"hardware": {"clock_gating": "always"}})
