"""The energy model against hand-worked arithmetic, plus its physical properties."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accelsim.config.hardware import HardwareConfig
from accelsim.energy import (
    LEAKAGE_COMPONENTS,
    EnergyBreakdown,
    available_technologies,
    load_table,
    mac_energy_pj,
    price_layer,
    price_network,
    shipped_table,
)
from accelsim.errors import ConfigError
from accelsim.hw.counts import LayerCounts
from accelsim.hw.registers import clock_bit_cycles, local_store_bits
from accelsim.layers import LayerDescriptor

from tests.energy.test_table import minimal_table, write_table

HW = HardwareConfig.model_validate({
    "array": {"rows": 2, "cols": 2},
    "clock_hz": 100e6,
    "buffers": {"ifmap_kb": 4, "weight_kb": 4, "ofmap_kb": 4},
    "dram": {"kind": "lpddr4"},
})

CONV = LayerDescriptor(name="conv", op="conv2d", inputs=("x",), output="y", in_shape=(1, 2, 4, 4),
                       out_shape=(1, 2, 4, 4), kernel=(1, 1), weight_bits=4, act_bits=8, out_bits=8,
                       acc_bits=16)
POOL = LayerDescriptor(name="pool", op="maxpool", inputs=("y",), output="z", in_shape=(1, 2, 4, 4),
                       out_shape=(1, 2, 2, 2), kernel=(2, 2), stride=(2, 2), act_bits=4)

CONV_COUNTS = LayerCounts(
    name="conv", macs=100, compute_cycles=40, stall_cycles=10, total_cycles=50, folds=1, mac_slots=160,
    dram_read_bytes=30.0, dram_write_bytes=5.0,
    sram_read_bytes={"ifmap": 10.0, "weight": 20.0, "ofmap": 0.0},
    sram_write_bytes={"ifmap": 0.0, "weight": 0.0, "ofmap": 5.0},
    pe_forward_bits=400.0, pe_reg_write_bits=1000.0, vector_ops=4,
)
POOL_COUNTS = LayerCounts(name="pool", total_cycles=10, vector_ops=9,
                          sram_read_bytes={"ifmap": 0.0, "weight": 0.0, "ofmap": 0.0},
                          sram_write_bytes={"ifmap": 0.0, "weight": 0.0, "ofmap": 0.0})


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    return load_table(write_table(tmp_path_factory.mktemp("tbl"), minimal_table()))


def test_tiny_layer_worked_by_hand(table):
    b = price_layer(CONV_COUNTS, CONV, HW, table)
    # MAC: multiplier 0.2 pJ x (4*8)/(8*8) = 0.1; adder 0.1 pJ x 16/32 = 0.05; 100 MACs x 0.15 = 15 pJ
    assert b.mac == pytest.approx(15.0, rel=1e-12)
    # registers: 1000 bits x 0.01 = 10 pJ; forwarding: 400 bits x 0.005 = 2 pJ
    assert b.pe_registers == pytest.approx(10.0, rel=1e-12)
    assert b.pe_forwarding == pytest.approx(2.0, rel=1e-12)
    # SRAM read at 4 KiB between (1 KiB, 0.01) and (16 KiB, 0.04): 0.01 * 4**0.5 = 0.02 pJ/bit;
    # write table is one point, 0.03 pJ/bit
    assert b.sram_ifmap == pytest.approx(10 * 8 * 0.02, rel=1e-12)    # 1.6
    assert b.sram_weight == pytest.approx(20 * 8 * 0.02, rel=1e-12)   # 3.2
    assert b.sram_ofmap == pytest.approx(5 * 8 * 0.03, rel=1e-12)     # 1.2
    # DRAM: (30 + 5) bytes x 8 bit x 8 pJ/bit = 2240 pJ
    assert b.dram == pytest.approx(2240.0, rel=1e-12)
    # leakage: 4 PEs x 10 uW + 3 buffers x 4 uW (4 KiB at 1 uW/KiB) = 52 uW for 50 cycles / 100 MHz
    # = 5e-7 s -> 26 pJ: logic 20, each buffer 2
    assert b.leakage == pytest.approx(26.0, rel=1e-12)
    assert b.leakage_logic == pytest.approx(20.0, rel=1e-12)
    assert (b.leakage_ifmap, b.leakage_weight, b.leakage_ofmap) == pytest.approx((2.0, 2.0, 2.0), rel=1e-12)
    # vector: 4 output requantizations x 0.1 pJ x out_bits 8 / 8
    assert b.vector == pytest.approx(0.4, rel=1e-12)
    assert b.total_pj == pytest.approx(15 + 10 + 2 + 1.6 + 3.2 + 1.2 + 2240 + 26 + 0.4, rel=1e-12)


def test_tiny_network_worked_by_hand(table):
    net = price_network([CONV_COUNTS, POOL_COUNTS], [CONV, POOL], HW, table)
    # pool: 9 compares x 0.1 pJ x act_bits 4 / 8 = 0.45 pJ; leakage 52 uW x 10 cycles / 100 MHz = 5.2 pJ
    pool = net.layers[1].breakdown
    assert pool.vector == pytest.approx(0.45, rel=1e-12) and pool.leakage == pytest.approx(5.2, rel=1e-12)
    assert pool.mac == pool.dram == 0.0
    total = 2299.4 + 0.45 + 5.2
    assert net.energy_per_inference_pj == pytest.approx(total, rel=1e-12)
    assert net.energy_per_inference_uj == pytest.approx(total * 1e-6, rel=1e-12)
    # latency 60 cycles / 100 MHz = 6e-7 s; power = energy / latency
    assert net.latency_s == pytest.approx(6e-7, rel=1e-12)
    assert net.inferences_per_s == pytest.approx(1 / 6e-7, rel=1e-12)
    assert net.power_mw == pytest.approx(total * 1e-12 / 6e-7 * 1e3, rel=1e-12)
    # TOPS/W: 2 ops per MAC, 100 MACs over `total` pJ
    assert net.tops_per_w == pytest.approx(200 / total, rel=1e-12)
    assert sum(net.power_breakdown_mw().values()) == pytest.approx(net.power_mw, rel=1e-12)


def test_batch_divides_energy_per_inference(table):
    conv4 = dataclasses.replace(CONV, in_shape=(4, 2, 4, 4), out_shape=(4, 2, 4, 4))
    net = price_network([CONV_COUNTS], [conv4], HW, table)
    assert net.inferences_per_pass == 4
    assert net.energy_per_inference_pj == pytest.approx(net.energy_per_pass_pj / 4, rel=1e-12)
    assert net.power_mw == pytest.approx(net.energy_per_pass_pj * 1e-12 / net.latency_s * 1e3, rel=1e-12)


def test_breakdown_sums_to_total_exactly(table):
    b = price_layer(CONV_COUNTS, CONV, HW, table)
    s = 0.0
    for name in ("mac", "pe_registers", "pe_forwarding", "pe_stores", "clock", "sram_ifmap", "sram_weight",
                 "sram_ofmap", "dram", "leakage_logic", "leakage_ifmap", "leakage_weight", "leakage_ofmap", "vector"):
        s += getattr(b, name)
    assert s == b.total_pj
    assert EnergyBreakdown.components() == tuple(b.as_dict())


def test_layers_add_up_to_the_network(table):
    net = price_network([CONV_COUNTS, POOL_COUNTS], [CONV, POOL], HW, table)
    for name in EnergyBreakdown.components():
        assert getattr(net.total, name) == sum(getattr(le.breakdown, name) for le in net.layers)
    assert net.total.total_pj == pytest.approx(sum(le.total_pj for le in net.layers), rel=1e-14)


def test_mismatched_counts_and_layers_are_a_wiring_bug(table):
    with pytest.raises(ValueError, match="count record 'pool' paired with layer 'conv'"):
        price_network([POOL_COUNTS], [CONV], HW, table)


# --- properties ----------------------------------------------------------------------------------

widths = st.integers(min_value=1, max_value=32)
TABLES = {tech: shipped_table(tech) for tech in ("65nm", "45nm", "40nm", "28nm", "16nm", "7nm")}


@settings(max_examples=60, deadline=None)
@given(w=widths, a=widths, acc=widths, dw=st.integers(0, 8), da=st.integers(0, 8), dacc=st.integers(0, 8),
       tech=st.sampled_from(sorted(TABLES)))
def test_fewer_bits_never_cost_more_mac_energy(w, a, acc, dw, da, dacc, tech):
    t = TABLES[tech]
    narrow = mac_energy_pj(t, w, a, acc)
    wide = mac_energy_pj(t, w + dw, a + da, acc + dacc)
    assert narrow <= wide
    # and through the whole layer pricing
    lo = dataclasses.replace(CONV, weight_bits=w, act_bits=a, acc_bits=acc)
    hi = dataclasses.replace(CONV, weight_bits=w + dw, act_bits=a + da, acc_bits=acc + dacc)
    assert price_layer(CONV_COUNTS, lo, HW, t).mac <= price_layer(CONV_COUNTS, hi, HW, t).mac


def test_mac_energy_is_the_horowitz_law():
    t = shipped_table("45nm")
    # 8x8 multiply + 32-bit add = 0.2 + 0.1 pJ (Horowitz); 32x32 multiply = 0.2 * 16 = 3.2 pJ
    # against Horowitz's measured 3.1 pJ (the product law is within 4 %)
    assert mac_energy_pj(t, 8, 8, 32) == pytest.approx(0.3, rel=1e-12)
    assert mac_energy_pj(t, 32, 32, 0) == pytest.approx(3.1, rel=0.04)
    assert mac_energy_pj(t, 4, 8, 32) == pytest.approx(0.1 + 0.1, rel=1e-12)


@settings(max_examples=40, deadline=None)
@given(rd=st.floats(0, 1e9), wr=st.floats(0, 1e9), extra=st.floats(0, 1e9),
       kind=st.sampled_from(["lpddr4", "ddr3", "ddr4", "gddr5", "hbm2"]))
def test_more_dram_traffic_never_costs_less(rd, wr, extra, kind):
    t = TABLES["45nm"]
    hw = HW.model_copy(update={"dram": HW.dram.model_copy(update={"kind": kind})})
    base = dataclasses.replace(CONV_COUNTS, dram_read_bytes=rd, dram_write_bytes=wr)
    more = dataclasses.replace(CONV_COUNTS, dram_read_bytes=rd + extra, dram_write_bytes=wr)
    b0, b1 = price_layer(base, CONV, hw, t), price_layer(more, CONV, hw, t)
    assert b1.dram >= b0.dram and b1.total_pj >= b0.total_pj
    # the increment is the extra bits x pJ/bit (tolerance: the rounding of the larger totals)
    assert b1.dram - b0.dram == pytest.approx(extra * 8 * t.dram_energy_pj_per_bit(kind), rel=1e-6,
                                              abs=1e-12 * b1.dram + 1e-9)


@pytest.mark.parametrize("tech", ["45nm", "7nm"])
def test_doubling_the_clock(tech):
    """Same cycle counts at twice the clock. Asserted: every dynamic component (all but leakage) is
    bit-for-bit unchanged; leakage energy per inference halves (leakage is a power and the same
    cycles take half the time); so dynamic power doubles exactly, leakage power stays, and with a
    leakage-free table the energy per inference is unchanged and the power doubles."""
    t = shipped_table(tech)
    fast_hw = HW.model_copy(update={"clock_hz": 2 * HW.clock_hz})
    slow = price_network([CONV_COUNTS, POOL_COUNTS], [CONV, POOL], HW, t)
    fast = price_network([CONV_COUNTS, POOL_COUNTS], [CONV, POOL], fast_hw, t)
    for name in EnergyBreakdown.components():
        if name not in LEAKAGE_COMPONENTS:
            assert getattr(fast.total, name) == getattr(slow.total, name), name
    assert fast.total.leakage == pytest.approx(slow.total.leakage / 2, rel=1e-12)
    ps, pf = slow.power_breakdown_mw(), fast.power_breakdown_mw()
    for name in EnergyBreakdown.components():
        want = ps[name] if name in LEAKAGE_COMPONENTS else 2 * ps[name]
        assert pf[name] == pytest.approx(want, rel=1e-12), name
    assert fast.latency_s == pytest.approx(slow.latency_s / 2, rel=1e-12)


def test_doubling_the_clock_without_leakage_keeps_energy_and_doubles_power(tmp_path):
    data = minimal_table()
    data["leakage"]["pe"]["power_uw"] = 0.0
    for org in data["sram"]["cells"]["itrs-lstp"]["organisations"]:
        org["leakage_uw"] = [None if v is None else 0.0 for v in org["leakage_uw"]]
    t = load_table(write_table(tmp_path, data))
    slow = price_network([CONV_COUNTS], [CONV], HW, t)
    fast = price_network([CONV_COUNTS], [CONV], HW.model_copy(update={"clock_hz": 2e8}), t)
    assert fast.energy_per_inference_pj == slow.energy_per_inference_pj
    assert fast.power_mw == pytest.approx(2 * slow.power_mw, rel=1e-12)


def test_every_shipped_table_prices_a_layer():
    for tech in available_technologies():
        b = price_layer(CONV_COUNTS, CONV, HW, shipped_table(tech))
        assert all(v >= 0 for v in b.as_dict().values()) and b.total_pj > 0


# --- power gating and cell types -----------------------------------------------------------------

def _gated(mode: str, **buffers) -> HardwareConfig:
    return HW.model_copy(update={"buffers": HW.buffers.model_copy(update={
        b: HW.buffers.ifmap.model_copy(update={"power_gating": mode}) for b in ("ifmap", "weight", "ofmap")})})


def test_idle_layers_gating_sleeps_through_layers_that_do_not_touch_the_buffer(table):
    """POOL moves no SRAM bytes: each gated buffer leaks its gated 0.4 uW (a tenth of 4 uW) for
    10 cycles / 100 MHz = 1e-7 s (0.04 pJ) and pays one 2 pJ wake-up; CONV touches every buffer,
    so there the buffers stay awake (2 pJ each, as ungated)."""
    net = price_network([CONV_COUNTS, POOL_COUNTS], [CONV, POOL], _gated("idle_layers"), table)
    conv, pool = net.layers[0].breakdown, net.layers[1].breakdown
    assert (conv.leakage_ifmap, conv.leakage_weight, conv.leakage_ofmap) == pytest.approx((2.0,) * 3, rel=1e-12)
    assert (pool.leakage_ifmap, pool.leakage_weight, pool.leakage_ofmap) == pytest.approx((2.04,) * 3, rel=1e-12)
    assert pool.leakage_logic == pytest.approx(4.0, rel=1e-12)   # logic is never gated


def test_idle_cycles_gating_charges_busy_cycles_awake_and_the_rest_gated(table):
    """CONV, 50 cycles, 1 fold, 16-bit 1-port buffers: ifmap reads 10 bytes = 80 bits -> 5 busy
    cycles: (4 uW x 5 + 0.4 uW x 45) / 100 MHz = 0.38 pJ, + one wake-up 2 pJ = 2.38 pJ; weight
    20 bytes -> 10 busy: (40 + 16) / 1e8 -> 0.56 + 2 = 2.56 pJ; ofmap 5 bytes -> 3 busy (ceil 2.5):
    (12 + 18.8) / 1e8 -> 0.308 + 2 = 2.308 pJ."""
    b = price_layer(CONV_COUNTS, CONV, _gated("idle_cycles"), table)
    assert (b.leakage_ifmap, b.leakage_weight, b.leakage_ofmap) == pytest.approx((2.38, 2.56, 2.308), rel=1e-12)


def test_cell_type_scales_buffer_leakage_by_the_tables_ratio():
    """The shipped 45 nm table at the default hardware (64 KiB buffers, 256-bit ports, 2 banks):
    switching every buffer from itrs-lstp to itrs-hp multiplies each buffer's leakage energy by
    exactly the ratio of the table's CACTI leakage powers, and leaves logic leakage alone."""
    t = shipped_table("45nm")
    lstp = HardwareConfig()
    hp = lstp.model_copy(update={"buffers": lstp.buffers.model_copy(update={
        b: lstp.buffers.ifmap.model_copy(update={"cell": "itrs-hp"}) for b in ("ifmap", "weight", "ofmap")})})
    a, c = price_layer(CONV_COUNTS, CONV, lstp, t), price_layer(CONV_COUNTS, CONV, hp, t)
    ratio = t.sram.macro("itrs-hp", 64, 256, 2, 1).leakage_uw / t.sram.macro("itrs-lstp", 64, 256, 2, 1).leakage_uw
    assert ratio > 100
    for name in ("leakage_ifmap", "leakage_weight", "leakage_ofmap"):
        assert getattr(c, name) == pytest.approx(getattr(a, name) * ratio, rel=1e-12)
    assert c.leakage_logic == a.leakage_logic


