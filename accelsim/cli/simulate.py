"""``accelsim simulate [CONFIG]``: cycles, stalls and memory traffic of a topology on one array.

Shapes only, no weights: the workload is a zoo name or a SCALE-Sim topology CSV (``--topology``
or the config's ``workload.topology``), at the widths of the config's ``quant:`` section. Runs the
pipeline's stages up to the timing (:func:`accelsim.pipeline.stages.run_stages`).
Command-line values override the config. Prints a per-layer table and totals; writes
``simulate.json`` and ``simulate.csv`` to the output folder, and to ``--json``/``--csv`` if given.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

from accelsim.atomic import atomic_open, write_text
from accelsim.errors import ConfigError

DEFAULT_CONFIG = "edge_32x32.yaml"

CSV_COLUMNS = (
    "name", "op", "macs", "folds", "compute_cycles", "stall_cycles", "total_cycles", "utilization",
    "dram_read_bytes", "dram_write_bytes", "sram_ifmap_read_bytes", "sram_weight_read_bytes",
    "sram_ofmap_read_bytes", "sram_ifmap_write_bytes", "sram_weight_write_bytes", "sram_ofmap_write_bytes",
    "pe_forward_bits", "pe_reg_write_bits", "clock_bit_cycles", "vector_ops",
)
"""Columns of the CSV (one row per layer, then a ``total`` row); units in the names."""


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "simulate",
        help="cycles, stalls and memory traffic of a network topology on one array (no weights needed)",
        description="Simulate a network topology (zoo name or SCALE-Sim CSV) on the systolic array of a "
        "config: per-layer cycles (compute, stall, total), utilization, MACs and bytes per memory level; "
        "totals with latency, inferences/s and TOPS. Command-line values override the config.",
    )
    p.add_argument("config", nargs="?", metavar="CONFIG", help=f"run config YAML (default: configs/{DEFAULT_CONFIG})")
    p.add_argument("--topology", metavar="PATH", help="zoo name (resnet18, ...) or SCALE-Sim topology CSV")
    p.add_argument("--array", metavar="RxC", help="array shape, e.g. 32x32 (overrides hardware.array)")
    p.add_argument("--dataflow", choices=("os", "ws", "is"), help="overrides hardware.dataflow")
    p.add_argument("--convention", choices=("accelsim", "scalesim"), help="overrides simulation.convention")
    p.add_argument("--stall-free", action="store_true", default=None,
                   help="no DRAM stalls (SCALE-Sim's CALC mode); sets simulation.stall_free")
    p.add_argument("--bandwidth", type=float, metavar="BYTES", help="DRAM bytes per cycle (overrides hardware.dram)")
    p.add_argument("--json", metavar="PATH", help="also write the JSON result here")
    p.add_argument("--csv", metavar="PATH", help="also write the per-layer CSV here")
    p.add_argument("-o", "--out", metavar="DIR",
                   help="output folder for simulate.json and simulate.csv (default: output_dir of the config, "
                   "else out/<name>); '-' writes nothing there")
    p.add_argument("-q", "--quiet", action="store_true", help="print only the totals")
    p.set_defaults(func=run)


def parse_array(text: str) -> tuple[int, int]:
    """``"32x32"`` → ``(32, 32)``; raises :class:`ConfigError` for anything else."""
    m = re.fullmatch(r"\s*(\d+)\s*[xX×]\s*(\d+)\s*", text or "")
    if not m or int(m.group(1)) < 1 or int(m.group(2)) < 1:
        raise ConfigError(f"--array {text!r}: expected ROWSxCOLS with positive integers, e.g. 32x32")
    return int(m.group(1)), int(m.group(2))


def _overrides(args: argparse.Namespace) -> dict[str, object]:
    out: dict[str, object] = {}
    if args.array is not None:
        rows, cols = parse_array(args.array)
        out["hardware.array.rows"] = rows
        out["hardware.array.cols"] = cols
    if args.dataflow:
        out["hardware.dataflow"] = args.dataflow
    if args.convention:
        out["simulation.convention"] = args.convention
    if args.stall_free:
        out["simulation.stall_free"] = True
    if args.bandwidth is not None:
        out["hardware.dram.bandwidth_bytes_per_cycle"] = args.bandwidth
    if args.topology:
        from accelsim.cli.common import cli_path
        from accelsim.config.files import topology_from_text

        topo = topology_from_text(args.topology)
        if "csv" in topo:
            topo = {"csv": cli_path(topo["csv"])}  # relative to the working directory, not the config
        out["workload.topology"] = topo
        out["workload.model"] = None
    return out


def _config_path(arg: str | None) -> Path:
    from accelsim.config.files import configs_dir

    if arg is not None:
        from accelsim.workloads.zoo import ZOO

        if arg in ZOO and not Path(arg).exists():
            raise ConfigError(f"{arg}: a zoo topology, not a config file: accelsim simulate --topology {arg} "
                              "(CONFIG is a run config YAML; it gives the array)")
        return Path(arg)
    path = configs_dir() / DEFAULT_CONFIG
    return path if path.is_file() else configs_dir() / "default.yaml"


def csv_rows(result: dict) -> list[dict]:
    """Flatten the JSON result into CSV rows (layers then ``total``)."""
    rows = []
    for row in result["layers"] + [dict(result["total"], op="")]:
        flat = {k: row.get(k) for k in CSV_COLUMNS if not k.startswith("sram_")}
        for buf in ("ifmap", "weight", "ofmap"):
            flat[f"sram_{buf}_read_bytes"] = row["sram_read_bytes"].get(buf, 0.0)
            flat[f"sram_{buf}_write_bytes"] = row["sram_write_bytes"].get(buf, 0.0)
        rows.append({k: flat[k] for k in CSV_COLUMNS})
    return rows


def write_csv(result: dict, path: Path) -> None:
    import csv

    with atomic_open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(csv_rows(result))


def format_table(result: dict, quiet: bool = False) -> str:
    """The per-layer table and totals, units in the headers."""
    head = (f"{'layer':<18} {'op':<9} {'MACs':>14} {'folds':>8} {'compute cyc':>12} {'stall cyc':>11} "
            f"{'total cyc':>12} {'util %':>7} {'DRAM rd B':>12} {'DRAM wr B':>11} {'SRAM rd B':>13} {'SRAM wr B':>12}")
    lines = []
    if not quiet:
        lines.append(head)
        lines.append("-" * len(head))
    for row in ([] if quiet else result["layers"]) + [dict(result["total"], op="")]:
        lines.append(
            f"{row['name'][:18]:<18} {row.get('op', ''):<9} {row['macs']:>14,} {row['folds']:>8,} "
            f"{row['compute_cycles']:>12,} {row['stall_cycles']:>11,} {row['total_cycles']:>12,} "
            f"{100 * row['utilization']:>7.1f} {row['dram_read_bytes']:>12,.0f} {row['dram_write_bytes']:>11,.0f} "
            f"{sum(row['sram_read_bytes'].values()):>13,.0f} {sum(row['sram_write_bytes'].values()):>12,.0f}"
        )
    t, m = result["total"], result["meta"]
    lines += [
        "",
        f"{m['network']} on a {m['array_rows']}x{m['array_cols']} {m['dataflow']} array at {m['clock_hz'] / 1e6:g} MHz "
        f"({m['convention']} convention{', stall-free' if m['stall_free'] else ''}, batch {m['batch']})",
        f"  latency            {t['latency_s'] * 1e3:,.4f} ms ({t['total_cycles']:,} cycles: "
        f"{t['compute_cycles']:,} compute + {t['stall_cycles']:,} stall)",
        f"  throughput         {t['inferences_per_s']:,.2f} inferences/s",
        f"  utilization        {100 * t['utilization']:.2f} % of MAC slots during compute cycles",
        f"  achieved / peak    {t['achieved_tops']:.4f} / {t['peak_tops']:.4f} TOPS (2 ops per MAC)",
        f"  DRAM               {t['dram_read_bytes']:,.0f} B read, {t['dram_write_bytes']:,.0f} B written",
        "  SRAM read B        " + ", ".join(f"{k} {v:,.0f}" for k, v in t["sram_read_bytes"].items()),
        "  SRAM write B       " + ", ".join(f"{k} {v:,.0f}" for k, v in t["sram_write_bytes"].items()),
        f"  PE-to-PE           {t['pe_forward_bits']:,.0f} bits forwarded, {t['pe_reg_write_bits']:,.0f} register bits written",
        f"  clock              {t['clock_bit_cycles']:,} flip-flop bit-cycles (hardware.clock_gating)",
    ]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    # No linear algebra here: one BLAS thread spares numpy's import the start of an OpenBLAS pool of one
    # thread per core (set before numpy's first import; a value the user set wins)
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    # Nor pydantic plugins, when a config needs pydantic to judge it (validation observers found among the
    # installed packages' entry points): looking for them reads every installed distribution's metadata
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    from accelsim.config.plain import load_config  # pydantic only for a config it must judge
    from accelsim.pipeline.stages import output_dir, run_stages

    path = _config_path(args.config)
    cfg = load_config(path, overrides=_overrides(args))
    if cfg.workload.topology is None:
        raise ConfigError(
            f"{path}: workload.topology is not set (the config names the model "
            f"{cfg.workload.model_or_bundled!r}); accelsim simulate needs a topology for now: give --topology "
            "NAME|CSV (zoo names: alexnet, vgg16, googlenet, resnet18, resnet50, mobilenet_v1, mobilenet_v2); "
            "'accelsim run' simulates ONNX models"
        )
    timing = run_stages(cfg, "timing")["timing"]
    result = timing.to_dict()
    result["meta"]["config"] = str(path)
    print(format_table(result, quiet=args.quiet))
    import json

    written = []
    if args.out != "-":
        out = output_dir(cfg, args.out)
        write_text(out / "simulate.json", json.dumps(result, indent=1))
        write_csv(result, out / "simulate.csv")
        written += [out / "simulate.json", out / "simulate.csv"]
    if args.json:
        p = Path(args.json)
        write_text(p, json.dumps(result, indent=1))
        written.append(p)
    if args.csv:
        write_csv(result, Path(args.csv))
        written.append(Path(args.csv))
    if written:
        print("\nwrote " + ", ".join(str(p) for p in written))
    sys.stdout.flush()
    return 0
