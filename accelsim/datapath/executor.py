"""The network executor: a quantized :class:`~accelsim.layers.Network` run on integer codes.

:func:`prepare` checks a network once (every array present, every bit width and code in the
range its descriptor allows) and converts its arrays to the kernels' dtypes;
:func:`run_network` quantizes a float input with ``Network.input_quant``
(:func:`accelsim.layers.arith.quantize_tensor`, the only float operation), runs every descriptor
in order through :mod:`accelsim.datapath.ops`, and returns the float logits
(output codes x ``out_step``), per-layer overflow events and, on request, per-layer codes.

Intermediate codes travel in the narrowest integer dtype holding each layer's clipped output
range (``int8`` for 8-bit codes; :func:`accelsim.datapath.ops.code_dtype`) and are dropped as
soon as no later layer reads them, unless kept on request (kept codes are returned as int32).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

import numpy as np

from accelsim.datapath import kernels as K
from accelsim.datapath import ops
from accelsim.errors import InputFileError, NotCalibratedError, UnsupportedOpError
from accelsim.layers.arith import quantize_tensor
from accelsim.layers.descriptor import LayerDescriptor, Network

WEIGHT_BITS = (2, 16)
ACT_BITS = (2, 16)
ACC_BITS = (8, 48)
"""Inclusive ranges of widths (bits) the datapath executes."""

_REQ = ("pre_shift", "scale", "post_shift")


def _signed_range(bits: int) -> tuple[int, int]:
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


@dataclass
class LayerPlan:
    """One checked layer: its descriptor and its arrays in kernel dtypes."""

    layer: LayerDescriptor
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    params: dict[str, object] = field(default_factory=dict)


@dataclass
class PreparedNetwork:
    """A network checked once and ready to run on any batch size."""

    net: Network
    plans: list[LayerPlan]
    last_use: dict[str, int]
    """Index of the last layer reading each tensor (network outputs: never dropped)."""
    out_steps: dict[str, float]
    """Step (real units per code) of every tensor produced by a layer or fed from outside."""
    code_bounds: dict[str, int] = field(default_factory=dict)
    """Bound on ``|code|`` of every tensor: the input quantizer's range, the producing layer's
    clipped output range, or for data movement (reshape, gather) its sources' bound."""
    residuals: dict[int, "ResidualPlan"] = field(default_factory=dict)
    """Convolutions (by layer index) whose only reader is a residual add that their epilogue
    may compute (:func:`_residual_plans`)."""


@dataclass(frozen=True)
class ResidualPlan:
    """An add layer that a convolution's epilogue computes: ``add(conv output, skip)``."""

    add_index: int
    """Index of the add layer, which then does not run."""
    skip: str
    """The add's other input, produced before the convolution runs (or a network input)."""
    table: np.ndarray
    """:func:`accelsim.datapath.ops.residual_params` of the add, conv side first."""


@dataclass
class NetworkResult:
    """What one batch through the integer datapath gives."""

    logits: np.ndarray
    """float64: codes of the first network output x its step."""
    overflow: dict[str, int]
    """Overflow events per MAC layer (accumulation steps that saturated or wrapped)."""
    paths: dict[str, str]
    """Accumulation path per MAC layer (``faithful``, ``float32``, ``float64``, ``int64``)."""
    codes: dict[str, np.ndarray] = field(default_factory=dict)
    """int32 output codes per layer name (only those asked for)."""


def _where(net: Network, layer: LayerDescriptor) -> str:
    return f"network {net.name!r}: layer {layer.name!r} ({layer.op})"


def _check_bits(net: Network, layer: LayerDescriptor) -> None:
    checks = [("act_bits", layer.act_bits, ACT_BITS), ("out_bits", layer.out_bits, ACT_BITS)]
    if layer.on_array or layer.op in ("affine", "prelu"):
        checks += [("weight_bits", layer.weight_bits, WEIGHT_BITS), ("acc_bits", layer.acc_bits, ACC_BITS),
                   ("bias_bits", layer.bias_bits, ACC_BITS)]
    for name, value, (lo, hi) in checks:
        if not isinstance(value, int) or not lo <= value <= hi:
            raise InputFileError(f"{_where(net, layer)}: {name} = {value!r}; the datapath runs {lo}-{hi} bits")
    q = layer.quant
    bits = max(layer.out_bits, layer.act_bits) if layer.op in ("maxpool", "reshape", "gather") else layer.out_bits
    lo, hi = _signed_range(bits)
    if q.out_min >= 0:  # a tensor that cannot be negative may use unsigned codes 0 .. 2**bits - 1
        lo, hi = 0, (1 << bits) - 1
    if not (lo <= q.out_min <= q.out_max <= hi):
        raise InputFileError(
            f"{_where(net, layer)}: output range [{q.out_min}, {q.out_max}] is not inside the "
            f"{bits}-bit range [{lo}, {hi}]")


