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


def add_parser(subparsers) -> None:
    from accelsim.cli.common import add_input_shape_argument, add_quant_arguments

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
    add_input_shape_argument(p)
    p.add_argument("--config", metavar="YAML", help="run config whose workload, quant: and data.calib sections to use")
    p.add_argument("-o", "--out", metavar="DIR", required=True, help="output folder")
    p.add_argument("-q", "--quiet", action="store_true", help="no summary table, no progress bar")
    p.set_defaults(func=run)


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
        f"({b_in} bits); method {net.meta.get('method')}"
        + "".join(f"; {k.replace('_', ' ')} {net.meta[k]}" for k in ("weight_method", "bias_correction",
                                                                    "unsigned_activations") if k in net.meta)
        + f"; worst requantization error {100 * worst:.3f} %"
        + (f"; dropped {', '.join(net.meta['dropped'])}" if net.meta.get("dropped") else "")
    )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from accelsim.cli.common import (
        build_config, dataset_override, input_shape_overrides, model_overrides, quant_overrides,
    )
    from accelsim.config.run import load_config
    from accelsim.layers import write_network
    from accelsim.pipeline.stages import Runtime, run_stages

    overrides = {**model_overrides(args.model), **quant_overrides(args), **input_shape_overrides(args)}
    if args.data is not None:
        configured = load_config(args.config).data.calib if args.config else None
        overrides["data.calib"] = dataset_override(args.data, configured)
    cfg = build_config(args.config, overrides, source="accelsim quantize")
    runtime = Runtime(progress=not args.quiet and sys.stderr.isatty())
    net = run_stages(cfg, "descriptors", runtime=runtime)["descriptors"]
    out = write_network(net, args.out)
    if not args.quiet:
        print(format_summary(net))
        print(f"\nwrote {out / 'descriptors.json'} and {out / 'tensors.npz'}")
    return 0
