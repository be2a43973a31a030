"""What the sweep machinery itself costs, apart from the points' own work.

Measured in one run (ratios against the baseline measured here, not absolute promises):

1. store append: records/s of ``ResultStore.append`` (one write + fsync per record), against a
   plain buffered write of the same lines without fsync (the baseline);
2. executor overhead: a 48-point sweep of a no-op point (the tests' closed-form stand-in) in this
   process (baseline), on 2 local spawn workers, and on an in-process Dask LocalCluster;
3. resume: a rerun of the finished sweep (all points skipped): time to read the store and
   hash 48 configs.

    python benchmarks/sweep_overhead.py          (run from the repo root)
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.sweep.points for the stand-in

from accelsim.config.run import configs_dir  # noqa: E402
from accelsim.sweep import LocalExecutor, SerialExecutor, load_sweep, run_sweep  # noqa: E402
from accelsim.sweep.executor import DaskExecutor  # noqa: E402
from accelsim.sweep.store import ResultStore, make_record  # noqa: E402

POINT = "tests.sweep.points:fake_point"


def bench_store(n: int = 300) -> None:
    rec = make_record(key="0" * 64, index=0, sweep="b", overrides={"quant.weight_bits": 8},
                      config={"x": list(range(200))}, outcome={"status": "ok", "result": {"v": 1.0}})
    with tempfile.TemporaryDirectory() as d:
        import json

        line = json.dumps(rec.to_json()) + "\n"
        t = time.perf_counter()
        with open(Path(d) / "plain.jsonl", "w") as fh:
            for _ in range(n):
                fh.write(line)
        base = time.perf_counter() - t
        with ResultStore(Path(d) / "s").open() as st:
            t = time.perf_counter()
            for _ in range(n):
                st.append(rec)
            dur = time.perf_counter() - t
    print(f"store append: {n / dur:,.0f} records/s with fsync ({dur / n * 1e3:.2f} ms each); "
          f"plain buffered write {n / base:,.0f}/s; ratio {dur / base:,.0f}x")


def bench_executors() -> None:
    sweep = load_sweep(configs_dir() / "sweeps" / "bitwidths.yaml")
    rows = []
    with tempfile.TemporaryDirectory() as d:
        t = time.perf_counter()
        run_sweep(sweep, Path(d) / "serial", SerialExecutor(), point_fn=POINT, progress=False)
        base = time.perf_counter() - t
        rows.append(("this process (baseline)", base))
        t = time.perf_counter()
        run_sweep(sweep, Path(d) / "serial", SerialExecutor(), point_fn=POINT, progress=False)
        rows.append(("resume, all 48 stored", time.perf_counter() - t))
        t = time.perf_counter()
        run_sweep(sweep, Path(d) / "local", LocalExecutor(2), point_fn=POINT, progress=False)
        rows.append(("2 local spawn workers", time.perf_counter() - t))
        try:
            import distributed
        except ImportError:
            distributed = None
        if distributed is not None:
            with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                          dashboard_address=None) as cluster:
                ex = DaskExecutor(cluster.scheduler_address)
                t = time.perf_counter()
                run_sweep(sweep, Path(d) / "dask", ex, point_fn=POINT, progress=False)
                rows.append(("Dask LocalCluster (in-process, 2 workers)", time.perf_counter() - t))
                ex.close()
    for name, dur in rows:
        print(f"48 no-op points, {name:45s} {dur:6.2f} s  ({dur / 48 * 1e3:6.1f} ms/point, {dur / base:5.1f}x baseline)")


if __name__ == "__main__":
    import logging

    logging.getLogger("distributed").setLevel(logging.WARNING)
    bench_store()
    bench_executors()
