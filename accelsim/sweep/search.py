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

Search (:func:`search`), greedy from sensitivity, then verified:

1. sensitivity as above, on ``sensitivity_images`` test images;
2. the cost saving of every single move (a knob from its width to the next narrower one) from the
   hardware model alone (shape-only descriptors, no calibration: milliseconds), with the energy per
   inference or the latency as the objective;
3. a greedy chain from all-widest to all-narrowest: at each step take the move with the largest
   ``saving / (marginal sensitivity loss + 0.05 points)`` (marginal: the knob's loss at the new
   width minus at its current width, never below 0), so cheap-to-lose, expensive-to-keep widths go
   first; each step's assignment is a candidate with an estimated loss (the sum of marginal losses);
4. verification on the whole test set of a spread of chain candidates (every candidate whose
   estimate is within three budgets, thinned to ``verify_points``, plus a few further along the
   chain so the front spans the whole cost range), and of the uniform grid (every weight width x
   every activation width of the set); then one refinement round between the last candidate
   that met the budget and the first that did not;
5. the answer: the verified candidate of least cost whose accuracy drop against the float model is
   within the budget.

Why greedy and not integer programming or an evolutionary search: the costs are not separable
(a layer's output width changes the next layer's input traffic and the on-chip residency of
every tensor), and accuracy is not additive over layers either, so an exact ILP would optimise a
model of the problem, not the problem; an evolutionary search would need hundreds of full
test-set evaluations (minutes each on two cores). The greedy chain needs one cheap point per
(knob, width) and then measures only a dozen candidates for real, so every number in the answer
is a measured one.
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
    """Per-knob accuracy loss (points of top-1) at each width, all other knobs at the widest."""

    widths: tuple[int, ...]
    knobs: list[Knob]
    base_top1: float
    """Top-1 (%) with every knob at the widest width."""
    float_top1: float | None
    loss: dict[Knob, dict[int, float]]
    """``loss[knob][bits]`` = base top-1 minus top-1 with only *knob* at *bits*, points."""
    agreement: dict[Knob, dict[int, float]] = field(default_factory=dict)
    """Fraction of images whose argmax agrees with the float model's."""
    images: int | None = None

    def rows(self) -> list[dict[str, Any]]:
        return [{"knob": k.label, **{f"loss_{b}b": self.loss[k].get(b) for b in self.widths}} for k in self.knobs]


def sensitivity(cfg: RunConfig, widths: tuple[int, ...], results_dir: str | Path, executor,
                images: int | None = None, progress: bool = True, graph=None) -> Sensitivity:
    """Measure the sensitivity table (module docstring) through the sweep's store and executors."""
    graph = graph if graph is not None else _graph(cfg)
    knobs = knobs_of(cfg, graph)
    top = max(widths)
    base_w = {k: top for k in knobs}
    from accelsim.sweep.store import point_key

    jobs: list[tuple[dict, RunConfig]] = [({"knob": "all", "bits": top},
                                            assignment_config(cfg, base_w, f"{cfg.name}-sens-base", images))]
    index: dict[tuple[Knob, int], str] = {}
    for k in knobs:
        for b in widths:
            if b == top:
                continue
            c = assignment_config(cfg, {**base_w, k: b}, f"{cfg.name}-sens-{k.label}-{b}", images)
            jobs.append(({"knob": k.label, "bits": b}, c))
            index[(k, b)] = point_key(c)
    res = run_points(jobs, results_dir, executor, f"{cfg.name}-sensitivity", progress)
    base = res[point_key(jobs[0][1])]
    base_top1 = _top1(base)
    loss = {k: {top: 0.0} for k in knobs}
    agree = {k: {top: float(base.get("agreement") or 0.0)} for k in knobs}
    for (k, b), key in index.items():
        s = res[key]
        loss[k][b] = base_top1 - _top1(s)
        agree[k][b] = float(s.get("agreement") or 0.0)
    ft = base.get("float_top1")
    return Sensitivity(widths=tuple(widths), knobs=knobs, base_top1=base_top1,
                       float_top1=None if ft is None else 100.0 * ft, loss=loss, agreement=agree,
                       images=base.get("accuracy_images"))


