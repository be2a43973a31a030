"""Op fusion passes on the float IR: element-wise regions and constant affine arithmetic.

Exporters write activations out as small graphs of element-wise ops (PaddlePaddle's HardSwish
``x * Clip(x + 3, 0, 6) / 6``, SiLU ``x * Sigmoid(x)``, Mish ``x * Tanh(Softplus(x))``, GELU
``x * 0.5 * (1 + Erf(x / sqrt 2))`` and its tanh form) and constant arithmetic between layers
(``x * c``, ``x + c``, ``c - x`` with scalar, per-channel or full-tensor constants). Two passes
turn them into ops the integer path runs, without changing the float function:

:func:`fuse_elementwise`
    Every tensor ``t = f(s)`` computed from one activation ``s`` through element-wise ops only
    (unary activations; ``+ - * /`` with a scalar constant; ``+ - * /`` of two tensors that both
    derive from the same ``s``) becomes one ``elementwise`` node ``s -> t`` whose ``body`` holds
    the original nodes, so the float executor still runs them op by op (bit-identical float path).
    The integer path runs it as one lookup table over the input codes. A tensor read outside the
    region keeps its own node; lone activations (one node) and chains of scalar arithmetic only
    are left to the ops below. ``attrs["function"]`` names a recognised idiom (``hard_swish``,
    ``hard_sigmoid``, ``silu``, ``mish``, ``gelu``, ``gelu_tanh``) or is ``composite``.

:func:`fuse_affine`
    ``add``/``mul``/``sub`` with one constant operand become
    ``affine`` nodes ``y = x * w + b`` (``w``, ``b`` per-sample constants broadcast onto ``x``);
    an ``affine`` whose constants are per channel is folded into the producing ``conv``, ``gemm``,
    ``batchnorm`` or ``affine`` when that producer's output feeds only it (exact:
    ``(W x + B) w + b = (W w) x + (B w + b)``); consecutive ``affine`` nodes merge. What is left is
    an integer ``affine`` layer with its own requantization.
"""

from __future__ import annotations

import numpy as np

from accelsim.graph.executor import UNARY_OPS, execute_node
from accelsim.graph.ir import Graph, Node

__all__ = ["KNOWN_FUNCTIONS", "affine_params", "consumers", "drop_dead_nodes", "fuse_affine", "fuse_elementwise", "per_sample", "recognise_function"]

_ARITH = ("add", "sub", "mul", "div")


def consumers(graph: Graph) -> dict[str, list[Node]]:
    """Tensor name -> the nodes reading it, in graph order."""
    uses: dict[str, list[Node]] = {}
    for node in graph.nodes:
        for i in node.inputs:
            uses.setdefault(i, []).append(node)
    return uses


def _scalar_param(graph: Graph, name: str) -> bool:
    return name in graph.params and graph.params[name].size == 1


def drop_dead_nodes(graph: Graph) -> None:
    """Drop nodes none of whose outputs is read or a graph output (repeat until stable)."""
    while True:
        used = {i for n in graph.nodes for i in n.inputs} | set(graph.outputs)
        keep = [n for n in graph.nodes if any(o in used for o in n.outputs)]
        if len(keep) == len(graph.nodes):
            return
        graph.nodes[:] = keep


# -- element-wise regions ------------------------------------------------------------------------


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _erf(x):
    from accelsim.graph.executor import _erf as erf

    return erf(x)


KNOWN_FUNCTIONS = {
    "hard_swish": lambda x: x * np.clip(x / 6.0 + 0.5, 0.0, 1.0),
    "hard_sigmoid": lambda x: np.clip(x / 6.0 + 0.5, 0.0, 1.0),
    "silu": lambda x: x * _sigmoid(x),
    "mish": lambda x: x * np.tanh(np.logaddexp(0.0, x)),
    "gelu": lambda x: 0.5 * x * (1.0 + _erf(x / np.sqrt(2.0))),
    "gelu_tanh": lambda x: 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x ** 3))),
    "relu6": lambda x: np.clip(x, 0.0, 6.0),
}
"""Idioms :func:`recognise_function` names (float64 definitions)."""


