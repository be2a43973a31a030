"""The loop-nest search (``hardware.loop_order: search``) against the two fixed loop orders (``auto``).

ResNet-18 shapes (zoo, 224x224, 8-bit, 32-bit accumulators) on a 12x14 array with three 16 KiB
buffers, 16 B/cycle LPDDR4, 200 MHz, ``split_reduction: auto``, the SimPy model with stalls; for
each dataflow, DRAM bytes, compute cycles and total cycles of both. Run from the repo root::

    python benchmarks/hw_loop_search.py     # prints the table, writes results/hw_loop_search.json
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from accelsim.config.hardware import HardwareConfig
from accelsim.config.simulation import SimulationConfig
from accelsim.hw.sim import simulate_network
from accelsim.workloads.load import load_topology

RESULTS = Path(__file__).resolve().parent / "results"


def run(dataflow: str, loop_order: str) -> dict:
    hw = HardwareConfig.model_validate({"array": {"rows": 12, "cols": 14}, "dataflow": dataflow, "loop_order": loop_order,
                                        "buffers": {"ifmap_kb": 16, "weight_kb": 16, "ofmap_kb": 16,
                                                    "split_reduction": "auto"}})
    net = load_topology("resnet18")
    t0 = time.perf_counter()
    t = simulate_network(net, hw, SimulationConfig())
    return {"dataflow": dataflow, "loop_order": loop_order,
            "dram_mb": (t.total.dram_read_bytes + t.total.dram_write_bytes) / 1e6,
            "compute_cycles": t.total.compute_cycles, "total_cycles": t.total.total_cycles,
            "simulate_s": time.perf_counter() - t0}


def main() -> int:
    print(f"load: {os.getloadavg()[0]:.2f}")
    print(f"{'ResNet-18, 12x14, 3 x 16 KiB':<32}{'DRAM MB':>10}{'compute cycles':>16}{'total cycles':>14}")
    rows = [run(df, lo) for df in ("ws", "os", "is") for lo in ("auto", "search")]
    for r in rows:
        print(f"{r['dataflow'] + ', loop_order ' + r['loop_order']:<32}{r['dram_mb']:10.1f}{r['compute_cycles']:16,}"
              f"{r['total_cycles']:14,}")
    (RESULTS / "hw_loop_search.json").write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
