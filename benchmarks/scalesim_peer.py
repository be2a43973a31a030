"""Peer check: SCALE-Sim 3.0.0 and ``accelsim simulate --convention scalesim`` side by side.

Scenario: the same topology CSV, array size and dataflow go to both simulators. SCALE-Sim runs
in its own virtual environment (``.venv-scalesim/`` in the repo root, created on first use with
``scalesim==3.0.0``, ``numpy<2``, ``pandas<3``; 3.0.0 crashes with numpy 2), in its default
stall-free CALC bandwidth mode and without writing traces. accelsim runs as a subprocess of the
CLI. Printed: per-layer compute cycles of both and their difference, totals, both wall times,
the speed ratio and the peak resident memory of each process (``os.wait4`` rusage).

SCALE-Sim's per-layer numbers are saved to
``benchmarks/results/scalesim_<topology>_<R>x<C>_<dataflow>.json`` so later runs (``--reuse``)
and the README can cite them without the ~200 s runs.

Row matching: SCALE-Sim reports one row per CSV row, except that a layer whose name contains
``DP`` is expanded into ``Channels`` rows; accelsim carries it as one depthwise descriptor, so
those rows are summed (``extra["scalesim_expanded_layers"]`` of the descriptor says how many).

Usage::

    python benchmarks/scalesim_peer.py --topology /work/shared/topologies/scalesim/v3/topologies/conv_nets/Resnet18.csv \\
        --array 32x32 --dataflow all
    python benchmarks/scalesim_peer.py --topology ... --layers 3 --dataflow os      # quick
    python benchmarks/scalesim_peer.py --topology ... --reuse                        # no SCALE-Sim rerun
    python benchmarks/scalesim_peer.py --topology mobilenet_v1 --array 16x16         # a zoo network
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VENV = REPO / ".venv-scalesim"
RESULTS = REPO / "benchmarks" / "results"
SCALESIM_PINS = ("scalesim==3.0.0", "numpy<2", "pandas<3")
DATAFLOWS = ("os", "ws", "is")
DEFAULT_TOPOLOGY = Path("/work/shared/topologies/scalesim/v3/topologies/conv_nets/Resnet18.csv")

# Runs inside the SCALE-Sim venv: the API instead of `python -m scalesim.scale`, because the
# latter ignores its own `-s N` flag and always writes per-cycle traces (GBs for ResNet-18).
RUNNER = """
import sys
from scalesim.scale_sim import scalesim
cfg, topo, layout, out, form = sys.argv[1:6]
sim = scalesim(save_disk_space=True, verbose=False, config=cfg, topology=topo, layout=layout,
               input_type_gemm=(form == "gemm"))
sim.run_scale(top_path=out)
"""

CFG_TEMPLATE = """\
[general]
run_name = {run_name}

[architecture_presets]
ArrayHeight : {rows}
ArrayWidth : {cols}
IfmapSramSzkB : {ifmap_kb}
FilterSramSzkB : {filter_kb}
OfmapSramSzkB : {ofmap_kb}
IfmapOffset : 0
FilterOffset : 10000000
OfmapOffset : 20000000
Bandwidth : {bandwidth}
Dataflow : {dataflow}
MemoryBanks : 1
ReadRequestBuffer : 32
WriteRequestBuffer : 32

[layout]
IfmapCustomLayout : False
IfmapSRAMBankBandwidth : 10
IfmapSRAMBankNum : 10
IfmapSRAMBankPort : 2
FilterCustomLayout : False
FilterSRAMBankBandwidth : 10
FilterSRAMBankNum : 10
FilterSRAMBankPort : 2

[sparsity]
SparsitySupport : false
SparseRep : ellpack_block
OptimizedMapping : false
BlockSize : 8
RandomNumberGeneratorSeed : 40

