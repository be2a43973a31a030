"""DRAM traffic of a split reduction (os partial-sum spills), worked by hand."""

from __future__ import annotations

from accelsim.config.simulation import SimulationConfig
from accelsim.hw.mapping import map_layer
from accelsim.hw.sim import simulate_network
from accelsim.hw.timing import MicroArch, layer_schedule
from accelsim.layers import Network
from tests.hw.conftest import gemm_layer, hw_config


def _run(layer, hw):
    net = Network(name="t", layers=(layer,), inputs=("x",), outputs=(layer.output,))
    return simulate_network(net, hw, SimulationConfig(stall_free=True)).total


def test_split_reduction_reads_a_big_weight_block_once_by_hand():
    """os 8x8, M = 24 (3 row folds), N = 8 (1 column fold), K = 256, 8 bit, 32-bit partial sums.

    Weights W = 256 x 8 = 2048 B against a 1 KiB half (weight_kb 2). Whole reduction: in either
    loop order the weights come 3 times (once per row fold) and the ifmap (6144 B) once:
    6144 + 3 * 2048 = 12288 B. Split in 2 chunks (column block outer, then chunk, then row folds):
    each 1024 B weight chunk fits its half and is read once (2048 B), the ifmap once (6144 B),
    the 24 x 8 partial sums (768 B at 32 bit) stay in the 32 KiB output half: 8192 B read,
    192 B written. With a 1 KiB output buffer (512 B half) the partial sums spill: written after
    chunk 0 and read back before chunk 1: 8192 + 768 read, 192 + 768 written."""
    layer = gemm_layer(24, 8, 256)
    whole = _run(layer, hw_config(8, 8, "os", buffers__weight_kb=2.0))
    assert (whole.dram_read_bytes, whole.dram_write_bytes) == (12288, 192)
    split_hw = hw_config(8, 8, "os", buffers__weight_kb=2.0, buffers__split_reduction="auto")
    split = _run(layer, split_hw)
    assert (split.dram_read_bytes, split.dram_write_bytes) == (8192, 192)
    assert split.folds == 2 * whole.folds
    # the partial sums are read, added to and written back in the output buffer once per extra chunk
    assert split.sram_read_bytes["ofmap"] - whole.sram_read_bytes["ofmap"] == 768
    # cycles: two passes of T = 128 (closed form of the split, held equal to the registers elsewhere)
    assert split.compute_cycles == layer_schedule(map_layer(layer, split_hw), MicroArch.from_config(split_hw), 2)[0]
    spill = _run(layer, hw_config(8, 8, "os", buffers__weight_kb=2.0, buffers__ofmap_kb=1.0,
                                  buffers__split_reduction="auto"))
    assert (spill.dram_read_bytes, spill.dram_write_bytes) == (8192 + 768, 192 + 768)


def test_split_reduction_never_kicks_in_when_blocks_fit():
    layer = gemm_layer(24, 8, 64)
    a = _run(layer, hw_config(8, 8, "os"))
    b = _run(layer, hw_config(8, 8, "os", buffers__split_reduction="auto"))
    assert (a.dram_read_bytes, a.folds, a.compute_cycles) == (b.dram_read_bytes, b.folds, b.compute_cycles)
