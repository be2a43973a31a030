"""The report folder: figures as PNG, the points as CSV and JSON, one self-contained HTML page.

The HTML page embeds every figure as a base64 PNG and sorts its table with a few lines of inline
JavaScript (click a column header; click again to reverse) - no network, no external file, so it
opens from a mail attachment or a CI artifact just as well.
"""

from __future__ import annotations

import base64
import csv
import datetime as _dt
import html
import io
import json
import math
import os
from pathlib import Path
from typing import Any

from accelsim import __version__
from accelsim.atomic import atomic_open, make_dirs, remove_stale_temporaries, write_bytes, write_text
from accelsim.report.figures import FigureOptions, all_figures
from accelsim.report.points import (
    DEFAULT_MAX_ACCURACY_DROP,
    ReportPoint,
    best_point,
    front_numbers,
    pareto_front,
)

COLUMNS: tuple[tuple[str, str, str, float], ...] = (
    # (header with unit, result key, number format, scale)
    ("throughput (inferences/s)", "inferences_per_s", "{:.4g}", 1.0),
    ("latency (ms)", "latency_s", "{:.4g}", 1e3),
    ("energy (µJ/inference)", "energy_per_inference_uj", "{:.4g}", 1.0),
    ("power (mW)", "power_mw", "{:.4g}", 1.0),
    ("TOPS/W", "tops_per_w", "{:.4g}", 1.0),
    ("float top-1 (%)", "float_top1", "{:.2f}", 100.0),
    ("quant top-1 (%)", "quant_top1", "{:.2f}", 100.0),
    ("utilization (%)", "utilization", "{:.1f}", 100.0),
    ("total cycles", "total_cycles", "{:.0f}", 1.0),
    ("stall cycles", "stall_cycles", "{:.0f}", 1.0),
)
"""Table columns after the axis values: header (with unit), summary key, format, multiplier."""


def axis_keys(points: list[ReportPoint]) -> list[str]:
    """The dotted keys that vary across the points (the sweep's axes), in first-seen order."""
    keys: list[str] = []
    for p in points:
        for k in p.overrides:
            if k not in keys:
                keys.append(k)
    return keys


def _cell(value: float | None, fmt: str, scale: float) -> tuple[str, str]:
    """(text shown, sort value) of a number; missing → ('–', '')."""
    if value is None or not math.isfinite(value):
        return "–", ""
    return fmt.format(value * scale), repr(value * scale)


def _options(options: FigureOptions | None, max_accuracy_drop: float | None) -> FigureOptions:
    return options or FigureOptions(max_accuracy_drop=max_accuracy_drop)


def table_rows(points: list[ReportPoint], max_accuracy_drop: float | None = DEFAULT_MAX_ACCURACY_DROP,
               options: FigureOptions | None = None) -> tuple[list[str], list[list[Any]]]:
    """Header and rows of the points table (plain values, for CSV); ``pareto`` holds the point's
    number on the front (as the figures label it), empty when off the front."""
    opts = _options(options, max_accuracy_drop)
    axes = axis_keys(points)
    numbers = front_numbers(pareto_front(points, opts.max_accuracy_drop, opts.max_power_mw))
    header = ["index", "status", *axes, *(c[0] for c in COLUMNS), "pareto", "key", "error", "warnings"]
    rows = []
    for p in points:
        vals = [p.metric(key) for _, key, _, _ in COLUMNS]
        rows.append([p.index, p.status, *(p.overrides.get(a) for a in axes),
                     *(None if v is None else v * c[3] for v, c in zip(vals, COLUMNS)),
                     numbers.get(p.key), p.key, p.error or "", " | ".join(p.warnings)])
    return header, rows