def _array(net: Network, layer: LayerDescriptor, role: str) -> np.ndarray:
    key = layer.key(role)
    if key not in net.tensors:
        raise InputFileError(f"{_where(net, layer)}: array {key!r} is missing from the network tensors")
    arr = np.asarray(net.tensors[key])
    if arr.dtype.kind not in "iub":
        raise InputFileError(f"{_where(net, layer)}: array {key!r} has dtype {arr.dtype}; integer codes expected")
    return arr


def _in_range(net, layer, role, arr, lo, hi, what):
    if arr.size and (int(arr.min()) < lo or int(arr.max()) > hi):
        raise InputFileError(
            f"{_where(net, layer)}: {role} holds values in [{int(arr.min())}, {int(arr.max())}], "
            f"outside {what} [{lo}, {hi}]")


def _requant_arrays(net, layer, prefix: str, c: int) -> tuple[np.ndarray, ...]:
    out = []
    smax = (1 << layer.quant.scale_bits) - 1
    for role in _REQ:
        full = prefix + role
        arr = _array(net, layer, full)
        if arr.size not in (1, c):
            raise InputFileError(
                f"{_where(net, layer)}: array {layer.key(full)!r} has {arr.size} values; expected 1 or {c}")
        if role == "scale":
            _in_range(net, layer, full, arr, 0, smax, f"the {layer.quant.scale_bits}-bit unsigned scale range")
        else:
            _in_range(net, layer, full, arr, 0, 62, "the shift range")
        out.append(ops.per_channel(arr, c, layer.key(full)))
    return tuple(out)


def prepare(net: Network) -> PreparedNetwork:
    """Check *net* once and convert its arrays for the kernels.

    Raises
    ------
    NotCalibratedError
        A layer carries no quantization parameters (shape-only descriptors).
    InputFileError
        An array is missing or holds values its bit widths do not allow; a bit width is outside
        what the datapath runs (weights and activations 2-16 bits, accumulators 8-48 bits); a
        layer reads a tensor nobody produces; shapes disagree.
    UnsupportedOpError
        An op the datapath does not execute.
    """
    shapes: dict[str, tuple[int, ...]] = {}
    steps: dict[str, float] = {}
    for name in net.inputs:
        if name not in net.input_quant:
            raise InputFileError(f"network {net.name!r}: input {name!r} has no input_quant (threshold, step, bits)")
        _, step, bits = net.input_quant[name]
        if not ACT_BITS[0] <= int(bits) <= ACT_BITS[1]:
            raise InputFileError(f"network {net.name!r}: input {name!r} is quantized to {bits} bits; "
                                 f"the datapath runs {ACT_BITS[0]}-{ACT_BITS[1]} bits")
        steps[name] = float(step)
        shapes[name] = next((lay.in_shape for lay in net.layers if name in lay.inputs), (1, 1, 1, 1))
    bounds = {name: (1 << (int(net.input_quant[name][2]) - 1)) - 1 for name in net.inputs}
    plans: list[LayerPlan] = []
    last_use: dict[str, int] = {}
    for idx, layer in enumerate(net.layers):
        if layer.quant is None:
            raise NotCalibratedError(
                f"{_where(net, layer)}: no quantization parameters (shape-only descriptors); "
                "run 'accelsim quantize' to calibrate the model first")
        for t in layer.inputs:
            if t not in steps:
                raise InputFileError(f"{_where(net, layer)}: input tensor {t!r} is produced by no earlier layer "
                                     "and is not a network input")
            last_use[t] = idx
        _check_bits(net, layer)
        plans.append(_plan(net, layer, [shapes[t] for t in layer.inputs]))
        steps[layer.output] = float(layer.quant.out_step)
        shapes[layer.output] = tuple(layer.out_shape)
        bounds[layer.output] = _code_bound(layer, plans[-1], [bounds[t] for t in layer.inputs])
    for name in net.outputs:
        if name not in steps:
            raise InputFileError(f"network {net.name!r}: output {name!r} is produced by no layer")
        last_use[name] = len(net.layers)
    return PreparedNetwork(net=net, plans=plans, last_use=last_use, out_steps=steps, code_bounds=bounds,
                           residuals=_residual_plans(net, plans, bounds))


