"""Sweeps: expanding sweep files, running points on an executor, the resumable results store.

- :mod:`~accelsim.sweep.spec` - sweep files → validated points (:func:`load_sweep`);
- :mod:`~accelsim.sweep.executor` - local processes, a Dask cluster, or this process;
- :mod:`~accelsim.sweep.store` - the append-only, fsync'ed results store (:class:`ResultStore`);
- :mod:`~accelsim.sweep.cache` - calibration/accuracy cache shared by points (:class:`ResultCache`);
- :mod:`~accelsim.sweep.runner` - :func:`run_sweep`, tying them together.
"""

from accelsim.sweep.cache import ResultCache
from accelsim.sweep.executor import (
    DEFAULT_POINT_FN,
    DaskExecutor,
    LocalExecutor,
    SerialExecutor,
    evaluate_point,
    make_executor,
)
from accelsim.sweep.runner import SweepOutcome, run_sweep
from accelsim.sweep.spec import Sweep, SweepPoint, load_sweep, sweep_from_dict
from accelsim.sweep.store import STORE_SCHEMA_VERSION, PointRecord, ResultStore, point_key

__all__ = [
    "DEFAULT_POINT_FN",
    "DaskExecutor",
    "LocalExecutor",
    "PointRecord",
    "ResultCache",
    "ResultStore",
    "STORE_SCHEMA_VERSION",
    "SerialExecutor",
    "Sweep",
    "SweepOutcome",
    "SweepPoint",
    "evaluate_point",
    "load_sweep",
    "make_executor",
    "point_key",
    "run_sweep",
    "sweep_from_dict",
]
