"""Threshold methods against bit width on the bundled model: top-1 of the integer datapath.

Full Fashion-MNIST test set (10,000 images, ``../shared/data/fashion-mnist``), each method
calibrated on the same batch of 64 bundled calibration images (seed 0), weights = activations
bits, per-channel weights, 32-bit accumulator. Prints a markdown table (points of top-1, and the
float model's top-1 for reference).

Run: ``python benchmarks/quant_methods.py [--limit N] [--bits 4,5,6,8] [--methods kl-j,max,...]``
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

SHARED = next((p for p in (Path(__file__).resolve().parents[2] / "shared", Path("/work/shared")) if p.is_dir()),
              Path("/work/shared"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--bits", default="4,5,6,8")
    ap.add_argument("--methods", default="kl-j,max,percentile,entropy,mse")
    args = ap.parse_args()

    from accelsim.config.data import DatasetConfig
    from accelsim.config.quant import QuantConfig
    from accelsim.datapath import evaluate
    from accelsim.workloads.bundled import model_path, preprocess_config
    from accelsim.datasets.readers import open_dataset
    from accelsim.graph.onnx_import import load_onnx
    from accelsim.quant.calibrate import calibrate

    graph = load_onnx(model_path())
    test = open_dataset(DatasetConfig(path=str(SHARED / "data" / "fashion-mnist" / "t10k-images-idx3-ubyte.gz"),
                                      limit=args.limit, preprocess=preprocess_config()), (1, 1, 28, 28))
    cx, _ = open_dataset(DatasetConfig(path="bundled"), (1, 1, 28, 28), split="calib").take(64, 0)
    bits = [int(b) for b in args.bits.split(",")]
    methods = args.methods.split(",")
    t0 = time.perf_counter()
    rows, float_top1 = {}, None
    for b in bits:
        for m in methods:
            net = calibrate(graph, cx, QuantConfig(weight_bits=b, act_bits=b, method=m))
            r = evaluate(graph, net, test, 500, progress=False)
            float_top1 = r.float_top1
            rows[(b, m)] = r.quant_top1
            print(f"  {b} bits {m:<10} {100 * r.quant_top1:6.2f} %", flush=True)
    print(f"\n{len(test)} test images, float top-1 {100 * float_top1:.2f} %, {time.perf_counter() - t0:.0f} s\n")
    print("| bits (w = a) | " + " | ".join(methods) + " |")
    print("|---|" + "---|" * len(methods))
    for b in bits:
        print(f"| {b} | " + " | ".join(f"{100 * rows[(b, m)]:.2f} %" for m in methods) + " |")


if __name__ == "__main__":
    main()
