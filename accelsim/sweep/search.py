"""Per-layer bit widths: sensitivity of each layer, and a mixed-precision search priced by the simulator.

Vocabulary. A *knob* is one width the config can set on its own: the weight width of a layer with
weights (``quant.layers.<name>.weight_bits``), the output width of a layer that produces new
codes (``quant.layers.<name>.act_bits``; maxpool, flatten and other pass-through layers keep their
input's width), and the width of the network input (``quant.act_bits``, which every layer
without an override also takes). A *width assignment* gives every knob a width from the width
set; :func:`assignment_config` turns it into a run config whose ``quant.layers`` names every layer
explicitly, so the config runs as is (``accelsim run``).

Sensitivity (:func:`sensitivity`): start from every knob at the widest width of the set; for each
knob and each narrower width, one point with only that knob lowered. Its loss is the top-1 of
the all-widest point minus the point's top-1, in points, on the config's test set (optionally
its first ``images``). Every point is a sweep point run by the sweep's executors into a results
store, so the table is resumable and reuses calibrations from the cache.

Search (:func:`search`), seeded from the uniform grid, greedy from sensitivity, then verified:

1. the uniform grid (every weight width x every activation width of the set) on the whole test
   set; these are candidates like any other, and the cheapest one within the budget (in the
   objective) is the *seed* (all widest when none is within it);
2. sensitivity at the seed: every *neighbour* of the seed (one knob one width narrower) on the
   whole test set — each one a candidate too — and the next width below on ``sensitivity_images``
   test images (:data:`SENSITIVITY_DEPTH` widths per knob in all);
3. the cost saving of every single move from the hardware model alone (shape-only descriptors,
   no calibration: milliseconds), with the energy per inference or the latency as the objective;
4. a greedy chain from the seed downwards: at each step take the move (a knob to its next
   measured narrower width) with the largest ``saving / (marginal sensitivity loss + 0.05
   points)`` (marginal: the knob's loss at the new width minus at its current width, never below
   0), so cheap-to-lose, expensive-to-keep widths go first; each step's assignment is a candidate
   with an estimated loss (the sum of marginal losses);
5. verification on the whole test set of a spread of chain candidates (every candidate whose
   estimate is within three budgets, thinned to ``verify_points``, plus a few further along the
   chain), then one refinement round between the last candidate that met the budget and the
   first that did not; the answer is the measured candidate (seed and neighbours included) of
   least cost whose accuracy drop against the float model is within the budget.

Starting at the seed rather than at all widest spends the measurements where the answer is: every
chain step is cheaper than the best uniform point within the budget, so a step that stays within
it beats every uniform point there, and the report's dominance table (:meth:`SearchResult.dominance`)
names, for every uniform point, the measured point that is at least as accurate and no costlier.

Why greedy and not integer programming or an evolutionary search: the costs are not separable
(a layer's output width changes the next layer's input traffic and the on-chip residency of
every tensor), and accuracy is not additive over layers either, so an exact ILP would optimise a
model of the problem, not the problem; an evolutionary search would need hundreds of full
test-set evaluations (seconds to minutes each on two cores). The greedy chain needs one cheap
point per (knob, width) near the seed and then measures only a dozen candidates for real, so
every number in the answer is a measured one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from accelsim.config.quant import WIDTH_RANGE
from accelsim.config.run import RunConfig, config_from_dict
from accelsim.errors import ConfigError
from accelsim.sweep.spec import Sweep, SweepPoint

DEFAULT_WIDTHS = (2, 3, 4, 6, 8)
"""Width set of ``accelsim search`` and ``accelsim sensitivity``, bits."""

OBJECTIVES = {"energy": "energy_per_inference_uj", "latency": "latency_s"}
"""Objective name -> the :class:`~accelsim.pipeline.PointSummary` field it minimises."""

LOSS_FLOOR = 0.05
"""Points of top-1 added to every marginal loss in the greedy ratio (the noise of a few images)."""

_PASS_THROUGH = ("maxpool", "reshape", "gather")


@dataclass(frozen=True)
class Knob:
    """One width a config can set: ``kind`` ``weight`` or ``act`` of *layer* (None: the network input)."""

    layer: str | None
    kind: str

    @property
    def label(self) -> str:
        return f"{self.layer or 'input'}.{self.kind}"


def parse_widths(text: str | list[int] | tuple[int, ...], where: str = "--widths") -> tuple[int, ...]:
    """``"2,3,4,6,8"`` -> sorted unique widths, each within 2-16 bits.

    Raises
    ------
    ConfigError
        Not integers, fewer than two widths, or a width outside 2-16.
    """
    lo, hi = WIDTH_RANGE
    try:
        vals = [int(v) for v in (text.split(",") if isinstance(text, str) else text)]
    except ValueError:
        raise ConfigError(f"{where}: expected comma-separated integers such as 2,3,4,6,8 (got {text!r})") from None
    bad = [v for v in vals if not lo <= v <= hi]
    if bad:
        raise ConfigError(f"{where}: width(s) {', '.join(map(str, bad))} outside {lo}-{hi} bits")
    out = tuple(sorted(set(vals)))
    if len(out) < 2:
        raise ConfigError(f"{where}: give at least two widths (got {text!r})")
    return out


def check_budget(max_accuracy_drop: float) -> float:
    """The accuracy budget in points of top-1 (>= 0).

    Raises
    ------
    ConfigError
        A negative or non-finite budget.
    """
    if not (isinstance(max_accuracy_drop, (int, float)) and math.isfinite(max_accuracy_drop)) or max_accuracy_drop < 0:
        raise ConfigError(f"--max-accuracy-drop: must be a number of points >= 0 (got {max_accuracy_drop})")
    return float(max_accuracy_drop)


def _graph(cfg: RunConfig):
    """The float graph of a config with a model; a topology (no weights) is refused in one line."""
    from accelsim.pipeline.stages import load_float_graph, resolve_workload

    wl = cfg.workload
    if wl.topology is not None:
        raise ConfigError(
            f"workload.topology: {wl.topology.label!r} has shapes only, no weights, so accuracy cannot be measured; "
            f"sensitivity and search need a model (workload.model: an ONNX file or 'bundled')")
    workload = resolve_workload(wl.model, None, wl.topology_form, wl.input_shape)
    if not workload.bundled and cfg.data.test is None:
        raise ConfigError("data.test: sensitivity and search measure top-1 on a labelled test set; give one "
                          "(an .npz with labels, IDX files or an image folder)")
    return load_float_graph(workload)


def knobs_of(cfg: RunConfig, graph=None) -> list[Knob]:
    """Every knob of the config's model, input first, then layers in topological order."""
    from accelsim.quant.lower import lower

    graph = graph if graph is not None else _graph(cfg)
    net = lower(graph, None, cfg.quant)
    knobs = [Knob(None, "act")]
    for layer in net.layers:
        if layer.on_array or layer.op in ("affine", "prelu"):
            knobs.append(Knob(layer.name, "weight"))
        if layer.op not in _PASS_THROUGH:
            knobs.append(Knob(layer.name, "act"))
    return knobs


