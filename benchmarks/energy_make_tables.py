"""Write the shipped energy tables ``configs/energy/{65,45,40,28,16,7}nm.yaml`` from published figures and CACTI runs.

Every published figure sits below once, with its citation; every derived number is computed here
and its YAML entry says ``derived: <how>``, so the arithmetic can be rerun and checked. The tables
are plain data: users edit (or copy) the YAML, never this script. Run from the repo root::

    python benchmarks/energy_make_tables.py          # rewrites accelsim/configs/energy/*.yaml
    python benchmarks/energy_make_tables.py --check  # exit 1 if a shipped table differs

Sources (see /work/shared/ENERGY_SOURCES.md):

- Horowitz, "Computing's energy problem (and what we can do about it)", ISSCC 2014, 45 nm 0.9 V:
  int8 add 0.03 pJ, int32 add 0.1 pJ, int8 multiply 0.2 pJ, int32 multiply 3.1 pJ.
- SRAM (access energy, leakage, power-gated leakage, wake-up energy, cycle time): CACTI 7.0 runs
  recorded in benchmarks/results/cacti/sram_<node>nm.json by benchmarks/energy_cacti.py, at 65, 45
  and 28 nm (CACTI interpolates its device parameters for 28 nm between its 32 and 22 nm files);
  40 nm interpolates the 45 and 28 nm runs log-log in node size (direct 40 nm check runs measure
  that); 16 and 7 nm scale the 28 nm runs by the Stillmaker & Baas energy factor (CACTI 7 has no
  FinFET nodes: its 16 nm file is disabled in the source).
- Shao et al., "Aladdin", ISCA 2014, 40 nm tables as shipped in Accelergy's component library:
  register 0.009 pJ/bit, 32x32 multiplier leakage 0.08 pJ per 1 ns cycle (80 uW), 32-bit adder
  leakage 0.0024 pJ per 1 ns cycle (2.4 uW).
- Stillmaker & Baas, "Scaling equations for the accurate prediction of CMOS device performance
  from 180 nm to 7 nm", Integration 58 (2017): energy polynomials a*V^2 + b*V + c per node, evaluated
  at 0.8 V as Accelergy does (linear interpolation between tabulated nodes in node index).
- DRAM per bit: Accelergy's CACTI-based tables (LPDDR4 8, DDR3 70, GDDR5 14, HBM2 3.9-6.25 pJ/bit);
  DDR4 derived from DDR3 by the JEDEC supply voltages (1.5 V -> 1.2 V, energy ~ V^2).
- Gate-level anchor (28 nm, 0.9 V, ZigZag's in-memory-compute model): flip-flop 1.70 fJ/bit.
- Wires: about 0.1 pJ per bit per mm of on-chip wire (Dally; Keckler et al., IEEE Micro 2011);
  PE pitch from the TPU v1 floor plan (Jouppi et al., ISCA 2017: the 256x256 matrix unit is 24 %
  of a <= 331 mm^2 die in 28 nm).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
from pathlib import Path

OUT_DIR = Path(__file__).resolve().parents[1] / "accelsim" / "configs" / "energy"
sys.path.insert(0, str(Path(__file__).resolve().parent))

# --- Stillmaker & Baas 2017 energy polynomials (as tabulated in Accelergy's hwcomponents) -------
_SB_NODES_NM = [130, 90, 65, 45, 32, 20, 16, 14, 10, 7]
_SB_ENERGY = [
    [7.171, -6.709, 2.904], [4.762, -4.781, 2.092], [3.755, -4.398, 1.975],
    [1.103, -0.362, 0.2767], [0.9559, -0.7823, 0.471], [0.373, -0.1582, 0.04104],
    [0.2958, -0.1241, 0.03024], [0.2363, -0.09675, 0.02239], [0.2068, -0.09311, 0.02375],
    [0.1776, -0.09097, 0.02447],
]
SB_VDD = 0.8


def sb_energy(node_nm: float, vdd: float = SB_VDD) -> float:
    """Relative energy per switch at *node_nm*: the node's polynomial at *vdd*, interpolated
    linearly in table index between tabulated nodes (28 nm lies 1/3 of the way from 32 to 20)."""
    for i in range(len(_SB_NODES_NM) - 1):
        hi, lo = _SB_NODES_NM[i], _SB_NODES_NM[i + 1]
        if lo <= node_nm <= hi:
            t = (hi - node_nm) / (hi - lo)
            p = lambda k: sum(_SB_ENERGY[k][j] * vdd ** (2 - j) for j in range(3))  # noqa: E731
            return p(i) * (1 - t) + p(i + 1) * t
    raise ValueError(f"node {node_nm} nm outside 7..130 nm")


def sb_factor(to_nm: float, from_nm: float = 45) -> float:
    return sb_energy(to_nm) / sb_energy(from_nm)


# --- published figures --------------------------------------------------------------------------
HOROWITZ = "Horowitz, ISSCC 2014 (45 nm, 0.9 V)"
LOGIC_V = 0.9
"""Supply voltage of the logic entries (Horowitz's figures and the flip-flop anchor are at 0.9 V)."""
ALADDIN_REG_PJ_PER_BIT_40 = 0.009
GATE_FF_PJ_PER_BIT_28 = 0.0017
ALADDIN_MUL32_LEAK_UW_40 = 80.0
ALADDIN_ADD32_LEAK_UW_40 = 2.4
WIRE_PJ_PER_BIT_PER_MM = 0.1
TPU_PE_PITCH_MM_28 = math.sqrt(0.24 * 331.0 / (256 * 256))


def _fmt(x: float) -> str:
    return f"{x:.6g}"


TABLE_NODES = (65, 45, 40, 28, 16, 7)
"""The shipped tables."""
CACTI_DIR = Path(__file__).resolve().parent / "results" / "cacti"
CACTI_NODES = (65, 45, 28)
"""Nodes CACTI ran the whole grid at (benchmarks/energy_cacti.py); 40 nm is interpolated between 45
and 28 nm, 16 and 7 nm are scaled from 28 nm."""
INTERPOLATED = {40: (45, 28)}
SCALED_NODES = (16, 7)
SCALED_FROM_NM = 28


def _cacti_record(node: int, prefix: str = "sram") -> dict:
    path = CACTI_DIR / f"{prefix}_{node}nm.json"
    if not path.is_file():
        raise SystemExit(f"energy_make_tables: {path} missing: run benchmarks/energy_cacti.py --nodes {node}"
                         + (" --local" if prefix != "sram" else "") + " first")
    return json.loads(path.read_text(encoding="utf-8"))


def _interpolated_record(node: int, big: int, small: int, prefix: str = "sram") -> tuple[dict, str]:
    """CACTI runs at *node* interpolated log-log in node size between the runs at *big* and *small*
    nm: every output ``v = v_big^(1-t) v_small^t``, ``t = ln(big/node) / ln(big/small)``; a run
    missing at either node is missing. Returns (record, source text)."""
    a, b = _cacti_record(big, prefix), _cacti_record(small, prefix)
    t = math.log(big / node) / math.log(big / small)
    runs = {}
    for key, ra in a["runs"].items():
        oa, ob = ra.get("outputs"), b["runs"].get(key, {}).get("outputs")
        if oa and ob:
            runs[key] = {"outputs": {k: math.exp((1 - t) * math.log(oa[k]) + t * math.log(ob[k]))
                                     if oa[k] > 0 and ob[k] > 0 else (1 - t) * oa[k] + t * ob[k]
                                     for k in oa if k in ob}}
    rec = dict(a, runs=runs)
    text = (f"benchmarks/results/cacti/{prefix}_{big}nm.json and {prefix}_{small}nm.json interpolated log-log in "
            f"node size to {node} nm (t = {t:.4f}); direct {node} nm check runs in {prefix}_{node}nm.json")
    return rec, text


def _leak_uw(out: dict, banks: int) -> float:
    """CACTI's standby leakage of all banks (subthreshold + gate, per bank x banks), microwatt."""
    return (out["leakage_per_bank_mw"] + out.get("gate_leakage_per_bank_mw", 0.0)) * banks * 1000.0


def _wakeup_pj(out: dict, banks: int) -> float:
    """Energy to wake every bank once: CACTI's sleep-transistor energies (sub-array, word line,
    bit-line floating) per bank x banks, pJ."""
    per_bank = sum(out.get(k, 0.0) for k in ("subarray_sleep_tx_nj", "wl_sleep_tx_nj", "bl_floating_tx_nj"))
    return per_bank * banks * 1000.0


GATING_HOW = {
    "own": "CACTI's gated run ('.../1ports/gated')",
    "hp": ("derived: CACTI 7's power-gating model fails for this device type (sleep-transistor width <= 0), so "
           "the leakage x the itrs-hp organisation's gated/ungated ratio, wake-up = itrs-hp's x this/hp read energy"),
    "ports": "derived for 2 ports: leakage x the 1-port gated/ungated ratio, the 1-port wake-up",
    "none": "no gated result: no saving, no wake-up cost",
}


def _gating(runs: dict, cell: str, cap: int, width: int, banks: int, ports: int, on: dict, leak: float
            ) -> tuple[float, float, str]:
    """(gated leakage uW, wake-up pJ, how) of one organisation (see :data:`GATING_HOW`)."""
    stem = f"{cap}KiB/{width}b/{banks}banks/1ports"
    own_on, own_g = (runs.get(f"{cell}/{stem}/{k}", {}).get("outputs") for k in ("ungated", "gated"))
    hp_on, hp_g = (runs.get(f"itrs-hp/{stem}/{k}", {}).get("outputs") for k in ("ungated", "gated"))
    if own_on and own_g:
        ratio, wake = _leak_uw(own_g, banks) / _leak_uw(own_on, banks), _wakeup_pj(own_g, banks)
        how = "own" if ports == 1 else "ports"
    elif hp_on and hp_g:
        ratio = _leak_uw(hp_g, banks) / _leak_uw(hp_on, banks)
        wake = _wakeup_pj(hp_g, banks) * on["read_nj"] / hp_on["read_nj"]
        how = "hp"
    else:
        return leak, 0.0, GATING_HOW["none"]
    return leak * ratio, wake, GATING_HOW[how] + ("" if ports == 1 or how == "ports" else "; " + GATING_HOW["ports"])


def _sram_block(node: int) -> tuple[list[str], float]:
    """YAML lines of the ``sram:`` block of *node*, and the 1 KiB 32-bit lstp read energy per bit
    (for the vector unit's lookup table)."""
    from energy_cacti import BANKS, CAPACITIES_KIB, CELLS, PORTS, WIDTHS_BITS  # noqa: E402

    src_node = SCALED_FROM_NM if node in SCALED_NODES else node
    f = sb_factor(node, SCALED_FROM_NM) if node in SCALED_NODES else 1.0
    scaled = (f" x Stillmaker & Baas 2017 energy factor {SCALED_FROM_NM}->{node} nm at {SB_VDD} V ({f:.4f}) on "
              f"energies and leakage (leakage scaled like energy, as Accelergy scales it); cycle times kept at "
              f"{SCALED_FROM_NM} nm's" if node in SCALED_NODES else "")
    if node in INTERPOLATED:
        rec, rel = _interpolated_record(node, *INTERPOLATED[node])
    else:
        rec = _cacti_record(src_node)
        rel = f"benchmarks/results/cacti/sram_{src_node}nm.json"
    runs = rec["runs"]
    lines = ["sram:  # CACTI: per access (pJ), all banks' standby leakage (uW); one row per organisation",
             f"  source: \"{rec['cacti_version']}, {rec['temperature_k']} K, runs recorded with inputs and outputs "
             f"in {rel}{scaled}\"",
             f"  temperature_k: {rec['temperature_k']}",
             f"  capacity_kib: [{', '.join(str(c) for c in CAPACITIES_KIB)}]",
             "  cells:"]
    lut_pjb = None
    for cell in CELLS:
        lines.append(f"    {cell}:")
        lines.append(f"      source: \"CACTI cell and peripheral type {cell} ({rel})\"")
        lines.append("      organisations:")
        for width, banks, ports in itertools.product(WIDTHS_BITS, BANKS, PORTS):
            cols = {k: [] for k in ("read_pj", "write_pj", "leakage_uw", "gated_leakage_uw", "wakeup_pj", "cycle_ns")}
            how_gated = set()
            for cap in CAPACITIES_KIB:
                stem = f"{cell}/{cap}KiB/{width}b/{banks}banks"
                on = runs.get(f"{stem}/{ports}ports/ungated", {}).get("outputs")
                if on is None:
                    for v in cols.values():
                        v.append(None)
                    continue
                leak = _leak_uw(on, banks)
                gleak, wake, how = _gating(runs, cell, cap, width, banks, ports, on, leak)
                how_gated.add(how)
                cols["read_pj"].append(on["read_nj"] * 1000.0 * f)
                cols["write_pj"].append(on["write_nj"] * 1000.0 * f)
                cols["leakage_uw"].append(leak * f)
                cols["gated_leakage_uw"].append(gleak * f)
                cols["wakeup_pj"].append(wake * f)
                cols["cycle_ns"].append(on["cycle_time_ns"])
                if cell == "itrs-lstp" and cap == 1 and width == 32 and banks == 1 and ports == 1:
                    lut_pjb = on["read_nj"] * 1000.0 * f / width
            src = (f"CACTI runs '{cell}/<capacity>KiB/{width}b/{banks}banks/{ports}ports/ungated'; power gating: "
                   + "; ".join(sorted(h for h in how_gated if h))
                   + ("; null: CACTI found no organisation" if None in cols["read_pj"] else ""))
            lines.append(f"        - {{width_bits: {width}, banks: {banks}, ports: {ports},")
            for k, v in cols.items():
                lines.append(f"           {k}: [{', '.join('null' if x is None else _fmt(x) for x in v)}],")
            lines.append(f"           source: \"{src}\"}}")
    return lines, lut_pjb if lut_pjb is not None else math.nan


def _local_sram_block(node: int) -> list[str]:
    """YAML lines of the ``local_sram:`` block of *node*: CACTI's small SRAMs for the stores inside a
    PE (``benchmarks/energy_cacti.py --local``), one row per port width, one bank, one port, no gating."""
    from energy_cacti import CELLS, LOCAL_CAPACITIES_BYTES, LOCAL_WIDTHS_BITS  # noqa: E402

    f = sb_factor(node, SCALED_FROM_NM) if node in SCALED_NODES else 1.0
    if node in INTERPOLATED:
        rec, rel = _interpolated_record(node, *INTERPOLATED[node], prefix="local_sram")
    else:
        src_node = SCALED_FROM_NM if node in SCALED_NODES else node
        rec, rel = _cacti_record(src_node, "local_sram"), f"benchmarks/results/cacti/local_sram_{src_node}nm.json"
    scaled = (f" x Stillmaker & Baas 2017 energy factor {SCALED_FROM_NM}->{node} nm at {SB_VDD} V ({f:.4f}) on "
              "energies and leakage" if node in SCALED_NODES else "")
    runs = rec["runs"]
    lines = ["local_sram:  # CACTI: the small SRAMs inside a PE (hardware.pe.local_stores of kind sram)",
             f"  source: \"{rec['cacti_version']}, {rec['temperature_k']} K, one bank, one port, runs recorded with "
             f"inputs and outputs in {rel}{scaled}; no power gating (gated leakage = leakage, no wake-up)\"",
             f"  temperature_k: {rec['temperature_k']}",
             f"  capacity_kib: [{', '.join(_fmt(b / 1024) for b in LOCAL_CAPACITIES_BYTES)}]",
             "  cells:"]
    for cell in CELLS:
        lines.append(f"    {cell}:")
        lines.append(f"      source: \"CACTI cell and peripheral type {cell} ({rel})\"")
        lines.append("      organisations:")
        for width in LOCAL_WIDTHS_BITS:
            cols = {k: [] for k in ("read_pj", "write_pj", "leakage_uw", "gated_leakage_uw", "wakeup_pj", "cycle_ns")}
            for size in LOCAL_CAPACITIES_BYTES:
                on = runs.get(f"{cell}/{size}B/{width}b", {}).get("outputs")
                if on is None:
                    for v in cols.values():
                        v.append(None)
                    continue
                leak = _leak_uw(on, 1) * f
                cols["read_pj"].append(on["read_nj"] * 1000.0 * f)
                cols["write_pj"].append(on["write_nj"] * 1000.0 * f)
                cols["leakage_uw"].append(leak)
                cols["gated_leakage_uw"].append(leak)
                cols["wakeup_pj"].append(0.0)
                cols["cycle_ns"].append(on["cycle_time_ns"])
            src = (f"CACTI runs '{cell}/<capacity>B/{width}b'"
                   + ("; null: CACTI found no organisation" if None in cols["read_pj"] else ""))
            lines.append(f"        - {{width_bits: {width}, banks: 1, ports: 1,")
            for k, v in cols.items():
                lines.append(f"           {k}: [{', '.join('null' if x is None else _fmt(x) for x in v)}],")
            lines.append(f"           source: \"{src}\"}}")
    return lines


LIBERTY = Path(__file__).resolve().parent / "results" / "liberty" / "sky130_fd_sc_hd_tt_025C_1v80.json"
"""The standard-cell liberty values the clock and register-file read entries derive from."""
LIBERTY_SLEW = 2
"""Index of the liberty tables' input transition used (0.053 ns, a clock-tree slew)."""


def liberty_energies() -> dict:
    """Per-event energies from the recorded SKY130 liberty data at its own node and supply, pJ:
    ``clock`` = CLK internal energy of a rising and a falling edge + C_CLK V^2 (the clock driver
    charging the pin once per cycle) of one flip-flop per cycle; ``mux2`` = one output toggle of a
    2:1 multiplexer driving the next one's data input (internal energy, mean of rise and fall, +
    C_A0 V^2 / 2)."""
    lib = json.loads(LIBERTY.read_text(encoding="utf-8"))
    v = lib["supply_v"]
    ff = lib["cells"]["sky130_fd_sc_hd__dfxtp_1"]
    mux = lib["cells"]["sky130_fd_sc_hd__mux2_1"]
    i = LIBERTY_SLEW
    ck_int = ff["pin_CLK_internal_power_rise_pj"][i] + ff["pin_CLK_internal_power_fall_pj"][i]
    ck_cap = ff["pin_CLK_capacitance_pf"] * v * v
    mux_int = (mux["pin_X_internal_power_related_A0_rise_pj_row3"][1]
               + mux["pin_X_internal_power_related_A0_fall_pj_row3"][1]) / 2
    mux_load = mux["pin_A0_capacitance_pf"] * v * v / 2
    return {"node_nm": lib["node_nm"], "supply_v": v, "clock": ck_int + ck_cap, "clock_internal": ck_int,
            "clock_pin": ck_cap, "mux2": mux_int + mux_load, "mux2_internal": mux_int, "mux2_load": mux_load,
            "slew_ns": ff["pin_CLK_internal_power_index_1_transition_ns"][i]}


def render(node: int) -> str:
    f = sb_factor(node, 45)
    f40 = sb_factor(45, 40)
    scaled = node != 45

    def logic(value_45: float, how_45: str) -> tuple[float, str]:
        if not scaled:
            return value_45, how_45
        return value_45 * f, (f"derived: 45 nm value {value_45:.6g} x Stillmaker & Baas 2017 energy "
                              f"factor 45->{node} nm at {SB_VDD} V ({f:.4f})")

    lines: list[str] = []
    add = lines.append
    add(f"# Energy table, {node} nm. Generated by benchmarks/energy_make_tables.py: edit there, or")
    add("# copy this file and point `energy.table:` at your copy. Every number carries `source:`,")
    add("# either a citation or 'derived: <how>'. Units are in the key names.")
    add(f"technology: {node}nm")
    sram_how = (f"SRAM from CACTI 7 at {SCALED_FROM_NM} nm scaled by Stillmaker & Baas 2017" if node in SCALED_NODES
                else f"SRAM interpolated between CACTI 7 runs at {INTERPOLATED[node][0]} and {INTERPOLATED[node][1]} nm"
                if node in INTERPOLATED else f"SRAM from CACTI 7 runs at {node} nm")
    desc = (f"Published 45 nm logic figures (Horowitz ISSCC 2014, Aladdin/Accelergy 40 nm); {sram_how}; "
            "DRAM from Accelergy's tables"
            if not scaled else
            f"45 nm logic figures scaled to {node} nm with Stillmaker & Baas 2017; {sram_how}; "
            "DRAM unchanged (off-chip)")
    add(f"description: \"{desc}\"")
    add("logic_voltage:  # the supply of the logic entries; energy.logic_supply_v rescales them by (V / this)^2")
    add(f"  volts: {LOGIC_V}")
    add(f"  source: \"{HOROWITZ} and the 28 nm flip-flop anchor are 0.9 V figures"
        + ("" if not scaled else f"; the node scaling (Stillmaker & Baas ratio at one common supply) keeps the supply")
        + "; the wire energy (Dally) names no supply and is scaled with the logic\"")
    # multiplier
    v, s = logic(0.2, f"{HOROWITZ}: 8-bit integer multiply 0.2 pJ; energy ~ weight_bits x act_bits "
                      "(Horowitz 8b->32b: x15.5, product x16)")
    add("multiplier:")
    add(f"  energy_pj: {_fmt(v)}")
    add("  weight_bits: 8")
    add("  act_bits: 8")
    add(f"  source: \"{s}\"")
    v, s = logic(0.1, f"{HOROWITZ}: 32-bit integer add 0.1 pJ; energy ~ width (int8 add 0.03 pJ)")
    add("adder:")
    add(f"  energy_pj: {_fmt(v)}")
    add("  bits: 32")
    add(f"  source: \"{s}\"")
    f28 = sb_factor(28, 45)
    reg45 = GATE_FF_PJ_PER_BIT_28 / f28
    v, s = logic(reg45, (f"derived: flip-flop {GATE_FF_PJ_PER_BIT_28 * 1000:.2f} fJ/bit at 28 nm, 0.9 V (gate-level "
                         f"anchor, ZigZag IMC model) / Stillmaker & Baas 45->28 nm factor {f28:.4f}; chosen over "
                         f"Aladdin's 40 nm register ({ALADDIN_REG_PJ_PER_BIT_40} pJ/bit = "
                         f"{ALADDIN_REG_PJ_PER_BIT_40 * f40:.4f} at 45 nm) because Aladdin's logic is ~4.7x "
                         "Horowitz's, whose multiplier and adder this table uses"))
    add("pe_register:")
    add("  write:")
    add(f"    energy_pj_per_bit: {_fmt(v)}")
    add(f"    source: \"{s}\"")
    pitch45 = TPU_PE_PITCH_MM_28 * 45 / 28
    wire45 = WIRE_PJ_PER_BIT_PER_MM * pitch45
    v, s = logic(wire45, (f"derived: on-chip wire {WIRE_PJ_PER_BIT_PER_MM} pJ/bit/mm (Dally; Keckler et al. "
                          f"IEEE Micro 2011) x PE pitch {pitch45 * 1000:.1f} um (TPU v1, Jouppi et al. ISCA 2017: "
                          f"sqrt(0.24 x 331 mm^2 / 65536) = {TPU_PE_PITCH_MM_28 * 1000:.1f} um at 28 nm, x 45/28); "
                          "the receiving register write is priced under write"))
    add("  forward:")
    add(f"    energy_pj_per_bit: {_fmt(v)}")
    add(f"    source: \"{s}\"")
    lib = liberty_energies()
    to45 = (LOGIC_V / lib["supply_v"]) ** 2 * sb_factor(45, lib["node_nm"])
    rel = LIBERTY.relative_to(LIBERTY.parents[3]).as_posix()
    v, s = logic(lib["clock"] * to45, (
        f"derived: SKY130 sky130_fd_sc_hd__dfxtp_1 liberty (tt, 25 C, {lib['supply_v']} V, {lib['node_nm']} nm; "
        f"{rel}): CLK internal energy of a rising and a falling edge at {lib['slew_ns']:.3g} ns transition "
        f"{lib['clock_internal'] * 1000:.2f} fJ + CLK pin capacitance x V^2 {lib['clock_pin'] * 1000:.2f} fJ = "
        f"{lib['clock'] * 1000:.2f} fJ per flip-flop per cycle; x ({LOGIC_V} V / {lib['supply_v']} V)^2 x Stillmaker & "
        f"Baas {lib['node_nm']}->45 nm factor {sb_factor(45, lib['node_nm']):.4f} at {SB_VDD} V; the clock tree's "
        "buffers and wires are not included"))
    add("  clock:  # every clocked flip-flop bit, every cycle its clock runs (hardware.clock_gating)")
    add(f"    energy_pj_per_bit: {_fmt(v)}")
    add(f"    source: \"{s}\"")
    v, s = logic(lib["mux2"] * to45, (
        f"derived: SKY130 sky130_fd_sc_hd__mux2_1 liberty ({rel}): output toggle internal energy (mean of rise and "
        f"fall, A0 -> X) {lib['mux2_internal'] * 1000:.2f} fJ + the next mux's A0 capacitance x V^2 / 2 "
        f"{lib['mux2_load'] * 1000:.2f} fJ = {lib['mux2'] * 1000:.2f} fJ; x ({LOGIC_V} V / {lib['supply_v']} V)^2 x "
        f"Stillmaker & Baas {lib['node_nm']}->45 nm factor {sb_factor(45, lib['node_nm']):.4f}; a register-file read "
        "passes ceil(log2(words)) levels"))
    add("  mux2:  # one bit through one 2:1 multiplexer level of a register-file read")
    add(f"    energy_pj_per_bit: {_fmt(v)}")
    add(f"    source: \"{s}\"")
    # SRAM
    sram_lines, lut_pjb = _sram_block(node)
    lines.extend(sram_lines)
    lines.extend(_local_sram_block(node))
    # DRAM (off-chip: does not scale with the logic node)
    add("dram:  # off-chip: the same at every logic node")
    dram = [
        ("lpddr4", 8.0, "Accelergy CACTI-based DRAM table: LPDDR4 8 pJ/bit"),
        ("ddr3", 70.0, "Accelergy CACTI-based DRAM table: DDR3 70 pJ/bit"),
        ("ddr4", 70.0 * (1.2 / 1.5) ** 2,
         "derived: DDR3 70 pJ/bit x (1.2 V / 1.5 V)^2 (JEDEC JESD79-4 vs JESD79-3 supply); not published"),
        ("gddr5", 14.0, "Accelergy CACTI-based DRAM table: GDDR5 14 pJ/bit"),
        ("hbm2", 3.9, "Accelergy CACTI-based DRAM table: HBM2 3.9-6.25 pJ/bit, low end taken "
                      "(O'Connor et al. MICRO 2017: 3.9 pJ/bit)"),
    ]
    for kind, pjb, src in dram:
        add(f"  {kind}:")
        add(f"    energy_pj_per_bit: {_fmt(pjb)}")
        add(f"    source: \"{src}\"")
    # leakage
    pe_leak_40 = ALADDIN_MUL32_LEAK_UW_40 * (8 * 8) / (32 * 32) + ALADDIN_ADD32_LEAK_UW_40
    pe_leak_45 = pe_leak_40 * f40
    add("leakage:  # a power: leakage energy = power x time, so it depends on the clock")
    v, s = logic(pe_leak_45, (f"derived: Aladdin 40 nm leakage (Accelergy library), 8x8 multiplier "
                              f"{ALADDIN_MUL32_LEAK_UW_40} uW x 64/1024 + 32-bit adder {ALADDIN_ADD32_LEAK_UW_40} uW "
                              f"= {pe_leak_40:.4g} uW, x Stillmaker & Baas 40->45 nm factor {f40:.4f} "
                              "(leakage scaled like energy, as Accelergy does); PE registers not included"))
    add("  pe:")
    add(f"    power_uw: {_fmt(v)}")
    add(f"    source: \"{s}\"")
    # vector unit
    add("vector:  # one element operation beside the array, at `bits`; energy ~ the layer's act_bits")
    vec = [
        ("maxpool", 0.03, f"{HOROWITZ}: one compare ~ one 8-bit add 0.03 pJ"),
        ("avgpool", 0.03, f"{HOROWITZ}: one accumulate ~ one 8-bit add 0.03 pJ"),
        ("add", 0.43, f"derived: two requantizing 8-bit multiplies (2 x 0.2 pJ) + one 8-bit add (0.03 pJ), {HOROWITZ}"),
        ("mul", 0.4, f"derived: one 8-bit multiply + one requantizing multiply (2 x 0.2 pJ), {HOROWITZ}"),
        ("concat", 0.2, f"derived: one requantizing 8-bit multiply (0.2 pJ), {HOROWITZ}"),
        ("lut", None, "derived: one 8-bit read of a 1 KiB SRAM table (this table's CACTI itrs-lstp 1 KiB 32-bit "
                      "1-bank read energy per bit x 8)"),
        ("requant", 0.4, f"derived: requantizing one accumulator, ~ an 8x16-bit multiply (2 x 0.2 pJ), {HOROWITZ}"),
    ]
    for op, pj45, src in vec:
        if op == "lut":
            v, s = lut_pjb * 8, src
        else:
            v, s = logic(pj45, src)
        add(f"  {op}:")
        add(f"    energy_pj: {_fmt(v)}")
        add("    bits: 8")
        add(f"    source: \"{s}\"")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="compare with the shipped tables, write nothing")
    ap.add_argument("--nodes", type=int, nargs="+", default=list(TABLE_NODES), help="tables to write, nm")
    args = ap.parse_args(argv)
    status = 0
    for node in args.nodes:
        path = OUT_DIR / f"{node}nm.yaml"
        text = render(node)
        if args.check:
            same = path.exists() and path.read_text(encoding="utf-8") == text
            print(f"{path.name}: {'up to date' if same else 'DIFFERS'}")
            status |= 0 if same else 1
        else:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    print("Stillmaker & Baas factors at 0.8 V from 45 nm: "
          + ", ".join(f"{n} nm {sb_factor(n):.4f}" for n in (65, 40, 28, 16, 7)))
    return status


if __name__ == "__main__":
    sys.exit(main())
