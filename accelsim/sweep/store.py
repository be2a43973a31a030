"""The results store: one folder, one append-only JSON-lines file, one record per finished point.

Layout of a results folder::

    store.json       {"format": "accelsim-results", "schema_version": 1, "accelsim_version": ...}
    results.jsonl    one JSON object per finished point (ok or error), appended and fsync'ed at once
    store.lock       held (flock) by the one sweep writing the folder
    cache/           calibration and accuracy cache (:mod:`accelsim.sweep.cache`), shared by points

Why JSON lines and not SQLite: there is exactly one writer (the sweep's parent process; workers
return results to it), so the store needs no transactions, only "a line is either complete or
absent". Appending one ``write`` of a whole line and ``fsync`` gives that: after a SIGKILL at any
moment, every earlier line is on disk and at most the last line is torn, which the reader
detects (no trailing newline or not valid JSON) and drops; the next writer truncates it before
appending. The file is plain text a user can ``grep``, ``tail -f`` or load with ``pandas.read_json(
lines=True)``, it merges by concatenation, and it needs no version of a database library on a
cluster's shared disk. A store of some thousand points reads in milliseconds.

A point is keyed by :func:`point_key`: the SHA-256 of the canonical JSON (sorted keys, no spaces)
of ``{"store_schema": STORE_SCHEMA_VERSION, "config": cfg.model_dump(mode="json")}`` - the full
resolved config, so two points that differ in any setting never share a key, and the same config
from two sweep files does.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from accelsim import __version__
from accelsim.atomic import fsync_dir, make_dirs, output_error, write_text
from accelsim.errors import ConfigError, InputFileError, SchemaVersionError

STORE_SCHEMA_VERSION = 1
"""Version of the store layout and record format; a store of another version is refused."""

STORE_FORMAT = "accelsim-results"
META_FILE = "store.json"
RESULTS_FILE = "results.jsonl"
LOCK_FILE = "store.lock"
CACHE_DIR = "cache"


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no whitespace: equal values give equal text (the hashing form)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=_json_default, allow_nan=True)


def _json_default(value: Any) -> Any:
    """Make numpy scalars/arrays and paths JSON-able; anything else is a bug in the producer."""
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy is a dependency
        np = None
    if np is not None:
        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, np.ndarray):
            return value.tolist()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"value of type {type(value).__name__} is not JSON-serialisable: {value!r}")


def config_json(cfg: Any) -> dict[str, Any]:
    """The full resolved config as plain JSON data (``cfg.model_dump(mode='json')``)."""
    return cfg.model_dump(mode="json")


def point_key(cfg: Any) -> str:
    """The store key of a run config: SHA-256 hex of its canonical JSON plus the store schema."""
    payload = {"store_schema": STORE_SCHEMA_VERSION, "config": config_json(cfg)}
    return hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()


def _clean_floats(value: Any) -> Any:
    """Replace NaN and infinities by None so every line is strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean_floats(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean_floats(v) for v in value]
    return value


