"""Write the shipped energy tables ``configs/energy/{45,28,16,7}nm.yaml`` from published figures.

Every published figure sits below once, with its citation; every derived number is computed here
and its YAML entry says ``derived: <how>``, so the arithmetic can be rerun and checked. The tables
are plain data: users edit (or copy) the YAML, never this script. Run from the repo root::

    python benchmarks/energy_make_tables.py          # rewrites accelsim/configs/energy/*.yaml
    python benchmarks/energy_make_tables.py --check  # exit 1 if a shipped table differs

Sources (see /work/shared/ENERGY_SOURCES.md):

- Horowitz, "Computing's energy problem (and what we can do about it)", ISSCC 2014, 45 nm 0.9 V:
  int8 add 0.03 pJ, int32 add 0.1 pJ, int8 multiply 0.2 pJ, int32 multiply 3.1 pJ.
- CACTI 7 SRAM read energy per 64-bit access at 45/32/22 nm, writes at 45 nm for 8 KiB and 1 MiB.
- Shao et al., "Aladdin", ISCA 2014, 40 nm tables as shipped in Accelergy's component library:
  register 0.009 pJ/bit, 32x32 multiplier leakage 0.08 pJ per 1 ns cycle (80 uW), 32-bit adder
  leakage 0.0024 pJ per 1 ns cycle (2.4 uW), register leakage 7.4e-5 mW per bit.
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
import math
import sys
from pathlib import Path

OUT_DIR = Path(__file__).resolve().parents[1] / "accelsim" / "configs" / "energy"

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
CACTI_READ_PJ_PER_64B = {  # CACTI 7, 64-bit port, one bank, pJ per access
    45: {1: 1.67, 8: 6.14, 32: 17.0, 128: 32.3, 256: 44.7, 1024: 93.5, 2048: 127.5},
    32: {1: 0.90, 8: 3.44, 32: 8.26, 128: 18.2, 256: 26.8, 1024: 52.0, 2048: 70.7},
    22: {1: 0.38, 8: 1.59, 32: 3.79, 128: 7.40, 256: 11.9, 1024: 23.5, 2048: 31.6},
}
CACTI_WRITE_45_PJ_PER_64B = {8: 7.9, 1024: 76.0}
ALADDIN_REG_PJ_PER_BIT_40 = 0.009
GATE_FF_PJ_PER_BIT_28 = 0.0017
ALADDIN_MUL32_LEAK_UW_40 = 80.0
ALADDIN_ADD32_LEAK_UW_40 = 2.4
ALADDIN_REG_LEAK_UW_PER_BIT_40 = 0.074
WIRE_PJ_PER_BIT_PER_MM = 0.1
TPU_PE_PITCH_MM_28 = math.sqrt(0.24 * 331.0 / (256 * 256))


def _write_ratio(cap_kib: float) -> float:
    """CACTI 7 45 nm write/read ratio, interpolated in log2 capacity between 8 KiB and 1 MiB,
    held constant outside."""
    r8 = CACTI_WRITE_45_PJ_PER_64B[8] / CACTI_READ_PJ_PER_64B[45][8]
    r1m = CACTI_WRITE_45_PJ_PER_64B[1024] / CACTI_READ_PJ_PER_64B[45][1024]
    t = (math.log2(cap_kib) - 3.0) / (10.0 - 3.0)
    t = min(1.0, max(0.0, t))
    return r8 * (1 - t) + r1m * t


def _fmt(x: float) -> str:
    return f"{x:.6g}"


def _sram_points(node: int) -> tuple[list[tuple[float, float, str]], list[tuple[float, float, str]]]:
    """(read, write) lists of (capacity KiB, pJ/bit, source) for one node."""
    caps = sorted(CACTI_READ_PJ_PER_64B[45])
    read, write = [], []
    f28_from = {16: sb_factor(16, 28), 7: sb_factor(7, 28)}
    t28 = math.log(32 / 28) / math.log(32 / 22)
    for cap in caps:
        if node in (45,):
            pj = CACTI_READ_PJ_PER_64B[45][cap]
            rsrc = f"CACTI 7, {node} nm, {cap} KiB, 64-bit port: {pj} pJ/access / 64 bit"
        else:
            p32, p22 = CACTI_READ_PJ_PER_64B[32][cap], CACTI_READ_PJ_PER_64B[22][cap]
            pj28 = math.exp((1 - t28) * math.log(p32) + t28 * math.log(p22))
            if node == 28:
                pj = pj28
                rsrc = (f"derived: CACTI 7 {cap} KiB read at 32 nm ({p32} pJ) and 22 nm ({p22} pJ) "
                        f"interpolated log-log in node size to 28 nm = {pj:.4g} pJ/access / 64 bit")
            else:
                pj = pj28 * f28_from[node]
                rsrc = (f"derived: 28 nm value ({pj28:.4g} pJ/access) x Stillmaker & Baas 2017 "
                        f"energy factor 28->{node} nm at {SB_VDD} V ({f28_from[node]:.4f}) / 64 bit")
        read.append((cap, pj / 64.0, rsrc))
        if node == 45 and cap in CACTI_WRITE_45_PJ_PER_64B:
            wpj = CACTI_WRITE_45_PJ_PER_64B[cap]
            wsrc = f"CACTI 7, 45 nm, {cap} KiB, 64-bit port: {wpj} pJ/access / 64 bit"
        else:
            r = _write_ratio(cap)
            wpj = pj * r
            wsrc = (f"derived: this node's {cap} KiB read ({pj:.4g} pJ/access) x CACTI 7 45 nm "
                    f"write/read ratio {r:.4f} (7.9/6.14 at 8 KiB to 76/93.5 at 1 MiB, "
                    "linear in log2 capacity, constant outside) / 64 bit")
        write.append((cap, wpj / 64.0, wsrc))
    return read, write


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
    desc = ("Published 45 nm figures (Horowitz ISSCC 2014, CACTI 7, Aladdin/Accelergy 40 nm) "
            if not scaled else
            f"45 nm table scaled to {node} nm with Stillmaker & Baas 2017 (logic, leakage); CACTI 7 "
            "32/22 nm for SRAM; DRAM unchanged (off-chip) ")
    add(f"description: \"{desc}\"")
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
    # SRAM
    read, write = _sram_points(node)
    add("sram:")
    for name, pts in (("read", read), ("write", write)):
        add(f"  {name}:")
        for cap, pjb, src in pts:
            add(f"    - capacity_kib: {cap}")
            add(f"      energy_pj_per_bit: {_fmt(pjb)}")
            add(f"      source: \"{src}\"")
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
    sram_leak_40 = ALADDIN_REG_LEAK_UW_PER_BIT_40 * 6 / 24 * 8192
    sram_leak_45 = sram_leak_40 * f40
    add("leakage:  # a power: leakage energy = power x time, so it depends on the clock")
    v, s = logic(pe_leak_45, (f"derived: Aladdin 40 nm leakage (Accelergy library), 8x8 multiplier "
                              f"{ALADDIN_MUL32_LEAK_UW_40} uW x 64/1024 + 32-bit adder {ALADDIN_ADD32_LEAK_UW_40} uW "
                              f"= {pe_leak_40:.4g} uW, x Stillmaker & Baas 40->45 nm factor {f40:.4f} "
                              "(leakage scaled like energy, as Accelergy does); PE registers not included"))
    add("  pe:")
    add(f"    power_uw: {_fmt(v)}")
    add(f"    source: \"{s}\"")
    v, s = logic(sram_leak_45, (f"derived, rough (+-10x): Aladdin 40 nm register leakage {ALADDIN_REG_LEAK_UW_PER_BIT_40} uW/bit x "
                                f"6/24 (a 6T cell vs a ~24-transistor flip-flop) x 8192 bit = {sram_leak_40:.4g} uW/KiB, "
                                f"x 40->45 nm factor {f40:.4f}; a low-leakage SRAM process is 10-100x lower"))
    add("  sram:")
    add(f"    power_uw_per_kib: {_fmt(v)}")
    add(f"    source: \"{s}\"")
    # vector unit
    add("vector:  # one element operation beside the array, at `bits`; energy ~ the layer's act_bits")
    sram1k_pjb = read[0][1]
    vec = [
        ("maxpool", 0.03, f"{HOROWITZ}: one compare ~ one 8-bit add 0.03 pJ"),
        ("avgpool", 0.03, f"{HOROWITZ}: one accumulate ~ one 8-bit add 0.03 pJ"),
        ("add", 0.43, f"derived: two requantizing 8-bit multiplies (2 x 0.2 pJ) + one 8-bit add (0.03 pJ), {HOROWITZ}"),
        ("mul", 0.4, f"derived: one 8-bit multiply + one requantizing multiply (2 x 0.2 pJ), {HOROWITZ}"),
        ("concat", 0.2, f"derived: one requantizing 8-bit multiply (0.2 pJ), {HOROWITZ}"),
        ("lut", None, "derived: one 8-bit read of a 1 KiB SRAM table (CACTI 7 1 KiB pJ/bit x 8)"),
        ("requant", 0.4, f"derived: requantizing one accumulator, ~ an 8x16-bit multiply (2 x 0.2 pJ), {HOROWITZ}"),
    ]
    for op, pj45, src in vec:
        if op == "lut":
            v, s = sram1k_pjb * 8, src + (f" at {node} nm" if scaled else "")
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
    args = ap.parse_args(argv)
    status = 0
    for node in (45, 28, 16, 7):
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
          + ", ".join(f"{n} nm {sb_factor(n):.4f}" for n in (40, 28, 16, 7)))
    return status


if __name__ == "__main__":
    sys.exit(main())
