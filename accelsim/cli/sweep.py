"""``accelsim sweep SWEEP.yaml``: run every point of a sweep file into a resumable results store."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from accelsim.sweep.executor import DEFAULT_POINT_FN, DEFAULT_SCHEDULER_TIMEOUT_S


def add_executor_arguments(p: argparse.ArgumentParser, results_default: str) -> None:
    """``--results``, ``--workers``, ``--scheduler``, ``--scheduler-timeout``, ``--no-progress``: where
    points are stored and run; shared by ``sweep``, ``sensitivity`` and ``search``."""
    p.add_argument("--results", metavar="DIR", default=None,
                   help=f"results store of the points (default: {results_default}); rerun to resume")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="local worker processes (default: the number of cores; 0 = in this process)")
    p.add_argument("--scheduler", metavar="ADDR", default=None,
                   help="run on an existing Dask cluster, e.g. tcp://host:8786 (needs accelsim[dask])")
    p.add_argument("--scheduler-timeout", type=float, default=DEFAULT_SCHEDULER_TIMEOUT_S, metavar="S",
                   help="seconds for the scheduler handshake (connect and an identity reply); an address "
                   "that is not a Dask scheduler fails in this time with one line "
                   f"(default {DEFAULT_SCHEDULER_TIMEOUT_S:g})")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "sweep",
        help="run a sweep file (base config x axes) on local processes or a Dask cluster",
        description="Expand SWEEP.yaml into points, run those the results folder does not hold yet, "
        "and append each finished point to it at once (a killed sweep resumes where it stopped).",
    )
    p.add_argument("sweep_file", metavar="SWEEP.yaml", help="the sweep file (base config + axes)")
    add_executor_arguments(p, results_default="results/<sweep name>")
    p.add_argument("--limit", type=int, default=None, metavar="N", help="run at most N pending points")
    p.add_argument("--retry-failed", action="store_true", help="also rerun points stored with an error")
    p.add_argument("--no-cache", action="store_true",
                   help="do not share calibration/accuracy between points (slower)")
    p.add_argument("--dry-run", action="store_true", help="validate and list the points, run nothing")
    p.add_argument("--point-fn", default=DEFAULT_POINT_FN, metavar="MODULE:FUNC",
                   help=f"function evaluating one point (default {DEFAULT_POINT_FN})")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from accelsim.errors import ConfigError
    from accelsim.sweep.executor import make_executor
    from accelsim.sweep.runner import run_sweep
    from accelsim.sweep.spec import load_sweep

    if args.limit is not None and args.limit < 0:
        raise ConfigError(f"--limit: must be >= 0 (got {args.limit})")
    sweep = load_sweep(args.sweep_file)
    results = Path(args.results) if args.results else Path("results") / sweep.name
    if args.dry_run:
        print(f"{args.sweep_file}: {len(sweep.points)} points, all valid")
        for p in sweep.points:
            print(f"  {p.index:4d}  " + ", ".join(f"{k}={v}" for k, v in p.overrides.items()))
        return 0
    executor = make_executor(args.workers, args.scheduler, args.scheduler_timeout)
    try:
        print(f"sweep {sweep.name}: {len(sweep.points)} points on {executor.describe()}; "
              f"results in {results}", file=sys.stderr)
        outcome = run_sweep(
            sweep, results, executor, point_fn=args.point_fn, limit=args.limit,
            retry_failed=args.retry_failed, progress=not args.no_progress, use_cache=not args.no_cache,
        )
    finally:
        executor.close()
    print(f"sweep {sweep.name}: {outcome.total} points: {outcome.skipped} already stored, "
          f"{outcome.ok} ran ok, {outcome.failed} failed, {outcome.remaining} left; results in {results}")
    if outcome.warned:
        print(f"  {outcome.warned} point{'s' if outcome.warned != 1 else ''} raised warnings (kept in their records: "
              f"{results}/results.jsonl, 'warnings')", file=sys.stderr)
    for line in outcome.errors[:20]:
        print(f"  failed {line}", file=sys.stderr)
    if len(outcome.errors) > 20:
        print(f"  ... and {len(outcome.errors) - 20} more (see {results}/results.jsonl)", file=sys.stderr)
    return 1 if outcome.failed else 0
