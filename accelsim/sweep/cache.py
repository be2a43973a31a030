"""On-disk cache of work that points of a sweep share: quantized networks and accuracy results.

Points that differ only in hardware share the calibration (thresholds, integer weights) and the
accuracy measured on the integer datapath; the pipeline builds them once per key and every other
point reads them back. The keys come from the pipeline's stage declarations
(:func:`accelsim.pipeline.stages.stage_keys`: the config slice each stage reads, the digests of
the files it reads, the keys of what it needs); this module only stores values under them.

Layout under the cache folder (by default ``<results>/cache``)::

    quantized/<key>/descriptors.json, tensors.npz    (accelsim.layers.write_network)
    json/<key>.json                                  (any JSON-able dict, e.g. accuracy)

Safe under concurrent processes: a value is built into a private temporary name and published
with one ``os.replace``, so a reader sees either nothing or a complete value, never a half-written
one; a per-key ``flock`` makes a second process wait for the first builder instead of
repeating the work (when ``fcntl`` is missing, both build and the first ``os.replace`` wins).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable, Iterator

from accelsim.atomic import atomic_dir, make_dirs, write_text
from accelsim.errors import InputFileError, SchemaVersionError
from accelsim.sweep.store import canonical_json

CACHE_SCHEMA_VERSION = 1
"""Mixed into every key: bump it when cached values change meaning."""

NETWORKS_KEPT = 4
"""Quantized networks one process keeps after reading them from a cache (:meth:`ResultCache.get_quantized`)."""

_NETWORKS: "OrderedDict[str, Any]" = OrderedDict()


class ResultCache:
    """A folder of cached values, each published atomically under a key.

    Parameters
    ----------
    directory : the cache folder (created on first write).
    """

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)

    @staticmethod
    def key(*parts: Any) -> str:
        """SHA-256 hex of the canonical JSON of *parts* (plus the cache schema version)."""
        payload = {"cache_schema": CACHE_SCHEMA_VERSION, "parts": list(parts)}
        return hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()

    # -- generic -------------------------------------------------------------------------------

    def _path(self, kind: str, key: str, suffix: str = "") -> Path:
        if not key or any(c not in "0123456789abcdefABCDEF-_" for c in key):
            raise ValueError(f"cache key {key!r} must be a hex digest (use ResultCache.key)")
        return self.directory / kind / f"{key}{suffix}"

    @contextlib.contextmanager
    def _locked(self, kind: str, key: str) -> Iterator[None]:
        lock_dir = self.directory / "locks"
        make_dirs(lock_dir)
        try:
            import fcntl
        except ImportError:  # pragma: no cover
            yield
            return
        fd = os.open(lock_dir / f"{kind}-{key}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def clean_temporaries(self) -> int:
        """Delete half-written values left by killed builders; returns how many.

        Only safe while no builder runs (the sweep calls it before starting its workers, holding
        the store's lock).
        """
        removed = 0
        for kind in ("json", "quantized"):
            folder = self.directory / kind
            if not folder.is_dir():
                continue
            for p in folder.glob(".*.tmp"):
                if p.is_dir():
                    shutil.rmtree(p, ignore_errors=True)
                else:
                    p.unlink(missing_ok=True)
                removed += 1
        return removed

    # -- JSON values ---------------------------------------------------------------------------

    def _load_json(self, key: str) -> tuple[bool, Any]:
        """``(found, value)``: a stored ``None`` (e.g. "accuracy not measured") is a hit too."""
        path = self._path("json", key, ".json")
        try:
            wrapped = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return False, None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return False, None  # unreadable entry: treat as missing, it will be rebuilt
        if not isinstance(wrapped, dict) or "value" not in wrapped:
            return False, None
        return True, wrapped["value"]

    def get_json(self, key: str) -> Any:
        """The cached JSON value under *key*, or ``None`` when missing (or stored as ``None``)."""
        return self._load_json(key)[1]

    def put_json(self, key: str, value: Any) -> None:
        """Publish JSON-able *value* under *key* atomically."""
        path = self._path("json", key, ".json")
        write_text(path, canonical_json({"value": value}))

    def json(self, key: str, builder: Callable[[], Any]) -> Any:
        """The value under *key*; on a miss call ``builder()``, store its result and return it.

        Any JSON-able value, ``None`` included, is cached (a hit returns it without building).
        """
        found, value = self._load_json(key)
        if found:
            return value
        with self._locked("json", key):
            found, value = self._load_json(key)  # another process may have built it while we waited
            if found:
                return value
            value = builder()
            self.put_json(key, value)
        return json.loads(canonical_json(value))  # same form as a later hit returns

    # -- quantized networks --------------------------------------------------------------------

    def get_quantized(self, key: str):
        """The cached :class:`~accelsim.layers.Network` under *key*, or ``None`` (also for an unreadable entry).

        A network once read is kept in this process (:data:`NETWORKS_KEPT`, least recently used
        out): a published value never changes under its key, and the points sharing a
        calibration often run in the same worker.
        """
        from accelsim.layers import read_network

        path = self._path("quantized", key)
        memo = str(path.resolve())
        if memo in _NETWORKS:
            _NETWORKS.move_to_end(memo)
            return _NETWORKS[memo]
        if not (path / "descriptors.json").is_file():
            return None
        try:
            net = read_network(path)
        except (InputFileError, SchemaVersionError):  # unreadable entry: treat as missing, it will be rebuilt
            return None
        _NETWORKS[memo] = net
        while len(_NETWORKS) > NETWORKS_KEPT:
            _NETWORKS.popitem(last=False)
        return net

    def put_quantized(self, key: str, net: Any) -> None:
        """Publish network *net* under *key*: written to a temporary folder, then renamed."""
        from accelsim.layers import write_network

        with atomic_dir(self._path("quantized", key)) as tmp:
            write_network(net, tmp)

    def quantized(self, key: str, builder: Callable[[], Any]):
        """The network under *key*; on a miss call ``builder()`` (returning a Network) and store it."""
        hit = self.get_quantized(key)
        if hit is not None:
            return hit
        with self._locked("quantized", key):
            hit = self.get_quantized(key)
            if hit is not None:
                return hit
            net = builder()
            self.put_quantized(key, net)
        return net
