"""Peer check: accelsim's energy next to ZigZag's on ResNet-18, 32x32 array, the SAME per-access energies.

ZigZag (KU Leuven, PyPI ``zigzag-dse``) runs in its own venv ``.venv-zigzag/`` (created here if
missing: ``pip install zigzag-dse six``). This script

1. takes accelsim's ResNet-18 (``load_topology("resnet18")``, 8-bit weights/activations, 32-bit
   accumulators) and the 45 nm energy table (or ``--technology``);
2. writes ZigZag inputs under ``benchmarks/zigzag_inputs/``: an accelerator whose per-access
   energies are accelsim's table entries (MAC = accelsim's 8x8-bit multiply + 32-bit add; a per-PE
   register per operand costing accelsim's register write energy per bit; one SRAM per operand
   at the configured capacity with accelsim's interpolated SRAM read/write energy per bit; DRAM at
   accelsim's pJ/bit for the configured kind), the array layers as ZigZag layers, and an
   output-stationary-like spatial mapping (K over one array side, OX over the other);
3. runs ZigZag (``benchmarks/zigzag_run.py`` inside the venv), timing it;
4. runs accelsim (``simulate_network`` + ``price_network``), timing it;
5. prints, for one conv layer and for the whole network, both breakdowns side by side with the
   differences, and both wall times; saves the numbers to ``benchmarks/results/zigzag_peer_*.json``.

Only the array layers (conv, fc) are compared: ZigZag has no vector unit nor leakage, so accelsim's
``vector`` and ``leakage`` are listed apart. ::

    python benchmarks/zigzag_peer.py                 # whole ResNet-18 + layer1.0.conv1
    python benchmarks/zigzag_peer.py --layers 3      # quick: first 3 array layers
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import time
from pathlib import Path

import yaml

from accelsim.config.hardware import HardwareConfig
from accelsim.energy import EnergyBreakdown, mac_energy_pj, price_network, shipped_table
from accelsim.workloads.load import load_topology
from accelsim.layers import Network

REPO = Path(__file__).resolve().parents[1]
VENV = REPO / ".venv-zigzag"
INPUTS = REPO / "benchmarks" / "zigzag_inputs"
RESULTS = REPO / "benchmarks" / "results"
SRAM_BW_MAX_BITS = 2048
"""ZigZag charges per access of its max bandwidth; the minimum granularity (8 bits) keeps rounding small."""


def ensure_venv() -> Path:
    py = VENV / "bin" / "python"
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    probe = subprocess.run([str(py), "-c", "import zigzag, six"], capture_output=True)
    if probe.returncode != 0:
        subprocess.run([str(VENV / "bin" / "pip"), "install", "-q", "zigzag-dse", "six"], check=True)
    return py


def _port(name: str, kind: str, bw_min: int, bw_max: int, alloc: list[str]) -> dict:
    return {"name": name, "type": kind, "bandwidth_min": bw_min, "bandwidth_max": bw_max, "allocation": alloc}


def zigzag_accelerator(hw: HardwareConfig, table, acc_bits: int, weight_bits: int, act_bits: int) -> dict:
    """A ZigZag accelerator with accelsim's per-access energies (per-bit energy x ZigZag's word)."""
    reg = table.pe_register.write.energy_pj_per_bit

    def rf(bits: int, op: str) -> dict:
        # registers: accelsim prices register writes only (reading a flip-flop drives no bit line)
        if op == "O":
            ports = [_port("r_port_1", "read", bits, bits, ["O, tl"]), _port("r_port_2", "read", bits, bits, ["O, th"]),
                     _port("w_port_1", "write", bits, bits, ["O, fh"]), _port("w_port_2", "write", bits, bits, ["O, fl"])]
        else:
            ports = [_port("r_port_1", "read", bits, bits, [f"{op}, tl"]),
                     _port("w_port_1", "write", bits, bits, [f"{op}, fh"])]
        return {"size": bits, "r_cost": 0.0, "w_cost": reg * bits, "area": 0, "latency": 1,
                "operands": [op], "ports": ports, "served_dimensions": []}

    def sram(kib: float, op: str) -> dict:
        rd = table.sram.energy_pj_per_bit(kib, "read") * SRAM_BW_MAX_BITS
        wr = table.sram.energy_pj_per_bit(kib, "write") * SRAM_BW_MAX_BITS
        if op == "O":
            ports = [_port("r_port_1", "read", 8, SRAM_BW_MAX_BITS, ["O, tl", "O, th"]),
                     _port("w_port_1", "write", 8, SRAM_BW_MAX_BITS, ["O, fh", "O, fl"])]
        else:
            ports = [_port("r_port_1", "read", 8, SRAM_BW_MAX_BITS, [f"{op}, tl"]),
                     _port("w_port_1", "write", 8, SRAM_BW_MAX_BITS, [f"{op}, fh"])]
        return {"size": int(kib * 1024 * 8), "r_cost": rd, "w_cost": wr, "area": 0, "latency": 1,
                "operands": [op], "ports": ports, "served_dimensions": ["D1", "D2"]}

    dram_bits = 64
    dram_cost = table.dram_energy_pj_per_bit(hw.dram.kind) * dram_bits
    dram = {"size": 10_000_000_000, "r_cost": dram_cost, "w_cost": dram_cost, "area": 0, "latency": 1,
            "operands": ["I1", "I2", "O"],
            "ports": [_port("rw_port_1", "read_write", 8, dram_bits,
                            ["I1, fh", "I1, tl", "I2, fh", "I2, tl", "O, fh", "O, tl", "O, fl", "O, th"])],
            "served_dimensions": ["D1", "D2"]}
    b = hw.buffers
    return {
        "name": "accelsim_like",
        "memories": {
            "reg_W": rf(weight_bits, "I2"),
            "reg_I": rf(act_bits, "I1"),
            "reg_O": rf(acc_bits, "O"),
            "sram_weight": sram(b.weight_kb, "I2"),
            "sram_ifmap": sram(b.ifmap_kb, "I1"),
            "sram_ofmap": sram(b.ofmap_kb, "O"),
            "dram": dram,
        },
        "operational_array": {
            "unit_energy": mac_energy_pj(table, weight_bits, act_bits, acc_bits),
            "unit_area": 1,
            "dimensions": ["D1", "D2"],
            "sizes": [hw.array.rows, hw.array.cols],
        },
    }


def zigzag_workload(net: Network) -> list[dict]:
    """The array layers of *net* as ZigZag layers (fc as a 1x1 conv on a 1x1 map)."""
    out = []
    for i, layer in enumerate(l for l in net.layers if l.on_array):
        assert layer.groups == 1, "ResNet-18 has no grouped layers"
        n, c, _, _ = layer.in_shape
        _, k, oh, ow = layer.out_shape
        kh, kw = layer.kernel
        sh, sw = layer.stride
        dh, dw = layer.dilation
        if layer.op == "gemm":
            kh = kw = sh = sw = dh = dw = 1
        out.append({
            "id": i,
            "name": layer.name,
            "operator_type": "Conv",
            "equation": "O[b][k][oy][ox]+=W[k][c][fy][fx]*I[b][c][iy][ix]",
            "dimension_relations": [f"ix={sw}*ox+{dw}*fx", f"iy={sh}*oy+{dh}*fy"],
            "loop_dims": ["B", "K", "C", "OY", "OX", "FY", "FX"],
            "loop_sizes": [n, k, c, oh, ow, kh, kw],
            "operand_precision": {"W": layer.weight_bits, "I": layer.act_bits, "O": layer.acc_bits,
                                  "O_final": layer.out_bits},
            "operand_source": {"I": i, "W": i},
        })
    return out


def zigzag_mapping(rows: int, cols: int) -> list[dict]:
    """Output-stationary-like: output channels K over D1 (rows), output columns OX over D2 (cols)."""
    return [{"name": "default",
             "spatial_mapping": {"D1": [f"K, {rows}"], "D2": [f"OX, {cols}"]},
             "memory_operand_links": {"O": "O", "W": "I2", "I": "I1"}}]


def run_zigzag(py: Path, hw_yaml: Path, wl_yaml: Path, map_yaml: Path) -> dict:
    t0 = time.perf_counter()
    res = subprocess.run([str(py), str(REPO / "benchmarks" / "zigzag_run.py"), str(hw_yaml), str(wl_yaml),
                          str(map_yaml)], capture_output=True, text=True)
    if res.returncode != 0:
        sys.stderr.write(res.stderr[-4000:])
        raise SystemExit("ZigZag failed")
    out = json.loads(res.stdout)
    out["process_wall_s"] = time.perf_counter() - t0
    return out


def run_accelsim(net: Network, hw: HardwareConfig, table) -> tuple[dict, float, float]:
    """accelsim's per-layer breakdowns of the array layers, with the wall times of timing and pricing."""
    from accelsim.config.simulation import SimulationConfig
    from accelsim.hw.sim import simulate_network

    t0 = time.perf_counter()
    timing = simulate_network(net, hw, SimulationConfig())
    t1 = time.perf_counter()
    energy = price_network(timing.layers, net.layers, hw, table)
    t2 = time.perf_counter()
    per_layer = {le.name: le.breakdown for le in energy.layers if le.macs}
    return per_layer, t1 - t0, t2 - t1


