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
   - add: the larger input threshold, raised to the method's threshold on the sum when that is
     larger (``quant.add_threshold: calibrated``, the default; ``inputs`` keeps DESIGN's rule of the
     larger input threshold alone); concat: the largest input threshold (DESIGN says the
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
from accelsim.errors import InputFileError, UnsupportedOpError
from accelsim.graph.executor import execute_node
from accelsim.graph.fuse import affine_params, per_sample
from accelsim.graph.ir import Graph, Node
from accelsim.layers.arith import code_range, qmax, quantize_tensor, step_from_threshold
from accelsim.layers.descriptor import LayerDescriptor, Network, QuantParams
from accelsim.quant.lower import (
    RESIZE_WEIGHT_BITS,
    LayerPlan,
    concat_index,
    input_shapes_for,
    layer_bits,
    movement_index,
    plan_layers,
    resize_taps,
    shape_descriptor,
)
from accelsim.quant.observers import HistogramObserver
from accelsim.quant.requant import (
    int_dtype,
    multiplier_error,
    quantize_bias,
    quantize_weights,
    requant_params,
)
from accelsim.quant.thresholds import choose_threshold, choose_threshold_auto

DEAD_THRESHOLD = 1.0
"""Threshold given to a tensor whose calibration values were all 0 (any step represents 0)."""


@dataclass(frozen=True)
class TensorQuant:
    """How one float tensor is coded: threshold T, step s = T / hi, bits, signed or unsigned.

    Signed codes lie in ``[-qmax(bits), qmax(bits)]``; unsigned ones (a tensor that cannot be
    negative, ``quant.unsigned_activations``) in ``[0, 2**bits - 1]``.
    """

    threshold: float
    step: float
    bits: int
    unsigned: bool = False

    @property
    def lo(self) -> int:
        """Lowest code."""
        return code_range(self.bits, self.unsigned)[0]

    @property
    def hi(self) -> int:
        """Highest code (also the largest code magnitude, for accumulator bounds)."""
        return code_range(self.bits, self.unsigned)[1]


def _tq(threshold: float, bits: int, unsigned: bool = False, where: str = "") -> TensorQuant:
    """The tensor's quantization at *threshold*; an all-zero tensor falls back to :data:`DEAD_THRESHOLD`
    with a warning naming *where* (a fallback is never silent)."""
    if threshold > 0:
        t = float(threshold)
    else:
        t = DEAD_THRESHOLD
        if where:
            warnings.warn(f"{where}: every calibration value is 0; threshold set to {DEAD_THRESHOLD:g} "
                          "(any step codes 0; check the calibration data)", UserWarning, stacklevel=3)
    return TensorQuant(t, step_from_threshold(t, bits, unsigned), bits, unsigned)


def _codes(x: np.ndarray, tq: TensorQuant) -> np.ndarray:
    """Float -> int64 codes of *tq* (round half up, clipped to its code range)."""
    if not tq.unsigned:
        return quantize_tensor(x, tq.step, tq.bits)
    return np.clip(np.floor(np.asarray(x, dtype=np.float64) / tq.step + 0.5), 0, tq.hi).astype(np.int64)


def _fake(x: np.ndarray, tq: TensorQuant, lo: int | None = None, hi: int | None = None) -> np.ndarray:
    """Quantize then dequantize: ``clip(codes(x), lo, hi) * s`` as float32."""
    q = _codes(x, tq)
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


def _choose(y: np.ndarray, method: str, bits: int, qcfg: QuantConfig, unsigned: bool = False,
            out_range: Callable[[TensorQuant], tuple[int, int]] | None = None, where: str = ""
            ) -> tuple[TensorQuant, str]:
    """Output quantization of tensor *y* and the method that chose it.

    ``method="auto"`` scores every method's threshold by the mean squared error between the
    fake-quantized *y* (clipped to ``out_range(tq)``) and *y* itself: the layer's float output on
    its (already quantized) inputs. Measured (bundled model, 4-bit activations, 2,000 test
    images): 89.7 % top-1 against 88.6 % when scored against the float model's tensor, whose
    difference carries every earlier layer's error that no threshold of this layer can undo.
    """
    obs = HistogramObserver()
    obs.update(y)
    stats = obs.statistics()
    if method != "auto":
        return _tq(choose_threshold(stats, method, bits, qcfg.percentile, unsigned), bits, unsigned, where), method

    def error(t: float) -> float:
        tq = _tq(t, bits, unsigned)
        lo, hi = out_range(tq) if out_range is not None else (None, None)
        return float(np.mean((_fake(y, tq, lo, hi).astype(np.float64) - y) ** 2))

    name, t = choose_threshold_auto(stats, bits, error, qcfg.percentile, unsigned)
    return _tq(t, bits, unsigned, where), f"auto:{name}"


def _out_range(activation: str, fused: list[Node], tq: TensorQuant) -> tuple[int, int]:
    """Output code range after saturation and any fused relu/clip."""
    lo, hi = tq.lo, tq.hi
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

    # the float model's own tensors, for bias correction (the error it removes is against them)
    fenv: dict[str, np.ndarray] | None = {in_name: x} if qcfg.bias_correction else None
    signed_only = _lut_fed_tensors(plan)

    t_in, in_method = _choose(x, qcfg.method, qcfg.act_bits, qcfg, where=f"model input {in_name!r}")
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
        extra = dict(desc.extra)
        ref_pre = ref = None
        if fenv is not None:
            ref_pre, ref = _float_layer(lp, fenv, params)
            fenv[lp.output] = ref
        unsigned = qcfg.unsigned_activations and lp.output not in signed_only and _non_negative(lp, ins_q)
        job = _Layer(lp, desc, [env[t] for t in lp.inputs], ins_q, bits, method, qcfg, params, tensors, extra,
                     plan.shapes, unsigned, ref_pre)
        res = _CALIBRATORS[lp.op](job)
        t_out, lo, hi, used_method = res.tq, res.lo, res.hi, res.method
        env[lp.output] = res.env
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
                if fenv is not None:
                    fenv.pop(t, None)

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
    for key, default in (("weight_method", "max"), ("bias_correction", False), ("unsigned_activations", False)):
        if getattr(qcfg, key) != default:  # recorded only when set, so default networks stay as they were
            meta[key] = getattr(qcfg, key)
    if in_method != qcfg.method:
        meta["input_method"] = in_method
    return Network(
        name=graph.name, layers=tuple(layers), inputs=(in_name,), outputs=tuple(plan.outputs),
        tensors=tensors, input_quant={in_name: (t_in.threshold, t_in.step, t_in.bits)}, meta=meta,
    )


@dataclass
class _Layer:
    """What a per-op calibrator gets: the plan, its shape-only descriptor, the fake-quantized
    inputs and their quantization, bit widths, the threshold method, the config and where to put
    arrays (``tensors``) and traceability facts (``extra``)."""

    lp: LayerPlan
    desc: LayerDescriptor
    xs: list[np.ndarray]
    ins_q: list[TensorQuant]
    bits: dict[str, int]
    method: str
    qcfg: QuantConfig
    params: dict
    tensors: dict
    extra: dict
    shapes: dict
    unsigned: bool = False
    """The output cannot be negative and ``quant.unsigned_activations`` is on: codes 0 .. 2**b - 1."""
    ref_pre: np.ndarray | None = None
    """The float model's output of the main node (bias correction only)."""
    chosen: str = ""
    """The method that chose the output threshold (``auto:<name>`` under auto)."""

    @property
    def out_bits(self) -> int:
        return self.bits["out_bits"]

    def run_float(self, xs: list[np.ndarray] | None = None) -> np.ndarray:
        """The layer's main node then its fused nodes, in float, on *xs* (default: the inputs)."""
        y = execute_node(self.lp.main, self.xs if xs is None else xs)[0]
        for f in self.lp.fused:
            y = execute_node(f, [y])[0]
        return y

    def out_tq(self, y: np.ndarray) -> TensorQuant:
        """Output quantization chosen by the layer's threshold method on *y* (recorded in ``chosen``)."""
        def out_range(t: TensorQuant) -> tuple[int, int]:
            return _out_range(self.lp.activation, self.lp.fused, t)

        t, self.chosen = _choose(y, self.method, self.out_bits, self.qcfg, self.unsigned, out_range,
                                 where=f"layer {self.desc.name!r}")
        return t

    def requant(self, prefix: str, m: np.ndarray, acc_bound) -> None:
        _store_requant(self.tensors, self.desc, prefix, m, acc_bound, self.qcfg, self.extra)


@dataclass
class _Result:
    env: np.ndarray
    """Fake-quantized output (codes x step) that later layers see."""
    tq: TensorQuant
    lo: int
    hi: int
    method: str


def _cal_mac(job: _Layer) -> _Result:
    y, t_out, lo, hi, used = _calibrate_mac(job.lp, job.desc, job.xs[0], job.ins_q[0], job.bits, job.method,
                                            job.qcfg, job.params, job.tensors, job.extra, job.unsigned, job.ref_pre)
    return _Result(_fake(y, t_out, lo, hi), t_out, lo, hi, used)


def _cal_pass_through(job: _Layer) -> _Result:
    """maxpool, reshape: the output codes are input codes (same step)."""
    t = job.ins_q[0]
    return _Result(job.run_float(), t, t.lo, t.hi, "input")


def _cal_avgpool(job: _Layer) -> _Result:
    y = job.run_float()
    t_out = job.out_tq(y)
    kh, kw = job.desc.kernel
    m = job.ins_q[0].step / (t_out.step * kh * kw)
    job.requant("", np.full(job.desc.out_shape[1], m), job.ins_q[0].hi * kh * kw)
    lo, hi = t_out.lo, t_out.hi
    return _Result(_fake(y, t_out, lo, hi), t_out, lo, hi, job.chosen)


def _cal_add_concat(job: _Layer) -> _Result:
    """add, concat: the output takes the largest input threshold; each input is requantized to it."""
    y = job.run_float()
    t_out = _tq(max(q.threshold for q in job.ins_q), job.out_bits, job.unsigned)
    method = "max-of-inputs"
    if job.desc.op == "add" and job.qcfg.add_threshold == "calibrated":  # a sum can exceed both inputs
        t_own = job.out_tq(y)
        if t_own.threshold > t_out.threshold:
            t_out, method = t_own, job.chosen
    for i, q in enumerate(job.ins_q):
        job.requant(f"in{i}.", np.array([q.step / t_out.step]), q.hi)
    lo, hi = _out_range(job.lp.activation, job.lp.fused, t_out)
    if job.desc.op == "concat" and "axis" in job.extra:
        in_shapes = [job.shapes[t] for t in job.lp.inputs]
        job.tensors[job.desc.key("index")] = concat_index(in_shapes, job.extra["axis"]).astype(np.int32)
    return _Result(_fake(y, t_out, lo, hi), t_out, lo, hi, method)


def _cal_mul(job: _Layer) -> _Result:
    y = job.run_float()
    t_out = job.out_tq(y)
    a, b = job.ins_q
    job.requant("", np.array([a.step * b.step / t_out.step]), a.hi * b.hi)
    lo, hi = _out_range(job.lp.activation, job.lp.fused, t_out)
    return _Result(_fake(y, t_out, lo, hi), t_out, lo, hi, job.chosen)


def _cal_lut(job: _Layer) -> _Result:
    node = job.lp.main
    t_in = job.ins_q[0]
    m_in = qmax(t_in.bits)  # a lut's input is always signed (see _lut_fed_tensors)
    codes = np.arange(-m_in, m_in + 1, dtype=np.float64)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):  # reported below, by node
        vals = execute_node(node, [(codes * t_in.step).astype(np.float32)])[0]
    if not np.all(np.isfinite(vals)):  # checked first: the (fake-quantized) inputs are table entries
        bad = float(codes[~np.isfinite(vals)][0] * t_in.step)
        raise UnsupportedOpError(
            f"node {node.name!r}: {job.desc.extra.get('function', node.op)} is not finite at input {bad:g} inside "
            f"the calibrated input range [-{t_in.threshold:g}, {t_in.threshold:g}]; it cannot be a lookup table")
    y = execute_node(node, job.xs)[0]
    t_out = job.out_tq(y)
    table = _codes(vals, t_out)
    job.tensors[job.desc.key("lut")] = table.astype(np.int16)
    lo, hi = t_out.lo, t_out.hi
    # exact integer result of the table on the fake-quantized input codes
    cin = quantize_tensor(job.xs[0], t_in.step, t_in.bits)
    return _Result((table[cin + m_in] * t_out.step).astype(np.float32), t_out, lo, hi, job.chosen)


