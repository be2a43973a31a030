"""Run ZigZag (PyPI ``zigzag-dse``) on given accelerator/workload/mapping YAML files; print JSON.

Runs INSIDE the ``.venv-zigzag`` interpreter (``benchmarks/zigzag_peer.py`` starts it), because ZigZag
pins its own dependencies. Output (stdout, one JSON document): the wall time of ZigZag's search and,
per layer, the MAC energy and the memory energy per memory instance name (pJ), plus ZigZag's
latency in cycles. No pickle is read (ZigZag writes its own into a temporary folder, untouched).

    .venv-zigzag/bin/python benchmarks/zigzag_run.py HW.yaml WORKLOAD.yaml MAPPING.yaml
"""

from __future__ import annotations

import json
import logging
import sys
import tempfile
import time


def main(argv: list[str]) -> int:
    hw, workload, mapping = argv[:3]
    from zigzag.api import get_hardware_performance_zigzag

    with tempfile.TemporaryDirectory() as dump:
        t0 = time.perf_counter()
        energy, latency, cmes = get_hardware_performance_zigzag(
            workload, hw, mapping, opt="energy", dump_folder=dump, loma_show_progress_bar=False,
        )
        wall = time.perf_counter() - t0
    logging.getLogger().setLevel(logging.WARNING)
    layers = []
    for cme, _extra in cmes[0][1]:
        levels: dict[str, float] = {}
        hierarchy = cme.accelerator.memory_hierarchy
        for layer_op, per_level in cme.mem_energy_breakdown.items():
            mem_op = cme.memory_operand_links.layer_to_mem_op(layer_op)
            for level, e in zip(hierarchy.get_memory_levels(mem_op=mem_op), per_level):
                levels[level.name] = levels.get(level.name, 0.0) + float(e)
        layers.append({
            "name": cme.layer.name,
            "macs": int(cme.layer.total_mac_count),
            "mac_energy_pj": float(cme.mac_energy),
            "memory_energy_pj": levels,
            "energy_pj": float(cme.energy_total),
            "latency_cycles": float(cme.latency_total2),
        })
    json.dump({"wall_s": wall, "energy_pj": float(energy), "latency_cycles": float(latency),
               "layers": layers}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
