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
        "and write pareto.png, power.png, accuracy.png, breakdown.png, layers.png, points.csv, points.json and a "
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
    p.add_argument("--max-power", type=float, default=None, metavar="MW",
                   help="power budget, milliwatt: points drawing more on average are greyed and kept off the "
                   "Pareto front (default: no budget)")
    p.add_argument("--color", default=None, metavar="KEY",
                   help="dotted config key that colours the trade-off figures' points, e.g. hardware.dataflow "
                   "(default: quant.weight_bits)")
    p.add_argument("--marker", default=None, metavar="KEY",
                   help="dotted config key that picks the points' marker (default: quant.act_bits)")
    p.add_argument("--facet", default=None, metavar="KEY",
                   help="dotted config key that splits the trade-off figures into one panel per value")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from accelsim.report import build_report, find_point, load_points

    source = Path(args.source)
    points = load_points(source)
    name = source.resolve().name if source.is_dir() else source.resolve().parent.name
    out = Path(args.output) if args.output else Path("reports") / name
    detail = find_point(points, args.point) if args.point else None
    from accelsim.errors import InputFileError
    from accelsim.report.figures import FigureOptions
    from accelsim.report.points import setting_values

    floor = args.max_accuracy_drop if args.max_accuracy_drop >= 0 else None
    if args.max_power is not None and not args.max_power > 0:
        raise InputFileError(f"--max-power {args.max_power:g}: must be a power > 0 mW")
    for flag, key in (("--color", args.color), ("--marker", args.marker), ("--facet", args.facet)):
        if key:
            try:
                setting_values(points, key)
            except InputFileError as exc:
                raise InputFileError(f"{flag} {exc}") from None
    options = FigureOptions(max_accuracy_drop=floor, max_power_mw=args.max_power, color_by=args.color,
                            marker_by=args.marker, facet_by=args.facet)
    page = build_report(points, out, title=args.title or f"accelsim report: {name}", detail=detail,
                        source=str(source), options=options)
    n_ok = sum(p.ok for p in points)
    print(f"report: {len(points)} points ({n_ok} ok) -> {page}")
    return 0
