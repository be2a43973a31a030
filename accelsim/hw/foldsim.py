"""The array's fold pipeline as a SimPy model: feeder, stationary banks, output chain as resources.

One :class:`simpy.Environment` per layer, time unit one cycle, one process per fold; an event at
time x means "in cycle x". The blocks that folds compete for are :class:`simpy.Resource` objects:

- ``stream``: the feeder's port; a fold holds it for its T streamed steps.
- the output chain (os, drain ``shift``/``wavefront``), held by one fold from its first copy into
  it to its last drain beat (C beats after its last copy). A fold whose copies would land while
  an older fold holds the chain must be held back: the feeder starts it only when its first copy
  will find the chain free (the array idles meanwhile). Each fold announces, when it starts, the
  cycle its chain tenure will end; the chain itself checks the schedule: a copy that finds the
  chain taken is a collision and raises.
- ``preload`` and ``banks`` (ws/is): the column shift path that loads a stationary tile (held r
  cycles) and the stationary register banks (2 with ``overlap_folds`` and shadow registers:
  folds alternate between them; 1 with single registers). With ``overlap_folds`` a bank is freed
  the cycle after the last multiply that reads it (early preload); without, after the fold's
  last write.

Each fold's own latencies (wavefront, pipeline, drain) are those of the module docstring of
:mod:`accelsim.hw.timing`; what this model adds is how folds interact through the shared blocks.
The tests hold it equal to :func:`accelsim.hw.timing.layer_compute_cycles` and to the
register-level :mod:`accelsim.hw.reference` on random layers.
"""

from __future__ import annotations

import simpy

from accelsim.hw.mapping import LayerMapping
from accelsim.hw.timing import MicroArch, reduction_chunks


def _folds(mp: LayerMapping, arch: MicroArch, k_chunks: int) -> list[tuple[int, int, int]]:
    """(rows, cols, steps) of each fold in run order (os: row fold, reduction chunk, column fold;
    ws/is: column fold, stream chunk, row fold)."""
    out = []
    outer, inner = (mp.row_folds, mp.col_folds) if mp.dataflow == "os" else (mp.col_folds, mp.row_folds)
    nk, step, last = reduction_chunks(mp.t, k_chunks)
    for _ in range(mp.groups):
        for o in range(outer):
            for kk in range(nk):
                for q in range(inner):
                    i, j = (o, q) if mp.dataflow == "os" else (q, o)
                    out.append(arch.fold_shape(mp.fold_rows(i), mp.fold_cols(j)) + (step if kk < nk - 1 else last,))
    return out


