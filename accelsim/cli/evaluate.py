"""``accelsim evaluate MODEL.onnx --data TEST (--calib CALIB | --descriptors DIR)``: accuracy.

Calibrates the float model on one batch of ``--calib`` (same flags as ``accelsim quantize``) or
reads descriptors written by ``accelsim quantize``, then runs the float model and the integer
datapath over ``--data`` in batches and prints float/quantized top-1 and top-5, argmax agreement,
and per layer the SQNR (dB) of the dequantized integer output against the float tensor and the
accumulator overflow events. ``--json PATH`` writes the same numbers
(:meth:`accelsim.datapath.accuracy.EvalResult.to_dict`).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from accelsim.atomic import write_text
from accelsim.errors import ConfigError


def add_parser(subparsers) -> None:
    from accelsim.cli.common import add_input_shape_argument, add_quant_arguments

    p = subparsers.add_parser(
        "evaluate",
        help="accuracy of the integer datapath against the float model on labelled data",
        description="Calibrate MODEL on one batch of --calib (or read --descriptors DIR), run the float "
        "model and the integer datapath over --data, and report float/quantized top-1 and top-5, argmax "
        "agreement, per-layer SQNR (dB) and accumulator overflow events.",
    )
    p.add_argument("model", metavar="MODEL.onnx", help="float ONNX model, or 'bundled'")
    p.add_argument("--data", metavar="TEST", help="labelled test data: .npz, IDX file, image folder or 'bundled' "
                   "(default: the config's data.test)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--calib", metavar="CALIB", help="calibration data (as for 'accelsim quantize --data')")
    src.add_argument("--descriptors", metavar="DIR", help="descriptor folder written by 'accelsim quantize' "
                     "(instead of calibrating)")
    add_quant_arguments(p)
    add_input_shape_argument(p)
    p.add_argument("--config", metavar="YAML", help="run config whose workload, quant: and data: sections to use")
    p.add_argument("--eval-batch", type=int, metavar="N", help="images per evaluation batch (default: the "
                   "config's data.batch_size, 256)")
    p.add_argument("--limit", type=int, metavar="N", help="evaluate only the first N test images")
    p.add_argument("--workers", type=int, default=1, metavar="P",
                   help="worker processes (1: one process, multi-threaded kernels; default 1)")
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def _pct(v) -> str:
    return "n/a" if v is None else f"{100 * v:.2f} %"


def format_result(res) -> str:
    """The headline numbers and the per-layer table (units in the headers)."""
    lines = [
        f"images        {res.samples}",
        f"float top-1   {_pct(res.float_top1)}    quantized top-1   {_pct(res.quant_top1)}",
        f"float top-5   {_pct(res.float_top5)}    quantized top-5   {_pct(res.quant_top5)}",
        f"agreement     {_pct(res.agreement)} (float and quantized argmax equal)",
        "",
    ]
    head = ("layer", "op", "SQNR dB", "overflow events", "path")
    rows = []
    for la in res.layers:
        if la.sqnr_db is None:
            sq = "-"
        elif math.isinf(la.sqnr_db):
            sq = "inf" if la.sqnr_db > 0 else "-inf"
        else:
            sq = f"{la.sqnr_db:.2f}"
        ov = "-" if la.overflow_events is None else f"{la.overflow_events:,}"
        rows.append((la.name, la.op, sq, ov, la.path or "-"))
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(head)]
    align = ("<", "<", ">", ">", "<")
    fmt = lambda vals: "  ".join(f"{v:{a}{w}}" for v, a, w in zip(vals, align, widths))  # noqa: E731
    lines += [fmt(head), "  ".join("-" * w for w in widths)] + [fmt(r) for r in rows]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from accelsim.cli.common import (
        build_config, dataset_override, given_quant_flags, input_shape_overrides, model_overrides, quant_overrides,
    )
    from accelsim.config.run import load_config
    from accelsim.layers import read_network
    from accelsim.pipeline.stages import Runtime, run_stages

    for flag, value in (("--eval-batch", args.eval_batch), ("--workers", args.workers), ("--limit", args.limit)):
        if value is not None and value < 1:
            raise ConfigError(f"{flag} must be >= 1, got {value}")
    given = {}
    if args.descriptors is not None:
        flags = given_quant_flags(args)
        if flags:
            raise ConfigError(f"{flags[0]} calibrates; it cannot be combined with --descriptors (the folder is "
                              "already quantized)")
        given["descriptors"] = read_network(args.descriptors)
    configured = load_config(args.config).data if args.config else None
    overrides = {**model_overrides(args.model), **quant_overrides(args), **input_shape_overrides(args)}
    for arg, split in ((args.data, "test"), (args.calib, "calib")):
        if arg is not None:
            overrides[f"data.{split}"] = dataset_override(arg, getattr(configured, split, None))
    if args.eval_batch is not None:
        overrides["data.batch_size"] = args.eval_batch
    cfg = build_config(args.config, overrides, source="accelsim evaluate")
    if cfg.data.test is None:
        raise ConfigError("no test data; give --data TEST (or a --config with data.test)")
    if cfg.data.calib is None and not given:
        raise ConfigError("no calibration data; give --calib CALIB or --descriptors DIR (or a --config with "
                          "data.calib)")
    if args.limit is not None:
        cfg = build_config(args.config, {**overrides, "data.test.limit": args.limit}, source="accelsim evaluate")
    runtime = Runtime(progress=not args.quiet and sys.stderr.isatty(), workers=args.workers)
    values = run_stages(cfg, "accuracy", given=given, runtime=runtime)
    res = values["accuracy"]
    if args.descriptors is not None:
        source = str(args.descriptors)
    else:
        net = values["descriptors"]
        source = (f"calibrated on {net.meta.get('calib_images')} images of {net.meta.get('data')} "
                  f"(seed {cfg.seed}, method {cfg.quant.method})")
    res.meta.update(descriptors=source)
    print(format_result(res))
    if args.json:
        path = Path(args.json)
        write_text(path, json.dumps(res.to_dict(), indent=1) + "\n")
        print(f"\nwrote {path}")
    return 0
