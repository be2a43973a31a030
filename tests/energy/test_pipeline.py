"""The energy model on the hardware model's real count records."""

from __future__ import annotations

import pytest

from accelsim.config.hardware import HardwareConfig
from accelsim.config.simulation import SimulationConfig
from accelsim.energy import EnergyBreakdown, mac_energy_pj, price_network, shipped_table
from accelsim.workloads.load import load_topology
from accelsim.hw import sim as sim_mod



@pytest.fixture(scope="module")
def priced():
    net = load_topology("resnet18")
    hw = HardwareConfig()
    timing = sim_mod.simulate_network(net, hw, SimulationConfig())
    table = shipped_table("45nm")
    return net, hw, table, timing, price_network(timing.layers, net.layers, hw, table)


def test_mac_energy_follows_the_descriptor_macs(priced):
    net, _, table, _, energy = priced
    # independent: MACs from the descriptors' shapes (1.814 G for ResNet-18) x 0.2 + 0.1 pJ
    macs = sum(layer.macs for layer in net.layers)
    assert energy.total.mac == pytest.approx(macs * mac_energy_pj(table, 8, 8, 32), rel=1e-12)
    assert energy.tops_per_w == pytest.approx(2 * macs / energy.total.total_pj, rel=1e-12)


def test_network_is_the_sum_of_its_layers(priced):
    *_, energy = priced
    for name in EnergyBreakdown.components():
        assert getattr(energy.total, name) == pytest.approx(sum(getattr(le.breakdown, name) for le in energy.layers),
                                                            rel=1e-12)
    assert all(v >= 0 for le in energy.layers for v in le.breakdown.as_dict().values())


def test_power_is_energy_times_rate(priced):
    _, hw, _, timing, energy = priced
    cycles = sum(c.total_cycles for c in timing.layers)
    assert energy.latency_s == pytest.approx(cycles / hw.clock_hz, rel=1e-12)
    assert energy.power_mw == pytest.approx(energy.energy_per_inference_pj * 1e-12 * hw.clock_hz / cycles * 1e3,
                                            rel=1e-12)
