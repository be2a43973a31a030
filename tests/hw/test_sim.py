"""The SimPy model: hand-worked DMA/compute/write-back timelines, stalls, traffic, API."""

from __future__ import annotations

import math

import numpy as np
import pytest

from accelsim.config.simulation import SimulationConfig
from accelsim.errors import MappingError
from accelsim.hw.sim import AcceleratorModel, _Chunk, simulate_network
from accelsim.layers import LayerDescriptor, Network
from tests.hw.conftest import gemm_layer, hw_config

TINY_KB = 32 / 1024  # 32-byte buffers: 16 bytes per half


def net_of(*layers):
    return Network(name="t", layers=tuple(layers), inputs=("x",), outputs=(layers[-1].output,))


def test_single_tile_by_hand():
    """os 4x4, M=N=K=4, 8 bit, 1 byte/cycle: load 16 B ifmap + 16 B weights = 32 cycles, compute
    T + r + c - 1 + a + C = 4 + 4 + 4 + 1 - 1 + 4 = 16 cycles, write 16 B = 16 cycles: 64."""
    hw = hw_config(4, 4, "os", dram__bandwidth_bytes_per_cycle=1)
    t = simulate_network(net_of(gemm_layer(4, 4, 4)), hw, SimulationConfig())
    c = t.layers[0]
    assert (c.compute_cycles, c.stall_cycles, c.total_cycles) == (16, 48, 64)
    assert (c.dram_read_bytes, c.dram_write_bytes) == (32, 16)
    assert c.macs == 64 and c.mac_slots == 16 * 16 and c.utilization == 0.25


def test_double_buffering_overlaps_the_next_load_by_hand():
    """Two row folds (M=8), 16-byte buffer halves. Double-buffered: DMA0 0-32 (ifmap 16 + weights 16),
    compute0 32-48 while DMA1 32-48 loads the second half, WB0 48-64 and compute1 48-64, WB1 64-80."""
    kb = {"buffers__ifmap_kb": TINY_KB, "buffers__weight_kb": TINY_KB, "buffers__ofmap_kb": TINY_KB}
    hw = hw_config(4, 4, "os", dram__bandwidth_bytes_per_cycle=1, **kb)
    t = simulate_network(net_of(gemm_layer(8, 4, 4)), hw, SimulationConfig())
    assert (t.total.compute_cycles, t.total.total_cycles) == (32, 80)
    tl = t.timeline
    phases = sorted(zip(tl.phase, tl.start, tl.end), key=lambda x: (x[1], x[0]))
    assert phases == [("dma", 0, 32), ("compute", 32, 48), ("dma", 32, 48), ("compute", 48, 64),
                      ("writeback", 48, 64), ("writeback", 64, 80)]
    single = hw_config(4, 4, "os", dram__bandwidth_bytes_per_cycle=1, buffers__double_buffered=False,
                       buffers__ifmap_kb=TINY_KB / 2, buffers__weight_kb=TINY_KB / 2, buffers__ofmap_kb=TINY_KB / 2)
    t1 = simulate_network(net_of(gemm_layer(8, 4, 4)), single, SimulationConfig())
    assert t1.total.total_cycles in (96, 112)  # the second load waits for the first compute


def test_stall_free_is_compute_only():
    hw = hw_config(8, 8, "ws", dram__bandwidth_bytes_per_cycle=0.5)
    t = simulate_network(net_of(gemm_layer(50, 30, 20)), hw, SimulationConfig(stall_free=True))
    assert t.total.stall_cycles == 0 and t.total.total_cycles == t.total.compute_cycles > 0
    assert t.timeline is None


def test_bandwidth_sweep_falls_to_the_compute_bound():
    layer = gemm_layer(200, 64, 300)
    totals = []
    for bw in (0.25, 1, 4, 16, 64, 1e6):
        t = simulate_network(net_of(layer), hw_config(8, 8, "os", dram__bandwidth_bytes_per_cycle=bw), SimulationConfig())
        c = t.total
        # the DRAM channel must move every byte: total >= bytes / bandwidth
        assert c.total_cycles >= (c.dram_read_bytes + c.dram_write_bytes) / bw - 1
        totals.append(c.total_cycles)
    assert all(a >= b for a, b in zip(totals, totals[1:]))
    assert totals[0] > 3 * totals[-1]
    assert totals[-1] - c.compute_cycles <= 3  # each transfer rounds up to whole cycles