def _residual_plans(net: Network, plans: list[LayerPlan], bounds: dict[str, int]) -> dict[int, ResidualPlan]:
    """The adds a convolution's epilogue can compute, by the convolution's index.

    An add qualifies when one input is a convolution's output that nothing else reads (and is
    not a network output), its other input exists before that convolution runs, and its
    int32-lane arithmetic is exact for every channel (:func:`accelsim.datapath.ops.residual_params`).
    Whether the epilogue then takes it is the kernel's choice (:attr:`accelsim.datapath.ops.MacResult.fused`).
    """
    producer = {lay.output: i for i, lay in enumerate(net.layers)}
    readers: dict[str, int] = {}
    for lay in net.layers:
        for t in lay.inputs:
            readers[t] = readers.get(t, 0) + 1
    found: dict[int, ResidualPlan] = {}
    for j, lay in enumerate(net.layers):
        if lay.op != "add" or lay.inputs[0] == lay.inputs[1]:
            continue
        for k in (0, 1):
            t, skip = lay.inputs[k], lay.inputs[1 - k]
            i = producer.get(t)
            if (i is None or i in found or net.layers[i].op != "conv2d" or readers[t] != 1 or t in net.outputs
                    or producer.get(skip, -1) >= i):
                continue
            params = (plans[j].params[f"in{k}"], plans[j].params[f"in{1 - k}"])
            table = ops.residual_params((bounds[t], bounds[skip]), *params)
            if table is not None:
                found[i] = ResidualPlan(j, skip, table)
                break
    return found


def _code_bound(layer: LayerDescriptor, plan: LayerPlan, in_bounds: list[int]) -> int:
    """Largest ``|code|`` *layer* can output: its inputs' (data movement) or its clip range."""
    if layer.op == "reshape":
        return max(in_bounds)
    if layer.op == "gather":
        fill = plan.arrays["fill"]
        return max(in_bounds + [int(np.abs(fill.astype(np.int64)).max(initial=0))])
    return max(abs(int(layer.quant.out_min)), abs(int(layer.quant.out_max)))


