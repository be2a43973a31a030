"""Per-layer time of the integer datapath on one network, grouped by layer kind.

Quantizes the network once (KL-J, 8-bit per-channel, 32-bit accumulator, on CALIB seeded images,
as ``datapath_networks.py``), keeps the descriptors in ``--work`` for later runs, then runs
``BATCH`` images through :func:`accelsim.datapath.executor.run_prepared`'s layer loop with a
timer around every layer (best of ``--rounds``). Prints ms per image per kind (op, kernel,
stride), wall and CPU time (all threads), and the total, with the machine load.

Run: ``python benchmarks/datapath_layer_profile.py --model ../models_cache/resnet50.onnx
--work /tmp/r50`` (threads: set ``NUMBA_NUM_THREADS``).
"""

from __future__ import annotations

import argparse
import os
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

BATCH = 8
CALIB = 16


def _images(n: int, seed: int):
    return np.random.default_rng(seed).standard_normal((n, 3, 224, 224)).astype(np.float32)


def load(model: Path, work: Path):
    from accelsim.config.quant import QuantConfig
    from accelsim.graph.onnx_import import load_onnx
    from accelsim.layers.io import read_network, write_network
    from accelsim.quant.calibrate import calibrate

    desc = work / f"{model.stem}_desc"
    if not desc.exists():
        write_network(calibrate(load_onnx(model), _images(CALIB, 0), QuantConfig()), desc)
    return read_network(desc)


def kind(layer) -> str:
    if layer.op in ("conv2d", "depthwise", "gemm"):
        k = "x".join(str(v) for v in layer.kernel) if layer.op != "gemm" else "fc"
        return f"{layer.op} {k} s{layer.stride[0]}"
    return layer.op


def main() -> None:
    from accelsim.datapath import executor as E

    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    prep = E.prepare(load(Path(args.model), work))
    x = _images(BATCH, 1)
    best: dict[str, float] = defaultdict(lambda: float("inf"))
    best_cpu: dict[str, float] = defaultdict(lambda: float("inf"))
    total_wall, total_cpu = float("inf"), float("inf")
    for _ in range(args.rounds + 1):  # the first round warms up
        per = defaultdict(float)
        per_cpu = defaultdict(float)
        t0, c0 = time.perf_counter(), time.process_time()
        live = E.quantize_inputs(prep, x)
        per["quantize input"] += time.perf_counter() - t0
        for idx, plan in enumerate(prep.plans):
            layer = plan.layer
            xs = [live[t] for t in layer.inputs]
            t, c = time.perf_counter(), time.process_time()
            out, _, _ = E._run_layer(plan, xs, "auto", [prep.code_bounds.get(t) for t in layer.inputs])
            per[kind(layer)] += time.perf_counter() - t
            per_cpu[kind(layer)] += time.process_time() - c
            live[layer.output] = out
            for name in set(layer.inputs):
                if prep.last_use.get(name, -1) <= idx:
                    live.pop(name, None)
        total_wall = min(total_wall, time.perf_counter() - t0)
        total_cpu = min(total_cpu, time.process_time() - c0)
        for k, v in per.items():
            best[k] = min(best[k], v)
            best_cpu[k] = min(best_cpu[k], per_cpu[k])
    la = os.getloadavg()
    print(f"{Path(args.model).stem}: {BATCH} images, {os.environ.get('NUMBA_NUM_THREADS', 'all')} threads, "
          f"load {la[0]:.1f} {la[1]:.1f} {la[2]:.1f}")
    for k, v in sorted(best.items(), key=lambda kv: -kv[1]):
        print(f"  {k:<22} {1e3 * v / BATCH:8.2f} ms/img wall {1e3 * best_cpu[k] / BATCH:8.2f} CPU")
    print(f"  {'total (wall)':<22} {1e3 * total_wall / BATCH:8.2f} ms/img, CPU {1e3 * total_cpu / BATCH:.2f}")


if __name__ == "__main__":
    main()