def assignment_config(cfg: RunConfig, widths: dict[Knob, int], name: str | None = None,
                      test_limit: int | None = None) -> RunConfig:
    """*cfg* with every knob's width set (``quant.act_bits`` and ``quant.layers``), other keys kept.

    Per-layer keys other than the widths (e.g. a layer's ``method``) are kept. *test_limit* keeps
    only the first images of the test set (sensitivity points).
    """
    data = cfg.model_dump(mode="json")
    q = data["quant"]
    layers = {k: dict(v) for k, v in (q.get("layers") or {}).items()}
    for knob, bits in widths.items():
        if knob.layer is None:
            q["act_bits"] = int(bits)
            continue
        entry = layers.setdefault(knob.layer, {})
        entry["weight_bits" if knob.kind == "weight" else "act_bits"] = int(bits)
    q["layers"] = {k: {kk: vv for kk, vv in v.items() if vv is not None} for k, v in layers.items()}
    if name is not None:
        data["name"] = name
    if test_limit is not None:
        test = data["data"].get("test") or {"path": "bundled"}
        test = dict(test, limit=int(test_limit) if test.get("limit") is None else min(int(test_limit), test["limit"]))
        data["data"]["test"] = test
    return config_from_dict(data, source="<search point>")


def uniform_config(cfg: RunConfig, weight_bits: int, act_bits: int) -> RunConfig:
    """*cfg* at one weight and one activation width everywhere (per-layer widths dropped)."""
    data = cfg.model_dump(mode="json")
    q = data["quant"]
    q["weight_bits"], q["act_bits"] = int(weight_bits), int(act_bits)
    q["layers"] = {k: {kk: vv for kk, vv in v.items() if kk not in ("weight_bits", "act_bits") and vv is not None}
                   for k, v in (q.get("layers") or {}).items()}
    q["layers"] = {k: v for k, v in q["layers"].items() if v}
    data["name"] = f"{cfg.name}-w{weight_bits}a{act_bits}"
    return config_from_dict(data, source="<search point>")


# -- running points through the sweep machinery ---------------------------------------------------

def run_points(configs: list[tuple[dict[str, Any], RunConfig]], results_dir: str | Path, executor,
               name: str, progress: bool = True) -> dict[str, dict[str, Any]]:
    """Run *configs* (``(overrides, config)`` pairs) into the store; returns summaries by point key.

    Points the store already holds are not run again (a search resumes where it stopped); points
    stored with an error are retried. A point that fails again stops the search with one line.
    """
    from accelsim.sweep.runner import run_sweep
    from accelsim.sweep.store import ResultStore, point_key

    points = [SweepPoint(index=i, overrides=ov, config=c) for i, (ov, c) in enumerate(configs)]
    sweep = Sweep(name=name, source="<search>", axes=(), points=points)
    outcome = run_sweep(sweep, results_dir, executor, progress=progress, retry_failed=True)
    if outcome.failed:
        first = outcome.errors[0] if outcome.errors else ""
        raise ConfigError(f"{name}: {outcome.failed} point(s) failed (first: {first}); see {results_dir}/results.jsonl")
    latest = ResultStore(results_dir).latest()
    out = {}
    for _, c in configs:
        rec = latest.get(point_key(c))
        if rec is not None and rec.status == "ok" and rec.result is not None:
            out[point_key(c)] = rec.result
    return out