def _quantize_const(w: np.ndarray, bits: int, out_c: int) -> tuple[np.ndarray, np.ndarray]:
    """Codes of a per-sample constant ``[c', h', w']`` and its step per output channel ``[out_c]``:
    threshold ``max|w|`` per channel when ``w`` has a channel axis, else over the whole constant."""
    w = np.asarray(w, dtype=np.float64)
    per_c = w.shape[0] == out_c and out_c > 1
    t = np.abs(w.reshape(w.shape[0], -1)).max(axis=1) if per_c else np.full(1, np.abs(w).max())
    t = np.where(t > 0, t, 1.0)
    s = t / qmax(bits)
    q = quantize_tensor(w, s.reshape((-1,) + (1,) * (w.ndim - 1)) if per_c else float(s[0]), bits)
    return q, (s if per_c else np.full(out_c, s[0]))


def _to3d(c: np.ndarray) -> np.ndarray:
    """A per-sample constant of rank 1-3 laid out like :func:`~accelsim.quant.lower.to4d` lays out
    its activation (trailing axes of size 1 added)."""
    c = np.asarray(c, dtype=np.float64)
    return c.reshape(c.shape + (1,) * (3 - c.ndim))


def _cal_affine(job: _Layer) -> _Result:
    """``x * w + b``: w coded like weights (per channel when it has a channel axis), b in
    accumulator units ``s_in * s_w[c]``, one requantization per channel."""
    node = job.lp.main
    c = job.desc.out_shape[1]
    t_in = job.ins_q[0]
    _, w, b = affine_params(node, job.params, job.shapes[job.lp.inputs[0]])
    w, b = _to3d(w), _to3d(b)
    wq, s_w = _quantize_const(w, job.bits["weight_bits"], c)
    s_c = s_w.reshape(-1, 1, 1)
    hi_b = qmax(job.qcfg.bias_bits)
    raw = np.floor(b / (t_in.step * s_c) + 0.5)
    n_sat = int(np.count_nonzero(np.abs(raw) > hi_b))
    if n_sat:  # the same clamp and words as quantize_bias: never silent
        warnings.warn(f"layer {job.desc.name!r}: {n_sat} bias value(s) saturated to {job.qcfg.bias_bits} bits",
                      UserWarning, stacklevel=2)
    bq = np.clip(raw, -hi_b, hi_b).astype(np.int64)
    x = job.xs[0]
    x4 = x.astype(np.float64).reshape((x.shape[0],) + tuple(job.desc.in_shape[1:]))
    y = (x4 * (wq * s_c) + bq * (t_in.step * s_c)).astype(np.float32).reshape(x.shape)
    for f in job.lp.fused:
        y = execute_node(f, [y])[0]
    t_out = job.out_tq(y)
    lo, hi = _out_range(job.lp.activation, job.lp.fused, t_out)
    bound = (np.abs(bq) + t_in.hi * np.abs(wq)).reshape(c, -1).max(axis=1)
    job.tensors[job.desc.key("weight")] = wq.astype(int_dtype(job.bits["weight_bits"]))
    job.tensors[job.desc.key("bias")] = bq
    job.requant("", t_in.step * s_w / t_out.step, bound)
    return _Result(_fake(y, t_out, lo, hi), t_out, lo, hi, job.chosen)


