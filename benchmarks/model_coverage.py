"""Model coverage: torchvision classification CNNs through accelsim beside onnxruntime.

Two halves, one script:

``export`` (run in a torch venv: ``/work/venvs/torch/bin/python benchmarks/model_coverage.py export``)
    builds each torchvision architecture with seeded random weights (``torch.manual_seed(0)``),
    collects BatchNorm statistics with a few train-mode passes over seeded random inputs (with the
    default running statistics a deep random network's activations vanish or explode and
    quantizing it means nothing), switches to eval mode and exports it with PyTorch's TorchScript
    exporter (``dynamo=False``, symbolic batch) and its ``dynamo=True`` exporter, at opsets 13 and
    17. Files go to ``--cache`` (default ``/work/wt/models_cache``, not committed); an existing
    file is kept. Also saves the seeded calibration and evaluation inputs as ``inputs_<size>.npz``.

``evaluate`` (main env: accelsim + onnxruntime: ``python benchmarks/model_coverage.py evaluate``)
    for each exported file: does accelsim import it (or which op stops it); the float executor
    against onnxruntime (max relative error ``max|a - b| / max|b|`` over the logits); 8-bit
    calibration time; logits SQNR (dB) and argmax agreement of the integer datapath against the
    float model, with the ``kl-j`` and ``max`` threshold methods; the same for onnxruntime int8
    (``quantize_static``: QDQ, per-channel int8 weights, symmetric int8 activations, MinMax, the
    same calibration batch and evaluation inputs) against onnxruntime float; and ms per image of
    accelsim's integer datapath and of onnxruntime int8 on the same images with the same thread
    count. ``--imports-only`` stops after the import check (seconds per model).

Inputs are standard-normal NCHW tensors (seed 1 for calibration, seed 2 for evaluation): the
exported networks were normalised on that distribution by the BatchNorm passes, so it is the
distribution they "expect". 224x224 for every model except Inception-v3 (299x299).

Results are printed as a table and written as JSON (``--json``) for docs/benchmarks.md and
docs/models.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

CACHE = Path("/work/wt/models_cache")

# name -> (torchvision builder, keyword arguments, input size)
MODELS: dict[str, tuple[str, dict, int]] = {
    "resnet18": ("resnet18", {}, 224),
    "resnet50": ("resnet50", {}, 224),
    "resnext50_32x4d": ("resnext50_32x4d", {}, 224),
    "wide_resnet50_2": ("wide_resnet50_2", {}, 224),
    "vgg11_bn": ("vgg11_bn", {}, 224),
    "alexnet": ("alexnet", {}, 224),
    "squeezenet1_1": ("squeezenet1_1", {}, 224),
    "densenet121": ("densenet121", {}, 224),
    "googlenet": ("googlenet", {"aux_logits": False, "init_weights": True}, 224),
    "inception_v3": ("inception_v3", {"aux_logits": False, "init_weights": True}, 299),
    "mobilenet_v2": ("mobilenet_v2", {}, 224),
    "mobilenet_v3_small": ("mobilenet_v3_small", {}, 224),
    "mobilenet_v3_large": ("mobilenet_v3_large", {}, 224),
    "efficientnet_b0": ("efficientnet_b0", {}, 224),
    "shufflenet_v2_x1_0": ("shufflenet_v2_x1_0", {}, 224),
    "mnasnet1_0": ("mnasnet1_0", {}, 224),
    "regnet_y_400mf": ("regnet_y_400mf", {}, 224),
    "convnext_tiny": ("convnext_tiny", {}, 224),
}
QUICK = ["resnet18", "mobilenet_v2", "squeezenet1_1", "shufflenet_v2_x1_0"]
OPSETS = (13, 17)
EXPORTERS = ("torchscript", "dynamo")
BN_PASSES, BN_BATCH = 4, 8
CALIB_N, EVAL_N = 16, 16


def file_for(cache: Path, model: str, exporter: str, opset: int) -> Path:
    return cache / f"{model}_{exporter}_op{opset}.onnx"


def inputs_for(cache: Path, size: int) -> Path:
    return cache / f"inputs_{size}.npz"


# ------------------------------------------------------------------------------------- export


def export(args) -> int:
    import warnings

    import torch
    import torchvision

    warnings.filterwarnings("ignore")
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    for size in sorted({MODELS[m][2] for m in args.models}):
        p = inputs_for(cache, size)
        if not p.exists():
            rng1, rng2 = np.random.default_rng(1), np.random.default_rng(2)
            np.savez(p, calib=rng1.standard_normal((CALIB_N, 3, size, size)).astype(np.float32),
                     eval=rng2.standard_normal((EVAL_N, 3, size, size)).astype(np.float32))
    for name in args.models:
        builder, kw, size = MODELS[name]
        todo = [(e, o) for e in args.exporters for o in args.opsets
                if not file_for(cache, name, e, o).exists() and not file_for(cache, name, e, o).with_suffix(".failed").exists()]
        if not todo:
            continue
        t0 = time.perf_counter()
        torch.manual_seed(0)
        model = getattr(torchvision.models, builder)(weights=None, **kw)
        model.train()
        g = torch.Generator().manual_seed(3)
        with torch.no_grad():
            for _ in range(BN_PASSES):
                model(torch.randn(BN_BATCH, 3, size, size, generator=g))
        model.eval()
        x = torch.randn(2, 3, size, size, generator=g)
        print(f"{name}: built + BN statistics in {time.perf_counter() - t0:.1f} s", flush=True)
        for exporter, opset in todo:
            out = file_for(cache, name, exporter, opset)
            tmp = out.with_name(out.stem + ".part.onnx")
            t0 = time.perf_counter()
            try:
                if exporter == "torchscript":
                    torch.onnx.export(model, (x,), str(tmp), dynamo=False, opset_version=opset,
                                      input_names=["input"], output_names=["logits"],
                                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
                else:
                    batch = torch.export.Dim("batch", min=1, max=1024)
                    prog = torch.onnx.export(model, (x,), dynamo=True, opset_version=opset,
                                             input_names=["input"], output_names=["logits"],
                                             dynamic_shapes=({0: batch},))
                    # large models keep their weights as external data beside the .onnx file
                    prog.save(str(tmp), external_data=True)
                    got = _opset(tmp)
                    if got != opset:  # the dynamo exporter writes opset 18 and converts down when it can
                        real = file_for(cache, name, exporter, got)
                        if real.exists():
                            _drop(tmp)
                        else:
                            _finish(tmp, real)
                        out.with_suffix(".failed").write_text(
                            f"the dynamo exporter could not lower the model to opset {opset} (onnx version "
                            f"converter failed); it wrote opset {got}, evaluated as {real.name}\n")
                        print(f"  {out.name}: left at opset {got} -> {real.name}", flush=True)
                        continue
                _finish(tmp, out)
                print(f"  {out.name}: {time.perf_counter() - t0:.1f} s", flush=True)
            except Exception as exc:  # record and go on: a failed export is a result too
                msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                out.with_suffix(".failed").write_text(f"{type(exc).__name__}: {msg}\n")
                print(f"  {out.name}: export FAILED: {type(exc).__name__}: {msg[:200]}", flush=True)
    return 0


def _opset(path: Path) -> int:
    import onnx

    m = onnx.load(str(path), load_external_data=False)
    return next(int(o.version) for o in m.opset_import if o.domain in ("", "ai.onnx"))


def _drop(tmp: Path) -> None:
    tmp.unlink()
    data = tmp.with_name(tmp.name + ".data")
    if data.exists():
        data.unlink()


def _finish(tmp: Path, out: Path) -> None:
    """Move a finished export (and its external data file, renamed in the model) into place."""
    import onnx

    data = tmp.with_name(tmp.name + ".data")
    if data.exists():
        m = onnx.load(str(tmp), load_external_data=True)
        onnx.save(m, str(out), save_as_external_data=True, all_tensors_to_one_file=True,
                  location=out.name + ".data", size_threshold=1024)
        tmp.unlink()
        data.unlink()
    else:
        tmp.replace(out)


# ----------------------------------------------------------------------------------- evaluate


def _first_line(exc: BaseException) -> str:
    s = str(exc).strip()
    return (s.splitlines()[0] if s else type(exc).__name__)[:300]


def _rel(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(b))), 1e-30))


def sqnr_db(ref, approx) -> float:
    ref, approx = np.asarray(ref, np.float64), np.asarray(approx, np.float64)
    err = float(np.sum((ref - approx) ** 2))
    return math.inf if err == 0 else 10 * math.log10(float(np.sum(ref * ref)) / err)


class _Reader:
    def __init__(self, x, name):
        self.it = iter([{name: x[i:i + 1]} for i in range(len(x))])

    def get_next(self):
        return next(self.it, None)

    def rewind(self):
        pass


def gap_for_reducemean(path: Path, out_path: Path) -> Path:
    """*path*, or a copy at *out_path* in which every ``ReduceMean`` over the two spatial axes with
    ``keepdims=1`` (how the dynamo exporter writes ``AdaptiveAvgPool2d(1)``) is the equivalent
    ``GlobalAveragePool`` (how the TorchScript exporter writes it).

    onnxruntime's quantizer has no int8 ReduceMean: left as it is, the pool runs in float and its
    output is never requantized to 8 bits, so the peer would quantize less of a dynamo file than of
    the TorchScript file of the same network (SqueezeNet, whose pool output is the logits: 39.0 dB
    instead of 37.0 dB). The rewrite makes both exports the same int8 graph for the peer.
    """
    import onnx
    from onnx import numpy_helper

    m = onnx.load(str(path))
    consts = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    for n in m.graph.node:
        if n.op_type == "Constant" and n.attribute:
            consts[n.output[0]] = numpy_helper.to_array(n.attribute[0].t)
    changed = False
    for n in m.graph.node:
        if n.op_type != "ReduceMean":
            continue
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}
        axes = attrs.get("axes")
        if axes is None and len(n.input) > 1 and n.input[1] in consts:
            axes = consts[n.input[1]].tolist()
        if attrs.get("keepdims", 1) != 1 or axes is None or sorted(int(a) % 4 for a in axes) != [2, 3]:
            continue
        n.op_type = "GlobalAveragePool"
        del n.input[1:]
        del n.attribute[:]
        changed = True
    if not changed:
        return path
    onnx.save(m, str(out_path))
    return out_path


def ort_int8(path: Path, calib_x, in_name: str, out_path: Path, symmetric_activations: bool = True) -> None:
    """onnxruntime's static int8 quantization: QDQ, per-channel weights, MinMax (on
    :func:`gap_for_reducemean` of the file); symmetric activations, or (``symmetric_activations=False``)
    its default asymmetric ones (a zero point per tensor)."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    path = gap_for_reducemean(path, out_path.with_name(out_path.stem + "_gap.onnx"))
    pre = out_path.with_name(out_path.stem + "_pre.onnx")
    try:
        quant_pre_process(str(path), str(pre), skip_symbolic_shape=True)
        src = pre
    except Exception:
        src = path
    quantize_static(str(src), str(out_path), _Reader(calib_x, in_name), quant_format=QuantFormat.QDQ,
                    per_channel=True, activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                    calibrate_method=CalibrationMethod.MinMax,
                    extra_options={"ActivationSymmetric": symmetric_activations, "WeightSymmetric": True})


