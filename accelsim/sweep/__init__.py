"""Sweeps: expanding sweep files, running points on an executor, the resumable results store.

- :mod:`~accelsim.sweep.spec` - sweep files → validated points (:func:`load_sweep`);
- :mod:`~accelsim.sweep.executor` - local processes, a Dask cluster, or this process;
- :mod:`~accelsim.sweep.store` - the append-only, fsync'ed results store (:class:`ResultStore`);
- :mod:`~accelsim.sweep.cache` - calibration/accuracy cache shared by points (:class:`ResultCache`);
- :mod:`~accelsim.sweep.runner` - :func:`run_sweep`, tying them together.

Names are imported on first use, so that the command line (which reads a default or two from
here) does not import the runner and the pipeline.
"""

from accelsim.lazy import lazy_getattr

_WHERE = {
    "ResultCache": "accelsim.sweep.cache",
    "DEFAULT_POINT_FN": "accelsim.sweep.executor",
    "DaskExecutor": "accelsim.sweep.executor",
    "LocalExecutor": "accelsim.sweep.executor",
    "SerialExecutor": "accelsim.sweep.executor",
    "evaluate_point": "accelsim.sweep.executor",
    "make_executor": "accelsim.sweep.executor",
    "SweepOutcome": "accelsim.sweep.runner",
    "run_sweep": "accelsim.sweep.runner",
    "Sweep": "accelsim.sweep.spec",
    "SweepPoint": "accelsim.sweep.spec",
    "load_sweep": "accelsim.sweep.spec",
    "sweep_from_dict": "accelsim.sweep.spec",
    "STORE_SCHEMA_VERSION": "accelsim.sweep.store",
    "PointRecord": "accelsim.sweep.store",
    "ResultStore": "accelsim.sweep.store",
    "point_key": "accelsim.sweep.store",
}

__all__ = sorted(_WHERE)

__getattr__ = lazy_getattr(__name__, _WHERE)
