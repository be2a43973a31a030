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


def _search(layer, rows, cols, df, **hw):
    """*layer* with loop_order search; DRAM at 1 byte/cycle unless given (so DRAM sets the pace)."""
    net = Network(name="t", layers=(layer,), inputs=("x",), outputs=(layer.output,))
    hw.setdefault("dram__bandwidth_bytes_per_cycle", 1.0)
    return simulate_network(net, hw_config(rows, cols, df, loop_order="search", **hw), SimulationConfig(stall_free=True))


def test_search_chunks_the_stream_so_partial_sums_stay_by_hand():
    """ws 4x4, M = 64, N = 8, K = 8, 8 bit, 32-bit partial sums: 2 row folds (K), 2 column folds
    (N), T = M = 64. ifmap 512 B, weights 64 B, output 512 B, partial sums 64 x 8 x 4 = 2048 B;
    1 KiB buffers (512 B halves).

    Whole stream (loop_order auto): a column fold's partial sums (64 x 4 x 4 = 1024 B) do not fit
    the 512 B half, so they spill between the two row folds: 1024 B written and read back per
    column fold, 2048 B each way; reads 512 + 64 + 2048, writes 512 + 2048.
    search: the pixels in 2 chunks under the column folds (cols > steps/2 > rows): a chunk's
    partial sums (32 x 4 x 4 = 512 B) fit, nothing spills; the ifmap (512 B) fits whole and the
    weights of a column block (32 B) stay across the chunks: reads 512 + 64, writes 512. Every
    stationary tile is preloaded once per chunk (weight SRAM reads 2 x 64 B), the folds double.
    The chunks cost 4 more fold fills: at 1 byte/cycle they save 5184 - 1088 = 4096 transfer cycles,
    far more; at 1024 bytes/cycle they would save 4 transfer cycles, fewer than the fills cost
    (the closed form's compute cycles), so the search keeps the stream whole."""
    layer = gemm_layer(64, 8, 8)
    buf = {"buffers__ifmap_kb": 1.0, "buffers__weight_kb": 1.0, "buffers__ofmap_kb": 1.0}
    whole = _run(layer, hw_config(4, 4, "ws", **buf))
    assert (whole.dram_read_bytes, whole.dram_write_bytes) == (512 + 64 + 2048, 512 + 2048)
    t = _search(layer, 4, 4, "ws", **buf)
    assert t.loop_orders == ["cols>steps/2>rows"]
    assert (t.total.dram_read_bytes, t.total.dram_write_bytes) == (512 + 64, 512)
    assert t.total.sram_read_bytes["weight"] == 2 * 64 and t.total.folds == 2 * whole.folds
    hw = hw_config(4, 4, "ws", loop_order="search", **buf)
    mp, arch = map_layer(layer, hw), MicroArch.from_config(hw)
    fills = layer_schedule(mp, arch, 2)[0] - layer_schedule(mp, arch, 1)[0]
    assert t.total.compute_cycles == layer_schedule(mp, arch, 2)[0] and 4 < fills < 4096
    fast = _search(layer, 4, 4, "ws", dram__bandwidth_bytes_per_cycle=1024.0, **buf)
    assert fast.loop_orders == ["cols>rows"] and fast.total.folds == whole.folds
    assert (fast.total.dram_read_bytes, fast.total.dram_write_bytes) == (512 + 64 + 2048, 512 + 2048)


def test_search_puts_the_chunks_outermost_when_the_ifmap_is_big_by_hand():
    """ws 4x4, M = 64, N = 16, K = 8 (2 row folds, 4 column folds): ifmap 512 B against a 256 B
    half, weights 128 B against a 64 B half, partial sums 4096 B against a 512 B half.

    steps/2 > cols > rows: each half of the pixels (256 B of ifmap) fits and is read once across
    the column folds (512 B in all); the weights (128 B) do not fit, so each chunk reads them
    again (2 x 128 B); a column fold's partial sums of one chunk (32 x 4 x 4 = 512 B) fit: no
    spill; outputs 1024 B. Any other order moves more: columns outermost re-read the whole ifmap
    per column fold (4 x 512 B), rows outside the columns spill the partial sums."""
    layer = gemm_layer(64, 16, 8)
    t = _search(layer, 4, 4, "ws", buffers__ifmap_kb=0.5, buffers__weight_kb=0.125, buffers__ofmap_kb=1.0)
    assert t.loop_orders == ["steps/2>cols>rows"]
    assert (t.total.dram_read_bytes, t.total.dram_write_bytes) == (512 + 2 * 128, 1024)


def test_search_keeps_the_scalesim_default_untouched():
    """loop_order auto and dataflow never chunk a ws/is stream (the SCALE-Sim-convention tilings)."""
    layer = gemm_layer(64, 16, 8)
    for order in ("auto", "dataflow"):
        t = _run(layer, hw_config(4, 4, "is", loop_order=order, buffers__ofmap_kb=1.0))
        assert t.folds == map_layer(layer, hw_config(4, 4, "is")).folds


def test_search_os_splits_the_reduction_as_worked_by_hand():
    """The os case of test_split_reduction_reads_a_big_weight_block_once_by_hand under the search:
    the same 2 reduction chunks, the same 8192 B read and 192 B written (with split_reduction
    never the search may not chunk an os reduction: 12288 B as without a split)."""
    layer = gemm_layer(24, 8, 256)
    t = _search(layer, 8, 8, "os", buffers__weight_kb=2.0, buffers__split_reduction="auto")
    assert (t.total.dram_read_bytes, t.total.dram_write_bytes, t.total.folds) == (8192, 192, 6)
    never = _search(layer, 8, 8, "os", buffers__weight_kb=2.0)
    assert (never.total.dram_read_bytes, never.total.folds) == (12288, 3)


def test_search_is_equals_ws_on_the_transposed_gemm():
    """is and ws are one engine with the operands swapped: is on [M, K] @ [K, N] with ifmap/weight
    buffers (a, b) moves exactly what ws moves on [N, K] @ [K, M] with buffers (b, a), so the ws
    cases worked by hand above hold for is too (same bytes, folds and cycles)."""
    for (m, n, k), (a, b, o) in [((64, 16, 8), (0.125, 0.5, 1.0)), ((64, 8, 8), (1.0, 1.0, 1.0)),
                                 ((37, 23, 19), (0.0625, 0.25, 0.125)), ((80, 5, 33), (2.0, 0.0625, 0.25))]:
        x = _search(gemm_layer(m, n, k), 4, 4, "is", buffers__ifmap_kb=a, buffers__weight_kb=b, buffers__ofmap_kb=o)
        y = _search(gemm_layer(n, m, k), 4, 4, "ws", buffers__ifmap_kb=b, buffers__weight_kb=a, buffers__ofmap_kb=o)
        assert (x.total.dram_read_bytes, x.total.dram_write_bytes, x.total.folds, x.total.compute_cycles) == (
            y.total.dram_read_bytes, y.total.dram_write_bytes, y.total.folds, y.total.compute_cycles)
        assert x.loop_orders == y.loop_orders
