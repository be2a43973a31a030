"""Lowering: the float IR graph -> a plan of descriptor layers -> shape-only descriptors.

:func:`plan_layers` decides which IR nodes become which descriptor (it is shared by
:func:`lower`, shape only, and :func:`accelsim.quant.calibrate.calibrate`, quantized):

=====================================  =========================================================
IR nodes                               descriptor
=====================================  =========================================================
``conv`` (+ ``relu``/``clip``)         ``conv2d``, or ``depthwise`` when ``groups == C_in > 1``
``gemm`` (+ ``relu``/``clip``)         ``gemm`` (shapes ``(N, K, 1, 1) -> (N, N_out, 1, 1)``)
``batchnorm`` (+ ``relu``/``clip``)    ``depthwise`` 1x1 (weight = scale, bias = shift)
``add`` / ``mul`` (+ ``relu``/``clip``) ``add`` / ``mul`` (a ``[N, C, 1, 1]`` gate always second)
``maxpool``                            ``maxpool`` (``ceil_mode`` as extra bottom/right padding)
``avgpool``, ``global_avgpool``        ``avgpool`` (one divisor: ``kh*kw``)
``concat`` (channel axis)              ``concat``
``relu``, ``clip``, ``leaky_relu``,    ``lut`` (an integer table over the input code range)
``sigmoid``, ``hard_sigmoid``,
``hard_swish`` not fused
``flatten``, ``reshape``               ``reshape``
``softmax`` producing a graph output   dropped (argmax unchanged), recorded in ``Network.meta``
=====================================  =========================================================

A ``relu``/``clip`` is fused when it is the only consumer of the producer's output and that
output is not a graph output. Anything else raises :class:`~accelsim.errors.UnsupportedOpError`
naming the node. A descriptor is named after its main IR node (the ONNX node name), its output
is the float IR tensor it stands for (``extra["float_tensor"]``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from accelsim.config.quant import QuantConfig
from accelsim.errors import ConfigError, UnsupportedOpError
import numpy as np

from accelsim.graph.executor import (
    UNARY_OPS,
    infer_shapes,
    is_movement,
    move,
    pool_output_size,
    resize_linear_taps,
)
from accelsim.graph.fuse import affine_params
from accelsim.graph.ir import Graph, Node
from accelsim.layers.descriptor import LayerDescriptor, Network

FUSABLE_ACTIVATIONS = ("relu", "clip")
LUT_OPS = tuple(sorted((UNARY_OPS - {"leaky_relu"}) | {"elementwise"}))
"""IR ops run as an integer lookup table when not fused (``leaky_relu`` is a ``prelu`` layer)."""
_PRODUCERS_WITH_FUSION = ("conv", "gemm", "batchnorm", "add", "mul", "affine", "prelu", "leaky_relu")
PASS_THROUGH = ("maxpool", "reshape", "gather")
"""Layers whose output codes are input codes (same step and width)."""
RESIZE_WEIGHT_BITS = 8
"""Fractional bits of the fixed-point bilinear weights of a ``resize`` layer (exact for scales 2, 4, 8)."""


@dataclass
class LayerPlan:
    """One future descriptor: its main IR node, fused activation and float tensors."""

    name: str
    op: str
    main: Node
    inputs: list[str]
    """Float IR tensors read (activations only, in ``main.inputs`` order)."""
    output: str
    """Float IR tensor the descriptor's output stands for (after any fused activation)."""
    fused: list[Node] = field(default_factory=list)
    activation: str = "none"


@dataclass
class LoweringPlan:
    """Every descriptor layer in topological order, the network outputs and dropped nodes."""

    layers: list[LayerPlan]
    outputs: list[str]
    dropped: list[str]
    shapes: dict[str, tuple]


def to4d(shape: tuple, where: str) -> tuple[int, int, int, int]:
    """``(N, C, H, W)`` as is; ``(N, F)`` -> ``(N, F, 1, 1)``; other ranks are unsupported."""
    shape = tuple(int(d) for d in shape)
    if len(shape) == 4:
        return shape  # type: ignore[return-value]
    if len(shape) == 2:
        return (shape[0], shape[1], 1, 1)
    if len(shape) == 3:
        return (shape[0], shape[1], shape[2], 1)
    raise UnsupportedOpError(f"node {where!r}: tensor of rank {len(shape)} {shape}; descriptors hold ranks 2-4")


