"""``accelsim sensitivity CONFIG``: per-layer accuracy loss when only that layer drops to fewer bits."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from accelsim.cli.sweep import add_executor_arguments


def add_parser(subparsers) -> None:
    from accelsim.sweep.search import DEFAULT_WIDTHS

    p = subparsers.add_parser(
        "sensitivity",
        help="per-layer top-1 loss when only one layer's weights or outputs are narrower (table + figure)",
        description="For every layer's weight width and output width (and the network input), lower only "
        "that one to each narrower width of --widths, all others at the widest, and measure top-1 on the "
        "config's test set. Writes OUT/sensitivity.csv, .md and .png; points are stored and reused.",
    )
    p.add_argument("config", metavar="CONFIG", help="run config YAML with a model (not a topology)")
    p.add_argument("--widths", default=",".join(map(str, DEFAULT_WIDTHS)), metavar="LIST",
                   help="widths to try, bits, 2-16 (default %(default)s)")
    p.add_argument("--images", type=int, default=None, metavar="N",
                   help="only the first N test images (default: the config's whole test set)")
    p.add_argument("-o", "--out", metavar="DIR", default=None, help="output folder (default out/<name>-sensitivity)")
    add_executor_arguments(p, results_default="OUT/points")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from accelsim.config.run import load_config
    from accelsim.errors import ConfigError
    from accelsim.sweep.executor import make_executor
    from accelsim.sweep.search import parse_widths, sensitivity, sensitivity_markdown, write_sensitivity

    widths = parse_widths(args.widths)
    if args.images is not None and args.images < 1:
        raise ConfigError(f"--images: must be >= 1 (got {args.images})")
    cfg = load_config(args.config)
    out = Path(args.out) if args.out else Path("out") / f"{cfg.name}-sensitivity"
    results = Path(args.results) if args.results else out / "points"
    executor = make_executor(args.workers, args.scheduler, args.scheduler_timeout)
    try:
        sens = sensitivity(cfg, widths, results, executor, args.images, progress=not args.no_progress)
    finally:
        executor.close()
    paths = write_sensitivity(sens, out)
    print(sensitivity_markdown(sens))
    print(f"wrote {paths['csv']}, {paths['md']} and {paths['png']}", file=sys.stderr)
    return 0