class FoldPipelineModel:
    """SimPy model of one layer's folds on the array (compute only: operands always in SRAM).

    Parameters
    ----------
    mapping : the layer cut into folds.
    arch : the micro-architecture (drain, overlap, latencies, edge-fold policy).
    k_chunks : the streamed dimension split in this many chunks (os: the reduction, with partial-sum
        spills; ws/is: the output pixels or channels).
    """

    def __init__(self, mapping: LayerMapping, arch: MicroArch, k_chunks: int = 1):
        self.mp = mapping
        self.arch = arch
        self.k_chunks = k_chunks
        self.env = simpy.Environment()
        self.stream = simpy.Resource(self.env, capacity=1)
        self.chain_until = -1
        """The cycle of the last drain beat of the fold holding the output chain."""
        self.preload = simpy.Resource(self.env, capacity=1)
        n_banks = 2 if arch.overlap_folds and arch.stationary_registers == "shadow" else 1
        self.banks = [simpy.Resource(self.env, capacity=1) for _ in range(n_banks)]
        self.last_write = -1
        self.idle_cycles = 0
        """Cycles the feeder held a fold back for the output chain (wavefront back-pressure)."""

    def run(self) -> int:
        """Simulate the folds; return the layer's compute cycles (last write + 1)."""
        folds = _folds(self.mp, self.arch, self.k_chunks)
        if self.mp.dataflow == "os":
            self.env.process(self._feed_os(folds))
        else:
            self.env.process(self._feed_stationary(folds))
        self.env.run()
        return self.last_write + 1

    # ---- output stationary ------------------------------------------------------------------
    def _feed_os(self, folds):
        arch, env = self.arch, self.env
        q = arch.skew_latency + arch.mult_stages + arch.acc_stages + arch.mult_read_latency - 2
        chain_free = 0  # the cycle the output chain's current tenure ends (last beat)
        prev_written: simpy.Event | None = None
        prev_copy = -1
        for r, c, t in folds:
            if prev_written is not None and not arch.overlap_folds:
                yield prev_written
                yield env.timeout(1)
            req = self.stream.request()
            yield req
            if arch.overlap_folds and arch.drain == "wavefront":
                # hold the fold until its first copy (PE(0,0), T + q + 1 cycles after its start)
                # finds the chain free; the chain frees in the cycle of its last beat
                wait = max(0, chain_free - (env.now + t + q + 1))
                self.idle_cycles += wait
                yield env.timeout(wait)
            elif arch.overlap_folds and arch.drain == "shift":
                # accumulators are busy until the previous fold's whole-fold copy; this fold's own
                # copy (after its last result) must find the chain empty
                wait = max(0, prev_copy + 1 - env.now, chain_free - (env.now + t + r + c + q - 1))
                yield env.timeout(wait)
            start = env.now
            last_copy = start + t + r + c + q - 1
            first_copy = start + t + q + 1 if arch.drain == "wavefront" else last_copy
            if arch.drain == "parallel":
                done = last_copy
            else:
                done = last_copy + arch.cols
                chain_free = done
            prev_copy = last_copy
            prev_written = env.event()
            env.process(self._os_fold(req, t, first_copy, done, prev_written))
            yield env.timeout(t)  # the stream enters; the port frees for the next fold

    def _os_fold(self, stream_req, t, first_copy, done, written):
        env = self.env
        yield env.timeout(t)
        self.stream.release(stream_req)
        if self.arch.drain != "parallel":
            yield env.timeout(first_copy - env.now)
            # the chain frees in the cycle of its previous tenure's last beat: a copy may land then
            if self.chain_until > env.now:
                raise RuntimeError(f"fold pipeline: a copy in cycle {env.now} found the output chain taken "
                                   f"until cycle {self.chain_until}")
            self.chain_until = done
            yield env.timeout(done - env.now)
        else:
            yield env.timeout(done - env.now)
        self.last_write = max(self.last_write, done)
        written.succeed()

    # ---- weight / input stationary ----------------------------------------------------------
    def _feed_stationary(self, folds):
        arch, env = self.arch, self.env
        e, m, a, z = arch.skew_latency, arch.mult_stages, arch.acc_stages, arch.mult_read_latency
        stream_free = 0
        prev_written: simpy.Event | None = None
        for f, (r, c, t) in enumerate(folds):
            if prev_written is not None and not arch.overlap_folds:
                yield prev_written
                yield env.timeout(1)
            bank_res = self.banks[f % len(self.banks)]  # folds alternate between the banks
            bank = bank_res.request()
            yield bank
            port = self.preload.request()
            yield port
            p = env.now
            s = max(stream_free, p + max(0, r - e - z))
            stream_free = s + t
            done = s + t + (arch.rows - 1) * a + arch.psum_out_latency + c + e + m + z - 2
            last_mult = s + t + (r - 1) * a + c + e + z - 2
            prev_written = env.event()
            env.process(self._stationary_fold(bank_res, bank, last_mult, done, prev_written))
            yield env.timeout(r)  # the tile shifts in one row per cycle
            self.preload.release(port)

    def _stationary_fold(self, bank_res, bank, last_mult, done, written):
        env = self.env
        if self.arch.overlap_folds:  # early preload: the bank frees after its last multiply
            env.process(self._free_bank(bank_res, bank, last_mult + 1 - env.now))
        yield env.timeout(done - env.now)
        if not self.arch.overlap_folds:
            bank_res.release(bank)
        self.last_write = max(self.last_write, done)
        written.succeed()

    def _free_bank(self, bank_res, bank, delay):
        yield self.env.timeout(delay)
        bank_res.release(bank)


def fold_pipeline_cycles(mapping: LayerMapping, arch: MicroArch, k_chunks: int = 1) -> int:
    """Compute cycles of one layer from :class:`FoldPipelineModel`."""
    return FoldPipelineModel(mapping, arch, k_chunks).run()
