"""Activations kept on chip between layers and the per-layer loop order: hand-counted DRAM bytes."""

from __future__ import annotations

from accelsim.config.simulation import SimulationConfig
from accelsim.hw.sim import simulate_network
from accelsim.layers import LayerDescriptor, Network
from tests.hw.conftest import hw_config

FREE = SimulationConfig(stall_free=True)


def fc(name: str, inp: str, m: int, n: int, k: int) -> LayerDescriptor:
    """1x1 conv reading tensor *inp*: GEMM [m, k] @ [k, n], 8-bit everything."""
    return LayerDescriptor(name=name, op="conv2d", inputs=(inp,), output=name,
                           in_shape=(m, k, 1, 1), out_shape=(m, n, 1, 1))


def net(*layers, out=None):
    return Network(name="t", layers=tuple(layers), inputs=("x",), outputs=(out or layers[-1].output,))


def test_intermediate_that_fits_never_touches_dram():
    """x[16x4] -> a = x @ W_a[4x8] -> b = a @ W_b[8x4]; os 4x4, 64 KiB buffers.

    a is 16*8 = 128 B, far below the 64 KiB output buffer: it stays on chip.
    Layer a: reads x (64 B) + W_a (32 B), writes nothing. Layer b: reads W_b (32 B), writes
    16*4 = 64 B. Without residency a is written (128 B) and read back (128 B)."""
    a, b = fc("a", "x", 16, 8, 4), fc("b", "a", 16, 4, 8)
    t = simulate_network(net(a, b), hw_config(4, 4, "os"), FREE)
    la, lb = t.layers
    assert (la.dram_read_bytes, la.dram_write_bytes) == (64 + 32, 0)
    assert (lb.dram_read_bytes, lb.dram_write_bytes) == (32, 64)
    assert t.resident == ["a"]
    d = t.to_dict()
    assert d["meta"]["resident_tensors"] == ["a"] and [r["loop_order"] for r in d["layers"]] == ["rows", "rows"]
    # the array still reads a from SRAM (im2col stream, one pass per column fold) but nothing fills it
    assert lb.sram_read_bytes["ifmap"] == 16 * 8 and lb.sram_write_bytes["ifmap"] == 0
    off = simulate_network(net(a, b), hw_config(4, 4, "os", buffers__keep_activations=False), FREE)
    la, lb = off.layers
    assert (la.dram_read_bytes, la.dram_write_bytes) == (96, 128)
    assert (lb.dram_read_bytes, lb.dram_write_bytes) == (128 + 32, 64)
    assert off.resident == []


def test_intermediate_that_does_not_fit_is_spilled():
    """The same network with a 64-byte output buffer (two 32 B halves, enough for one 4x4 tile):
    a (128 B) does not fit, so it is written to DRAM and read back by b. The same with a 64-byte
    input buffer: after the swap a would have to sit in the input buffer, so it spills too."""
    a, b = fc("a", "x", 16, 8, 4), fc("b", "a", 16, 4, 8)
    for key in ("buffers__ofmap_kb", "buffers__ifmap_kb"):
        t = simulate_network(net(a, b), hw_config(4, 4, "os", **{key: 64 / 1024}), FREE)
        la, lb = t.layers
        assert (la.dram_write_bytes, lb.dram_read_bytes) == (128, 128 + 32)
        assert t.resident == []


