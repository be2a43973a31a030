"""Fault injection: full disks, read-only folders, SIGKILL at random moments, corrupt caches,
results folders from another version. Each fault ends in one clear line and a non-zero exit, or in
a resume that loses nothing; the previous outputs survive byte for byte.

References: byte equality with the files as they were before the fault, and with an
uninterrupted run of the same config (runs are deterministic); processes seen through /proc.
"""

from __future__ import annotations

import errno
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from accelsim import atomic
from accelsim.cli import main
from accelsim.sweep import ResultStore, SerialExecutor, load_sweep, run_sweep
from accelsim.sweep.store import canonical_json
from tests.procs import alive, descendants, has_proc, wait_for_children, wait_gone

ROOT = Path(__file__).resolve().parents[1]
FAKE = "tests.sweep.points:fake_point"
SLOW = "tests.sweep.points:slow_point"

TOPOLOGY = """Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,
conv1, 16, 16, 3, 3, 3, 8, 1,
conv2, 14, 14, 3, 3, 8, 16, 1,
"""


def _env(**extra) -> dict[str, str]:
    """Environment of a child ``python -m accelsim``: this checkout first (tests.sweep.points importable)."""
    return dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""), **extra)


def _accelsim(*args, **extra) -> list[str]:
    return [sys.executable, "-m", "accelsim", *args]


@pytest.fixture
def tiny_config(tmp_path) -> Path:
    """A run config of a two-layer SCALE-Sim topology: a full run takes well under a second."""
    (tmp_path / "tiny.csv").write_text(TOPOLOGY)
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text("name: tiny\nworkload: {topology: {csv: tiny.csv}}\nhardware: {array: {rows: 8, cols: 8}}\n")
    return cfg


def _sweep_file(folder: Path, points: int = 4) -> Path:
    rows = [8, 16, 32, 64][: max(1, points // 2)]
    path = folder / "tiny_sweep.yaml"
    path.write_text(f"name: tiny\naxes:\n  quant.act_bits: [4, 8]\n  hardware.array.rows: {rows}\n")
    return path


def _full_disk(monkeypatch, code=errno.ENOSPC):
    """Every fsync fails as on a full (or read-only) disk: data written, never made durable."""
    def fail(fd):
        raise OSError(code, os.strerror(code))
    monkeypatch.setattr(atomic.os, "fsync", fail)  # the os module: the store's appends see it too


def _one_error_line(capsys, command: str) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in err if line.startswith(f"accelsim {command}: error:")]
    assert len(errors) == 1 and "Traceback" not in "\n".join(err), err
    return errors[0]


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# ------------------------------------------------------------------------------------ full disk


@pytest.mark.parametrize("code, cause", [(errno.ENOSPC, "No space left on device (ENOSPC)"),
                                         (errno.EROFS, "Read-only file system (EROFS)"),
                                         (errno.EACCES, "Permission denied (EACCES)")])
def test_run_on_a_full_disk_keeps_the_previous_outputs_byte_for_byte(tiny_config, tmp_path, monkeypatch, capsys,
                                                                      code, cause):
    out = tmp_path / "out"
    assert main(["run", str(tiny_config), "-o", str(out), "--no-progress"]) == 0
    before = _files(out)
    json.loads(before["summary.json"])
    capsys.readouterr()
    _full_disk(monkeypatch, code)
    assert main(["run", str(tiny_config), "-o", str(out), "--no-progress", "--set", "hardware.array.rows=16"]) == 2
    line = _one_error_line(capsys, "run")
    assert re.fullmatch(rf"accelsim run: error: cannot write {re.escape(str(out))}/\S+: {re.escape(cause)}; .+", line)
    assert _files(out) == before  # nothing torn, no temporary left behind


def test_every_command_on_a_full_disk_is_one_line(tiny_config, tmp_path, monkeypatch, capsys):
    results = tmp_path / "results"
    sweep = _sweep_file(tmp_path)
    assert main(["sweep", str(sweep), "--results", str(results), "--workers", "0", "--point-fn", FAKE,
                 "--limit", "2", "--no-progress"]) == 0
    stored = (results / "results.jsonl").read_bytes()
    capsys.readouterr()
    _full_disk(monkeypatch)
    commands = {
        "simulate": ["simulate", str(tiny_config), "-o", str(tmp_path / "sim")],
        "sweep": ["sweep", str(sweep), "--results", str(results), "--workers", "0", "--point-fn", FAKE,
                  "--no-progress"],
        "report": ["report", str(results), "-o", str(tmp_path / "rep")],
        "quantize": ["quantize", "bundled", "--data", "bundled", "--batch", "8", "-o", str(tmp_path / "q"), "-q"],
    }
    for command, argv in commands.items():
        assert main(argv) == 2, command
        line = _one_error_line(capsys, command)
        assert "No space left on device (ENOSPC)" in line and str(tmp_path) in line, line
    assert (results / "results.jsonl").read_bytes() == stored  # the half-written point was cut off again
    assert len(ResultStore(results).latest()) == 2


def test_oserror_no_stage_named_is_still_one_line(tmp_path, capsys, monkeypatch):
    """The CLI's backstop: a raw OSError from anywhere becomes one line and exit 2."""
    import accelsim.cli.report as report_cli

    def boom(args):
        raise OSError(errno.ENAMETOOLONG, os.strerror(errno.ENAMETOOLONG), str(tmp_path / ("x" * 300)))
    monkeypatch.setattr(report_cli, "run", boom)
    assert main(["report", str(tmp_path)]) == 2
    line = _one_error_line(capsys, "report")
    assert line.endswith("xxx: File name too long (ENAMETOOLONG); shorten the output path")


def _mount_tmpfs(path: Path, size: str) -> bool:
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        return False
    path.mkdir(parents=True, exist_ok=True)
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    return res.returncode == 0


def test_run_on_a_real_full_tmpfs(tiny_config, tmp_path):
    """A real full file system (a 1 MiB tmpfs, when this test may mount one), through a child process."""
    disk = tmp_path / "disk"
    if not _mount_tmpfs(disk, "1m"):
        pytest.skip("needs root and mount to make a small tmpfs (the injected-ENOSPC tests cover the rest)")
    try:
        out = disk / "out"
        ok = subprocess.run(_accelsim("run", str(tiny_config), "-o", str(out), "--no-progress"),
                            capture_output=True, text=True, env=_env(), timeout=300)
        assert ok.returncode == 0, ok.stderr
        before = _files(out)
        filler = disk / "filler"
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
        try:  # fill every free byte
            while os.write(fd, b"\0" * 512):
                pass
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
        finally:
            os.close(fd)
        res = subprocess.run(_accelsim("run", str(tiny_config), "-o", str(out), "--no-progress",
                                       "--set", "hardware.array.rows=16"),
                             capture_output=True, text=True, env=_env(), timeout=300)
        assert res.returncode == 2
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and "No space left on device (ENOSPC)" in lines[0], res.stderr
        filler.unlink()
        assert _files(out) == before
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)