def _cal_prelu(job: _Layer) -> _Result:
    """Positive side requantized by ``s_in / s_out``, negative side ``x * slope`` by
    ``s_in * s_slope[c] / s_out`` (slope coded like a per-channel weight)."""
    node = job.lp.main
    c = job.desc.out_shape[1]
    if node.op == "leaky_relu":
        slope = np.full((1, 1, 1), float(node.attrs.get("alpha", 0.01)))
    else:
        sample = per_sample(job.params[node.inputs[1]], len(job.shapes[job.lp.inputs[0]]))
        slope = None if sample is None else _to3d(sample)
        if slope is None or slope.shape[1:] != (1, 1) or slope.shape[0] not in (1, c):
            raise UnsupportedOpError(
                f"node {node.name!r}: PRelu slope of shape {tuple(job.params[node.inputs[1]].shape)}; the integer "
                f"prelu takes a scalar or per-channel slope ([C, 1, 1])")
    t_in = job.ins_q[0]
    aq, s_a = _quantize_const(slope, job.bits["weight_bits"], c)
    x = job.xs[0]
    x4 = x.astype(np.float64).reshape((x.shape[0],) + tuple(job.desc.in_shape[1:]))
    y = np.where(x4 >= 0, x4, x4 * (aq * s_a.reshape(-1, 1, 1))).astype(np.float32).reshape(x.shape)
    for f in job.lp.fused:
        y = execute_node(f, [y])[0]
    t_out = job.out_tq(y)
    lo, hi = _out_range(job.lp.activation, job.lp.fused, t_out)
    job.tensors[job.desc.key("weight")] = aq.astype(int_dtype(job.bits["weight_bits"]))
    job.requant("pos.", np.array([t_in.step / t_out.step]), t_in.hi)
    job.requant("", t_in.step * s_a / t_out.step, t_in.hi * max(1, int(np.abs(aq).max())))
    return _Result(_fake(y, t_out, lo, hi), t_out, lo, hi, job.chosen)


