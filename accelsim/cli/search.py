"""``accelsim search CONFIG --max-accuracy-drop 0.5``: per-layer widths minimising energy or latency."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(subparsers) -> None:
    from accelsim.cli.sweep import add_executor_arguments
    from accelsim.sweep.search import DEFAULT_WIDTHS, OBJECTIVES

    p = subparsers.add_parser(
        "search",
        help="choose per-layer weight/activation widths minimising energy or latency within an accuracy budget",
        description="Greedy mixed-precision search from per-layer sensitivity, every candidate priced by the "
        "simulator and verified on the config's test set (docs/quantization.md). Writes OUT/chosen.yaml "
        "(run it with accelsim run), OUT/search.md, search.json, front.png and the sensitivity table. "
        "Points are stored in a results store: rerun the same command to resume.",
    )
    p.add_argument("config", metavar="CONFIG", help="run config YAML with a model (not a topology)")
    p.add_argument("--max-accuracy-drop", type=float, required=True, metavar="POINTS",
                   help="largest top-1 loss against the float model, points (e.g. 0.5)")
    p.add_argument("--widths", default=",".join(map(str, DEFAULT_WIDTHS)), metavar="LIST",
                   help="widths each layer may take, bits, 2-16 (default %(default)s)")
    p.add_argument("--objective", choices=tuple(OBJECTIVES), default="energy",
                   help="minimise energy per inference or latency (default energy)")
    p.add_argument("--sensitivity-images", type=int, default=500, metavar="N",
                   help="test images per sensitivity point (default 500; candidates use the whole test set)")
    p.add_argument("--verify-points", type=int, default=8, metavar="N",
                   help="chain candidates near the budget measured on the whole test set (default 8)")
    p.add_argument("-o", "--out", metavar="DIR", default=None, help="output folder (default out/<name>-search)")
    add_executor_arguments(p, results_default="OUT/points")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from accelsim.config.run import load_config
    from accelsim.errors import ConfigError
    from accelsim.sweep.executor import make_executor
    from accelsim.sweep.search import check_budget, parse_widths, search, write_search

    widths = parse_widths(args.widths)
    budget = check_budget(args.max_accuracy_drop)
    if args.sensitivity_images is not None and args.sensitivity_images < 1:
        raise ConfigError(f"--sensitivity-images: must be >= 1 (got {args.sensitivity_images})")
    if args.verify_points < 2:
        raise ConfigError(f"--verify-points: must be >= 2 (got {args.verify_points})")
    cfg = load_config(args.config)
    out = Path(args.out) if args.out else Path("out") / f"{cfg.name}-search"
    results = Path(args.results) if args.results else out / "points"
    executor = make_executor(args.workers, args.scheduler, args.scheduler_timeout)

    def status(msg: str) -> None:
        if not args.no_progress:
            print(f"accelsim search: {msg}", file=sys.stderr, flush=True)

    try:
        res = search(cfg, budget=budget, widths=widths, objective=args.objective, results_dir=results,
                     executor=executor, sensitivity_images=args.sensitivity_images,
                     verify_points=args.verify_points, progress=not args.no_progress, status=status)
    finally:
        executor.close()
    paths = write_search(res, cfg, out)
    if res.best_step is None:
        print(f"no measured candidate within {budget:g} points of the float model; see {paths['md']}")
        return 1
    b = res.verified[res.best_step]
    print(f"chosen: top-1 {100 * b['quant_top1']:.2f} % (drop {res.drop(b):.2f} points), "
          f"{b['energy_per_inference_uj']:.4g} µJ/inference, latency {1e6 * b['latency_s']:.4g} µs")
    print(f"wrote {paths['config']} (accelsim run it), {paths['md']}, {paths['front']}")
    return 0