def _top1(summary: dict[str, Any]) -> float:
    v = summary.get("quant_top1")
    return float("nan") if v is None else 100.0 * float(v)


# -- sensitivity ---------------------------------------------------------------------------------

@dataclass
class Sensitivity:
    """Per-knob accuracy loss (points of top-1) at each width, all other knobs at the base widths."""

    widths: tuple[int, ...]
    knobs: list[Knob]
    base_top1: float
    """Top-1 (%) of the base assignment (every knob at the widest width unless a base was given)."""
    float_top1: float | None
    loss: dict[Knob, dict[int, float]]
    """``loss[knob][bits]`` = base top-1 minus top-1 with only *knob* at *bits*, points (only the
    widths measured: the base width and those below it)."""
    agreement: dict[Knob, dict[int, float]] = field(default_factory=dict)
    """Fraction of images whose argmax agrees with the float model's."""
    images: int | None = None
    base: dict[Knob, int] = field(default_factory=dict)
    """The width of every knob the losses are measured from."""
    points: dict[tuple[Knob, int], dict[str, Any]] = field(default_factory=dict)
    """``(knob, bits)`` -> the measured point's summary."""

    def rows(self) -> list[dict[str, Any]]:
        return [{"knob": k.label, **{f"loss_{b}b": self.loss[k].get(b) for b in self.widths}} for k in self.knobs]


def sensitivity(cfg: RunConfig, widths: tuple[int, ...], results_dir: str | Path, executor,
                images: int | None = None, progress: bool = True, graph=None,
                base: dict[Knob, int] | None = None, depth: int | None = None) -> Sensitivity:
    """Measure the sensitivity table (module docstring) through the sweep's store and executors.

    *base* (default: every knob at the widest width) is the assignment the losses are measured
    from; *depth* limits each knob to that many widths below its base width (default: all).
    """
    graph = graph if graph is not None else _graph(cfg)
    knobs = knobs_of(cfg, graph)
    top = max(widths)
    base_w = {k: top for k in knobs} if base is None else {k: base[k] for k in knobs}
    from accelsim.sweep.store import point_key

    uniform = len(set(base_w.values())) == 1
    tag = f"{cfg.name}-sens" if uniform and base_w[knobs[0]] == top else f"{cfg.name}-sens@{_label(base_w)}"
    jobs: list[tuple[dict, RunConfig]] = [({"knob": "all", "bits": "base"},
                                            assignment_config(cfg, base_w, f"{tag}-base", images))]
    index: dict[tuple[Knob, int], str] = {}
    for k in knobs:
        below = [b for b in widths if b < base_w[k]]
        for b in (below if depth is None else below[-depth:] if depth > 0 else []):
            c = assignment_config(cfg, {**base_w, k: b}, f"{tag}-{k.label}-{b}", images)
            jobs.append(({"knob": k.label, "bits": b}, c))
            index[(k, b)] = point_key(c)
    res = run_points(jobs, results_dir, executor, f"{cfg.name}-sensitivity", progress)
    base_s = res[point_key(jobs[0][1])]
    base_top1 = _top1(base_s)
    loss = {k: {base_w[k]: 0.0} for k in knobs}
    agree = {k: {base_w[k]: float(base_s.get("agreement") or 0.0)} for k in knobs}
    for (k, b), key in index.items():
        s = res[key]
        loss[k][b] = base_top1 - _top1(s)
        agree[k][b] = float(s.get("agreement") or 0.0)
    ft = base_s.get("float_top1")
    return Sensitivity(widths=tuple(widths), knobs=knobs, base_top1=base_top1,
                       float_top1=None if ft is None else 100.0 * ft, loss=loss, agreement=agree,
                       images=base_s.get("accuracy_images"), base=base_w,
                       points={kb: res[key] for kb, key in index.items()})


def _label(widths: dict[Knob, int]) -> str:
    """``w6a4`` for a uniform assignment (weights 6, activations 4), else ``mixed``."""
    w = {b for k, b in widths.items() if k.kind == "weight"}
    a = {b for k, b in widths.items() if k.kind == "act"}
    return f"w{w.pop()}a{a.pop()}" if len(w) == 1 and len(a) == 1 else "mixed"


