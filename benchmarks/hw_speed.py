"""Speed of the hardware model: cost grows with folds, not MACs; ResNet-18 32x32 wall time and memory.

Run: ``python benchmarks/hw_speed.py``. Prints, for ResNet-50 on 8x8, 32x32 and 256x256 (os,
SimPy model with stalls), the wall time, folds, SimPy chunks and MACs, and wall time per 1000 folds
against the 256x256 run (the baseline measured in the same run). Then ResNet-18 (the SCALE-Sim
CSV) on 32x32 as ``accelsim simulate`` in a child process: wall time and peak RSS, against
SCALE-Sim 3.0.0's 205 s / 3.6 GB measured on this machine (shared/topologies/scalesim/README.md).
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from accelsim.config.hardware import HardwareConfig
from accelsim.config.simulation import SimulationConfig
from accelsim.workloads.load import load_topology
from accelsim.hw.sim import simulate_network

ROOT = Path(__file__).resolve().parents[1]
RESNET18_CSV = ROOT / ".." / "shared" / "topologies" / "scalesim" / "v3" / "topologies" / "conv_nets" / "Resnet18.csv"


def timed(net, size, df="os", stall_free=False, repeat=3):
    hw = HardwareConfig.model_validate({"array": {"rows": size, "cols": size}, "dataflow": df,
                                        "buffers": {"ifmap_kb": 256, "weight_kb": 256, "ofmap_kb": 256}})
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        res = simulate_network(net, hw, SimulationConfig(stall_free=stall_free))
        best = min(best, time.perf_counter() - t0)
    return best, res


def main() -> None:
    net = load_topology("resnet50")
    simulate_network(net, HardwareConfig(), SimulationConfig())  # warm up Numba
    print("ResNet-50 (zoo), os, 256 KiB buffers, SimPy model with stalls; best of 3")
    print(f"{'array':>8} {'wall s':>8} {'folds':>10} {'chunks':>8} {'MACs':>14} {'total cycles':>14} {'us/fold':>8}")
    rows = []
    for size in (256, 32, 8):
        wall, res = timed(net, size)
        chunks = res.timeline.phase.count("compute")
        rows.append((size, wall, res.total.folds, chunks))
        print(f"{size:>5}x{size:<2} {wall:>8.3f} {res.total.folds:>10,} {chunks:>8,} {res.total.macs:>14,} "
              f"{res.total.total_cycles:>14,} {1e6 * wall / res.total.folds:>8.2f}")
    base = rows[0]
    for size, wall, folds, chunks in rows[1:]:
        print(f"  {size}x{size} vs 256x256: {folds / base[2]:.0f}x the folds, {wall / base[1]:.1f}x the wall time, "
              f"same MACs")
    wall_sf, res_sf = timed(net, 8, stall_free=True)
    print(f"  8x8 closed form only (stall_free): {wall_sf:.3f} s for {res_sf.total.folds:,} folds")

    if RESNET18_CSV.is_file():
        for df in ("os", "ws"):
            js = Path(tempfile.mkdtemp()) / "r.json"
            cmd = [sys.executable, "-m", "accelsim", "simulate", "--topology", str(RESNET18_CSV), "--array", "32x32",
                   "--dataflow", df, "--convention", "scalesim", "--stall-free", "-q", "-o", "-", "--json", str(js)]
            t0 = time.perf_counter()
            subprocess.run(cmd, capture_output=True, text=True, check=True)
            wall = time.perf_counter() - t0
            rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
            total = json.loads(js.read_text())["total"]["total_cycles"]
            print(f"ResNet-18 CSV 32x32 {df} scalesim/CALC via `accelsim simulate` (child process incl. imports): "
                  f"{wall:.2f} s, peak RSS {rss_mb:.0f} MB, total cycles {total:,}")
            print(f"  vs SCALE-Sim 3.0.0 on this machine: {'205' if df == 'os' else '196'} s -> "
                  f"{(205 if df == 'os' else 196) / wall:.0f}x faster")
        net18 = load_topology(str(RESNET18_CSV))
        hw = HardwareConfig.model_validate({"array": {"rows": 32, "cols": 32}, "dataflow": "os"})
        simulate_network(net18, hw, SimulationConfig())
        t0 = time.perf_counter()
        simulate_network(net18, hw, SimulationConfig(convention="scalesim", stall_free=True))
        t1 = time.perf_counter()
        simulate_network(net18, hw, SimulationConfig())
        t2 = time.perf_counter()
        t_import = subprocess.run([sys.executable, "-c", "import time; t=time.perf_counter(); "
                                   "import accelsim.cli.simulate, accelsim.hw.sim, accelsim.workloads.load; "
                                   "print(time.perf_counter()-t)"], capture_output=True, text=True).stdout.strip()
        print(f"  imports alone in a child process: {float(t_import):.2f} s")
        print(f"  in-process: {1e3 * (t1 - t0):.1f} ms (scalesim, stall-free), {1e3 * (t2 - t1):.1f} ms "
              f"(accelsim, SimPy with stalls)")


if __name__ == "__main__":
    main()
