"""Smoke check of the issue-9 ops on real exports: torchvision CNNs through the whole path.

Each model is exported by PyTorch (run in its own venv: torch is never an accelsim dependency)
with seeded random weights and BN statistics from three train-mode passes, then: import, float
executor against onnxruntime (max relative error), 8-bit calibration (method max) on the same
images, integer datapath logits SQNR against the float logits, the layer kinds it became, and
a hardware simulation of the default config. It shows which ops real exports use and that each
runs; the comparison with onnxruntime's int8 quantizer is benchmarks/model_coverage.py's job.

    python benchmarks/ops_real_exports.py --torch-python /work/venvs/torch/bin/python \\
        --models shufflenet_v2_x0_5,mobilenet_v3_small,efficientnet_b0,googlenet,densenet121 --size 96
"""

from __future__ import annotations

import argparse
import collections
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

EXPORT = r'''
import sys, torch, torchvision
name, size, out, dynamo = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4] == "1"
torch.manual_seed(0)
kw = {"weights": None}
if name in ("googlenet", "inception_v3"):
    kw.update(aux_logits=False, init_weights=True)
m = getattr(torchvision.models, name)(**kw)
m.train()
with torch.no_grad():
    for _ in range(3):
        m(torch.randn(4, 3, size, size))
m.eval()
extra = {} if dynamo else {"dynamic_axes": {"x": {0: "N"}}}
torch.onnx.export(m, torch.randn(1, 3, size, size), out, opset_version=17, dynamo=dynamo,
                  input_names=["x"], output_names=["y"], **extra)
'''


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--torch-python", required=True, help="python of a venv with torch and torchvision")
    ap.add_argument("--models", default="shufflenet_v2_x0_5,mobilenet_v3_small,efficientnet_b0,googlenet,densenet121")
    ap.add_argument("--size", type=int, default=96, help="input H = W, pixels")
    ap.add_argument("--images", type=int, default=4)
    ap.add_argument("--dynamo", action="store_true", help="torch.onnx.export(dynamo=True) (batch fixed to 1)")
    args = ap.parse_args(argv)

    import onnxruntime as ort

    from accelsim.config.hardware import HardwareConfig
    from accelsim.config.quant import QuantConfig
    from accelsim.config.simulation import SimulationConfig
    from accelsim.datapath.executor import run_network
    from accelsim.errors import AccelsimError
    from accelsim.graph.executor import run_graph
    from accelsim.graph.onnx_import import load_onnx
    from accelsim.hw.sim import simulate_network
    from accelsim.quant.calibrate import calibrate

    n = 1 if args.dynamo else args.images
    x = np.random.default_rng(0).standard_normal((n, 3, args.size, args.size)).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models.split(","):
            path = Path(tmp) / f"{name}.onnx"
            subprocess.run([args.torch_python, "-c", EXPORT, name, str(args.size), str(path),
                            "1" if args.dynamo else "0"], check=True, capture_output=True)
            t0 = time.perf_counter()
            try:
                graph = load_onnx(path)
            except AccelsimError as exc:
                print(f"{name}: refused: {str(exc)[:160]}")
                continue
            y = run_graph(graph, {"x": x})["y"]
            ref = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
            rel = float(np.abs(y - ref).max() / np.abs(ref).max())
            for add in ("inputs", "calibrated"):
                net = calibrate(graph, x, QuantConfig(method="max", add_threshold=add))
                logits = run_network(net, x).logits
                sqnr = 10 * np.log10(float((ref ** 2).sum()) / float(((logits - ref) ** 2).sum()))
                kinds = collections.Counter(layer.op for layer in net.layers)
                print(f"{name}: float max rel err {rel:.1e}; 8-bit SQNR {sqnr:.1f} dB (add_threshold {add})")
            timing = simulate_network(net, HardwareConfig(), SimulationConfig())
            luts = sorted({str(layer.extra.get("function")) for layer in net.layers if layer.op == "lut"})
            print(f"    layers {dict(kinds)}; tables {luts}; {timing.total.total_cycles:,} cycles, "
                  f"{timing.total.vector_ops:,} vector ops; {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