def _cal_gather(job: _Layer) -> _Result:
    """Data movement: codes pass through (same step); pad constants become codes of that step."""
    t = job.ins_q[0]
    index, fills = movement_index([job.lp.main] + job.lp.fused, job.shapes[job.lp.inputs[0]])
    job.tensors[job.desc.key("index")] = index.astype(np.int32)
    job.tensors[job.desc.key("fill")] = _codes(np.asarray(fills, np.float64), t).astype(np.int32)
    y = job.run_float()
    return _Result(_fake(y, t), t, t.lo, t.hi, "input")


def _cal_resize(job: _Layer) -> _Result:
    """Bilinear: a convex combination, so the output keeps the input threshold; the fixed-point
    weights' scale ``2**-2F`` is the requantization."""
    t = job.ins_q[0]
    taps = resize_taps(job.lp.main, job.shapes[job.lp.inputs[0]])
    for k, v in taps.items():
        job.tensors[job.desc.key(k)] = v
    t_out = _tq(t.threshold, job.out_bits, job.unsigned)
    one = float(1 << (2 * RESIZE_WEIGHT_BITS))
    job.requant("", np.array([t.step / (t_out.step * one)]), t.hi * one)
    lo, hi = t_out.lo, t_out.hi
    return _Result(_fake(job.run_float(), t_out, lo, hi), t_out, lo, hi, "input")


