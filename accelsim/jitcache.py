"""Numba's on-disk cache, stamped with every module a cached kernel's machine code comes from.

Numba stamps a cached function with a hash of its own source file only, but the machine code it
saves also holds every jitted function the kernel calls from other modules (inlined or linked
in). After an update that changes only such a callee's file — a ``git pull`` under the README's
editable install — Numba would load the caller's stale code and compute with the old callee,
silently. :func:`install` adds a digest of the Numba modules beside a kernel's file (every
``.py`` there that mentions ``numba`` or ``njit``) to the stamp of the kernels defined in that
folder, so a change to any of them compiles the kernels again. ``accelsim.datapath`` and
``accelsim.hw`` install their folders before defining cached kernels; functions of other
packages keep Numba's own locators and stamps.
"""

from __future__ import annotations

import hashlib
import os

_FOLDERS: set[str] = set()
_DIGESTS: dict[tuple, bytes] = {}


def folder_digest(folder: str) -> bytes:
    """SHA-256 over the names and contents of the ``.py`` files in *folder* that mention
    ``numba`` or ``njit`` (memoised per process by the files' sizes and modification times)."""
    entries = []
    for name in sorted(os.listdir(folder)):
        if name.endswith(".py"):
            st = os.stat(os.path.join(folder, name))
            entries.append((name, st.st_size, st.st_mtime_ns))
    key = (folder, tuple(entries))
    if key not in _DIGESTS:
        h = hashlib.sha256()
        for name, _, _ in entries:
            with open(os.path.join(folder, name), "rb") as f:
                text = f.read()
            if b"numba" in text or b"njit" in text:
                h.update(name.encode() + b"\0" + hashlib.sha256(text).digest())
        _DIGESTS[key] = h.digest()
    return _DIGESTS[key]


def _stamped(base: type) -> type:
    """A subclass of Numba's locator *base* for functions defined in an installed folder, whose
    source stamp also carries :func:`folder_digest` of that folder."""

    class FolderStampedLocator(base):
        @classmethod
        def from_function(cls, py_func, py_file):
            if os.path.dirname(os.path.realpath(py_file)) not in _FOLDERS:
                return None
            return super().from_function(py_func, py_file)

        def get_source_stamp(self):
            return super().get_source_stamp(), folder_digest(os.path.dirname(os.path.realpath(self._py_file)))

    FolderStampedLocator.__name__ = FolderStampedLocator.__qualname__ = f"FolderStamped{base.__name__}"
    return FolderStampedLocator


def install(folder: str) -> None:
    """Stamp the cached Numba functions defined in *folder* (a package directory) with
    :func:`folder_digest` of it. Call before those functions are decorated; idempotent."""
    from numba.core import caching

    _FOLDERS.add(os.path.realpath(folder))
    impl = getattr(caching, "CacheImpl", None) or getattr(caching, "_CacheImpl")
    classes = impl._locator_classes
    if any(getattr(c, "__name__", "").startswith("FolderStamped") for c in classes):
        return
    mixin = caching._SourceFileBackedLocatorMixin
    classes[:] = [c for base in classes for c in ((_stamped(base), base) if issubclass(base, mixin) else (base,))]
