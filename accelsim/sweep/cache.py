"""On-disk cache of work that points of a sweep share: quantized networks and accuracy results.

Points that differ only in hardware share the calibration (thresholds, integer weights) and the
accuracy measured on the integer datapath; the pipeline builds them once per key and every other
point reads them back. Keys come from :meth:`ResultCache.key` over the things the value depends
on - typically ``(model file digest, data config, quant config, seed)``, see :func:`quant_key`.

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
from pathlib import Path
from typing import Any, Callable, Iterator

from accelsim.atomic import atomic_dir, make_dirs, write_text
from accelsim.sweep.store import canonical_json

CACHE_SCHEMA_VERSION = 1
"""Mixed into every key: bump it when cached values change meaning."""


def file_digest(path: str | Path, chunk_bytes: int = 1 << 20) -> str:
    """SHA-256 hex digest of a file's bytes (the model's identity, not its path or mtime)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk_bytes), b""):
            h.update(block)
    return h.hexdigest()


_DIGESTS: dict[tuple[str, int, int], str] = {}


def _digest_memo(path: Path) -> str:
    """:func:`file_digest`, remembered per (path, size, mtime) within this process."""
    st = path.stat()
    memo_key = (str(path), st.st_size, st.st_mtime_ns)
    if memo_key not in _DIGESTS:
        _DIGESTS[memo_key] = file_digest(path)
    return _DIGESTS[memo_key]


def _model_identity(cfg: Any) -> str:
    """A model's identity for keys: the digest of its file bytes (not its path or mtime).

    The bundled model is identified by the digests of the files shipped with it in the package
    (ONNX model, its JSON metadata, the bundled calibration/test ``.npz`` sets);
    a topology (shapes only, no calibration) by its zoo name or CSV digest.
    """
    wl = cfg.workload
    model = wl.model_or_bundled if hasattr(wl, "model_or_bundled") else wl.model
    if model is None:
        topo = Path(str(wl.topology))
        return "topology-sha256:" + _digest_memo(topo) if topo.is_file() else f"topology:{wl.topology}"
    if model == "bundled":
        from importlib.resources import files

        data = Path(str(files("accelsim") / "data"))
        shipped = sorted(p for p in data.iterdir() if p.suffix in (".onnx", ".npz", ".json")) if data.is_dir() else []
        return "bundled:" + ",".join(f"{p.name}={_digest_memo(p)}" for p in shipped)
    path = Path(model)
    if path.is_file():
        return "sha256:" + _digest_memo(path)
    return f"name:{model}"


def quant_key(cfg: Any, *extra: Any) -> str:
    """Key of everything a quantized network and its accuracy depend on.

    ``(model file digest, workload config without batch, data config, quant config, seed)`` plus
    any *extra* parts. Hardware, simulation and energy settings are left out, so points that
    differ only there share the key.
    """
    workload = cfg.workload.model_dump(mode="json")
    workload.pop("batch", None)  # inferences per array pass: a hardware-side setting
    return ResultCache.key(
        _model_identity(cfg),
        workload,
        cfg.data.model_dump(mode="json"),
        cfg.quant.model_dump(mode="json"),
        cfg.seed,
        *extra,
    )


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
        """The cached :class:`~accelsim.layers.Network` under *key*, or ``None``."""
        from accelsim.layers import read_network

        path = self._path("quantized", key)
        if not (path / "descriptors.json").is_file():
            return None
        return read_network(path)

    def put_quantized(self, key: str, net: Any) -> None:
        """Publish network *net* under *key*: written to a temporary folder, then renamed."""
        from accelsim.layers import write_network

        with atomic_dir(self._path("quantized", key)) as tmp:
            write_network(net, tmp)

    def network_for(self, cfg: Any, builder: Callable[[], Any]):
        """The quantized network of run config *cfg* (keyed by :func:`quant_key`), built once."""
        return self.quantized(quant_key(cfg, "network"), builder)

    def accuracy_for(self, cfg: Any, builder: Callable[[], Any]) -> Any:
        """The accuracy (JSON) of run config *cfg* (keyed by :func:`quant_key`), measured once."""
        return self.json(quant_key(cfg, "accuracy"), builder)

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