# ---------------------------------------------------------------------------------------- SIGKILL


pytestmark_proc = pytest.mark.skipif(not has_proc(), reason="reads processes from Linux /proc")


@pytestmark_proc
def test_sigkilled_sweep_leaves_no_workers_and_a_second_sweep_is_refused(tmp_path):
    sweep, results = _sweep_file(tmp_path), tmp_path / "results"
    argv = _accelsim("sweep", str(sweep), "--results", str(results), "--workers", "2", "--point-fn", SLOW,
                     "--no-progress")
    proc = subprocess.Popen(argv, env=_env(ACCELSIM_TEST_POINT_SLEEP_S="120"), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        kids = wait_for_children(proc.pid, 2, timeout_s=120)  # two workers (plus a resource tracker)
        assert len(kids) >= 2
        second = subprocess.run(argv, env=_env(), capture_output=True, text=True, timeout=300)
        assert second.returncode == 2
        assert second.stderr.strip().splitlines()[-1] == (
            f"accelsim sweep: error: {results}: another sweep is writing this results folder; wait for it or "
            "give another --results folder")
        assert "Traceback" not in second.stderr
        kids |= descendants(proc.pid)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        assert wait_gone(kids, timeout_s=15) == set(), "worker processes outlived their killed parent"
    finally:
        if proc.poll() is None:
            proc.kill()
    # the lock died with the process: a resume runs
    done = subprocess.run(argv, env=_env(ACCELSIM_TEST_POINT_SLEEP_S="0"),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert len(ResultStore(results).latest()) == 4


@pytestmark_proc
def test_random_sigkills_of_sweep_then_resume_give_the_uninterrupted_points(tmp_path):
    sweep = _sweep_file(tmp_path, points=8)
    reference = tmp_path / "reference"
    run_sweep(load_sweep(sweep), reference, SerialExecutor(), point_fn=FAKE, progress=False)
    expected = {k: canonical_json(r.result) for k, r in ResultStore(reference).latest().items()}
    assert len(expected) == 8
    results = tmp_path / "killed"
    argv = _accelsim("sweep", str(sweep), "--results", str(results), "--workers", "0", "--point-fn", SLOW,
                     "--no-progress")
    env = _env(ACCELSIM_TEST_POINT_SLEEP_S="0.3")
    rng = random.Random(12)
    for _ in range(3):
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.5, 4.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        if (results / "store.json").exists():
            ResultStore(results).latest()  # readable after every kill (a torn last line is dropped)
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    got = {k: canonical_json(r.result) for k, r in ResultStore(results).latest().items()}
    assert got == expected


@pytestmark_proc
def test_random_sigkills_of_run_leave_old_or_new_outputs(tiny_config, tmp_path):
    out = tmp_path / "out"
    argv = _accelsim("run", str(tiny_config), "-o", str(out), "--no-progress")
    first = subprocess.run(argv, env=_env(), capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    reference = _files(out)
    rng = random.Random(7)
    for _ in range(3):
        proc = subprocess.Popen(argv, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.2, 3.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        now = {k: v for k, v in _files(out).items() if not atomic.is_temporary(k)}
        assert now == reference  # the same config: old and new are the same bytes, never a torn one


def test_a_write_killed_mid_way_leaves_the_old_file(tmp_path):
    """SIGKILL a process while it rewrites a 4 MB file in a loop: the file is always whole."""
    if not has_proc():
        pytest.skip("reads processes from Linux /proc")
    target = tmp_path / "summary.json"
    versions = [json.dumps({"v": v, "pad": "x" * (4 << 20)}) + "\n" for v in (1, 2)]
    target.write_text(versions[0])
    script = ("import sys\nfrom accelsim.atomic import write_text\nv=[" + ",".join(
        f"open({str(tmp_path / f'v{i}.txt')!r}).read()" for i in (0, 1)) + "]\ni=0\n"
        f"while True:\n    write_text({str(target)!r}, v[i % 2]); i += 1\n")
    for i, text in enumerate(versions):
        (tmp_path / f"v{i}.txt").write_text(text)
    rng = random.Random(3)
    for _ in range(5):
        proc = subprocess.Popen([sys.executable, "-c", script], env=_env())
        time.sleep(rng.uniform(0.5, 2.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        assert target.read_text() in versions
    assert not alive(proc.pid)


# --------------------------------------------------------------------- corrupt caches, old stores


def test_corrupt_cache_entries_are_rebuilt(tmp_path):
    from accelsim.layers import write_network
    from accelsim.sweep.cache import ResultCache
    from tests.layers.test_io import _net

    cache = ResultCache(tmp_path / "cache")
    key = "ab" * 32
    cache.put_json(key, {"quant_top1": 0.5})
    cache._path("json", key, ".json").write_text('{"value": {"quant_')  # torn by an old writer
    assert cache.json(key, lambda: {"quant_top1": 0.75}) == {"quant_top1": 0.75}
    assert cache.get_json(key) == {"quant_top1": 0.75}
    write_network(_net(), cache._path("quantized", key))
    (cache._path("quantized", key) / "tensors.npz").write_bytes(b"PK\x03\x04 not a zip")
    rebuilt = cache.quantized(key, _net)
    assert rebuilt.name == "tiny"
    assert cache.get_quantized(key).layers == _net().layers


def test_results_folder_from_another_version_is_one_line(tmp_path, capsys):
    results = tmp_path / "results"
    sweep = _sweep_file(tmp_path)
    assert main(["sweep", str(sweep), "--results", str(results), "--workers", "0", "--point-fn", FAKE,
                 "--limit", "1", "--no-progress"]) == 0
    meta = json.loads((results / "store.json").read_text())
    meta["schema_version"] = 99
    (results / "store.json").write_text(json.dumps(meta))
    before = _files(results)
    capsys.readouterr()
    for argv in (["sweep", str(sweep), "--results", str(results), "--workers", "0", "--point-fn", FAKE],
                 ["report", str(results), "-o", str(tmp_path / "rep")]):
        assert main(argv) == 2
        line = _one_error_line(capsys, argv[0])
        assert "schema_version 99" in line or "version 99" in line, line
    assert _files(results) == before


def test_report_on_an_empty_results_store_says_so(tmp_path, capsys):
    results = tmp_path / "results"
    ResultStore(results).open("tiny").close()
    assert main(["report", str(results), "-o", str(tmp_path / "rep")]) == 2
    line = _one_error_line(capsys, "report")
    assert "holds no points yet" in line and f"--results {results}" in line
    assert not (tmp_path / "rep").exists()
