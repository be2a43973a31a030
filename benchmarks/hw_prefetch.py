"""Latency with and without cross-layer prefetch (``hardware.buffers.cross_layer_prefetch``).

Zoo ResNet-18 and MobileNet-v1 (224x224, 8-bit) on a 32x32 array, 3 x 64 KiB buffers, 200 MHz,
16 (and 64) B/cycle LPDDR4, SimPy model with stalls; os and ws; os also with ``split_reduction: auto``.
Prefetch lets a layer's first weights load while the previous layer still computes or writes
back. ::

    python benchmarks/hw_prefetch.py          # prints the table, writes results/hw_prefetch.json
"""

from __future__ import annotations

import json
from pathlib import Path

from accelsim.config.hardware import HardwareConfig
from accelsim.config.simulation import SimulationConfig
from accelsim.hw.sim import simulate_network
from accelsim.workloads.load import load_topology

RESULTS = Path(__file__).resolve().parent / "results"
CASES = [("resnet18", "os", "never", 16), ("resnet18", "os", "auto", 16), ("resnet18", "ws", "never", 16),
         ("mobilenet_v1", "os", "never", 16), ("mobilenet_v1", "ws", "never", 16),
         ("resnet18", "os", "auto", 64), ("mobilenet_v1", "os", "never", 64)]


def main() -> int:
    rows = []
    print(f"{'network, dataflow, split, B/cycle':<38}{'compute cyc':>13}{'total, no prefetch':>20}{'total, prefetch':>17}{'saved':>8}")
    for net_name, df, split, bw in CASES:
        net = load_topology(net_name)
        totals = {}
        for prefetch in (False, True):
            hw = HardwareConfig.model_validate({"array": {"rows": 32, "cols": 32}, "dataflow": df,
                                                "buffers": {"split_reduction": split,
                                                            "cross_layer_prefetch": prefetch},
                                                "dram": {"bandwidth_bytes_per_cycle": bw}})
            t = simulate_network(net, hw, SimulationConfig())
            totals[prefetch] = (t.total.compute_cycles, t.total.total_cycles, t.latency_s)
        comp, off, _ = totals[False]
        _, on, _ = totals[True]
        print(f"{net_name + ', ' + df + ', ' + split + ', ' + str(bw):<38}{comp:13,}{off:20,}{on:17,}{(off - on) / off:8.1%}")
        rows.append({"network": net_name, "dataflow": df, "split_reduction": split, "dram_bytes_per_cycle": bw,
                     "compute_cycles": comp,
                     "total_cycles_no_prefetch": off, "total_cycles_prefetch": on,
                     "latency_ms_no_prefetch": totals[False][2] * 1e3, "latency_ms_prefetch": totals[True][2] * 1e3})
    (RESULTS / "hw_prefetch.json").write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
