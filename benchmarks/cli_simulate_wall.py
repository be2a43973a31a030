"""Wall time of the installed ``accelsim simulate`` console script: ResNet-18 on a 32x32 array.

Run: ``python benchmarks/cli_simulate_wall.py [--runs N]``. Runs, in fresh processes and
interleaved so that load changes hit every case alike, N times each:

- ``accelsim simulate --topology resnet18 --array 32x32 -o - -q`` (the shipped ``edge_32x32``
  config: accelsim convention, SimPy model with stalls), through the console script pip generated
  (the one beside ``sys.executable``, not a pyenv shim) and through ``python -m accelsim``;
- the same on SCALE-Sim's ResNet-18 CSV (vendored under ``tests/data``), ``--convention scalesim
  --stall-free`` (SCALE-Sim's CALC mode, where the simulation itself is ~15 ms);
- the floors: ``python -c pass`` and ``python -c "import numpy, yaml, simpy"`` (the libraries a
  simulate of a plainly valid config needs: pydantic is imported only to judge a config that is
  not, :mod:`accelsim.config.plain`).

Prints the median and minimum wall time and CPU time (user + system) of each, the 1-minute load
average before and after, and which of numba, scipy, matplotlib, onnx and pydantic the command
imported (none should be). The bar (issue 13): ≤ 0.5 s wall for the first line.

Bytecode: where ``PYTHONDONTWRITEBYTECODE`` is set (as in this project's sandbox), every run would
recompile accelsim's sources, which no installed copy does; the benchmark points
``PYTHONPYCACHEPREFIX`` at a temporary folder instead and warms it with one untimed run per case.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESNET18_CSV = ROOT / "tests" / "data" / "shared" / "topologies" / "scalesim" / "v3" / "topologies" / "conv_nets" / "Resnet18.csv"
SIMULATE = ["simulate", "--topology", "resnet18", "--array", "32x32", "-o", "-", "-q"]
CALC = ["simulate", "--topology", str(RESNET18_CSV), "--array", "32x32", "--convention", "scalesim", "--stall-free",
        "-o", "-", "-q"]
HEAVY = ("numba", "scipy", "matplotlib", "onnx", "pydantic")


def console_script() -> list[str]:
    """The ``accelsim`` script pip wrote beside this interpreter (else the first on PATH)."""
    beside = Path(sys.executable).parent / "accelsim"
    found = str(beside) if beside.is_file() else shutil.which("accelsim")
    if not found:
        sys.exit("no accelsim console script: pip install -e . first")
    return [found]


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one run of *cmd*."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, check=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def heavy_imports(env: dict[str, str]) -> list[str]:
    """Which of :data:`HEAVY` ``accelsim simulate`` leaves in ``sys.modules``."""
    code = (f"import sys; from accelsim.cli import main; main({SIMULATE!r}); "
            f"print('heavy:' + ','.join(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return [m for m in out.stdout.splitlines()[-1].removeprefix("heavy:").split(",") if m]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=11, help="timed runs per case (default 11)")
    args = parser.parse_args()

    env = dict(os.environ)
    if env.pop("PYTHONDONTWRITEBYTECODE", None) and "PYTHONPYCACHEPREFIX" not in env:
        env["PYTHONPYCACHEPREFIX"] = tempfile.mkdtemp(prefix="accelsim-pyc-")
    script = console_script()
    py = [sys.executable]
    cases = {
        "accelsim simulate resnet18 32x32 (console script)": script + SIMULATE,
        "python -m accelsim simulate resnet18 32x32": py + ["-m", "accelsim"] + SIMULATE,
        "accelsim simulate Resnet18.csv scalesim --stall-free": script + CALC,
        "floor: python -c pass": py + ["-c", "pass"],
        "floor: import numpy, yaml, simpy": py + ["-c", "import numpy, yaml, simpy"],
    }
    with tempfile.TemporaryDirectory() as cwd:
        os.chdir(cwd)
        for cmd in cases.values():  # warm the bytecode and file caches
            subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, check=True)
        load_before = os.getloadavg()[0]
        runs: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}
        for _ in range(args.runs):
            for name, cmd in cases.items():
                runs[name].append(timed(cmd, env))
        load_after = os.getloadavg()[0]
        heavy = heavy_imports(env)

    print(f"{args.runs} runs each, interleaved; load average (1 min) {load_before:.2f} before, {load_after:.2f} after; "
          f"{os.cpu_count()} CPUs")
    print(f"{'case':<55} {'wall median':>12} {'wall min':>9} {'CPU median':>11} {'CPU min':>8}")
    for name, rows in runs.items():
        walls, cpus = [w for w, _ in rows], [c for _, c in rows]
        print(f"{name:<55} {statistics.median(walls):>10.3f} s {min(walls):>7.3f} s "
              f"{statistics.median(cpus):>9.3f} s {min(cpus):>6.3f} s")
    print(f"heavy modules imported by accelsim simulate: {', '.join(heavy) or 'none'} (of {', '.join(HEAVY)})")
    wall = statistics.median(w for w, _ in runs[next(iter(cases))])
    print(f"bar: median wall {wall:.3f} s {'<=' if wall <= 0.5 else '>'} 0.5 s")


if __name__ == "__main__":
    main()
