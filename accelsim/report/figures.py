"""Matplotlib figures of a sweep's trade-offs (object API on ``Figure``: no pyplot, no global state).

Each function takes report points and returns a :class:`matplotlib.figure.Figure`; axes carry
units, and an axis switches to a log scale when its data span more than a decade (ratio > 10).
A figure whose data are missing (e.g. accuracy of topology-only runs) says so in its middle
instead of drawing a wrong number.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from accelsim.errors import InputFileError
from accelsim.pipeline.result import ENERGY_KINDS
from accelsim.report.points import (
    DEFAULT_MAX_ACCURACY_DROP,
    ReportPoint,
    eligible,
    front_numbers,
    pareto_front,
    setting_values,
)

LOG_SPAN = 10.0
"""An axis goes logarithmic when max/min of its (positive) data exceeds this ratio."""

MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")

BREAKDOWN_COLOURS = {
    "mac": "#4477AA", "pe_registers": "#66CCEE", "pe_forwarding": "#228833", "sram_ifmap": "#CCBB44",
    "sram_weight": "#EE6677", "sram_ofmap": "#AA3377", "dram": "#BBBBBB", "leakage_logic": "#222222",
    "leakage_ifmap": "#8C8150", "leakage_weight": "#9E5A63", "leakage_ofmap": "#7A4A6E", "leakage": "#555555",
    "vector": "#EE9944",
}


def _wants_log(values: Iterable[float]) -> bool:
    vals = [v for v in values if v is not None and v > 0]
    return bool(vals) and max(vals) / min(vals) > LOG_SPAN


def _empty(fig: Figure, message: str) -> Figure:
    ax = fig.add_subplot()
    ax.set_axis_off()
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=11, wrap=True)
    return fig


def _bit_styles(points: list[ReportPoint]) -> tuple[dict, dict]:
    from matplotlib import colormaps

    wbits = sorted({p.weight_bits for p in points if p.weight_bits is not None})
    abits = sorted({p.act_bits for p in points if p.act_bits is not None})
    cmap = colormaps["viridis"]
    colours = {b: cmap(i / max(1, len(wbits) - 1) * 0.9) for i, b in enumerate(wbits)}
    markers = {b: MARKERS[i % len(MARKERS)] for i, b in enumerate(abits)}
    return colours, markers


@dataclass(frozen=True)
class FigureOptions:
    """What the trade-off figures judge and how they style the points.

    ``color_by``, ``marker_by`` and ``facet_by`` are dotted config keys (``hardware.dataflow``,
    ``quant.weight_bits``: any key a point's config has); None keeps the defaults: colour by
    weight bits, marker by activation bits, one panel.
    """

    max_accuracy_drop: float | None = DEFAULT_MAX_ACCURACY_DROP
    """Points of top-1 a point may lose against float and stay eligible for the front (None: any)."""
    max_power_mw: float | None = None
    """Power budget, milliwatt: points above it are greyed and not eligible (None: no budget)."""
    color_by: str | None = None
    marker_by: str | None = None
    facet_by: str | None = None


@dataclass
class _Style:
    """How each point is drawn: colour and marker functions and their legend entries."""

    colour: Callable[[ReportPoint], Any]
    marker: Callable[[ReportPoint], str]
    handles: list[Line2D]
    colorbar: tuple[Any, str] | None = None
    """(ScalarMappable, label) when the colour axis is numeric with many values."""


def _short(key: str) -> str:
    return {"quant.weight_bits": "weights", "quant.act_bits": "activations"}.get(key, key.rsplit(".", 1)[-1])


def _value_text(key: str, v: Any) -> str:
    if key in ("quant.weight_bits", "quant.act_bits"):
        return f"{_short(key)} {v} bit"
    return f"{_short(key)} = {v}"


def _setting(p: ReportPoint, key: str) -> Any:
    v = p.setting(key)
    return json.dumps(v, sort_keys=True) if isinstance(v, (dict, list)) else v


def _values(points: list[ReportPoint], key: str) -> list[Any]:
    try:
        return [v for v in setting_values(points, key) if v is not None]
    except InputFileError:
        return []


def _style(points: list[ReportPoint], opts: FigureOptions) -> _Style:
    """Colour by ``opts.color_by`` (default weight bits), marker by ``opts.marker_by`` (default
    activation bits). A numeric colour axis with more than 10 values gets a colour bar (log-scaled
    when it spans more than a decade); otherwise each value gets a legend entry."""
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import LogNorm, Normalize

    ckey = opts.color_by or "quant.weight_bits"
    mkey = opts.marker_by or "quant.act_bits"
    handles: list[Line2D] = []
    colorbar = None
    cvals = _values(points, ckey)
    numeric = bool(cvals) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in cvals)
    if numeric and len(cvals) > 10:
        lo, hi = min(cvals), max(cvals)
        norm = LogNorm(lo, hi) if lo > 0 and hi / lo > LOG_SPAN else Normalize(lo, hi)
        cmap = colormaps["viridis"]
        colorbar = (ScalarMappable(norm=norm, cmap=cmap), ckey)

        def colour(p: ReportPoint) -> Any:
            v = p.setting(ckey)
            return cmap(norm(v)) if isinstance(v, (int, float)) else "0.5"
    else:
        if numeric:
            table = {v: colormaps["viridis"](i / max(1, len(cvals) - 1) * 0.9) for i, v in enumerate(cvals)}
        else:
            table = {v: colormaps["tab10"](i % 10) for i, v in enumerate(cvals)}

        def colour(p: ReportPoint) -> Any:
            return table.get(_setting(p, ckey), "0.5")

        handles += [Line2D([], [], color=c, marker="o", ls="", label=_value_text(ckey, v)) for v, c in table.items()]
    mtable = {v: MARKERS[i % len(MARKERS)] for i, v in enumerate(_values(points, mkey))}

    def marker(p: ReportPoint) -> str:
        return mtable.get(_setting(p, mkey), "o")

    if len(mtable) > 1 or opts.marker_by:
        handles += [Line2D([], [], color="0.3", marker=m, ls="", mfc="none", label=_value_text(mkey, v))
                    for v, m in mtable.items()]
    return _Style(colour, marker, handles, colorbar)


def _facets(points: list[ReportPoint], facet_by: str | None) -> list[tuple[str, list[ReportPoint]]]:
    """(panel title, its points), one panel per value of *facet_by* (one untitled panel if None)."""
    if not facet_by:
        return [("", points)]
    return [(_value_text(facet_by, v), [p for p in points if _setting(p, facet_by) == v])
            for v in setting_values(points, facet_by)]


def _scatter(ax, pts: list[ReportPoint], x: str, y: str, style: _Style, is_ok: Callable[[ReportPoint], bool],
             size: float) -> None:
    """Draw *pts* grouped by (colour, marker, eligible): one scatter call per group, so thousands
    of points draw quickly; ineligible points grey, under the rest."""
    from matplotlib.colors import to_hex

    groups: dict = {}
    for p in pts:
        ok = is_ok(p)
        key = (to_hex(style.colour(p) if ok else "0.72"), style.marker(p), ok)
        groups.setdefault(key, []).append(p)
    for (c, m, ok), ps in groups.items():
        ax.scatter([p.metric(x) for p in ps], [p.metric(y) for p in ps], s=size, color=c, marker=m,
                   edgecolors="black" if ok else "none", linewidths=0.4, zorder=3 if ok else 1,
                   alpha=1.0 if ok else 0.45)


def _freeze_layout(fig: Figure):
    """Lay the figure out now and keep that layout, so the label boxes measured next stay where
    they are measured (saving at another dpi scales boxes and offsets alike). Returns the renderer."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    fig.set_layout_engine("none")
    return canvas.get_renderer()


LABEL_DIRECTIONS = ((1, 1), (-1, 1), (1, -1), (-1, -1), (1, 0), (-1, 0), (0, 1), (0, -1))


def place_labels(ax, renderer, items: list[tuple[float, float, str]], taken: list, *, fontsize: float = 7,
                 color: Any = "crimson", radii: tuple[float, ...] = (4, 9, 15, 23, 33, 45)) -> int:
    """Annotate each ``(x, y, text)`` of *items* (data coordinates) at the first offset around its
    point whose text box lies inside the axes and overlaps no box in *taken* (display boxes of
    text already placed, 1 px apart; each new box is appended). Offsets: 8 directions at growing
    radii (points), with a thin leader line beyond 9 points. A label that fits nowhere is left
    out (the report's table still names it).

    Returns
    -------
    int
        The number of labels placed.
    """
    axbox = ax.get_window_extent(renderer)
    placed = 0
    for x, y, text in items:
        done = False
        for r in radii:
            for dx, dy in LABEL_DIRECTIONS:
                norm = math.hypot(dx, dy)
                ann = ax.annotate(
                    text, (x, y), xytext=(r * dx / norm, r * dy / norm), textcoords="offset points",
                    fontsize=fontsize, color=color, zorder=6,
                    ha="left" if dx > 0 else ("right" if dx < 0 else "center"),
                    va="bottom" if dy > 0 else ("top" if dy < 0 else "center"),
                    arrowprops=dict(arrowstyle="-", color=color, lw=0.5, shrinkA=0, shrinkB=2) if r > 9 else None)
                box = ann.get_window_extent(renderer).padded(1.0)
                inside = axbox.x0 <= box.x0 and box.x1 <= axbox.x1 and axbox.y0 <= box.y0 and box.y1 <= axbox.y1
                if inside and not any(box.overlaps(t) for t in taken):
                    taken.append(box)
                    placed += 1
                    done = True
                    break
                ann.remove()
            if done:
                break
    return placed


def energy_text(uj: float) -> str:
    """An energy given in µJ as text in the unit that keeps it between 1 and 1000 (pJ .. J)."""
    for scale, unit in ((1e6, "J"), (1e3, "mJ"), (1.0, "µJ"), (1e-3, "nJ")):
        if abs(uj) >= scale:
            return f"{uj / scale:g} {unit}"
    return f"{uj * 1e6:g} pJ"


def _energy_lines(ax, colour: str = "0.55") -> list[tuple[float, float, str]]:
    """Dashed lines of constant energy per inference on power (mW) against throughput (1/s) axes:
    ``P = E x T`` (E in µJ: mW = µJ x 1/s x 1e-3), at 1-2-5 per decade across the view (decades
    only when that would be more than 7 lines). Returns where to label each line: 90 % of the way
    (in log x) to where it leaves the view."""
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    if x0 <= 0 or y0 <= 0:
        return []
    e_lo, e_hi = y0 / x1 * 1e3, y1 / x0 * 1e3
    k0, k1 = math.floor(math.log10(e_lo)), math.ceil(math.log10(e_hi))
    values = [m * 10.0 ** k for k in range(k0, k1 + 1) for m in (1, 2, 5) if e_lo <= m * 10.0 ** k <= e_hi]
    if len(values) > 7:
        values = [v for v in values if f"{v:g}".lstrip("0.").startswith("1")]
    labels = []
    for e in values:
        ax.plot([x0, x1], [e * 1e-3 * x0, e * 1e-3 * x1], ls="--", lw=0.8, color=colour, zorder=0)
        x_exit = min(x1, y1 / (e * 1e-3))
        if ax.get_xscale() == "log":
            xl = math.exp(math.log(x0) + 0.9 * (math.log(x_exit) - math.log(x0)))
        else:
            xl = x0 + 0.9 * (x_exit - x0)
        labels.append((xl, e * 1e-3 * xl, energy_text(e)))
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    return labels


def _tradeoff_figure(points: list[ReportPoint], opts: FigureOptions, y: str, ylabel: str, what: str) -> Figure:
    """The body of :func:`pareto_figure` (y = energy per inference) and :func:`power_figure`
    (y = average power): scatter, front, facets, legend, then the labels placed without overlap."""
    pts = [p for p in points if p.ok and p.metric("inferences_per_s") and p.metric(y)
           and p.metric("energy_per_inference_uj")]
    facets = _facets(pts, opts.facet_by) if pts else [("", [])]
    n = len(facets)
    cols = min(3, n)
    rows = -(-n // cols)
    fig = Figure(figsize=(8.5 + 3.4 * (cols - 1), 5.5 + 3.6 * (rows - 1)), layout="constrained")
    if not pts:
        return _empty(fig, f"no finished point has throughput and {what}")
    style = _style(pts, opts)
    front = pareto_front(pts, opts.max_accuracy_drop, opts.max_power_mw)
    numbers = front_numbers(front)

    def is_ok(p: ReportPoint) -> bool:
        return eligible(p, opts.max_accuracy_drop, opts.max_power_mw)

    grid = fig.subplots(rows, cols, sharex=True, sharey=True, squeeze=False)
    axes = [a for row in grid for a in row]
    for extra in axes[n:]:
        extra.set_axis_off()
    axes = axes[:n]
    size = 42 if len(pts) <= 200 else (16 if len(pts) <= 1500 else 7)
    fronts = []
    for ax, (title, fpts) in zip(axes, facets):
        _scatter(ax, fpts, "inferences_per_s", y, style, is_ok, size)
        keys = {q.key for q in fpts}
        ff = [p for p in front if p.key in keys]
        fx, fy = [p.metric("inferences_per_s") for p in ff], [p.metric(y) for p in ff]
        ax.plot(fx, fy, "-", color="crimson", lw=1.3, zorder=4)
        ax.scatter(fx, fy, s=max(60, size * 3), facecolors="none", edgecolors="crimson", linewidths=1.3, zorder=5)
        fronts.append((ax, ff))
        if title:
            ax.set_title(title, fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
        ax.tick_params(labelsize=7)
    _log_scales(axes[0], [p.metric("inferences_per_s") for p in pts], [p.metric(y) for p in pts])
    for ax in axes[-cols:]:
        ax.set_xlabel("throughput (inferences/s)", fontsize=8)
    for ax in axes[::cols]:
        ax.set_ylabel(ylabel, fontsize=8)
    line_labels = [_energy_lines(ax) for ax in axes] if y == "power_mw" else [[] for _ in axes]
    if y == "power_mw" and opts.max_power_mw is not None:
        for ax in axes:
            ax.axhline(opts.max_power_mw, color="firebrick", ls=":", lw=1.2, zorder=2)
    faded = sum(not is_ok(p) for p in pts)
    rules = []
    if opts.max_accuracy_drop is not None:
        rules.append(f"top-1 drop <= {opts.max_accuracy_drop:g} points")
    if opts.max_power_mw is not None:
        rules.append(f"power <= {opts.max_power_mw:g} mW")
    rule = " and ".join(rules) or "no accuracy floor or power budget"
    sub = f"grey: {faded} points outside {rule}" if faded else f"eligible for the front: {rule}"
    fig.suptitle(f"{what[0].upper() + what[1:]} vs throughput: {len(front)} of {len(pts)} points on the Pareto "
                 f"front, numbered by throughput (the report's front table names them)\n{sub}", fontsize=9)
    handles = [Line2D([], [], color="crimson", lw=1.3, marker="o", mfc="none", ms=9, label="Pareto front")]
    if y == "power_mw":
        handles.append(Line2D([], [], color="0.55", ls="--", lw=0.8, label="constant energy per inference"))
        if opts.max_power_mw is not None:
            handles.append(Line2D([], [], color="firebrick", ls=":", lw=1.2,
                                  label=f"power budget {opts.max_power_mw:g} mW"))
    if faded:
        handles.append(Line2D([], [], color="0.72", marker="o", ls="", label="outside floor / budget"))
    handles += style.handles[:30]
    if style.colorbar is not None:
        fig.colorbar(style.colorbar[0], ax=axes, label=style.colorbar[1], shrink=0.8)
    fig.legend(handles=handles, fontsize=7, loc="outside lower center", ncols=min(4, len(handles)), framealpha=0.85)
    renderer = _freeze_layout(fig)
    taken: list = []
    for ax, labels in zip(axes, line_labels):
        place_labels(ax, renderer, labels, taken, fontsize=6.5, color="0.35", radii=(2, 8, 16))
    for ax, ff in fronts:
        place_labels(ax, renderer, [(p.metric("inferences_per_s"), p.metric(y), str(numbers[p.key])) for p in ff],
                     taken)
    return fig


def _log_scales(ax, xs: list[float], ys: list[float]) -> None:
    if _wants_log(xs):
        ax.set_xscale("log")
    if _wants_log(ys):
        ax.set_yscale("log")


def pareto_figure(points: list[ReportPoint], max_accuracy_drop: float | None = DEFAULT_MAX_ACCURACY_DROP,
                  options: FigureOptions | None = None) -> Figure:
    """Energy per inference (µJ) against throughput (inferences/s), the Pareto front highlighted.

    Colour = weight bits and marker = activation bits unless *options* name other keys (and a
    facet key splits the points into panels); front points are joined by a line and numbered
    along it (the report's front table names them), each number placed where it overlaps no
    other text. Points losing more than the accuracy floor, or above the power budget, are
    greyed and cannot be on the front.
    """
    opts = options or FigureOptions(max_accuracy_drop=max_accuracy_drop)
    return _tradeoff_figure(points, opts, "energy_per_inference_uj", "energy per inference (µJ)",
                            "energy per inference")


def power_figure(points: list[ReportPoint], options: FigureOptions | None = None) -> Figure:
    """Average power (mW) against throughput (inferences/s), with dashed lines of constant energy
    per inference (``P = E x T``: lower right of a line is cheaper per inference), the same
    numbered Pareto front as :func:`pareto_figure`, and the power budget as a dotted line."""
    return _tradeoff_figure(points, options or FigureOptions(), "power_mw", "average power (mW)", "average power")


def accuracy_figure(points: list[ReportPoint]) -> Figure:
    """Quantized top-1 accuracy (%) against weight bits, one line per activation width.

    Accuracy does not depend on hardware, so points sharing bit widths are averaged (they hold
    the same cached number). The float model's top-1 is a dashed line.
    """
    fig = Figure(figsize=(7, 4.5), layout="constrained")
    pts = [p for p in points if p.ok and p.metric("quant_top1") is not None and p.weight_bits is not None]
    if not pts:
        return _empty(fig, "accuracy not measured\n(topology-only runs have no weights or test data)")
    ax = fig.add_subplot()
    colours, markers = _bit_styles(pts)
    by_act: dict = {}
    for p in pts:
        by_act.setdefault(p.act_bits, {}).setdefault(p.weight_bits, []).append(p.metric("quant_top1"))
    cmap_colours = {}
    from matplotlib import colormaps

    acts = sorted(by_act, key=lambda b: (b is None, b))
    for i, a in enumerate(acts):
        cmap_colours[a] = colormaps["plasma"](i / max(1, len(acts) - 1) * 0.85)
        series = sorted(by_act[a].items())
        ax.plot([w for w, _ in series], [100 * sum(v) / len(v) for _, v in series], marker=markers.get(a, "o"),
                color=cmap_colours[a], label=f"activations {a} bit")
    floats = [p.metric("float_top1") for p in pts if p.metric("float_top1") is not None]
    if floats:
        ax.axhline(100 * floats[0], ls="--", color="0.3", lw=1, label="float model")
    wbits = sorted({p.weight_bits for p in pts})
    ax.set_xticks(wbits)
    ax.set_xlabel("weight width (bits)")
    ax.set_ylabel("top-1 accuracy (%)")
    ax.set_title("Accuracy of the integer datapath against bit width", fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def breakdown_kinds(points: list[ReportPoint]) -> list[str]:
    """Energy kinds present in the points, known kinds first in their fixed order."""
    seen = []
    for p in points:
        for k in (p.result.breakdown() if p.result is not None else {}):
            if k not in seen:
                seen.append(k)
    return [k for k in ENERGY_KINDS if k in seen] + [k for k in seen if k not in ENERGY_KINDS]


def breakdown_figure(points: list[ReportPoint], max_points: int = 64) -> Figure:
    """Energy per inference (µJ) of each point as stacked bars of its event kinds.

    Points are sorted by total energy; more than *max_points* keeps the cheapest and the
    costliest halves (the title says so).
    """
    pts = [p for p in points if p.ok and p.result is not None and p.result.energy_breakdown_uj]
    width = min(16.0, max(6.0, 0.28 * len(pts) + 2.5))
    fig = Figure(figsize=(width, 5), layout="constrained")
    if not pts:
        return _empty(fig, "no energy breakdown in the results")
    pts.sort(key=lambda p: sum(p.result.breakdown().values()))
    note = ""
    if len(pts) > max_points:
        half = max_points // 2
        note = f" ({max_points} of {len(pts)}: cheapest and costliest)"
        pts = pts[:half] + pts[-half:]
    kinds = breakdown_kinds(pts)
    ax = fig.add_subplot()
    bottoms = [0.0] * len(pts)
    xs = range(len(pts))
    for k in kinds:
        vals = [p.result.breakdown().get(k, 0.0) for p in pts]
        if not any(vals):
            continue
        ax.bar(xs, vals, bottom=bottoms, color=BREAKDOWN_COLOURS.get(k), label=k, width=0.8,
               edgecolor="white", linewidth=0.3)
        bottoms = [b + v for b, v in zip(bottoms, vals)]
    ax.set_xticks(list(xs))
    ax.set_xticklabels([p.label for p in pts], rotation=75, ha="right", fontsize=7)
    ax.set_ylabel("energy per inference (µJ)")
    ax.set_title("Energy breakdown per point" + note, fontsize=10)
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=7, ncols=min(5, len(kinds)), loc="upper left")
    return fig


def layers_figure(point: ReportPoint) -> Figure:
    """Per-layer utilization (%) and cycles split into compute and stall, for one point.

    Cycles are stacked (compute + stall = total) on a linear axis; when layer totals span more
    than a decade the axis goes logarithmic and the two are drawn side by side instead.
    """
    layers = point.result.layers if point.result is not None else ()
    fig = Figure(figsize=(max(7.0, 0.45 * len(layers) + 3), 6.5), layout="constrained")
    if not layers:
        return _empty(fig, f"point {point.label}: no per-layer results")
    names = [str(l.name) for l in layers]
    xs = list(range(len(layers)))
    ax_u, ax_c = fig.subplots(2, 1, sharex=True)
    util = [100 * float(l.utilization or 0.0) for l in layers]
    ax_u.bar(xs, util, color="#4477AA")
    ax_u.set_ylabel("array utilization (%)")
    ax_u.set_ylim(0, 105)
    ax_u.grid(True, axis="y", alpha=0.3)
    comp = [float(l.compute_cycles or 0) for l in layers]
    stall = [float(l.stall_cycles or 0) for l in layers]
    totals = [c + s for c, s in zip(comp, stall)]
    if _wants_log(totals):
        # stacked segments mislead on a log axis: draw compute and stall side by side instead
        ax_c.bar([x - 0.2 for x in xs], comp, width=0.4, color="#228833", label="compute")
        ax_c.bar([x + 0.2 for x in xs], stall, width=0.4, color="#EE6677", label="stall (waiting on DRAM / buffers)")
        ax_c.set_yscale("log")
    else:
        ax_c.bar(xs, comp, color="#228833", label="compute")
        ax_c.bar(xs, stall, bottom=comp, color="#EE6677", label="stall (waiting on DRAM / buffers)")
    ax_c.set_ylabel("cycles per inference")
    ax_c.legend(fontsize=8)
    ax_c.grid(True, axis="y", alpha=0.3)
    ax_c.set_xticks(xs)
    ax_c.set_xticklabels(names, rotation=60, ha="right", fontsize=7)
    total = point.metric("total_cycles")
    stalls = point.metric("stall_cycles")
    share = f", {100 * stalls / total:.1f} % stalled" if total and stalls is not None else ""
    fig.suptitle(f"Per-layer utilization and stalls: {point.label}{share}", fontsize=10)
    return fig


def all_figures(points: list[ReportPoint], detail: ReportPoint | None,
                max_accuracy_drop: float | None = DEFAULT_MAX_ACCURACY_DROP,
                options: FigureOptions | None = None) -> dict[str, Figure]:
    """The report's figures by file stem, in page order (*options* wins over *max_accuracy_drop*)."""
    opts = options or FigureOptions(max_accuracy_drop=max_accuracy_drop)
    figs = {
        "pareto": pareto_figure(points, options=opts),
        "power": power_figure(points, opts),
        "accuracy": accuracy_figure(points),
        "breakdown": breakdown_figure(points),
    }
    if detail is not None:
        figs["layers"] = layers_figure(detail)
    return figs


def log_axes(fig: Figure) -> list[tuple[str, str]]:
    """(x scale, y scale) of each axes of *fig* - for tests and the report's notes."""
    return [(ax.get_xscale(), ax.get_yscale()) for ax in fig.axes]


def finite(values: Iterable[float | None]) -> list[float]:
    return [v for v in values if v is not None and math.isfinite(v)]
