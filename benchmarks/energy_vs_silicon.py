"""Held against published silicon: accelsim's predicted throughput and power next to measured chips.

For each shipped chip config (``accelsim/configs/chips/``) this runs accelsim (shapes only: timing
and energy) and prints the prediction beside the paper's numbers, with the ratio predicted /
published. Chip power is accelsim's total less DRAM (the papers measure the chip, not its
memory); the DRAM power is printed apart. Run from the repo root::

    python benchmarks/energy_vs_silicon.py [--json benchmarks/results/energy_vs_silicon.json]

docs/energy.md ("Held against silicon") explains every difference.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from accelsim.config.run import configs_dir, load_config
from accelsim.pipeline import run


@dataclass(frozen=True)
class Published:
    """What a paper measured, and where."""

    config: str
    chip: str
    workload: str
    source: str
    frames_per_s: float | None = None
    tops: float | None = None
    chip_power_mw: float | None = None


PUBLISHED = (
    Published("eyeriss_v1", "Eyeriss v1 (65 nm, 168 PEs, 200 MHz)", "AlexNet conv1-5, batch 4",
              "Chen et al., IEEE JSSC 52(1) 2017: 34.7 frames/s at 278 mW",
              frames_per_s=34.7, chip_power_mw=278.0),
    Published("envision", "Envision (40 nm, 16x16, 204 MHz)", "AlexNet conv1-5",
              "Moons & Verhelst, IEEE JSSC 52(4) 2017: 47 frames/s at 76 mW",
              frames_per_s=47.0, chip_power_mw=76.0),
    Published("tpu_v1", "TPU v1 (28 nm, 256x256, 700 MHz)", "ResNet-50 shapes, batch 8 (paper: CNN0)",
              "Jouppi et al., ISCA 2017: CNN0 86 TOPS (Table 3), die 40 W busy (Table 2)",
              tops=86.0, chip_power_mw=40_000.0),
)


def predict(pub: Published, stall_free: bool = False) -> dict:
    """Run the chip's config (with ``simulation.stall_free`` when asked: operands always on chip);
    returns predicted numbers (units in the keys)."""
    cfg = load_config(configs_dir() / "chips" / f"{pub.config}.yaml",
                      overrides={"simulation.stall_free": True} if stall_free else None)
    t0 = time.perf_counter()
    res = run(cfg)
    e = res.energy
    power = e.power_breakdown_mw()
    dram_mw = power["dram"]
    leak = {k: power[k] for k in ("leakage_logic", "leakage_ifmap", "leakage_weight", "leakage_ofmap")}
    return {
        "frames_per_s": e.inferences_per_s,
        "tops": res.timing.achieved_tops,
        "peak_tops": res.timing.peak_tops,
        "utilization": res.timing.total.utilization,
        "stall_fraction": res.timing.total.stall_cycles / res.timing.total.total_cycles,
        "dram_mb_per_frame": (res.timing.total.dram_read_bytes + res.timing.total.dram_write_bytes)
        / res.timing.batch / 1e6,
        "chip_power_mw": e.power_mw - dram_mw,
        "dram_power_mw": dram_mw,
        "leakage_mw": leak,
        "power_breakdown_mw": power,
        "energy_per_frame_uj": e.energy_per_inference_uj,
        "seconds": time.perf_counter() - t0,
    }


def _ratio(pred: float | None, pub: float | None) -> str:
    return f"{pred / pub:6.2f}x" if pred is not None and pub else "     -"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = ap.parse_args(argv)
    rows = []
    print(f"load: {os.getloadavg()[0]:.2f}")
    print(f"{'chip':38s} {'metric':18s} {'published':>12s} {'accelsim':>12s} {'ratio':>8s}")
    for pub in PUBLISHED:
        for stall_free in (False, True):
            pred = predict(pub, stall_free)
            mode = "operands on chip (stall_free)" if stall_free else "as configured"
            rows.append({"config": pub.config, "chip": pub.chip, "workload": pub.workload, "source": pub.source,
                         "mode": mode, "published": {"frames_per_s": pub.frames_per_s, "tops": pub.tops,
                                                     "chip_power_mw": pub.chip_power_mw},
                         "accelsim": pred})
            lines = []
            if pub.frames_per_s is not None:
                lines.append(("frames/s", pub.frames_per_s, pred["frames_per_s"]))
            if pub.tops is not None:
                lines.append(("TOPS", pub.tops, pred["tops"]))
            lines.append(("chip power (mW)", pub.chip_power_mw, pred["chip_power_mw"]))
            for i, (metric, p, a) in enumerate(lines):
                label = (pub.chip, mode)[i] if i < 2 else ""
                print(f"{label:38s} {metric:18s} {p:12.4g} {a:12.4g} {_ratio(a, p):>8s}")
            top = sorted(pred["power_breakdown_mw"].items(), key=lambda kv: -kv[1])[:4]
            print(f"{'':38s} (DRAM {pred['dram_power_mw']:.4g} mW apart, {pred['dram_mb_per_frame']:.4g} MB/frame; "
                  f"stalled {100 * pred['stall_fraction']:.0f} %; utilization {100 * pred['utilization']:.1f} %; "
                  f"largest: {', '.join(f'{k} {v:.3g}' for k, v in top)} mW)")
    if args.json:
        tmp = args.json.with_suffix(".tmp")
        tmp.write_text(json.dumps(rows, indent=1) + "\n")
        os.replace(tmp, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
