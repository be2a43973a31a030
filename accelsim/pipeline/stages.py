"""The pipeline's stages: one explicit, named list; each stage a function of the config slice it declares.

::

    STAGES = (
        workload     resolve_workload    model file or topology, located once (bundled, paths, zoo/CSV)
        float_graph  load_float_graph    ONNX file -> float graph                         (models)
        calibrate    calibrate_network   one calibration batch -> quantized descriptors   (models)
        topology     topology_network    zoo / CSV -> shape-only descriptors at quant widths (topologies)
        accuracy     measure_accuracy    float graph vs integer datapath on the test set  (models)
        batch        batch_network       descriptors at the array's batch (inferences per pass)
        timing       simulate_timing     SimPy array model -> cycles, stalls and event counts
        energy       price_energy        counts x energy table -> breakdown per layer and kind
    )

A :class:`Stage` names the value it *produces*, the earlier values it *needs* and, in *reads*, the
config keys it depends on, mapped to its parameters (``reads={"quant": "quant", "seed": "seed"}``).
The stage function receives exactly those as typed arguments (no ``**kwargs``, no whole config),
so it cannot read a setting its declaration leaves out; :func:`check_stages` holds every
declaration to its function's signature.

The same declarations key the cache: :func:`stage_keys` hashes, per value, the stage name, the
keys of what it needs, the config slice it reads and (for files) the bytes it reads. A sweep
(:class:`~accelsim.sweep.cache.ResultCache`) stores the calibrated descriptors and the accuracy under
those keys, so points differing only in hardware, simulation or energy settings share them, and a
setting a stage starts reading enters its key the moment it is declared.

Commands call :func:`run_stages` for the values they need (``accelsim simulate``: the timing;
``accelsim quantize``: the descriptors; ``accelsim run`` and the sweep: accuracy and energy).
Heavy modules (ONNX import, Numba kernels, SimPy) are imported inside the stage that uses them.
"""

from __future__ import annotations

import contextlib
import inspect
import sys
import threading
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping

from accelsim.config.files import BUNDLED
from accelsim.errors import ConfigError, InputFileError, UnsupportedOpError

if TYPE_CHECKING:  # pragma: no cover  (a config is a pydantic model or a plain record: accelsim.config.plain)
    from accelsim.config.data import DatasetConfig
    from accelsim.config.run import RunConfig
    from accelsim.config.workload import TopologyConfig
    from accelsim.config.energy import EnergyConfig
    from accelsim.config.hardware import HardwareConfig
    from accelsim.config.quant import QuantConfig
    from accelsim.config.simulation import SimulationConfig
    from accelsim.datapath.accuracy import EvalResult
    from accelsim.energy.model import NetworkEnergy
    from accelsim.graph.ir import Graph
    from accelsim.hw.sim import NetworkTiming
    from accelsim.layers import Network

CACHE_KEY_VERSION = 2
"""Mixed into every stage key: bump it when a stage's cached value changes meaning."""


def output_dir(cfg: RunConfig, override: str | Path | None = None) -> Path:
    """Where a command writes: *override* (its ``-o``), else ``output_dir`` of the config, else ``out/<name>``."""
    if override is not None:
        return Path(override)
    return Path(cfg.output_dir) if cfg.output_dir else Path("out") / cfg.name


