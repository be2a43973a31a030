"""``accelsim run [CONFIG]``: quantize, measure accuracy, simulate and price one config."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from accelsim.errors import ConfigError

if TYPE_CHECKING:
    from accelsim.pipeline.result import PointSummary


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "run",
        help="run one config end to end: accuracy, throughput, energy per inference",
        description="Quantize the model on one calibration batch (when the workload has weights), "
        "measure accuracy of the integer datapath against the float model, simulate the array and "
        "price every event. Without CONFIG, runs the shipped configs/default.yaml on the bundled model.",
    )
    p.add_argument("config", nargs="?", metavar="CONFIG", help="run config YAML (default: configs/default.yaml)")
    p.add_argument("-o", "--out", metavar="DIR", help="output folder (default: output_dir of the config, else out/<name>)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, e.g. --set quant.weight_bits=4 (repeatable; VALUE is YAML)")
    p.add_argument("--trace", metavar="PATH", help="also write a Chrome/Perfetto trace of one inference")
    p.add_argument("--no-progress", action="store_true", help="no progress messages or bars")
    p.set_defaults(func=run)


def parse_overrides(items: list[str]) -> dict[str, object]:
    """``["a.b=3", "c=[1, 2]"]`` → ``{"a.b": 3, "c": [1, 2]}``; values parse as YAML scalars/lists."""
    from accelsim.config.base import load_yaml_text

    out: dict[str, object] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. --set quant.weight_bits=4")
        out[key.strip()] = load_yaml_text(value, source=f"--set {key.strip()}")
    return out


def format_summary(s: PointSummary) -> str:
    """The human-readable summary printed after a run (units on every number)."""
    def pct(v):
        return "not measured" if v is None else f"{100 * v:.2f} %"

    lines = [
        f"run {s.name}: {s.workload} on a {s.array_rows}x{s.array_cols} {s.dataflow} array "
        f"at {s.clock_hz / 1e6:g} MHz, {s.weight_bits}-bit weights / {s.act_bits}-bit activations, "
        f"{s.technology} energy table",
        "",
        f"  throughput           {s.inferences_per_s:,.1f} inferences/s  (batch {s.batch})",
        f"  latency              {s.latency_s * 1e3:,.4f} ms  ({s.total_cycles:,} cycles: "
        f"{s.compute_cycles:,} compute + {s.stall_cycles:,} stall)",
        f"  MACs per pass        {s.macs:,}  (array utilization {100 * s.utilization:.1f} %)",
        f"  achieved / peak      {s.tops:.4f} / {s.peak_tops:.4f} TOPS",
        f"  energy / inference   {s.energy_per_inference_uj:,.3f} µJ",
    ]
    total = s.energy_per_inference_uj or 1.0
    for k, v in s.breakdown().items():
        lines.append(f"      {k:<16} {v:>12,.3f} µJ  {100 * v / total:5.1f} %")
    lines += [
        f"  average power        {s.power_mw:,.3f} mW",
        f"  efficiency           {s.tops_per_w:.4f} TOPS/W  (2 ops per MAC)",
        f"  float top-1          {pct(s.float_top1)}",
        f"  quantized top-1      {pct(s.quant_top1)}"
        + (f"  (argmax agreement {pct(s.agreement)}, {s.accuracy_images:,} images)"
           if s.quant_top1 is not None else f"  ({s.accuracy_note})" if s.accuracy_note else ""),
    ]
    if s.calib_images is not None:
        req = s.calib_images_requested
        lines.append(f"  calibration          {s.calib_images:,} image{'s' if s.calib_images != 1 else ''}"
                     + (f"  ({req:,} requested)" if req not in (None, s.calib_images) else ""))
    for w in s.warnings:
        lines.append(f"  warning: {w}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from accelsim.config.run import load_config
    from accelsim.pipeline import output_dir, run as run_config, write_outputs

    cfg = load_config(args.config, overrides=parse_overrides(args.overrides))
    result = run_config(cfg, progress=not args.no_progress)
    out = output_dir(cfg, args.out)
    paths = write_outputs(result, out)
    print(format_summary(result.summary()))
    print(f"\nwrote {paths['summary']}, {paths['layers']}, {paths['descriptors']}/")
    if args.trace:
        from accelsim.report.trace import write_trace

        trace = write_trace(result.timing, args.trace, name=cfg.name)
        print(f"wrote {trace} (open in https://ui.perfetto.dev or chrome://tracing)")
    sys.stdout.flush()
    return 0