def recognise_function(fn) -> str:
    """Name of the known activation *fn* (float32 array -> array) computes on [-8, 8], else ``composite``."""
    x = np.linspace(-8.0, 8.0, 1601)
    y = np.asarray(fn(x.astype(np.float32)), dtype=np.float64)
    for name, ref in KNOWN_FUNCTIONS.items():
        r = ref(x)
        if np.all(np.abs(y - r) <= 1e-5 * (1.0 + np.abs(r))):
            return name
    return "composite"


def _ew_member(graph: Graph, node: Node) -> bool:
    """Element-wise op of activations and scalar constants only."""
    if node.op in UNARY_OPS:
        return True
    if node.op in _ARITH and len(node.inputs) == 2:
        return all(i not in graph.params or _scalar_param(graph, i) for i in node.inputs)
    return False


def fuse_elementwise(graph: Graph) -> None:
    """Replace each multi-op element-wise region by one ``elementwise`` node (module docstring)."""
    params = graph.params
    src: dict[str, str] = {}  # activation tensor -> the tensor it is an element-wise function of
    member: dict[str, Node] = {}  # output tensor -> its producer, for region members
    for node in graph.nodes:
        acts = [i for i in node.inputs if i not in params]
        if acts and _ew_member(graph, node):
            sources = {src.get(a, a) for a in acts}
            if len(sources) == 1:
                src[node.outputs[0]] = sources.pop()
                member[node.outputs[0]] = node
    if not member:
        return
    uses = consumers(graph)
    outputs = set(graph.outputs)
    replace: dict[int, Node] = {}
    for t, node in member.items():
        s = src[t]
        exposed = t in outputs or any(u.outputs[0] not in member or src[u.outputs[0]] != s for u in uses.get(t, []))
        if not exposed:
            continue
        cone: list[Node] = []
        seen: set[str] = set()
        stack = [t]
        while stack:
            name = stack.pop()
            if name in seen or name == s or name not in member:
                continue
            seen.add(name)
            cone.append(member[name])
            stack.extend(i for i in member[name].inputs if i not in params)
        if len(cone) == 1 or all(n.op in _ARITH and any(i in params for i in n.inputs) for n in cone):
            continue  # a lone activation (LUT or fused), or scalar arithmetic (affine)
        order = {id(n): k for k, n in enumerate(graph.nodes)}
        body = sorted(cone, key=lambda n: order[id(n)])
        consts = {i: np.asarray(params[i], np.float32) for n in body for i in n.inputs if i in params}
        attrs = {"body": body, "consts": consts, "input": s, "output": t}
        fused = Node(node.name, "elementwise", [s], [t], attrs)
        attrs["function"] = recognise_function(lambda x: execute_node(fused, [x])[0])
        replace[id(node)] = fused
    if not replace:
        return
    graph.nodes[:] = [replace.get(id(n), n) for n in graph.nodes]
    drop_dead_nodes(graph)


# -- constant affine arithmetic ------------------------------------------------------------------


def per_sample(c: np.ndarray, rank: int) -> np.ndarray | None:
    """A constant broadcast against a rank-*rank* activation, as a per-sample array of rank
    ``rank - 1`` (None when it has a batch dimension other than 1)."""
    c = np.asarray(c, dtype=np.float64)
    while c.ndim > rank - 1:
        if c.shape[0] != 1:
            return None
        c = c[0]
    return c.reshape((1,) * (rank - 1 - c.ndim) + c.shape)


def _per_channel(c: np.ndarray, channels: int) -> np.ndarray | None:
    """The per-sample constant as a length-*channels* vector when it varies along axis 0 only."""
    if c.size == 1:
        return np.full(channels, float(c.reshape(-1)[0]))
    if c.shape[0] == channels and c.size == channels:
        return c.reshape(-1)
    return None


def _new_param(graph: Graph, base: str, value: np.ndarray) -> str:
    name, k = base, 1
    while name in graph.params:
        k += 1
        name = f"{base}_{k}"
    graph.params[name] = np.ascontiguousarray(value, dtype=np.float32)
    return name