@dataclass(frozen=True)
class Runtime:
    """How to run, not what to compute: never changes a number, so never part of a key."""

    progress: bool = False
    """Status lines and progress bars on stderr."""
    workers: int = 1
    """Worker processes of the accuracy measurement (1: this process, multi-threaded kernels)."""

    def status(self, message: str) -> None:
        if self.progress:
            print(f"accelsim: {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Workload:
    """A resolved workload: which file or zoo network, and the identity of the bytes it reads."""

    label: str
    """``bundled model``, the ONNX file name, or ``topology:<zoo name or CSV name>``."""
    model_path: Path | None
    """The float ONNX model (None for a topology)."""
    topology: TopologyConfig | None
    topology_form: str
    input_shape: tuple[int, ...] | None
    bundled: bool = False

    @property
    def kind(self) -> str:
        """``"model"`` or ``"topology"``."""
        return "model" if self.model_path is not None else "topology"


# -- the stage functions ------------------------------------------------------------------------


def resolve_workload(model: str | None, topology: TopologyConfig | None, topology_form: str,
                     input_shape: tuple[int, ...] | None) -> Workload:
    """Locate the workload: the bundled model, a model file or a topology (zoo name or CSV).

    Raises
    ------
    InputFileError
        The model or CSV file does not exist (or the bundled model is missing).
    """
    if topology is not None:
        if topology.csv is not None and not Path(topology.csv).is_file():
            raise InputFileError(f"workload.topology.csv: topology file not found: {topology.csv}")
        return Workload(label=f"topology:{topology.label}", model_path=None, topology=topology,
                        topology_form=topology_form, input_shape=input_shape)
    if model in (None, BUNDLED):
        from accelsim.workloads.bundled import model_path

        return Workload(label="bundled model", model_path=model_path(), topology=None,
                        topology_form=topology_form, input_shape=input_shape, bundled=True)
    path = Path(model)
    if not path.is_file():
        raise InputFileError(f"workload.model: ONNX model not found: {model}")
    return Workload(label=path.name, model_path=path, topology=None, topology_form=topology_form,
                    input_shape=input_shape)


def load_float_graph(workload: Workload, calib: DatasetConfig | None = None,
                     test: DatasetConfig | None = None) -> "Graph":
    """The float graph of the workload's ONNX model (operators, weights, shapes).

    The input shape: the file's, with ``workload.input_shape`` (``--input-shape``) laid over it
    (:func:`accelsim.graph.inputs.merge_input_shape`); what is still symbolic (batch, image size)
    is taken from one sample of the calibration data, else the test data
    (:func:`~accelsim.graph.inputs.complete_input_shape`). With the shape fully known the model is
    imported and checked before any data is read; otherwise only one sample is read first.

    Raises
    ------
    InputFileError
        ``workload.input_shape`` contradicting the model; data the model cannot take (channel
        count, a fixed image size, a size its layers cannot run at: names the node); a symbolic
        dimension with neither a shape nor data to take it from.
    UnsupportedOpError
        The graph holds an operator the quantizer cannot lower (checked before calibration).
    """
    from accelsim.datasets.readers import open_dataset
    from accelsim.graph.inputs import complete_input_shape, declared_input_shape, format_shape, merge_input_shape
    from accelsim.graph.onnx_import import load_onnx
    from accelsim.quant.lower import check_supported

    path = workload.model_path
    label = "--input-shape / workload.input_shape"
    name, declared = declared_input_shape(path)
    source = f"{path}: input {name!r}"
    shape = merge_input_shape(declared, workload.input_shape, source, label)
    data = calib if calib is not None else test
    if all(d is not None for d in shape[1:]):
        full = (1 if shape[0] is None else shape[0],) + tuple(shape[1:])
        origin = label if workload.input_shape is not None else None  # None: the file's own shape
    elif data is None:
        raise InputFileError(f"{source} has a dynamic shape {format_shape(shape)}; give its full shape with "
                             f"--input-shape N,C,H,W (workload.input_shape in a config), or data to take it from")
    else:
        ds = open_dataset(data, shape, split="calib" if calib is not None else "test")
        first, _ = ds.get([0])
        full = complete_input_shape(shape, first.shape, ds.source)
        origin = f"the data {ds.source}"
    try:
        graph = load_onnx(path, full)
    except (InputFileError, UnsupportedOpError) as exc:  # say where the shape came from
        if origin is None:
            raise
        raise type(exc)(f"{exc} [input shape {full} from {origin}]") from None
    check_supported(graph)
    return graph


def calibrate_network(workload: Workload, float_graph: "Graph", calib: DatasetConfig | None,
                      quant: "QuantConfig", seed: int, runtime: Runtime) -> "Network":
    """Quantized layer descriptors from one calibration batch (``quant.calib_batch`` images drawn
    with *seed*); the network's ``meta`` records model, data, seed, the requested and effective
    batch (``calib_images_requested``, ``calib_images``) and, in ``warnings``, every clamp and
    calibration warning (a smaller data set than the batch, bias saturation, accumulator overflow
    risk), so a network read back from a cache still carries them into the summary.

    Raises
    ------
    ConfigError
        No calibration data set is configured.
    """
    from accelsim.datasets.readers import calibration_batch, open_dataset
    from accelsim.quant.calibrate import calibrate

    if calib is None:
        raise ConfigError(f"data.calib: required to calibrate model {workload.model_path} "
                          "(give a data set: .npz, IDX or an image folder)")
    shape = next(iter(float_graph.inputs.values()))
    ds = open_dataset(calib, model_input_shape=shape, split="calib")
    x, clamps = calibration_batch(ds, quant.calib_batch, seed=seed)
    runtime.status(f"calibrating on {len(x)} images ({quant.method}, {quant.weight_bits}-bit weights, "
                   f"{quant.act_bits}-bit activations)")
    bar = None
    if runtime.progress and sys.stderr.isatty():
        from tqdm import tqdm

        from accelsim.quant.lower import plan_layers

        n_layers = len(plan_layers(float_graph, {next(iter(float_graph.inputs)): (1,) + tuple(x.shape[1:])}).layers)
        bar = tqdm(total=n_layers, desc="calibrating", unit="layer", file=sys.stderr, leave=False)
    try:
        with recorded_warnings() as caught:
            net = calibrate(float_graph, x, quant, progress=(lambda name: bar.update(1)) if bar is not None else None)
    finally:
        if bar is not None:
            bar.close()
    lines = list(clamps) + [w for w in warning_lines(caught) if w not in clamps]
    return replace(net, meta=dict(net.meta, model=str(workload.model_path), data=str(ds.source), seed=seed,
                                  calib_images_requested=quant.calib_batch, warnings=lines))


@contextlib.contextmanager
def recorded_warnings(reissue: bool = True):
    """Record the warnings raised inside; with *reissue*, issue them again afterwards (the user still
    sees them), otherwise keep them off the terminal (a sweep point stores them in its record).

    Only in a process's main thread: ``warnings.catch_warnings`` swaps process-global state, so in
    a threaded worker (Dask) the warnings go their usual way and are not recorded.
    """
    if threading.current_thread() is not threading.main_thread():
        yield []
        return
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield caught
    if reissue:
        for w in caught:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def warning_lines(caught, with_category: bool = False, limit: int | None = None) -> list[str]:
    """Distinct first lines of recorded warnings, in order (``Category: line`` with *with_category*),
    at most *limit* of them."""
    lines: list[str] = []
    for w in caught:
        text = str(w.message).strip().splitlines()
        first = text[0] if text else ""
        line = f"{w.category.__name__}: {first}" if with_category else first
        if (line or with_category) and line not in lines:
            lines.append(line)
        if limit is not None and len(lines) >= limit:
            break
    return lines


def topology_network(workload: Workload, quant: "QuantConfig") -> "Network":
    """Shape-only descriptors of a topology (one inference) at the widths of ``quant``."""
    from accelsim.workloads.load import load_topology

    net = load_topology(workload.topology, form=workload.topology_form, batch=1)
    return net.with_bits(weight_bits=quant.weight_bits, act_bits=quant.act_bits, out_bits=quant.act_bits,
                         acc_bits=quant.acc_bits, bias_bits=quant.bias_bits)


def measure_accuracy(workload: Workload, float_graph: "Graph", descriptors: "Network", test: DatasetConfig | None,
                     batch_size: int, runtime: Runtime) -> "EvalResult | None":
    """Top-1/top-5 of the float graph and the integer datapath on the test set (None without one).

    Raises
    ------
    InputFileError
        The test data set has no labels.
    """
    if test is None:
        return None
    from accelsim.datapath.accuracy import evaluate
    from accelsim.datasets.readers import open_dataset

    shape = next(iter(float_graph.inputs.values()))
    ds = open_dataset(test, model_input_shape=shape, split="test")
    if ds.labels is None:
        raise InputFileError(f"{ds.source}: the test data set has no labels; accuracy needs them")
    runtime.status(f"measuring accuracy on {len(ds)} images (float model vs integer datapath)")
    res = evaluate(float_graph, descriptors, ds, batch_size=batch_size, progress=runtime.progress,
                   workers=runtime.workers)
    res.meta.update(model=str(workload.model_path), data=ds.source)
    return res


def batch_network(descriptors: "Network", batch: int) -> "Network":
    """The descriptors with every layer processing *batch* inferences per pass."""
    return descriptors.with_batch(batch)


def simulate_timing(network: "Network", hardware: "HardwareConfig", simulation: "SimulationConfig",
                    runtime: Runtime) -> "NetworkTiming":
    """Cycles, stalls and event counts of every layer on the array (the SimPy model)."""
    from accelsim.hw.sim import simulate_network

    runtime.status(f"simulating {len(network.layers)} layers on a {hardware.array.rows}x{hardware.array.cols} "
                   f"{hardware.dataflow} array")
    return simulate_network(network, hardware, simulation)


def price_energy(network: "Network", timing: "NetworkTiming", hardware: "HardwareConfig",
                 energy: "EnergyConfig") -> "NetworkEnergy":
    """Energy of every counted event, per layer and kind, from the configured table."""
    from accelsim.energy.model import price_network
    from accelsim.energy.table import table_for

    table = table_for(energy, hardware)
    return price_network(timing.layers, network.layers, hardware, table, inferences_per_pass=timing.batch)


# -- the list -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stage:
    """One step: ``fn(**needs, **reads[, runtime])`` -> the value named *produces*."""

    name: str
    fn: Callable[..., Any]
    produces: str
    needs: tuple[str, ...] = ()
    """Values of earlier stages, passed under the same parameter names."""
    reads: Mapping[str, str] = field(default_factory=dict)
    """Parameter name -> dotted config key: the config slice this stage depends on."""
    when: str = "any"
    """``"model"``, ``"topology"`` or ``"any"``: the workloads this stage runs for."""
    cache: str | None = None
    """How a sweep caches the value: ``"network"`` (descriptor folder), ``"json"`` or None (recompute)."""


STAGES: tuple[Stage, ...] = (
    # locate the model file or the topology once: bundled assets, paths, zoo name or CSV
    Stage("workload", resolve_workload, "workload",
          reads={"model": "workload.model", "topology": "workload.topology",
                 "topology_form": "workload.topology_form", "input_shape": "workload.input_shape"}),
    # ONNX -> float graph (weights, shapes, operators)
    Stage("float_graph", load_float_graph, "float_graph", needs=("workload",), when="model",
          reads={"calib": "data.calib", "test": "data.test"}),  # data: where a symbolic shape comes from
    # one calibration batch -> thresholds, integer weights, requantization: the quantized descriptors
    Stage("calibrate", calibrate_network, "descriptors", needs=("workload", "float_graph"),
          reads={"calib": "data.calib", "quant": "quant", "seed": "seed"}, when="model", cache="network"),
    # zoo network or SCALE-Sim CSV -> shape-only descriptors at the configured widths
    Stage("topology", topology_network, "descriptors", needs=("workload",), reads={"quant": "quant"},
          when="topology"),
    # float graph vs integer datapath on the labelled test set
    Stage("accuracy", measure_accuracy, "accuracy", needs=("workload", "float_graph", "descriptors"),
          reads={"test": "data.test", "batch_size": "data.batch_size"}, when="model", cache="json"),
    # N inferences per pass through the array
    Stage("batch", batch_network, "network", needs=("descriptors",), reads={"batch": "workload.batch"}),
    # the SimPy model of array, buffers and DRAM
    Stage("timing", simulate_timing, "timing", needs=("network",),
          reads={"hardware": "hardware", "simulation": "simulation"}),
    # counted events x energy per event
    Stage("energy", price_energy, "energy", needs=("network", "timing"),
          reads={"hardware": "hardware", "energy": "energy"}),
)
"""Every stage, in the order it runs; a stage needs only values produced above it."""

VALUES: tuple[str, ...] = tuple(dict.fromkeys(s.produces for s in STAGES))
"""Names of the values the stages produce, in order."""


def check_stages(stages: Iterable[Stage] = STAGES) -> None:
    """Hold every declaration to its function: parameters = needs + reads (+ ``runtime``), and a
    stage needs only values produced above it. Raises ``TypeError`` naming the stage."""
    produced: set[str] = set()
    for s in stages:
        params = set(inspect.signature(s.fn).parameters)
        declared = set(s.needs) | set(s.reads)
        if params - {"runtime"} != declared or declared & {"runtime"}:
            raise TypeError(f"stage {s.name!r}: {s.fn.__name__} takes {sorted(params)}, the declaration "
                            f"gives {sorted(declared)}")
        missing = [n for n in s.needs if n not in produced]
        if missing:
            raise TypeError(f"stage {s.name!r} needs {missing}, which no earlier stage produces")
        produced.add(s.produces)


check_stages()


def config_value(cfg: RunConfig, dotted: str) -> Any:
    """The value at dotted key *dotted* of *cfg* (``"data.calib"`` -> a DatasetConfig or None)."""
    node: Any = cfg
    for part in dotted.split("."):
        node = getattr(node, part)
    return node


def _applies(stage: Stage, kind: str) -> bool:
    return stage.when in ("any", kind)


def _workload_kind(cfg: RunConfig) -> str:
    return "topology" if cfg.workload.topology is not None else "model"


def _plan(cfg: RunConfig, want: Iterable[str], have: Iterable[str] = ()) -> list[Stage]:
    """The stages producing *want* and what they need, in list order, for this config's workload."""
    kind = _workload_kind(cfg)
    producer = {s.produces: s for s in STAGES if _applies(s, kind)}
    wanted: set[str] = set()
    todo = list(want)
    while todo:
        name = todo.pop()
        if name in wanted:
            continue
        if name not in producer:
            if name in VALUES:  # made for the other kind of workload only (accuracy of a topology)
                continue
            raise ConfigError(f"no stage produces {name!r} (values: {', '.join(VALUES)})")
        wanted.add(name)
        if name not in have:
            todo.extend(producer[name].needs)
    return [s for s in STAGES if _applies(s, kind) and s.produces in wanted]


# -- keys ---------------------------------------------------------------------------------------

_DIGESTS: dict[tuple[str, int, int], str] = {}


def file_digest(path: str | Path, chunk_bytes: int = 1 << 20) -> str:
    """SHA-256 hex digest of a file's bytes, remembered per (path, size, mtime) in this process."""
    path = Path(path)
    st = path.stat()
    memo = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if memo not in _DIGESTS:
        import hashlib

        h = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(chunk_bytes), b""):
                h.update(block)
        _DIGESTS[memo] = h.hexdigest()
    return _DIGESTS[memo]


