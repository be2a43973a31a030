"""Lazy Numba compilation: the hardware model's kernels run as plain Python until they have
spent :data:`PYTHON_BUDGET_S` seconds of CPU in this process, then compile (or load from Numba's
on-disk cache) with ``numba.njit(cache=True)``.

Importing Numba alone costs about a second, more than a whole ResNet-18 costs in plain Python, so
a one-off ``accelsim simulate`` never imports it, while sweeps and large networks still get the
compiled kernels after a fraction of a second. Both forms compute the same integers and the same
IEEE double operations in the same order (no ``fastmath``), so the switch never changes a number;
``tests/hw/test_jit.py`` checks that on random layers.
"""

from __future__ import annotations

import functools
import os
import sys
import time
from typing import Callable

PYTHON_BUDGET_S = 0.3
"""CPU seconds the kernels may spend as plain Python (all kernels together) before compiling."""

_spent_s = 0.0


def lazy_njit(func: Callable) -> Callable:
    """Return a wrapper running *func* as Python, then as ``numba.njit(cache=True)(func)`` once the
    shared Python budget is spent (or Numba is imported anyway by another part of the program)."""
    compiled: Callable | None = None

    @functools.wraps(func)
    def wrapper(*args):
        nonlocal compiled
        global _spent_s
        if compiled is None:
            if _spent_s < PYTHON_BUDGET_S and "numba" not in sys.modules:
                start = time.process_time()
                try:
                    return func(*args)
                finally:
                    _spent_s += time.process_time() - start
            from numba import njit

            from accelsim.jitcache import install

            install(os.path.dirname(func.__code__.co_filename))  # stamped with the package's kernels
            compiled = njit(cache=True)(func)
        return compiled(*args)

    wrapper.py_func = func  # type: ignore[attr-defined]
    return wrapper