def affine_params(node: Node, params: dict, x_shape: tuple) -> tuple[str, np.ndarray, np.ndarray] | None:
    """``(x, w, b)`` with ``node(x) = x * w + b`` for an ``affine`` node, or an ``add``/``mul``/``sub``
    with exactly one constant operand (either side); None otherwise or when the constant's
    broadcast would enlarge the activation. ``w``, ``b`` are per-sample float64 arrays of rank
    ``len(x_shape) - 1``; *x_shape* is the shape of the activation operand."""
    if node.op == "affine":
        return node.inputs[0], params[node.inputs[1]].astype(np.float64), params[node.inputs[2]].astype(np.float64)
    if node.op not in ("add", "mul", "sub") or len(node.inputs) != 2:
        return None
    consts = [i for i in node.inputs if i in params]
    if len(consts) != 1:
        return None
    c_name = consts[0]
    x = node.inputs[1] if node.inputs[0] == c_name else node.inputs[0]
    if params[c_name].ndim > len(x_shape):
        return None  # the constant raises the rank: not an element-wise affine of x
    c = per_sample(params[c_name], len(x_shape))
    if c is None or tuple(np.broadcast_shapes(tuple(x_shape), (1,) + c.shape)) != tuple(x_shape):
        return None
    one, zero = np.ones((1,) * c.ndim), np.zeros((1,) * c.ndim)
    if node.op == "sub":
        return (x, -one, c) if node.inputs[0] == c_name else (x, one, -c)
    w, b = {"add": (one, c), "mul": (c, zero)}[node.op]
    return x, w, b


def fuse_affine(graph: Graph, shapes: dict[str, tuple]) -> None:
    """Constant arithmetic -> ``affine`` nodes, folded into producers where exact (module docstring).

    *shapes* holds every tensor's shape (:func:`accelsim.graph.executor.infer_shapes`).
    """
    params = graph.params
    for k, node in enumerate(graph.nodes):
        if node.op not in ("add", "mul", "sub"):
            continue
        x = next((i for i in node.inputs if i not in params), None)
        found = affine_params(node, params, shapes[x]) if x is not None else None
        if found is None:
            continue
        x, w, b = found
        graph.nodes[k] = Node(node.name, "affine", [x, _new_param(graph, node.name + ".w", w),
                                                     _new_param(graph, node.name + ".b", b)], list(node.outputs))
    _fold_affine(graph)


def _fold_affine(graph: Graph) -> None:
    params = graph.params
    changed = True
    while changed:
        changed = False
        producer = {o: n for n in graph.nodes for o in n.outputs}
        uses = consumers(graph)
        for node in graph.nodes:
            if node.op != "affine":
                continue
            p = producer.get(node.inputs[0])
            if p is None or len(uses.get(p.outputs[0], [])) != 1 or p.outputs[0] in graph.outputs:
                continue
            w = params[node.inputs[1]].astype(np.float64)
            b = params[node.inputs[2]].astype(np.float64)
            if p.op == "affine":
                w1, b1 = params[p.inputs[1]].astype(np.float64), params[p.inputs[2]].astype(np.float64)
                node.inputs = [p.inputs[0], _new_param(graph, node.name + ".w", w1 * w),
                               _new_param(graph, node.name + ".b", b1 * w + b)]
            elif p.op in ("conv", "gemm", "batchnorm"):
                cout = params[p.inputs[1]].shape[0]
                wc, bc = _per_channel(w, cout), _per_channel(b, cout)
                if wc is None or bc is None:
                    continue
                wt = params[p.inputs[1]].astype(np.float64)
                bias = params[p.inputs[2]].astype(np.float64) if len(p.inputs) > 2 else np.zeros(cout)
                p.inputs = [p.inputs[0], _new_param(graph, p.name + ".weight_affine",
                                                    wt * wc.reshape((-1,) + (1,) * (wt.ndim - 1))),
                            _new_param(graph, p.name + ".bias_affine", bias * wc + bc)]
                node.op = "_folded"
            else:
                continue
            if node.op == "_folded":
                p.outputs = list(node.outputs)
            else:
                graph.nodes[graph.nodes.index(p)] = Node(p.name + ".dead", "_folded", [], [])
            changed = True
            break
        graph.nodes[:] = [n for n in graph.nodes if n.op != "_folded"]
    used = {i for n in graph.nodes for i in n.inputs} | set(graph.outputs)
    for k in [k for k in params if k not in used]:
        del params[k]