def sensitivity_figure(sens: Sensitivity):
    """Two panels (weights, activations): loss in points against width, one line per layer."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4.2))
    axes = fig.subplots(1, 2, sharey=True)
    for ax, kind, title in ((axes[0], "weight", "weights"), (axes[1], "act", "activations (layer outputs)")):
        for k in sens.knobs:
            if k.kind != kind:
                continue
            xs = [b for b in sens.widths if b in sens.loss[k]]
            ax.plot(xs, [sens.loss[k][b] for b in xs], marker="o", label=k.layer or "network input")
        ax.set_title(f"only one layer's {title} narrower")
        ax.set_xlabel("width, bits")
        ax.set_xticks(list(sens.widths))
        ax.axhline(0.0, color="0.6", lw=0.8)
        ax.legend(fontsize=7, ncol=2)
    axes[0].set_ylabel("top-1 loss, points")
    fig.tight_layout()
    return fig


def sensitivity_markdown(sens: Sensitivity) -> str:
    head = "| knob | " + " | ".join(f"{b} bits" for b in sens.widths) + " |"
    at = f"{max(sens.widths)} bits" if not sens.base or len(set(sens.base.values())) == 1 and \
        max(sens.base.values()) == max(sens.widths) else f"their base widths, {_label(sens.base)}"
    lines = [f"Top-1 loss in points when only that knob is narrower (all others at {at}: "
             f"{sens.base_top1:.2f} %" + (f", float {sens.float_top1:.2f} %" if sens.float_top1 is not None else "")
             + (f"; {sens.images} test images" if sens.images else "") + ").", "", head,
             "|---|" + "---|" * len(sens.widths)]
    for k in sens.knobs:
        lines.append(f"| {k.label} | " + " | ".join(f"{sens.loss[k][b]:+.2f}" if b in sens.loss[k] else "—"
                                                   for b in sens.widths) + " |")
    return "\n".join(lines) + "\n"


def _cell(v: float | None) -> str:
    return "" if v is None else f"{v:.4f}"


def write_sensitivity(sens: Sensitivity, out_dir: str | Path) -> dict[str, Path]:
    """``sensitivity.csv``, ``sensitivity.md`` and ``sensitivity.png`` in *out_dir* (each atomic)."""
    import csv
    import io

    from accelsim.atomic import make_dirs, savefig, write_text

    out = make_dirs(out_dir)
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["knob", "layer", "kind"] + [f"loss_points_{b}bits" for b in sens.widths]
               + [f"agreement_{b}bits" for b in sens.widths])
    for k in sens.knobs:
        w.writerow([k.label, k.layer or "", k.kind] + [_cell(sens.loss[k].get(b)) for b in sens.widths]
                   + [_cell(sens.agreement[k].get(b)) for b in sens.widths])
    paths = {"csv": write_text(out / "sensitivity.csv", buf.getvalue()),
             "md": write_text(out / "sensitivity.md", sensitivity_markdown(sens))}
    paths["png"] = savefig(sensitivity_figure(sens), out / "sensitivity.png", dpi=110)
    return paths


# -- search --------------------------------------------------------------------------------------

def hw_cost(cfg: RunConfig, graph) -> dict[str, float]:
    """Energy per inference (µJ) and latency (s) of *cfg* from the pipeline's hardware stages alone
    (shape-only descriptors with the config's widths, no calibration)."""
    from accelsim.pipeline.stages import Runtime, batch_network, price_energy, simulate_timing
    from accelsim.quant.lower import lower

    net = batch_network(lower(graph, None, cfg.quant), cfg.workload.batch)
    timing = simulate_timing(net, cfg.hardware, cfg.simulation, Runtime())
    energy = price_energy(net, timing, cfg.hardware, cfg.energy)
    return {"energy_per_inference_uj": energy.energy_per_inference_uj, "latency_s": timing.latency_s}


@dataclass
class Candidate:
    """One width assignment on the greedy chain."""

    step: int
    widths: dict[Knob, int]
    est_loss: float
    """Sum of the marginal sensitivity losses of the moves so far, points."""
    est_cost: float
    """Objective from the hardware model, µJ or s."""


def greedy_chain(cfg: RunConfig, graph, sens: Sensitivity, objective: str) -> list[Candidate]:
    """The greedy chain of step 4 in the module docstring (first candidate: the sensitivity's base
    assignment; each step lowers one knob to the next narrower width its sensitivity measured)."""
    metric = OBJECTIVES[objective]
    top = max(sens.widths)
    cur = {k: sens.base.get(k, top) for k in sens.knobs}
    memo: dict[tuple, float] = {}

    def cost(assign: dict[Knob, int]) -> float:
        key = tuple((k.label, b) for k, b in assign.items())
        if key not in memo:
            memo[key] = hw_cost(assignment_config(cfg, assign), graph)[metric]
        return memo[key]

    # single-move savings from the all-widest point (additive estimate of each knob's saving)
    base = cost(cur)
    save = {k: {b: base - cost({**cur, k: b}) for b in sens.loss[k]} for k in sens.knobs}
    chain = [Candidate(0, dict(cur), 0.0, base)]
    est_loss = 0.0
    step = 0
    while True:
        best = None
        for k in sens.knobs:
            nb = max((b for b in sens.loss[k] if b < cur[k]), default=None)
            if nb is None:
                continue
            d_loss = max(sens.loss[k][nb], 0.0) - max(sens.loss[k][cur[k]], 0.0)
            d_loss = max(d_loss, 0.0)
            d_save = save[k][nb] - save[k][cur[k]]
            score = (max(d_save, 0.0) / base) / (d_loss + LOSS_FLOOR)
            # ties (e.g. no saving at all): the smaller loss first, then the knob order
            key = (score, -d_loss)
            if best is None or key > best[0]:
                best = (key, k, nb, d_loss)
        if best is None:
            break
        _, k, nb, d_loss = best
        cur[k] = nb
        est_loss += d_loss
        step += 1
        chain.append(Candidate(step, dict(cur), est_loss, cost(cur)))
    return chain


def _pick_verify(chain: list[Candidate], budget: float, n_near: int, n_far: int) -> list[int]:
    """Chain indices to verify: up to *n_near* spread over the estimates within 3 budgets, and
    *n_far* spread over the rest of the chain (so the front spans the whole cost range)."""
    near = [c.step for c in chain if c.est_loss <= 3.0 * budget + 2 * LOSS_FLOOR]
    far = [c.step for c in chain if c.step not in near]

    def spread(idx: list[int], n: int) -> list[int]:
        if len(idx) <= n:
            return list(idx)
        return sorted({idx[round(i * (len(idx) - 1) / (n - 1))] for i in range(n)}) if n > 1 else [idx[-1]]

    return sorted(set(spread(near, n_near)) | set(spread(far, n_far)))


@dataclass
class SearchResult:
    objective: str
    budget: float
    widths: tuple[int, ...]
    float_top1: float | None
    sens: Sensitivity
    chain: list[Candidate]
    """Step 0 is the seed: the cheapest uniform point within the budget (else all widest)."""
    verified: dict[int, dict[str, Any]]
    """Chain step -> summary measured on the whole test set (step 0: the seed's uniform point)."""
    uniform: dict[tuple[int, int], dict[str, Any]]
    """(weight bits, act bits) -> summary."""
    best_step: int | None
    seed: tuple[int, int] | None = None
    """(weight bits, act bits) of the uniform point the chain starts from."""
    wall_s: float | None = None
    neighbours: list[Candidate] = field(default_factory=list)
    """The seed with one knob one width narrower, measured on the whole test set; their ``step``
    numbers follow the chain's (``len(chain) + i``) and their summaries are in :attr:`verified`."""

    def candidate(self, step: int) -> Candidate:
        """Chain step or neighbour number *step*."""
        return self.chain[step] if step < len(self.chain) else self.neighbours[step - len(self.chain)]

    def label(self, step: int) -> str:
        """How reports name candidate *step*: ``mixed step N`` or ``neighbour N (<knob> <bits> bits)``."""
        if step < len(self.chain):
            return f"mixed step {step}"
        c = self.candidate(step)
        (k, b), = [(k, b) for k, b in c.widths.items() if b != self.chain[0].widths[k]]
        return f"neighbour {step} ({k.label} {b} bits)"

    def drop(self, summary: dict[str, Any]) -> float:
        ft = summary.get("float_top1")
        return 100.0 * (float(ft) - float(summary["quant_top1"]))

    def cost(self, summary: dict[str, Any]) -> float:
        return float(summary[OBJECTIVES[self.objective]])

    def _no_worse(self, s: dict[str, Any], u: dict[str, Any]) -> bool:
        """*s* at least as accurate as *u* and no costlier in energy (and latency when that is the objective)."""
        return (s["quant_top1"] >= u["quant_top1"] and s["energy_per_inference_uj"] <= u["energy_per_inference_uj"]
                and (self.objective != "latency" or s["latency_s"] <= u["latency_s"]))

    def dominance(self) -> dict[str, Any]:
        """For every uniform point, the searched point that dominates it (at least as accurate, no
        costlier in energy, and in latency when the objective is latency): the cheapest mixed one
        (chain step >= 1) if any, else the cheapest uniform candidate (possibly the point itself,
        which the search evaluated as a candidate)."""
        rows = []
        for (wb, ab), u in sorted(self.uniform.items()):
            mixed = [st for st, s in self.verified.items() if st > 0 and self._no_worse(s, u)]
            if mixed:
                st = min(mixed, key=lambda i: (self.cost(self.verified[i]), i))
                rows.append({"weight_bits": wb, "act_bits": ab, "by": self.label(st), "dominated_by_step": st,
                             "summary": self.verified[st]})
                continue
            unif = [k for k, s in self.uniform.items() if self._no_worse(s, u)]
            k = min(unif, key=lambda kk: (self.cost(self.uniform[kk]), kk))
            rows.append({"weight_bits": wb, "act_bits": ab, "by": "itself" if k == (wb, ab) else f"uniform w{k[0]}a{k[1]}",
                         "dominated_by_step": None, "summary": self.uniform[k]})
        return {"rows": rows, "all_dominated": True,
                "mixed_dominates": sum(r["dominated_by_step"] is not None for r in rows),
                "strictly_better_within_budget": self._strict_any()}

    def _strict_any(self) -> bool:
        """Some mixed point within the budget costs strictly less energy (and, for the latency
        objective, strictly less latency) than every uniform point within the budget."""
        ok_u = [u for u in self.uniform.values() if self.drop(u) <= self.budget + 1e-9]
        ok_s = [s for st, s in self.verified.items() if st > 0 and self.drop(s) <= self.budget + 1e-9]
        if not ok_s:
            return False
        if not ok_u:
            return True
        keys = ["energy_per_inference_uj"] + (["latency_s"] if self.objective == "latency" else [])
        return any(all(s[k] < min(u[k] for u in ok_u) for k in keys) for s in ok_s)


def _merge_sensitivity(near: Sensitivity, far: Sensitivity) -> Sensitivity:
    """*far*'s table with each knob's first width below the base taken from *near* (measured on the
    whole test set); a deeper width's loss is *near*'s plus *far*'s marginal loss from that width."""
    loss = {k: dict(v) for k, v in far.loss.items()}
    for k, row in near.loss.items():
        for b, v in row.items():
            if b == near.base[k]:
                continue
            deeper = [bb for bb in loss[k] if bb < b]
            for bb in deeper:
                loss[k][bb] = v + max(0.0, far.loss[k][bb] - far.loss[k].get(b, 0.0))
            loss[k][b] = v
    return Sensitivity(widths=far.widths, knobs=far.knobs, base_top1=far.base_top1, float_top1=far.float_top1,
                       loss=loss, agreement=far.agreement, images=far.images, base=far.base, points=far.points)


SENSITIVITY_DEPTH = 2
"""Widths below the seed's that the search's sensitivity measures per knob (the chain goes no lower)."""


def search(cfg: RunConfig, *, budget: float, widths: tuple[int, ...], objective: str, results_dir: str | Path,
           executor, sensitivity_images: int | None = 500, verify_points: int = 8, progress: bool = True,
           status: Callable[[str], None] | None = None) -> SearchResult:
    """The mixed-precision search of the module docstring; every point lives in *results_dir*."""
    import time

    t0 = time.perf_counter()
    if objective not in OBJECTIVES:
        raise ConfigError(f"--objective: must be one of {', '.join(OBJECTIVES)} (got {objective!r})")
    check_budget(budget)
    widths = parse_widths(list(widths))
    graph = _graph(cfg)
    knobs = knobs_of(cfg, graph)
    say = status or (lambda m: None)
    from accelsim.sweep.store import point_key

    say(f"1/5 uniform grid: {len(widths) ** 2} points (every weight x activation width) on the test set")
    pairs = [(w, a) for w in widths for a in widths]
    ujobs = [({"uniform": f"w{w}a{a}"}, uniform_config(cfg, w, a)) for w, a in pairs]
    ures = run_points(ujobs, results_dir, executor, f"{cfg.name}-uniform", progress)
    uniform = {wa: ures[point_key(c)] for wa, (_, c) in zip(pairs, ujobs) if point_key(c) in ures}
    result = SearchResult(objective, budget, widths, None, None, [], {}, uniform, None)  # type: ignore[arg-type]
    ok_u = [wa for wa, u in uniform.items() if result.drop(u) <= budget + 1e-9]
    top = max(widths)
    seed = min(ok_u, key=lambda wa: (result.cost(uniform[wa]), -uniform[wa]["quant_top1"], wa)) if ok_u else (top, top)
    base = {k: seed[0] if k.kind == "weight" else seed[1] for k in knobs}

    say(f"2/5 sensitivity at the seed w{seed[0]}a{seed[1]}: its {len(knobs)} neighbours (one knob one width "
        f"narrower) on the test set, the next width" + (f" on {sensitivity_images} test images" if sensitivity_images
                                                         else ""))
    near = sensitivity(cfg, widths, results_dir, executor, None, progress, graph, base=base, depth=1)
    sens = sensitivity(cfg, widths, results_dir, executor, sensitivity_images, progress, graph,
                       base=base, depth=SENSITIVITY_DEPTH)
    sens = _merge_sensitivity(near, sens)
    say("3/5 greedy chain from the hardware model")
    chain = greedy_chain(cfg, graph, sens, objective)
    result.sens, result.chain, result.seed = sens, chain, seed
    for (k, b), summary in sorted(near.points.items(), key=lambda kv: knobs.index(kv[0][0])):
        step = len(chain) + len(result.neighbours)
        result.neighbours.append(Candidate(step, {**base, k: b}, near.loss[k][b], result.cost(summary)))
        result.verified[step] = summary

    def verify(steps: list[int]) -> dict[int, dict[str, Any]]:
        jobs = [({"search_step": s}, assignment_config(cfg, chain[s].widths, f"{cfg.name}-mixed-{s}")) for s in steps]
        res = run_points(jobs, results_dir, executor, f"{cfg.name}-search", progress)
        return {s: res[point_key(c)] for (ov, c), s in zip(jobs, steps) if point_key(c) in res}

    verified = result.verified
    verified[0] = uniform[seed]
    steps = [s for s in _pick_verify(chain, budget, verify_points, 6) if s > 0]
    chain_verified = {s: v for s, v in verified.items() if s < len(chain)}
    say(f"4/5 verifying {len(steps)} chain candidates on the test set")
    chain_verified.update(verify(steps))
    verified.update(chain_verified)
    # refinement: candidates between the last verified one within budget and the next one beyond it
    ok = [s for s, v in chain_verified.items() if result.drop(v) <= budget]
    last_ok = max(ok, default=0)
    beyond = min((s for s in chain_verified if s > last_ok and result.drop(chain_verified[s]) > budget), default=None)
    if beyond is not None and beyond - last_ok > 1:
        between = list(range(last_ok + 1, beyond))
        pick = sorted({between[round(i * (len(between) - 1) / max(1, min(4, len(between)) - 1))]
                       for i in range(min(4, len(between)))})
        say(f"5/5 refining between chain steps {last_ok} and {beyond}: {len(pick)} more candidates")
        verified.update(verify(pick))
    else:
        say("5/5 no refinement needed")
    ok = [s for s, v in verified.items() if result.drop(v) <= budget]
    result.best_step = min(ok, key=lambda s: (result.cost(verified[s]), s)) if ok else None
    any_summary = next(iter(verified.values()), None)
    if any_summary is not None and any_summary.get("float_top1") is not None:
        result.float_top1 = 100.0 * float(any_summary["float_top1"])
    result.wall_s = time.perf_counter() - t0
    return result


def front_figure(res: SearchResult):
    """Accuracy against the objective: uniform points, searched points, the answer and the budget line."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, 4.8))
    ax = fig.add_subplot(1, 1, 1)
    unit = "µJ" if res.objective == "energy" else "µs"
    scale = 1.0 if res.objective == "energy" else 1e6
    ux = [res.cost(u) * scale for u in res.uniform.values()]
    uy = [100 * u["quant_top1"] for u in res.uniform.values()]
    ax.scatter(ux, uy, marker="s", color="0.55", label="uniform widths (w x a)", zorder=2)
    for (w, a), u in res.uniform.items():
        ax.annotate(f"{w}/{a}", (res.cost(u) * scale, 100 * u["quant_top1"]), fontsize=6, color="0.4",
                    xytext=(2, 2), textcoords="offset points")
    pts = sorted(((s, v) for s, v in res.verified.items() if s < len(res.chain)), key=lambda kv: res.cost(kv[1]))
    nb = [v for s, v in res.verified.items() if s >= len(res.chain)]
    if nb:
        ax.scatter([res.cost(v) * scale for v in nb], [100 * v["quant_top1"] for v in nb], marker="^", color="tab:green",
                   label="seed with one knob narrower (measured)", zorder=3)
    ax.plot([res.cost(s) * scale for _, s in pts], [100 * s["quant_top1"] for _, s in pts], marker="o",
            color="tab:blue", label="mixed precision (greedy chain, measured)", zorder=3)
    if res.best_step is not None:
        b = res.verified[res.best_step]
        ax.scatter([res.cost(b) * scale], [100 * b["quant_top1"]], s=160, facecolor="none", edgecolor="tab:red",
                   lw=2, label="chosen", zorder=4)
    if res.float_top1 is not None:
        ax.axhline(res.float_top1, color="k", lw=0.8, ls=":", label="float model")
        ax.axhline(res.float_top1 - res.budget, color="tab:red", lw=0.8, ls="--",
                   label=f"budget ({res.budget:g} points)")
    ax.set_xlabel(f"{'energy per inference' if res.objective == 'energy' else 'latency'}, {unit}")
    ax.set_ylabel("top-1, %")
    lo = (res.float_top1 or 100) - max(15.0, 4 * res.budget)
    ax.set_ylim(bottom=lo, top=(res.float_top1 or 100) + 1.0)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


def search_markdown(res: SearchResult) -> str:
    unit = "µJ" if res.objective == "energy" else "µs"
    scale = 1.0 if res.objective == "energy" else 1e6
    lines = [f"# Mixed-precision search ({res.objective}, budget {res.budget:g} points of top-1)", ""]
    if res.float_top1 is not None:
        lines.append(f"Float model top-1: {res.float_top1:.2f} %. Widths: {', '.join(map(str, res.widths))} bits.")
    if res.seed is not None:
        lines.append(f"Seed (chain step 0): uniform w{res.seed[0]} a{res.seed[1]}, the cheapest uniform point within "
                     "the budget (all widest when none is).")
    if res.best_step is None:
        lines.append("No measured candidate meets the budget.")
    else:
        b = res.verified[res.best_step]
        lines.append(f"Chosen: {res.label(res.best_step)}, top-1 {100 * b['quant_top1']:.2f} % "
                     f"(drop {res.drop(b):.2f} points), {b['energy_per_inference_uj']:.4g} µJ per inference, "
                     f"latency {1e6 * b['latency_s']:.4g} µs.")
        lines += ["", "| knob | bits |", "|---|---|"]
        lines += [f"| {k.label} | {v} |" for k, v in res.candidate(res.best_step).widths.items()]
    lines += ["", f"## Measured points ({unit} of the objective)", "",
              "| point | top-1 % | drop, points | energy µJ | latency µs |", "|---|---|---|---|---|"]
    for (w, a), u in sorted(res.uniform.items()):
        lines.append(f"| uniform w{w} a{a} | {100 * u['quant_top1']:.2f} | {res.drop(u):.2f} | "
                     f"{u['energy_per_inference_uj']:.4g} | {1e6 * u['latency_s']:.4g} |")
    for s, v in sorted(res.verified.items()):
        if s == 0:
            continue
        lines.append(f"| {res.label(s)} (est. loss {res.candidate(s).est_loss:.2f}) | {100 * v['quant_top1']:.2f} | "
                     f"{res.drop(v):.2f} | {v['energy_per_inference_uj']:.4g} | {1e6 * v['latency_s']:.4g} |")
    dom = res.dominance()
    lines += ["", "## Against the uniform points", "",
              "Each uniform point and the searched point that dominates it: at least as accurate and no more "
              f"energy{' and latency' if res.objective == 'latency' else ''}. The search evaluates the uniform grid as "
              "candidates (its chain starts from the cheapest uniform point within the budget), so a uniform point no "
              "mixed point beats is dominated by itself or by a cheaper uniform point.", "",
              "| uniform | top-1 % | energy µJ | latency µs | dominated by | its top-1 % | its energy µJ | its latency µs |",
              "|---|---|---|---|---|---|---|---|"]
    for r in dom["rows"]:
        u, d = res.uniform[(r["weight_bits"], r["act_bits"])], r["summary"]
        lines.append(f"| w{r['weight_bits']} a{r['act_bits']} | {100 * u['quant_top1']:.2f} | "
                     f"{u['energy_per_inference_uj']:.4g} | {1e6 * u['latency_s']:.4g} | {r['by']} | "
                     f"{100 * d['quant_top1']:.2f} | {d['energy_per_inference_uj']:.4g} | {1e6 * d['latency_s']:.4g} |")
    lines += ["", f"Uniform points dominated by a mixed point: {dom['mixed_dominates']} of {len(dom['rows'])}. "
              f"A mixed point within the budget strictly cheaper in energy"
              f"{' and latency' if res.objective == 'latency' else ''} than every uniform point within it: "
              f"{'yes' if dom['strictly_better_within_budget'] else 'no'}."]
    if res.wall_s is not None:
        lines.append(f"Search wall time: {res.wall_s:.0f} s (points already in the results store are not run again).")
    del scale
    return "\n".join(lines) + "\n"


def write_search(res: SearchResult, cfg: RunConfig, out_dir: str | Path) -> dict[str, Path]:
    """``chosen.yaml`` (runnable), ``search.md``, ``search.json``, ``front.png`` and the sensitivity files."""
    import json

    import yaml

    from accelsim.atomic import make_dirs, savefig, write_text

    out = make_dirs(out_dir)
    paths = write_sensitivity(res.sens, out)
    if res.best_step is not None:
        chosen = assignment_config(cfg, res.candidate(res.best_step).widths, f"{cfg.name}-mixed")
        data = chosen.model_dump(mode="json", exclude_none=True)
        head = (f"# Chosen by accelsim search ({res.objective}, max accuracy drop {res.budget:g} points): "
                f"{res.label(res.best_step)}.\n# Run it: accelsim run {out / 'chosen.yaml'}\n")
        paths["config"] = write_text(out / "chosen.yaml", head + yaml.safe_dump(data, sort_keys=False))
    paths["md"] = write_text(out / "search.md", search_markdown(res))
    doc = {
        "objective": res.objective, "max_accuracy_drop_points": res.budget, "widths_bits": list(res.widths),
        "float_top1": res.float_top1, "best_step": res.best_step,
        "chain": [{"step": c.step, "est_loss_points": c.est_loss, "est_cost": c.est_cost,
                   "widths": {k.label: v for k, v in c.widths.items()}} for c in res.chain],
        "neighbours": [{"step": c.step, "loss_points": c.est_loss, "widths": {k.label: v for k, v in c.widths.items()}}
                       for c in res.neighbours],
        "verified": {str(s): v for s, v in sorted(res.verified.items())},
        "uniform": {f"w{w}a{a}": v for (w, a), v in sorted(res.uniform.items())},
        "seed": None if res.seed is None else f"w{res.seed[0]}a{res.seed[1]}",
        "wall_s": res.wall_s,
        "dominance": {k: v if k != "rows" else [{kk: vv for kk, vv in r.items() if kk != "summary"} for r in v]
                      for k, v in res.dominance().items()},
    }
    paths["json"] = write_text(out / "search.json", json.dumps(doc, indent=1, default=float) + "\n")
    paths["front"] = savefig(front_figure(res), out / "front.png", dpi=110)
    return paths
