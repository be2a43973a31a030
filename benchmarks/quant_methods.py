"""Calibration recipes against bit widths on the bundled model: top-1 of the integer datapath.

Full Fashion-MNIST test set (10,000 images, ``../shared/data/fashion-mnist``), every recipe
calibrated on the same batch of 64 bundled calibration images (seed 0), per-channel weights,
32-bit accumulator. Prints a markdown table (points of top-1, and the float model's top-1).

A recipe is a threshold method optionally followed by ``+`` options: ``u`` (unsigned_activations),
``bc`` (bias_correction), ``wmse`` (weight_method: mse), ``wout`` (weight_method: output); e.g.
``auto+u+bc+wout``.

Run: ``python benchmarks/quant_methods.py [--limit N] [--pairs 4/4,4/8,8/8] [--recipes kl-j,mse,auto+u+bc+wmse]``
(``--bits 4,5,6,8`` is shorthand for the pairs w = a = b).
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

SHARED = next((p for p in (Path(__file__).resolve().parents[2] / "shared", Path("/work/shared")) if p.is_dir()),
              Path("/work/shared"))

OPTIONS = {"u": ("unsigned_activations", True), "bc": ("bias_correction", True), "wmse": ("weight_method", "mse"),
           "wout": ("weight_method", "output"), "s16": ("scale_bits", 16)}


def recipe_config(recipe: str, weight_bits: int, act_bits: int, **extra):
    """QuantConfig of a recipe string such as ``auto+u+bc+wmse`` (*extra*: further QuantConfig keys)."""
    from accelsim.config.quant import QuantConfig

    method, *opts = recipe.split("+")
    return QuantConfig(weight_bits=weight_bits, act_bits=act_bits, method=method, **dict(OPTIONS[o] for o in opts),
                       **extra)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--bits", default=None, help="w = a widths, e.g. 4,5,6,8")
    ap.add_argument("--pairs", default="4/4,4/8,8/8", help="weight/activation widths, e.g. 4/4,4/8")
    ap.add_argument("--recipes", default="kl-j,mse,auto,auto+u+bc+wmse")
    args = ap.parse_args()

    from accelsim.config.data import DatasetConfig
    from accelsim.datapath import evaluate
    from accelsim.datasets.readers import open_dataset
    from accelsim.graph.onnx_import import load_onnx
    from accelsim.quant.calibrate import calibrate
    from accelsim.workloads.bundled import model_path, preprocess_config

    graph = load_onnx(model_path())
    test = open_dataset(DatasetConfig(path=str(SHARED / "data" / "fashion-mnist" / "t10k-images-idx3-ubyte.gz"),
                                      limit=args.limit, preprocess=preprocess_config()), (1, 1, 28, 28))
    cx, _ = open_dataset(DatasetConfig(path="bundled"), (1, 1, 28, 28), split="calib").take(64, 0)
    if args.bits:
        pairs = [(int(b), int(b)) for b in args.bits.split(",")]
    else:
        pairs = [tuple(int(v) for v in p.split("/")) for p in args.pairs.split(",")]
    recipes = args.recipes.split(",")
    t0 = time.perf_counter()
    rows, float_top1 = {}, None
    for w, a in pairs:
        for rcp in recipes:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                net = calibrate(graph, cx, recipe_config(rcp, w, a))
            r = evaluate(graph, net, test, 500, progress=False)
            float_top1 = r.float_top1
            rows[(w, a, rcp)] = r.quant_top1
            print(f"  w{w} a{a} {rcp:<16} {100 * r.quant_top1:6.2f} %", flush=True)
    print(f"\n{len(test)} test images, float top-1 {100 * float_top1:.2f} %, {time.perf_counter() - t0:.0f} s\n")
    print("| weights / activations, bits | " + " | ".join(recipes) + " |")
    print("|---|" + "---|" * len(recipes))
    for w, a in pairs:
        print(f"| {w} / {a} | " + " | ".join(f"{100 * rows[(w, a, r)]:.2f} %" for r in recipes) + " |")


if __name__ == "__main__":
    main()