_CALIBRATORS: dict[str, Callable[[_Layer], _Result]] = {
    "conv2d": _cal_mac,
    "depthwise": _cal_mac,
    "gemm": _cal_mac,
    "maxpool": _cal_pass_through,
    "reshape": _cal_pass_through,
    "avgpool": _cal_avgpool,
    "add": _cal_add_concat,
    "concat": _cal_add_concat,
    "mul": _cal_mul,
    "lut": _cal_lut,
    "affine": _cal_affine,
    "prelu": _cal_prelu,
    "gather": _cal_gather,
    "resize": _cal_resize,
}
"""Descriptor op kind -> its calibrator (every kind :func:`~accelsim.quant.lower.plan_layers` yields)."""


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


_NON_NEGATIVE_LUTS = ("relu", "sigmoid", "hard_sigmoid")
_PASS_THROUGH = ("maxpool", "reshape", "gather")


def _lut_fed_tensors(plan) -> set[str]:
    """Tensors whose codes must stay signed: a ``lut`` indexes its table by ``code + qmax``.

    Followed back through maxpool/reshape/gather, which pass their input codes through.
    """
    signed: set[str] = set()
    for lp in reversed(plan.layers):
        if lp.op == "lut" or (lp.op in _PASS_THROUGH and lp.output in signed):
            signed.update(lp.inputs)
    return signed


