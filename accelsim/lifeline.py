"""Worker processes that end when the process that started them dies.

A process pool's workers outlive a parent killed with ``SIGKILL`` (nothing runs in the parent to
stop them): they finish their point, or sit forever on a queue nobody reads. Every pool accelsim
starts (the sweep's :class:`~accelsim.sweep.executor.LocalExecutor`, the datapath's parallel
evaluation) runs :func:`die_with_parent` in each worker first:

- on Linux, ``prctl(PR_SET_PDEATHSIG, SIGKILL)``: the kernel kills the worker the moment its
  parent dies;
- everywhere, a daemon thread that polls ``os.getppid()`` and ends the worker with ``os._exit``
  once it no longer matches the parent (reparented to init or a subreaper), within ``poll_s``.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading

PR_SET_PDEATHSIG = 1
"""``prctl`` option number (linux/prctl.h)."""

DEFAULT_POLL_S = 0.5
"""Seconds between two checks of the watchdog thread."""

EXIT_ORPHANED = 70
"""Exit status of a worker that found its parent gone."""


def _set_pdeathsig() -> bool:
    """Ask the Linux kernel to SIGKILL this process when its parent dies; False elsewhere."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0
    except (OSError, AttributeError):  # pragma: no cover - no libc / no prctl
        return False


def _watch(parent_pid: int, poll_s: float) -> None:
    stop = threading.Event()
    while not stop.wait(poll_s):
        if os.getppid() != parent_pid:
            os._exit(EXIT_ORPHANED)


def die_with_parent(parent_pid: int, poll_s: float = DEFAULT_POLL_S) -> None:
    """Make this process end when process *parent_pid* (its parent) dies.

    Call it first thing in a worker (a pool's ``initializer``), with the parent's pid taken in the
    parent (``os.getpid()`` there). If the parent is already gone the worker exits at once.
    """
    _set_pdeathsig()
    if os.getppid() != parent_pid:  # died between spawning us and now
        os._exit(EXIT_ORPHANED)
    threading.Thread(target=_watch, args=(parent_pid, poll_s), name="accelsim-lifeline",
                     daemon=True).start()
