"""Accuracy of a quantized network against its float model, streamed over a data set.

:func:`evaluate` runs, batch by batch, the float graph (:func:`accelsim.graph.executor.run_graph`)
and the integer datapath (:func:`accelsim.datapath.executor.run_network`) on the same
preprocessed images and accumulates:

* top-1 / top-5 accuracy of both against the labels (top-k over ``min(k, classes)``; a tie among
  integer logits goes to the lowest class index, as ``argmax`` does);
* ``agreement``: the fraction of images whose float and quantized argmax agree;
* per layer, the SQNR of the dequantized integer output ``x_hat = codes * out_step`` against the
  float model's tensor named by ``extra["float_tensor"]``, over the whole data set:
  ``SQNR = 10 * log10(sum x**2 / sum (x - x_hat)**2)`` in dB (``inf`` when the error is exactly 0);
* per MAC layer, the accumulator overflow events (see :mod:`accelsim.datapath.kernels`).

Memory: one batch of activations per layer at a time (per worker process when ``workers > 1``).
Parallelism: with ``workers=1`` the Numba kernels use both cores (``prange``) and the float GEMMs
use the BLAS threads; ``workers=2`` runs whole batches in two single-threaded processes instead.
"""

from __future__ import annotations

import hashlib
import math
import multiprocessing as mp
import os
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from accelsim.datapath.executor import PreparedNetwork, prepare, run_prepared
from accelsim.errors import InputFileError
from accelsim.layers.descriptor import Network


@dataclass
class LayerAccuracy:
    """Per-layer numbers of one evaluation."""

    name: str
    op: str
    float_tensor: str | None
    sqnr_db: float | None
    """SQNR in dB over the data set (None when the layer has no float counterpart)."""
    overflow_events: int | None
    """Accumulator overflow events over the data set (None for layers off the MAC array)."""
    path: str | None
    """Accumulation path of the last batch (MAC layers)."""


@dataclass
class EvalResult:
    """What :func:`evaluate` measured. Accuracies are fractions in [0, 1] (None without labels)."""

    samples: int
    float_top1: float | None
    quant_top1: float | None
    float_top5: float | None
    quant_top5: float | None
    agreement: float
    layers: list[LayerAccuracy] = field(default_factory=list)
    meta: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-ready dict (an infinite SQNR becomes the string ``"inf"``)."""
        def fix(v):
            return "inf" if isinstance(v, float) and math.isinf(v) else v
        return {
            "samples": self.samples, "float_top1": self.float_top1, "quant_top1": self.quant_top1,
            "float_top5": self.float_top5, "quant_top5": self.quant_top5, "agreement": self.agreement,
            "layers": [{"name": la.name, "op": la.op, "float_tensor": la.float_tensor,
                        "sqnr_db": fix(la.sqnr_db), "overflow_events": la.overflow_events, "path": la.path}
                       for la in self.layers],
            "meta": dict(self.meta),
        }

    @classmethod
    def from_dict(cls, data: dict) -> "EvalResult":
        """Read :meth:`to_dict`'s form back (``"inf"`` becomes ``math.inf`` again)."""
        def unfix(v):
            return math.inf if v == "inf" else v
        layers = [LayerAccuracy(name=la["name"], op=la["op"], float_tensor=la["float_tensor"],
                                sqnr_db=unfix(la["sqnr_db"]), overflow_events=la["overflow_events"], path=la["path"])
                  for la in data.get("layers", [])]
        return cls(samples=data["samples"], float_top1=data["float_top1"], quant_top1=data["quant_top1"],
                   float_top5=data["float_top5"], quant_top5=data["quant_top5"], agreement=data["agreement"],
                   layers=layers, meta=dict(data.get("meta", {})))


class _Totals:
    """Sums over batches; mergeable so worker processes can return their part."""

    def __init__(self, names):
        self.n = 0
        self.correct = np.zeros(4, np.int64)  # float top1, quant top1, float top5, quant top5
        self.agree = 0
        self.sig = {k: 0.0 for k in names}
        self.err = {k: 0.0 for k in names}
        self.overflow: dict[str, int] = {}
        self.paths: dict[str, str] = {}

    def merge(self, other: "_Totals") -> None:
        self.n += other.n
        self.correct += other.correct
        self.agree += other.agree
        for k in self.sig:
            self.sig[k] += other.sig[k]
            self.err[k] += other.err[k]
        for k, v in other.overflow.items():
            self.overflow[k] = self.overflow.get(k, 0) + v
        self.paths.update(other.paths)


