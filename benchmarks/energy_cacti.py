"""Run CACTI over the SRAM grid the energy tables price, and record inputs, version and outputs.

CACTI (HP Labs' cache and memory model; here version 7.0 as shipped in C source inside the
``hwcomponents-cacti`` 1.0.40 wheel, the CACTI plug-in of Accelergy/hwcomponents) runs at
TABLE-BUILD time only: never at accelsim run time, and never as a dependency of the package. This
script writes one record per technology node, ``benchmarks/results/cacti/sram_<node>nm.json``,
holding the CACTI version, the exact configuration template every run starts from, and for every
run its varying inputs and its outputs (or CACTI's error when it finds no organisation).
``benchmarks/energy_make_tables.py`` turns those records into the shipped tables' ``sram:`` blocks.

Grid (every combination, per node and cell type)::

    capacity_kib  1 4 16 64 256 1024 4096 32768
    width_bits    32 128 512 2048          (the port: bits per access)
    banks         1 2 8                    (UCA banks, one active per access)
    ports         1 2                      (read/write ports)
    cell          itrs-hp itrs-lstp itrs-lop  (data-array cell AND peripheral device type)
    node          45 65 28 nm             (CACTI reads 65/45/32/22 nm technology files and
                                           interpolates its device parameters for 28 nm)

and, for ``ports = 1``, a second run with CACTI's array, word-line, column and interconnect power
gating enabled, whose standby leakage is the sleeping buffer's and whose sleep-transistor energies
are the wake-up cost (see ``docs/energy.md``).

Fixed inputs (the template, :data:`TEMPLATE`) follow the Accelergy/hwcomponents CACTI plug-in's
defaults (``default_cfg.cfg`` of hwcomponents-cacti 1.0.40): 300 K, a leakage-weighted design
objective within 20 % of the best delay and 10 % of the best dynamic energy, ``ram`` (scratchpad,
no tags), no ECC, semi-global wires. Build CACTI first (C++ sources, ``make``)::

    python -m venv /work/venvs/cacti
    /work/venvs/cacti/bin/pip download --no-deps --ignore-requires-python -d /tmp/w hwcomponents-cacti==1.0.40
    unzip /tmp/w/hwcomponents_cacti-1.0.40-py3-none-any.whl 'hwcomponents_cacti/cacti/*' -d /tmp/w
    cd /tmp/w/hwcomponents_cacti/cacti && mkdir -p obj_opt && make -f cacti.mk TAG=opt OPT="-O2 -DNTHREADS=2"

then, from the repo root (864 runs per node, 0.1-1.5 s each; resumable: finished runs are kept)::

    python benchmarks/energy_cacti.py --cacti /tmp/w/hwcomponents_cacti/cacti/cacti [--nodes 45 65 28]; then --checks-only --nodes 40 [-j 2]

With ``--local`` it runs instead the small SRAMs that sit inside a PE (the tables' ``local_sram:``
grid, ``hardware.pe.local_stores`` of kind ``sram``): capacity 64 ... 4096 bytes
(:data:`LOCAL_CAPACITIES_BYTES`) x port width 8, 16, 32, 64 bits x the three cell types, one bank,
one port, no power gating, recorded in ``local_sram_<node>nm.json`` (84 runs per node, ~0.1 s
each), plus the shipped chip configs' PE stores as off-grid checks (:data:`LOCAL_CHECKS`)::

    python benchmarks/energy_cacti.py --cacti ... --local --nodes 65 45 28 40
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

OUT_DIR = Path(__file__).resolve().parent / "results" / "cacti"

CAPACITIES_KIB = (1, 4, 16, 64, 256, 1024, 4096, 32768)
WIDTHS_BITS = (32, 128, 512, 2048)
BANKS = (1, 2, 8)
PORTS = (1, 2)
CELLS = ("itrs-hp", "itrs-lstp", "itrs-lop")
NODES_NM = (45, 65, 28)
TEMPERATURE_K = 300

CACTI_VERSION = "CACTI 7.0 (version_cacti.h: 7.0 '3DD Prerelease', Aug 2012) from hwcomponents-cacti 1.0.40"

TEMPLATE = """\
-Array Power Gating - "{gating}"
-WL Power Gating - "{gating}"
-CL Power Gating - "{gating}"
-Bitline floating - "false"
-Interconnect Power Gating - "{gating}"
-Power Gating Performance Loss 0.01
-exclusive read port 0
-exclusive write port 0
-single ended read ports 0
-page size (bits) 0
-burst length 8
-internal prefetch width 8
-Data array cell type - "{cell}"
-Data array peripheral type - "{cell}"
-Tag array cell type - "{cell}"
-Tag array peripheral type - "{cell}"
-operating temperature (K) {temperature_k}
-access mode (normal, sequential, fast) - "fast"
-design objective (weight delay, dynamic power, leakage power, cycle time, area) 0:0:1000000:0:0
-deviate (delay, dynamic power, leakage power, cycle time, area) 20:10:100000:100:100
-NUCAdesign objective (weight delay, dynamic power, leakage power, cycle time, area) 100:100:0:0:100
-NUCAdeviate (delay, dynamic power, leakage power, cycle time, area) 10:10000:10000:10000:10000
-Optimize ED or ED^2 (ED, ED^2, NONE): "ED^2"
-Cache model (NUCA, UCA)  - "UCA"
-NUCA bank count 0
-Wire signaling (fullswing, lowswing, default) - "Global_30"
-Wire inside mat - "semi-global"
-Wire outside mat - "semi-global"
-Interconnect projection - "normal"
-Core count 1
-Add ECC - "false"
-Print level (DETAILED, CONCISE) - "DETAILED"
-Print input parameters - "true"
-Force cache config - "false"
-Ndwl 1
-Ndbl 1
-Nspd 0
-Ndcm 1
-Ndsam1 0
-Ndsam2 0
-dram_type "DDR3"
-io state "WRITE"
-addr_timing 1.0
-mem_density 4 Gb
-bus_freq 800 MHz
-duty_cycle 1.0
-activity_dq 1.0
-activity_ca 0.5
-num_dq 72
-num_dqs 18
-num_ca 25
-num_clk  2
-num_mem_dq 2
-mem_data_width 8
-rtt_value 10000
-ron_value 34
-tflight_value
-num_bobs 1
-capacity 80
-num_channels_per_bob 1
-first metric "Cost"
-second metric "Bandwidth"
-third metric "Energy"
-DIMM model "ALL"
-mirror_in_bob "F"
-size (bytes) {size_bytes}
-read-write port  {ports}
-block size (bytes) {block_bytes}
-technology (u) {technology_um}
-output/input bus width  {width_bits}
-UCA bank {banks}
-cache type "ram"
-tag size (b) 0
-associativity 1
"""
"""The whole CACTI input file; fields in braces vary per run (recorded with each run). The
``-dram_type`` ... ``-mirror_in_bob`` lines configure CACTI-IO (off-chip interface) and do not
enter the SRAM outputs, but CACTI 7 stops with a floating-point exception without them."""

_LOG_FIELDS = {
    "access_time_ns": r"^\s*Access time \(ns\):\s*(\S+)",
    "cycle_time_ns": r"^\s*Cycle time \(ns\):\s*(\S+)",
    "read_nj": r"^\s*Total dynamic read energy per access \(nJ\):\s*(\S+)",
    "write_nj": r"^\s*Total dynamic write energy per access \(nJ\):\s*(\S+)",
    "leakage_per_bank_mw": r"^\s*Total leakage power of a bank \(mW\):\s*(\S+)",
    "gate_leakage_per_bank_mw": r"^\s*Total gate leakage power of a bank \(mW\):\s*(\S+)",
    "area_mm2": r"^\s*Data array: Area \(mm2\):\s*(\S+)",
    "subarray_sleep_tx_nj": r"Sub-array Tx energy \(nJ\) -\s*(\S+)",
    "wl_sleep_tx_nj": r"WL Tx energy \(nJ\) -\s*(\S+)",
    "bl_floating_tx_nj": r"BL floating Tx energy \(nJ\) -\s*(\S+)",
}


def run_inputs(node_nm: int, cell: str, capacity_kib: float, width_bits: int, banks: int, ports: int,
               gating: bool) -> dict:
    """The varying inputs of one run (the template's fields)."""
    return {
        "gating": "true" if gating else "false", "cell": cell, "temperature_k": TEMPERATURE_K,
        "size_bytes": int(round(capacity_kib * 1024)), "ports": ports, "block_bytes": max(1, width_bits // 8),
        "technology_um": node_nm / 1000.0, "width_bits": width_bits, "banks": banks,
    }


def parse_log(text: str) -> dict:
    """Outputs of one CACTI run from its DETAILED log; ``{}`` if CACTI found no organisation."""
    out = {}
    for key, pattern in _LOG_FIELDS.items():
        m = re.search(pattern, text, re.MULTILINE)
        if m:
            out[key] = float(m.group(1))
    needed = ("access_time_ns", "cycle_time_ns", "read_nj", "write_nj", "leakage_per_bank_mw")
    return out if all(k in out for k in needed) else {}


def run_one(cacti: Path, inputs: dict) -> dict:
    """Run CACTI once on the template filled with *inputs*; returns outputs or an ``error``."""
    cfg = TEMPLATE.format(**inputs)
    with tempfile.TemporaryDirectory(prefix="cacti_") as tmp:
        path = Path(tmp) / "in.cfg"
        path.write_text(cfg)
        proc = subprocess.run([str(cacti), "-infile", str(path)], cwd=cacti.parent, capture_output=True,
                              text=True, timeout=600)
    out = parse_log(proc.stdout)
    if out:
        return {"outputs": out}
    tail = [ln.strip() for ln in (proc.stdout + proc.stderr).splitlines() if ln.strip()][-2:]
    return {"error": f"exit {proc.returncode}: " + " | ".join(tail)}


def grid(node_nm: int):
    """Every run of one node, as ``(key, inputs)``."""
    for cell, cap, width, banks, ports in itertools.product(CELLS, CAPACITIES_KIB, WIDTHS_BITS, BANKS, PORTS):
        for gating in ((False, True) if ports == 1 else (False,)):
            key = f"{cell}/{cap}KiB/{width}b/{banks}banks/{ports}ports/{'gated' if gating else 'ungated'}"
            yield key, run_inputs(node_nm, cell, cap, width, banks, ports, gating)


CHECKS = {
    # (cell, capacity KiB, width bits, banks, ports): off the grid, to measure interpolation error
    45: (("itrs-lstp", 64, 256, 2, 1), ("itrs-lop", 64, 256, 2, 1), ("itrs-hp", 64, 256, 2, 1),
         ("itrs-lstp", 36, 192, 2, 1), ("itrs-lstp", 24576, 2048, 8, 1), ("itrs-lop", 100, 96, 1, 2),
         ("itrs-hp", 3, 48, 1, 1), ("itrs-lop", 512, 1024, 2, 1)),
    65: (("itrs-lstp", 36, 192, 2, 1), ("itrs-lstp", 36, 224, 2, 1)),   # Eyeriss v1's buffers
    40: (("itrs-lstp", 64, 256, 2, 1), ("itrs-lstp", 32, 256, 2, 1),    # Envision's buffers, and the
         ("itrs-lop", 64, 256, 2, 1), ("itrs-hp", 64, 256, 2, 1)),      # 40 nm table's derivation
    28: (("itrs-hp", 24576, 2048, 8, 1), ("itrs-hp", 256, 2048, 2, 1), ("itrs-hp", 4096, 2048, 8, 1)),  # TPU v1
}
"""Off-grid runs (the default run's and the chip configs' buffers among them) that tests/energy
hold the tables' interpolation against; at 40 nm, where the table is derived from 45 and 28 nm,
they measure that derivation."""


def checks(node_nm: int):
    """The off-grid check runs of one node, as ``(key, inputs)``."""
    for cell, cap, width, banks, ports in CHECKS.get(node_nm, ()):
        key = f"check/{cell}/{cap}KiB/{width}b/{banks}banks/{ports}ports/ungated"
        yield key, run_inputs(node_nm, cell, cap, width, banks, ports, False)


LOCAL_CAPACITIES_BYTES = (64, 128, 256, 512, 1024, 2048, 4096)
LOCAL_WIDTHS_BITS = (8, 16, 32, 64)
LOCAL_NODES_NM = (65, 45, 28)
LOCAL_CHECKS = {
    # (cell, bytes, width bits): off the grid; Eyeriss v1's 224 x 16-bit filter scratchpad (JSSC 2017)
    65: (("itrs-lstp", 448, 16), ("itrs-lop", 448, 16), ("itrs-hp", 448, 16)),
    40: (("itrs-lstp", 448, 16),),
}


def local_grid(node_nm: int):
    """Every PE-store run of one node, as ``(key, inputs)`` (see ``--local``)."""
    for cell, size, width in itertools.product(CELLS, LOCAL_CAPACITIES_BYTES, LOCAL_WIDTHS_BITS):
        yield f"{cell}/{size}B/{width}b", run_inputs(node_nm, cell, size / 1024, width, 1, 1, False)


def local_checks(node_nm: int):
    """The off-grid PE-store check runs of one node, as ``(key, inputs)``."""
    for cell, size, width in LOCAL_CHECKS.get(node_nm, ()):
        yield f"check/{cell}/{size}B/{width}b", run_inputs(node_nm, cell, size / 1024, width, 1, 1, False)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cacti", required=True, type=Path, help="the built CACTI executable")
    ap.add_argument("--nodes", type=int, nargs="+", default=list(NODES_NM), help="nodes to run, nm")
    ap.add_argument("-j", "--jobs", type=int, default=2, help="CACTI processes at once")
    ap.add_argument("--checks-only", action="store_true", help="run only the off-grid check runs")
    ap.add_argument("--local", action="store_true", help="run the PE-store grid (local_sram_<node>nm.json)")
    args = ap.parse_args(argv)
    cacti = args.cacti.resolve()
    if not cacti.is_file():
        print(f"energy_cacti: --cacti {cacti}: no such executable", file=sys.stderr)
        return 2
    digest = hashlib.sha256(cacti.read_bytes()).hexdigest()[:16]
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    for node in args.nodes:
        path = OUT_DIR / f"{'local_' if args.local else ''}sram_{node}nm.json"
        record = json.loads(path.read_text()) if path.exists() else {}
        if record.get("template") != TEMPLATE:
            record = {}
        runs = record.get("runs", {})
        all_grid = (dict(local_grid(node)) if node in LOCAL_NODES_NM else {}) if args.local else dict(grid(node))
        all_checks = dict(local_checks(node)) if args.local else dict(checks(node))
        wanted = all_grid | all_checks
        runs = {k: v for k, v in runs.items() if k in wanted}
        if args.checks_only:
            wanted = all_checks
        todo = [(k, i) for k, i in wanted.items() if k not in runs]
        print(f"{node} nm: {len(runs)} runs recorded, {len(todo)} to run", flush=True)
        done = 0
        with ThreadPoolExecutor(args.jobs) as pool:
            for (key, inputs), result in zip(todo, pool.map(lambda ki: run_one(cacti, ki[1]), todo)):
                runs[key] = {"inputs": inputs, **result}
                done += 1
                if done % 200 == 0 or done == len(todo):
                    print(f"  {done}/{len(todo)}", flush=True)
                    _save(path, node, digest, runs, args.local)
        _save(path, node, digest, runs, args.local)
    return 0


def _save(path: Path, node: int, digest: str, runs: dict, local: bool = False) -> None:
    what = "PE-store (local_sram) SRAM runs" if local else "SRAM runs"
    record = {
        "what": f"CACTI {what} at {node} nm for accelsim's energy tables (benchmarks/energy_cacti.py"
                + (" --local)" if local else ")"),
        "cacti_version": CACTI_VERSION,
        "cacti_build": f"g++ -O2 -DNTHREADS=2 (make -f cacti.mk TAG=opt); executable sha256 {digest}...",
        "temperature_k": TEMPERATURE_K,
        "template": TEMPLATE,
        "runs": dict(sorted(runs.items())),
    }
    runs_text = ",\n".join(f"{json.dumps(k)}: {json.dumps(v, separators=(',', ':'))}"
                           for k, v in record.pop("runs").items())
    head = json.dumps(record, indent=1)[:-2]
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(head + ',\n"runs": {\n' + runs_text + "\n}}\n")
    os.replace(tmp, path)


if __name__ == "__main__":
    sys.exit(main())