[run_presets]
InterfaceBandwidth : CALC
UseRamulatorTrace : False
"""


def ensure_venv() -> Path:
    """Create ``.venv-scalesim`` with the pinned SCALE-Sim if missing; return its python."""
    python = VENV / "bin" / "python"
    probe = [str(python), "-c", "import scalesim.scale_sim, numpy; assert numpy.__version__ < '2'"]
    if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return python
    print(f"creating {VENV} with {' '.join(SCALESIM_PINS)} ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", *SCALESIM_PINS], check=True)
    return python


def write_config(path: Path, rows: int, cols: int, dataflow: str, sram_kb: int, bandwidth: int) -> None:
    """A complete SCALE-Sim 3.0.0 config (all five sections are required by its parser)."""
    path.write_text(CFG_TEMPLATE.format(run_name="peer", rows=rows, cols=cols, ifmap_kb=sram_kb,
                                        filter_kb=sram_kb, ofmap_kb=sram_kb, bandwidth=bandwidth,
                                        dataflow=dataflow))


def run_measured(cmd: list[str], log: Path, cwd: Path | None = None) -> tuple[int, float, float, float]:
    """Run *cmd*; return (exit code, wall s, CPU s (user + system), peak resident memory MB).

    CPU time is printed beside wall time because the shared 2-core machine is often loaded by
    other jobs, which stretches wall time but not CPU time.
    """
    with open(log, "wb") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=cwd)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    cpu = usage.ru_utime + usage.ru_stime
    return proc.returncode, wall, cpu, usage.ru_maxrss / 1024.0  # ru_maxrss is KB on Linux


def parse_compute_report(path: Path) -> list[dict]:
    """Rows of SCALE-Sim's COMPUTE_REPORT.csv as dicts of numbers (trailing comma tolerated)."""
    lines = [l for l in path.read_text().splitlines() if l.strip()]
    header = [h.strip() for h in lines[0].split(",") if h.strip()]
    rows = []
    for line in lines[1:]:
        values = [v.strip() for v in line.split(",") if v.strip()]
        row = {}
        for key, value in zip(header, values):
            number = float(value)
            row[key] = int(number) if number.is_integer() and "%" not in key else number
        rows.append(row)
    return rows


def truncated_topology(src: Path, n_layers: int, dst: Path) -> Path:
    """Header plus the first *n_layers* data rows of *src* (blank lines dropped)."""
    lines = [l for l in src.read_text(encoding="utf-8-sig").splitlines() if l.strip()]
    data = [l for l in lines[1:] if l.replace(",", "").strip()][:n_layers]
    dst.write_text("\n".join([lines[0], *data]) + "\n")
    return dst


def results_path(tag: str, rows: int, cols: int, dataflow: str, n_layers: int | None) -> Path:
    suffix = f"_first{n_layers}" if n_layers else ""
    return RESULTS / f"scalesim_{tag}_{rows}x{cols}_{dataflow}{suffix}.json"


def run_scalesim(python: Path, topo: Path, form: str, rows: int, cols: int, dataflow: str,
                 sram_kb: int, bandwidth: int, work: Path) -> dict:
    """One SCALE-Sim run; returns its per-row report, total, wall time and peak memory."""
    cfg, layout, out = work / f"scalesim_{dataflow}.cfg", work / "layout_empty.csv", work / f"out_{dataflow}"
    write_config(cfg, rows, cols, dataflow, sram_kb, bandwidth)
    layout.write_text("")
    cmd = [str(python), "-c", RUNNER, str(cfg), str(topo), str(layout), str(out), form]
    code, wall, cpu, peak = run_measured(cmd, work / f"scalesim_{dataflow}.log")
    if code != 0:
        tail = (work / f"scalesim_{dataflow}.log").read_text()[-2000:]
        raise SystemExit(f"SCALE-Sim failed (exit {code}):\n{tail}")
    rows_out = parse_compute_report(out / "peer" / "COMPUTE_REPORT.csv")
    return {
        "tool": "scalesim 3.0.0 (PyPI), CALC bandwidth mode, save_disk_space=True",
        "topology": str(topo), "form": form, "array": [rows, cols], "dataflow": dataflow,
        "sram_kb": {"ifmap": sram_kb, "filter": sram_kb, "ofmap": sram_kb}, "bandwidth_words_per_cycle": bandwidth,
        "wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "peak_rss_mb": round(peak, 1),
        "rows": rows_out,
        "total_cycles": sum(r["Total Cycles"] for r in rows_out),
        "total_cycles_incl_prefetch": sum(r["Total Cycles (incl. prefetch)"] for r in rows_out),
    }


