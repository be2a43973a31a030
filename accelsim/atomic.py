"""Writing files so that a crash or a full disk leaves the old file or the new one, never half of one.

Every file accelsim writes (summaries, CSVs, descriptors, reports, traces, caches) goes through
this module. A file is written to a temporary name in its own folder (``.<name>.<pid>.<rand>.tmp``),
flushed, ``fsync``-ed, renamed over the final name with :func:`os.replace` (atomic on POSIX and
Windows) and the folder is ``fsync``-ed so the rename itself survives a power cut. If anything
fails on the way the temporary file is removed and the previous file is untouched, byte for byte.

An :class:`OSError` from the file system (no space, read-only, permission, path too long) becomes
one :class:`~accelsim.errors.OutputFileError` naming the path, the cause and what to do; the CLI
prints it on one line and exits 2.

A folder of files that belong together (a network's ``descriptors.json`` and ``tensors.npz``) is
built under a temporary name and swapped in by :func:`atomic_dir`: on Linux both names are
exchanged in one ``renameat2(RENAME_EXCHANGE)`` call, elsewhere with two renames.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import sys
from pathlib import Path
from typing import IO, Any, Iterator, Mapping

from accelsim.errors import OutputFileError

_HINTS = {
    errno.ENOSPC: "free some space or choose another output folder",
    errno.EDQUOT: "free some space or choose another output folder",
    errno.EROFS: "the file system is read-only; choose a writable output folder",
    errno.EACCES: "no permission; choose a writable output folder",
    errno.EPERM: "no permission; choose a writable output folder",
    errno.ENAMETOOLONG: "shorten the output path",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EISDIR: "a folder already has this name",
    errno.EEXIST: "a file already has this name",
}


def describe_os_error(exc: OSError) -> str:
    """``"No space left on device (ENOSPC); free some space ..."``: the cause of *exc* and a fix."""
    code = exc.errno
    if code is None:
        return str(exc)
    text = exc.strerror or os.strerror(code)
    name = errno.errorcode.get(code, str(code))
    hint = _HINTS.get(code)
    return f"{text} ({name})" + (f"; {hint}" if hint else "")


def output_error(exc: OSError, path: str | Path, action: str = "write") -> OutputFileError:
    """An :class:`OutputFileError` saying "cannot *action* *path*: *cause*" for *exc*."""
    err = OutputFileError(f"cannot {action} {path}: {describe_os_error(exc)}")
    err.errno = exc.errno  # str(err) stays the message: OSError formats only when strerror is set
    err.path = Path(path)
    return err


def make_dirs(path: str | Path) -> Path:
    """Create folder *path* and its parents (no error if it exists); returns it as a Path.

    Raises
    ------
    OutputFileError
        When the folder cannot be created (read-only, permission, a file in the way, ...).
    """
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise output_error(exc, path, "create folder") from None
    return path


def temporary_name(final: str | Path) -> Path:
    """A fresh hidden name beside *final*: ``.<name>.<pid>.<8 hex>.tmp``."""
    final = Path(final)
    return final.parent / f".{final.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp"


def is_temporary(path: str | Path) -> bool:
    """Whether *path* is a name :func:`temporary_name` makes (left behind by a killed writer)."""
    name = Path(path).name
    return name.startswith(".") and name.endswith(".tmp")


def remove_stale_temporaries(folder: str | Path) -> int:
    """Delete temporaries in *folder* whose writer process is gone (killed mid-write); returns how many.

    Only names :func:`temporary_name` makes are touched, and only when the process id in the name
    no longer exists, so a writer still at work keeps its file.
    """
    removed = 0
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return 0
    for p in entries:
        parts = p.name.split(".")
        if not is_temporary(p) or len(parts) < 5 or not parts[-3].isdigit():
            continue
        try:
            os.kill(int(parts[-3]), 0)
            continue  # the writer still runs (or the pid was reused): leave it
        except ProcessLookupError:
            pass
        except (PermissionError, OverflowError, ValueError):
            continue
        _remove(p)
        removed += 1
    return removed


def fsync_dir(folder: str | Path) -> None:
    """``fsync`` folder *folder* so renames inside it are durable (a no-op where unsupported)."""
    if sys.platform == "win32":  # pragma: no cover - folders cannot be opened on Windows
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems refuse fsync on folders; the rename is still atomic
        pass
    finally:
        os.close(fd)


def _remove(path: Path) -> None:
    with contextlib.suppress(OSError):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink()


@contextlib.contextmanager
def _published(tmp: Path, path: Path) -> Iterator[None]:
    """Around writing *tmp* and renaming it to *path*: on any error remove *tmp* (an ``OSError``
    becomes :class:`OutputFileError` naming *path*); on success ``fsync`` the folder of *path*."""
    try:
        yield
    except OSError as exc:
        _remove(tmp)
        if isinstance(exc, OutputFileError):
            raise
        raise output_error(exc, path) from None
    except BaseException:
        _remove(tmp)
        raise
    fsync_dir(path.parent)


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w", *, encoding: str | None = "utf-8",
                newline: str | None = None) -> Iterator[IO[Any]]:
    """Open a temporary file beside *path*; on a clean exit publish it as *path* atomically.

    Parameters
    ----------
    path : the final file; its folder is created.
    mode : ``"w"`` (text) or ``"wb"`` (bytes).
    encoding, newline : as for :func:`open` (text mode only).

    Raises
    ------
    OutputFileError
        On any file-system error; the temporary file is removed and *path* keeps its old content.
        Any other exception from the body also removes the temporary file and propagates.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open mode must be 'w' or 'wb', not {mode!r}")
    path = Path(path)
    make_dirs(path.parent)
    tmp = temporary_name(path)
    try:
        if mode == "wb":
            fh = open(tmp, "wb")
        else:
            fh = open(tmp, "w", encoding=encoding, newline=newline)
    except OSError as exc:
        raise output_error(exc, path) from None
    with _published(tmp, path):
        with fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)