def test_sram_slower_than_the_clock_is_a_warning_naming_the_buffer(table):
    """The test table's SRAM cycles in 1 ns: at 2 GHz (0.5 ns) every buffer is too slow."""
    fast = HW.model_copy(update={"clock_hz": 2e9})
    with pytest.warns(UserWarning) as record:
        price_network([CONV_COUNTS], [CONV], fast, table)
    texts = [str(w.message) for w in record]
    assert len(texts) == 3
    for buf, text in zip(("ifmap", "weight", "ofmap"), texts):
        assert text.startswith(f"hardware.buffers.{buf}: a 4 KiB itrs-lstp SRAM (16-bit port, 2 banks) has a 1 ns "
                               "random cycle (CACTI), longer than the 0.5 ns clock period")


# --- clock and the stores inside the PEs ---------------------------------------------------------

def test_clock_energy_is_bits_times_cycles_times_the_clock_entry(table):
    """1234 clocked bit-cycles x 0.002 pJ (the test table's pe_register.clock) = 2.468 pJ, and the
    clock adds exactly that to the total."""
    b0 = price_layer(CONV_COUNTS, CONV, HW, table)
    b = price_layer(dataclasses.replace(CONV_COUNTS, clock_bit_cycles=1234), CONV, HW, table)
    assert b.clock == pytest.approx(2.468, rel=1e-12)
    assert b.total_pj - b0.total_pj == pytest.approx(2.468, rel=1e-9)


