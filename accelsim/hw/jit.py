"""Lazy Numba compilation: importing numba costs about a second, so the hardware model's kernels
compile (or load from Numba's on-disk cache) on their first call, and runs that never call them
(e.g. ``--convention scalesim --stall-free``) never import numba."""

from __future__ import annotations

import functools
from typing import Callable


def lazy_njit(func: Callable) -> Callable:
    """Return a wrapper that applies ``numba.njit(cache=True)`` to *func* on first call."""
    compiled: Callable | None = None

    @functools.wraps(func)
    def wrapper(*args):
        nonlocal compiled
        if compiled is None:
            from numba import njit

            compiled = njit(cache=True)(func)
        return compiled(*args)

    wrapper.py_func = func  # type: ignore[attr-defined]
    return wrapper
