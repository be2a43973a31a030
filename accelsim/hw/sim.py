"""The SimPy model of array, double-buffered SRAM and DRAM; per-layer count records.

One :class:`simpy.Environment` per run; its time unit is one clock cycle. Three processes
exchange events per *chunk* (a tile, or a piece of a tile small enough for its buffer halves;
a tile is one (group, row fold) of a layer, see :mod:`accelsim.hw.traffic`), never per cycle:

- ``dma``: for each chunk, waits for a free input-buffer half (a :class:`simpy.Container` of
  2 halves, 1 if not double-buffered), then holds the DRAM channel for
  ``ceil(bytes / bandwidth)`` cycles and hands the chunk to the array.
- ``array``: takes the next loaded chunk (waiting for it is a stall), computes for its share of
  the layer's closed-form compute cycles (:mod:`accelsim.hw.timing`), frees its input half, then
  waits for a free output-buffer half (waiting is a stall) and passes the results on.
- ``writeback``: holds the DRAM channel for the chunk's write bytes, then frees the output half.

The DRAM channel is one :class:`simpy.Resource` shared by reads and write-back. Layers run one
after another: a layer's first load waits until the previous layer's last write-back is done
(its input is that output). With ``hardware.buffers.cross_layer_prefetch`` the first chunk's
weights (which need no earlier layer) load as soon as a buffer half is free, while the previous
layer still computes or writes back; its activations and its compute still wait for the previous
layer's end. Layers off the array (pooling, add, ...) do no array cycles: their
DRAM reads and writes go through the same channel. Tensors kept on chip
(:mod:`accelsim.hw.residency`) have no DMA or write-back events at all: a chunk with no bytes to
move skips the channel (a layer whose output is resident ends when its last chunk is computed). A layer's total cycles are from its start to
its last write-back; stalls are total minus compute. With ``simulation.stall_free`` the model is
skipped and total = compute (SCALE-Sim's CALC mode); byte counts are reported all the same.

Aggregation: a tile covers all column folds of a row fold, so the event count grows with the
number of row folds (and with data volume over buffer size), never with MACs.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from math import ceil

import numpy as np
import simpy

from accelsim.config.hardware import HardwareConfig
from accelsim.config.simulation import SimulationConfig
from accelsim.errors import MappingError
from accelsim.hw.counts import BUFFERS, LayerCounts
from accelsim.hw.jit import lazy_njit
from accelsim.hw.mapping import KIB, check_buffers, map_layer
from accelsim.hw.residency import Residency, plan_residency
from accelsim.hw.registers import clock_bit_cycles, local_store_bits
from accelsim.hw.timing import MicroArch, layer_schedule, reduction_chunks, scalesim_schedule, single_fold_cycles
from accelsim.hw.traffic import canonical_order, layer_traffic, nest_tile_cycles, off_array_traffic
from accelsim.layers import LayerDescriptor, Network

PHASES = ("dma", "compute", "writeback")


@dataclass
class Timeline:
    """Start/end cycles of every DMA, compute and write-back phase (for trace export).

    Parallel lists, one entry per phase: ``layer[i]`` (index into ``NetworkTiming.layers``),
    ``phase[i]`` (one of :data:`PHASES`), ``start[i]``, ``end[i]`` in cycles.
    """

    layer: list[int] = field(default_factory=list)
    phase: list[str] = field(default_factory=list)
    start: list[int] = field(default_factory=list)
    end: list[int] = field(default_factory=list)

    def add(self, layer: int, phase: str, start: int, end: int) -> None:
        self.layer.append(layer)
        self.phase.append(phase)
        self.start.append(int(start))
        self.end.append(int(end))

    def __len__(self) -> int:
        return len(self.layer)


@dataclass
class _Chunk:
    layer: int
    compute: int
    read: float
    write: float
    first: bool
    last: bool
    weight_read: float = 0.0
    """Of ``read``: weight bytes (they depend on no earlier layer: cross-layer prefetch may load them)."""


@dataclass
class LayerPlan:
    """What the SimPy model needs of one layer, plus its counts without cycles."""

    layer: LayerDescriptor
    compute_cycles: int
    spans: np.ndarray
    tile_read: np.ndarray
    tile_write: np.ndarray
    counts: LayerCounts
    order: str = ""
    """Tile loop order of an array layer (``rows``/``cols``, :mod:`accelsim.hw.traffic`); "" off the array."""


def plan_layer(layer: LayerDescriptor, hw: HardwareConfig, sim: SimulationConfig, *,
               resident_inputs: frozenset[str] = frozenset(), output_resident: bool = False,
               input_elems: dict[str, int] | None = None) -> LayerPlan:
    """Map *layer*, time it in closed form and count its data movement (no SimPy yet).

    *resident_inputs* (tensor names) are read from SRAM, a resident output is not written to
    DRAM (:mod:`accelsim.hw.residency`). The tile loop order follows ``hardware.loop_order``
    (:func:`accelsim.hw.traffic.layer_traffic`); the compute cycles never depend on it.

    Raises
    ------
    MappingError
        A buffer cannot hold one tile of the layer (message names buffer, KiB needed, configured).
    """
    arch = MicroArch.from_config(hw)
    if not layer.on_array:
        ops, rd, wr = off_array_traffic(layer, resident_inputs, output_resident, input_elems)
        counts = LayerCounts(
            name=layer.name, vector_ops=ops, dram_read_bytes=rd, dram_write_bytes=wr,
            sram_read_bytes=dict.fromkeys(BUFFERS, 0.0), sram_write_bytes=dict.fromkeys(BUFFERS, 0.0),
        )
        return LayerPlan(layer, 0, np.zeros(1, np.int64), np.array([[rd, 0.0, 0.0]]), np.array([wr]), counts)
    mp = map_layer(layer, hw)
    check_buffers(mp, hw)
    tr = layer_traffic(layer, mp, hw, arch, input_resident=bool(layer.inputs) and layer.inputs[0] in resident_inputs,
                       output_resident=output_resident)
    if sim.convention == "scalesim":
        total, spans = scalesim_schedule(mp)
        if tr.k_chunks > 1:  # SCALE-Sim has no split reduction: its cycles, spread over the chunks
            spans = _split_evenly(spans, tr.k_chunks)
    else:
        total, spans = layer_schedule(mp, arch, tr.k_chunks)
    if tr.nest is not None:
        spans = _spread(total, np.tile(nest_tile_cycles(tr.nest, mp, arch, sim.convention == "scalesim"), mp.groups))
    elif tr.order != canonical_order(mp.dataflow):
        spans = _reordered_spans(mp, arch, sim, total, tr.order, tr.k_chunks)
    store_reads, store_writes = local_store_bits(hw, mp.macs)
    counts = LayerCounts(
        name=layer.name, macs=mp.macs, compute_cycles=total, folds=mp.folds * tr.k_chunks,
        mac_slots=hw.pes * mp.macs_per_pe * total,
        dram_read_bytes=tr.dram_read_bytes, dram_write_bytes=tr.dram_write_bytes,
        sram_read_bytes=tr.sram_read_bytes, sram_write_bytes=tr.sram_write_bytes,
        pe_forward_bits=tr.pe_forward_bits, pe_reg_write_bits=tr.pe_reg_write_bits,
        pe_store_read_bits=store_reads, pe_store_write_bits=store_writes,
    )
    return LayerPlan(layer, total, spans, tr.tile_read_bytes, tr.tile_write_bytes, counts, tr.order)


def _split_evenly(spans: np.ndarray, parts: int) -> np.ndarray:
    """Each span cut into *parts* integer pieces that add up to it (the first pieces 1 larger)."""
    base = spans[:, None] // parts
    extra = (np.arange(parts)[None, :] < (spans % parts)[:, None]).astype(np.int64)
    return (base + extra).reshape(-1)


def _reordered_spans(mp, arch: MicroArch, sim: SimulationConfig, total: int, order: str,
                     k_chunks: int = 1) -> np.ndarray:
    """Split *total* compute cycles over the tiles of the non-canonical loop order.

    Each tile gets its share in proportion to the single-fold cycles of the folds it holds
    (SCALE-Sim convention: equal per fold; a split reduction's chunk tiles in proportion to their
    steps); integer split by rounding the running sum, so the spans add up to *total* exactly.
    """
    r = np.full(mp.row_folds, mp.rows, dtype=np.float64)
    r[-1] = mp.edge_rows
    c = np.full(mp.col_folds, mp.cols, dtype=np.float64)
    c[-1] = mp.edge_cols
    if sim.convention == "scalesim":
        cyc = np.ones((len(r), len(c)))
    else:
        cyc = np.array([[single_fold_cycles(mp.dataflow, mp.t, int(rv), int(cv), arch) for cv in c] for rv in r],
                       dtype=np.float64)
    per_tile = cyc.sum(axis=1) if order == "rows" else cyc.sum(axis=0)
    if k_chunks > 1:
        nk, step, last = reduction_chunks(mp.t, k_chunks)
        frac = np.full(nk, step / mp.t)
        frac[-1] = last / mp.t
        per_tile = (per_tile[:, None] * frac[None, :]).reshape(-1)
    return _spread(total, np.tile(per_tile, mp.groups))


def _spread(total: int, w: np.ndarray) -> np.ndarray:
    """*total* cycles split over tiles in proportion to the weights *w* (integer, by rounding the
    running sum, so the spans add up to *total* exactly)."""
    ends = np.floor(total * np.cumsum(w) / w.sum() + 1e-9).astype(np.int64)
    ends[-1] = total
    return np.diff(ends, prepend=0)


class AcceleratorModel:
    """Array + double-buffered SRAM + one DRAM channel on one SimPy environment.

    Parameters
    ----------
    hw : hardware config (bandwidth, double buffering, buffer sizes).
    keep_timeline : record every phase's start and end.
    """

    def __init__(self, hw: HardwareConfig, keep_timeline: bool = True):
        self.hw = hw
        self.env = simpy.Environment()
        halves = 2 if hw.buffers.double_buffered else 1
        self.dram = simpy.Resource(self.env, capacity=1)
        self.in_space = simpy.Container(self.env, capacity=halves, init=halves)
        self.out_space = simpy.Container(self.env, capacity=halves, init=halves)
        self.loaded = simpy.Store(self.env)
        self.computed = simpy.Store(self.env)
        self.bw = hw.dram.bandwidth_bytes_per_cycle
        self.timeline = Timeline() if keep_timeline else None
        self.layer_end: dict[int, int] = {}
        self._layer_done: dict[int, simpy.Event] = {}

    def _transfer_cycles(self, nbytes: float) -> int:
        return ceil(nbytes / self.bw - 1e-9) if nbytes > 0 else 0

    def _done_event(self, layer: int) -> simpy.Event:
        if layer not in self._layer_done:
            self._layer_done[layer] = self.env.event()
        return self._layer_done[layer]

    def _dma(self, chunks: list[_Chunk]):
        prefetch = self.hw.buffers.cross_layer_prefetch
        for ch in chunks:
            waits = ch.first and ch.layer > 0
            if waits and not prefetch:
                yield self._done_event(ch.layer - 1)
            yield self.in_space.get(1)
            early = ch.weight_read if waits and prefetch else 0.0
            if early > 0:
                # cross-layer prefetch: the weights need no earlier layer; they load into the free
                # half while the previous layer still computes or writes back
                yield from self._dram_transfer(ch.layer, early, "dma")
            if waits and prefetch:
                yield self._done_event(ch.layer - 1)  # the activations are the previous output
            if ch.read - early > 0:
                yield from self._dram_transfer(ch.layer, ch.read - early, "dma")
            yield self.loaded.put(ch)

    def _dram_transfer(self, layer: int, nbytes: float, phase: str):
        """Hold the shared DRAM channel while *nbytes* move; record the span as *phase*."""
        with self.dram.request() as req:
            yield req
            t0 = self.env.now
            yield self.env.timeout(self._transfer_cycles(nbytes))
            if self.timeline is not None:
                self.timeline.add(layer, phase, t0, self.env.now)

    def _array(self, n: int):
        env = self.env
        for _ in range(n):
            ch = yield self.loaded.get()
            t0 = env.now
            if ch.compute:
                yield env.timeout(ch.compute)
                if self.timeline is not None:
                    self.timeline.add(ch.layer, "compute", t0, env.now)
            yield self.in_space.put(1)
            yield self.out_space.get(1)
            yield self.computed.put(ch)

    def _writeback(self, n: int):
        env = self.env
        for _ in range(n):
            ch = yield self.computed.get()
            if ch.write > 0:
                yield from self._dram_transfer(ch.layer, ch.write, "writeback")
            yield self.out_space.put(1)
            if ch.last:
                self.layer_end[ch.layer] = env.now
                self._done_event(ch.layer).succeed()

    def run(self, plans: list[LayerPlan]) -> list[int]:
        """Simulate all layers; return each layer's end cycle (last write-back done)."""
        chunks: list[_Chunk] = []
        for li, plan in enumerate(plans):
            start = len(chunks)
            chunks.extend(_layer_chunks(li, plan, self.hw))
            chunks[start].first = True
            chunks[-1].last = True
        self.env.process(self._dma(chunks))
        self.env.process(self._array(len(chunks)))
        self.env.process(self._writeback(len(chunks)))
        self.env.run()
        return [self.layer_end[i] for i in range(len(plans))]


