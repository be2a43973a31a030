"""Calibration time of the shipped SVHN CNN on one batch of 64 (bar: under 10 s on this machine).

Baseline measured in the same run: one float forward pass of the same graph on the same batch
(``run_graph``), so the ratio says what the layer-by-layer calibration costs on top of the float
work it must do anyway. Also times each threshold method alone on the largest activation.

    python benchmarks/quant_calibrate.py [--repeat 3]

No SVHN images are shipped: the batch is seeded uniform pixels, preprocessed with the model's
mean/std (the timing does not depend on the pixel values, only on shapes and bin counts).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from accelsim.config.quant import QuantConfig
from accelsim.graph.executor import run_graph
from accelsim.graph.onnx_import import load_onnx
from accelsim.quant.calibrate import calibrate
from accelsim.quant.observers import HistogramObserver
from accelsim.quant.thresholds import THRESHOLD_METHODS

MODEL = Path("/work/shared/models/ccexam_svhn_cnn.onnx")
MEAN = np.array([0.4377, 0.4438, 0.4728], np.float32).reshape(1, 3, 1, 1)
STD = np.array([0.1980, 0.2010, 0.1970], np.float32).reshape(1, 3, 1, 1)


def best_of(fn, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--batch", type=int, default=64)
    args = ap.parse_args()
    graph = load_onnx(MODEL)
    x = ((np.random.default_rng(0).uniform(0, 1, (args.batch, 3, 32, 32)).astype(np.float32) - MEAN) / STD)

    t_float, _ = best_of(lambda: run_graph(graph, {"input": x}), args.repeat)
    print(f"baseline: float forward pass, batch {args.batch}: {t_float:.3f} s")
    for method in THRESHOLD_METHODS:
        t_cal, net = best_of(lambda: calibrate(graph, x, QuantConfig(method=method)), args.repeat)
        print(f"calibrate, method {method:<10}: {t_cal:.3f} s  ({t_cal / t_float:.1f}x the float pass)"
              f"{'  BAR MISSED (10 s)' if t_cal >= 10 else ''}")

    y = run_graph(graph, {"input": x}, keep="all")["relu_6"]  # largest activation: 64x32x32x32
    obs = HistogramObserver()
    t_obs, _ = best_of(lambda: HistogramObserver().update(y), args.repeat)
    obs.update(y)
    st = obs.statistics()
    print(f"observer update on {y.size:,} values ({st.n_bins} bins): {t_obs * 1e3:.1f} ms")
    for name, fn in THRESHOLD_METHODS.items():
        t, _ = best_of(lambda: fn(st, 8), args.repeat)
        print(f"  threshold {name:<10} at 8 bits: {t * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
