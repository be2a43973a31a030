"""``accelsim simulate``: overrides, outputs, and one-line errors with exit code 2."""

from __future__ import annotations

import csv
import json

import pytest

from accelsim.cli import main


def test_simulate_writes_json_and_csv(tmp_path, capsys):
    js, cs = tmp_path / "r.json", tmp_path / "r.csv"
    code = main(["simulate", "--topology", "resnet18", "--array", "16x8", "--dataflow", "ws", "--convention",
                 "scalesim", "--stall-free", "--json", str(js), "--csv", str(cs), "--out", str(tmp_path / "o")])
    assert code == 0
    out = capsys.readouterr().out
    assert "compute cyc" in out and "inferences/s" in out and "TOPS" in out
    data = json.loads(js.read_text())
    assert (data["meta"]["array_rows"], data["meta"]["array_cols"], data["meta"]["dataflow"]) == (16, 8, "ws")
    layers = data["layers"]
    assert sum(r["total_cycles"] for r in layers) == data["total"]["total_cycles"]
    assert all(r["stall_cycles"] == 0 for r in layers)
    conv1 = layers[0]  # 7x7/2 conv, 3->64 channels, 112x112 out: ws (Sr, Sc, T) = (147, 64, 12544)
    assert conv1["compute_cycles"] == 10 * 8 * (12544 + 2 * 16 + 8 - 2) - 1
    rows = list(csv.DictReader(cs.open()))
    assert rows[-1]["name"] == "total" and int(rows[-1]["total_cycles"]) == data["total"]["total_cycles"]
    assert (tmp_path / "o" / "simulate.json").is_file() and (tmp_path / "o" / "simulate.csv").is_file()


@pytest.mark.parametrize("argv,match", [
    (["--array", "32by32"], r"--array '32by32': expected ROWSxCOLS"),
    (["--array", "0x4"], r"--array '0x4': expected ROWSxCOLS with positive integers"),
    (["--topology", "resnet19"], r"unknown topology: 'resnet19'"),
    (["--topology", "no/such.csv"], r"topology file not found"),
    (["--bandwidth", "0"], r"hardware.dram.bandwidth_bytes_per_cycle: Input should be greater than 0"),
    (["resnet18"], r"resnet18: a zoo topology, not a config file: accelsim simulate --topology resnet18"),
])
def test_bad_input_is_one_line_and_exit_2(argv, match, capsys):
    code = main(["simulate", "-o", "-", *argv])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1
    import re
    assert re.search(match, err), err


def test_onnx_config_says_topology_needed(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("name: x\nworkload: {model: bundled}\n")
    assert main(["simulate", str(cfg), "-o", "-"]) == 2
    assert "simulate needs a topology for now" in capsys.readouterr().err


def test_unknown_dataflow_rejected_by_argparse(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["simulate", "--dataflow", "rs"])
    assert exc.value.code == 2


def test_sram_smaller_than_one_tile_from_a_config(tmp_path, capsys):
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text("name: tiny\nworkload: {topology: {zoo: resnet18}}\n"
                   "hardware: {array: {rows: 64, cols: 64}, dataflow: ws, buffers: {weight_kb: 4}}\n")
    assert main(["simulate", str(cfg), "-o", "-"]) == 2
    err = capsys.readouterr().err
    assert "hardware.buffers.weight_kb: layer 'conv1' needs at least 8 KiB" in err and "configured 4 KiB" in err


def test_bad_config_key_names_file_and_path(tmp_path, capsys):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("workload: {topology: {zoo: resnet18}}\nhardware: {array: {rows: 0}, dataflow: rs}\n")
    assert main(["simulate", str(cfg), "-o", "-"]) == 2
    err = capsys.readouterr().err
    assert "bad.yaml" in err and "hardware.array.rows" in err and "hardware.dataflow" in err