@lazy_njit
def _merge_tiles(spans, reads, writes, halves):
    """Greedy DMA chunking of a layer's tiles (see :func:`_layer_chunks`).

    Returns (compute cycles, read bytes, write bytes, weight read bytes) per chunk.
    """
    n = spans.shape[0]
    comp = np.zeros(n + 64, np.int64)
    rd = np.zeros(n + 64)
    wr = np.zeros(n + 64)
    rw = np.zeros(n + 64)
    k = 0
    a0 = 0.0
    a1 = 0.0
    a2 = 0.0
    aw = 0.0
    ac = 0
    have = False
    for t in range(n):
        r0 = reads[t, 0]
        r1 = reads[t, 1]
        r2 = reads[t, 2]
        w = writes[t]
        pieces = max(1, int(np.ceil(r0 / halves[0] - 1e-9)), int(np.ceil(r1 / halves[1] - 1e-9)),
                     int(np.ceil(r2 / halves[2] - 1e-9)), int(np.ceil(w / halves[2] - 1e-9)))
        need = k + pieces + 2
        if need > comp.shape[0]:
            size = 2 * need
            c2 = np.zeros(size, np.int64)
            c2[:k] = comp[:k]
            comp = c2
            x2 = np.zeros(size)
            x2[:k] = rd[:k]
            rd = x2
            y2 = np.zeros(size)
            y2[:k] = wr[:k]
            wr = y2
            v2 = np.zeros(size)
            v2[:k] = rw[:k]
            rw = v2
        if pieces > 1:
            if have:
                comp[k] = ac
                rd[k] = a0 + a1 + a2
                wr[k] = aw
                rw[k] = a1
                k += 1
                a0 = a1 = a2 = aw = 0.0
                ac = 0
                have = False
            base = spans[t] // pieces
            extra = spans[t] - base * pieces
            for q in range(pieces):
                comp[k] = base + (1 if q < extra else 0)
                rd[k] = (r0 + r1 + r2) / pieces
                wr[k] = w / pieces
                rw[k] = r1 / pieces
                k += 1
            continue
        if have and (a0 + r0 > halves[0] * (1 + 1e-12) or a1 + r1 > halves[1] * (1 + 1e-12)
                     or a2 + r2 > halves[2] * (1 + 1e-12) or aw + w > halves[2] * (1 + 1e-12)):
            comp[k] = ac
            rd[k] = a0 + a1 + a2
            wr[k] = aw
            rw[k] = a1
            k += 1
            a0 = a1 = a2 = aw = 0.0
            ac = 0
        a0 += r0
        a1 += r1
        a2 += r2
        aw += w
        ac += spans[t]
        have = True
    if have or k == 0:
        comp[k] = ac
        rd[k] = a0 + a1 + a2
        wr[k] = aw
        rw[k] = a1
        k += 1
    return comp[:k], rd[:k], wr[:k], rw[:k]


