"""Residual adds fused into convolution epilogues give the same logits as the adds run alone, on
every torchvision export in a folder.

For each ``*_torchscript_op17.onnx`` (``benchmarks/datapath_export_torchvision.py``): KL-J 8-bit
calibration on two seeded images (224 x 224; 299 for Inception), then the integer datapath on
those images with the fusion plan :func:`accelsim.datapath.prepare` made and with it emptied
(every add as its own layer). Prints how many adds are planned into an epilogue, whether the logits are bit-identical,
the MAC paths taken, and the one-line error of a model the importer refuses.

Run: ``python benchmarks/datapath_fusion_zoo.py --models ../models_cache``
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np


def main() -> None:
    from accelsim.config.quant import QuantConfig
    from accelsim.datapath import executor as E
    from accelsim.errors import AccelsimError
    from accelsim.graph.onnx_import import load_onnx
    from accelsim.quant.calibrate import calibrate

    ap = argparse.ArgumentParser()
    ap.add_argument("--models", required=True)
    args = ap.parse_args()
    same = ran = 0
    files = sorted(Path(args.models).glob("*_torchscript_op17.onnx"))
    for f in files:
        name = f.name.replace("_torchscript_op17.onnx", "")
        size = 299 if "inception" in name else 224
        x = np.random.default_rng(0).standard_normal((2, 3, size, size)).astype(np.float32)
        t = time.perf_counter()
        try:
            prep = E.prepare(calibrate(load_onnx(f), x, QuantConfig()))
        except AccelsimError as e:
            print(f"{name:<22} not imported: {str(e)[:120]}")
            continue
        fused = E.run_prepared(prep, x)
        n = len(prep.residuals)
        prep.residuals = {}
        alone = E.run_prepared(prep, x)
        ok = np.array_equal(fused.logits, alone.logits)
        same += ok
        ran += 1
        print(f"{name:<22} adds planned into epilogues {n:3d}   logits identical {ok}   paths {','.join(sorted(set(fused.paths.values())))}"
              f"   {time.perf_counter() - t:.0f} s", flush=True)
    print(f"{same} of {ran} models run give identical logits ({len(files) - ran} not imported)")


if __name__ == "__main__":
    main()