def plan_layers(graph: Graph, input_shapes: dict[str, tuple] | None = None) -> LoweringPlan:
    """Group the IR nodes into descriptor layers (see the module docstring).

    Raises
    ------
    UnsupportedOpError
        An op or combination the integer path cannot express; the message names the node.
    """
    shapes = infer_shapes(graph, input_shapes)
    params = graph.params
    consumers: dict[str, list[Node]] = {}
    for node in graph.nodes:
        for t in node.inputs:
            consumers.setdefault(t, []).append(node)
    graph_outputs = set(graph.outputs)
    fused_names: set[str] = set()
    plans: list[LayerPlan] = []
    dropped: list[str] = []
    rename: dict[str, str] = {}  # graph output produced by a dropped softmax -> its input

    def acts(node: Node) -> list[str]:
        return [t for t in node.inputs if t not in params]

    for node in graph.nodes:
        if node.name in fused_names:
            continue
        op = node.op
        ins = acts(node)
        out = node.outputs[0]
        if op in ("conv", "gemm", "batchnorm"):
            if len(ins) != 1 or node.inputs[0] != ins[0]:
                raise UnsupportedOpError(
                    f"node {node.name!r}: {op} with non-constant weights; the integer path needs "
                    f"constant weights (an initializer)"
                )
            if op == "conv":
                cin = shapes[ins[0]][1]
                g = int(node.attrs.get("groups", 1))
                kind = "depthwise" if g > 1 and g == cin else "conv2d"
            elif op == "gemm":
                kind = "gemm"
            else:
                kind = "depthwise"
        elif op in ("add", "mul", "sub") and len(ins) == 1 and affine_params(node, params, shapes[ins[0]]):
            kind = "affine"
        elif op in ("add", "mul"):
            if len(ins) != 2:
                c = next(t for t in node.inputs if t in params)
                raise UnsupportedOpError(
                    f"node {node.name!r}: {op} of the activation {tuple(shapes[ins[0]])} and a constant of shape "
                    f"{tuple(params[c].shape)}: the constant must broadcast onto the activation without enlarging "
                    f"it (valid: a scalar, a per-channel [C, 1, 1] or a per-sample tensor)")
            a, b = (shapes[t] for t in ins)
            if op == "add" and tuple(a) != tuple(b):
                raise UnsupportedOpError(
                    f"node {node.name!r}: add of shapes {tuple(a)} and {tuple(b)}; the integer add needs equal shapes"
                )
            if op == "mul":
                big, small = to4d(a, node.name), to4d(b, node.name)
                if big[2:] == (1, 1) and small[2:] != (1, 1):  # gate first: put the feature map first
                    big, small = small, big
                    ins = [ins[1], ins[0]]
                ok = big == small or (small[:2] == big[:2] and small[2:] == (1, 1))
                if not ok:
                    raise UnsupportedOpError(
                        f"node {node.name!r}: mul of shapes {tuple(a)} and {tuple(b)}; the integer mul takes "
                        f"equal shapes or a [N, C, 1, 1] second operand (a squeeze-and-excitation gate)"
                    )
            kind = op
        elif op in ("sub", "div"):
            raise UnsupportedOpError(
                f"node {node.name!r}: {op} of two different activations (or of a constant by an activation) is not "
                f"supported by the integer path (valid: {op} by a constant, or inside an element-wise function of "
                f"one tensor)")
        elif op == "affine":
            kind = "affine"
        elif op in ("prelu", "leaky_relu"):
            kind = "prelu"
        elif op == "maxpool":
            kind = "maxpool"
        elif op in ("avgpool", "global_avgpool"):
            kind = "avgpool"
            if op == "avgpool":
                _check_avgpool(node, shapes[ins[0]])
        elif op == "concat":
            if len(ins) != len(node.inputs):
                raise UnsupportedOpError(
                    f"node {node.name!r}: concat with a constant input is not supported by the integer path "
                    f"(valid: every input an activation)")
            kind = "concat"
        elif op in LUT_OPS:
            kind = "lut"
        elif is_movement(node):
            chain = _movement_chain(node, consumers, graph_outputs, shapes)
            if all(n.op in ("flatten", "reshape") for n in chain):
                kind = "reshape"
            else:
                kind = "gather"
            to4d(shapes[chain[-1].outputs[0]], node.name)
            plans.append(LayerPlan(name=node.name, op=kind, main=node, inputs=ins, output=chain[-1].outputs[0],
                                   fused=chain[1:]))
            fused_names.update(n.name for n in chain[1:])
            continue
        elif op == "resize":
            kind = "resize"
        elif op == "softmax":
            if out in graph_outputs and not consumers.get(out):
                dropped.append(node.name)
                rename[out] = ins[0]
                continue
            raise UnsupportedOpError(
                f"node {node.name!r}: softmax inside the network is outside accelsim's CNN scope (only a "
                f"trailing softmax is supported: it is dropped, the argmax does not change)"
            )
        else:
            raise UnsupportedOpError(
                f"node {node.name!r}: op {op!r} is not supported by the integer path (supported: conv, gemm, "
                f"batchnorm, affine, add, mul, concat, maxpool, avgpool, global_avgpool, prelu, leaky_relu, "
                f"{', '.join(o for o in LUT_OPS if o not in ('leaky_relu',))}, flatten, reshape, transpose, slice, "
                f"pad, gather, expand, resize, trailing softmax)"
            )
        plan = LayerPlan(name=node.name, op=kind, main=node, inputs=ins, output=out)
        if op in _PRODUCERS_WITH_FUSION:
            users = consumers.get(out, [])
            if len(users) == 1 and out not in graph_outputs and users[0].op in FUSABLE_ACTIVATIONS:
                act = users[0]
                plan.fused.append(act)
                plan.activation = act.op
                plan.output = act.outputs[0]
                fused_names.add(act.name)
        plans.append(plan)
    outputs = [rename.get(t, t) for t in graph.outputs]
    return LoweringPlan(layers=plans, outputs=outputs, dropped=dropped, shapes=shapes)


