"""What every command shares: the bundled model works everywhere, errors print their prefix once."""

import json

import pytest

from accelsim.cli import main
from accelsim.layers import read_network


def test_quantize_and_evaluate_take_the_bundled_data_like_run(tmp_path, capsys):
    assert main(["quantize", "bundled", "-o", str(tmp_path / "d"), "-q", "--batch", "16"]) == 0
    net = read_network(tmp_path / "d")
    assert net.quantized and net.meta["calib_images"] == 16 and net.meta["data"].endswith("calib_512.npz")
    assert main(["evaluate", "bundled", "--descriptors", str(tmp_path / "d"), "--limit", "40", "-q",
                 "--json", str(tmp_path / "e.json")]) == 0
    res = json.loads((tmp_path / "e.json").read_text())
    assert res["samples"] == 40 and res["meta"]["data"].endswith("test_2000.npz")
    assert 0.0 <= res["quant_top1"] <= 1.0


@pytest.mark.parametrize("argv", [
    ["evaluate", "nope.onnx"],
    ["evaluate", "bundled", "--eval-batch", "0"],
    ["quantize", "nope.onnx", "-o", "x"],
    ["quantize", "bundled", "--bits", "4", "--act-bits", "8", "-o", "x"],
    ["simulate", "--topology", "resnet19"],
    ["run", "--set", "quant.weight_bits=40"],
    ["report", "nowhere"],
    ["sweep", "nowhere.yaml"],
])
def test_every_command_error_is_one_line_with_its_prefix_once(argv, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    prefix = f"accelsim {argv[0]}: error: "
    assert err[0].startswith(prefix) and err[0].count(": error:") == 1, err[0]
    assert not err[0][len(prefix):].startswith(f"accelsim {argv[0]}:"), err[0]


@pytest.mark.parametrize("command, args", [
    ("run", []), ("simulate", []), ("quantize", ["m.onnx", "-o", "d"]), ("evaluate", ["m.onnx"]),
    ("sweep", ["s.yaml"]), ("report", ["r"]), ("sensitivity", ["c.yaml"]),
    ("search", ["c.yaml", "--max-accuracy-drop", "0.5"]),
])
def test_unknown_flag_is_named_by_the_command_it_was_given_to(command, args, capsys):
    with pytest.raises(SystemExit) as exc:
        main([command, *args, "--bogus-flag"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0].startswith(f"usage: accelsim {command} ")
    assert err[-1] == f"accelsim {command}: error: unrecognized arguments: --bogus-flag"


def test_simulate_on_a_topology_imports_neither_numba_nor_scipy_nor_pydantic(tmp_path):
    import subprocess
    import sys

    # heavy libraries, pydantic (a plainly valid config is read by accelsim.config.plain), and accelsim
    # modules of stages a simulate does not run (energy tables, the sweep's executors, reports, the ONNX
    # importer, the integer datapath). numpy stays: the hardware model's traffic and tiling are array code.
    unwanted = ("numba", "scipy", "matplotlib", "onnx", "pydantic", "accelsim.config.run", "accelsim.energy.table",
                "accelsim.sweep.executor", "accelsim.report", "accelsim.graph", "accelsim.datapath", "accelsim.quant",
                "accelsim.layers.io")
    code = ("import sys; from accelsim.cli import main; "
            "rc = main(['simulate', '--topology', 'resnet18', '--array', '32x32', '-o', '-', '-q']); "
            f"print(rc, sorted(m for m in {unwanted!r} if m in sys.modules), 'accelsim.hw.sim' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, check=True)
    assert out.stdout.strip().splitlines()[-1] == "0 [] True", out.stdout + out.stderr


def test_top_level_help_and_an_unknown_command_still_list_every_command(capsys):
    from accelsim.cli import COMMANDS

    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    listed = capsys.readouterr().out
    assert all(f"    {name} " in listed or f"    {name}\n" in listed for name in COMMANDS), listed
    with pytest.raises(SystemExit) as exc:
        main(["simulat"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'simulat'" in err and all(repr(name) in err for name in COMMANDS), err
