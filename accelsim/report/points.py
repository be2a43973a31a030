"""Reading what reports draw: the points of a results store, or one run's ``summary.json``.

A report knows nothing of how numbers were made; it reads every result through one type,
:class:`~accelsim.pipeline.result.PointSummary` (``inferences_per_s``, ``energy_per_inference_uj``,
``energy_breakdown_uj``, ``quant_top1``, ``layers`` ...). Missing metrics are ``None`` and the
figures that need them say so instead of drawing a wrong number.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from accelsim.errors import InputFileError
from accelsim.pipeline.result import SUMMARY_FILE, PointSummary
from accelsim.sweep.store import META_FILE, ResultStore


@dataclass
class ReportPoint:
    """One point as reports see it."""

    key: str
    index: int
    status: str
    overrides: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    result: PointSummary | None = None
    """What the point measured (``None`` for a failed point); a dict is read as its JSON form."""
    error: str | None = None
    warnings: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if isinstance(self.result, dict):
            self.result = PointSummary.from_dict(self.result, source=f"point {self.index}") if self.result else None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def metric(self, name: str) -> float | None:
        """A numeric metric of the result, or ``None`` when missing or not finite."""
        return self.result.metric(name) if self.result is not None else None

    def setting(self, dotted: str) -> Any:
        """A config value by dotted key (``quant.weight_bits``), or ``None``."""
        node: Any = self.config
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                return self.overrides.get(dotted)
            node = node[part]
        return node

    @property
    def weight_bits(self) -> int | None:
        return self.setting("quant.weight_bits")

    @property
    def act_bits(self) -> int | None:
        return self.setting("quant.act_bits")

    @property
    def label(self) -> str:
        """Short label from the axis values: ``w4 a8 32x32 os`` style, else ``#index``."""
        if not self.overrides:
            parts = []
            if self.weight_bits is not None:
                parts.append(f"w{self.weight_bits} a{self.act_bits}")
            rows, cols = self.setting("hardware.array.rows"), self.setting("hardware.array.cols")
            if rows is not None:
                parts.append(f"{rows}x{cols}")
            return " ".join(parts) or f"#{self.index}"
        short = {"quant.weight_bits": "w", "quant.act_bits": "a"}
        parts = []
        keys = list(self.overrides)
        done = set()
        for k in keys:
            if k in done:
                continue
            v = self.overrides[k]
            if k == "hardware.array.rows" and "hardware.array.cols" in self.overrides:
                parts.append(f"{v}x{self.overrides['hardware.array.cols']}")
                done.add("hardware.array.cols")
            elif k == "hardware.array.cols" and "hardware.array.rows" in self.overrides:
                continue
            elif k in short:
                parts.append(f"{short[k]}{v}")
            else:
                parts.append(f"{k.rsplit('.', 1)[-1]}={v}")
            done.add(k)
        return " ".join(parts)


def _from_store(directory: Path) -> list[ReportPoint]:
    points = []
    for rec in ResultStore(directory).latest().values():
        points.append(ReportPoint(
            key=rec.key, index=rec.index, status=rec.status, overrides=rec.overrides,
            config=rec.config, result=rec.result or None, error=rec.error, warnings=rec.warnings,
        ))
    points.sort(key=lambda p: p.index)
    return points


def _from_summary(path: Path) -> list[ReportPoint]:
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputFileError(f"{path}: not a readable run summary ({exc})") from None
    if not isinstance(summary, dict):
        raise InputFileError(f"{path}: expected a JSON object (a run summary)")
    config = summary.get("config") if isinstance(summary.get("config"), dict) else {}
    for name in ("config.json", "resolved_config.json"):
        cfg_path = path.parent / name
        if not config and cfg_path.is_file():
            try:
                config = json.loads(cfg_path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError):
                config = {}
    return [ReportPoint(key=str(summary.get("key", "run")), index=0, status="ok", config=config,
                        result=PointSummary.from_dict(summary, source=str(path)))]


def load_points(source: str | Path) -> list[ReportPoint]:
    """The points under *source*: a results store folder, a run folder, or a ``summary.json``.

    Raises
    ------
    InputFileError
        *source* is none of those (the message says what was expected), or a store holding no points.
    SchemaVersionError
        The results store is from an incompatible version.
    """
    source = Path(source)
    if source.is_file() and source.name.endswith(".json"):
        return _from_summary(source)
    if (source / META_FILE).is_file():
        points = _from_store(source)
        if not points:
            raise InputFileError(
                f"{source}: the results store holds no points yet (the sweep stopped before its first point "
                f"finished?); run 'accelsim sweep SWEEP.yaml --results {source}' to resume it, then report"
            )
        return points
    if (source / SUMMARY_FILE).is_file():
        return _from_summary(source / SUMMARY_FILE)
    if not source.exists():
        raise InputFileError(f"{source}: not found; give a results folder (accelsim sweep --results) or a run folder")
    raise InputFileError(
        f"{source}: neither a results store ({META_FILE}) nor a run folder ({SUMMARY_FILE}); "
        "give the --results folder of 'accelsim sweep' or the output folder of 'accelsim run'"
    )