def _movement_chain(node: Node, consumers: dict, graph_outputs: set, shapes: dict) -> list[Node]:
    """*node* and the data-movement nodes that alone follow it, cut after the last tensor of rank
    2-4 (a descriptor holds ranks 2-4; e.g. a channel shuffle's rank-5 middle stays inside)."""
    chain = [node]
    while True:
        out = chain[-1].outputs[0]
        users = consumers.get(out, [])
        if out in graph_outputs or len(users) != 1 or not is_movement(users[0]):
            break
        chain.append(users[0])
    while len(chain) > 1 and not 2 <= len(shapes[chain[-1].outputs[0]]) <= 4:
        chain.pop()
    return chain


def movement_index(nodes: list[Node], in_shape: tuple) -> tuple[np.ndarray, list[float]]:
    """Per-sample index map of a chain of data-movement nodes and the pad constants it inserts.

    Runs the nodes on ``arange`` (int64): output element ``i`` of a sample is input element
    ``index[i]`` (C order), or, when ``index[i] = -1 - k``, the constant ``fills[k]`` (a pad value).
    """
    x = np.arange(int(np.prod(in_shape[1:])), dtype=np.int64).reshape((1,) + tuple(in_shape[1:]))
    fills: list[float] = []
    for n in nodes:
        a = n.attrs
        if n.op == "pad" and a.get("mode", "constant") == "constant":
            v = float(a.get("value", 0.0))
            if v not in fills:
                fills.append(v)
            a = dict(a, value=-1 - fills.index(v))
        x = move(n, x, a)
    return x.reshape(-1), fills


def concat_index(in_shapes: list[tuple], axis: int) -> np.ndarray:
    """Per-sample index of a concat along *axis* into the inputs' flattened samples laid end to end."""
    parts, off = [], 0
    for shp in in_shapes:
        size = int(np.prod(shp[1:]))
        parts.append(np.arange(off, off + size, dtype=np.int64).reshape((1,) + tuple(shp[1:])))
        off += size
    return np.concatenate(parts, axis=axis).reshape(-1)


def resize_taps(node: Node, in_shape: tuple) -> dict[str, np.ndarray]:
    """Fixed-point bilinear taps of a ``resize`` layer per axis: ``h_index``/``w_index`` int32
    ``[out, 2]`` and ``h_weight``/``w_weight`` int32 ``[out, 2]`` summing to ``2**RESIZE_WEIGHT_BITS``."""
    one = 1 << RESIZE_WEIGHT_BITS
    out = {}
    a = node.attrs
    for ax, key in ((2, "h"), (3, "w")):
        i0, i1, w1 = resize_linear_taps(int(a["sizes"][ax]), int(in_shape[ax]), a["scales"][ax], a)
        wq = np.floor(w1 * one + 0.5).astype(np.int64)
        out[key + "_index"] = np.stack([i0, i1], axis=1).astype(np.int32)
        out[key + "_weight"] = np.stack([one - wq, wq], axis=1).astype(np.int32)
    return out


