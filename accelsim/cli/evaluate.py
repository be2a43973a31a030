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
import warnings
from pathlib import Path

from accelsim.atomic import write_text
from accelsim.errors import ConfigError


def add_parser(subparsers) -> None:
    from accelsim.cli.quantize import add_quant_arguments

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
    p.add_argument("--config", metavar="YAML", help="run config whose quant: and data: sections to use")
    p.add_argument("--seed", type=int, help="seed of the calibration batch draw (default: the config's seed, 0)")
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


def _dataset_cfg(arg: str | None, cfg, section: str, flag: str):
    from accelsim.config.data import DatasetConfig

    from_cfg = getattr(cfg.data, section) if cfg is not None else None
    if arg is None:
        if from_cfg is None:
            raise ConfigError(f"accelsim evaluate: no {section} data; give {flag} (or a --config with data.{section})")
        return from_cfg
    if arg != "bundled" and from_cfg is not None:
        return DatasetConfig(path=str(Path(arg)), preprocess=from_cfg.preprocess)
    return DatasetConfig(path=arg if arg == "bundled" else str(Path(arg)))


def run(args: argparse.Namespace) -> int:
    from accelsim.cli.quantize import quant_config_from_args
    from accelsim.config.run import load_config
    from accelsim.datapath import evaluate, prepare
    from accelsim.datasets.readers import open_dataset
    from accelsim.graph.onnx_import import load_onnx
    from accelsim.layers import read_network

    if args.eval_batch is not None and args.eval_batch < 1:
        raise ConfigError(f"accelsim evaluate: --eval-batch must be >= 1, got {args.eval_batch}")
    if args.workers < 1:
        raise ConfigError(f"accelsim evaluate: --workers must be >= 1, got {args.workers}")
    if args.limit is not None and args.limit < 1:
        raise ConfigError(f"accelsim evaluate: --limit must be >= 1, got {args.limit}")
    cfg = load_config(args.config) if args.config else None
    model = args.model
    if model == "bundled":
        from accelsim.workloads.bundled import model_path

        model = str(model_path())
    graph = load_onnx(model)
    in_shape = tuple(next(iter(graph.inputs.values())))
    if args.descriptors is None:
        from accelsim.quant.lower import check_supported

        check_supported(graph)  # refuse before any data is read
    test = open_dataset(_dataset_cfg(args.data, cfg, "test", "--data TEST"), in_shape, split="test")

    if args.descriptors is not None:
        quant_flags = [n for n in ("batch", "bits", "weight_bits", "act_bits", "method", "seed")
                       if getattr(args, n) is not None] + (["per_tensor"] if args.per_tensor else [])
        if quant_flags:
            raise ConfigError(f"accelsim evaluate: --{quant_flags[0].replace('_', '-')} calibrates; it cannot "
                              "be combined with --descriptors (the folder is already quantized)")
        net = read_network(args.descriptors)
        source = str(args.descriptors)
    else:
        from accelsim.quant.calibrate import calibrate

        qcfg = quant_config_from_args(args, cfg.quant.model_dump() if cfg is not None else None)
        seed = args.seed if args.seed is not None else (cfg.seed if cfg is not None else 0)
        calib = open_dataset(_dataset_cfg(args.calib, cfg, "calib", "--calib CALIB or --descriptors DIR"),
                             in_shape, split="calib")
        x, _ = calib.take(qcfg.calib_batch, seed)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            net = calibrate(graph, x, qcfg)
        for w in caught:
            print(f"accelsim evaluate: warning: {w.message}", file=sys.stderr)
        source = f"calibrated on {len(x)} images of {calib.source} (seed {seed}, method {qcfg.method})"
    prep = prepare(net)
    batch = args.eval_batch or (cfg.data.batch_size if cfg is not None else 256)
    res = evaluate(graph, prep, test, batch, progress=not args.quiet and sys.stderr.isatty(),
                   workers=args.workers, limit=args.limit)
    res.meta.update(model=str(model), data=test.source, descriptors=source)
    print(format_result(res))
    if args.json:
        path = Path(args.json)
        write_text(path, json.dumps(res.to_dict(), indent=1) + "\n")
        print(f"\nwrote {path}")
    return 0