def run_accelsim(topo: Path | str, form: str, rows: int, cols: int, dataflow: str, work: Path) -> dict:
    """``accelsim simulate ... --convention scalesim --json``; returns its JSON plus wall/peak.

    ``--stall-free`` matches SCALE-Sim's CALC mode (so total cycles are comparable too); ``-q -o -``
    keeps the CLI from printing its table or writing its output folder. accelsim detects the CSV
    form from the header itself (the CLI has no form flag), so a forced ``--form`` applies to
    SCALE-Sim and to the row matching only.
    """
    out = work / f"accelsim_{dataflow}.json"
    cmd = [sys.executable, "-m", "accelsim", "simulate", "--topology", str(topo), "--array", f"{rows}x{cols}",
           "--dataflow", dataflow, "--convention", "scalesim", "--stall-free", "--json", str(out),
           "-q", "-o", "-"]
    code, wall, cpu, peak = run_measured(cmd, work / f"accelsim_{dataflow}.log", cwd=REPO)
    log = (work / f"accelsim_{dataflow}.log").read_text()
    if code != 0 or not out.exists():
        return {"error": f"accelsim simulate failed (exit {code}): {log.strip()[-600:]}", "wall_s": wall,
                "cpu_s": cpu, "peak_rss_mb": peak}
    data = json.loads(out.read_text())
    data["wall_s"], data["cpu_s"], data["peak_rss_mb"] = wall, cpu, peak
    return data


def csv_plan(topo: Path, form: str) -> list[tuple[str, int, int]]:
    """(layer name, SCALE-Sim report rows, MACs) per descriptor of a topology CSV."""
    from accelsim.workloads.topology import read_topology

    return [(l.name, int(l.extra.get("scalesim_expanded_layers", 1)), l.macs)
            for l in read_topology(topo, form=form).layers]


def zoo_plan(name: str, dst: Path, n_layers: int | None) -> list[tuple[str, int, int]]:
    """Export zoo network *name* (its first *n_layers* array layers) as a SCALE-Sim CSV at *dst*."""
    from dataclasses import replace

    from accelsim.workloads.topology import write_topology
    from accelsim.workloads.load import load_topology

    net = load_topology(name)
    layers = [l for l in net.layers if l.on_array][:n_layers]
    mapping = write_topology(replace(net, layers=tuple(layers)), dst)
    macs = {l.name: l.macs for l in layers}
    return [(layer, rows, macs[layer]) for layer, rows in mapping]


def side_by_side(plan: list[tuple[str, int, int]], ss: dict, acc: dict) -> list[dict]:
    """Match SCALE-Sim rows to accelsim layers (summing expanded rows); one dict per layer."""
    acc_layers = {l["name"]: l for l in acc.get("layers", [])}
    table, i = [], 0
    for name, n_rows, macs in plan:
        group = ss["rows"][i:i + n_rows]
        i += n_rows
        entry = {"name": name, "macs": macs, "scalesim_rows": n_rows,
                 "scalesim_cycles": sum(r["Total Cycles"] for r in group),
                 "scalesim_cycles_incl_prefetch": sum(r["Total Cycles (incl. prefetch)"] for r in group)}
        a = acc_layers.get(name)
        if a is not None:
            entry["accelsim_cycles"] = a.get("compute_cycles")
            entry["accelsim_total_cycles"] = a.get("total_cycles")
            entry["diff"] = entry["accelsim_cycles"] - entry["scalesim_cycles"]
        table.append(entry)
    assert i == len(ss["rows"]), f"matched {i} SCALE-Sim rows of {len(ss['rows'])}"
    return table


