"""Which parallelism wins for accuracy evaluation on 2 cores: threads inside kernels or processes?

Evaluates the third-party MNIST CNN (``/work/shared/models/ccexam_mnist_cnn.onnx``) on the first
``--images`` digits of ``mnist_train_subset_10k.npz`` three ways, in the same run:

* ``workers=1``, Numba kernels and BLAS on 1 thread (the serial baseline),
* ``workers=1``, kernels on 2 threads (``prange``) and BLAS on 2 threads,
* ``workers=2`` processes, each single-threaded.

Prints images/s and the speed-up over the baseline; all three must give identical numbers.

Run: ``python benchmarks/datapath_eval_parallel.py [--images 2000]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

SHARED = next((p for p in (Path(__file__).resolve().parents[2] / "shared", Path("/work/shared")) if p.is_dir()),
              Path("/work/shared"))


def child(images: int, workers: int) -> dict:
    from accelsim.config.data import DatasetConfig, PreprocessConfig
    from accelsim.datapath import evaluate, prepare
    from accelsim.datasets.readers import open_dataset
    from accelsim.graph.onnx_import import load_onnx
    from accelsim.quant.calibrate import calibrate

    g = load_onnx(SHARED / "models" / "ccexam_mnist_cnn.onnx")
    ds = open_dataset(DatasetConfig(path=str(SHARED / "data" / "mnist_train_subset_10k.npz"), limit=images,
                                    preprocess=PreprocessConfig(mean=(0.1307,), std=(0.3081,))), (1, 1, 28, 28))
    net = prepare(calibrate(g, ds.take(64, 0)[0]))
    evaluate(g, net, ds, 256, progress=False, limit=256)  # compile / warm caches
    t = time.perf_counter()
    r = evaluate(g, net, ds, 256, progress=False, workers=workers)
    dt = time.perf_counter() - t
    return {"seconds": dt, "images": r.samples, "quant_top1": r.quant_top1, "agreement": r.agreement}


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        print(json.dumps(child(int(sys.argv[2]), int(sys.argv[3]))))
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=2000)
    args = ap.parse_args()
    runs = [("1 process, 1 thread", 1, 1), ("1 process, 2 threads", 1, 2), ("2 processes x 1 thread", 2, 1)]
    base = None
    print(f"MNIST CNN, {args.images} images, batch 256")
    for label, workers, threads in runs:
        env = dict(os.environ, NUMBA_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads),
                   OMP_NUM_THREADS=str(threads))
        out = subprocess.run([sys.executable, __file__, "--child", str(args.images), str(workers)], env=env,
                             check=True, capture_output=True, text=True).stdout
        r = json.loads(out.strip().splitlines()[-1])
        base = base or r["seconds"]
        print(f"{label:<24} {r['images'] / r['seconds']:8.1f} images/s  x{base / r['seconds']:.2f}  "
              f"(quant top-1 {r['quant_top1']:.4f}, agreement {r['agreement']:.4f})")


if __name__ == "__main__":
    main()