def _plan(net: Network, layer: LayerDescriptor, in_shapes: list[tuple[int, ...]]) -> LayerPlan:
    plan = LayerPlan(layer)
    q = layer.quant
    c_out = layer.out_shape[1]
    n_in = len(layer.inputs)
    want = {"add": 2, "mul": 2}.get(layer.op)
    if want is not None and n_in != want:
        raise InputFileError(f"{_where(net, layer)}: {n_in} inputs; {layer.op} takes {want}")
    if layer.op in ("conv2d", "depthwise", "gemm"):
        w = _array(net, layer, "weight")
        b = _array(net, layer, "bias")
        _in_range(net, layer, "weight", w, *_signed_range(layer.weight_bits), f"{layer.weight_bits}-bit weights")
        _in_range(net, layer, "bias", b, *_signed_range(layer.bias_bits), f"{layer.bias_bits}-bit bias")
        if layer.op == "gemm":
            k = int(np.prod(layer.in_shape[1:]))
            if w.ndim != 2 or w.shape != (c_out, k):
                raise InputFileError(f"{_where(net, layer)}: weight shape {w.shape}, expected {(c_out, k)}")
            w = w.reshape(c_out, k, 1, 1)
        else:
            cg = layer.in_shape[1] // layer.groups
            expect = (c_out, cg) + tuple(layer.kernel)
            if w.shape != expect or layer.in_shape[1] % layer.groups or c_out % layer.groups:
                raise InputFileError(f"{_where(net, layer)}: weight shape {w.shape}, expected {expect} "
                                     f"(groups={layer.groups})")
        if b.size != c_out:
            raise InputFileError(f"{_where(net, layer)}: bias has {b.size} values, expected {c_out}")
        plan.arrays["weight"] = np.ascontiguousarray(w, dtype=np.int32)
        plan.arrays["bias"] = np.ascontiguousarray(b.reshape(-1), dtype=np.int64)
        plan.arrays["l1"] = ops.weight_l1(plan.arrays["weight"])
        plan.params["packed"] = {}  # the integer kernels' packed weights, filled on first use
        plan.params["req"] = _requant_arrays(net, layer, "", c_out)
    elif layer.op in ("avgpool", "mul"):
        plan.params["req"] = _requant_arrays(net, layer, "", c_out)
    elif layer.op in ("add", "concat"):
        chans = [c_out] * n_in if layer.op == "add" else [int(sh[1]) for sh in in_shapes]
        if layer.op == "concat" and layer.key("index") in net.tensors:
            index = _array(net, layer, "index").reshape(-1)
            total = sum(int(np.prod(sh[1:])) for sh in in_shapes)
            _in_range(net, layer, "index", index, 0, total - 1, "the inputs' elements")
            plan.arrays["index"] = index.astype(np.int64)
        elif layer.op == "concat" and sum(chans) != c_out:
            raise InputFileError(f"{_where(net, layer)}: inputs have {chans} channels, "
                                 f"which do not add up to the output's {c_out}")
        for i in range(n_in):
            plan.params[f"in{i}"] = _requant_arrays(net, layer, f"in{i}.", chans[i])
        plan.params["memo"] = {}  # ops.add's lane choice, kept across batches
    elif layer.op == "lut":
        table = _array(net, layer, "lut")
        size = (1 << layer.act_bits) - 1
        if table.size != size:
            raise InputFileError(f"{_where(net, layer)}: lut has {table.size} entries; "
                                 f"{layer.act_bits}-bit inputs need {size}")
        _in_range(net, layer, "lut", table, q.out_min, q.out_max, "the output range")
        plan.arrays["lut"] = np.ascontiguousarray(table.reshape(-1), dtype=np.int32)
    elif layer.op == "affine":
        w = _array(net, layer, "weight")
        b = _array(net, layer, "bias")
        _in_range(net, layer, "weight", w, *_signed_range(layer.weight_bits), f"{layer.weight_bits}-bit weights")
        _in_range(net, layer, "bias", b, *_signed_range(layer.bias_bits), f"{layer.bias_bits}-bit bias")
        per_sample = tuple(layer.in_shape[1:])
        for role, arr in (("weight", w), ("bias", b)):
            if arr.ndim != 3 or any(d not in (1, full) for d, full in zip(arr.shape, per_sample)):
                raise InputFileError(f"{_where(net, layer)}: {role} shape {arr.shape} does not broadcast onto "
                                     f"{per_sample}")
        plan.arrays["weight"], plan.arrays["bias"] = w.astype(np.int64), b.astype(np.int64)
        plan.params["req"] = _requant_arrays(net, layer, "", c_out)
    elif layer.op == "prelu":
        w = _array(net, layer, "weight")
        _in_range(net, layer, "weight", w, *_signed_range(layer.weight_bits), f"{layer.weight_bits}-bit weights")
        if w.size not in (1, c_out):
            raise InputFileError(f"{_where(net, layer)}: slope has {w.size} values; expected 1 or {c_out}")
        plan.arrays["weight"] = ops.per_channel(w, c_out, layer.key("weight"))
        plan.params["req"] = _requant_arrays(net, layer, "", c_out)
        plan.params["pos"] = _requant_arrays(net, layer, "pos.", c_out)
    elif layer.op == "gather":
        index = _array(net, layer, "index").reshape(-1)
        fill = _array(net, layer, "fill").reshape(-1)
        per_in = int(np.prod(in_shapes[0][1:]))
        if index.size != int(np.prod(layer.out_shape[1:])):
            raise InputFileError(f"{_where(net, layer)}: index has {index.size} entries; the output has "
                                 f"{int(np.prod(layer.out_shape[1:]))} per sample")
        _in_range(net, layer, "index", index, -fill.size, per_in - 1, "the input elements and fill values")
        plan.arrays["index"], plan.arrays["fill"] = index.astype(np.int64), fill.astype(np.int32)
    elif layer.op == "resize":
        for role, n_out, n_in in (("h", layer.out_shape[2], layer.in_shape[2]), ("w", layer.out_shape[3],
                                                                                 layer.in_shape[3])):
            idx, wt = _array(net, layer, role + "_index"), _array(net, layer, role + "_weight")
            if idx.shape != (n_out, 2) or wt.shape != (n_out, 2):
                raise InputFileError(f"{_where(net, layer)}: {role}_index/{role}_weight must be [{n_out}, 2]")
            _in_range(net, layer, role + "_index", idx, 0, n_in - 1, "the input positions")
            plan.arrays[role + "_index"], plan.arrays[role + "_weight"] = idx, wt
        plan.params["req"] = _requant_arrays(net, layer, "", c_out)
    elif layer.op in ("maxpool", "reshape"):
        pass
    else:  # pragma: no cover - OP_KINDS is closed
        raise UnsupportedOpError(f"{_where(net, layer)}: op not executed by the datapath")
    return plan


