"""Soak: SIGKILL ``accelsim sweep`` at random moments, resume each time, check nothing is lost.

1. Reference: the sweep run once, uninterrupted, into ``<work>/reference``.
2. ``--kills`` times: start ``python -m accelsim sweep`` on ``<work>/killed`` (a resume of
   whatever the earlier attempts stored), wait a random time (uniform in ``--min-delay`` ..
   ``--max-delay`` s), SIGKILL the sweep process only (never its workers), then check that
   - every worker process it had ends within 10 s (they watch their parent: accelsim.lifeline),
   - the store is readable (a torn last line is dropped, never an error),
   - the cache holds no unreadable value;
3. a final resume without a kill; then the killed store must hold exactly the reference's
   points, each result bit-identical (canonical JSON equal) to the reference's.

    python benchmarks/sweep_sigkill_soak.py --kills 50            (from the repo root)
    python benchmarks/sweep_sigkill_soak.py --kills 50 --keep-reference --warm-cache --killed warm

Prints one line per kill and a summary; exit status 1 when any check failed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from accelsim.sweep.store import ResultStore, canonical_json  # noqa: E402
from tests.procs import descendants, wait_gone  # noqa: E402

SHIPPED = ROOT / "accelsim" / "configs" / "sweeps" / "bitwidths.yaml"


def sweep_cmd(sweep: Path, results: Path, workers: int) -> list[str]:
    return [sys.executable, "-m", "accelsim", "sweep", str(sweep), "--results", str(results),
            "--workers", str(workers), "--no-progress"]


def results_of(folder: Path) -> dict[str, str]:
    """key -> canonical JSON of the result, for the points stored ok."""
    return {k: canonical_json(r.result) for k, r in ResultStore(folder).latest().items() if r.status == "ok"}


def check_cache(folder: Path) -> list[str]:
    """Cache values that do not parse (a torn write would show here)."""
    bad = []
    for p in (folder / "cache" / "json").glob("*.json"):
        try:
            json.loads(p.read_text())
        except (OSError, ValueError):
            bad.append(str(p))
    for d in (folder / "cache" / "quantized").glob("[!.]*"):
        from accelsim.layers import read_network
        try:
            read_network(d)
        except Exception as exc:  # noqa: BLE001 - any failure to read is a finding
            bad.append(f"{d}: {exc}")
    return bad


def wait_unlocked(folder: Path) -> None:
    """Wait while a sweep holds *folder*'s store lock (the reference may still be running)."""
    import fcntl

    while True:
        fd = os.open(folder / "store.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except OSError:
            time.sleep(5)
        finally:
            os.close(fd)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sweep", type=Path, default=SHIPPED)
    ap.add_argument("--kills", type=int, default=50)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--min-delay", type=float, default=1.0, help="s")
    ap.add_argument("--max-delay", type=float, default=25.0, help="s")
    ap.add_argument("--seed", type=int, default=12)
    ap.add_argument("--warm-cache", action="store_true",
                    help="start the killed store with a copy of the reference's cache/ (calibration and "
                         "accuracy done), so points finish every few seconds and kills land while records "
                         "are stored; the default cold start kills mostly during calibration")
    ap.add_argument("--killed", default="killed", help="name of the killed store under --work")
    ap.add_argument("--work", type=Path, default=Path("/tmp/accelsim_sigkill_soak"))
    ap.add_argument("--keep-reference", action="store_true",
                    help="reuse <work>/reference (waiting for a sweep still writing it to finish) instead of "
                         "running it first; lets the reference and the kills run side by side")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    ref, killed = args.work / "reference", args.work / args.killed
    args.work.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    if not (args.keep_reference and ref.is_dir()):
        shutil.rmtree(ref, ignore_errors=True)
        subprocess.run(sweep_cmd(args.sweep, ref, args.workers), env=env, check=True,
                       stdout=subprocess.DEVNULL)
        print(f"reference: {len(results_of(ref))} points in {time.time() - t0:.0f} s", flush=True)
    shutil.rmtree(killed, ignore_errors=True)
    if args.warm_cache:
        wait_unlocked(ref)
        from accelsim.sweep import load_sweep

        ResultStore(killed).open(load_sweep(args.sweep).name).close()  # an empty store, then its cache
        shutil.copytree(ref / "cache", killed / "cache", ignore=shutil.ignore_patterns("locks"))
    problems: list[str] = []
    leftovers_total = 0
    finished_before_kill = 0
    t1 = time.time()
    for k in range(args.kills):
        delay = rng.uniform(args.min_delay, args.max_delay)
        proc = subprocess.Popen(sweep_cmd(args.sweep, killed, args.workers), env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + delay
        kids: set[int] = set()
        while time.monotonic() < deadline and proc.poll() is None:
            kids |= descendants(proc.pid)
            time.sleep(0.05)
        if proc.poll() is None:
            kids |= descendants(proc.pid)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            proc.stderr.close()
            left = wait_gone(kids, 10.0)
        else:
            finished_before_kill += 1
            err = proc.stderr.read().decode()
            proc.stderr.close()
            if proc.returncode != 0:
                problems.append(f"kill {k}: sweep exited {proc.returncode}: {err.strip()[-300:]}")
            left = wait_gone(kids, 10.0)
        leftovers_total += len(left)
        try:
            stored = len(ResultStore(killed).latest()) if (killed / "store.json").exists() else 0
        except Exception as exc:  # noqa: BLE001
            problems.append(f"kill {k}: store unreadable: {exc}")
            stored = -1
        bad = check_cache(killed) if killed.is_dir() else []
        problems += [f"kill {k}: cache: {b}" for b in bad]
        if left:
            problems.append(f"kill {k}: {len(left)} worker processes left: {sorted(left)}")
        print(f"kill {k + 1:2d}/{args.kills} after {delay:5.1f} s: {len(kids)} children, "
              f"{len(left)} left over, {stored} points stored", flush=True)
    final = subprocess.run(sweep_cmd(args.sweep, killed, args.workers), env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if final.returncode != 0:
        problems.append(f"final resume exited {final.returncode}: {final.stderr.strip()[-300:]}")
    wait_unlocked(ref)
    reference = results_of(ref)
    got = results_of(killed)
    lines = sum(1 for _ in open(killed / "results.jsonl", encoding="utf-8"))
    if set(got) != set(reference):
        problems.append(f"points differ: {len(got)} stored vs {len(reference)} in the reference")
    differing = [k for k in reference if k in got and got[k] != reference[k]]
    if differing:
        problems.append(f"{len(differing)} points not bit-identical to the reference")
    print(f"\n{args.kills} SIGKILLs ({finished_before_kill} attempts finished before their kill) in "
          f"{time.time() - t1:.0f} s; final store: {len(got)} points ({lines} lines), reference "
          f"{len(reference)}; identical: {len(reference) - len(differing) if set(got) == set(reference) else 'n/a'}; "
          f"worker processes left over: {leftovers_total}")
    for p in problems:
        print("PROBLEM:", p)
    print("OK" if not problems else f"FAILED ({len(problems)} problems)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
