"""The end-to-end run: one config in, throughput, energy per inference and accuracy out.

::

    workload ─┬─ ONNX model ─► load_onnx ─► calibrate (one batch) ─► Network ─► evaluate ─► accuracy
              └─ topology ───► load_topology ───────────────────────► Network (shapes only)
    Network ─► simulate_network (SimPy) ─► counts ─► price_network ─► energy
    all of it ─► RunResult.summary() / write_outputs()

Calibration and accuracy depend only on model, data and quantization settings; with a
:class:`~accelsim.sweep.cache.ResultCache` they are computed once per such key and reused by every
point that differs only in hardware, simulation or energy settings.
"""

from __future__ import annotations

import csv
import json
import sys
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

from accelsim.atomic import atomic_open, make_dirs, write_text
from accelsim.config.data import DatasetConfig
from accelsim.config.run import BUNDLED, RunConfig
from accelsim.energy.model import NetworkEnergy, price_network
from accelsim.energy.table import table_for
from accelsim.errors import ConfigError, InputFileError
from accelsim.hw.sim import NetworkTiming, simulate_network
from accelsim.layers import Network, write_network
from accelsim.pipeline.result import DESCRIPTORS_DIR, LAYERS_FILE, SUMMARY_FILE, LayerSummary, PointSummary



@dataclass
class RunResult:
    """Everything one run produced; :meth:`summary` is the JSON-able view reports read."""

    config: RunConfig
    network: Network
    """The network as simulated (quantized when the workload has weights)."""
    timing: NetworkTiming
    energy: NetworkEnergy
    accuracy: dict[str, Any] | None
    """``EvalResult.to_dict()`` of the integer datapath against the float model, or None."""
    accuracy_note: str = ""
    """Why accuracy is None (e.g. a topology carries no weights)."""
    notes: list[str] = field(default_factory=list)

    def summary(self) -> PointSummary:
        """The typed, versioned point result (the schema of ``summary.json`` and sweep records)."""
        t, e, cfg = self.timing, self.energy, self.config
        total = t.total
        breakdown_uj = {k: v * 1e-6 for k, v in e.to_dict()["breakdown_pj"].items()}
        acc = self.accuracy or {}
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
            workload=_workload_label(cfg),
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
            layers=layers,
        )


def _workload_label(cfg: RunConfig) -> str:
    wl = cfg.workload
    if wl.topology is not None:
        return f"topology:{Path(wl.topology).name if '/' in wl.topology else wl.topology}"
    model = wl.model_or_bundled
    return "bundled model" if model == BUNDLED else Path(model).name


def bundled_model_path() -> Path:
    """The ONNX file of the bundled default model."""
    path = Path(str(files("accelsim") / "data" / "default_model.onnx"))
    if not path.is_file():
        raise InputFileError(f"{path}: the bundled model is missing from this installation")
    return path


def _dataset_config(cfg: RunConfig, split: str, model: str) -> DatasetConfig | None:
    ds = cfg.data.calib if split == "calib" else cfg.data.test
    if ds is not None:
        return ds
    if model == BUNDLED:
        return DatasetConfig(path=BUNDLED)
    return None


def _status(progress: bool, message: str) -> None:
    if progress:
        print(f"accelsim: {message}", file=sys.stderr, flush=True)


def _quantize(cfg: RunConfig, graph, model: str, progress: bool) -> Network:
    from accelsim.datasets.readers import open_dataset
    from accelsim.quant.calibrate import calibrate

    calib_cfg = _dataset_config(cfg, "calib", model)
    if calib_cfg is None:
        raise ConfigError(
            f"data.calib: required to calibrate model {model} (give a data set: .npz, IDX or an image folder)"
        )
    shape = next(iter(graph.inputs.values()))
    ds = open_dataset(calib_cfg, model_input_shape=shape, split="calib")
    x, _ = ds.take(cfg.quant.calib_batch, seed=cfg.seed)
    _status(progress, f"calibrating on {len(x)} images ({cfg.quant.method}, "
                      f"{cfg.quant.weight_bits}-bit weights, {cfg.quant.act_bits}-bit activations)")
    return calibrate(graph, x, cfg.quant)


