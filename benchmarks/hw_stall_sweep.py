"""DRAM bandwidth sweep on one memory-bound layer: total cycles fall to the compute bound.

Run: ``python benchmarks/hw_stall_sweep.py``. Layer: ResNet-18's last 3x3 conv (512 -> 512
channels on 7x7, 2.4 MB of 8-bit weights for only 49 output pixels), 32x32 os array, 64 KiB
buffers. Prints total, compute and stall cycles per bandwidth and saves
``reports/stall_vs_bandwidth.png``.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from accelsim.config.hardware import HardwareConfig  # noqa: E402
from accelsim.config.simulation import SimulationConfig  # noqa: E402
from accelsim.hw.sim import simulate_network  # noqa: E402
from accelsim.layers import LayerDescriptor, Network  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BANDWIDTHS = (0.5, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


def main() -> None:
    layer = LayerDescriptor(name="conv5_2b", op="conv2d", inputs=("x",), output="y", in_shape=(1, 512, 7, 7),
                            out_shape=(1, 512, 7, 7), kernel=(3, 3), padding=(1, 1, 1, 1))
    net = Network(name="one_layer", layers=(layer,), inputs=("x",), outputs=("y",))
    results = {}
    for df in ("os", "ws"):
        rows = []
        for bw in BANDWIDTHS:
            hw = HardwareConfig.model_validate({"array": {"rows": 32, "cols": 32}, "dataflow": df,
                                                "dram": {"bandwidth_bytes_per_cycle": bw}})
            c = simulate_network(net, hw, SimulationConfig()).total
            rows.append((bw, c.total_cycles, c.compute_cycles, c.stall_cycles, c.dram_read_bytes + c.dram_write_bytes))
        results[df] = rows
        print(f"{df}: {'B/cycle':>8} {'total':>10} {'compute':>9} {'stall':>10} {'DRAM bytes':>11} {'total/compute':>13}")
        for bw, tot, comp, stall, dram in rows:
            print(f"    {bw:>8g} {tot:>10,} {comp:>9,} {stall:>10,} {dram:>11,.0f} {tot / comp:>13.2f}")
    fig, ax = plt.subplots(figsize=(6, 4))
    for df, rows in results.items():
        ax.plot([r[0] for r in rows], [r[1] for r in rows], marker="o", label=f"total cycles ({df})")
        ax.axhline(rows[0][2], linestyle="--", linewidth=1, color=ax.lines[-1].get_color(),
                   label=f"compute bound ({df})")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("DRAM bandwidth (bytes/cycle)")
    ax.set_ylabel("cycles")
    ax.set_title("ResNet-18 conv5 3x3 512->512 @7x7 on 32x32, 64 KiB buffers")
    ax.legend(fontsize=8)
    fig.tight_layout()
    out = ROOT / "reports" / "stall_vs_bandwidth.png"
    out.parent.mkdir(exist_ok=True)
    fig.savefig(out, dpi=120)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