def _topk_hits(logits: np.ndarray, labels: np.ndarray, k: int) -> int:
    k = min(k, logits.shape[1])
    if k == 1:
        return int((np.argmax(logits, axis=1) == labels).sum())
    # rank of the label = number of classes strictly better, plus equal ones at lower index
    lab = logits[np.arange(len(labels)), labels][:, None]
    idx = np.arange(logits.shape[1])[None, :]
    better = (logits > lab) | ((logits == lab) & (idx < labels[:, None]))
    return int((better.sum(axis=1) < k).sum())


def _float_tensors(prep: PreparedNetwork) -> dict[str, str]:
    out = {}
    for plan in prep.plans:
        ft = plan.layer.extra.get("float_tensor") if plan.layer.extra else None
        if isinstance(ft, str):
            out[plan.layer.name] = ft
    return out


FLOAT_MEMO_BYTES = 768 << 20
"""Bytes of float-model tensors one process keeps between evaluations (:func:`_float_env`)."""

_FLOAT_MEMO: "OrderedDict[tuple, dict[str, np.ndarray]]" = OrderedDict()


def _graph_digest(graph) -> str:
    """Content digest of a float graph (nodes, attributes, parameters, inputs, outputs)."""
    h = hashlib.sha1(repr((graph.nodes, graph.inputs, graph.outputs)).encode())
    for k in sorted(graph.params):
        a = np.ascontiguousarray(graph.params[k])
        h.update(k.encode() + str(a.dtype).encode() + str(a.shape).encode())
        h.update(a.view(np.uint8).reshape(-1))
    return h.hexdigest()


def _float_env(graph, x: np.ndarray, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The float model's tensors *names* on batch *x*, remembered per process.

    Every point of a sweep or search evaluates the same float model on the same test images; the
    float forward pass is most of an evaluation's time, so its tensors are kept (least recently
    used first out, at most :data:`FLOAT_MEMO_BYTES`) under a digest of the graph and of the
    images themselves: a hit returns exactly the arrays the pass would compute.
    """
    from accelsim.graph.executor import run_graph

    x = np.ascontiguousarray(x)
    key = (_graph_digest(graph), hashlib.sha1(x.view(np.uint8).reshape(-1)).hexdigest(), x.shape, str(x.dtype),
           names)
    hit = _FLOAT_MEMO.get(key)
    if hit is not None:
        _FLOAT_MEMO.move_to_end(key)
        return hit
    env = run_graph(graph, {next(iter(graph.inputs)): x}, keep="all")
    out = {n: env[n] for n in names if n in env}
    size = sum(int(np.asarray(v).nbytes) for v in out.values())
    if size <= FLOAT_MEMO_BYTES:
        _FLOAT_MEMO[key] = out
        while sum(int(np.asarray(v).nbytes) for e in _FLOAT_MEMO.values() for v in e.values()) > FLOAT_MEMO_BYTES:
            _FLOAT_MEMO.popitem(last=False)
    return out


def _batch(graph, prep: PreparedNetwork, ftens: dict[str, str], x, y, path: str) -> _Totals:
    tot = _Totals(ftens)
    env = _float_env(graph, x, tuple(sorted({graph.outputs[0], *ftens.values()})))
    flog = np.asarray(env[graph.outputs[0]], dtype=np.float64).reshape(len(x), -1)
    res = run_prepared(prep, x, keep=list(ftens), path=path)
    qlog = res.logits
    if flog.shape != qlog.shape:
        raise InputFileError(
            f"network {prep.net.name!r}: quantized output has shape {qlog.shape}, float model output "
            f"{graph.outputs[0]!r} has {flog.shape}; descriptors and model do not match")
    tot.n = len(x)
    tot.agree = int((np.argmax(flog, 1) == np.argmax(qlog, 1)).sum())
    if y is not None:
        y = np.asarray(y, dtype=np.int64)
        if y.size and (int(y.min()) < 0 or int(y.max()) >= qlog.shape[1]):
            raise InputFileError(
                f"labels hold class {int(y.max()) if int(y.max()) >= qlog.shape[1] else int(y.min())}, "
                f"outside the model's {qlog.shape[1]} output classes 0-{qlog.shape[1] - 1}")
        tot.correct[:] = (_topk_hits(flog, y, 1), _topk_hits(qlog, y, 1),
                          _topk_hits(flog, y, 5), _topk_hits(qlog, y, 5))
    for name, tname in ftens.items():
        if tname not in env:
            continue
        ref = np.asarray(env[tname], dtype=np.float64)
        codes = res.codes[name]
        if ref.size != codes.size:
            continue
        xh = codes.astype(np.float64).reshape(ref.shape) * prep.out_steps[prep.net.layer(name).output]
        tot.sig[name] += float(np.sum(ref * ref))
        tot.err[name] += float(np.sum((ref - xh) ** 2))
    tot.overflow = dict(res.overflow)
    tot.paths = dict(res.paths)
    return tot


# ---------------------------------------------------------------- worker processes

_W: dict = {}


def _worker_init(parent_pid, graph, net, dataset, path):
    import numba

    from accelsim.lifeline import die_with_parent

    die_with_parent(parent_pid)

    numba.set_num_threads(1)
    prep = prepare(net)
    _W.update(graph=graph, prep=prep, ftens=_float_tensors(prep), dataset=dataset, path=path)


def _worker_batch(bounds):
    start, stop = bounds
    x, y = _W["dataset"].get(np.arange(start, stop))
    return _batch(_W["graph"], _W["prep"], _W["ftens"], x, y, _W["path"])


def _check_labels(graph, dataset, count: int) -> None:
    """Refuse labels outside the model's output classes before any batch runs (one float sample tells)."""
    from accelsim.datasets.readers import check_label_range
    from accelsim.graph.executor import run_graph

    x0, _ = dataset.get(np.arange(1))
    out = run_graph(graph, {next(iter(graph.inputs)): x0})[graph.outputs[0]]
    check_label_range(np.asarray(dataset.labels[:count]), int(np.asarray(out).reshape(1, -1).shape[1]), dataset,
                      source=getattr(dataset, "source", "test data"))