def _files_read(param: str, value: Any) -> list[str]:
    """Digests of the files a slice value names (model, CSV, data set), so edited files miss."""
    from accelsim.config.data import DatasetConfig
    from accelsim.config.workload import TopologyConfig

    out: list[str] = []
    if isinstance(value, DatasetConfig):
        if value.path == BUNDLED:
            from accelsim.workloads.bundled import DATASET_FILES, bundled_path

            out += [f"{name}={file_digest(bundled_path(name))}" for name in sorted(DATASET_FILES.values())]
        elif Path(value.path).is_file():
            out.append(file_digest(value.path))
        if value.labels is not None and Path(value.labels).is_file():
            out.append(file_digest(value.labels))
    elif isinstance(value, TopologyConfig) and value.csv is not None and Path(value.csv).is_file():
        out.append(file_digest(value.csv))
    elif param == "model" and value is not None:
        from accelsim.workloads.bundled import METADATA_FILE, MODEL_FILE, bundled_path

        if value == BUNDLED:
            out += [f"{name}={file_digest(bundled_path(name))}" for name in (MODEL_FILE, METADATA_FILE)]
        elif Path(value).is_file():
            out.append(file_digest(value))
    return out


def _plain(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if isinstance(value, tuple):
        return list(value)
    return value


def stage_keys(cfg: RunConfig, want: Iterable[str] = ("accuracy", "energy")) -> dict[str, str]:
    """Cache key of every value needed for *want*: SHA-256 over the stage name, the keys of its
    needs, its config slice (as JSON) and the digests of the files the slice names.

    Two configs agreeing on everything a stage reads (directly or through its needs) get the same
    key for that stage's value; a config key no stage declares never enters any key.
    """
    import hashlib
    import json

    if cfg.workload.model is None and cfg.workload.topology is None:
        cfg = cfg.model_copy(update={"workload": cfg.workload.model_copy(update={"model": BUNDLED})})
    keys: dict[str, str] = {}
    for s in _plan(cfg, want):
        slice_ = {p: config_value(cfg, k) for p, k in s.reads.items()}
        payload = {
            "version": CACHE_KEY_VERSION,
            "stage": s.name,
            "needs": {n: keys[n] for n in s.needs},
            "reads": {p: _plain(v) for p, v in slice_.items()},
            "files": {p: _files_read(p, v) for p, v in slice_.items()},
        }
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
        keys[s.produces] = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return keys


# -- running ------------------------------------------------------------------------------------


def run_stages(cfg: RunConfig, want: str | Iterable[str], *, given: Mapping[str, Any] | None = None,
               cache: Any = None, runtime: Runtime = Runtime()) -> dict[str, Any]:
    """Run the stages that produce *want* (and what they need) for *cfg*; return every value made.

    Parameters
    ----------
    cfg : the run config.
    want : value name(s) from :data:`VALUES`, e.g. ``"timing"`` or ``("accuracy", "energy")``; a value
        no stage makes for this kind of workload (the accuracy of a topology) is left out.
    given : values supplied instead of computed (``{"descriptors": read_network(folder)}``).
    cache : a :class:`~accelsim.sweep.cache.ResultCache` (or anything with ``quantized(key,
        builder)`` and ``json(key, builder)``): stages declaring ``cache`` read and publish their
        value under :func:`stage_keys`. Nothing is cached for values that depend on *given* ones.
    runtime : progress and worker settings.

    Returns
    -------
    dict
        Value name -> value, for every stage run or read from the cache (plus *given*). A value
        only a cached stage needs is made when that stage misses: a sweep point whose descriptors
        and accuracy are cached does not import the ONNX model.
    """
    want = (want,) if isinstance(want, str) else tuple(want)
    values: dict[str, Any] = dict(given or {})
    plan = _plan(cfg, want, have=values)
    producer = {s.produces: s for s in plan}
    keys = stage_keys(cfg, want) if cache is not None and not values else {}

    def value(name: str) -> Any:
        if name not in values:
            s = producer[name]

            def build() -> Any:
                args = {n: value(n) for n in s.needs}
                args.update({p: config_value(cfg, k) for p, k in s.reads.items()})
                if "runtime" in inspect.signature(s.fn).parameters:
                    args["runtime"] = runtime
                return s.fn(**args)

            values[name] = _cached(s, keys.get(name), cache, build)
        return values[name]

    for s in plan:
        if s.produces in want or not s.needs:  # the workload (no needs: it only locates files) always
            value(s.produces)
    return values


def _cached(stage: Stage, key: str | None, cache: Any, build: Callable[[], Any]) -> Any:
    if key is None or stage.cache is None:
        return build()
    if stage.cache == "network":
        return cache.quantized(key, build)
    from accelsim.datapath.accuracy import EvalResult

    data = cache.json(key, lambda: None if (v := build()) is None else v.to_dict())
    return None if data is None else EvalResult.from_dict(data)