def _time_per_image(fn, x, repeats: int) -> float:
    fn(x[:1])  # warm-up (Numba compilation, ORT graph setup)
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(x)
        best = min(best, time.perf_counter() - t0)
    return 1000 * best / len(x)


def evaluate_one(path: Path, x_cal, x_ev, args, exporter: str, opset: int) -> dict:
    import numba
    import onnxruntime as ort

    from accelsim.datapath import prepare
    from accelsim.datapath.executor import run_prepared
    from quant_methods import recipe_config  # the same folder: method+option recipes
    from accelsim.graph.executor import run_graph
    from accelsim.graph.onnx_import import load_onnx
    from accelsim.quant.calibrate import calibrate

    row: dict = {"file": path.name, "exporter": exporter, "opset": opset}
    t0 = time.perf_counter()
    try:
        graph = load_onnx(path, (1,) + tuple(x_ev.shape[1:]))
    except Exception as exc:
        row["imports"] = False
        row["stopped_by"] = f"{type(exc).__name__}: {_first_line(exc)}"
        return row
    row["imports"] = True
    row["import_s"] = time.perf_counter() - t0
    row["ir_ops"] = sorted({n.op for n in graph.nodes})
    if args.imports_only:
        return row
    quantize = f"{row['exporter']}:{row['opset']}" in args.quant_styles
    threads = numba.get_num_threads()
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    in_name = next(iter(graph.inputs))
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    ort_in = sess.get_inputs()[0].name
    ref = sess.run(None, {ort_in: x_ev})[0]
    try:
        flo = run_graph(graph, {in_name: x_ev})[graph.outputs[0]]
        row["float_vs_ort_rel"] = _rel(flo, ref)
    except Exception as exc:
        row["float_error"] = f"{type(exc).__name__}: {_first_line(exc)}"
        return row
    if not quantize:
        return row
    prep_max = None
    for method in ([] if args.ort_only else args.methods):
        key = method.replace("-", "").replace("+", "_")
        try:
            t0 = time.perf_counter()
            extra = {} if args.add_threshold is None else {"add_threshold": args.add_threshold}
            net = calibrate(graph, x_cal, recipe_config(method, 8, 8, **extra))
            row[f"calib_s_{key}"] = time.perf_counter() - t0
            prep = prepare(net)
            q = run_prepared(prep, x_ev).logits
            row[f"sqnr_{key}"] = sqnr_db(flo.reshape(len(x_ev), -1), q)
            row[f"agree_{key}"] = float(np.mean(np.argmax(q, 1) == np.argmax(flo.reshape(len(x_ev), -1), 1)))
            if method == "max":
                row["accelsim_ms_per_img"] = _time_per_image(lambda x: run_prepared(prep, x), x_ev, args.repeats)
                prep_max = prep
        except Exception as exc:
            row[f"error_{key}"] = f"{type(exc).__name__}: {_first_line(exc)}"
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        if args.skip_ort:
            row["threads"] = threads
            return row
        qpath = Path(tmp) / "q.onnx"
        try:
            t0 = time.perf_counter()
            ort_int8(path, x_cal, ort_in, qpath, args.ort_activations == "symmetric")
            row["ort_calib_s"] = time.perf_counter() - t0
            qs = ort.InferenceSession(str(qpath), so, providers=["CPUExecutionProvider"])
            oq = qs.run(None, {ort_in: x_ev})[0]
            row["ort_sqnr"] = sqnr_db(ref.reshape(len(x_ev), -1), oq.reshape(len(x_ev), -1))
            row["ort_agree"] = float(np.mean(np.argmax(oq.reshape(len(x_ev), -1), 1)
                                             == np.argmax(ref.reshape(len(x_ev), -1), 1)))
            row["ort_ms_per_img"] = _time_per_image(lambda x: qs.run(None, {ort_in: x}), x_ev, args.repeats)
        except Exception as exc:
            row["ort_error"] = f"{type(exc).__name__}: {_first_line(exc)}"
    if "sqnr_max" in row and "ort_sqnr" in row and row["sqnr_max"] < row["ort_sqnr"] - 1.0:
        row["layer_sqnr_max"] = _layer_sqnr(graph, prep_max, x_ev)  # an exception to the bar: where it goes
    row["threads"] = threads
    return row


