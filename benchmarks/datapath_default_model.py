"""The bundled default model: accuracy by bit width and datapath throughput beside onnxruntime.

* Accuracy: the full Fashion-MNIST test set (10,000 images, ``/work/shared/data/fashion-mnist``),
  calibrated with the paper's KL-J on one batch of 64 bundled calibration images (seed 0), at
  4, 5, 6, 8 and 16 bits (weights = activations), per-channel weights, 32-bit accumulator
  (48-bit at 16 bits). Issue bar: 8 bits within 0.5 points top-1 of float.
* Throughput (same run, same images, default threads = 2): the integer datapath
  (:func:`accelsim.datapath.run_network`, 8 bits) against onnxruntime float32 and onnxruntime's
  ``quantize_static`` int8 QDQ model, in images/s.

Run: ``python benchmarks/datapath_default_model.py [--limit N]`` (minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

SHARED = next((p for p in (Path(__file__).resolve().parents[2] / "shared", Path("/work/shared")) if p.is_dir()),
              Path("/work/shared"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--bits", default="4,5,6,8,16")
    args = ap.parse_args()
    import onnxruntime as ort
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, quantize_static

    from accelsim.config.data import DatasetConfig
    from accelsim.config.quant import QuantConfig
    from accelsim.datapath import evaluate, prepare, run_network
    from accelsim.workloads.bundled import model_path, preprocess_config
    from accelsim.datasets.readers import open_dataset
    from accelsim.graph.onnx_import import load_onnx
    from accelsim.quant.calibrate import calibrate

    model = model_path()
    g = load_onnx(model)
    pp = preprocess_config()
    test = open_dataset(DatasetConfig(path=str(SHARED / "data" / "fashion-mnist" / "t10k-images-idx3-ubyte.gz"),
                                      limit=args.limit, preprocess=pp), (1, 1, 28, 28))
    calib = open_dataset(DatasetConfig(path="bundled"), (1, 1, 28, 28), split="calib")
    cx, _ = calib.take(64, 0)
    print(f"default model, {len(test)} Fashion-MNIST test images, KL-J on 64 calibration images")
    print(f"{'bits':>4}  {'float top-1':>11}  {'quant top-1':>11}  {'delta':>7}  {'agreement':>9}  {'min SQNR dB':>11}")
    nets = {}
    for b in [int(v) for v in args.bits.split(",")]:
        q = QuantConfig(weight_bits=b, act_bits=b, acc_bits=48 if b > 12 else 32)
        net = prepare(calibrate(g, cx, q))
        nets[b] = net
        r = evaluate(g, net, test, 500, progress=False)
        sq = min(la.sqnr_db for la in r.layers if la.sqnr_db is not None)
        print(f"{b:>4}  {100 * r.float_top1:>9.2f} %  {100 * r.quant_top1:>9.2f} %  "
              f"{100 * (r.quant_top1 - r.float_top1):>+6.2f}  {100 * r.agreement:>7.2f} %  {sq:>11.2f}", flush=True)

    # throughput on the same images
    x = np.concatenate([test.get(np.arange(s, min(s + 1000, len(test))))[0] for s in range(0, len(test), 1000)])
    net8 = nets.get(8) or prepare(calibrate(g, cx, QuantConfig()))
    run_network(net8, x[:256])
    t = time.perf_counter()
    for s in range(0, len(x), 500):
        run_network(net8, x[s:s + 500])
    t_acc = time.perf_counter() - t

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter([{"input": cx}])

        def get_next(self):
            return next(self.it, None)

    with tempfile.TemporaryDirectory() as tmp:
        qpath = Path(tmp) / "q.onnx"
        quantize_static(str(model), str(qpath), Reader(), quant_format=QuantFormat.QDQ, per_channel=True)
        times = {}
        for name, path in (("ORT float32", model), ("ORT int8 QDQ", qpath)):
            s = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            s.run(None, {"input": x[:256]})
            t = time.perf_counter()
            for st in range(0, len(x), 500):
                s.run(None, {"input": x[st:st + 500]})
            times[name] = time.perf_counter() - t
    n = len(x)
    print(f"\nthroughput, {n} images, batch 500:")
    print(f"  accelsim datapath 8-bit  {n / t_acc:9.0f} images/s")
    for name, dt in times.items():
        print(f"  {name:<24} {n / dt:9.0f} images/s   accelsim / this = {dt / t_acc:.3f}")


if __name__ == "__main__":
    main()
