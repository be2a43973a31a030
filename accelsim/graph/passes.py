"""Graph passes around the ONNX import: constant folding and layout clean-up before it, a shape
check after it.

:func:`absorb_input_transpose` takes the ``Transpose(perm=[0, 3, 1, 2])`` that TensorFlow-style
exports (tf2onnx, Keras) put right after an NHWC input into the input itself: the model then
takes NCHW data, the layout accelsim's data readers produce and its datapath runs in.

:func:`fold_constants` works on the ONNX model, before the importer sees it (and before the
op-support check, so a model is not refused for an op that only computes a constant). With the
input shape known, every node whose value does not depend on the input data is evaluated once
and replaced by an initializer: the shape subgraphs exporters write (``Shape -> Gather ->
Unsqueeze -> Concat -> Reshape``, ``Size``, ``ConstantOfShape``, ``Range``, ``Cast``/``Floor``/
``Div`` on shape values, ``Equal``/``Where`` on them), ``Constant`` nodes, and weight transforms
(a ``Transpose`` or ``Reshape`` of an initializer). Shapes come from ONNX shape inference with the
input's dimensions filled in; the node values from ``onnx.reference`` (ONNX's own reference
implementation of every default-domain op), so the pass covers the whole operator set.

:func:`check_shapes` works on the imported IR: every node must be able to take the shape it
receives (a convolution's window must fit its padded input, a GEMM's features must match its
weight, ...). A model whose spatial size is symbolic in the file takes its size from the data;
when that size is one the network cannot run at, the error names the node, what it received and
what it needs.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from accelsim.errors import InputFileError

__all__ = ["fold_constants", "absorb_input_transpose", "nhwc_input_perm", "check_shapes"]

# ops whose value is not a function of their inputs: never folded
_NONDETERMINISTIC = {"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial",
                     "Bernoulli"}
# ops kept for the importer even with constant inputs (it reads them as such)
_KEEP = {"Identity", "Dropout"}
_MAX_FOLD_ELEMENTS = 1 << 26  # a folded value larger than this (256 MB of float32) stays a node


def fold_constants(model: Any, input_shape: tuple | dict[str, tuple] | None = None) -> Any:
    """A copy of *model* with every input-independent node folded into an initializer.

    Parameters
    ----------
    model : ``onnx.ModelProto``.
    input_shape : as for :func:`~accelsim.graph.onnx_import.load_onnx`: the full input shape (a
        dict name -> shape for several inputs), or None for the file's own; a symbolic batch counts
        as 1 (as in the importer); a ``Shape`` of a tensor whose shape still holds an unknown
        dimension is not folded.

    Returns
    -------
    onnx.ModelProto (the input model when nothing folds).
    """
    import onnx
    from onnx import numpy_helper

    g = model.graph
    input_shapes = _input_shapes(model, input_shape)
    consts: dict[str, np.ndarray] = {}
    for init in g.initializer:
        consts[init.name] = None  # value read lazily: weights are large and rarely needed
    shapes: dict[str, tuple] | None = None  # inferred on the first Shape/Size node
    opset = next((int(o.version) for o in model.opset_import if o.domain in ("", "ai.onnx")), 13)
    init_by_name = {i.name: i for i in g.initializer}

    def value(name: str) -> np.ndarray:
        v = consts[name]
        if v is None:
            v = consts[name] = numpy_helper.to_array(init_by_name[name])
        return v

    folded: dict[str, np.ndarray] = {}
    keep_nodes = []
    stale = False  # something folded since the shapes were inferred: a re-inference may know more
    for pos, node in enumerate(g.node):
        ins = [i for i in node.input if i]
        if node.domain not in ("", "ai.onnx") or node.op_type in _NONDETERMINISTIC or node.op_type in _KEEP \
                or any(sg for sg in node.attribute if sg.type in (onnx.AttributeProto.GRAPH,
                                                                  onnx.AttributeProto.GRAPHS)):
            keep_nodes.append(node)
            continue
        out = None
        if node.op_type in ("Shape", "Size") and ins and ins[0] not in consts:
            if shapes is None or (stale and not _known(shapes.get(ins[0]))):
                shapes = _inferred_shapes(model, input_shapes, keep_nodes + list(g.node[pos:]), folded)
                stale = False
            shp = shapes.get(ins[0])
            if _known(shp):
                out = _shape_value(node, shp)
        elif all(i in consts for i in ins):
            out = _evaluate(node, [value(i) if i else None for i in node.input], opset)
        if out is None or any(o.size > _MAX_FOLD_ELEMENTS for o in out):
            keep_nodes.append(node)
            continue
        for name, v in zip(node.output, out):
            if name:
                consts[name] = folded[name] = v
        stale = True
    if not folded:
        return model
    used = {i for n in keep_nodes for i in n.input} | {o.name for o in g.output}
    new = onnx.ModelProto()
    new.CopyFrom(model)
    del new.graph.node[:]
    new.graph.node.extend(keep_nodes)
    for name, v in folded.items():
        if name in used:
            new.graph.initializer.append(numpy_helper.from_array(np.asarray(v), name))
    return new


def _input_shapes(model, input_shape) -> dict[str, tuple]:
    inits = {i.name for i in model.graph.initializer}
    real = [vi for vi in model.graph.input if vi.name not in inits]
    out: dict[str, tuple] = {}
    for vi in real:
        tt = vi.type.tensor_type
        if isinstance(input_shape, dict) and vi.name in input_shape:
            out[vi.name] = tuple(int(d) for d in input_shape[vi.name])
        elif input_shape is not None and not isinstance(input_shape, dict) and len(real) == 1:
            out[vi.name] = tuple(int(d) for d in input_shape)
        elif tt.HasField("shape"):
            dims = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None for d in tt.shape.dim]
            out[vi.name] = tuple([1 if dims and dims[0] is None else dims[0]] + dims[1:]) if dims else ()
    return out


def _known(shape) -> bool:
    return shape is not None and all(d is not None for d in shape)


def _inferred_shapes(model, input_shapes: dict[str, tuple], nodes, folded: dict[str, np.ndarray]
                     ) -> dict[str, tuple]:
    """Shape of every tensor ONNX shape inference can tell, with the inputs' dimensions set, the
    remaining *nodes*, and the values *folded* so far as initializers."""
    import onnx
    from onnx import numpy_helper

    g = model.graph
    light = onnx.ModelProto()
    light.ir_version = model.ir_version
    light.opset_import.extend(model.opset_import)
    lg = light.graph
    lg.node.extend(nodes)
    lg.output.extend(g.output)
    for name, v in folded.items():
        if v.size <= 64:
            lg.initializer.append(numpy_helper.from_array(np.asarray(v), name))
        else:
            lg.input.append(onnx.helper.make_tensor_value_info(
                name, onnx.helper.np_dtype_to_tensor_dtype(np.asarray(v).dtype), list(np.shape(v))))
    inits = {i.name for i in g.initializer}
    for init in g.initializer:  # small ones (shape constants) with values, weights as shapes only
        if math.prod(init.dims) <= 64:
            lg.initializer.append(init)
        else:
            lg.input.append(onnx.helper.make_tensor_value_info(init.name, init.data_type, list(init.dims)))
    for vi in g.input:
        if vi.name in inits:
            continue
        shp = input_shapes.get(vi.name)
        elem = vi.type.tensor_type.elem_type
        if shp is None:
            lg.input.append(vi)
        else:
            lg.input.append(onnx.helper.make_tensor_value_info(
                vi.name, elem, [d if d is not None else f"unk_{k}" for k, d in enumerate(shp)]))
    out: dict[str, tuple] = {}
    try:
        inferred = onnx.shape_inference.infer_shapes(light, data_prop=True)
    except Exception:  # a model ONNX cannot infer: only pure constants fold
        inferred = light
    for vi in list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output):
        tt = vi.type.tensor_type
        if tt.HasField("shape"):
            out[vi.name] = tuple(d.dim_value if d.HasField("dim_value") else None for d in tt.shape.dim)
    for name, shp in input_shapes.items():
        out[name] = tuple(shp)
    return out


def _shape_value(node, shp) -> list[np.ndarray]:
    if node.op_type == "Size":
        return [np.array(math.prod(shp), dtype=np.int64)]
    a = {x.name: x.i for x in node.attribute}
    rank = len(shp)
    start, end = a.get("start", 0), a.get("end", rank)
    start, end = (start + rank if start < 0 else start), (end + rank if end < 0 else end)
    return [np.array(shp[max(0, start): min(rank, end)], dtype=np.int64)]


def _evaluate(node, values: list[np.ndarray | None], opset: int) -> list[np.ndarray] | None:
    """The node's outputs by ``onnx.reference``; None when it cannot evaluate them."""
    from onnx.reference import ReferenceEvaluator

    try:
        ev = ReferenceEvaluator(node, opsets={"": opset})
        feeds = {n: v for n, v in zip(node.input, values) if n}
        res = ev.run(None, feeds)
    except Exception:
        return None
    return [np.asarray(r) for r in res]