def _run_mac(plan: LayerPlan, x: np.ndarray, path: str, x_bound: int | None,
             residual: ops.Residual | None = None) -> ops.MacResult:
    """A MAC layer (conv2d, depthwise, gemm) on its input codes, with an optional residual add."""
    layer = plan.layer
    if layer.op == "gemm":
        x = x.reshape(x.shape[0], -1, 1, 1)
    pre, scale, post = plan.params["req"]
    return ops.conv(x, plan.arrays["weight"], plan.arrays["bias"], pre, scale, post, lo=layer.quant.out_min,
                    hi=layer.quant.out_max, stride=layer.stride, padding=layer.padding, dilation=layer.dilation,
                    groups=1 if layer.op == "gemm" else layer.groups, acc_bits=layer.acc_bits,
                    overflow=layer.quant.overflow, path=path, l1=plan.arrays["l1"], packed=plan.params["packed"],
                    x_bound=x_bound, residual=residual)


def _run_layer(plan: LayerPlan, xs: list[np.ndarray], path: str,
               bounds: list[int | None] | None = None) -> tuple[np.ndarray, int, str]:
    """Output codes, overflow events and path of one layer; *bounds* bound ``|code|`` of each
    input (:attr:`PreparedNetwork.code_bounds`), or None."""
    layer = plan.layer
    bounds = bounds or [None] * len(xs)
    q = layer.quant
    lo, hi = q.out_min, q.out_max
    op = layer.op
    x = xs[0]
    if op in ("conv2d", "depthwise", "gemm"):
        r = _run_mac(plan, x, path, bounds[0])
        return r.out, r.overflow_events, r.path
    if op == "maxpool":
        return ops.maxpool(x, layer.kernel, layer.stride, layer.padding, layer.dilation, lo, hi), 0, ""
    if op == "avgpool":
        pre, scale, post = plan.params["req"]
        return ops.avgpool(x, layer.kernel, pre, scale, post, lo=lo, hi=hi, stride=layer.stride,
                           padding=layer.padding), 0, ""
    if op == "add":
        return ops.add(xs[0], xs[1], plan.params["in0"], plan.params["in1"], lo=lo, hi=hi,
                       bounds=(bounds[0], bounds[1]), memo=plan.params["memo"]), 0, ""
    if op == "mul":
        pre, scale, post = plan.params["req"]
        return ops.mul(xs[0], xs[1], pre, scale, post, lo=lo, hi=hi), 0, ""
    if op == "concat":
        params = [plan.params[f"in{i}"] for i in range(len(xs))]
        if "index" in plan.arrays:
            return ops.concat_flat(xs, params, plan.arrays["index"], lo=lo, hi=hi, out_shape=layer.out_shape), 0, ""
        return ops.concat(xs, params, lo=lo, hi=hi), 0, ""
    if op == "affine":
        x4 = x.reshape((x.shape[0],) + tuple(layer.in_shape[1:]))
        return ops.affine(x4, plan.arrays["weight"], plan.arrays["bias"], *plan.params["req"], lo=lo,
                          hi=hi).reshape((x.shape[0],) + tuple(layer.out_shape[1:])), 0, ""
    if op == "prelu":
        x4 = x.reshape((x.shape[0],) + tuple(layer.in_shape[1:]))
        return ops.prelu(x4, plan.arrays["weight"], plan.params["pos"], plan.params["req"], lo=lo, hi=hi), 0, ""
    if op == "gather":
        return ops.gather(x, plan.arrays["index"], plan.arrays["fill"], layer.out_shape), 0, ""
    if op == "resize":
        a = plan.arrays
        return ops.resize_bilinear(x, a["h_index"], a["h_weight"], a["w_index"], a["w_weight"], *plan.params["req"],
                                   lo=lo, hi=hi), 0, ""
    if op == "lut":
        return ops.lut(x, plan.arrays["lut"], layer.act_bits), 0, ""
    if op == "reshape":
        return np.ascontiguousarray(x).reshape((x.shape[0],) + tuple(layer.out_shape[1:])), 0, ""
    raise UnsupportedOpError(f"layer {layer.name!r}: op {op!r} not executed by the datapath")