def print_table(dataflow: str, rows: int, cols: int, table: list[dict], ss: dict, acc: dict) -> None:
    print(f"\n== dataflow {dataflow}, array {rows}x{cols} ==")
    print(f"{'layer':<16}{'MACs':>14}{'SCALE-Sim cyc':>16}{'accelsim cyc':>16}{'diff':>10}")
    for e in table:
        a = f"{e['accelsim_cycles']:,}" if e.get("accelsim_cycles") is not None else "-"
        d = f"{e['diff']:+,}" if "diff" in e else "-"
        print(f"{e['name']:<16}{e['macs']:>14,}{e['scalesim_cycles']:>16,}{a:>16}{d:>10}")
    ss_total = sum(e["scalesim_cycles"] for e in table)
    acc_total = sum(e.get("accelsim_cycles") or 0 for e in table) if "error" not in acc else None
    print(f"{'total':<16}{sum(e['macs'] for e in table):>14,}{ss_total:>16,}"
          f"{(f'{acc_total:,}' if acc_total is not None else '-'):>16}"
          f"{(f'{acc_total - ss_total:+,}' if acc_total is not None else '-'):>10}")
    ss_wall = ss["wall_s"]
    print(f"SCALE-Sim: {ss_wall:.1f} s wall, {ss.get('cpu_s', float('nan')):.1f} s CPU, {ss['peak_rss_mb']:.0f} MB peak"
          + ("  (reused from " + ss["reused_from"] + ")" if ss.get("reused_from") else ""))
    if "error" in acc:
        print(f"accelsim:  {acc['error']}")
    else:
        print(f"accelsim:  {acc['wall_s']:.2f} s wall, {acc['cpu_s']:.2f} s CPU, {acc['peak_rss_mb']:.0f} MB peak; "
              f"SCALE-Sim/accelsim = {ss_wall / acc['wall_s']:.1f}x wall, "
              f"{ss.get('cpu_s', float('nan')) / acc['cpu_s']:.1f}x CPU")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--topology", type=Path, default=DEFAULT_TOPOLOGY,
                   help="SCALE-Sim topology CSV, or a zoo name (exported to a CSV for SCALE-Sim)")
    p.add_argument("--form", default="auto", choices=("auto", "conv", "gemm"), help="CSV form")
    p.add_argument("--array", default="32x32", help="RxC, e.g. 32x32")
    p.add_argument("--dataflow", default="all", choices=(*DATAFLOWS, "all"))
    p.add_argument("--layers", type=int, default=None, help="only the first N rows (quick run)")
    p.add_argument("--sram-kb", type=int, default=64, help="each SCALE-Sim SRAM, KB (CALC mode: no stalls)")
    p.add_argument("--bandwidth", type=int, default=10, help="SCALE-Sim Bandwidth, words/cycle")
    p.add_argument("--reuse", action="store_true", help="use saved SCALE-Sim results when present")
    p.add_argument("--no-accelsim", action="store_true", help="run only SCALE-Sim (record its numbers)")
    p.add_argument("--workdir", type=Path, default=None, help="keep configs, logs and reports here")
    args = p.parse_args(argv)
    rows, cols = (int(x) for x in args.array.lower().split("x"))
    dataflows = DATAFLOWS if args.dataflow == "all" else (args.dataflow,)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="scalesim_peer_"))
    work.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(REPO))
    from accelsim.workloads.load import ZOO_NAMES

    spec = str(args.topology)
    if not args.topology.is_file() and spec in ZOO_NAMES:
        # a zoo network: SCALE-Sim gets an exported CSV, accelsim the zoo name itself
        topo = work / f"zoo_{spec}.csv"
        plan = zoo_plan(spec, topo, args.layers)
        form, acc_topology, tag = "conv", spec, f"zoo_{spec}"
    else:
        topo = args.topology.resolve()
        if args.layers:
            topo = truncated_topology(topo, args.layers, work / f"{args.topology.stem}.csv")
        form = args.form
        if form == "auto":
            from accelsim.workloads.topology import read_topology
            form = read_topology(topo).meta["form"]
        plan, acc_topology, tag = csv_plan(topo, form), str(topo), args.topology.stem.lower()
    RESULTS.mkdir(parents=True, exist_ok=True)
    python = None
    for df in dataflows:
        saved = results_path(tag, rows, cols, df, args.layers)
        if args.reuse and saved.exists():
            ss = json.loads(saved.read_text())
            ss["reused_from"] = str(saved.relative_to(REPO))
        else:
            python = python or ensure_venv()
            print(f"running SCALE-Sim {df} {rows}x{cols} on {topo.name} ...", flush=True)
            ss = run_scalesim(python, topo, form, rows, cols, df, args.sram_kb, args.bandwidth, work)
            ss["topology"] = str(args.topology) + (f" (first {args.layers} rows)" if args.layers else "")
            saved.write_text(json.dumps(ss, indent=1) + "\n")
            print(f"saved {saved.relative_to(REPO)}")
        acc = ({"error": "skipped (--no-accelsim)"} if args.no_accelsim
               else run_accelsim(acc_topology, args.form, rows, cols, df, work))
        table = side_by_side(plan, ss, acc)
        print_table(df, rows, cols, table, ss, acc)
    print(f"\nwork files: {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