def test_weights_reread_per_tile_when_they_do_not_fit():
    """os: 3 row folds; weights (K*N = 64*64 = 4 KiB) exceed a 1 KiB half. In the dataflow's loop
    order (row folds outer) they are read once per tile: 1536 B ifmap + 3 * 4096 B. With
    ``loop_order: auto`` the column folds go outer instead: each 64x8 weight block (512 B) fits a
    half and is read once, the whole ifmap (1536 B) fits its half and is read once: 1536 + 4096."""
    layer = gemm_layer(24, 64, 64)
    hw = hw_config(8, 8, "os", buffers__weight_kb=2.0, loop_order="dataflow")
    t = simulate_network(net_of(layer), hw, SimulationConfig(stall_free=True))
    assert t.total.dram_read_bytes == 24 * 64 + 3 * 64 * 64 and t.loop_orders == ["rows"]
    hw = hw_config(8, 8, "os", buffers__weight_kb=2.0)
    t2 = simulate_network(net_of(layer), hw, SimulationConfig(stall_free=True))
    assert t2.total.dram_read_bytes == 24 * 64 + 64 * 64 and t2.loop_orders == ["cols"]
    assert t2.total.compute_cycles == t.total.compute_cycles
    hw_big = hw_config(8, 8, "os", buffers__weight_kb=16.0)
    t = simulate_network(net_of(layer), hw_big, SimulationConfig(stall_free=True))
    assert t.total.dram_read_bytes == 24 * 64 + 64 * 64


def test_ws_partial_sums_spill_when_the_output_buffer_is_small():
    """ws, K = 3 row folds inside each of 8 column tiles: a tile's partial sums (M*8*4 B = 2 KiB) do
    not fit a 1 KiB half: two spills per tile written and read back, then the final 8-bit outputs.
    With a 4 KiB half they stay on chip."""
    layer = gemm_layer(64, 64, 24)
    hw = hw_config(8, 8, "ws", buffers__ofmap_kb=2.0)
    t = simulate_network(net_of(layer), hw, SimulationConfig(stall_free=True))
    psum, out = 64 * 64 * 4, 64 * 64
    assert t.total.dram_write_bytes == 2 * psum + out
    assert t.total.dram_read_bytes == 64 * 24 + 24 * 64 + 2 * psum
    t = simulate_network(net_of(layer), hw_config(8, 8, "ws", buffers__ofmap_kb=8.0), SimulationConfig(stall_free=True))
    assert (t.total.dram_write_bytes, t.total.dram_read_bytes) == (out, 64 * 24 + 24 * 64)


def test_off_array_layer_counts():
    pool = LayerDescriptor(name="pool", op="maxpool", inputs=("x",), output="pool", in_shape=(1, 8, 4, 4),
                           out_shape=(1, 8, 2, 2), kernel=(2, 2), stride=(2, 2))
    t = simulate_network(net_of(gemm_layer(16, 8, 4), pool), hw_config(4, 4, "os"), SimulationConfig())
    c = t.layers[1]
    assert c.compute_cycles == 0 and c.vector_ops == 32 * 4 and c.macs == 0
    assert (c.dram_read_bytes, c.dram_write_bytes) == (128, 32)
    assert c.total_cycles == c.stall_cycles == np.ceil(128 / 16) + np.ceil(32 / 16)


def test_network_timing_api():
    hw = hw_config(8, 8, "os", clock_hz=1e9)
    t = simulate_network(net_of(gemm_layer(30, 20, 10, name="a"), gemm_layer(30, 10, 20, name="b")), hw,
                         SimulationConfig())
    assert t.total.total_cycles == sum(c.total_cycles for c in t.layers)
    assert t.total.macs == 30 * 20 * 10 + 30 * 10 * 20
    assert t.latency_s == pytest.approx(t.total.total_cycles / 1e9)
    assert t.inferences_per_s == pytest.approx(30 / t.latency_s)  # batch = N of the first layer = M here
    assert t.peak_tops == pytest.approx(2 * 64 * 1e9 / 1e12)
    assert t.achieved_tops == pytest.approx(2 * t.total.macs / t.latency_s / 1e12)
    d = t.to_dict()
    for row in d["layers"] + [d["total"]]:
        for key in ("name", "macs", "compute_cycles", "stall_cycles", "total_cycles", "utilization"):
            assert key in row
    assert d["total"]["latency_s"] == t.latency_s and "inferences_per_s" in d["total"]
    tl = t.timeline
    assert all(e >= s for s, e in zip(tl.start, tl.end))
    comp = sum(e - s for p, s, e in zip(tl.phase, tl.start, tl.end) if p == "compute")
    assert comp == t.total.compute_cycles