def test_shipped_clock_of_the_default_array_by_hand():
    """The default 32 x 32 os array at 45 nm, 8-bit operands, 32-bit accumulators, shift drain: each
    PE clocks 2 x 8 + 32 + 32 = 80 bits; over 1000 compute cycles (idle_array) that is
    1024 x 80 x 1000 bit-cycles x E_clock (from the table, itself checked against the liberty record)."""
    hw = HardwareConfig()
    t = shipped_table("45nm")
    bits = clock_bit_cycles(hw, 32, on_array=True, total_cycles=1500, compute_cycles=1000, macs=1, macs_per_pe=1)
    assert bits == 1024 * 80 * 1000
    counts = dataclasses.replace(CONV_COUNTS, clock_bit_cycles=bits)
    assert price_layer(counts, CONV, hw, t).clock == pytest.approx(bits * t.pe_register.clock.energy_pj_per_bit,
                                                                   rel=1e-12)


STORES = {"f": {"words": 128, "width_bits": 16, "kind": "sram", "reads_per_mac": 1},
          "x": {"words": 12, "width_bits": 16, "kind": "register", "reads_per_mac": 1},
          "p": {"words": 24, "width_bits": 16, "kind": "register", "reads_per_mac": 1, "writes_per_mac": 1}}


def _with_local_sram(data: dict) -> dict:
    """The test table plus a local_sram grid at 0.25 and 1 KiB, one 16-bit row: read 0.32 -> 0.64 pJ
    per access, write 0.48 pJ, leakage 0.5 -> 2 uW."""
    row = {"width_bits": 16, "banks": 1, "ports": 1, "read_pj": [0.32, 0.64], "write_pj": [0.48, 0.48],
           "leakage_uw": [0.5, 2.0], "gated_leakage_uw": [0.5, 2.0], "wakeup_pj": [0.0, 0.0], "cycle_ns": [1.0, 1.0],
           "source": "test"}
    data["local_sram"] = {"capacity_kib": [0.25, 1], "temperature_k": 300, "source": "test",
                          "cells": {"itrs-lstp": {"source": "test", "organisations": [row]}}}
    return data