def test_unified_activation_buffer_keeps_what_the_output_buffer_cannot():
    """The same network with a 64-byte output buffer and a 256-byte ifmap buffer. With the buffer
    swap a (128 B) must fit both buffers: it spills (written 128 B, read back 128 B). With
    unified_activations the ifmap buffer alone holds it (128 <= 256 B): nothing goes to DRAM, and
    the array moves a once from the output buffer into the ifmap buffer (128 B read, 128 B
    written) on top of layer a's own SRAM traffic."""
    a, b = fc("a", "x", 16, 8, 4), fc("b", "a", 16, 4, 8)
    hw = {"buffers__ofmap_kb": 64 / 1024, "buffers__ifmap_kb": 256 / 1024}
    swap = simulate_network(net(a, b), hw_config(4, 4, "os", **hw), FREE)
    uni = simulate_network(net(a, b), hw_config(4, 4, "os", buffers__unified_activations=True, **hw), FREE)
    assert swap.resident == [] and uni.resident == ["a"]
    assert (swap.layers[0].dram_write_bytes, swap.layers[1].dram_read_bytes) == (128, 128 + 32)
    assert (uni.layers[0].dram_write_bytes, uni.layers[1].dram_read_bytes) == (0, 32)
    sa, ua = swap.layers[0], uni.layers[0]
    # swap: the 128 B write-back was read from the output buffer; unified: the same 128 B read,
    # now moving a into the ifmap buffer (which layer a filled with x, 64 B)
    assert (sa.sram_read_bytes["ofmap"], ua.sram_read_bytes["ofmap"]) == (128, 128)
    assert (sa.sram_write_bytes["ifmap"], ua.sram_write_bytes["ifmap"]) == (64, 64 + 128)


def residual(ofmap_bytes: float):
    """x[16x4] -> a (16x8) -> b = conv(a) (16x8) -> s = add(a, b); a is the skip tensor, live from
    layer 0 to layer 2, b from layer 1 to 2; each is 128 B."""
    a, b = fc("a", "x", 16, 8, 4), fc("b", "a", 16, 8, 8)
    s = LayerDescriptor(name="s", op="add", inputs=("a", "b"), output="s", in_shape=(16, 8, 1, 1),
                        out_shape=(16, 8, 1, 1))
    return simulate_network(net(a, b, s), hw_config(4, 4, "os", buffers__ofmap_kb=ofmap_bytes / 1024), FREE)


def test_residual_skip_tensor_stays_until_the_add_or_spills():
    # 256 B: a (128) + b (128) fit together during layers 1..2: the add reads nothing from DRAM
    t = residual(256)
    assert t.resident == ["a", "b"]
    assert [c.dram_write_bytes for c in t.layers] == [0, 0, 128]
    assert [c.dram_read_bytes for c in t.layers] == [64 + 32, 64, 0]
    # 192 B: a is resident (it must stay until the add, layer 2), so b cannot join it: b spills;
    # the add reads b (128 B) from DRAM and a from SRAM
    t = residual(192)
    assert t.resident == ["a"]
    assert [c.dram_write_bytes for c in t.layers] == [0, 128, 128]
    assert [c.dram_read_bytes for c in t.layers] == [96, 64, 128]
    # 64 B: neither fits: a is written once and read by both consumers
    t = residual(64)
    assert t.resident == []
    assert [c.dram_write_bytes for c in t.layers] == [128, 128, 128]
    assert [c.dram_read_bytes for c in t.layers] == [96, 128 + 64, 256]


def test_network_output_always_goes_to_dram():
    """b is read by c but is also a network output: it is written to DRAM (and c reads it there)."""
    a, b, c = fc("a", "x", 16, 8, 4), fc("b", "a", 16, 4, 8), fc("c", "b", 16, 4, 4)
    t = simulate_network(Network(name="t", layers=(a, b, c), inputs=("x",), outputs=("b", "c")),
                         hw_config(4, 4, "os"), FREE)
    assert t.resident == ["a"]
    assert [c.dram_write_bytes for c in t.layers] == [0, 64, 64]
    assert t.layers[2].dram_read_bytes == 64 + 16


