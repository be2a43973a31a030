"""The shipped bit-width sweep end to end: wall time, kill-and-resume, report.

1. ``accelsim sweep accelsim/configs/sweeps/bitwidths.yaml --workers 2`` into a fresh folder,
   timed (the bar: 48 points in under 5 minutes on 2 cores);
2. the same sweep into another fresh folder, SIGKILLed once about half the points are stored,
   then rerun: the store must end with exactly 48 distinct points, those stored before the kill
   unchanged, and the numbers equal to run 1 (same config, same numbers);
3. ``accelsim report`` on the store: every figure present in the HTML page.

    python benchmarks/sweep_bitwidths.py [--skip-kill] [--point-fn MODULE:FUNC] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import resource
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SWEEP = REPO / "accelsim" / "configs" / "sweeps" / "bitwidths.yaml"


def _records(path: Path) -> list[dict]:
    if not path.exists():
        return []
    out = []
    for line in path.read_bytes().split(b"\n"):
        try:
            out.append(json.loads(line))
        except ValueError:
            pass
    return out


def _children_cpu_s() -> float:
    """User + system CPU seconds of every waited-for descendant (the sweep and its workers)."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--skip-kill", action="store_true")
    ap.add_argument("--point-fn", default=None)
    ap.add_argument("--keep", default=None, help="keep results and report in this folder")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="sweep_bitwidths_"))
    root.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    base = [sys.executable, "-m", "accelsim", "sweep", str(SWEEP), "--workers", str(args.workers), "--no-progress"]
    if args.point_fn:
        base += ["--point-fn", args.point_fn]

    res1 = root / "full"
    cpu0 = _children_cpu_s()
    t = time.perf_counter()
    done = subprocess.run(base + ["--results", str(res1)], env=env, cwd=REPO, capture_output=True, text=True)
    wall = time.perf_counter() - t
    cpu = _children_cpu_s() - cpu0
    print(done.stdout.strip())
    if done.returncode != 0:
        print(done.stderr[-3000:])
    recs = _records(res1 / "results.jsonl")
    ok = sum(r["status"] == "ok" for r in recs)
    per = [r["elapsed_s"] for r in recs]
    print(f"full sweep: {len(recs)} points ({ok} ok) in {wall:.1f} s wall on {args.workers} workers "
          f"({'under' if wall < 300 else 'OVER'} the 5 min bar); point time min/median/max "
          f"{min(per):.2f}/{sorted(per)[len(per) // 2]:.2f}/{max(per):.2f} s")
    print(f"CPU time of the sweep and its workers: {cpu:.1f} s, i.e. {cpu / args.workers:.1f} s of wall time "
          f"on {args.workers} otherwise idle cores (load average now {os.getloadavg()[0]:.1f})")

    if not args.skip_kill:
        res2 = root / "killed"
        proc = subprocess.Popen(base + ["--results", str(res2)], env=env, cwd=REPO, start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while len(_records(res2 / "results.jsonl")) < 24 and proc.poll() is None:
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        before = [r["key"] for r in _records(res2 / "results.jsonl")]
        t = time.perf_counter()
        again = subprocess.run(base + ["--results", str(res2)], env=env, cwd=REPO, capture_output=True, text=True)
        print(again.stdout.strip())
        after = _records(res2 / "results.jsonl")
        keys = [r["key"] for r in after]
        same = {r["key"]: r["result"] for r in after} == {r["key"]: r["result"] for r in recs}
        print(f"killed after {len(before)} points; resume ran {len(keys) - len(before)} more in "
              f"{time.perf_counter() - t:.1f} s; store now {len(keys)} lines, {len(set(keys))} distinct; "
              f"earlier points kept: {keys[:len(before)] == before}; numbers equal to the full run: {same}")

    rep = root / "report"
    t = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "accelsim", "report", str(res1), "-o", str(rep)], env=env, cwd=REPO,
                       capture_output=True, text=True)
    html = (rep / "index.html").read_text() if (rep / "index.html").exists() else ""
    print(r.stdout.strip() or r.stderr.strip())
    print(f"report in {time.perf_counter() - t:.1f} s: {html.count('data:image/png;base64,')} embedded figures; "
          f"folder {rep}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