_TO_NCHW = [0, 3, 1, 2]


def nhwc_input_perm(graph, name: str) -> list[int] | None:
    """``[0, 3, 1, 2]`` when every reader of input *name* is a Transpose to NCHW, else None."""
    readers = [n for n in graph.node if name in n.input]
    if not readers or any(o.name == name for o in graph.output):
        return None
    for n in readers:
        perm = next((list(a.ints) for a in n.attribute if a.name == "perm"), None)
        if n.op_type != "Transpose" or perm != _TO_NCHW or n.domain not in ("", "ai.onnx"):
            return None
    return list(_TO_NCHW)


def absorb_input_transpose(model: Any) -> Any:
    """*model* with each NHWC input whose only readers transpose it to NCHW turned into an NCHW
    input (the Transposes removed, their readers reading the input). Returns *model* itself when
    no input qualifies, else a copy."""
    import onnx

    g = model.graph
    inits = {i.name for i in g.initializer}
    todo = [vi.name for vi in g.input if vi.name not in inits and nhwc_input_perm(g, vi.name) is not None]
    if not todo:
        return model
    new = onnx.ModelProto()
    new.CopyFrom(model)
    g = new.graph
    for name in todo:
        rename = {n.output[0]: name for n in g.node if name in n.input}
        keep = [n for n in g.node if name not in n.input]
        for n in keep:
            for k, i in enumerate(n.input):
                if i in rename:
                    n.input[k] = rename[i]
        for o in g.output:
            if o.name in rename:  # a model that is only the transpose: leave it alone
                return model
        del g.node[:]
        g.node.extend(keep)
        vi = next(v for v in g.input if v.name == name)
        dims = vi.type.tensor_type.shape.dim
        if len(dims) == 4:
            old = [onnx.TensorShapeProto.Dimension() for _ in range(4)]
            for k in range(4):
                old[k].CopyFrom(dims[k])
            for k, src in enumerate(_TO_NCHW):
                dims[k].CopyFrom(old[src])
        for v in list(g.value_info):
            if v.name in rename:
                g.value_info.remove(v)
    return new


