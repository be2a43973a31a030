"""Chrome / Perfetto trace export of one inference: DMA, compute and write-back per layer.

The output is Chrome trace-event JSON (the "JSON Object Format": ``{"traceEvents": [...]}``),
which https://ui.perfetto.dev and ``chrome://tracing`` open directly. One process ("accelsim
<name>") holds one track (thread) per hardware unit - ``layers`` (one span per layer, start of
its first event to end of its last), ``DMA in``, ``compute``, ``write-back`` and any other phase
the timeline names - and one complete event (``"ph": "X"``) per phase of each layer.

Times: the timeline counts clock cycles; trace timestamps are microseconds, so
``ts_us = start_cycle / clock_hz * 1e6``. Without a clock the trace uses 1 cycle = 1 µs and says
so in ``otherData.time_unit`` (still a faithful picture, only the ruler's unit changes).

What :func:`write_trace` reads (duck-typed, so it does not import ``accelsim.hw``): the
``timeline`` attribute of a ``NetworkTiming`` - :class:`accelsim.hw.sim.Timeline`, parallel lists
``layer`` (index into ``timing.layers``), ``phase``, ``start``, ``end`` - or a plain list whose
entries are objects or dicts with a layer name (``layer`` or ``name``), a phase (``phase``,
``kind``, ``unit`` or ``stage``), and ``start``/``end`` cycles (or ``start_cycle``/``end_cycle``,
or ``start`` and ``duration``/``cycles``); optional fields (bytes, fold, ...) become ``args``.
A timeline given as ``{layer: [events]}`` is accepted too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

from accelsim.atomic import write_text
from accelsim.errors import InputFileError

TRACK_ORDER = ("layers", "DMA in", "compute", "write-back")
"""Tracks the trace always shows first, in this order; other phases follow as they appear."""

_PHASE_ALIASES = {
    "dma": "DMA in", "dma_in": "DMA in", "dma-in": "DMA in", "load": "DMA in", "read": "DMA in",
    "dram_read": "DMA in", "fetch": "DMA in", "ifmap_load": "DMA in", "weight_load": "DMA in",
    "compute": "compute", "array": "compute", "mac": "compute",
    "writeback": "write-back", "write_back": "write-back", "write-back": "write-back", "store": "write-back",
    "write": "write-back", "dram_write": "write-back", "drain": "write-back",
}


def _get(event: Any, *names: str) -> Any:
    for n in names:
        if isinstance(event, dict):
            if n in event:
                return event[n]
        elif hasattr(event, n):
            return getattr(event, n)
    return None


def _as_dict(event: Any) -> dict[str, Any]:
    if isinstance(event, dict):
        return dict(event)
    if hasattr(event, "_asdict"):
        return dict(event._asdict())
    if hasattr(event, "__dataclass_fields__"):
        return {k: getattr(event, k) for k in event.__dataclass_fields__}
    return {k: v for k, v in vars(event).items() if not k.startswith("_")} if hasattr(event, "__dict__") else {}


def _events_of(timing: Any) -> list[tuple[str | None, Any]]:
    """Flatten the accepted timeline shapes into ``(layer name or None, event)`` pairs."""
    timeline = getattr(timing, "timeline", timing)
    if callable(timeline):
        timeline = timeline()
    if timeline is None:
        raise InputFileError("trace: the timing has no event timeline (simulate with the SimPy model first)")
    if isinstance(timeline, dict):
        return [(str(layer), ev) for layer, evs in timeline.items() for ev in evs]
    columns = [getattr(timeline, n, None) for n in ("layer", "phase", "start", "end")]
    if all(isinstance(c, (list, tuple)) for c in columns):
        # accelsim.hw.sim.Timeline: parallel lists, layers as indices into timing.layers
        layers = getattr(timing, "layers", None) or []
        names = [str(getattr(l, "name", i)) for i, l in enumerate(layers)]
        out_cols: list[tuple[str | None, Any]] = []
        for li, ph, st, en in zip(*columns):
            name = names[li] if isinstance(li, int) and 0 <= li < len(names) else str(li)
            out_cols.append((name, {"phase": ph, "start": st, "end": en}))
        return out_cols
    out: list[tuple[str | None, Any]] = []
    for item in timeline:
        nested = _get(item, "events")
        if nested is not None and _get(item, "start", "start_cycle") is None:
            layer = _get(item, "name", "layer")
            out.extend((str(layer) if layer is not None else None, ev) for ev in nested)
        else:
            out.append((None, item))
    return out


def trace_events(timing: Any, clock_hz: float | None = None, name: str = "inference") -> dict[str, Any]:
    """Build the trace as a JSON-able dict (see the module docstring for what *timing* may be).

    Raises
    ------
    InputFileError
        An event lacks a layer, a phase or its start/end cycles, or ends before it starts.
    """
    if clock_hz is None:
        clock_hz = _get(timing, "clock_hz")
    us_per_cycle = 1e6 / clock_hz if clock_hz else 1.0
    tracks: dict[str, int] = {t: i + 1 for i, t in enumerate(TRACK_ORDER)}
    spans: list[dict[str, Any]] = []
    layer_bounds: dict[str, list[float]] = {}
    layer_order: list[str] = []
    for n, (layer_hint, ev) in enumerate(_events_of(timing)):
        layer = layer_hint if layer_hint is not None else _get(ev, "layer", "name")
        phase = _get(ev, "phase", "kind", "unit", "stage")
        start = _get(ev, "start", "start_cycle")
        end = _get(ev, "end", "end_cycle")
        if end is None and start is not None:
            dur = _get(ev, "duration", "cycles", "duration_cycles")
            end = start + dur if dur is not None else None
        if layer is None or phase is None or start is None or end is None:
            raise InputFileError(
                f"trace: timeline event {n} lacks a layer, phase or start/end cycles (got {_as_dict(ev) or ev!r})"
            )
        if end < start:
            raise InputFileError(f"trace: timeline event {n} of layer {layer!r} ends (cycle {end}) before it starts ({start})")
        layer = str(layer)
        track = _PHASE_ALIASES.get(str(phase).lower(), str(phase))
        if track not in tracks:
            tracks[track] = len(tracks) + 1
        args = {k: v for k, v in _as_dict(ev).items()
                if k not in ("layer", "name", "phase", "kind", "unit", "stage", "start", "end",
                             "start_cycle", "end_cycle") and isinstance(v, (int, float, str, bool))}
        args.update({"layer": layer, "start_cycle": start, "end_cycle": end})
        spans.append({
            "name": f"{layer}: {track}", "cat": track, "ph": "X", "pid": 1, "tid": tracks[track],
            "ts": start * us_per_cycle, "dur": (end - start) * us_per_cycle, "args": args,
        })
        if layer not in layer_bounds:
            layer_bounds[layer] = [start, end]
            layer_order.append(layer)
        else:
            b = layer_bounds[layer]
            b[0], b[1] = min(b[0], start), max(b[1], end)
    for layer in layer_order:
        start, end = layer_bounds[layer]
        spans.append({
            "name": layer, "cat": "layer", "ph": "X", "pid": 1, "tid": tracks["layers"],
            "ts": start * us_per_cycle, "dur": (end - start) * us_per_cycle,
            "args": {"start_cycle": start, "end_cycle": end, "cycles": end - start},
        })
    spans.sort(key=lambda e: (e["ts"], e["tid"]))
    meta = [{"name": "process_name", "ph": "M", "pid": 1, "args": {"name": f"accelsim {name}"}}]
    for track, tid in tracks.items():
        meta.append({"name": "thread_name", "ph": "M", "pid": 1, "tid": tid, "args": {"name": track}})
        meta.append({"name": "thread_sort_index", "ph": "M", "pid": 1, "tid": tid, "args": {"sort_index": tid}})
    return {
        "traceEvents": meta + spans,
        "displayTimeUnit": "ns",
        "otherData": {
            "generator": "accelsim",
            "clock_hz": clock_hz,
            "time_unit": "microseconds" if clock_hz else "cycles shown as microseconds (no clock given)",
            "layers": len(layer_order),
        },
    }


def write_trace(timing: Any, path: str | Path, clock_hz: float | None = None, name: str = "inference") -> Path:
    """Write one inference's timeline as Chrome trace-event JSON to *path*.

    Parameters
    ----------
    timing : a ``NetworkTiming`` with a ``timeline`` (or the timeline itself).
    path : the output file (``.json``); its folder is created. Written to a temporary name and
        renamed, so a reader never sees half a file.
    clock_hz : clock to turn cycles into µs; default ``timing.clock_hz`` if present.
    name : process name shown in the viewer.

    Returns
    -------
    Path
        *path*.
    """
    path = Path(path)
    trace = trace_events(timing, clock_hz=clock_hz, name=name)
    return write_text(path, json.dumps(trace, separators=(",", ":")) + "\n")


def phases(trace: dict[str, Any]) -> Iterable[str]:
    """Names of the tracks in a trace dict (viewer order)."""
    return [e["args"]["name"] for e in trace["traceEvents"] if e.get("name") == "thread_name"]