def _layer_sqnr(graph, prep, x) -> dict:
    from accelsim.datapath import evaluate

    class Arr:
        labels = None

        def __len__(self):
            return len(x)

        def get(self, idx):
            return x[idx], None

    res = evaluate(graph, prep, Arr(), batch_size=len(x), progress=False)
    return {la.name: (None if la.sqnr_db is None else round(float(la.sqnr_db), 2)) for la in res.layers}


def evaluate_all(args) -> int:
    cache = Path(args.cache)
    rows = []
    if args.json and Path(args.json).exists() and args.resume:
        rows = [r for r in json.loads(Path(args.json).read_text())["rows"] if r.get("imports") is not None]
    done = {r["file"] for r in rows}
    for name in args.models:
        size = MODELS[name][2]
        inp = inputs_for(cache, size)
        if not inp.exists():
            print(f"{name}: no inputs file {inp}; run the export half first", file=sys.stderr)
            continue
        with np.load(inp) as z:
            x_cal, x_ev = z["calib"][: args.calib], z["eval"][: args.eval]
        for exporter in args.exporters:
            for opset in (args.opsets + [18] if exporter == "dynamo" and 18 not in args.opsets else args.opsets):
                path = file_for(cache, name, exporter, opset)
                if path.name in done:
                    continue
                if not path.exists():
                    failed = path.with_suffix(".failed")
                    why = failed.read_text().strip() if failed.exists() else "not exported"
                    row = {"file": path.name, "imports": None, "export_failed": why}
                else:
                    t0 = time.perf_counter()
                    row = evaluate_one(path, x_cal, x_ev, args, exporter, opset)
                    row["total_s"] = time.perf_counter() - t0
                row.update(model=name, exporter=exporter, opset=opset)
                rows.append(row)
                print(_line(row), flush=True)
                if args.json:
                    _write_json(args.json, rows)
    print()
    print(format_table(rows))
    return 0