def _check_avgpool(node: Node, in_shape: tuple) -> None:
    """The integer avgpool divides by one constant ``kh*kw``: refuse attributes that vary it."""
    a = node.attrs
    pads = tuple(a.get("padding", (0, 0, 0, 0)))
    if any(pads) and not a.get("count_include_pad", False):
        raise UnsupportedOpError(
            f"node {node.name!r}: avgpool with padding {pads} and count_include_pad=0 divides edge windows "
            f"by fewer elements; the integer avgpool needs one divisor (count_include_pad=1 or no padding)"
        )
    if a.get("ceil_mode", False):
        kh, kw = a["kernel"]
        sh, sw = a.get("stride", (1, 1))
        for size, k, s, lo, hi in ((in_shape[2], kh, sh, pads[0], pads[2]), (in_shape[3], kw, sw, pads[1], pads[3])):
            if pool_output_size(size, k, s, lo, hi, 1, True) != pool_output_size(size, k, s, lo, hi, 1, False):
                raise UnsupportedOpError(
                    f"node {node.name!r}: avgpool with ceil_mode=1 adds partial windows; the integer avgpool "
                    f"needs one divisor"
                )


def _ceil_padding(node: Node, in_shape: tuple, out_shape: tuple) -> tuple[int, int, int, int]:
    """Padding (t, l, b, r) whose floor-mode output size equals the (ceil-mode) *out_shape*."""
    pt, pl, pb, pr = (int(p) for p in node.attrs.get("padding", (0, 0, 0, 0)))
    kh, kw = node.attrs["kernel"]
    sh, sw = node.attrs.get("stride", (1, 1))
    dh, dw = node.attrs.get("dilation", (1, 1))
    while pool_output_size(in_shape[2], kh, sh, pt, pb, dh) < out_shape[2]:
        pb += 1
    while pool_output_size(in_shape[3], kw, sw, pl, pr, dw) < out_shape[3]:
        pr += 1
    return (pt, pl, pb, pr)


def layer_bits(plan: LoweringPlan, qcfg: QuantConfig, input_bits: int | None = None
               ) -> tuple[dict[str, dict[str, int]], dict[str, int]]:
    """Bit widths of every layer and tensor, applying ``quant.layers`` overrides.

    Returns ``(per_layer, per_tensor)``: ``per_layer[name] = {weight_bits, act_bits, out_bits}``
    (``act_bits`` = width of the widest input), ``per_tensor[float tensor] = bits``.
    ``maxpool`` and ``reshape`` pass codes through, so their output keeps the input width.

    Raises
    ------
    ConfigError
        An override names no layer (the message lists the valid names), or asks a pass-through
        layer to change the width.
    """
    names = [lp.name for lp in plan.layers]
    unknown = sorted(set(qcfg.layers) - set(names))
    if unknown:
        raise ConfigError(
            f"quant.layers: unknown layer name(s) {', '.join(map(repr, unknown))} "
            f"(valid: {', '.join(names)})"
        )
    tensor_bits: dict[str, int] = {}
    per_layer: dict[str, dict[str, int]] = {}
    default_in = input_bits if input_bits is not None else qcfg.act_bits
    for lp in plan.layers:
        ov = qcfg.layers.get(lp.name)
        in_bits = max(tensor_bits.get(t, default_in) for t in lp.inputs)
        wb = ov.weight_bits if ov is not None and ov.weight_bits is not None else qcfg.weight_bits
        ob = ov.act_bits if ov is not None and ov.act_bits is not None else qcfg.act_bits
        if lp.op in PASS_THROUGH:
            if ov is not None and ov.act_bits is not None and ov.act_bits != in_bits:
                raise ConfigError(
                    f"quant.layers.{lp.name}.act_bits: {lp.op} passes its {in_bits}-bit input codes through "
                    f"and cannot change the width (got {ov.act_bits})"
                )
            ob = in_bits
        per_layer[lp.name] = {"weight_bits": wb, "act_bits": in_bits, "out_bits": ob}
        tensor_bits[lp.output] = ob
    return per_layer, tensor_bits


