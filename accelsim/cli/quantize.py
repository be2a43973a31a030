"""``accelsim quantize MODEL.onnx --data CALIB -o DIR``: calibrate a float model on one batch.

Reads the ONNX model, draws one calibration batch (``--batch`` images, seeded), runs the
layer-by-layer calibration of :func:`accelsim.quant.calibrate.calibrate`, writes
``DIR/descriptors.json`` and ``DIR/tensors.npz`` and prints a per-layer summary: op, shapes,
MACs, bit widths, thresholds, requantization (pre shift, scale, post shift) and the worst
relative error of the integer multiplier against the real one.

Quantization settings come from the ``quant:`` section of ``--config`` (when given), then the
command-line flags override them. ``MODEL`` and ``--data`` may be ``bundled``.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from accelsim.errors import ConfigError


def add_quant_arguments(p: argparse.ArgumentParser) -> None:
    """The calibration flags ``quantize`` and ``evaluate`` share; defaults read from :class:`QuantConfig`."""
    import typing

    from accelsim.config.quant import QuantConfig, ThresholdMethod

    f = QuantConfig.model_fields
    p.add_argument("--batch", type=int, metavar="N", help=f"calibration images (default {f['calib_batch'].default})")
    p.add_argument("--bits", type=int, metavar="B", help="weight and activation width, bits (2-16)")
    p.add_argument("--weight-bits", type=int, metavar="W", help=f"weight width, bits (default {f['weight_bits'].default})")
    p.add_argument("--act-bits", type=int, metavar="A", help=f"activation width, bits (default {f['act_bits'].default})")
    p.add_argument("--method", choices=typing.get_args(ThresholdMethod),
                   help=f"activation threshold method (default {f['method'].default})")
    p.add_argument("--per-tensor", action="store_true", help="one weight threshold per layer (default per channel)")


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "quantize",
        help="calibrate a float ONNX model on one batch and write quantized layer descriptors",
        description="Calibrate a float ONNX model on one batch of images (DESIGN §3: symmetric "
        "integer quantization, layer by layer) and write DIR/descriptors.json and DIR/tensors.npz. "
        "Flags override the quant: section of --config.",
    )
    p.add_argument("model", metavar="MODEL.onnx", help="float ONNX model, or 'bundled'")
    p.add_argument("--data", metavar="CALIB", help="calibration data: .npz (x float32 N×C×H×W preprocessed, "
                   "or raw images), IDX file, image folder, or 'bundled' (default: the config's data.calib)")
    add_quant_arguments(p)
    p.add_argument("--config", metavar="YAML", help="run config whose quant: (and data.calib) sections to use")
    p.add_argument("--seed", type=int, help="seed of the calibration batch draw (default: the config's seed, 0)")
    p.add_argument("-o", "--out", metavar="DIR", required=True, help="output folder")
    p.add_argument("-q", "--quiet", action="store_true", help="no summary table, no progress bar")
    p.set_defaults(func=run)


def quant_config_from_args(args: argparse.Namespace, base: dict | None = None):
    """The :class:`QuantConfig` of the command: ``base`` (a config's quant section) + flags.

    Raises
    ------
    ConfigError
        ``--bits`` given with ``--weight-bits``/``--act-bits``, or any value out of range
        (bit widths outside 2-16, a batch < 1).
    """
    from accelsim.config.base import parse_model
    from accelsim.config.quant import QuantConfig

    data = dict(base or {})
    if args.bits is not None and (args.weight_bits is not None or args.act_bits is not None):
        raise ConfigError("--bits sets both widths; give either --bits or --weight-bits/--act-bits")
    if args.bits is not None:
        data["weight_bits"] = data["act_bits"] = args.bits
    if args.weight_bits is not None:
        data["weight_bits"] = args.weight_bits
    if args.act_bits is not None:
        data["act_bits"] = args.act_bits
    if args.method is not None:
        data["method"] = args.method
    if args.per_tensor:
        data["per_channel"] = False
    if args.batch is not None:
        data["calib_batch"] = args.batch
    return parse_model(QuantConfig, data, source="accelsim quantize", prefix="quant")


def _range(values) -> str:
    lo, hi = int(min(values)), int(max(values))
    return f"{lo}" if lo == hi else f"{lo}-{hi}"


def summary_rows(net) -> list[dict]:
    """One dict per layer: what the summary table shows (thresholds in real units)."""
    import numpy as np

    rows = []
    for layer in net.layers:
        q = layer.quant
        t = net.tensors
        pre = scale = post = "-"
        for prefix in ("", "in0.", "in1."):
            if layer.key(prefix + "scale") in t:
                keys = [k for k in (layer.key(p + "scale") for p in ("", "in0.", "in1.", "in2.", "in3.")) if k in t]
                pre = _range(np.concatenate([t[k.replace(".scale", ".pre_shift")] for k in keys]))
                scale = _range(np.concatenate([t[k] for k in keys]))
                post = _range(np.concatenate([t[k.replace(".scale", ".post_shift")] for k in keys]))
                break
        err = layer.extra.get("requant_max_rel_error")
        rows.append({
            "layer": layer.name, "op": layer.op + ("+" + layer.activation if layer.activation != "none" else ""),
            "in_shape": "x".join(map(str, layer.in_shape)), "out_shape": "x".join(map(str, layer.out_shape)),
            "macs": layer.macs,
            "bits": f"{layer.weight_bits if layer.on_array else '-'}/{layer.act_bits}/{layer.out_bits}",
            "in_t": ",".join(f"{v:.4g}" for v in q.in_thresholds), "out_t": f"{q.out_threshold:.4g}",
            "pre": pre, "scale": scale, "post": post,
            "err": "-" if err is None else f"{100 * err:.3f}",
        })
    return rows


def format_summary(net) -> str:
    """The per-layer table (units in the headers) and a totals line."""
    cols = [("layer", "layer", "<"), ("op", "op", "<"), ("in_shape", "in N×C×H×W", "<"),
            ("out_shape", "out N×C×H×W", "<"), ("macs", "MACs", ">"), ("bits", "bits w/in/out", ">"),
            ("in_t", "in T", ">"), ("out_t", "out T", ">"), ("pre", "pre shift", ">"), ("scale", "scale", ">"),
            ("post", "post shift", ">"), ("err", "max |err| %", ">")]
    rows = summary_rows(net)
    cells = [[f"{r[k]:,}" if k == "macs" else str(r[k]) for k, _, _ in cols] for r in rows]
    widths = [max([len(h)] + [len(c[i]) for c in cells]) for i, (_, h, _) in enumerate(cols)]
    fmt = lambda vals: "  ".join(f"{v:{a}{w}}" for v, (_, _, a), w in zip(vals, cols, widths))  # noqa: E731
    lines = [fmt([h for _, h, _ in cols]), "  ".join("-" * w for w in widths)]
    lines += [fmt(c) for c in cells]
    errs = [layer.extra.get("requant_max_rel_error") for layer in net.layers]
    worst = max((e for e in errs if e is not None), default=0.0)
    t_in, s_in, b_in = next(iter(net.input_quant.values()))
    lines.append("")
    lines.append(
        f"{len(net.layers)} layers, {net.macs:,} MACs per batch of {net.layers[0].in_shape[0]}; input T {t_in:.4g} "
        f"({b_in} bits); method {net.meta.get('method')}; worst requantization error {100 * worst:.3f} %"
        + (f"; dropped {', '.join(net.meta['dropped'])}" if net.meta.get("dropped") else "")
    )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from accelsim.config.data import DatasetConfig
    from accelsim.config.run import load_config
    from accelsim.datasets.readers import open_dataset
    from accelsim.graph.onnx_import import load_onnx
    from accelsim.layers import write_network
    from accelsim.quant.calibrate import calibrate
    from accelsim.quant.lower import plan_layers

    cfg = load_config(args.config) if args.config else None
    qcfg = quant_config_from_args(args, cfg.quant.model_dump() if cfg is not None else None)
    seed = args.seed if args.seed is not None else (cfg.seed if cfg is not None else 0)

    model = args.model
    if model == "bundled":
        from accelsim.workloads.bundled import model_path

        model = str(model_path())
    graph = load_onnx(model)
    in_shape = next(iter(graph.inputs.values()))
    from accelsim.quant.lower import check_supported

    check_supported(graph)  # refuse before any data is read or calibrated

    if args.data is not None:
        calib = cfg.data.calib if cfg is not None and cfg.data.calib is not None else None
        data_path = args.data if args.data == "bundled" else str(Path(args.data))
        ds_cfg = DatasetConfig(path=data_path, preprocess=calib.preprocess) if calib is not None and \
            args.data != "bundled" else DatasetConfig(path=data_path)
    elif cfg is not None and cfg.data.calib is not None:
        ds_cfg = cfg.data.calib
    else:
        raise ConfigError("accelsim quantize: no calibration data; give --data CALIB (or a --config with data.calib)")
    ds = open_dataset(ds_cfg, tuple(in_shape), split="calib")
    x, _ = ds.take(qcfg.calib_batch, seed)

    n_layers = len(plan_layers(graph, {next(iter(graph.inputs)): (1,) + tuple(x.shape[1:])}).layers)
    bar = None
    if not args.quiet:
        from tqdm import tqdm

        bar = tqdm(total=n_layers, desc="calibrating", unit="layer", file=sys.stderr,
                   disable=not sys.stderr.isatty(), leave=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        net = calibrate(graph, x, qcfg, progress=(lambda name: bar.update(1)) if bar is not None else None)
    if bar is not None:
        bar.close()
    for w in caught:
        print(f"accelsim quantize: warning: {w.message}", file=sys.stderr)
    meta = dict(net.meta, model=str(model), data=str(ds_cfg.path), seed=seed)
    from dataclasses import replace

    net = replace(net, meta=meta)
    out = write_network(net, args.out)
    if not args.quiet:
        print(format_summary(net))
        print(f"\nwrote {out / 'descriptors.json'} and {out / 'tensors.npz'}")
    return 0