def test_empty_network_and_tiny_buffer_raise():
    with pytest.raises(MappingError, match="no layers"):
        simulate_network(Network(name="e", layers=(), inputs=(), outputs=()), hw_config(), SimulationConfig())
    with pytest.raises(MappingError, match=r"buffers.ifmap_kb: layer 'g' needs at least 2 KiB"):
        simulate_network(net_of(gemm_layer(8, 8, 8)), hw_config(32, 32, "is", buffers__ifmap_kb=1.0),
                         SimulationConfig())


def test_pe_traffic_by_hand():
    """One 2x2 os fold, K = 3, 8-bit operands, 32-bit accumulators, shift drain on a 2x2 array.

    Forwards: each of the 2 rows' 3 activations hops 1 column (2*3*1*8 = 48 bits), each of the 2
    columns' 3 weights hops 1 row (48 bits), the output chain moves column 0's results one column
    before they exit (2 rows * 1 hop * 32 = 64 bits): 160 bits.
    Register writes: 3 steps * 4 PEs * (8 + 8 operand + 32 accumulator) = 576, the copy into the
    output chain 4 * 32 = 128, the chain hop 64: 768 bits.
    ws, same GEMM (K = 3 rows used of a 3x2 array, M = 2 steps): preload hops 2*(0+1+2)*8 = 48,
    activations 2 steps * 3 rows * 1 hop * 8 = 48, partial sums 2 steps * 2 columns * 2 hops * 32
    = 256: 352 bits."""
    hw = hw_config(2, 2, "os")
    t = simulate_network(net_of(gemm_layer(2, 2, 3)), hw, SimulationConfig(stall_free=True))
    assert (t.total.pe_forward_bits, t.total.pe_reg_write_bits) == (160, 768)
    t = simulate_network(net_of(gemm_layer(2, 2, 3)), hw_config(3, 2, "ws"), SimulationConfig(stall_free=True))
    assert t.total.pe_forward_bits == 352


def test_cross_layer_prefetch_by_hand():
    """Two os layers on 4x4, M = N = K = 4, 8 bit, 1 byte/cycle, outputs through DRAM.

    Without prefetch: a loads 0-32 (16 B ifmap + 16 B weights), computes 32-48, writes 48-64;
    b loads 64-96, computes 96-112, writes 112-128. With prefetch b's 16 B of weights load into
    the free half at 32-48 (the channel is idle while a computes); b waits for a's write-back
    (64), loads its 16 B of activations 64-80, computes 80-96, writes 96-112: 16 cycles saved."""
    a = gemm_layer(4, 4, 4, name="a")
    b = LayerDescriptor(name="b", op="conv2d", inputs=("a",), output="b", in_shape=(4, 4, 1, 1),
                        out_shape=(4, 4, 1, 1))
    net = Network(name="t", layers=(a, b), inputs=("x",), outputs=("b",))
    for prefetch, total in ((False, 128), (True, 112)):
        hw = hw_config(4, 4, "os", dram__bandwidth_bytes_per_cycle=1, buffers__keep_activations=False,
                       buffers__cross_layer_prefetch=prefetch)
        t = simulate_network(net, hw, SimulationConfig())
        assert t.total.total_cycles == total
        assert [c.compute_cycles for c in t.layers] == [16, 16]
        dma = sorted((s, e) for p, s, e in zip(t.timeline.phase, t.timeline.start, t.timeline.end) if p == "dma")
        assert dma == ([(0, 32), (64, 96)] if not prefetch else [(0, 32), (32, 48), (64, 80)])


