"""The integer MAC datapath: Numba kernels, the network executor, accuracy evaluation.

Public entry points::

    from accelsim.datapath import run_network, prepare, evaluate

* :mod:`accelsim.datapath.kernels` — Numba kernels (the reduction order and overflow rule);
* :mod:`accelsim.datapath.ops` — one function per descriptor op, choosing a bit-exact path;
* :mod:`accelsim.datapath.executor` — a :class:`~accelsim.layers.Network` on a batch;
* :mod:`accelsim.datapath.accuracy` — accuracy of a network against its float model.
"""

import os

# Numba's OpenMP workers spin-wait between parallel regions by default; on a shared or
# oversubscribed machine the spinning steals the cores the next region (or OpenBLAS) needs and a
# second thread made every kernel slower. Sleeping workers fix that; a user's setting wins. It
# must be set before Numba starts its thread pool (the first parallel kernel call).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from accelsim.jitcache import install as _stamp_kernel_cache  # noqa: E402

# a cached kernel's machine code holds the helpers it calls from this package's other modules:
# stamp the cache with all of them (before any kernel is defined), so a changed helper recompiles
_stamp_kernel_cache(os.path.dirname(__file__))

from accelsim.datapath.executor import NetworkResult, PreparedNetwork, prepare, run_network

__all__ = ["NetworkResult", "PreparedNetwork", "prepare", "run_network", "evaluate", "EvalResult"]


def __getattr__(name):  # evaluation pulls in the graph executor only when asked for
    if name in ("evaluate", "EvalResult"):
        from accelsim.datapath import accuracy
        return getattr(accuracy, name)
    raise AttributeError(name)
