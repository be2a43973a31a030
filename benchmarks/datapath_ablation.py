"""What two datapath mechanisms are worth on a whole network: each switched off and on in turn.

* ``huge-pages``: the kernels' work buffers (packed activations, accumulator strips) in memory
  advised for 2 MiB pages (:func:`accelsim.datapath.igemm.huge_empty`) against plain numpy
  memory (4 KiB pages).
* ``residual-fusion``: residual adds computed in the epilogue of the convolution feeding them
  (:attr:`accelsim.datapath.PreparedNetwork.residuals`) against the add run as its own layer.

One process, one quantized network (KL-J, 8-bit, as ``datapath_layer_profile.py``; descriptors
kept in ``--work``), ``BATCH`` images; the off and on runs alternate for ``--rounds`` rounds so
the machine's drift hits both alike, and every run's logits are checked bit-identical. Prints
the median and best ms per image of each and the median of the paired off/on ratios (> 1: the
mechanism makes the network faster), with the machine load.

Run: ``NUMBA_NUM_THREADS=1 python benchmarks/datapath_ablation.py --model ../models_cache/resnet50.onnx
--work /tmp/r50`` (then with 2 threads).
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from pathlib import Path

import numpy as np

from datapath_layer_profile import BATCH, _images, load


def main() -> None:
    from accelsim.datapath import executor as E
    from accelsim.datapath import igemm

    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--only", choices=("huge-pages", "residual-fusion"))
    args = ap.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    prep = E.prepare(load(Path(args.model), work))
    x = _images(args.batch or BATCH, 1)
    huge = igemm.huge_empty
    fused = dict(prep.residuals)

    def plain(nbytes: int) -> np.ndarray:
        return np.empty(max(int(nbytes), 1), dtype=np.uint8)

    def switch(name: str, on: bool) -> None:
        if name == "huge-pages":
            igemm.huge_empty = huge if on else plain
            igemm._SCRATCH = threading.local()  # buffers are made again, in the chosen memory
        else:
            prep.residuals = fused if on else {}

    names = [args.only] if args.only else ["huge-pages", "residual-fusion"]
    print(f"{Path(args.model).stem}: batch {len(x)}, {os.environ.get('NUMBA_NUM_THREADS', 'all')} threads, "
          f"{args.rounds} alternating rounds; load {' '.join(f'{v:.1f}' for v in os.getloadavg())}; "
          f"{len(fused)} residual adds fusable")
    for name in names:
        times = {False: [], True: []}
        ref = None
        for on in (False, True):  # warm-up: kernels compiled, buffers allocated
            switch(name, on)
            E.run_prepared(prep, x)
        for _ in range(args.rounds):
            for on in (False, True):
                switch(name, on)
                t = time.perf_counter()
                logits = E.run_prepared(prep, x).logits
                times[on].append(time.perf_counter() - t)
                if ref is None:
                    ref = logits
                elif not np.array_equal(ref, logits):
                    raise SystemExit(f"{name}: logits differ between runs")
        switch(name, True)
        ms = {k: np.array(v) / len(x) * 1e3 for k, v in times.items()}
        ratio = float(np.median(np.array(times[False]) / np.array(times[True])))
        print(f"  {name:<16} off: median {np.median(ms[False]):6.2f} best {ms[False].min():6.2f} ms/img   "
              f"on: median {np.median(ms[True]):6.2f} best {ms[True].min():6.2f} ms/img   "
              f"off/on {ratio:.2f}x (logits identical)")
    print(f"  load at end {' '.join(f'{v:.1f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
