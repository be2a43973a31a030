"""Reports: tables, matplotlib figures, the self-contained HTML page, the Perfetto trace.

- :mod:`~accelsim.report.points` - reading a results store or a run's ``summary.json``;
  :func:`pareto_front`, :func:`best_point`;
- :mod:`~accelsim.report.figures` - the trade-off figures;
- :mod:`~accelsim.report.html` - :func:`build_report` writes PNGs, CSV/JSON and ``index.html``;
- :mod:`~accelsim.report.trace` - :func:`write_trace`, Chrome trace-event JSON of one inference.

Names are imported on first use, so that commands which only need :mod:`points` (or nothing
here) do not pay for importing matplotlib.
"""

from accelsim.lazy import lazy_getattr

_WHERE = {
    "build_report": "accelsim.report.html",
    "ReportPoint": "accelsim.report.points",
    "best_point": "accelsim.report.points",
    "find_point": "accelsim.report.points",
    "load_points": "accelsim.report.points",
    "pareto_front": "accelsim.report.points",
    "write_trace": "accelsim.report.trace",
}

__all__ = sorted(_WHERE)

__getattr__ = lazy_getattr(__name__, _WHERE)
