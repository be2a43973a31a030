"""Whole networks on the integer datapath beside onnxruntime int8 (QDQ) and float, 1 and 2 threads.

Networks: ResNet-18, ResNet-50 and MobileNet-V2 at 224 x 224, exported from torchvision with
seeded weights by ``benchmarks/datapath_export_torchvision.py`` (torch lives in its own venv;
the ONNX files are not committed). Inputs: seeded standard-normal images.

* accelsim: ``quantize`` (KL-J, 8-bit per-channel weights and activations, 32-bit
  accumulator, on the CALIB seeded images) once in the parent, descriptors written to a
  temporary folder; each child reads them and times :func:`accelsim.datapath.run_network` on a
  batch of ``BATCH`` images (the whole integer datapath, input quantization included).
* onnxruntime int8: ``quantize_static`` QDQ (per-channel int8 weights, uint8 activations,
  MinMax) on the same calibration images; onnxruntime float32: the exported model.

Each thread count runs in a fresh child process with Numba, OpenBLAS, OpenMP and onnxruntime's
intra-op pool on that many threads; within a child the three are timed in interleaved rounds
(best round kept), so machine load hits them alike. Prints ms per image and GMAC/s (MACs of the
network's conv and FC layers / time), and the CPU time per image of each (all threads; on a
loaded machine wall time measures the share of the cores a process got as much as its work).

Run: ``python benchmarks/datapath_networks.py --models ../models_cache [--nets resnet50]``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BATCH = 16
CALIB = 16
ROUNDS = 3


def _images(n: int, seed: int):
    import numpy as np
    return np.random.default_rng(seed).standard_normal((n, 3, 224, 224)).astype(np.float32)


def prepare_files(model: Path, work: Path) -> dict:
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    from accelsim.config.quant import QuantConfig
    from accelsim.graph.onnx_import import load_onnx
    from accelsim.layers.io import write_network
    from accelsim.quant.calibrate import calibrate

    cx = _images(CALIB, 0)
    t = time.perf_counter()
    net = calibrate(load_onnx(model), cx, QuantConfig())
    t_cal = time.perf_counter() - t
    desc = work / f"{model.stem}_desc"
    write_network(net, desc)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter([{"input": cx[i:i + 1]} for i in range(CALIB)])

        def get_next(self):
            return next(self.it, None)

    qpath = work / f"{model.stem}_qdq.onnx"
    quantize_static(str(model), str(qpath), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    macs_per_image = net.macs // net.layers[0].in_shape[0]  # descriptors carry the calibration batch
    return {"desc": str(desc), "qdq": str(qpath), "float": str(model), "macs": macs_per_image, "calibrate_s": t_cal}


def child(files: dict, threads: int) -> dict:
    import onnxruntime as ort

    from accelsim.datapath import prepare, run_network
    from accelsim.layers.io import read_network

    x = _images(BATCH, 1)
    prep = prepare(read_network(files["desc"]))
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    # interleaved rounds: onnxruntime's pool threads must not spin-wait through accelsim's round
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    sessions = {k: ort.InferenceSession(files[k], so, providers=["CPUExecutionProvider"]) for k in ("qdq", "float")}
    runs = {"accelsim": lambda: run_network(prep, x),
            "ort_int8": lambda: sessions["qdq"].run(None, {"input": x}),
            "ort_float": lambda: sessions["float"].run(None, {"input": x})}
    for f in runs.values():
        f()  # warm-up (Numba loads its cached kernels, onnxruntime plans)
    best = {k: float("inf") for k in runs}
    cpu = {k: float("inf") for k in runs}
    for _ in range(ROUNDS):
        for k, f in runs.items():
            c = time.process_time()
            t = time.perf_counter()
            f()
            best[k] = min(best[k], time.perf_counter() - t)
            cpu[k] = min(cpu[k], time.process_time() - c)
    paths = sorted(set(run_network(prep, x[:1]).paths.values()))
    return {"threads": threads, "best_s": best, "cpu_s": cpu, "paths": paths}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        files = json.loads(sys.argv[2])
        print(json.dumps(child(files, int(sys.argv[3]))))
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default=str(Path(__file__).resolve().parents[2] / "models_cache"))
    ap.add_argument("--nets", default="resnet18,resnet50,mobilenet_v2")
    ap.add_argument("--threads", default="1,2")
    args = ap.parse_args()
    print(f"batch {BATCH} images 224x224, best of {ROUNDS} interleaved rounds; load "
          f"{os.getloadavg()[0]:.1f} {os.getloadavg()[1]:.1f} {os.getloadavg()[2]:.1f}")
    hdr = (f"{'network':<13} {'thr':>3}  {'accelsim ms/img':>15} {'ORT int8':>9} {'ORT f32':>8}  "
           f"{'acc GMAC/s':>10} {'int8':>6} {'f32':>6}  {'ORT int8 / accelsim time':>24}")
    print(hdr)
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.nets.split(","):
            files = prepare_files(Path(args.models) / f"{name}.onnx", Path(tmp))
            print(f"{name}: {files['macs'] / 1e9:.2f} GMAC per image", flush=True)
            for threads in [int(t) for t in args.threads.split(",")]:
                env = dict(os.environ, NUMBA_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads),
                           OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
                env.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")  # no idle BLAS thread spinning through a round
                out = subprocess.run([sys.executable, __file__, "--child", json.dumps(files), str(threads)],
                                     env=env, check=True, capture_output=True, text=True).stdout
                r = json.loads(out.strip().splitlines()[-1])
                b = r["best_s"]
                ms = {k: 1e3 * v / BATCH for k, v in b.items()}
                gm = {k: files["macs"] * BATCH / v / 1e9 for k, v in b.items()}
                print(f"{name:<13} {threads:>3}  {ms['accelsim']:>15.1f} {ms['ort_int8']:>9.1f} {ms['ort_float']:>8.1f}  "
                      f"{gm['accelsim']:>10.1f} {gm['ort_int8']:>6.1f} {gm['ort_float']:>6.1f}  "
                      f"{b['ort_int8'] / b['accelsim']:>24.2f}   paths {','.join(r['paths'])}", flush=True)
                cp = {k: 1e3 * v / BATCH for k, v in r["cpu_s"].items()}
                print(f"{'':<13} {'':>3}  CPU ms/img (all threads, best round): accelsim {cp['accelsim']:.1f}, "
                      f"ORT int8 {cp['ort_int8']:.1f}, ORT f32 {cp['ort_float']:.1f}; ORT int8 / accelsim CPU "
                      f"{r['cpu_s']['ort_int8'] / r['cpu_s']['accelsim']:.2f}", flush=True)
    print(f"load at end {os.getloadavg()[0]:.1f} {os.getloadavg()[1]:.1f} {os.getloadavg()[2]:.1f}")


if __name__ == "__main__":
    main()
