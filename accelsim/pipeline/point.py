"""One config end to end: :func:`run` (all stages of :mod:`accelsim.pipeline.stages`), the
:class:`RunResult` it returns, :func:`write_outputs` for ``accelsim run`` and :func:`run_point` for
sweeps. The result is reduced to one typed :class:`~accelsim.pipeline.result.PointSummary`.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from accelsim.atomic import atomic_open, make_dirs, remove_stale_temporaries, write_text
from accelsim.config.run import RunConfig
from accelsim.layers import Network, write_network
from accelsim.pipeline.result import DESCRIPTORS_DIR, LAYERS_FILE, SUMMARY_FILE, LayerSummary, PointSummary
from accelsim.pipeline.stages import Runtime, Workload, run_stages

if TYPE_CHECKING:  # pragma: no cover
    from accelsim.datapath.accuracy import EvalResult
    from accelsim.energy.model import NetworkEnergy
    from accelsim.hw.sim import NetworkTiming


@dataclass
class RunResult:
    """Everything one run produced; :meth:`summary` is the typed view the CLI, sweeps and reports read."""

    config: RunConfig
    workload: Workload
    network: Network
    """The network as simulated (quantized when the workload has weights)."""
    timing: NetworkTiming
    energy: NetworkEnergy
    accuracy: EvalResult | None
    """The integer datapath against the float model on the test set, or None."""
    accuracy_note: str = ""
    """Why accuracy is None (e.g. a topology carries no weights)."""
    notes: list[str] = field(default_factory=list)

    def summary(self) -> PointSummary:
        """The typed, versioned point result (the schema of ``summary.json`` and sweep records)."""
        t, e, cfg = self.timing, self.energy, self.config
        total = t.total
        breakdown_uj = {k: v * 1e-6 for k, v in e.to_dict()["breakdown_pj"].items()}
        acc = self.accuracy.to_dict() if self.accuracy is not None else {}
        layers = tuple(
            LayerSummary(
                name=counts.name, op=op, macs=counts.macs, folds=counts.folds,
                compute_cycles=counts.compute_cycles, stall_cycles=counts.stall_cycles,
                total_cycles=counts.total_cycles, utilization=counts.utilization,
                dram_read_bytes=counts.dram_read_bytes, dram_write_bytes=counts.dram_write_bytes,
                energy_uj=le.total_pj * 1e-6 / e.inferences_per_pass,
            )
            for counts, op, le in zip(t.layers, t.ops, e.layers)
        )
        return PointSummary(
            name=cfg.name,
            workload=self.workload.label,
            weight_bits=cfg.quant.weight_bits,
            act_bits=cfg.quant.act_bits,
            acc_bits=cfg.quant.acc_bits,
            method=cfg.quant.method if self.network.quantized else None,
            array_rows=cfg.hardware.array.rows,
            array_cols=cfg.hardware.array.cols,
            dataflow=cfg.hardware.dataflow,
            clock_hz=cfg.hardware.clock_hz,
            batch=t.batch,
            technology=cfg.energy.table or cfg.energy.technology,
            macs=total.macs,
            compute_cycles=total.compute_cycles,
            stall_cycles=total.stall_cycles,
            total_cycles=total.total_cycles,
            utilization=total.utilization,
            latency_s=t.latency_s,
            inferences_per_s=t.inferences_per_s,
            tops=t.achieved_tops,
            peak_tops=t.peak_tops,
            energy_per_inference_uj=e.energy_per_inference_uj,
            energy_breakdown_uj=breakdown_uj,
            power_mw=e.power_mw,
            tops_per_w=e.tops_per_w,
            float_top1=acc.get("float_top1"),
            quant_top1=acc.get("quant_top1"),
            float_top5=acc.get("float_top5"),
            quant_top5=acc.get("quant_top5"),
            agreement=acc.get("agreement"),
            accuracy_images=acc.get("samples"),
            accuracy_note=self.accuracy_note,
            calib_images_requested=self.network.meta.get("calib_images_requested"),
            calib_images=self.network.meta.get("calib_images"),
            warnings=tuple(self.network.meta.get("warnings", ())),
            layers=layers,
        )


def run(cfg: RunConfig, cache=None, progress: bool = False) -> RunResult:
    """Quantize (when the workload has weights), measure accuracy, simulate and price one config.

    Parameters
    ----------
    cfg : the run config.
    cache : a sweep's :class:`~accelsim.sweep.cache.ResultCache` sharing calibration and accuracy
        between points (keyed by :func:`~accelsim.pipeline.stages.stage_keys`), or None.
    progress : status lines and progress bars on stderr.
    """
    values = run_stages(cfg, ("accuracy", "energy"), cache=cache, runtime=Runtime(progress=progress))
    accuracy = values.get("accuracy")
    if values["workload"].kind == "topology":
        note = "a topology has shapes only, no weights"
    else:
        note = "" if accuracy is not None else "no labelled test data set given (data.test)"
    return RunResult(config=cfg, workload=values["workload"], network=values["network"], timing=values["timing"],
                     energy=values["energy"], accuracy=accuracy, accuracy_note=note)


def run_point(cfg: RunConfig, *, cache=None, progress: bool = False) -> dict[str, Any]:
    """One sweep point: :func:`run` reduced to the JSON form of its :class:`PointSummary`."""
    return run(cfg, cache=cache, progress=progress).summary().to_dict()


def write_outputs(result: RunResult, directory: str | Path) -> dict[str, Path]:
    """Write ``summary.json``, ``layers.csv`` and the descriptors folder; return their paths.

    Each file is replaced atomically (:mod:`accelsim.atomic`): a crash or a full disk leaves the
    previous file or the new one; temporaries an earlier killed run left are removed. Raises
    :class:`~accelsim.errors.OutputFileError` naming the path and the cause when the file system refuses.
    """
    directory = make_dirs(directory)
    for folder in (directory, directory / DESCRIPTORS_DIR):
        remove_stale_temporaries(folder)
    summary = result.summary().to_dict()
    full = dict(summary)
    full["config"] = result.config.model_dump(mode="json")
    if result.accuracy is not None:
        full["accuracy"] = result.accuracy.to_dict()
    full["energy"] = result.energy.to_dict()
    paths = {"summary": directory / SUMMARY_FILE, "layers": directory / LAYERS_FILE,
             "descriptors": directory / DESCRIPTORS_DIR}
    write_text(paths["summary"], json.dumps(full, indent=1) + "\n")
    rows = summary["layers"]
    with atomic_open(paths["layers"], "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]) if rows else ["name"])
        writer.writeheader()
        writer.writerows(rows)
    write_network(result.network, paths["descriptors"])
    return paths
