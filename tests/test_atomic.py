"""accelsim.atomic: a failed write leaves the old file byte for byte and no temporary behind."""

from __future__ import annotations

import errno
import os
import re

import numpy as np
import pytest

from accelsim import atomic
from accelsim.errors import AccelsimError, OutputFileError


def _listing(folder):
    return sorted(p.name for p in folder.iterdir())


def test_write_text_replaces_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "deep" / "summary.json"
    atomic.write_text(target, "old\n")
    atomic.write_text(target, "new\n")
    assert target.read_bytes() == b"new\n"
    assert _listing(target.parent) == ["summary.json"]


@pytest.mark.parametrize("code, words", [(errno.ENOSPC, "No space left on device (ENOSPC)"),
                                         (errno.EROFS, "read-only"),
                                         (errno.EACCES, "permission")])
def test_failed_write_keeps_old_file_byte_for_byte(tmp_path, monkeypatch, code, words):
    target = tmp_path / "summary.json"
    old = b'{"top1": 93.44}\n'
    target.write_bytes(old)
    real_fsync = os.fsync

    def failing_fsync(fd):  # the disk fills while the new content is flushed
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(atomic.os, "fsync", failing_fsync)
    with pytest.raises(OutputFileError, match=f"cannot write {re.escape(str(target))}: .*{re.escape(words)}") as info:
        atomic.write_text(target, '{"top1": 10.6}\n' * 1000)
    monkeypatch.setattr(atomic.os, "fsync", real_fsync)
    assert isinstance(info.value, AccelsimError) and isinstance(info.value, OSError)
    assert info.value.errno == code
    assert target.read_bytes() == old
    assert _listing(tmp_path) == ["summary.json"]


def test_exception_in_body_removes_temporary(tmp_path):
    target = tmp_path / "layers.csv"
    target.write_text("a\n")
    with pytest.raises(RuntimeError):
        with atomic.atomic_open(target) as fh:
            fh.write("half")
            raise RuntimeError("boom")
    assert target.read_text() == "a\n"
    assert _listing(tmp_path) == ["layers.csv"]


def test_unwritable_folder_is_one_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputFileError, match="cannot create folder .*file/sub: Not a directory"):
        atomic.write_text(blocker / "sub" / "a.json", "{}")


def test_save_npz_round_trips_without_pickle(tmp_path):
    arrays = {"w": np.arange(6, dtype=np.int8).reshape(2, 3), "s": np.float32([0.5])}
    path = atomic.save_npz(tmp_path / "t.npz", arrays)
    with np.load(path, allow_pickle=False) as z:
        assert set(z.files) == {"w", "s"}
        np.testing.assert_array_equal(z["w"], arrays["w"])
        assert z["s"].dtype == np.float32


def test_atomic_dir_swaps_whole_folder(tmp_path):
    target = tmp_path / "descriptors"
    with atomic.atomic_dir(target) as d:
        (d / "a.json").write_text("1")
        (d / "stale.npz").write_text("x")
    with atomic.atomic_dir(target) as d:
        (d / "a.json").write_text("2")
    assert _listing(target) == ["a.json"]  # the old folder's files do not linger
    assert (target / "a.json").read_text() == "2"
    assert _listing(tmp_path) == ["descriptors"]


def test_atomic_dir_failure_keeps_old_folder(tmp_path):
    target = tmp_path / "descriptors"
    with atomic.atomic_dir(target) as d:
        (d / "a.json").write_text("1")
    with pytest.raises(ValueError):
        with atomic.atomic_dir(target) as d:
            (d / "a.json").write_text("2")
            raise ValueError("builder failed")
    assert (target / "a.json").read_text() == "1"
    assert _listing(tmp_path) == ["descriptors"]


def test_describe_os_error_names_cause_and_fix():
    msg = atomic.describe_os_error(OSError(errno.ENAMETOOLONG, os.strerror(errno.ENAMETOOLONG)))
    assert msg == "File name too long (ENAMETOOLONG); shorten the output path"


def test_stale_temporaries_of_dead_writers_are_removed(tmp_path):
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)  # exited and reaped: no process has this id (unless reused at once)
    stale = tmp_path / f".summary.json.{dead_pid}.0123abcd.tmp"
    live = tmp_path / f".layers.csv.{os.getpid()}.89abcdef.tmp"
    other = tmp_path / ".notes.tmp"
    for p in (stale, live, other):
        p.write_text("half")
    assert atomic.remove_stale_temporaries(tmp_path) == 1
    assert _listing(tmp_path) == sorted([live.name, other.name])