def _clip_min(node: Node) -> float | None:
    v = node.attrs.get("min")
    return None if v is None else float(v)


def _non_negative(lp: LayerPlan, ins_q: list[TensorQuant]) -> bool:
    """True when layer *lp*'s output cannot be negative (so it may use unsigned codes).

    After a fused ReLU, or a clip with ``min >= 0`` (ReLU6); a maxpool, reshape or avgpool of an
    unsigned tensor; a concat of unsigned tensors; a relu/sigmoid/hard_sigmoid (or clip with
    ``min >= 0``) table.
    """
    if lp.activation == "relu":
        return True
    if lp.activation == "clip":
        lo = _clip_min(lp.fused[0])
        return lo is not None and lo >= 0.0
    if lp.op in ("maxpool", "reshape", "gather", "avgpool", "resize", "concat"):
        return all(q.unsigned for q in ins_q)
    if lp.op == "lut":
        fn = lp.main.op
        if fn == "clip":
            lo = _clip_min(lp.main)
            return lo is not None and lo >= 0.0
        return fn in _NON_NEGATIVE_LUTS
    return False


def _float_layer(lp: LayerPlan, fenv: dict[str, np.ndarray], params: dict) -> tuple[np.ndarray, np.ndarray]:
    """The float model's output of layer *lp*: (main node output, after any fused activation)."""
    node = lp.main
    xs = [fenv[t] if t in fenv else params.get(t) for t in node.inputs]
    pre = execute_node(node, xs)[0]
    post = pre
    for f in lp.fused:
        post = execute_node(f, [post])[0]
    return pre, post


def _mac_forward(lp: LayerPlan, x: np.ndarray, w_fake: np.ndarray, b_fake: np.ndarray) -> np.ndarray:
    """The MAC layer's main node in float on fake-quantized operands (before any fused activation)."""
    node = lp.main
    if node.op == "batchnorm":
        c = w_fake.shape[0]
        conv = Node(node.name, "conv", ["x", "w", "b"], node.outputs,
                    {"kernel": (1, 1), "stride": (1, 1), "padding": (0, 0, 0, 0), "dilation": (1, 1), "groups": c})
        xin = x if x.ndim == 4 else x.reshape(x.shape[0], x.shape[1], 1, 1)
        return execute_node(conv, [xin, w_fake, b_fake])[0].reshape(x.shape)
    return execute_node(node, [x, w_fake, b_fake])[0]