def _accuracy(cfg: RunConfig, graph, net: Network, model: str, progress: bool) -> dict[str, Any] | None:
    from accelsim.datapath.accuracy import evaluate
    from accelsim.datasets.readers import open_dataset

    test_cfg = _dataset_config(cfg, "test", model)
    if test_cfg is None:
        return None
    shape = next(iter(graph.inputs.values()))
    ds = open_dataset(test_cfg, model_input_shape=shape, split="test")
    if ds.labels is None:
        raise InputFileError(f"{ds.source}: the test data set has no labels; accuracy needs them")
    _status(progress, f"measuring accuracy on {len(ds)} images (float model vs integer datapath)")
    return evaluate(graph, net, ds, batch_size=cfg.data.batch_size, progress=progress).to_dict()


def build_network(cfg: RunConfig, cache=None, progress: bool = False
                  ) -> tuple[Network, dict[str, Any] | None, str]:
    """The network to simulate, its accuracy (or None) and why accuracy is missing (or "").

    A topology gives shapes only, with the bit widths of ``quant``; a model is calibrated on one
    batch and evaluated on the test set through the integer datapath.
    """
    wl, q = cfg.workload, cfg.quant
    if wl.topology is not None:
        from accelsim.workloads.load import load_topology

        net = load_topology(wl.topology, form=wl.topology_form, batch=wl.batch)
        net = net.with_bits(weight_bits=q.weight_bits, act_bits=q.act_bits, out_bits=q.act_bits,
                            acc_bits=q.acc_bits, bias_bits=q.bias_bits)
        return net, None, "a topology has shapes only, no weights"

    from accelsim.graph.onnx_import import load_onnx

    model = wl.model_or_bundled
    path = bundled_model_path() if model == BUNDLED else Path(model)
    graph = load_onnx(path, wl.input_shape)
    from accelsim.quant.lower import check_supported

    check_supported(graph)  # refuse before any data is read or calibrated

    if cache is not None:  # a sweep's cache: it keys values by what they depend on
        net = cache.network_for(cfg, lambda: _quantize(cfg, graph, model, progress))
        accuracy = cache.accuracy_for(cfg, lambda: _accuracy(cfg, graph, net, model, progress))
    else:
        net = _quantize(cfg, graph, model, progress)
        accuracy = _accuracy(cfg, graph, net, model, progress)
    note = "" if accuracy is not None else "no labelled test data set given (data.test)"
    return net.with_batch(wl.batch), accuracy, note


def run(cfg: RunConfig, cache=None, progress: bool = False) -> RunResult:
    """Quantize (when the workload has weights), measure accuracy, simulate and price one config."""
    net, accuracy, note = build_network(cfg, cache=cache, progress=progress)
    table = table_for(cfg.energy, cfg.hardware)
    _status(progress, f"simulating {len(net.layers)} layers on a {cfg.hardware.array.rows}x"
                      f"{cfg.hardware.array.cols} {cfg.hardware.dataflow} array")
    timing = simulate_network(net, cfg.hardware, cfg.simulation)
    energy = price_network(timing.layers, net.layers, cfg.hardware, table, inferences_per_pass=timing.batch)
    return RunResult(config=cfg, network=net, timing=timing, energy=energy, accuracy=accuracy,
                     accuracy_note=note)


def run_point(cfg: RunConfig, *, cache=None, progress: bool = False) -> dict[str, Any]:
    """One sweep point: :func:`run` reduced to the JSON form of its :class:`PointSummary`."""
    return run(cfg, cache=cache, progress=progress).summary().to_dict()


def output_dir(cfg: RunConfig) -> Path:
    """Where a run writes: ``output_dir`` from the config, else ``out/<name>``."""
    return Path(cfg.output_dir) if cfg.output_dir else Path("out") / cfg.name


def write_outputs(result: RunResult, directory: str | Path) -> dict[str, Path]:
    """Write ``summary.json``, ``layers.csv`` and the descriptors folder; return their paths.

    Each file is replaced atomically (:mod:`accelsim.atomic`): a crash or a full disk leaves the
    previous file or the new one. Raises :class:`~accelsim.errors.OutputFileError` naming the path
    and the cause when the file system refuses.
    """
    directory = make_dirs(directory)
    summary = result.summary().to_dict()
    full = dict(summary)
    full["config"] = result.config.model_dump(mode="json")
    if result.accuracy is not None:
        full["accuracy"] = result.accuracy
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