def shape_descriptor(lp: LayerPlan, shapes: dict[str, tuple], graph: Graph, bits: dict[str, int],
                     qcfg: QuantConfig) -> LayerDescriptor:
    """The descriptor of *lp* without quantization parameters (``quant=None``)."""
    node = lp.main
    a = node.attrs
    in_shape = to4d(shapes[lp.inputs[0]], node.name)
    out_shape = to4d(shapes[lp.output], node.name)
    kw: dict = {}
    if node.op == "conv":
        kw = dict(kernel=tuple(a["kernel"]), stride=tuple(a.get("stride", (1, 1))),
                  padding=tuple(a.get("padding", (0, 0, 0, 0))), dilation=tuple(a.get("dilation", (1, 1))),
                  groups=int(a.get("groups", 1)))
    elif node.op == "batchnorm":
        kw = dict(groups=in_shape[1])
    elif node.op == "maxpool":
        kw = dict(kernel=tuple(a["kernel"]), stride=tuple(a.get("stride", (1, 1))),
                  padding=_ceil_padding(node, in_shape, out_shape), dilation=tuple(a.get("dilation", (1, 1))))
    elif node.op == "avgpool":
        kw = dict(kernel=tuple(a["kernel"]), stride=tuple(a.get("stride", (1, 1))),
                  padding=tuple(a.get("padding", (0, 0, 0, 0))))
    elif node.op == "global_avgpool":
        kw = dict(kernel=(in_shape[2], in_shape[3]), stride=(in_shape[2], in_shape[3]))
    extra: dict = {"float_tensor": lp.output, "onnx_node": node.name}
    if lp.fused and lp.op != "gather":
        extra["fused"] = [n.name for n in lp.fused]
    if lp.op == "concat":
        extra["in_shapes"] = [list(to4d(shapes[t], node.name)) for t in lp.inputs]
    if lp.op == "mul":
        extra["in_shapes"] = [list(to4d(shapes[t], node.name)) for t in lp.inputs]
    if lp.op == "lut":
        extra["function"] = node.attrs.get("function", node.op) if node.op == "elementwise" else node.op
    if lp.op == "gather":
        extra["moves"] = [n.op for n in [node] + lp.fused]
    if lp.op == "concat" and int(a.get("axis", 1)) % len(shapes[lp.output]) != 1:
        extra["axis"] = int(a.get("axis", 1)) % len(shapes[lp.output])
    if lp.op == "resize":
        extra["mode"] = "linear"
    if node.op == "maxpool" and a.get("ceil_mode", False):
        extra["ceil_mode"] = True
    return LayerDescriptor(
        name=lp.name, op=lp.op, inputs=tuple(lp.inputs), output=lp.output, in_shape=in_shape,
        out_shape=out_shape, weight_bits=bits["weight_bits"], act_bits=bits["act_bits"],
        out_bits=bits["out_bits"], acc_bits=qcfg.acc_bits, bias_bits=qcfg.bias_bits,
        activation=lp.activation, quant=None, extra=extra, **kw,
    )


def check_supported(graph: Graph) -> None:
    """Raise :class:`~accelsim.errors.UnsupportedOpError` (naming the node) when the integer path
    cannot take *graph*; cheap (shapes only), so callers run it before reading any data."""
    plan_layers(graph)


def input_shapes_for(graph: Graph, input_shape: tuple | dict | None) -> dict[str, tuple]:
    """Normalise *input_shape* (one tuple for a single-input graph, or a dict) to a dict."""
    if input_shape is None:
        return {k: tuple(v) for k, v in graph.inputs.items()}
    if isinstance(input_shape, dict):
        return {k: tuple(int(d) for d in v) for k, v in input_shape.items()}
    if len(graph.inputs) != 1:
        raise ConfigError(f"graph {graph.name!r} has {len(graph.inputs)} inputs; give one shape per input name")
    return {next(iter(graph.inputs)): tuple(int(d) for d in input_shape)}


def lower(graph: Graph, input_shape: tuple | dict | None = None, qcfg: QuantConfig | None = None) -> Network:
    """Shape-only descriptors of *graph* (``quant=None``), e.g. for simulating an uncalibrated model.

    Parameters
    ----------
    graph : the float IR graph (BatchNorm already folded by the importer).
    input_shape : ``(N, C, H, W)`` of the input (or name -> shape); default ``graph.inputs``.
    qcfg : bit widths (global and per layer); default :class:`QuantConfig` defaults.

    Raises
    ------
    UnsupportedOpError
        An op the integer path cannot express (names the node).
    ConfigError
        A ``quant.layers`` override names no layer.
    """
    qcfg = qcfg or QuantConfig()
    shapes_in = input_shapes_for(graph, input_shape)
    plan = plan_layers(graph, shapes_in)
    per_layer, _ = layer_bits(plan, qcfg)
    layers = tuple(shape_descriptor(lp, plan.shapes, graph, per_layer[lp.name], qcfg) for lp in plan.layers)
    meta = {"source": graph.name, "quantized": False}
    if plan.dropped:
        meta["dropped"] = list(plan.dropped)
    return Network(name=graph.name, layers=layers, inputs=tuple(graph.inputs), outputs=tuple(plan.outputs), meta=meta)


__all__ = ["LayerPlan", "LoweringPlan", "check_supported", "layer_bits", "lower", "plan_layers", "shape_descriptor", "to4d"]