def _output_weights(lp: LayerPlan, x: np.ndarray, w: np.ndarray, bits: int, per_channel: bool
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weight codes, thresholds and steps of ``weight_method: output`` for a MAC layer on its
    (fake-quantized) calibration input *x* (:func:`accelsim.quant.weights.output_thresholds`)."""
    from accelsim.quant.requant import MSE_WEIGHT_GRID
    from accelsim.quant.weights import input_gram, output_thresholds

    node = lp.main
    if node.op == "batchnorm":  # a lone BatchNorm is a 1x1 depthwise layer: one input per channel
        xin, attrs = (x if x.ndim == 4 else x.reshape(x.shape[0], x.shape[1], 1, 1)), {"groups": int(w.shape[0])}
    elif node.op == "gemm":
        xin, attrs = x.reshape(x.shape[0], -1), None
    else:
        xin, attrs = x, node.attrs
    gram, group = input_gram(xin, w.shape, attrs)
    t = output_thresholds(w.reshape(w.shape[0], -1), bits, gram, group, MSE_WEIGHT_GRID, per_channel)
    t = np.where(t > 0, t, 1.0)
    s = t / qmax(bits)
    q = quantize_tensor(w, s.reshape((-1,) + (1,) * (w.ndim - 1)), bits)
    return q.astype(int_dtype(bits)), t, s


def bias_correction(y_pre: np.ndarray, ref_pre: np.ndarray, acc_step: np.ndarray) -> np.ndarray:
    """Integer bias change per output channel: ``-round_half_up(mean(y_pre - ref_pre) / acc_step)``.

    *y_pre* is the layer's pre-activation output on the quantized path, *ref_pre* the float
    model's, both ``[N, C, ...]``; the mean runs over every axis but the channel axis 1.
    """
    axes = tuple(i for i in range(y_pre.ndim) if i != 1)
    err = (np.asarray(y_pre, np.float64) - np.asarray(ref_pre, np.float64)).mean(axis=axes)
    return -np.floor(err / acc_step + 0.5)


def _calibrate_mac(lp: LayerPlan, desc: LayerDescriptor, x: np.ndarray, t_in: TensorQuant,
                   bits: dict[str, int], method: str, qcfg: QuantConfig, params: dict,
                   tensors: dict, extra: dict, unsigned: bool = False, ref_pre: np.ndarray | None = None):
    """conv2d / depthwise / gemm (incl. a lowered batchnorm): weights, bias, threshold, requant."""
    node = lp.main
    if node.op == "batchnorm":
        w = np.asarray(params[node.inputs[1]], dtype=np.float64).reshape(-1, 1, 1, 1)
        b = np.asarray(params[node.inputs[2]], dtype=np.float64)
    else:
        w = np.asarray(params[node.inputs[1]], dtype=np.float64)
        b = np.asarray(params[node.inputs[2]], dtype=np.float64) if len(node.inputs) > 2 else None
    wb, ob = bits["weight_bits"], bits["out_bits"]
    ov = qcfg.layers.get(lp.name)
    w_method = ov.weight_method if ov is not None and ov.weight_method is not None else qcfg.weight_method
    if w_method == "output":
        wq, w_t, w_s = _output_weights(lp, x, w, wb, qcfg.per_channel)
    else:
        wq, w_t, w_s = quantize_weights(w, wb, qcfg.per_channel, w_method)
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
    y = _mac_forward(lp, x, w_fake, b_fake)
    if qcfg.bias_correction and ref_pre is not None:
        delta = bias_correction(y, ref_pre, acc_step)
        hi_b = qmax(qcfg.bias_bits)
        bq = np.clip(bq.astype(np.float64) + delta, -hi_b, hi_b).astype(bq.dtype)
        extra["bias_correction_max_codes"] = float(np.abs(delta).max(initial=0.0))
        b_fake = (bq.astype(np.float64) * acc_step).astype(np.float32)
        y = _mac_forward(lp, x, w_fake, b_fake)
    for f in lp.fused:
        y = execute_node(f, [y])[0]

    def out_range(t: TensorQuant) -> tuple[int, int]:
        return _out_range(lp.activation, lp.fused, t)

    t_out, used_method = _choose(y, method, ob, qcfg, unsigned, out_range, where=f"layer {desc.name!r}")
    lo, hi = out_range(t_out)
    m = acc_step / t_out.step
    acc_bound = np.abs(bq.astype(np.float64)) + t_in.hi * np.abs(
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
    return y, t_out, lo, hi, used_method


__all__ = ["DEAD_THRESHOLD", "TensorQuant", "bias_correction", "calibrate", "check_calibration_data"]
