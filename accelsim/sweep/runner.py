"""Running a sweep: skip what the store holds, run the rest on an executor, store each at once.

Order of work: points are grouped by the cache key of their quantized descriptors
(:func:`~accelsim.pipeline.stages.stage_keys`: the points that share a calibration) and dealt round-robin - the first point of every group, then the second of
every group, ... - so parallel workers start on *different* calibrations and later points of a
group find theirs in the cache instead of two workers building the same one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from accelsim.pipeline.stages import stage_keys
from accelsim.sweep.cache import ResultCache
from accelsim.sweep.executor import DEFAULT_POINT_FN, evaluate_point, resolve_point_fn
from accelsim.sweep.spec import Sweep, SweepPoint
from accelsim.sweep.store import ResultStore, config_json, make_record, point_key


@dataclass
class SweepOutcome:
    """What one call of :func:`run_sweep` did."""

    total: int
    """Points in the sweep."""
    skipped: int
    """Points already in the store (not run again)."""
    ran: int = 0
    ok: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    """``"point <i> (<axis values>): <error>"`` per failed point, in completion order."""
    results_dir: str = ""
    warned: int = 0
    """Points that finished with warnings (kept in their records)."""

    @property
    def remaining(self) -> int:
        return self.total - self.skipped - self.ran


def deal_by_group(points: list[SweepPoint]) -> list[SweepPoint]:
    """Order *points* round-robin over their calibration groups (see the module docstring)."""
    groups: dict[str, list[SweepPoint]] = {}
    for p in points:
        groups.setdefault(stage_keys(p.config, ("descriptors",))["descriptors"], []).append(p)
    order: list[SweepPoint] = []
    depth = max((len(g) for g in groups.values()), default=0)
    for i in range(depth):
        for g in groups.values():
            if i < len(g):
                order.append(g[i])
    return order


def _describe(point: SweepPoint) -> str:
    vals = ", ".join(f"{k}={v}" for k, v in point.overrides.items())
    return f"point {point.index} ({vals})"


def run_sweep(
    sweep: Sweep,
    results_dir: str | Path,
    executor: Any,
    *,
    point_fn: str = DEFAULT_POINT_FN,
    limit: int | None = None,
    retry_failed: bool = False,
    progress: bool = True,
    use_cache: bool = True,
) -> SweepOutcome:
    """Run the points of *sweep* that *results_dir* does not hold yet.

    Parameters
    ----------
    sweep : an expanded sweep (:func:`~accelsim.sweep.spec.load_sweep`).
    results_dir : the results store folder (created when missing).
    executor : a :mod:`~accelsim.sweep.executor` executor; closed by the caller.
    point_fn : ``"module:function"`` evaluating one point (default the pipeline's ``run_point``).
    limit : run at most this many of the pending points (``None``: all).
    retry_failed : also rerun points whose stored outcome is an error.
    progress : show a tqdm progress bar on stderr.
    use_cache : give workers the store's ``cache/`` folder for calibration/accuracy reuse.

    Returns
    -------
    SweepOutcome
        Counts of skipped, run, ok and failed points.

    Raises
    ------
    ConfigError
        The point function cannot be imported; another sweep holds the store.
    SchemaVersionError, InputFileError
        The results folder is from an incompatible version or not a results store.
    """
    resolve_point_fn(point_fn)  # fail before starting workers when it cannot be imported
    store = ResultStore(results_dir).open(sweep.name)
    try:
        done = store.latest()
        pending = []
        skipped = 0
        keys: dict[int, str] = {}
        seen: set[str] = set()
        for p in sweep.points:
            key = point_key(p.config)
            keys[p.index] = key
            rec = done.get(key)
            if key in seen:
                skipped += 1  # the same config twice in one sweep: run it once
                continue
            seen.add(key)
            if rec is not None and (rec.status == "ok" or not retry_failed):
                skipped += 1
                continue
            pending.append(p)
        pending = deal_by_group(pending)
        if limit is not None:
            pending = pending[: max(0, limit)]
        outcome = SweepOutcome(total=len(sweep.points), skipped=skipped, results_dir=str(store.directory))
        cache_dir = str(store.cache_dir.resolve()) if use_cache else None
        if use_cache and pending:
            ResultCache(cache_dir).clean_temporaries()  # leftovers of builders killed earlier
        jobs = [(p, (point_fn, config_json(p.config), cache_dir)) for p in pending]
        bar = None
        if progress and jobs:
            from tqdm import tqdm

            bar = tqdm(total=len(jobs), desc=f"sweep {sweep.name}", unit="point", dynamic_ncols=True)
        try:
            for point, result in executor.map_unordered(evaluate_point, jobs):
                record = make_record(
                    key=keys[point.index],
                    index=point.index,
                    sweep=sweep.name,
                    overrides=point.overrides,
                    config=config_json(point.config),
                    outcome=result,
                )
                store.append(record)
                outcome.ran += 1
                if record.warnings:
                    outcome.warned += 1
                if record.status == "ok":
                    outcome.ok += 1
                else:
                    outcome.failed += 1
                    outcome.errors.append(f"{_describe(point)}: {record.error}")
                if bar is not None:
                    bar.set_postfix(failed=outcome.failed, refresh=False)
                    bar.update(1)
        finally:
            if bar is not None:
                bar.close()
        return outcome
    finally:
        store.close()