def zigzag_components(layer: dict) -> dict[str, float]:
    mem = layer["memory_energy_pj"]
    return {
        "mac": layer["mac_energy_pj"],
        "pe_registers": sum(v for k, v in mem.items() if k.startswith("reg_")),
        "pe_forwarding": 0.0,
        "sram_ifmap": mem.get("sram_ifmap", 0.0),
        "sram_weight": mem.get("sram_weight", 0.0),
        "sram_ofmap": mem.get("sram_ofmap", 0.0),
        "dram": mem.get("dram", 0.0),
    }


COMPARED = ("mac", "pe_registers", "pe_forwarding", "sram_ifmap", "sram_weight", "sram_ofmap", "dram")


def table_rows(title: str, ours: EnergyBreakdown, theirs: dict[str, float]) -> str:
    lines = [f"\n{title}", f"{'component':<15}{'accelsim uJ':>14}{'ZigZag uJ':>14}{'diff uJ':>14}{'ratio':>9}"]
    tot_a = tot_z = 0.0
    for name in COMPARED:
        a = getattr(ours, name) * 1e-6
        z = theirs[name] * 1e-6
        tot_a += a
        tot_z += z
        ratio = f"{a / z:8.2f}x" if z else "      -"
        lines.append(f"{name:<15}{a:14.3f}{z:14.3f}{a - z:14.3f}{ratio:>9}")
    lines.append(f"{'total compared':<15}{tot_a:14.3f}{tot_z:14.3f}{tot_a - tot_z:14.3f}{tot_a / tot_z:8.2f}x")
    lines.append(f"{'(leakage)':<15}{ours.leakage * 1e-6:14.3f}{'not modelled':>14}")
    lines.append(f"{'(vector)':<15}{ours.vector * 1e-6:14.3f}{'not modelled':>14}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--technology", default="45nm")
    ap.add_argument("--array", default="32x32")
    ap.add_argument("--dataflow", default="os", choices=["os", "ws", "is"])
    ap.add_argument("--layers", type=int, default=0, help="only the first N array layers (0 = all)")
    ap.add_argument("--layer", default="layer1.0.conv1", help="the single layer shown on its own")
    ap.add_argument("--skip-zigzag", action="store_true", help="reuse the saved ZigZag result")
    ap.add_argument("--bits", default="8,8", help="weight,activation bits of every layer (ZigZag's MAC "
                    "energy stays the 8x8-bit figure: it has one constant per MAC whatever the precision)")
    args = ap.parse_args(argv)

    rows, cols = (int(x) for x in args.array.lower().split("x"))
    hw = HardwareConfig.model_validate({"array": {"rows": rows, "cols": cols}, "dataflow": args.dataflow})
    table = shipped_table(args.technology)
    wbits, abits = (int(x) for x in args.bits.split(","))
    net = load_topology("resnet18").with_bits(weight_bits=wbits, act_bits=abits, out_bits=abits)
    if args.layers:
        keep = [l for l in net.layers if l.on_array][: args.layers]
        net = dataclasses.replace(net, layers=tuple(keep))
    array_layers = [l for l in net.layers if l.on_array]
    widths = {(l.weight_bits, l.act_bits, l.acc_bits) for l in array_layers}
    assert len(widths) == 1, widths
    wb, ab, acc = widths.pop()

    INPUTS.mkdir(parents=True, exist_ok=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    bits_tag = "" if (wbits, abits) == (8, 8) else f"_w{wbits}a{abits}"
    tag = f"resnet18{'_first%d' % args.layers if args.layers else ''}{bits_tag}_{args.array}_{args.technology}"
    hw_yaml, wl_yaml, map_yaml = (INPUTS / f"accelerator_{args.array}_{args.technology}.yaml",
                                  INPUTS / f"workload_{tag}.yaml", INPUTS / f"mapping_{args.array}.yaml")
    if bits_tag:
        hw_yaml = hw_yaml.with_name(f"accelerator_{args.array}_{args.technology}{bits_tag}.yaml")
    accel = zigzag_accelerator(hw, table, acc, wb, ab)
    accel["operational_array"]["unit_energy"] = mac_energy_pj(table, 8, 8, acc)  # ZigZag: one constant
    hw_yaml.write_text(yaml.safe_dump(accel, sort_keys=False))
    wl_yaml.write_text(yaml.safe_dump(zigzag_workload(net), sort_keys=False))
    map_yaml.write_text(yaml.safe_dump(zigzag_mapping(rows, cols), sort_keys=False))

    zz_json = RESULTS / f"zigzag_peer_{tag}_zigzag.json"
    if args.skip_zigzag and zz_json.exists():
        zz = json.loads(zz_json.read_text())
    else:
        zz = run_zigzag(ensure_venv(), hw_yaml, wl_yaml, map_yaml)
        zz_json.write_text(json.dumps(zz, indent=1))
    zz_layers = {l["name"]: zigzag_components(l) for l in zz["layers"]}

    ours, t_sim, t_price = run_accelsim(net, hw, table)
    names = [l.name for l in array_layers]
    ours_total = sum((ours[n] for n in names), EnergyBreakdown())
    zz_total = {k: sum(zz_layers[n][k] for n in names) for k in COMPARED}

    print(f"ResNet-18 on {args.array} ({args.dataflow}), {args.technology} table, "
          f"W{wb}/A{ab}/acc{acc} bits, DRAM {hw.dram.kind}")
    if args.layer in ours:
        print(table_rows(f"one layer: {args.layer}", ours[args.layer], zz_layers[args.layer]))
    print(table_rows(f"whole network ({len(names)} array layers)", ours_total, zz_total))
    print(f"\nwall time: ZigZag search {zz['wall_s']:.1f} s (process {zz['process_wall_s']:.1f} s); "
          f"accelsim simulate {t_sim:.2f} s + price {t_price * 1e3:.1f} ms = {t_sim + t_price:.2f} s")
    summary = {
        "network": "resnet18", "array": args.array, "dataflow": args.dataflow, "technology": args.technology,
        "zigzag_wall_s": zz["wall_s"], "accelsim_simulate_s": t_sim, "accelsim_price_s": t_price,
        "accelsim_total_pj": {k: getattr(ours_total, k) for k in EnergyBreakdown.components()},
        "zigzag_total_pj": zz_total,
        "per_layer": {n: {"accelsim_pj": ours[n].as_dict(), "zigzag_pj": zz_layers[n]} for n in names},
    }
    (RESULTS / f"zigzag_peer_{tag}.json").write_text(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
