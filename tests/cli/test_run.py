"""`accelsim run` as a user calls it: outputs, overrides and one-line errors."""

import json
import subprocess
import sys

import pytest

from accelsim.cli import main


def _cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "accelsim", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


def test_run_topology_with_overrides_and_trace(tmp_path, capsys):
    trace = tmp_path / "t.json"
    code = main(["run", "--no-progress", "--set", "workload.model=null", "--set", "workload.topology={zoo: mobilenet_v1}",
                 "--set", "hardware.array={rows: 16, cols: 16}", "-o", str(tmp_path / "o"), "--trace", str(trace)])
    assert code == 0
    out = capsys.readouterr().out
    assert "inferences/s" in out and "µJ" in out and "mW" in out and "TOPS/W" in out
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["array_rows"] == 16 and summary["workload"] == "topology:mobilenet_v1"
    events = json.loads(trace.read_text())
    events = events["traceEvents"] if isinstance(events, dict) else events
    assert any(e.get("ph") == "X" for e in events)


@pytest.mark.parametrize("args, message", [
    (["run", "missing.yaml"], r"missing.yaml: file not found \(give a YAML file, or a shipped config by name: "
                              r"bitfusion, .*default, .*lowbit"),
    (["run", "--set", "hardware.array.rows=0"], r"hardware.array.rows: Input should be greater than or equal to 1"),
    (["run", "--set", "rows"], r"--set 'rows': expected KEY=VALUE"),
    (["run", "--set", "energy.technology=3nm"], r"technology '3nm' has no shipped energy table \(available: "),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, message):
    res = _cli(*args, cwd=tmp_path)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in res.stderr
    import re
    assert re.search(message, lines[0]), lines[0]


def test_shipped_configs_are_found_by_name_from_any_folder(tmp_path):
    """The docs' commands (``configs/x.yaml``) work outside the checkout; a local file still wins."""
    from accelsim.config.run import configs_dir, load_config, locate_config
    from accelsim.sweep.spec import load_sweep

    shipped = configs_dir() / "bitfusion.yaml"
    import os
    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        for name in ("configs/bitfusion.yaml", "bitfusion", "bitfusion.yaml"):
            assert locate_config(name) == shipped
        assert load_config("bitfusion") == load_config(shipped)
        assert len(load_sweep("sweeps/bitwidths").points) == len(load_sweep(configs_dir() / "sweeps" / "bitwidths.yaml").points)
        (tmp_path / "bitfusion.yaml").write_text("name: mine\n")
        assert locate_config("bitfusion.yaml").resolve() == tmp_path / "bitfusion.yaml"
        assert load_config("bitfusion.yaml").name == "mine"
    finally:
        os.chdir(old)
