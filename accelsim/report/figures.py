"""Matplotlib figures of a sweep's trade-offs (object API on ``Figure``: no pyplot, no global state).

Each function takes report points and returns a :class:`matplotlib.figure.Figure`; axes carry
units, and an axis switches to a log scale when its data span more than a decade (ratio > 10).
A figure whose data are missing (e.g. accuracy of topology-only runs) says so in its middle
instead of drawing a wrong number.
"""

from __future__ import annotations

import math
from typing import Iterable

from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from accelsim.pipeline.result import ENERGY_KINDS
from accelsim.report.points import (
    DEFAULT_MAX_ACCURACY_DROP,
    ReportPoint,
    meets_accuracy,
    pareto_front,
)

LOG_SPAN = 10.0
"""An axis goes logarithmic when max/min of its (positive) data exceeds this ratio."""

MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")

BREAKDOWN_COLOURS = {
    "mac": "#4477AA", "pe_registers": "#66CCEE", "pe_forwarding": "#228833", "sram_ifmap": "#CCBB44",
    "sram_weight": "#EE6677", "sram_ofmap": "#AA3377", "dram": "#BBBBBB", "leakage": "#555555",
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


def _bits_legend_handles(colours: dict, markers: dict) -> list[Line2D]:
    handles = [Line2D([], [], color=c, marker="o", ls="", label=f"weights {b} bit") for b, c in colours.items()]
    handles += [Line2D([], [], color="0.3", marker=m, ls="", mfc="none", label=f"activations {b} bit")
                for b, m in markers.items()]
    return handles


def _bit_styles(points: list[ReportPoint]) -> tuple[dict, dict]:
    from matplotlib import colormaps

    wbits = sorted({p.weight_bits for p in points if p.weight_bits is not None})
    abits = sorted({p.act_bits for p in points if p.act_bits is not None})
    cmap = colormaps["viridis"]
    colours = {b: cmap(i / max(1, len(wbits) - 1) * 0.9) for i, b in enumerate(wbits)}
    markers = {b: MARKERS[i % len(MARKERS)] for i, b in enumerate(abits)}
    return colours, markers


def pareto_figure(points: list[ReportPoint], max_accuracy_drop: float | None = DEFAULT_MAX_ACCURACY_DROP) -> Figure:
    """Energy per inference (µJ) against throughput (inferences/s), the Pareto front highlighted.

    Colour = weight bits, marker = activation bits; front points are joined by a line and
    labelled with their axis values. Points losing more than *max_accuracy_drop* points of top-1
    against the float model are drawn faded and cannot be on the front.
    """
    fig = Figure(figsize=(8, 5.5), layout="constrained")
    pts = [p for p in points if p.ok and p.metric("inferences_per_s") and p.metric("energy_per_inference_uj")]
    if not pts:
        return _empty(fig, "no finished point has throughput and energy")
    ax = fig.add_subplot()
    colours, markers = _bit_styles(pts)
    excluded = 0
    for p in pts:
        ok = meets_accuracy(p, max_accuracy_drop)
        excluded += not ok
        ax.scatter(p.metric("inferences_per_s"), p.metric("energy_per_inference_uj"), s=42,
                   color=colours.get(p.weight_bits, "tab:blue"), marker=markers.get(p.act_bits, "o"),
                   edgecolors="black", linewidths=0.4, zorder=3, alpha=1.0 if ok else 0.2)
    front = pareto_front(pts, max_accuracy_drop)
    fx = [p.metric("inferences_per_s") for p in front]
    fy = [p.metric("energy_per_inference_uj") for p in front]
    ax.plot(fx, fy, "-", color="crimson", lw=1.6, zorder=2, label="Pareto front")
    ax.scatter(fx, fy, s=150, facecolors="none", edgecolors="crimson", linewidths=1.6, zorder=4)
    for p, x, y in zip(front, fx, fy):
        ax.annotate(p.label, (x, y), textcoords="offset points", xytext=(6, 6), fontsize=7, color="crimson")
    xs = [p.metric("inferences_per_s") for p in pts]
    ys = [p.metric("energy_per_inference_uj") for p in pts]
    if _wants_log(xs):
        ax.set_xscale("log")
    if _wants_log(ys):
        ax.set_yscale("log")
    ax.set_xlabel("throughput (inferences/s)")
    ax.set_ylabel("energy per inference (µJ)")
    floor = (f"\nfaded: {excluded} points losing more than {max_accuracy_drop:g} points of top-1 "
             "against the float model (not eligible for the front)" if excluded else "")
    ax.set_title(f"Energy vs throughput: {len(front)} of {len(pts)} points on the Pareto front "
                 f"(lower right is better){floor}", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    handles = [Line2D([], [], color="crimson", lw=1.6, marker="o", mfc="none", ms=10, label="Pareto front")]
    handles += _bits_legend_handles(colours, markers)
    ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), framealpha=0.85)
    return fig


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
                max_accuracy_drop: float | None = DEFAULT_MAX_ACCURACY_DROP) -> dict[str, Figure]:
    """The report's figures by file stem, in page order."""
    figs = {
        "pareto": pareto_figure(points, max_accuracy_drop),
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