def quantize_inputs(prep: PreparedNetwork, x: np.ndarray | dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Quantize float network inputs to codes (the narrowest dtype holding them, see
    :func:`accelsim.datapath.ops.code_dtype`), checking their shapes against the model.

    Raises
    ------
    InputFileError
        A shape that does not match the first layer reading that input (batch size is free).
    """
    net = prep.net
    feeds = x if isinstance(x, dict) else {net.inputs[0]: x}
    out = {}
    for name in net.inputs:
        if name not in feeds:
            raise InputFileError(f"network {net.name!r}: no data for input {name!r}")
        arr = np.asarray(feeds[name])
        want = next((lay.in_shape for lay in net.layers if name in lay.inputs), None)
        if want is not None and (arr.ndim != 4 or tuple(arr.shape[1:]) != tuple(want[1:])):
            raise InputFileError(
                f"network {net.name!r}: data for input {name!r} has shape {tuple(arr.shape)}; "
                f"the model expects (N, {', '.join(str(d) for d in want[1:])})")
        _, step, bits = net.input_quant[name]
        m = (1 << (int(bits) - 1)) - 1
        if arr.dtype in (np.float32, np.float64):  # quantize_tensor's rule, in parallel and straight to the code dtype
            codes = np.empty(arr.shape, dtype=ops.code_dtype(-m, m))
            K.quantize_codes(np.ascontiguousarray(arr).reshape(-1), float(step), m, codes.reshape(-1))
            out[name] = codes
        else:
            out[name] = quantize_tensor(arr, float(step), int(bits)).astype(ops.code_dtype(-m, m))
    return out


def run_prepared(prep: PreparedNetwork, x, *, keep: Iterable[str] | str | None = None,
                 path: str = "auto") -> NetworkResult:
    """Run a :func:`prepare` d network on one batch; see :func:`run_network`."""
    net = prep.net
    live = quantize_inputs(prep, x)
    keep_all = keep == "all"
    keep_set = set() if keep is None or keep_all else set(keep)
    overflow: dict[str, int] = {}
    paths: dict[str, str] = {}
    codes: dict[str, np.ndarray] = {}
    done: set[int] = set()  # adds already computed by a convolution's epilogue
    for idx, plan in enumerate(prep.plans):
        layer = plan.layer
        res = prep.residuals.get(idx)
        if idx in done:
            pass
        elif res is not None and not (keep_all or layer.name in keep_set):
            add = prep.plans[res.add_index].layer
            q = add.quant
            r = _run_mac(plan, live[layer.inputs[0]], path, prep.code_bounds.get(layer.inputs[0]),
                         ops.Residual(live[res.skip], res.table, q.out_min, q.out_max))
            overflow[layer.name] = r.overflow_events
            paths[layer.name] = r.path
            if r.fused:
                done.add(res.add_index)
                layer = add
            live[layer.output] = r.out
            if keep_all or layer.name in keep_set:
                codes[layer.name] = r.out.astype(np.int32, copy=False)
        else:
            xs = [live[t] for t in layer.inputs]
            out, events, p = _run_layer(plan, xs, path, [prep.code_bounds.get(t) for t in layer.inputs])
            if layer.on_array:
                overflow[layer.name] = events
                paths[layer.name] = p
            live[layer.output] = out
            if keep_all or layer.name in keep_set:
                codes[layer.name] = out.astype(np.int32, copy=False)
        for t in set(plan.layer.inputs):
            if prep.last_use.get(t, -1) <= idx:
                live.pop(t, None)
    first = net.outputs[0]
    logits = live[first].reshape(live[first].shape[0], -1).astype(np.float64) * prep.out_steps[first]
    return NetworkResult(logits=logits, overflow=overflow, paths=paths, codes=codes)


def run_network(net: Network | PreparedNetwork, x, *, keep: Iterable[str] | str | None = None,
                path: str = "auto") -> NetworkResult:
    """Run the integer datapath on one batch of float, preprocessed inputs.

    Parameters
    ----------
    net : a quantized network (or one already passed through :func:`prepare`).
    x : float array [N, C, H, W] for the (first) network input, or ``{input name: array}``.
    keep : ``"all"`` or layer names whose int32 output codes to return in ``codes``.
    path : accumulation path for MAC layers (see :data:`accelsim.datapath.ops.PATHS`); ``auto``
        picks the fastest bit-exact one, ``faithful`` forces per-step overflow handling.

    Returns
    -------
    NetworkResult
        ``logits`` (output codes x step, float64 [N, classes]), ``overflow`` events per MAC layer,
        ``paths`` and the requested ``codes``.
    """
    prep = net if isinstance(net, PreparedNetwork) else prepare(net)
    return run_prepared(prep, x, keep=keep, path=path)
