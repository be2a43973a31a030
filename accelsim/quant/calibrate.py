"""One-batch calibration: float IR graph + a batch of images -> a quantized :class:`Network`.

The driver (DESIGN §3) walks the descriptor plan of :func:`accelsim.quant.lower.plan_layers` in
topological order. Every layer sees its inputs **already quantized**: the environment holds
*fake-quantized* floats (codes times step: ``quantize_tensor(x, s, b) * s``), so a later layer's
threshold accounts for the rounding and clipping of every earlier one. Per layer:

1. run the layer in float (:func:`accelsim.graph.executor.execute_node`) on the fake-quantized
   inputs, with weights fake-quantized per output channel (``T = max|w|``) and the bias as its
   integer accumulator value times ``s_in * s_w``, then any fused ``relu``/``clip``;
2. decide the output threshold T (by op):

   - conv / gemm / batchnorm / avgpool / mul / lut: the layer's threshold method on a
     :class:`~accelsim.quant.observers.HistogramObserver` of the float output (after the
     fused activation: "ReLU takes its threshold from the tensor after the ReLU");
   - maxpool / reshape: the input's threshold (codes pass through);
   - add: the larger input threshold; concat: the largest input threshold (DESIGN says the
     inputs *share* the output threshold; their producers are already calibrated when the
     concat is reached, so each input is requantized to it instead by its ``in<i>.*``
     parameters — the identity for the input that sets the threshold);
   - a tensor that was all zero gets T = 1 (0 is exact at any step);

3. compute the integers: weights, bias in accumulator units (saturated to ``bias_bits`` with
   a warning), requantization
   (:func:`accelsim.quant.requant.requant_params`), LUTs; fake-quantize the output into the
   environment. A MAC layer whose worst-case accumulator ``|bias| + qmax_in * sum|w_q|`` needs
   more than ``acc_bits`` gets a warning (``extra["acc_bound_bits"]``): the datapath then
   saturates or wraps partial sums as ``quant.overflow`` says, which the fake-quant float
   calibration does not model.

Arrays stored in ``Network.tensors`` (dtype): ``weight`` int8/int16 (smallest holding
``weight_bits``), ``bias`` int32 (int64 when ``bias_bits > 32``), ``pre_shift``/``post_shift``
int32, ``scale`` int64, ``lut`` int16 (codes of at most 16 bits), ``w_threshold``/``w_step``
float64, all per output channel (``[1]`` for single-multiplier ops: add/concat inputs, mul;
``avgpool`` stores one per channel).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np

from accelsim.config.quant import QuantConfig
from accelsim.errors import InputFileError
from accelsim.graph.executor import execute_node
from accelsim.graph.ir import Graph, Node
from accelsim.layers.arith import qmax, quantize_tensor, step_from_threshold
from accelsim.layers.descriptor import LayerDescriptor, Network, QuantParams
from accelsim.quant.lower import (
    LayerPlan,
    input_shapes_for,
    layer_bits,
    plan_layers,
    shape_descriptor,
)
from accelsim.quant.observers import HistogramObserver
from accelsim.quant.requant import (
    multiplier_error,
    quantize_bias,
    quantize_weights,
    requant_params,
)
from accelsim.quant.thresholds import choose_threshold

DEAD_THRESHOLD = 1.0
"""Threshold given to a tensor whose calibration values were all 0 (any step represents 0)."""


@dataclass(frozen=True)
class TensorQuant:
    """How one float tensor is coded: threshold T, step s = T / qmax(bits), bits."""

    threshold: float
    step: float
    bits: int


def _tq(threshold: float, bits: int) -> TensorQuant:
    t = float(threshold) if threshold > 0 else DEAD_THRESHOLD
    return TensorQuant(t, step_from_threshold(t, bits), bits)


def _fake(x: np.ndarray, tq: TensorQuant, lo: int | None = None, hi: int | None = None) -> np.ndarray:
    """Quantize then dequantize: ``clip(quantize_tensor(x), lo, hi) * s`` as float32."""
    q = quantize_tensor(x, tq.step, tq.bits)
    if lo is not None:
        q = np.clip(q, lo, hi)
    return (q * tq.step).astype(np.float32)


def check_calibration_data(graph: Graph, x: np.ndarray, source: str = "calibration data") -> np.ndarray:
    """Check a calibration batch against the model input; return it as float32.

    Raises
    ------
    InputFileError
        Not 4-D N x C x H x W, channel count or spatial size differing from the model input's,
        an empty batch, or NaN/Inf values (the message gives how many and the first index).
    """
    if len(graph.inputs) != 1:
        raise InputFileError(f"{source}: model {graph.name!r} has {len(graph.inputs)} inputs; calibration takes one")
    name, shp = next(iter(graph.inputs.items()))
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.number):
        raise InputFileError(f"{source}: expected numeric images, got dtype {x.dtype}")
    want = tuple(int(d) for d in shp[1:])
    if x.ndim != len(shp):
        raise InputFileError(
            f"{source}: shape {tuple(x.shape)} has {x.ndim} dims; model input {name!r} expects "
            f"{('N',) + want} (preprocessed N x C x H x W)"
        )
    if x.shape[0] < 1:
        raise InputFileError(f"{source}: empty batch (0 images)")
    if x.ndim == 4 and x.shape[1] != want[0]:
        raise InputFileError(
            f"{source}: {x.shape[1]} channel(s), model input {name!r} expects {want[0]} "
            f"(shape {('N',) + want}, got {tuple(x.shape)})"
        )
    if tuple(x.shape[1:]) != want:
        raise InputFileError(
            f"{source}: shape {tuple(x.shape)}, model input {name!r} expects {('N',) + want}"
        )
    x = x.astype(np.float32, copy=False)
    bad = ~np.isfinite(x)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise InputFileError(
            f"{source}: {int(bad.sum())} NaN/Inf value(s) in the calibration batch (first at index {first}); "
            f"calibration needs finite preprocessed images"
        )
    return x


def _threshold(y: np.ndarray, method: str, bits: int, qcfg: QuantConfig) -> float:
    obs = HistogramObserver()
    obs.update(y)
    return choose_threshold(obs.statistics(), method, bits, qcfg.percentile)


def _out_range(activation: str, fused: list[Node], tq: TensorQuant) -> tuple[int, int]:
    """Output code range after saturation and any fused relu/clip."""
    m = qmax(tq.bits)
    lo, hi = -m, m
    if activation == "relu":
        lo = 0
    elif activation == "clip":
        a = fused[0].attrs
        if a.get("min") is not None:
            lo = max(lo, int(math.floor(float(a["min"]) / tq.step + 0.5)))
        if a.get("max") is not None:
            hi = min(hi, int(math.floor(float(a["max"]) / tq.step + 0.5)))
    return lo, hi


def calibrate(graph: Graph, calib_x: np.ndarray, qcfg: QuantConfig | None = None,
              progress: Callable[[str], None] | None = None) -> Network:
    """Calibrate *graph* on one batch and return the quantized network (module docstring).

    Parameters
    ----------
    graph : float IR graph with one input (BatchNorm folded by the importer).
    calib_x : float images ``[N, C, H, W]``, preprocessed as the model expects.
    qcfg : bit widths, threshold method, ... (default :class:`QuantConfig`); ``calib_batch`` is
        not applied here: the caller draws the batch.
    progress : called with each layer name as it is calibrated (e.g. a tqdm update).

    Returns
    -------
    Network with every descriptor's ``quant`` set, its arrays in ``tensors`` and
    ``input_quant`` filled; ``meta`` records method, batch size, bits and dropped nodes.

    Raises
    ------
    InputFileError
        Bad calibration data (see :func:`check_calibration_data`).
    UnsupportedOpError
        An op or combination the integer path cannot express (names the node).
    ConfigError
        Unknown ``quant.layers`` names, a requantization multiplier beyond the scale width.
    """
    qcfg = qcfg or QuantConfig()
    x = check_calibration_data(graph, calib_x)
    in_name = next(iter(graph.inputs))
    shapes_in = input_shapes_for(graph, (x.shape[0],) + tuple(x.shape[1:]))
    plan = plan_layers(graph, shapes_in)
    per_layer, _ = layer_bits(plan, qcfg)
    params = graph.params

    env: dict[str, np.ndarray] = {}
    tq: dict[str, TensorQuant] = {}
    tensors: dict[str, np.ndarray] = {}
    last_use: dict[str, int] = {}
    for idx, lp in enumerate(plan.layers):
        for t in lp.inputs:
            last_use[t] = idx

    t_in = _tq(_threshold(x, qcfg.method, qcfg.act_bits, qcfg), qcfg.act_bits)
    tq[in_name] = t_in
    env[in_name] = _fake(x, t_in)

    layers: list[LayerDescriptor] = []
    for idx, lp in enumerate(plan.layers):
        if progress is not None:
            progress(lp.name)
        bits = per_layer[lp.name]
        ov = qcfg.layers.get(lp.name)
        method = ov.method if ov is not None and ov.method is not None else qcfg.method
        desc = shape_descriptor(lp, plan.shapes, graph, bits, qcfg)
        ins_q = [tq[t] for t in lp.inputs]
        xs = [env[t] for t in lp.inputs]
        out_bits = bits["out_bits"]
        extra = dict(desc.extra)
        op = lp.op
        node = lp.main

        if op in ("conv2d", "depthwise", "gemm"):
            y, t_out, lo, hi = _calibrate_mac(lp, desc, xs[0], ins_q[0], bits, method, qcfg, params, tensors, extra)
            used_method = method
        elif op in ("maxpool", "reshape"):
            y = execute_node(node, xs)[0]
            t_out = ins_q[0]
            lo, hi = -qmax(t_out.bits), qmax(t_out.bits)
            used_method = "input"
        elif op == "avgpool":
            y = execute_node(node, xs)[0]
            t_out = _tq(_threshold(y, method, out_bits, qcfg), out_bits)
            kh, kw = desc.kernel
            m = ins_q[0].step / (t_out.step * kh * kw)
            _store_requant(tensors, desc, "", np.full(desc.out_shape[1], m), qmax(ins_q[0].bits) * kh * kw,
                           qcfg, extra)
            lo, hi = -qmax(out_bits), qmax(out_bits)
            used_method = method
        elif op in ("add", "concat"):
            y = execute_node(node, xs)[0]
            for f in lp.fused:
                y = execute_node(f, [y])[0]
            t_out = _tq(max(q.threshold for q in ins_q), out_bits)
            for i, q in enumerate(ins_q):
                _store_requant(tensors, desc, f"in{i}.", np.array([q.step / t_out.step]), qmax(q.bits), qcfg, extra)
            lo, hi = _out_range(lp.activation, lp.fused, t_out)
            used_method = "max-of-inputs"
        elif op == "mul":
            y = execute_node(node, xs)[0]
            for f in lp.fused:
                y = execute_node(f, [y])[0]
            t_out = _tq(_threshold(y, method, out_bits, qcfg), out_bits)
            m = ins_q[0].step * ins_q[1].step / t_out.step
            _store_requant(tensors, desc, "", np.array([m]), qmax(ins_q[0].bits) * qmax(ins_q[1].bits), qcfg, extra)
            lo, hi = _out_range(lp.activation, lp.fused, t_out)
            used_method = method
        elif op == "lut":
            y = execute_node(node, xs)[0]
            t_out = _tq(_threshold(y, method, out_bits, qcfg), out_bits)
            m_in = qmax(ins_q[0].bits)
            codes = np.arange(-m_in, m_in + 1, dtype=np.float64)
            vals = execute_node(node, [(codes * ins_q[0].step).astype(np.float32)])[0]
            table = quantize_tensor(vals, t_out.step, out_bits)
            tensors[desc.key("lut")] = table.astype(np.int16)
            lo, hi = -qmax(out_bits), qmax(out_bits)
            used_method = method
            # exact integer result of the table on the fake-quantized input codes
            cin = quantize_tensor(xs[0], ins_q[0].step, ins_q[0].bits)
            env[lp.output] = (table[cin + m_in] * t_out.step).astype(np.float32)
        else:  # pragma: no cover - plan_layers only yields the kinds above
            raise AssertionError(op)

        if op != "lut":
            env[lp.output] = y if op in ("maxpool", "reshape") else _fake(y, t_out, lo, hi)
        tq[lp.output] = t_out
        quant = QuantParams(
            in_thresholds=tuple(q.threshold for q in ins_q), in_steps=tuple(q.step for q in ins_q),
            out_threshold=t_out.threshold, out_step=t_out.step, out_min=int(lo), out_max=int(hi),
            weight_per_channel=qcfg.per_channel, scale_bits=qcfg.scale_bits, overflow=qcfg.overflow,
            method=used_method,
        )
        layers.append(_replace(desc, quant=quant, extra=extra))
        for t in lp.inputs:
            if last_use.get(t) == idx and t not in plan.outputs:
                env.pop(t, None)

    meta = {
        "source": graph.name,
        "quantized": True,
        "method": qcfg.method,
        "calib_images": int(x.shape[0]),
        "weight_bits": qcfg.weight_bits,
        "act_bits": qcfg.act_bits,
        "per_channel": qcfg.per_channel,
        "float_outputs": list(graph.outputs),
    }
    if plan.dropped:
        meta["dropped"] = list(plan.dropped)
    return Network(
        name=graph.name, layers=tuple(layers), inputs=(in_name,), outputs=tuple(plan.outputs),
        tensors=tensors, input_quant={in_name: (t_in.threshold, t_in.step, t_in.bits)}, meta=meta,
    )


def _replace(desc: LayerDescriptor, **kw) -> LayerDescriptor:
    from dataclasses import replace

    return replace(desc, **kw)


def _store_requant(tensors: dict, desc: LayerDescriptor, prefix: str, m: np.ndarray, acc_bound,
                   qcfg: QuantConfig, extra: dict) -> None:
    pre, scale, post = requant_params(m, acc_bound, qcfg.scale_bits, qcfg.acc_bits, where=desc.name)
    tensors[desc.key(prefix + "pre_shift")] = pre
    tensors[desc.key(prefix + "scale")] = scale
    tensors[desc.key(prefix + "post_shift")] = post
    err = float(multiplier_error(m, pre, scale, post).max())
    extra["requant_max_rel_error"] = max(err, float(extra.get("requant_max_rel_error", 0.0)))


def _calibrate_mac(lp: LayerPlan, desc: LayerDescriptor, x: np.ndarray, t_in: TensorQuant,
                   bits: dict[str, int], method: str, qcfg: QuantConfig, params: dict,
                   tensors: dict, extra: dict):
    """conv2d / depthwise / gemm (incl. a lowered batchnorm): weights, bias, threshold, requant."""
    node = lp.main
    if node.op == "batchnorm":
        w = np.asarray(params[node.inputs[1]], dtype=np.float64).reshape(-1, 1, 1, 1)
        b = np.asarray(params[node.inputs[2]], dtype=np.float64)
    else:
        w = np.asarray(params[node.inputs[1]], dtype=np.float64)
        b = np.asarray(params[node.inputs[2]], dtype=np.float64) if len(node.inputs) > 2 else None
    wb, ob = bits["weight_bits"], bits["out_bits"]
    wq, w_t, w_s = quantize_weights(w, wb, qcfg.per_channel)
    acc_step = t_in.step * w_s
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        bq = quantize_bias(b, acc_step, qcfg.bias_bits, where=desc.name)
    for wmsg in caught:
        warnings.warn(str(wmsg.message), UserWarning, stacklevel=3)
        extra["bias_saturated"] = True
    shape = (-1,) + (1,) * (w.ndim - 1)
    w_fake = (wq.astype(np.float64) * w_s.reshape(shape)).astype(np.float32)
    b_fake = (bq.astype(np.float64) * acc_step).astype(np.float32)
    if node.op == "batchnorm":
        c = w.shape[0]
        conv = Node(node.name, "conv", ["x", "w", "b"], node.outputs,
                    {"kernel": (1, 1), "stride": (1, 1), "padding": (0, 0, 0, 0), "dilation": (1, 1), "groups": c})
        xin = x if x.ndim == 4 else x.reshape(x.shape[0], x.shape[1], 1, 1)
        y = execute_node(conv, [xin, w_fake, b_fake])[0].reshape(x.shape)
    else:
        y = execute_node(node, [x, w_fake, b_fake])[0]
    for f in lp.fused:
        y = execute_node(f, [y])[0]
    t_out = _tq(_threshold(y, method, ob, qcfg), ob)
    lo, hi = _out_range(lp.activation, lp.fused, t_out)
    m = acc_step / t_out.step
    acc_bound = np.abs(bq.astype(np.float64)) + qmax(t_in.bits) * np.abs(
        wq.reshape(wq.shape[0], -1).astype(np.float64)).sum(axis=1)
    need = int(math.ceil(math.log2(float(acc_bound.max()) + 1.0))) + 1  # signed bits of the worst case
    extra["acc_bound_bits"] = need
    if need > qcfg.acc_bits:
        warnings.warn(
            f"layer {desc.name!r}: worst-case accumulator needs {need} bits > quant.acc_bits={qcfg.acc_bits}; "
            f"partial sums may overflow (quant.overflow={qcfg.overflow}); raise quant.acc_bits to {need}",
            UserWarning, stacklevel=3)
    tensors[desc.key("weight")] = wq
    tensors[desc.key("bias")] = bq
    tensors[desc.key("w_threshold")] = w_t
    tensors[desc.key("w_step")] = w_s
    _store_requant(tensors, desc, "", m, acc_bound, qcfg, extra)
    return y, t_out, lo, hi


__all__ = ["DEAD_THRESHOLD", "TensorQuant", "calibrate", "check_calibration_data"]