def write_text(path: str | Path, text: str, *, encoding: str = "utf-8") -> Path:
    """Write *text* to *path* atomically (see :func:`atomic_open`); returns *path* as a Path."""
    with atomic_open(path, "w", encoding=encoding, newline="") as fh:
        fh.write(text)
    return Path(path)


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write *data* to *path* atomically (see :func:`atomic_open`); returns *path* as a Path."""
    with atomic_open(path, "wb") as fh:
        fh.write(data)
    return Path(path)


def save_npz(path: str | Path, arrays: Mapping[str, Any], *, compressed: bool = False) -> Path:
    """:func:`numpy.savez` (or ``savez_compressed``) of *arrays* to *path*, atomically, no pickle."""
    import numpy as np

    save = np.savez_compressed if compressed else np.savez
    with atomic_open(path, "wb") as fh:
        save(fh, **{k: np.asarray(v) for k, v in arrays.items()})
    return Path(path)


def savefig(fig: Any, path: str | Path, *, dpi: float | None = None) -> Path:
    """Save Matplotlib figure *fig* to *path* atomically; the format follows the suffix (``.png``, ``.svg``, ``.pdf``)."""
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower() or "png"
    with atomic_open(path, "wb") as fh:
        fig.savefig(fh, format=fmt, dpi=dpi)
    return path


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap names *a* and *b* in one atomic step (Linux ``renameat2``); False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes  # here, not at the top: only a folder swap needs it, and importing it costs ~10 ms

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):  # old kernel or file system
        return False
    raise OSError(code, os.strerror(code), str(b))


def _fsync_tree(folder: Path) -> None:
    for p in folder.iterdir():
        if p.is_file():
            with open(p, "rb") as fh:
                os.fsync(fh.fileno())
    fsync_dir(folder)


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Build a folder under a temporary name, then publish it as *path* (replacing an old one).

    The body receives the temporary folder and writes into it. On a clean exit its files are
    ``fsync``-ed and it takes the place of *path*: a reader sees the whole old folder or the whole
    new one (on Linux; elsewhere there is a moment between two renames when *path* is absent).

    Raises
    ------
    OutputFileError
        On any file-system error; the temporary folder is removed and *path* is untouched.
    """
    path = Path(path)
    make_dirs(path.parent)
    tmp = temporary_name(path)
    try:
        tmp.mkdir()
    except OSError as exc:
        raise output_error(exc, path, "create folder") from None
    with _published(tmp, path):
        yield tmp
        _fsync_tree(tmp)
        if path.is_dir() and not path.is_symlink():
            if _exchange(tmp, path):
                _remove(tmp)  # tmp now holds the old folder
            else:
                old = temporary_name(path)
                os.rename(path, old)
                os.rename(tmp, path)
                _remove(old)
        else:
            os.replace(tmp, path)