def evaluate(graph, net: Network | PreparedNetwork, dataset, batch_size: int = 256, progress: bool = True,
             *, path: str = "auto", workers: int = 1, limit: int | None = None) -> EvalResult:
    """Accuracy of *net* (integer datapath) and *graph* (float) on *dataset*, streamed in batches.

    Parameters
    ----------
    graph : the float IR graph the network was calibrated from.
    net : the quantized network (or a :func:`~accelsim.datapath.executor.prepare` d one).
    dataset : an :class:`accelsim.datasets.readers.Dataset` (``len``, ``get(indices)``, ``labels``).
    batch_size : images per batch (bounds memory).
    progress : show a tqdm progress bar on stderr.
    path : accumulation path for MAC layers (:data:`accelsim.datapath.ops.PATHS`).
    workers : 1 runs in this process (kernels multi-threaded); > 1 spreads batches over that many
        single-threaded worker processes.
    limit : evaluate only the first *limit* images.

    Returns
    -------
    EvalResult

    Raises
    ------
    InputFileError
        Data whose shape does not match the model; descriptors that do not match the model;
        labels outside the model's output classes (checked before any batch runs).
    """
    from tqdm import tqdm

    prep = net if isinstance(net, PreparedNetwork) else prepare(net)
    ftens = _float_tensors(prep)
    count = len(dataset) if limit is None else min(limit, len(dataset))
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    bounds = [(s, min(s + batch_size, count)) for s in range(0, count, batch_size)]
    total = _Totals(ftens)
    labelled = getattr(dataset, "labels", None) is not None
    if labelled and count:
        _check_labels(graph, dataset, count)
    bar = tqdm(total=count, unit="img", desc="evaluate", disable=not progress, leave=False)
    try:
        if workers <= 1 or len(bounds) <= 1:
            for start, stop in bounds:
                x, y = dataset.get(np.arange(start, stop))
                total.merge(_batch(graph, prep, ftens, x, y, path))
                bar.update(stop - start)
        else:
            ctx = mp.get_context("spawn")
            with ctx.Pool(workers, initializer=_worker_init,
                          initargs=(os.getpid(), graph, prep.net, dataset, path)) as pool:
                for part in pool.imap(_worker_batch, bounds):
                    total.merge(part)
                    bar.update(part.n)
    finally:
        bar.close()
    n = max(total.n, 1)
    acc = [float(c) / n for c in total.correct] if labelled else [None] * 4
    layers = []
    for plan in prep.plans:
        layer = plan.layer
        name = layer.name
        sq = None
        if name in ftens:
            sig, err = total.sig[name], total.err[name]
            sq = math.inf if err == 0 else (10 * math.log10(sig / err) if sig > 0 else -math.inf)
        layers.append(LayerAccuracy(name=name, op=layer.op, float_tensor=ftens.get(name), sqnr_db=sq,
                                    overflow_events=total.overflow.get(name) if layer.on_array else None,
                                    path=total.paths.get(name)))
    return EvalResult(samples=total.n, float_top1=acc[0], quant_top1=acc[1], float_top5=acc[2],
                      quant_top5=acc[3], agreement=total.agree / n, layers=layers,
                      meta={"batch_size": batch_size, "workers": workers, "network": prep.net.name})
