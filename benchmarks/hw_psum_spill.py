"""ResNet-18 on a 32x32 output-stationary array: DRAM bytes and energy with and without a split
reduction (partial-sum spills, ``hardware.buffers.split_reduction``) and with the loop-nest search
(``hardware.loop_order: search``), next to ZigZag.

ZigZag's numbers are the ones ``benchmarks/zigzag_peer.py`` saved
(``benchmarks/results/zigzag_peer_resnet18_32x32_45nm_zigzag.json``: ZigZag 3.9.1, the same
per-access energies, the same 21 array layers); its DRAM bytes are its DRAM energy divided by the
table's pJ per byte (both price every DRAM bit alike). accelsim runs the zoo ResNet-18 (224x224,
8-bit, 32-bit accumulators, 64 KiB buffers, 16 B/cycle LPDDR4, 45 nm table) with the SimPy
model. Only the array layers are compared. ::

    python benchmarks/hw_psum_spill.py            # prints the table, writes results/hw_psum_spill.json
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from accelsim.config.hardware import HardwareConfig
from accelsim.config.simulation import SimulationConfig
from accelsim.energy import price_network, shipped_table
from accelsim.hw.sim import simulate_network
from accelsim.workloads.load import load_topology

RESULTS = Path(__file__).resolve().parent / "results"
ZIGZAG = RESULTS / "zigzag_peer_resnet18_32x32_45nm_zigzag.json"


def run(split: str, loop_order: str = "auto") -> dict:
    hw = HardwareConfig.model_validate({"array": {"rows": 32, "cols": 32}, "dataflow": "os", "loop_order": loop_order,
                                        "buffers": {"split_reduction": split}})
    net = load_topology("resnet18")
    t0 = time.perf_counter()
    timing = simulate_network(net, hw, SimulationConfig())
    wall = time.perf_counter() - t0
    energy = price_network(timing.layers, net.layers, hw, shipped_table("45nm"))
    on_array = {l.name for l in net.layers if l.on_array}
    layers = [c for c in timing.layers if c.name in on_array]
    dram_pj = sum(le.breakdown.dram for le in energy.layers if le.name in on_array)
    return {
        "split_reduction": split,
        "loop_order": loop_order,
        "dram_read_bytes": sum(c.dram_read_bytes for c in layers),
        "dram_write_bytes": sum(c.dram_write_bytes for c in layers),
        "dram_energy_uj": dram_pj * 1e-6,
        "total_energy_uj": energy.total.total_pj * 1e-6,
        "total_cycles": timing.total.total_cycles,
        "compute_cycles": timing.total.compute_cycles,
        "folds": timing.total.folds,
        "simulate_s": wall,
    }


def main() -> int:
    table = shipped_table("45nm")
    pj_per_byte = 8 * table.dram_energy_pj_per_bit("lpddr4")
    zz = json.loads(ZIGZAG.read_text())
    zz_dram_pj = sum(l["memory_energy_pj"].get("dram", 0.0) for l in zz["layers"])
    rows = [run("never"), run("auto"), run("auto", "search")]
    print(f"{'ResNet-18, 32x32 os, 21 array layers':<40}{'DRAM read MB':>14}{'DRAM write MB':>15}{'DRAM uJ':>10}"
          f"{'vs ZigZag':>11}{'total cycles':>14}")
    for r in rows:
        label = f"accelsim, split_reduction {r['split_reduction']}" + (", search" if r["loop_order"] == "search" else "")
        print(f"{label:<40}{r['dram_read_bytes'] / 1e6:14.2f}"
              f"{r['dram_write_bytes'] / 1e6:15.2f}{r['dram_energy_uj']:10.0f}{r['dram_energy_uj'] / (zz_dram_pj * 1e-6):10.2f}x"
              f"{r['total_cycles']:14,}")
    print(f"{'ZigZag 3.9.1 (read + write)':<40}{zz_dram_pj / pj_per_byte / 1e6:14.2f}{'':>15}{zz_dram_pj * 1e-6:10.0f}"
          f"{1.0:10.2f}x{int(zz['latency_cycles']):14,}")
    out = {"accelsim": rows, "zigzag_dram_uj": zz_dram_pj * 1e-6, "zigzag_dram_mb": zz_dram_pj / pj_per_byte / 1e6,
           "zigzag_latency_cycles": zz["latency_cycles"]}
    (RESULTS / "hw_psum_spill.json").write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
