"""Chrome trace-event export (accelsim.report.trace)."""

import json
from dataclasses import dataclass

import pytest

from accelsim.errors import InputFileError
from accelsim.report.trace import phases, trace_events, write_trace


@dataclass
class Ev:
    layer: str
    phase: str
    start: int
    end: int
    bytes: int = 0


class Timing:
    clock_hz = 200e6
    timeline = [Ev("conv1", "dma", 0, 100, 4096), Ev("conv1", "compute", 100, 300),
                Ev("conv1", "writeback", 300, 340), Ev("fc", "dma", 300, 350), Ev("fc", "compute", 350, 400)]


def test_trace_has_tracks_spans_in_microseconds(tmp_path):
    path = write_trace(Timing(), tmp_path / "t" / "trace.json")
    tr = json.loads(path.read_text())
    assert phases(tr) == ["layers", "DMA in", "compute", "write-back"]
    spans = [e for e in tr["traceEvents"] if e["ph"] == "X"]
    by = {(e["name"]): e for e in spans}
    # 200 MHz: 1 cycle = 0.005 µs; compute of conv1 = cycles 100..300
    assert by["conv1: compute"]["ts"] == pytest.approx(0.5)
    assert by["conv1: compute"]["dur"] == pytest.approx(1.0)
    assert by["conv1: DMA in"]["args"]["bytes"] == 4096
    assert by["conv1"]["dur"] == pytest.approx(340 * 0.005) and by["fc"]["ts"] == pytest.approx(1.5)
    tids = {e["tid"] for e in spans if e["cat"] == "compute"}
    assert len(tids) == 1
    assert tr["otherData"]["clock_hz"] == 200e6


def test_nested_and_dict_timelines_and_no_clock():
    nested = [{"name": "l1", "events": [{"kind": "compute", "start_cycle": 5, "duration": 10}]}]
    tr = trace_events(nested)
    (span,) = [e for e in tr["traceEvents"] if e["ph"] == "X" and e["cat"] == "compute"]
    assert (span["ts"], span["dur"]) == (5.0, 10.0)
    assert "no clock" in tr["otherData"]["time_unit"]
    tr = trace_events({"l2": [{"phase": "vector", "start": 0, "end": 3}]}, clock_hz=1e6)
    assert "vector" in phases(tr)


def test_bad_events_are_named():
    with pytest.raises(InputFileError, match=r"timeline event 0 lacks a layer, phase or start/end"):
        trace_events([{"layer": "x", "start": 1}])
    with pytest.raises(InputFileError, match=r"event 0 of layer 'x' ends \(cycle 1\) before it starts \(5\)"):
        trace_events([{"layer": "x", "phase": "compute", "start": 5, "end": 1}])


def test_hw_sim_timeline_shape_parallel_lists_with_layer_indices():
    @dataclass
    class Counts:
        name: str

    class TL:
        layer = [0, 0, 1]
        phase = ["dma", "compute", "writeback"]
        start = [0, 10, 30]
        end = [10, 30, 35]

    class NT:
        clock_hz = 1e6  # 1 cycle = 1 µs
        layers = [Counts("conv1"), Counts("fc")]
        timeline = TL()

    tr = trace_events(NT())
    spans = {e["name"]: (e["ts"], e["dur"]) for e in tr["traceEvents"] if e["ph"] == "X"}
    assert spans == {"conv1: DMA in": (0, 10), "conv1: compute": (10, 20), "fc: write-back": (30, 5),
                     "conv1": (0, 30), "fc": (30, 5)}