DEFAULT_MAX_ACCURACY_DROP = 1.0
"""Points of top-1 a point may lose against the float model and still stand on the Pareto front."""


def accuracy_drop(point: ReportPoint) -> float | None:
    """Points of top-1 lost against the float model (``100 x (float - quantized)``), or None."""
    f, q = point.metric("float_top1"), point.metric("quant_top1")
    return None if f is None or q is None else 100.0 * (f - q)


def meets_accuracy(point: ReportPoint, max_drop: float | None) -> bool:
    """True when *point* loses at most *max_drop* points of top-1 (always, when either is None).

    Shapes-only points (accuracy not measured) are never excluded: there is nothing to judge.
    """
    drop = accuracy_drop(point)
    return max_drop is None or drop is None or drop <= max_drop


def meets_power(point: ReportPoint, max_power_mw: float | None) -> bool:
    """True when *point*'s average power is at most *max_power_mw* (always, when either is None)."""
    power = point.metric("power_mw")
    return max_power_mw is None or power is None or power <= max_power_mw


def eligible(point: ReportPoint, max_accuracy_drop: float | None, max_power_mw: float | None = None) -> bool:
    """Within the accuracy floor and the power budget: may stand on the Pareto front."""
    return meets_accuracy(point, max_accuracy_drop) and meets_power(point, max_power_mw)


def pareto_front(points: list[ReportPoint], max_accuracy_drop: float | None = None,
                 max_power_mw: float | None = None) -> list[ReportPoint]:
    """Points no other point beats on both throughput (higher) and energy per inference (lower).

    A point is dominated when another has ``inferences_per_s >=`` and ``energy_per_inference_uj <=``
    with at least one strict. Points missing either metric are left out, and so are points losing
    more than *max_accuracy_drop* points of top-1 against the float model (None: no accuracy
    floor) — a cheap configuration that no longer classifies is not a trade-off — and points
    drawing more than *max_power_mw* milliwatt on average (None: no power budget). Returned in
    order of rising throughput. O(n log n): sort by throughput descending (energy ascending on
    ties) and keep each point whose energy is below every energy seen so far.
    """
    usable = [p for p in points if p.ok and p.metric("inferences_per_s") is not None
              and p.metric("energy_per_inference_uj") is not None and eligible(p, max_accuracy_drop, max_power_mw)]
    usable.sort(key=lambda p: (-p.metric("inferences_per_s"), p.metric("energy_per_inference_uj")))
    front = []
    best_energy = math.inf
    for p in usable:
        e = p.metric("energy_per_inference_uj")
        if e < best_energy:
            front.append(p)
            best_energy = e
    front.reverse()
    return front


def front_numbers(front: list[ReportPoint]) -> dict[str, int]:
    """``{point key: number}``, 1, 2, ... along the front (rising throughput): the labels the
    figures draw and the report's front table explains."""
    return {p.key: i + 1 for i, p in enumerate(front)}


def setting_values(points: list[ReportPoint], dotted: str) -> list[Any]:
    """Distinct values of config key *dotted* over *points*, sorted (numbers numerically), None last.

    Raises
    ------
    InputFileError
        No point has the key (the message lists the swept axes).
    """
    values = [p.setting(dotted) for p in points]
    if all(v is None for v in values):
        axes = sorted({k for p in points for k in p.overrides})
        raise InputFileError(f"{dotted}: no point has this setting (swept axes: {', '.join(axes) or 'none'}; "
                             "any dotted config key such as hardware.dataflow works)")
    distinct = []
    for v in values:
        v = _hashable(v)
        if v not in distinct:
            distinct.append(v)
    return sorted(distinct, key=_sort_key)


def _hashable(v: Any) -> Any:
    return json.dumps(v, sort_keys=True) if isinstance(v, (dict, list)) else v


def _sort_key(v: Any) -> tuple:
    if v is None:
        return (2, 0, "")
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return (0, float(v), "")
    return (1, 0, str(v))


def best_point(points: list[ReportPoint]) -> ReportPoint | None:
    """The point reports detail by default: the lowest energy-delay product among ok points."""
    scored = [(p.metric("energy_per_inference_uj") * p.metric("latency_s"), p.index, p) for p in points
              if p.ok and p.metric("energy_per_inference_uj") is not None and p.metric("latency_s") is not None]
    return min(scored, key=lambda t: t[:2])[2] if scored else None


def find_point(points: list[ReportPoint], which: str) -> ReportPoint:
    """A point by sweep index (``"12"``) or a prefix of its key (``"3fa9"``).

    Raises
    ------
    InputFileError
        No point (or several) match.
    """
    if which.isdigit():
        hits = [p for p in points if p.index == int(which)]
    else:
        hits = [p for p in points if p.key.startswith(which)]
    if len(hits) != 1:
        found = "no point" if not hits else f"{len(hits)} points"
        raise InputFileError(f"--point {which!r}: {found} match; give a sweep index or a unique key prefix")
    return hits[0]
