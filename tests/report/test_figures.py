"""Trade-off figures stay readable at hundreds of points: no text overlaps, styling by any axis."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from matplotlib.text import Text

from accelsim.errors import InputFileError
from accelsim.report.figures import FigureOptions, pareto_figure, power_figure
from accelsim.report.points import ReportPoint, pareto_front


def sweep_900() -> list[ReportPoint]:
    """A 900-point hardware sweep shaped like the issue's (array x dataflow x DRAM bandwidth x
    bits) with closed-form throughput and energy plus seeded noise: a dense cloud whose front
    has tens of points close together."""
    rng = np.random.default_rng(7)
    pts = []
    axes = itertools.product([8, 16, 32, 64, 128], ["os", "ws", "is"], [4, 8, 16, 32, 64], [2, 3, 4, 8],
                             [4, 8, 16])
    for i, (n, df, bw, wb, ab) in enumerate(axes):
        macs = 1.8e9
        util = {"os": 0.8, "ws": 0.7, "is": 0.6}[df] * min(1.0, bw / (n / 4))
        ips = 200e6 * n * n * util / macs * rng.uniform(0.9, 1.1)
        energy_uj = (macs * 1e-6 * 0.3 * wb * ab / 64 * (1 + n / 64) + 2.0 * bw ** 0.5 + 30.0 / util
                     ) * rng.uniform(0.85, 1.15)
        over = {"hardware.array.rows": n, "hardware.array.cols": n, "hardware.dataflow": df,
                "hardware.dram.bandwidth_bytes_per_cycle": bw, "quant.weight_bits": wb, "quant.act_bits": ab}
        cfg = {"hardware": {"array": {"rows": n, "cols": n}, "dataflow": df,
                            "dram": {"bandwidth_bytes_per_cycle": bw}},
               "quant": {"weight_bits": wb, "act_bits": ab}}
        pts.append(ReportPoint(key=f"{i:05d}", index=i, status="ok", overrides=over, config=cfg, result={
            "inferences_per_s": ips, "energy_per_inference_uj": energy_uj, "latency_s": 1 / ips,
            "power_mw": energy_uj * 1e-6 * ips * 1e3, "float_top1": 0.70,
            "quant_top1": 0.70 - 0.02 / wb - 0.02 / ab}))
    return pts


def _text_boxes(fig):
    """(text, display box) of every text of *fig* that is drawn: visible, not empty, in a visible
    axes, and for tick labels only those whose tick lies inside the view (matplotlib keeps
    labels of ticks just outside the limits but does not draw them)."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    tick_labels, drawn_ticks = set(), set()
    for ax in fig.axes:
        for axis, (lo, hi) in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim())):
            lo, hi = min(lo, hi), max(lo, hi)
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                for label in (tick.label1, tick.label2):
                    tick_labels.add(id(label))
                    if lo <= tick.get_loc() <= hi:
                        drawn_ticks.add(id(label))
    return [(t.get_text(), t.get_window_extent(renderer)) for t in fig.findobj(match=Text)
            if t.get_visible() and t.get_text().strip() and (t.axes is None or t.axes.get_visible())
            and (id(t) not in tick_labels or id(t) in drawn_ticks)]


def _overlaps(boxes):
    bad = []
    for (ta, a), (tb, b) in itertools.combinations(boxes, 2):
        if a.width and b.width and a.overlaps(b):
            bad.append((ta, tb))
    return bad


@pytest.fixture(scope="module")
def points():
    return sweep_900()


@pytest.mark.parametrize("draw", ["pareto", "power"])
@pytest.mark.parametrize("opts", [
    FigureOptions(),
    FigureOptions(color_by="hardware.dataflow", marker_by="quant.weight_bits", max_power_mw=50.0),
    FigureOptions(color_by="hardware.dram.bandwidth_bytes_per_cycle", facet_by="hardware.dataflow"),
], ids=["default", "colour-dataflow-budget", "facet-dataflow"])
def test_900_point_figures_have_no_overlapping_text(points, draw, opts):
    """Every visible text of the figure (front numbers, energy-line labels, titles, ticks, legend)
    measured as drawn: no two boxes intersect, and every front point got its number."""
    fig = (pareto_figure(points, options=opts) if draw == "pareto" else power_figure(points, opts))
    boxes = _text_boxes(fig)
    assert _overlaps(boxes) == []
    front = pareto_front(points, opts.max_accuracy_drop, opts.max_power_mw)
    assert len(front) >= (15 if opts.max_power_mw is None else 4)
    numbers = sorted(int(t) for t, _ in boxes if t.isdigit())
    panels = 3 if opts.facet_by else 1
    assert set(numbers) == set(range(1, len(front) + 1)) and len(numbers) == len(front) <= len(front) * panels


def test_power_budget_greys_points_and_keeps_them_off_the_front(points):
    budget = 30.0
    front = pareto_front(points, 1.0, budget)
    assert front and all(p.metric("power_mw") <= budget for p in front)
    assert any(p.metric("power_mw") > budget for p in pareto_front(points, 1.0))
    fig = power_figure(points, FigureOptions(max_power_mw=budget))
    ax = fig.axes[0]
    greys = [c for c in ax.collections if c.get_facecolor().shape[0] and
             np.allclose(c.get_facecolor()[0][:3], 0.72, atol=0.01)]
    grey_n = sum(len(c.get_offsets()) for c in greys)
    outside = sum(1 for p in points if p.metric("power_mw") > budget or
                  100 * (p.metric("float_top1") - p.metric("quant_top1")) > 1.0)
    assert grey_n == outside
    assert any(line.get_linestyle() == ":" and line.get_ydata()[0] == budget for line in ax.lines)


def test_constant_energy_lines_are_power_equal_energy_times_throughput(points):
    fig = power_figure(points)
    ax = fig.axes[0]
    labels = {t.get_text() for t in ax.texts if t.get_text().endswith("J")}
    assert labels
    dashed = [ln for ln in ax.lines if ln.get_linestyle() == "--"]
    assert len(dashed) >= len(labels)
    for ln in dashed:
        x, y = ln.get_xdata(), ln.get_ydata()
        e_uj = y[0] / x[0] * 1e3
        assert y[1] / x[1] * 1e3 == pytest.approx(e_uj, rel=1e-12)   # slope 1: constant energy


def test_unknown_colour_key_names_the_swept_axes(points):
    with pytest.raises(InputFileError, match=r"hardware\.dataflw: no point has this setting \(swept axes: .*hardware\.dataflow"):
        pareto_figure(points, options=FigureOptions(facet_by="hardware.dataflw"))


def test_energy_text_picks_the_unit():
    from accelsim.report.figures import energy_text

    assert [energy_text(v) for v in (2e6, 5e3, 10.0, 0.5, 2e-4)] == ["2 J", "5 mJ", "10 µJ", "500 nJ", "200 pJ"]
