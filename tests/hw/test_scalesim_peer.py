"""Per-layer compute cycles against SCALE-Sim 3.0.0's own output (a peer's numbers: independent).

The JSON files were written by ``benchmarks/scalesim_peer.py`` from SCALE-Sim's
COMPUTE_REPORT.csv (ResNet-18 topology CSV shipped with SCALE-Sim, 32x32 array, CALC mode).
"""

import json
from pathlib import Path

from tests.shared import SCALESIM

import pytest

from accelsim.config.hardware import HardwareConfig
from accelsim.config.simulation import SimulationConfig
from accelsim.workloads.load import load_topology
from accelsim.hw.sim import simulate_network

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "benchmarks" / "results"
RESNET18 = SCALESIM / "v3" / "topologies" / "conv_nets" / "Resnet18.csv"


@pytest.mark.parametrize("dataflow", ["os", "ws", "is"])
def test_compute_cycles_equal_scalesim_layer_by_layer(dataflow):
    peer = json.loads((RESULTS / f"scalesim_resnet18_32x32_{dataflow}.json").read_text())
    hw = HardwareConfig.model_validate({"array": {"rows": 32, "cols": 32}, "dataflow": dataflow})
    timing = simulate_network(load_topology(str(RESNET18)), hw,
                              SimulationConfig(convention="scalesim", stall_free=True))
    ours = [c.compute_cycles for c in timing.layers]
    theirs = [row["Total Cycles"] for row in peer["rows"]]
    assert ours == theirs
    assert timing.total.compute_cycles == peer["total_cycles"]