def sensitivity_figure(sens: Sensitivity):
    """Two panels (weights, activations): loss in points against width, one line per layer."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4.2))
    axes = fig.subplots(1, 2, sharey=True)
    for ax, kind, title in ((axes[0], "weight", "weights"), (axes[1], "act", "activations (layer outputs)")):
        for k in sens.knobs:
            if k.kind != kind:
                continue
            xs = list(sens.widths)
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
    lines = [f"Top-1 loss in points when only that knob is narrower (all others at {max(sens.widths)} bits: "
             f"{sens.base_top1:.2f} %" + (f", float {sens.float_top1:.2f} %" if sens.float_top1 is not None else "")
             + (f"; {sens.images} test images" if sens.images else "") + ").", "", head,
             "|---|" + "---|" * len(sens.widths)]
    for k in sens.knobs:
        lines.append(f"| {k.label} | " + " | ".join(f"{sens.loss[k][b]:+.2f}" for b in sens.widths) + " |")
    return "\n".join(lines) + "\n"


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
        w.writerow([k.label, k.layer or "", k.kind] + [f"{sens.loss[k][b]:.4f}" for b in sens.widths]
                   + [f"{sens.agreement[k][b]:.4f}" for b in sens.widths])
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
    """The greedy chain of step 3 in the module docstring (first candidate: all widest)."""
    metric = OBJECTIVES[objective]
    widths = sens.widths
    top = max(widths)
    cur = {k: top for k in sens.knobs}
    memo: dict[tuple, float] = {}

    def cost(assign: dict[Knob, int]) -> float:
        key = tuple((k.label, b) for k, b in assign.items())
        if key not in memo:
            memo[key] = hw_cost(assignment_config(cfg, assign), graph)[metric]
        return memo[key]

    # single-move savings from the all-widest point (additive estimate of each knob's saving)
    base = cost(cur)
    save = {k: {b: base - cost({**cur, k: b}) for b in widths} for k in sens.knobs}
    chain = [Candidate(0, dict(cur), 0.0, base)]
    est_loss = 0.0
    lower_of = {b: max((v for v in widths if v < b), default=None) for b in widths}
    step = 0
    while True:
        best = None
        for k in sens.knobs:
            nb = lower_of[cur[k]]
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
    verified: dict[int, dict[str, Any]]
    """Chain step -> summary measured on the whole test set."""
    uniform: dict[tuple[int, int], dict[str, Any]]
    """(weight bits, act bits) -> summary."""
    best_step: int | None

    def drop(self, summary: dict[str, Any]) -> float:
        ft = summary.get("float_top1")
        return 100.0 * (float(ft) - float(summary["quant_top1"]))

    def cost(self, summary: dict[str, Any]) -> float:
        return float(summary[OBJECTIVES[self.objective]])

    def dominance(self) -> dict[str, Any]:
        """For every uniform point, the cheapest searched point at least as accurate and no costlier
        in energy (and latency when the objective is latency)."""
        rows = []
        any_strict = False
        for (wb, ab), u in sorted(self.uniform.items()):
            best = None
            for step, s in self.verified.items():
                if s["quant_top1"] >= u["quant_top1"] and s["energy_per_inference_uj"] <= u["energy_per_inference_uj"] \
                        and (self.objective != "latency" or s["latency_s"] <= u["latency_s"]):
                    if best is None or self.cost(s) < self.cost(self.verified[best]):
                        best = step
            rows.append({"weight_bits": wb, "act_bits": ab, "dominated_by_step": best})
            if best is not None and self.drop(u) <= self.budget + 1e-9:
                s = self.verified[best]
                if s["energy_per_inference_uj"] < u["energy_per_inference_uj"]:
                    any_strict = True
        return {"rows": rows, "all_dominated": all(r["dominated_by_step"] is not None for r in rows),
                "strictly_better_within_budget": any_strict or self._strict_any()}

    def _strict_any(self) -> bool:
        """Some searched point within the budget costs strictly less energy than every uniform point
        within the budget."""
        ok_u = [u for u in self.uniform.values() if self.drop(u) <= self.budget + 1e-9]
        ok_s = [s for s in self.verified.values() if self.drop(s) <= self.budget + 1e-9]
        if not ok_u or not ok_s:
            return False
        return min(s["energy_per_inference_uj"] for s in ok_s) < min(u["energy_per_inference_uj"] for u in ok_u)


def search(cfg: RunConfig, *, budget: float, widths: tuple[int, ...], objective: str, results_dir: str | Path,
           executor, sensitivity_images: int | None = 500, verify_points: int = 8, progress: bool = True,
           status: Callable[[str], None] | None = None) -> SearchResult:
    """The mixed-precision search of the module docstring; every point lives in *results_dir*."""
    if objective not in OBJECTIVES:
        raise ConfigError(f"--objective: must be one of {', '.join(OBJECTIVES)} (got {objective!r})")
    check_budget(budget)
    widths = parse_widths(list(widths))
    graph = _graph(cfg)
    say = status or (lambda m: None)
    from accelsim.sweep.store import point_key

    say(f"1/4 sensitivity: {len(knobs_of(cfg, graph))} knobs x {len(widths) - 1} widths"
        + (f" on {sensitivity_images} test images" if sensitivity_images else ""))
    sens = sensitivity(cfg, widths, results_dir, executor, sensitivity_images, progress, graph)
    say("2/4 greedy chain from the hardware model")
    chain = greedy_chain(cfg, graph, sens, objective)

    def verify(steps: list[int]) -> dict[int, dict[str, Any]]:
        jobs = [({"search_step": s}, assignment_config(cfg, chain[s].widths, f"{cfg.name}-mixed-{s}")) for s in steps]
        res = run_points(jobs, results_dir, executor, f"{cfg.name}-search", progress)
        return {s: res[point_key(c)] for (ov, c), s in zip(jobs, steps) if point_key(c) in res}

    steps = _pick_verify(chain, budget, verify_points, 6)
    say(f"3/4 verifying {len(steps)} chain candidates and {len(widths) ** 2} uniform points on the test set")
    ujobs = [({"uniform": f"w{w}a{a}"}, uniform_config(cfg, w, a)) for w in widths for a in widths]
    ures = run_points(ujobs, results_dir, executor, f"{cfg.name}-uniform", progress)
    uniform = {(w, a): ures[point_key(c)] for (w, a), (_, c) in zip(((w, a) for w in widths for a in widths), ujobs)
               if point_key(c) in ures}
    verified = verify(steps)
    result = SearchResult(objective, budget, widths, None, sens, chain, verified, uniform, None)
    # refinement: candidates between the last verified one within budget and the next one beyond it
    ok = [s for s, v in verified.items() if result.drop(v) <= budget]
    last_ok = max(ok, default=0)
    beyond = min((s for s in verified if s > last_ok and result.drop(verified[s]) > budget), default=None)
    if beyond is not None and beyond - last_ok > 1:
        between = list(range(last_ok + 1, beyond))
        pick = sorted({between[round(i * (len(between) - 1) / max(1, min(4, len(between)) - 1))]
                       for i in range(min(4, len(between)))})
        say(f"4/4 refining between chain steps {last_ok} and {beyond}: {len(pick)} more candidates")
        verified.update(verify(pick))
    else:
        say("4/4 no refinement needed")
    ok = [s for s, v in verified.items() if result.drop(v) <= budget]
    result.best_step = min(ok, key=lambda s: (result.cost(verified[s]), s)) if ok else None
    any_summary = next(iter(verified.values()), None) or next(iter(uniform.values()), None)
    if any_summary is not None and any_summary.get("float_top1") is not None:
        result.float_top1 = 100.0 * float(any_summary["float_top1"])
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
    pts = sorted(res.verified.items(), key=lambda kv: res.cost(kv[1]))
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
    if res.best_step is None:
        lines.append("No measured candidate meets the budget.")
    else:
        b = res.verified[res.best_step]
        lines.append(f"Chosen: chain step {res.best_step}, top-1 {100 * b['quant_top1']:.2f} % "
                     f"(drop {res.drop(b):.2f} points), {b['energy_per_inference_uj']:.4g} µJ per inference, "
                     f"latency {1e6 * b['latency_s']:.4g} µs.")
        lines += ["", "| knob | bits |", "|---|---|"]
        lines += [f"| {k.label} | {v} |" for k, v in res.chain[res.best_step].widths.items()]
    lines += ["", f"## Measured points ({unit} of the objective)", "",
              "| point | top-1 % | drop, points | energy µJ | latency µs |", "|---|---|---|---|---|"]
    for (w, a), u in sorted(res.uniform.items()):
        lines.append(f"| uniform w{w} a{a} | {100 * u['quant_top1']:.2f} | {res.drop(u):.2f} | "
                     f"{u['energy_per_inference_uj']:.4g} | {1e6 * u['latency_s']:.4g} |")
    for s, v in sorted(res.verified.items()):
        lines.append(f"| mixed step {s} (est. loss {res.chain[s].est_loss:.2f}) | {100 * v['quant_top1']:.2f} | "
                     f"{res.drop(v):.2f} | {v['energy_per_inference_uj']:.4g} | {1e6 * v['latency_s']:.4g} |")
    dom = res.dominance()
    lines += ["", "## Against the uniform points", "",
              f"Every uniform point matched or beaten by a mixed one (at least as accurate, no more energy"
              f"{', no more latency' if res.objective == 'latency' else ''}): "
              f"{'yes' if dom['all_dominated'] else 'no'}; a mixed point within the budget strictly cheaper in "
              f"energy than every uniform point within it: {'yes' if dom['strictly_better_within_budget'] else 'no'}.",
              ""]
    missing = [f"w{r['weight_bits']}a{r['act_bits']}" for r in dom["rows"] if r["dominated_by_step"] is None]
    if missing:
        lines.append("Uniform points no measured mixed point matches: " + ", ".join(missing) + ".")
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
        chosen = assignment_config(cfg, res.chain[res.best_step].widths, f"{cfg.name}-mixed")
        data = chosen.model_dump(mode="json", exclude_none=True)
        head = (f"# Chosen by accelsim search ({res.objective}, max accuracy drop {res.budget:g} points): "
                f"chain step {res.best_step}.\n# Run it: accelsim run {out / 'chosen.yaml'}\n")
        paths["config"] = write_text(out / "chosen.yaml", head + yaml.safe_dump(data, sort_keys=False))
    paths["md"] = write_text(out / "search.md", search_markdown(res))
    doc = {
        "objective": res.objective, "max_accuracy_drop_points": res.budget, "widths_bits": list(res.widths),
        "float_top1": res.float_top1, "best_step": res.best_step,
        "chain": [{"step": c.step, "est_loss_points": c.est_loss, "est_cost": c.est_cost,
                   "widths": {k.label: v for k, v in c.widths.items()}} for c in res.chain],
        "verified": {str(s): v for s, v in sorted(res.verified.items())},
        "uniform": {f"w{w}a{a}": v for (w, a), v in sorted(res.uniform.items())},
        "dominance": res.dominance(),
    }
    paths["json"] = write_text(out / "search.json", json.dumps(doc, indent=1, default=float) + "\n")
    paths["front"] = savefig(front_figure(res), out / "front.png", dpi=110)
    return paths