def write_tables(points: list[ReportPoint], out_dir: Path,
                 max_accuracy_drop: float | None = DEFAULT_MAX_ACCURACY_DROP,
                 options: FigureOptions | None = None) -> None:
    """``points.csv`` (the table) and ``points.json`` (full records) in *out_dir*."""
    header, rows = table_rows(points, max_accuracy_drop, options)
    with atomic_open(out_dir / "points.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        for r in rows:
            w.writerow(["" if v is None else v for v in r])
    records = [{"index": p.index, "key": p.key, "status": p.status, "overrides": p.overrides,
                "error": p.error, "warnings": list(p.warnings),
                "result": p.result.to_dict() if p.result is not None else None} for p in points]
    write_text(out_dir / "points.json", json.dumps(records, indent=1, allow_nan=False, default=str) + "\n")


_SORT_JS = """
document.querySelectorAll('table.sortable').forEach(function (table) {
  table.querySelectorAll('th').forEach(function (th, col) {
    th.addEventListener('click', function () {
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      var asc = th.getAttribute('data-dir') !== 'asc';
      table.querySelectorAll('th').forEach(function (h) { h.removeAttribute('data-dir'); });
      th.setAttribute('data-dir', asc ? 'asc' : 'desc');
      rows.sort(function (a, b) {
        var x = a.cells[col].getAttribute('data-v'), y = b.cells[col].getAttribute('data-v');
        var nx = parseFloat(x), ny = parseFloat(y);
        var cmp;
        if (x === '' && y === '') cmp = 0;
        else if (x === '') return 1;
        else if (y === '') return -1;
        else if (!isNaN(nx) && !isNaN(ny)) cmp = nx - ny;
        else cmp = x < y ? -1 : (x > y ? 1 : 0);
        return asc ? cmp : -cmp;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
"""

_CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; max-width: 1400px; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { font-size: 0.9em; color: #444; max-width: 60em; }
table { border-collapse: collapse; font-size: 0.82em; }
th, td { border: 1px solid #ccc; padding: 3px 6px; text-align: right; white-space: nowrap; }
th { background: #f0f0f0; cursor: pointer; position: sticky; top: 0; }
th[data-dir=asc]::after { content: ' ▲'; } th[data-dir=desc]::after { content: ' ▼'; }
tr.pareto td { background: #fff0f0; } tr.error td { color: #a00; }
td.text { text-align: left; } .meta { color: #555; font-size: 0.9em; }
"""

TITLES = {
    "pareto": "Energy per inference vs throughput",
    "power": "Average power vs throughput",
    "accuracy": "Accuracy vs bit width",
    "breakdown": "Energy breakdown per point",
    "layers": "Per-layer utilization and stalls",
}

CAPTIONS = {
    "pareto": "Energy per inference against throughput for every finished point. Colour: weight width; "
              "marker: activation width. Red: the Pareto front - points no other point beats on both "
              "axes, among the points that lose at most the report's accuracy floor against the float "
              "model (faded points lose more); anything off the front costs more energy for the same "
              "speed or less.",
    "power": "Average power (energy per inference x inferences per second) against throughput. Dashed: "
             "lines of constant energy per inference (power = energy x throughput), so a point further "
             "below-right of a line spends less per inference; dotted red: the power budget (--max-power), "
             "points above it greyed and kept off the front. The numbered points are the same Pareto front "
             "as above (see the front table).",
    "accuracy": "Top-1 accuracy of the integer datapath (calibrated on one batch) against weight width, "
                "one line per activation width; dashed: the float model.",
    "breakdown": "Where each point's energy goes, by event kind (MACs, PE registers and forwarding, "
                 "the three SRAM buffers, DRAM, leakage of the logic and of each buffer over the run's "
                 "cycles, vector unit).",
    "layers": "Per-layer array utilization (MACs done / MAC slots during compute) and cycles split into "
              "compute and stalls waiting on DRAM or buffer space, for the detailed point.",
}


def _png_bytes(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    return buf.getvalue()


def render_html(points: list[ReportPoint], figures_b64: dict[str, str], title: str,
                detail: ReportPoint | None, source: str,
                max_accuracy_drop: float | None = DEFAULT_MAX_ACCURACY_DROP,
                options: FigureOptions | None = None) -> str:
    """The whole page as one string."""
    esc = html.escape
    opts = _options(options, max_accuracy_drop)
    axes = axis_keys(points)
    front_list = pareto_front(points, opts.max_accuracy_drop, opts.max_power_mw)
    numbers = front_numbers(front_list)
    front = set(numbers)
    n_ok = sum(p.ok for p in points)
    out = [
        "<!DOCTYPE html>", "<html lang='en'><head><meta charset='utf-8'>",
        f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
        f"<p class='meta'>{len(points)} points ({n_ok} ok, {len(points) - n_ok} failed), "
        f"{len(front)} on the Pareto front. Source: {esc(source)}. accelsim {esc(__version__)}, "
        f"{_dt.datetime.now(_dt.timezone.utc):%Y-%m-%d %H:%M} UTC.</p>",
    ]
    if detail is not None:
        out.append(f"<p class='meta'>Detailed point: <b>{esc(detail.label)}</b> (index {detail.index}, "
                   f"key {esc(detail.key[:12])}).</p>")
    for stem, b64 in figures_b64.items():
        out.append(f"<h2>{esc(TITLES.get(stem, stem))}</h2><figure><img alt='{esc(stem)}' "
                   f"src='data:image/png;base64,{b64}'><figcaption>{esc(CAPTIONS.get(stem, ''))}"
                   "</figcaption></figure>")
        if stem == "power":
            out.extend(_front_table(front_list, numbers, axes))
    out.append("<h2>Points</h2><p class='meta'>Click a column header to sort. Shaded rows: Pareto front.</p>")
    out.append("<table class='sortable'><thead><tr>")
    headers = ["#", "status", "front", *axes, *(c[0] for c in COLUMNS), "key", "error / warnings"]
    out.append("".join(f"<th>{esc(h)}</th>" for h in headers))
    out.append("</tr></thead><tbody>")
    for p in points:
        cls = "pareto" if p.key in front else ("error" if not p.ok else "")
        n = numbers.get(p.key)
        cells = [(str(p.index), str(p.index), ""), (p.status, p.status, "text"),
                 ("" if n is None else str(n), "" if n is None else str(n), "")]
        for a in axes:
            v = p.overrides.get(a)
            cells.append(("–" if v is None else str(v), "" if v is None else str(v), ""))
        for _, key, fmt, scale in COLUMNS:
            text, sort = _cell(p.metric(key), fmt, scale)
            cells.append((text, sort, ""))
        cells.append((p.key[:12], p.key, "text"))
        note = p.error or (f"{len(p.warnings)} warning{'s' if len(p.warnings) != 1 else ''}: "
                           + " | ".join(p.warnings) if p.warnings else "")
        cells.append((note if len(note) <= 120 else note[:119] + "…", note, "text"))
        out.append(f"<tr class='{cls}'>" + "".join(
            f"<td class='{c}' data-v='{esc(s, quote=True)}'>{esc(t)}</td>" for t, s, c in cells) + "</tr>")
    out.append("</tbody></table>")
    out.append(f"<script>{_SORT_JS}</script></body></html>")
    return "\n".join(out)


FRONT_COLUMNS = (COLUMNS[0], COLUMNS[2], COLUMNS[3], COLUMNS[4], COLUMNS[6])
"""The front table's numbers: throughput, energy, power, TOPS/W, quantized top-1."""


def _front_table(front: list[ReportPoint], numbers: dict[str, int], axes: list[str]) -> list[str]:
    """The Pareto front as a numbered table: the numbers the figures draw, each point's axis values."""
    esc = html.escape
    if not front:
        return ["<p class='meta'>No point is eligible for the Pareto front.</p>"]
    out = ["<h3>Pareto front</h3><p class='meta'>The numbers drawn on the two figures above, by rising "
           "throughput.</p><table class='sortable'><thead><tr>"]
    out.append("".join(f"<th>{esc(h)}</th>" for h in ["front", "#", *axes, *(c[0] for c in FRONT_COLUMNS)]))
    out.append("</tr></thead><tbody>")
    for p in front:
        cells = [(str(numbers[p.key]), str(numbers[p.key])), (str(p.index), str(p.index))]
        cells += [("–" if p.overrides.get(a) is None else str(p.overrides[a]), str(p.overrides.get(a, "")))
                  for a in axes]
        cells += [_cell(p.metric(key), fmt, scale) for _, key, fmt, scale in FRONT_COLUMNS]
        out.append("<tr>" + "".join(f"<td data-v='{esc(v, quote=True)}'>{esc(t)}</td>" for t, v in cells) + "</tr>")
    out.append("</tbody></table>")
    return out


def source_label(source: str, out_dir: Path) -> str:
    """*source* as the page shows it: relative to the report folder (``../../results/bitwidths``),
    never an absolute path of the machine that drew it (then just its name)."""
    if not source:
        return ""
    try:
        rel = os.path.relpath(Path(source).resolve(), Path(out_dir).resolve())
    except ValueError:  # another drive
        return Path(source).name
    return Path(source).resolve().name if rel.startswith(("../../../../", "..\\..\\..\\..\\")) else rel


def build_report(points: list[ReportPoint], out_dir: str | Path, *, title: str = "accelsim report",
                 detail: ReportPoint | None = None, source: str = "",
                 max_accuracy_drop: float | None = DEFAULT_MAX_ACCURACY_DROP,
                 options: FigureOptions | None = None) -> Path:
    """Write figures (PNG), ``points.csv``, ``points.json`` and ``index.html`` into *out_dir*.

    Parameters
    ----------
    points : the points (:func:`~accelsim.report.points.load_points`).
    out_dir : report folder (created).
    detail : the point whose layers are drawn; default :func:`~accelsim.report.points.best_point`.
    max_accuracy_drop : points of top-1 a point may lose against float and stay eligible for the
        Pareto front (None: every point is eligible).
    options : accuracy floor, power budget and the axes colouring, marking and splitting the
        trade-off figures (overrides *max_accuracy_drop*).

    Returns
    -------
    Path
        The HTML page.
    """
    out_dir = make_dirs(out_dir)
    remove_stale_temporaries(out_dir)
    if detail is None:
        detail = best_point(points)
    opts = _options(options, max_accuracy_drop)
    figs = all_figures(points, detail, options=opts)
    b64 = {}
    for stem, fig in figs.items():
        data = _png_bytes(fig)
        write_bytes(out_dir / f"{stem}.png", data)
        b64[stem] = base64.b64encode(data).decode("ascii")
    write_tables(points, out_dir, options=opts)
    page = out_dir / "index.html"
    write_text(page, render_html(points, b64, title, detail, source_label(source, out_dir), options=opts))
    return page
