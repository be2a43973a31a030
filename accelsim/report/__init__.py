"""Reports: tables, matplotlib figures, the self-contained HTML page, the Perfetto trace.

- :mod:`~accelsim.report.points` - reading a results store or a run's ``summary.json``;
  :func:`pareto_front`, :func:`best_point`;
- :mod:`~accelsim.report.figures` - the trade-off figures;
- :mod:`~accelsim.report.html` - :func:`build_report` writes PNGs, CSV/JSON and ``index.html``;
- :mod:`~accelsim.report.trace` - :func:`write_trace`, Chrome trace-event JSON of one inference.
"""

from accelsim.report.html import build_report
from accelsim.report.points import ReportPoint, best_point, find_point, load_points, pareto_front
from accelsim.report.trace import write_trace

__all__ = [
    "ReportPoint",
    "best_point",
    "build_report",
    "find_point",
    "load_points",
    "pareto_front",
    "write_trace",
]