def _layer_chunks(li: int, plan: LayerPlan, hw: HardwareConfig) -> list[_Chunk]:
    """Cut a layer into DMA chunks: consecutive tiles merge while together they fit the buffer
    halves (one DMA moves at most half a buffer per operand); a tile too big for a half is split
    evenly into as many pieces as it needs."""
    if not plan.layer.on_array:
        return [_Chunk(li, 0, float(plan.tile_read.sum()), float(plan.tile_write.sum()), False, False)]
    halves = np.array([hw.buffers.ifmap_kb, hw.buffers.weight_kb, hw.buffers.ofmap_kb]) * KIB
    halves /= 2 if hw.buffers.double_buffered else 1
    comp, rd, wr, rw = _merge_tiles(plan.spans.astype(np.int64), np.ascontiguousarray(plan.tile_read, dtype=np.float64),
                                    np.ascontiguousarray(plan.tile_write, dtype=np.float64), halves)
    return [_Chunk(li, int(c), float(r), float(w), False, False, float(v)) for c, r, w, v in zip(comp, rd, wr, rw)]


@dataclass
class NetworkTiming:
    """Timing and counts of one network on one accelerator.

    ``layers`` in network order; ``total`` their sum; ``timeline`` phase start/end cycles
    (``None`` when ``simulation.keep_timeline`` is off).
    """

    network: str
    layers: list[LayerCounts]
    total: LayerCounts
    clock_hz: float
    batch: int
    peak_macs_per_cycle: int
    ops: list[str]
    dataflow: str
    array: tuple[int, int]
    convention: str
    stall_free: bool
    timeline: Timeline | None = None
    loop_orders: list[str] = field(default_factory=list)
    """Per layer: tile loop order (``rows``/``cols``) of an array layer, "" off the array."""
    resident: list[str] = field(default_factory=list)
    """Tensors kept on chip between layers (``hardware.buffers.keep_activations``)."""

    @property
    def latency_s(self) -> float:
        """Seconds for one pass of the network (all ``batch`` inferences): total cycles / clock."""
        return self.total.total_cycles / self.clock_hz

    @property
    def inferences_per_s(self) -> float:
        """Inferences per second: batch / latency_s."""
        return self.batch / self.latency_s if self.latency_s else 0.0

    @property
    def peak_tops(self) -> float:
        """Peak tera-operations per second (2 ops per MAC): 2 x PEs x MACs/PE/cycle x clock / 1e12."""
        return 2.0 * self.peak_macs_per_cycle * self.clock_hz / 1e12

    @property
    def achieved_tops(self) -> float:
        """Achieved tera-operations per second (2 ops per MAC): 2 x MACs / latency_s / 1e12."""
        return 2.0 * self.total.macs / self.latency_s / 1e12 if self.latency_s else 0.0

    def to_dict(self) -> dict:
        """Plain JSON-ready data: ``meta`` (incl. ``resident_tensors``), ``layers`` (one dict per
        layer, incl. ``loop_order``: ``rows``/``cols``, "" off the array) and ``total``."""
        orders = self.loop_orders or [""] * len(self.layers)
        rows = [_counts_dict(c) | {"op": op, "loop_order": o} for c, op, o in zip(self.layers, self.ops, orders)]
        total = _counts_dict(self.total) | {
            "latency_s": self.latency_s,
            "inferences_per_s": self.inferences_per_s,
            "peak_tops": self.peak_tops,
            "achieved_tops": self.achieved_tops,
        }
        meta = {
            "network": self.network, "array_rows": self.array[0], "array_cols": self.array[1],
            "dataflow": self.dataflow, "convention": self.convention, "stall_free": self.stall_free,
            "clock_hz": self.clock_hz, "batch": self.batch, "resident_tensors": list(self.resident),
        }
        return {"meta": meta, "layers": rows, "total": total}


