"""The SimPy model of array, double-buffered SRAM and DRAM; per-layer count records.

One :class:`simpy.Environment` per run; its time unit is one clock cycle. Three processes
exchange events per *chunk* (a tile, or a piece of a tile small enough for its buffer halves;
a tile is one (group, row fold) of a layer, see :mod:`accelsim.hw.traffic`), never per cycle:

- ``dma``: for each chunk, waits for a free input-buffer half (2 halves, 1 if not
  double-buffered), then holds the DRAM channel for ``ceil(bytes / bandwidth)`` cycles and
  hands the chunk to the array.
- ``array``: takes the next loaded chunk (waiting for it is a stall), computes for its share of
  the layer's closed-form compute cycles (:mod:`accelsim.hw.timing`), frees its input half, then
  waits for a free output-buffer half (waiting is a stall) and passes the results on.
- ``writeback``: holds the DRAM channel for the chunk's write bytes, then frees the output half.

The DRAM channel is shared by reads and write-back, first come, first served (same-cycle
requests in the order of the plain one-event-per-step SimPy model, see
:class:`AcceleratorModel`). Layers run one after another: a layer's first load waits until the
previous layer's last write-back is done (its input is that output). With ``hardware.buffers.cross_layer_prefetch`` the first chunk's
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

from collections import deque
from dataclasses import dataclass, field, fields
from math import ceil
from typing import TYPE_CHECKING, Any

import numpy as np
import simpy

from accelsim.errors import MappingError
from accelsim.hw.counts import BUFFERS, LayerCounts
from accelsim.hw.jit import lazy_njit
from accelsim.hw.mapping import KIB, check_buffers, map_layer
from accelsim.hw.residency import Residency, plan_residency
from accelsim.hw.registers import clock_bit_cycles, local_store_bits
from accelsim.hw.timing import MicroArch, layer_schedule, reduction_chunks, scalesim_schedule, single_fold_cycles
from accelsim.hw.traffic import canonical_order, layer_traffic, nest_tile_cycles, off_array_traffic
from accelsim.layers import LayerDescriptor, Network

if TYPE_CHECKING:  # annotations only: the config may be a pydantic model or a plain record (accelsim.config.plain)
    from accelsim.config.hardware import HardwareConfig
    from accelsim.config.simulation import SimulationConfig

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


class _Wake(simpy.Event):
    """An event triggered at a given place in the order of same-cycle events (see
    :class:`AcceleratorModel`): SimPy processes events due at one cycle by priority, and the
    model's priorities are the per-event model's event ids."""

    def fire(self, order: int, value: Any = None) -> None:
        self._ok = True
        self._value = value
        self.env.schedule(self, order)


class _Delay(simpy.Event):
    """:class:`simpy.Timeout` with a given place in the order of the events due when it ends."""

    def __init__(self, env: simpy.Environment, delay: int, order: int):
        super().__init__(env)
        self._ok = True
        self._value = None
        env.schedule(self, order, delay)


class _Environment(simpy.Environment):
    """:class:`simpy.Environment` that tells whether an event due now comes before a given one."""

    def due_before(self, order: int) -> bool:
        """Whether an event scheduled for this cycle has a priority below *order*."""
        queue = self._queue
        return bool(queue) and queue[0][0] == self._now and queue[0][1] < order


class AcceleratorModel:
    """Array + double-buffered SRAM + one DRAM channel on one SimPy environment.

    Three processes (``dma``, ``array``, ``writeback``, see the module docstring) share the
    DRAM channel first come, first served; which of two same-cycle requests comes first decides
    later cycles. The plain way to write the model, with a :class:`simpy.Container` per buffer,
    a :class:`simpy.Store` between the processes and a :class:`simpy.Resource` for the channel,
    takes about 14 events per chunk, most of them triggered and processed in the same cycle;
    their order (SimPy's: by cycle, then by event id) is what ranks same-cycle requests.

    This model keeps that order exactly with far fewer events. It counts the events the plain
    model would schedule (:attr:`order`, the plain model's next event id) and gives each event
    it does schedule that number as its SimPy priority, so SimPy processes them in the plain
    model's order. An event the plain model would trigger and process in the same cycle only to
    resume the process that triggered it is skipped (the process goes on at once) when no event
    ranked before it is due in that cycle: it would have been processed next anyway. Events
    whose processing changes nothing are counted, never scheduled. ``tests/hw/test_sim.py`` holds the
    two models equal, cycle for cycle and phase for phase, on random chunk streams.

    Parameters
    ----------
    hw : hardware config (bandwidth, double buffering, buffer sizes).
    keep_timeline : record every phase's start and end.
    """

    def __init__(self, hw: HardwareConfig, keep_timeline: bool = True):
        self.hw = hw
        self.env = _Environment()
        halves = 2 if hw.buffers.double_buffered else 1
        self.in_free = halves
        """Free input-buffer halves."""
        self.out_free = halves
        """Free output-buffer halves."""
        self.loaded: deque[_Chunk] = deque()
        """Chunks loaded, not yet taken by the array."""
        self.computed: deque[_Chunk] = deque()
        """Chunks computed, not yet taken by the write-back."""
        self.dram_busy = False
        """Whether a transfer holds the DRAM channel."""
        self.dram_queue: deque[_Wake] = deque()
        """Transfers waiting for the DRAM channel, first come first."""
        self.order = 3
        """Id the plain model would give its next event (its three process starts took 0-2)."""
        self._release_due = False
        self._in_wait: _Wake | None = None
        self._out_wait: _Wake | None = None
        self._loaded_wait: _Wake | None = None
        self._computed_wait: _Wake | None = None
        self.bw = hw.dram.bandwidth_bytes_per_cycle
        self.timeline = Timeline() if keep_timeline else None
        self.layer_end: dict[int, int] = {}
        self._layer_done: dict[int, _Wake] = {}

    def _transfer_cycles(self, nbytes: float) -> int:
        return ceil(nbytes / self.bw - 1e-9) if nbytes > 0 else 0

    def _next(self) -> int:
        """Count one event of the plain model; return its id."""
        order = self.order
        self.order = order + 1
        return order

    def _hop(self) -> _Wake | None:
        """The plain model's process would wait here for an event triggered now. Returns None if
        no event ranked before it is due this cycle (it would be processed next: go on), else
        the event to wait for."""
        order = self._next()
        if self._release_due:  # the channel's release, one event earlier: hand the channel on
            self._release_due = False
            self._grant_dram()
        if not self.env.due_before(order):
            return None
        ev = _Wake(self.env)
        ev.fire(order)
        return ev

    def _done_event(self, layer: int) -> _Wake:
        if layer not in self._layer_done:
            self._layer_done[layer] = _Wake(self.env)
        return self._layer_done[layer]

    def _dma(self, chunks: list[_Chunk]):
        prefetch = self.hw.buffers.cross_layer_prefetch
        for ch in chunks:
            waits = ch.first and ch.layer > 0
            if waits and not prefetch:
                yield self._done_event(ch.layer - 1)
            if self.in_free:  # take an input-buffer half
                self.in_free -= 1
                if hop := self._hop():
                    yield hop
            else:
                self._in_wait = _Wake(self.env)
                yield self._in_wait
            early = ch.weight_read if waits and prefetch else 0.0
            if early > 0:
                # cross-layer prefetch: the weights need no earlier layer; they load into the free
                # half while the previous layer still computes or writes back
                yield from self._dram_transfer(ch.layer, early, "dma", hop_next=False)
            if waits and prefetch:
                yield self._done_event(ch.layer - 1)  # the activations are the previous output
            if ch.read - early > 0:
                yield from self._dram_transfer(ch.layer, ch.read - early, "dma")
            self.loaded.append(ch)  # hand the chunk to the array
            if hop := self._hop():
                yield hop
            if self._loaded_wait is not None:
                self._loaded_wait.fire(self._next(), self.loaded.popleft())
                self._loaded_wait = None
        self._next()  # the process's end

    def _dram_transfer(self, layer: int, nbytes: float, phase: str, hop_next: bool = True):
        """Hold the shared DRAM channel while *nbytes* move; record the span as *phase*.

        The release hands the channel to the first waiter when the plain model processes it. With
        *hop_next* (the caller's next step is a :meth:`_hop`, with no event in between) and
        nothing else due this cycle, that is just before the hop: :meth:`_hop` does it."""
        if self.dram_busy or self.dram_queue:
            if not self.dram_busy:  # released this cycle, not yet handed on: the first waiter gets it
                self._grant_dram()
            wait = _Wake(self.env)
            self.dram_queue.append(wait)
            yield wait
        else:
            self.dram_busy = True
            if hop := self._hop():
                yield hop
        t0 = self.env.now
        yield _Delay(self.env, self._transfer_cycles(nbytes), self._next())
        if self.timeline is not None:
            self.timeline.add(layer, phase, t0, self.env.now)
        self.dram_busy = False
        order = self._next()  # the release, handing the channel on when processed
        if self.dram_queue and hop_next and not self.env.due_before(order):
            self._release_due = True
        elif self.dram_queue:
            release = _Wake(self.env)
            release.callbacks.append(lambda _: self._grant_dram())
            release.fire(order)

    def _grant_dram(self) -> None:
        if not self.dram_busy and self.dram_queue:
            self.dram_busy = True
            self.dram_queue.popleft().fire(self._next())

    def _array(self, n: int):
        env = self.env
        for _ in range(n):
            if self.loaded:
                ch = self.loaded.popleft()
                if hop := self._hop():
                    yield hop
            else:
                self._loaded_wait = _Wake(env)
                ch = yield self._loaded_wait
            t0 = env.now
            if ch.compute:
                yield _Delay(env, ch.compute, self._next())
                if self.timeline is not None:
                    self.timeline.add(ch.layer, "compute", t0, env.now)
            self.in_free += 1  # free the input half
            if hop := self._hop():
                yield hop
            if self._in_wait is not None:
                self.in_free -= 1
                self._in_wait.fire(self._next())
                self._in_wait = None
            if self.out_free:  # take an output-buffer half (waiting is a stall)
                self.out_free -= 1
                if hop := self._hop():
                    yield hop
            else:
                self._out_wait = _Wake(env)
                yield self._out_wait
            self.computed.append(ch)  # hand the results to the write-back
            if hop := self._hop():
                yield hop
            if self._computed_wait is not None:
                self._computed_wait.fire(self._next(), self.computed.popleft())
                self._computed_wait = None
        self._next()

    def _writeback(self, n: int):
        env = self.env
        for _ in range(n):
            if self.computed:
                ch = self.computed.popleft()
                if hop := self._hop():
                    yield hop
            else:
                self._computed_wait = _Wake(env)
                ch = yield self._computed_wait
            if ch.write > 0:
                yield from self._dram_transfer(ch.layer, ch.write, "writeback")
            self.out_free += 1  # free the output half
            if hop := self._hop():
                yield hop
            if self._out_wait is not None:
                self.out_free -= 1
                self._out_wait.fire(self._next())
                self._out_wait = None
            if ch.last:
                self.layer_end[ch.layer] = env.now
                self._done_event(ch.layer).fire(self._next())
        self._next()

    def run(self, plans: list[LayerPlan]) -> list[int]:
        """Simulate all layers; return each layer's end cycle (last write-back done)."""
        chunks: list[_Chunk] = []
        for li, plan in enumerate(plans):
            start = len(chunks)
            chunks.extend(_layer_chunks(li, plan, self.hw))
            chunks[start].first = True
            chunks[-1].last = True
        return self.run_chunks(chunks)

    def run_chunks(self, chunks: list[_Chunk]) -> list[int]:
        """Simulate a stream of DMA chunks (layers numbered from 0, each layer's first and last
        chunk marked); return each layer's end cycle."""
        self.env.process(self._dma(chunks))
        self.env.process(self._array(len(chunks)))
        self.env.process(self._writeback(len(chunks)))
        self.env.run()
        return [self.layer_end[i] for i in range(len(self.layer_end))]


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
    return [_Chunk(li, c, r, w, False, False, v)
            for c, r, w, v in zip(comp.tolist(), rd.tolist(), wr.tolist(), rw.tolist())]


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
