"""Running sweeps: skipping, error capture, caching, executors, and resume after SIGKILL."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from accelsim.cli import main
from accelsim.errors import ConfigError
from accelsim.sweep import LocalExecutor, ResultStore, SerialExecutor, run_sweep, sweep_from_dict
from accelsim.sweep.runner import deal_by_group

REPO = Path(__file__).resolve().parents[2]
FAKE = "tests.sweep.points:fake_point"


def _sweep(n_bits=(4, 8), rows=(16, 32, 64)):
    return sweep_from_dict({"name": "t", "axes": [
        {"quant.weight_bits": list(n_bits)},
        {"hardware.array.rows": list(rows), "hardware.array.cols": list(rows)},
    ]})


def _by_point(store_dir):
    return {(r.config["quant"]["weight_bits"], r.config["hardware"]["array"]["rows"]): r
            for r in ResultStore(store_dir).latest().values()}


def test_serial_sweep_stores_every_point_with_its_numbers(tmp_path):
    out = run_sweep(_sweep(), tmp_path / "r", SerialExecutor(), point_fn=FAKE, progress=False)
    assert (out.total, out.skipped, out.ran, out.ok, out.failed) == (6, 0, 6, 6, 0)
    recs = _by_point(tmp_path / "r")
    assert len(recs) == 6
    # 1e6 MACs on a 16x16 array: ceil(1e6 / 256) = 3907 compute cycles, + 1000 * 64 // 16 stall cycles
    r = recs[(4, 16)].result
    assert (r["compute_cycles"], r["stall_cycles"], r["total_cycles"]) == (3907, 4000, 7907)
    assert r["latency_s"] == pytest.approx(7907 / 200e6)
    assert recs[(8, 64)].result["total_cycles"] == 245 + 1000
    assert recs[(8, 64)].overrides == {"quant.weight_bits": 8, "hardware.array.rows": 64, "hardware.array.cols": 64}


def test_rerun_skips_done_points_and_limit_caps_the_run(tmp_path):
    out = run_sweep(_sweep(), tmp_path, SerialExecutor(), point_fn=FAKE, progress=False, limit=2)
    assert (out.ran, out.remaining) == (2, 4)
    out = run_sweep(_sweep(), tmp_path, SerialExecutor(), point_fn=FAKE, progress=False)
    assert (out.skipped, out.ran) == (2, 4)
    out = run_sweep(_sweep(), tmp_path, SerialExecutor(), point_fn=FAKE, progress=False)
    assert (out.skipped, out.ran) == (6, 0)
    lines = (tmp_path / "results.jsonl").read_text().splitlines()
    assert len(lines) == 6 and len({json.loads(x)["key"] for x in lines}) == 6


def test_failing_point_records_one_line_error_and_others_run(tmp_path):
    out = run_sweep(_sweep(), tmp_path, SerialExecutor(), point_fn="tests.sweep.points:failing_point",
                    progress=False)
    assert (out.ok, out.failed) == (3, 3)
    recs = _by_point(tmp_path)
    assert recs[(4, 32)].status == "error"
    assert recs[(4, 32)].error == "ValueError: 4-bit weights refused by this test"
    assert recs[(8, 32)].status == "ok"
    # a rerun keeps the failures (skipped) unless asked to retry them
    out = run_sweep(_sweep(), tmp_path, SerialExecutor(), point_fn=FAKE, progress=False)
    assert out.ran == 0
    out = run_sweep(_sweep(), tmp_path, SerialExecutor(), point_fn=FAKE, progress=False, retry_failed=True)
    assert (out.ran, out.ok) == (3, 3)
    assert all(r.status == "ok" for r in ResultStore(tmp_path).latest().values())


def test_calibration_is_built_once_per_bit_width_pair(tmp_path, monkeypatch):
    log = tmp_path / "builds.txt"
    monkeypatch.setenv("ACCELSIM_TEST_BUILD_LOG", str(log))
    run_sweep(_sweep(n_bits=(4, 6, 8)), tmp_path / "r", SerialExecutor(), point_fn=FAKE, progress=False)
    assert sorted(log.read_text().split()) == ["4,8", "6,8", "8,8"]


def test_points_are_dealt_round_robin_over_calibration_groups():
    order = deal_by_group(_sweep(n_bits=(4, 6)).points)
    assert [(p.config.quant.weight_bits, p.config.hardware.array.rows) for p in order] == [
        (4, 16), (6, 16), (4, 32), (6, 32), (4, 64), (6, 64)]


def test_local_processes_give_the_same_numbers_as_serial(tmp_path):
    run_sweep(_sweep(), tmp_path / "a", SerialExecutor(), point_fn=FAKE, progress=False)
    run_sweep(_sweep(), tmp_path / "b", LocalExecutor(2), point_fn=FAKE, progress=False)
    a, b = _by_point(tmp_path / "a"), _by_point(tmp_path / "b")
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].key == b[k].key and a[k].result == b[k].result


def test_unimportable_point_function_fails_before_running(tmp_path):
    with pytest.raises(ConfigError, match=r"point function 'no_such_mod:f': cannot import module 'no_such_mod'"):
        run_sweep(_sweep(), tmp_path, SerialExecutor(), point_fn="no_such_mod:f", progress=False)
    assert not (tmp_path / "results.jsonl").exists()


def test_cli_sweep_dry_run_and_bad_axis(tmp_path, capsys):
    sw = tmp_path / "s.yaml"
    sw.write_text("axes:\n  quant.weight_bits: [4, 8]\n")
    assert main(["sweep", str(sw), "--dry-run"]) == 0
    assert "2 points, all valid" in capsys.readouterr().out
    sw.write_text("axes:\n  quant.weight_bit: [4, 8]\n")
    assert main(["sweep", str(sw), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "s.yaml: axes: 'quant.weight_bit': unknown key 'weight_bit' in quant" in err
    assert len(err.strip().splitlines()) == 1


def _records(path):
    lines = path.read_text().splitlines() if path.exists() else []
    return [json.loads(x) for x in lines]


def test_sigkill_mid_sweep_loses_nothing_and_resume_completes(tmp_path):
    sw = tmp_path / "s.yaml"
    sw.write_text("name: kill\naxes:\n  - {quant.weight_bits: [4, 5, 6, 7, 8]}\n"
                  "  - {hardware.array.rows: [16, 32, 64], hardware.array.cols: [16, 32, 64]}\n")
    results = tmp_path / "r"
    env = dict(os.environ, PYTHONPATH=str(REPO), ACCELSIM_TEST_POINT_SLEEP_S="0.2")
    cmd = [sys.executable, "-m", "accelsim", "sweep", str(sw), "--results", str(results), "--workers", "2",
           "--no-progress", "--point-fn", "tests.sweep.points:slow_point"]
    seen_before_kill = []
    for kill_after in (3, 8):  # kill twice, at different depths
        proc = subprocess.Popen(cmd, env=env, cwd=REPO, start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 60
            while len(_records(results / "results.jsonl")) < kill_after and time.monotonic() < deadline:
                if proc.poll() is not None:
                    pytest.fail(f"sweep ended early: {proc.stderr.read().decode()}")
                time.sleep(0.02)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
        finally:
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # the orphaned workers of this session
            except ProcessLookupError:
                pass
            proc.stderr.close()
        text = (results / "results.jsonl").read_bytes()
        recs = [r.to_json() for r in ResultStore(results).records()]
        keys = [r["key"] for r in recs]
        assert len(keys) == len(set(keys)), "duplicate points after SIGKILL"
        assert keys[: len(seen_before_kill)] == seen_before_kill, "a finished point was lost"
        assert len(keys) < 15, f"sweep finished before the kill ({len(keys)} points, {len(text)} bytes)"
        seen_before_kill = keys
    done = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"{len(seen_before_kill)} already stored" in done.stdout
    recs = _records(results / "results.jsonl")
    keys = [r["key"] for r in recs]
    assert len(keys) == 15 and len(set(keys)) == 15
    assert keys[: len(seen_before_kill)] == seen_before_kill
    got = {(r["config"]["quant"]["weight_bits"], r["config"]["hardware"]["array"]["rows"]) for r in recs}
    assert got == {(w, r) for w in (4, 5, 6, 7, 8) for r in (16, 32, 64)}
    assert all(r["status"] == "ok" for r in recs)


def test_warnings_of_a_point_are_kept_in_its_record_once(tmp_path):
    sw = sweep_from_dict({"name": "w", "axes": {"quant.act_bits": [8, 16]}})
    out = run_sweep(sw, tmp_path, SerialExecutor(), point_fn=FAKE, progress=False)
    assert (out.ok, out.warned) == (2, 1)
    recs = {r.config["quant"]["act_bits"]: r for r in ResultStore(tmp_path).records()}
    assert recs[16].warnings == ("UserWarning: layer 'conv0': accumulator may overflow",)
    assert recs[8].warnings == ()
