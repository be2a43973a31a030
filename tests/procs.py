"""Processes seen through /proc (Linux), for tests and benchmarks that kill things.

No psutil: a process's parent and state are fields 4 and 3 of ``/proc/<pid>/stat``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

PROC = Path("/proc")


def has_proc() -> bool:
    """Whether this machine has a Linux-style /proc."""
    return (PROC / "self" / "stat").is_file()


def _stat(pid: int) -> tuple[str, int] | None:
    """``(state, ppid)`` of *pid*, or None when it is gone."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    rest = text[text.rindex(")") + 2:].split()  # the command name may hold spaces and ')'
    return rest[0], int(rest[1])


def alive(pid: int) -> bool:
    """Whether *pid* exists and is not a zombie (an exited process nobody has reaped yet)."""
    st = _stat(pid)
    return st is not None and st[0] not in ("Z", "X")


def descendants(pid: int) -> set[int]:
    """Living children, grandchildren, ... of *pid*."""
    parent_of: dict[int, int] = {}
    for entry in os.listdir(PROC):
        if entry.isdigit():
            st = _stat(int(entry))
            if st is not None and st[0] not in ("Z", "X"):
                parent_of[int(entry)] = st[1]
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {c for c, p in parent_of.items() if p in frontier and c not in found}
        found |= frontier
    return found


def wait_gone(pids: set[int], timeout_s: float) -> set[int]:
    """Wait up to *timeout_s* for every pid of *pids* to end; returns those still alive."""
    deadline = time.monotonic() + timeout_s
    left = {p for p in pids if alive(p)}
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = {p for p in left if alive(p)}
    return left


def wait_for_children(pid: int, count: int, timeout_s: float) -> set[int]:
    """Wait until *pid* has at least *count* living descendants (or *timeout_s*); returns them."""
    deadline = time.monotonic() + timeout_s
    kids = descendants(pid)
    while len(kids) < count and time.monotonic() < deadline:
        time.sleep(0.1)
        kids = descendants(pid)
    return kids
