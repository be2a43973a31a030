"""Energy model: cost of pricing next to the cost of simulating, and ResNet-18 energy per technology.

Baseline measured in the same run: ``simulate_network`` of the same network. Prints the pricing
time (best of 5) and its ratio to the simulation, then ResNet-18 on a 32x32 output-stationary
array (64 KiB buffers, LPDDR4, 200 MHz) priced with every shipped table at 8 and 4 bits. ::

    python benchmarks/energy_speed.py
"""

from __future__ import annotations

import time

from accelsim.config.hardware import HardwareConfig
from accelsim.config.simulation import SimulationConfig
from accelsim.energy import available_technologies, price_network, shipped_table
from accelsim.workloads.load import load_topology
from accelsim.hw.sim import simulate_network


def best_of(n: int, fn) -> float:
    best = float("inf")
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    hw = HardwareConfig()
    sim = SimulationConfig()
    table = shipped_table("45nm")
    print("pricing cost vs simulation cost (best of 5 / best of 2)")
    for name in ("resnet18", "resnet50", "mobilenet_v2"):
        net = load_topology(name)
        simulate_network(net, hw, sim)  # warm-up (Numba, caches)
        t_sim = best_of(2, lambda: simulate_network(net, hw, sim))
        timing = simulate_network(net, hw, sim)
        t_price = best_of(5, lambda: price_network(timing.layers, net.layers, hw, table))
        print(f"  {name:<13} {len(net.layers):4d} layers: simulate {t_sim * 1e3:8.1f} ms, "
              f"price {t_price * 1e3:6.2f} ms ({t_price / t_sim:.4f}x)")

    print("\nResNet-18, 32x32 os, 64 KiB buffers, LPDDR4, 200 MHz: energy per inference")
    comps = ("mac", "pe_registers", "pe_forwarding", "sram_ifmap", "sram_weight", "sram_ofmap", "dram",
             "leakage", "vector")
    print(f"  {'table':<6}{'bits':>5}{'total uJ':>10}{'mW':>8}{'TOPS/W':>8}  " + " ".join(f"{c[:9]:>9}" for c in comps))
    for bits in (8, 4):
        net = load_topology("resnet18").with_bits(weight_bits=bits, act_bits=bits, out_bits=bits)
        timing = simulate_network(net, hw, sim)
        for tech in available_technologies():
            e = price_network(timing.layers, net.layers, hw, shipped_table(tech))
            parts = " ".join(f"{getattr(e.total, c) * 1e-6:9.1f}" for c in comps)
            print(f"  {tech:<6}{bits:>5}{e.energy_per_inference_uj:10.1f}{e.power_mw:8.1f}{e.tops_per_w:8.3f}  {parts}")


if __name__ == "__main__":
    main()