@dataclass(frozen=True)
class PointRecord:
    """One line of ``results.jsonl``."""

    key: str
    status: str
    """'ok' or 'error'."""
    index: int
    sweep: str
    overrides: dict[str, Any]
    config: dict[str, Any]
    result: dict[str, Any] | None
    error: str | None
    elapsed_s: float
    finished_utc: str
    warnings: tuple[str, ...] = ()
    """Distinct warnings the point raised, one line each (e.g. accumulator overflow risk)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "status": self.status,
            "index": self.index,
            "sweep": self.sweep,
            "overrides": self.overrides,
            "config": self.config,
            "result": self.result,
            "error": self.error,
            "elapsed_s": self.elapsed_s,
            "finished_utc": self.finished_utc,
            "warnings": list(self.warnings),
        }

    @classmethod
    def from_json(cls, d: dict[str, Any], where: str) -> "PointRecord":
        try:
            return cls(
                key=str(d["key"]),
                status=str(d["status"]),
                index=int(d.get("index", -1)),
                sweep=str(d.get("sweep", "")),
                overrides=dict(d.get("overrides") or {}),
                config=dict(d.get("config") or {}),
                result=d.get("result"),
                error=d.get("error"),
                elapsed_s=float(d.get("elapsed_s") or 0.0),
                finished_utc=str(d.get("finished_utc", "")),
                warnings=tuple(str(w) for w in (d.get("warnings") or ())),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InputFileError(f"{where}: not a point record ({exc})") from None


def _utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


class ResultStore:
    """A results folder: read finished points, append new ones durably.

    Parameters
    ----------
    directory : the results folder. :meth:`open` creates it (and its ``store.json``) when missing
        or empty.

    Raises (from :meth:`open`)
    ------
    SchemaVersionError
        ``store.json`` was written by an incompatible store schema.
    InputFileError
        The folder holds files but no ``store.json`` (not a results store), or a corrupt line
        before the last one.
    ConfigError
        Another sweep holds the folder's lock.
    """

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        self._fd: int | None = None
        self._lock_fd: int | None = None

    @property
    def results_path(self) -> Path:
        return self.directory / RESULTS_FILE

    @property
    def cache_dir(self) -> Path:
        return self.directory / CACHE_DIR

    # -- reading -------------------------------------------------------------------------------

    def check(self) -> None:
        """Check ``store.json`` exists and names a compatible schema (no writing)."""
        meta_path = self.directory / META_FILE
        if not self.directory.is_dir():
            raise InputFileError(f"{self.directory}: results folder not found")
        if not meta_path.is_file():
            raise InputFileError(
                f"{self.directory}: not an accelsim results store (no {META_FILE}); "
                "give the --results folder of an 'accelsim sweep'"
            )
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputFileError(f"{meta_path}: unreadable store header ({exc})") from None
        if not isinstance(meta, dict) or meta.get("format") != STORE_FORMAT:
            raise InputFileError(f"{meta_path}: not an accelsim results store header (format != {STORE_FORMAT!r})")
        version = meta.get("schema_version")
        if version != STORE_SCHEMA_VERSION:
            raise SchemaVersionError(
                f"{meta_path}: results store schema_version {version!r} (written by accelsim "
                f"{meta.get('accelsim_version', '?')}); this accelsim {__version__} reads version "
                f"{STORE_SCHEMA_VERSION} only; use a new --results folder or the matching accelsim"
            )

    def _scan(self) -> tuple[list[PointRecord], int]:
        """All complete records in file order and the byte length of the complete prefix."""
        path = self.results_path
        if not path.exists():
            return [], 0
        data = path.read_bytes()
        records: list[PointRecord] = []
        good = 0
        pos = 0
        lineno = 0
        while pos < len(data):
            end = data.find(b"\n", pos)
            lineno += 1
            if end < 0:  # torn last line: no newline was written
                break
            line = data[pos:end]
            try:
                obj = json.loads(line.decode("utf-8")) if line.strip() else None
            except (UnicodeDecodeError, json.JSONDecodeError):
                obj = False
            if obj is False:
                if data.find(b"\n", end + 1) < 0 and not data[end + 1 :].strip():
                    break  # corrupt last line: a torn write, dropped
                raise InputFileError(f"{path}:{lineno}: corrupt record (not JSON) before the end of the file")
            if obj is not None:
                records.append(PointRecord.from_json(obj, f"{path}:{lineno}"))
            pos = end + 1
            good = pos
        return records, good

    def records(self) -> list[PointRecord]:
        """Every complete record, in the order written (a torn last line is left out)."""
        self.check()
        return self._scan()[0]

    def latest(self) -> dict[str, PointRecord]:
        """The last record of each key (a retried point's newest outcome wins)."""
        out: dict[str, PointRecord] = {}
        for rec in self.records():
            out[rec.key] = rec
        return out

    def __iter__(self) -> Iterator[PointRecord]:
        return iter(self.latest().values())

    # -- writing -------------------------------------------------------------------------------

    def open(self, sweep_name: str = "") -> "ResultStore":
        """Create or reopen the store for appending; take its lock; drop a torn last line."""
        d = self.directory
        meta_path = d / META_FILE
        if d.exists() and not d.is_dir():
            raise InputFileError(f"{d}: exists and is not a folder; give a results folder")
        if not meta_path.exists():
            if d.is_dir() and any(p.name != LOCK_FILE for p in d.iterdir()):
                raise InputFileError(
                    f"{d}: folder is not empty and holds no {META_FILE}: not an accelsim results "
                    "store; give a new or empty --results folder"
                )
            make_dirs(d)
            meta = {
                "format": STORE_FORMAT,
                "schema_version": STORE_SCHEMA_VERSION,
                "accelsim_version": __version__,
                "created_utc": _utc_now(),
                "sweep": sweep_name,
            }
            write_text(meta_path, json.dumps(meta, indent=1) + "\n")
        self.check()
        self._lock()
        _, good = self._scan()
        path = self.results_path
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        if os.fstat(self._fd).st_size != good:
            os.ftruncate(self._fd, good)  # drop a torn last line so the next record starts clean
            os.fsync(self._fd)
        fsync_dir(d)
        return self

    def _lock(self) -> None:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - non-POSIX: no lock
            return
        fd = os.open(self.directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise ConfigError(
                f"{self.directory}: another sweep is writing this results folder; wait for it or "
                "give another --results folder"
            ) from None
        self._lock_fd = fd

    def append(self, record: PointRecord) -> None:
        """Write *record* as one line and fsync it before returning (durable at once)."""
        if self._fd is None:
            raise RuntimeError("ResultStore.append before open()")
        # insertion order kept (not sorted): the axis values stay in the sweep file's order
        line = json.dumps(_clean_floats(record.to_json()), default=_json_default, allow_nan=False)
        data = (line + "\n").encode("utf-8")
        before = os.fstat(self._fd).st_size
        try:
            written = os.write(self._fd, data)
            while written < len(data):  # pragma: no cover - short writes on regular files are rare
                written += os.write(self._fd, data[written:])
            os.fsync(self._fd)
        except OSError as exc:  # disk full: cut the half line off so earlier points stay readable
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, before)
            raise output_error(exc, self.results_path, "append to") from None

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the fd releases the flock
            self._lock_fd = None

    def __enter__(self) -> "ResultStore":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def make_record(
    *,
    key: str,
    index: int,
    sweep: str,
    overrides: dict[str, Any],
    config: dict[str, Any],
    outcome: dict[str, Any],
) -> PointRecord:
    """Build the record of one finished point from a worker's *outcome* (see ``executor``)."""
    return PointRecord(
        key=key,
        status=outcome["status"],
        index=index,
        sweep=sweep,
        overrides=overrides,
        config=config,
        result=outcome.get("result"),
        error=outcome.get("error"),
        elapsed_s=float(outcome.get("elapsed_s", 0.0)),
        finished_utc=_utc_now(),
        warnings=tuple(outcome.get("warnings") or ()),
    )