def _buffer_order(name: str) -> tuple[int, str]:
    return (BUFFERS.index(name) if name in BUFFERS else len(BUFFERS), name)


def _counts_dict(c: LayerCounts) -> dict:
    out = {}
    for f in fields(c):
        v = getattr(c, f.name)
        out[f.name] = {k: v[k] for k in sorted(v, key=_buffer_order)} if isinstance(v, dict) else v
    out["utilization"] = c.utilization
    return out


def simulate_network(net: Network, hw: HardwareConfig, sim: SimulationConfig) -> NetworkTiming:
    """Simulate *net* on *hw*: per-layer cycles, stalls, accesses; totals and throughput.

    Parameters
    ----------
    net : the network (shape-only or quantized); its descriptors' bit widths set the bytes.
    hw : hardware config.
    sim : counting convention and stall model.

    Returns
    -------
    NetworkTiming
        ``layers`` (one :class:`LayerCounts` per descriptor), ``total``, ``latency_s`` (s),
        ``inferences_per_s``, ``peak_tops`` and ``achieved_tops`` (TOPS, 2 ops per MAC).

    Raises
    ------
    MappingError
        The network is empty or a buffer cannot hold one tile of some layer.
    """
    if not net.layers:
        raise MappingError(f"network {net.name!r} has no layers to simulate")
    res = plan_residency(net, hw)
    plans = [plan_layer(layer, hw, sim, resident_inputs=res.inputs_resident(layer.inputs),
                        output_resident=res.output_resident(layer.output), input_elems=res.elems)
             for layer in net.layers]
    timeline = None
    if sim.stall_free:
        ends = list(np.cumsum([p.compute_cycles for p in plans]))
    else:
        model = AcceleratorModel(hw, keep_timeline=sim.keep_timeline)
        ends = model.run(plans)
        timeline = model.timeline
    layers = []
    prev = 0
    for plan, end in zip(plans, ends):
        tot = int(end) - prev
        prev = int(end)
        c = plan.counts
        layer = plan.layer
        clocked = clock_bit_cycles(hw, layer.acc_bits, on_array=layer.on_array, total_cycles=tot,
                                   compute_cycles=c.compute_cycles, macs=c.macs,
                                   macs_per_pe=hw.macs_per_pe(layer.weight_bits, layer.act_bits))
        layers.append(LayerCounts(**{**{f.name: getattr(c, f.name) for f in fields(c)},
                                     "total_cycles": tot, "stall_cycles": tot - c.compute_cycles,
                                     "clock_bit_cycles": clocked}))
    total = layers[0]
    for c in layers[1:]:
        total = total + c
    total = LayerCounts(**{**{f.name: getattr(total, f.name) for f in fields(total)}, "name": "total"})
    array_layers = [l for l in net.layers if l.on_array] or list(net.layers)
    peak = max(hw.peak_macs_per_cycle(l.weight_bits, l.act_bits) for l in array_layers)
    return NetworkTiming(
        network=net.name, layers=layers, total=total, clock_hz=hw.clock_hz,
        batch=int(net.layers[0].in_shape[0]), peak_macs_per_cycle=peak,
        ops=[l.op for l in net.layers], dataflow=hw.dataflow, array=(hw.array.rows, hw.array.cols),
        convention=sim.convention, stall_free=sim.stall_free, timeline=timeline,
        loop_orders=[p.order for p in plans], resident=sorted(res.resident),
    )