class PlainModel:
    """The model written the plain SimPy way, one event per step: a Container per buffer, a Store
    between the processes, a Resource for the DRAM channel (about 14 events per chunk). The
    reference for :class:`accelsim.hw.sim.AcceleratorModel`, which must give the same cycles and
    the same phases in the same order with fewer events."""

    def __init__(self, double_buffered: bool, prefetch: bool, bandwidth: float):
        import simpy

        self.env = simpy.Environment()
        halves = 2 if double_buffered else 1
        self.prefetch, self.bw = prefetch, bandwidth
        self.dram = simpy.Resource(self.env, capacity=1)
        self.in_space = simpy.Container(self.env, capacity=halves, init=halves)
        self.out_space = simpy.Container(self.env, capacity=halves, init=halves)
        self.loaded, self.computed = simpy.Store(self.env), simpy.Store(self.env)
        self.timeline, self.layer_end, self.done = [], {}, {}

    def _done(self, layer):
        return self.done.setdefault(layer, self.env.event())

    def _transfer(self, layer, nbytes, phase):
        with self.dram.request() as req:
            yield req
            t0 = self.env.now
            yield self.env.timeout(math.ceil(nbytes / self.bw - 1e-9))
            self.timeline.append((layer, phase, t0, self.env.now))

    def _dma(self, chunks):
        for ch in chunks:
            waits = ch.first and ch.layer > 0
            if waits and not self.prefetch:
                yield self._done(ch.layer - 1)
            yield self.in_space.get(1)
            early = ch.weight_read if waits and self.prefetch else 0.0
            if early > 0:
                yield from self._transfer(ch.layer, early, "dma")
            if waits and self.prefetch:
                yield self._done(ch.layer - 1)
            if ch.read - early > 0:
                yield from self._transfer(ch.layer, ch.read - early, "dma")
            yield self.loaded.put(ch)

    def _array(self, n):
        for _ in range(n):
            ch = yield self.loaded.get()
            t0 = self.env.now
            if ch.compute:
                yield self.env.timeout(ch.compute)
                self.timeline.append((ch.layer, "compute", t0, self.env.now))
            yield self.in_space.put(1)
            yield self.out_space.get(1)
            yield self.computed.put(ch)

    def _writeback(self, n):
        for _ in range(n):
            ch = yield self.computed.get()
            if ch.write > 0:
                yield from self._transfer(ch.layer, ch.write, "writeback")
            yield self.out_space.put(1)
            if ch.last:
                self.layer_end[ch.layer] = self.env.now
                self._done(ch.layer).succeed()

    def run(self, chunks):
        for proc in (self._dma(chunks), self._array(len(chunks)), self._writeback(len(chunks))):
            self.env.process(proc)
        self.env.run()
        return [self.layer_end[i] for i in range(len(self.layer_end))]


@pytest.mark.parametrize("seed", range(6))
def test_event_merged_model_equals_the_plain_simpy_model(seed):
    """Random chunk streams with small whole numbers of cycles and bytes, so that requests for the
    DRAM channel often fall in the same cycle and their order decides later cycles (an order
    taken from the event ids would differ on about 2 % of such streams): layer ends, phases
    and the phases' order must match the plain model's exactly, with fewer SimPy events."""
    rng = np.random.default_rng(seed)
    for _ in range(60):
        db, prefetch = bool(rng.random() < 0.7), bool(rng.random() < 0.5)
        bw = float(rng.choice([0.5, 1.0, 1.0, 2.0, 3.0]))
        chunks = []
        for layer in range(int(rng.integers(1, 6))):
            n = int(rng.integers(1, 9))
            for k in range(n):
                read, write = (float(x) for x in rng.integers(0, 5, size=2))
                weights = float(min(read, rng.choice([0.0, 0.0, 1.0])))
                chunks.append(_Chunk(layer, int(rng.integers(0, 5)), read, write, k == 0, k == n - 1, weights))
        hw = hw_config(buffers__double_buffered=db, buffers__cross_layer_prefetch=prefetch,
                       dram__bandwidth_bytes_per_cycle=bw)
        plain = PlainModel(db, prefetch, bw)
        want = plain.run(chunks)
        model = AcceleratorModel(hw)
        assert model.run_chunks(chunks) == want
        tl = model.timeline
        assert list(zip(tl.layer, tl.phase, tl.start, tl.end)) == plain.timeline
        assert next(model.env._eid) <= next(plain.env._eid)
