"""``accelsim report SOURCE -o DIR``: figures, tables and an HTML page from a sweep or one run."""

from __future__ import annotations

import argparse
from pathlib import Path

from accelsim.report.points import DEFAULT_MAX_ACCURACY_DROP


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "report",
        help="draw the trade-offs of a results folder (or one run) into PNGs, CSV and one HTML page",
        description="Read a results store (accelsim sweep --results DIR) or a run folder with summary.json "
        "and write pareto.png, accuracy.png, breakdown.png, layers.png, points.csv, points.json and a "
        "self-contained index.html into the output folder.",
    )
    p.add_argument("source", metavar="RESULTS_DIR", help="results folder of a sweep, or a run's output folder")
    p.add_argument("-o", "--output", metavar="DIR", default=None,
                   help="report folder (default: reports/<name of RESULTS_DIR>)")
    p.add_argument("--point", metavar="INDEX|KEY", default=None,
                   help="point whose per-layer figure is drawn (default: lowest energy x latency)")
    p.add_argument("--title", default=None, help="page title (default: 'accelsim report: <name>')")
    p.add_argument("--max-accuracy-drop", type=float, default=DEFAULT_MAX_ACCURACY_DROP, metavar="POINTS",
                   help="points of top-1 a point may lose against the float model and stay on the Pareto "
                   f"front (default {DEFAULT_MAX_ACCURACY_DROP:g}; a negative value: no accuracy floor)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from accelsim.report import build_report, find_point, load_points

    source = Path(args.source)
    points = load_points(source)
    name = source.resolve().name if source.is_dir() else source.resolve().parent.name
    out = Path(args.output) if args.output else Path("reports") / name
    detail = find_point(points, args.point) if args.point else None
    floor = args.max_accuracy_drop if args.max_accuracy_drop >= 0 else None
    page = build_report(points, out, title=args.title or f"accelsim report: {name}", detail=detail,
                        source=str(source), max_accuracy_drop=floor)
    n_ok = sum(p.ok for p in points)
    print(f"report: {len(points)} points ({n_ok} ok) -> {page}")
    return 0