def _write_json(path, rows) -> None:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_suffix(".tmp")
    tmp.write_text(json.dumps({"load": os.getloadavg(), "rows": rows}, indent=1) + "\n")
    tmp.replace(p)


def _f(v, fmt) -> str:
    return "-" if v is None else format(v, fmt)


def _line(r) -> str:
    head = f"{r['model']:<20} {r['exporter']:<11} op{r['opset']:<3}"
    if r.get("imports") is None:
        return f"{head} not exported: {r.get('export_failed', '')[:120]}"
    if not r["imports"]:
        return f"{head} STOPPED: {r['stopped_by'][:160]}"
    return head + " imports" + ("" if "float_vs_ort_rel" not in r else
                                f"  float rel {r['float_vs_ort_rel']:.1e}  SQNR kl-j {_f(r.get('sqnr_klj'), '.1f')}"
                                f" max {_f(r.get('sqnr_max'), '.1f')} ORT {_f(r.get('ort_sqnr'), '.1f')} dB")


def format_table(rows) -> str:
    cols = ["model", "exporter", "opset", "imports", "float rel err", "calib s (max)", "SQNR kl-j dB",
            "SQNR max dB", "ORT int8 SQNR dB", "agree kl-j/max/ORT", "ms/img accelsim", "ms/img ORT int8"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        if r.get("imports") is None:
            imp = "opset 18 only" if "opset 18" in r.get("export_failed", "") else "export failed"
        elif r["imports"]:
            imp = "yes"
        else:
            imp = "no: " + r["stopped_by"].split(": ", 1)[-1][:90]
        agree = "/".join(_f(r.get(k), ".2f") for k in ("agree_klj", "agree_max", "ort_agree"))
        lines.append("| " + " | ".join([
            r["model"], r["exporter"], str(r["opset"]), imp, _f(r.get("float_vs_ort_rel"), ".1e"),
            _f(r.get("calib_s_max"), ".1f"), _f(r.get("sqnr_klj"), ".1f"), _f(r.get("sqnr_max"), ".1f"),
            _f(r.get("ort_sqnr"), ".1f"), agree, _f(r.get("accelsim_ms_per_img"), ".1f"),
            _f(r.get("ort_ms_per_img"), ".1f")]) + " |")
    return "\n".join(lines)


def model_table(rows) -> str:
    """One line per model: imports per export style, worst float error, and the quantized numbers of
    the file that was quantized (TorchScript opset 17 by default)."""
    models = list(dict.fromkeys(r["model"] for r in rows))
    cols = ["model", "imports (TS op13 / TS op17 / dynamo)", "float max rel err vs ORT", "calib s kl-j / max",
            "SQNR kl-j dB", "SQNR max dB", "ORT int8 SQNR dB", "max - ORT dB", "agree kl-j/max/ORT",
            "ms/img accelsim / ORT int8"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for m in models:
        mine = [r for r in rows if r["model"] == m]

        def style(exporter, opsets):
            for r in mine:
                if r["exporter"] == exporter and r["opset"] in opsets and r.get("imports") is not None:
                    return ("yes" if r["imports"] else "no") + (f" (op{r['opset']})" if exporter == "dynamo" else "")
            return "not exported"

        imp = " / ".join([style("torchscript", (13,)), style("torchscript", (17,)), style("dynamo", (17, 18))])
        errs = [r["float_vs_ort_rel"] for r in mine if "float_vs_ort_rel" in r]
        q = next((r for r in mine if "sqnr_max" in r or "error_max" in r), {})
        stop = next((r["stopped_by"] for r in mine if r.get("imports") is False), "")
        if stop:
            imp += ": " + stop.split(".onnx: ", 1)[-1].split(";")[0][:110]
        delta = q["sqnr_max"] - q["ort_sqnr"] if "sqnr_max" in q and "ort_sqnr" in q else None
        agree = "/".join(_f(q.get(k), ".2f") for k in ("agree_klj", "agree_max", "ort_agree"))
        lines.append("| " + " | ".join([
            m, imp, _f(max(errs) if errs else None, ".1e"),
            f"{_f(q.get('calib_s_klj'), '.0f')} / {_f(q.get('calib_s_max'), '.0f')}",
            _f(q.get("sqnr_klj"), ".1f"), _f(q.get("sqnr_max"), ".1f"), _f(q.get("ort_sqnr"), ".1f"),
            _f(delta, "+.1f"), agree,
            f"{_f(q.get('accelsim_ms_per_img'), '.0f')} / {_f(q.get('ort_ms_per_img'), '.0f')}"]) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    tab = sub.add_parser("table", help="print the markdown table of a --json results file")
    tab.add_argument("json")
    tab.add_argument("--by-file", action="store_true", help="one line per exported file (default: per model)")
    for cmd in ("export", "evaluate"):
        p = sub.add_parser(cmd)
        p.add_argument("--models", nargs="+", choices=list(MODELS), default=None)
        p.add_argument("--quick", action="store_true", help=f"only {', '.join(QUICK)}, opset 17")
        p.add_argument("--opsets", nargs="+", type=int, default=list(OPSETS))
        p.add_argument("--exporters", nargs="+", choices=EXPORTERS, default=list(EXPORTERS))
        p.add_argument("--cache", default=str(CACHE), help=f"export folder (default {CACHE})")
    ev = sub.choices["evaluate"]
    ev.add_argument("--imports-only", action="store_true", help="only check that each file imports")
    ev.add_argument("--methods", nargs="+", default=["kl-j", "max"],
                    help="threshold methods or recipes of benchmarks/quant_methods.py, e.g. auto+u+bc+wout")
    ev.add_argument("--ort-activations", choices=["symmetric", "asymmetric"], default="symmetric",
                    help="onnxruntime int8 activations: symmetric, or its default asymmetric (zero point)")
    ev.add_argument("--calib", type=int, default=CALIB_N, help=f"calibration images (default {CALIB_N})")
    ev.add_argument("--eval", type=int, default=EVAL_N, help=f"evaluation images (default {EVAL_N})")
    ev.add_argument("--quant-styles", nargs="+", default=["torchscript:17", "dynamo:18"],
                    help="EXPORTER:OPSET files that are also quantized and timed (the others: import and "
                    "float check only; default torchscript:17 dynamo:18)")
    ev.add_argument("--add-threshold", choices=["inputs", "calibrated"], default=None,
                    help="quant.add_threshold for residual adds (default: accelsim's default)")
    ev.add_argument("--skip-ort", action="store_true", help="no onnxruntime int8 (e.g. a re-run of accelsim only)")
    ev.add_argument("--ort-only", action="store_true", help="no accelsim calibration (e.g. a re-run of the peer only)")
    ev.add_argument("--repeats", type=int, default=2, help="timing repeats (best kept)")
    ev.add_argument("--json", help="write the rows as JSON here (rewritten after each model)")
    ev.add_argument("--resume", action="store_true", help="keep the rows already in --json, skip their files")
    args = ap.parse_args(argv)
    if args.cmd == "table":
        data = json.loads(Path(args.json).read_text())
        print(format_table(data["rows"]) if args.by_file else model_table(data["rows"]))
        print(f"\n(load average when written: {', '.join(f'{v:.1f}' for v in data['load'])})")
        return 0
    if args.models is None:
        args.models = QUICK if args.quick else list(MODELS)
    if args.quick:
        args.opsets = [17]
    return export(args) if args.cmd == "export" else evaluate_all(args)


if __name__ == "__main__":
    sys.exit(main())