# ---------------------------------------------------------------------------------------- IR check


def check_shapes(graph, source: str) -> None:
    """Raise unless every node of the IR *graph* can take the shape it receives.

    Raises
    ------
    InputFileError
        One line: the node, its op, the shape it receives, what it needs, and the model input
        shape that led there.
    """
    from accelsim.graph.executor import node_output_shapes

    shapes: dict[str, tuple] = {k: tuple(v.shape) for k, v in graph.params.items()}
    shapes.update({k: tuple(v) for k, v in graph.inputs.items()})
    given = ", ".join(f"{k!r} {tuple(v)}" for k, v in graph.inputs.items())
    for node in graph.nodes:
        try:
            ins = [shapes[i] for i in node.inputs]
        except KeyError:
            return  # a tensor this check does not track (an op it does not know): stop checking here
        why = _shape_problem(node, ins, graph.params)
        if why is None:
            try:
                outs = node_output_shapes(node, ins)
            except Exception:
                return
            if not any(d <= 0 for o in outs for d in o):
                for name, shp in zip(node.outputs, outs):
                    shapes[name] = tuple(int(d) for d in shp)
                continue
            why = f"its output would be {tuple(outs[0])}, with an empty dimension"
        raise InputFileError(f"{source}: node {node.name!r} ({node.op}) cannot take its input of shape "
                             f"{ins[0]}: {why} (model input {given})")


def _shape_problem(node, ins, params) -> str | None:
    op, a, s = node.op, node.attrs, ins[0]
    if op in ("conv", "maxpool", "avgpool"):
        if len(s) != 4:
            return "needs an N×C×H×W input"
        if op == "conv":
            w = ins[1]
            groups = int(a.get("groups", 1))
            if s[1] != w[1] * groups:
                return f"its weight {tuple(w)} (groups {groups}) needs C={w[1] * groups}"
        kh, kw = a.get("kernel", ins[1][2:] if op == "conv" else (1, 1))
        dh, dw = a.get("dilation", (1, 1))
        pt, pl, pb, pr = a.get("padding", (0, 0, 0, 0))
        eh, ew = (kh - 1) * dh + 1, (kw - 1) * dw + 1
        if s[2] + pt + pb < eh or s[3] + pl + pr < ew:
            return (f"its {kh}x{kw} window (dilation {dh}x{dw}) does not fit the padded {s[2] + pt + pb}x"
                    f"{s[3] + pl + pr} input; the image is too small for this model")
    elif op == "gemm":
        k = ins[1][1]
        if len(s) != 2 or s[1] != k:
            return (f"its weight {tuple(ins[1])} needs {k} input features, it gets "
                    f"{s[1] if len(s) == 2 else s}; a fully connected layer fixes the image size the model "
                    f"takes (valid: the size giving {k} features, usually the size it was exported at)")
    elif op in ("add", "mul"):
        try:
            np.broadcast_shapes(tuple(s), tuple(ins[1]))
        except ValueError:
            return f"its operands {tuple(s)} and {tuple(ins[1])} do not broadcast"
    elif op == "concat":
        axis = int(a.get("axis", 1)) % len(s)
        for t in ins[1:]:
            if len(t) != len(s) or any(x != y for i, (x, y) in enumerate(zip(s, t)) if i != axis):
                return f"its inputs {[tuple(t) for t in ins]} differ outside the concat axis {axis}"
    return None