def test_simpy_has_no_dma_for_resident_tensors_by_hand():
    """os 4x4, two 4x4x4 layers a -> b, 1 byte/cycle. One fold each: T + r + c - 1 + a + C =
    4 + 4 + 4 + 1 - 1 + 4 = 16 cycles. Layer a: DMA 32 B (x 16 + W 16) 0-32, compute 32-48, no
    write-back (a stays on chip): ends at 48. Layer b: DMA of W_b only (16 B) 48-64, compute 64-80,
    write-back 16 B 80-96. Without residency: a writes 48-64, b loads 32 B 64-96, computes 96-112,
    writes 112-128."""
    a, b = fc("a", "x", 4, 4, 4), fc("b", "a", 4, 4, 4)
    hw = hw_config(4, 4, "os", dram__bandwidth_bytes_per_cycle=1)
    t = simulate_network(net(a, b), hw, SimulationConfig())
    tl = t.timeline
    assert sorted(zip(tl.layer, tl.phase, tl.start, tl.end)) == [
        (0, "compute", 32, 48), (0, "dma", 0, 32),
        (1, "compute", 64, 80), (1, "dma", 48, 64), (1, "writeback", 80, 96)]
    assert [c.total_cycles for c in t.layers] == [48, 48] and t.total.total_cycles == 96
    off = simulate_network(net(a, b), hw_config(4, 4, "os", dram__bandwidth_bytes_per_cycle=1,
                                                buffers__keep_activations=False), SimulationConfig())
    assert [c.total_cycles for c in off.layers] == [64, 64]


def test_loop_order_picks_fewer_dram_bytes_os():
    """os on 8x8, M=64 pixels, K=64, N=24 channels, ifmap buffer 2 KiB (1 KiB halves).

    rows outer (dataflow order): each 8-pixel ifmap block (8*64 = 512 B) fits a half -> x read once
    (4096 B); the whole W (64*24 = 1536 B) fits -> once: 5632 B read.
    cols outer: each 64x8 weight block (512 B) once (1536 B), but the whole ifmap (4096 B) does not
    fit a half -> re-read for each of the 3 column tiles: 12288 + 1536 = 13824 B.
    The output (64*24 = 1536 B) is written once either way. auto keeps rows."""
    layer = fc("g", "x", 64, 24, 64)
    hw = dict(buffers__ifmap_kb=2.0)
    rows = simulate_network(net(layer), hw_config(8, 8, "os", loop_order="dataflow", **hw), FREE)
    auto = simulate_network(net(layer), hw_config(8, 8, "os", **hw), FREE)
    assert rows.total.dram_read_bytes == 4096 + 1536 and auto.loop_orders == ["rows"]
    assert auto.total.dram_read_bytes == 4096 + 1536 and auto.total.dram_write_bytes == 1536


def test_loop_order_picks_fewer_dram_bytes_ws():
    """ws on 8x8, M=64, N=64, K=24 (3 row folds over K, 8 column folds over N), ifmap buffer 1 KiB.

    cols outer (dataflow order): every column tile streams the whole ifmap (64*24 = 1536 B), which
    does not fit a 512 B half -> 8 * 1536 = 12288 B; weights once 1536 B; each tile's partial sums
    (64*8*4 = 2 KiB) stay in the 32 KiB output half: reads 13824 B.
    rows outer: each K block of the ifmap (1536 * 8/24 = 512 B) fits a half -> read once (1536 B),
    weights once (1536 B); all partial sums (64*64*4 = 16 KiB) fit the output half: reads 3072 B.
    Writes: the 64*64 = 4096 B output either way. Compute cycles do not change."""
    layer = fc("g", "x", 64, 64, 24)
    fixed = simulate_network(net(layer), hw_config(8, 8, "ws", buffers__ifmap_kb=1.0, loop_order="dataflow"), FREE)
    auto = simulate_network(net(layer), hw_config(8, 8, "ws", buffers__ifmap_kb=1.0), FREE)
    assert (fixed.total.dram_read_bytes, fixed.loop_orders) == (8 * 1536 + 1536, ["cols"])
    assert (auto.total.dram_read_bytes, auto.loop_orders) == (1536 + 1536, ["rows"])
    assert auto.total.dram_write_bytes == fixed.total.dram_write_bytes == 4096
    assert auto.total.compute_cycles == fixed.total.compute_cycles
    # SimPy with the reordered tiles: every byte still crosses the channel, compute is unchanged
    t = simulate_network(net(layer), hw_config(8, 8, "ws", buffers__ifmap_kb=1.0), SimulationConfig())
    assert t.total.compute_cycles == fixed.total.compute_cycles
    assert t.total.total_cycles >= (3072 + 4096) / 16
