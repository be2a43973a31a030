"""Stand-in point functions for the sweep tests (the real one is accelsim.pipeline.run_point).

They return a summary of the same shape as ``run_point`` from closed-form numbers a test can
recompute independently, use the shared cache the way the pipeline does, and can be slow or fail
on purpose.
"""

from __future__ import annotations

import os
import time
import warnings

from accelsim.pipeline.stages import stage_keys

BREAKDOWN = ("mac", "pe_registers", "pe_forwarding", "sram_ifmap", "sram_weight", "sram_ofmap",
             "dram", "leakage_logic", "leakage_ifmap", "leakage_weight", "leakage_ofmap", "vector")


def fake_point(cfg, *, cache=None, progress=False) -> dict:
    hw, q = cfg.hardware, cfg.quant
    if q.act_bits == 16:
        for _ in range(3):  # repeated: the record keeps it once
            warnings.warn("layer 'conv0': accumulator may overflow\nsecond line dropped", UserWarning)
    rows, cols, wb, ab = hw.array.rows, hw.array.cols, q.weight_bits, q.act_bits
    macs = 1_000_000
    compute = -(-macs // (rows * cols))
    stall = 1000 * (64 // rows)
    total = compute + stall
    latency = total / hw.clock_hz
    bd = {k: 0.0 for k in BREAKDOWN}
    bd["mac"] = macs * wb * ab * 1e-6 * 0.01
    bd["dram"] = 2.0 * (wb + ab) / 8
    bd["leakage_logic"] = total * 1e-6
    energy = sum(bd.values())

    def accuracy():
        marker = os.environ.get("ACCELSIM_TEST_BUILD_LOG")
        if marker:
            with open(marker, "a") as fh:
                fh.write(f"{wb},{ab}\n")
        return {"quant_top1": 0.9 - 0.1 / wb - 0.1 / ab}

    acc = cache.json(stage_keys(cfg)["accuracy"], accuracy) if cache is not None else accuracy()
    layers = [
        {"name": f"conv{i}", "op": "conv2d", "macs": macs // 2, "compute_cycles": compute // 2,
         "stall_cycles": stall // 2, "total_cycles": total // 2, "utilization": 0.5 + 0.1 * i,
         "energy_uj": energy / 2}
        for i in range(2)
    ]
    return {
        "inferences_per_s": 1.0 / latency,
        "latency_s": latency,
        "energy_per_inference_uj": energy,
        "energy_breakdown_uj": bd,
        "power_mw": energy * 1e-6 / latency * 1e3,
        "tops": 2 * macs / latency / 1e12,
        "tops_per_w": 2 * macs / (energy * 1e-6) / 1e12,
        "float_top1": 0.9,
        "quant_top1": acc["quant_top1"],
        "macs": macs,
        "total_cycles": total,
        "compute_cycles": compute,
        "stall_cycles": stall,
        "utilization": macs / (compute * rows * cols),
        "layers": layers,
    }


def slow_point(cfg, *, cache=None, progress=False) -> dict:
    time.sleep(float(os.environ.get("ACCELSIM_TEST_POINT_SLEEP_S", "0.25")))
    return fake_point(cfg, cache=cache, progress=progress)


def failing_point(cfg, *, cache=None, progress=False) -> dict:
    if cfg.quant.weight_bits == 4:
        raise ValueError("4-bit weights refused by this test\nsecond line must not be kept")
    return fake_point(cfg, cache=cache, progress=progress)


def thread_settings() -> tuple[dict, int]:
    """What a worker sees: the thread variables, then Numba's pool size (imported here, after them)."""
    from accelsim.sweep.executor import THREAD_VARIABLES

    env = {name: os.environ.get(name) for name in THREAD_VARIABLES}
    import numba

    return env, numba.get_num_threads()
