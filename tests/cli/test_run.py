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
    (["run", "missing.yaml"], r"missing.yaml: file not found"),
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