def test_pe_stores_worked_by_hand(tmp_path):
    """100 MACs, each reading f, x, p once and writing p once, 16-bit words:
    f (sram, 128 x 16 bit = 0.25 KiB, a grid point): 1600 bits x 0.32 pJ / 16 = 32 pJ;
    x (12 words, ceil(log2 12) = 4 mux levels): 1600 bits x 4 x 0.001 = 6.4 pJ;
    p (24 words, 5 levels): reads 1600 x 5 x 0.001 = 8 pJ, writes 1600 x 0.01 = 16 pJ -> 62.4 pJ.
    Leakage: f's 0.5 uW in each of the 4 PEs, 2 uW for 50 cycles / 100 MHz -> 1 pJ on top of the
    logic's 20 pJ."""
    t = load_table(write_table(tmp_path, _with_local_sram(minimal_table())))
    hw = HardwareConfig.model_validate({**HW.model_dump(), "pe": {"local_stores": STORES}})

    reads, writes = local_store_bits(hw, 100)
    counts = dataclasses.replace(CONV_COUNTS, pe_store_read_bits=reads, pe_store_write_bits=writes)
    b = price_layer(counts, CONV, hw, t)
    assert b.pe_stores == pytest.approx(32 + 6.4 + 8 + 16, rel=1e-12)
    assert b.leakage_logic == pytest.approx(21.0, rel=1e-12)


def test_sram_store_without_a_local_sram_table_names_the_store(table):
    hw = HardwareConfig.model_validate({"pe": {"local_stores": {"f": STORES["f"]}}})
    with pytest.raises(ConfigError, match=r"hardware\.pe\.local_stores\.f: .*local_sram: missing"):
        price_layer(CONV_COUNTS, CONV, hw, table)
