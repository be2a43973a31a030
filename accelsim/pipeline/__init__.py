"""The end-to-end run: one config in, throughput, energy per inference and accuracy out.

- :mod:`~accelsim.pipeline.stages` - :data:`STAGES`, the named list of typed stages (workload ->
  float graph -> quantized descriptors (+ accuracy) -> timing -> energy), :func:`run_stages`,
  :func:`stage_keys` (the cache keys, from each stage's declared config slice);
- :mod:`~accelsim.pipeline.point` - :func:`run` one config, :class:`RunResult`,
  :func:`write_outputs`, :func:`run_point` (the sweep's point function);
- :mod:`~accelsim.pipeline.result` - :class:`PointSummary`, the typed, versioned ``summary.json``.

Names are imported on first use, so reading a summary (reports) does not import the simulator.
"""

from accelsim.lazy import lazy_getattr

_WHERE = {
    "RunResult": "accelsim.pipeline.point",
    "run": "accelsim.pipeline.point",
    "run_point": "accelsim.pipeline.point",
    "write_outputs": "accelsim.pipeline.point",
    "STAGES": "accelsim.pipeline.stages",
    "output_dir": "accelsim.pipeline.stages",
    "Runtime": "accelsim.pipeline.stages",
    "Stage": "accelsim.pipeline.stages",
    "Workload": "accelsim.pipeline.stages",
    "run_stages": "accelsim.pipeline.stages",
    "stage_keys": "accelsim.pipeline.stages",
    "DESCRIPTORS_DIR": "accelsim.pipeline.result",
    "LAYERS_FILE": "accelsim.pipeline.result",
    "SUMMARY_FILE": "accelsim.pipeline.result",
    "SCHEMA_VERSION": "accelsim.pipeline.result",
    "LayerSummary": "accelsim.pipeline.result",
    "PointSummary": "accelsim.pipeline.result",
}

__all__ = sorted(_WHERE)

__getattr__ = lazy_getattr(__name__, _WHERE)
