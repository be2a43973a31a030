"""Sweep file expansion and validation (accelsim.sweep.spec)."""

import pytest

from accelsim.config.run import configs_dir
from accelsim.errors import ConfigError
from accelsim.sweep.spec import check_axis_key, load_sweep, sweep_from_dict


def test_product_expands_every_combination_last_axis_fastest():
    sw = sweep_from_dict({"axes": {"quant.weight_bits": [4, 8], "hardware.array.rows": [16, 32, 64]}})
    got = [(p.config.quant.weight_bits, p.config.hardware.array.rows) for p in sw.points]
    assert got == [(4, 16), (4, 32), (4, 64), (8, 16), (8, 32), (8, 64)]
    assert [p.index for p in sw.points] == list(range(6))
    assert sw.points[4].overrides == {"quant.weight_bits": 8, "hardware.array.rows": 32}


def test_zip_mode_pairs_values():
    sw = sweep_from_dict({"mode": "zip", "axes": {"hardware.array.rows": [8, 16], "hardware.array.cols": [8, 16]}})
    assert [(p.config.hardware.array.rows, p.config.hardware.array.cols) for p in sw.points] == [(8, 8), (16, 16)]


def test_groups_zip_inside_product_across():
    sw = sweep_from_dict({"axes": [
        {"quant.weight_bits": [4, 8]},
        {"hardware.array.rows": [16, 32], "hardware.array.cols": [16, 32]},
    ]})
    got = [(p.config.quant.weight_bits, p.config.hardware.array.rows, p.config.hardware.array.cols)
           for p in sw.points]
    assert got == [(4, 16, 16), (4, 32, 32), (8, 16, 16), (8, 32, 32)]


def test_inline_base_values_kept_and_axes_override(tmp_path):
    sw = sweep_from_dict({"base": {"hardware": {"clock_hz": 1e9}, "quant": {"act_bits": 6}},
                          "axes": {"quant.weight_bits": [5]}}, base_dir=tmp_path)
    cfg = sw.points[0].config
    assert (cfg.hardware.clock_hz, cfg.quant.act_bits, cfg.quant.weight_bits) == (1e9, 6, 5)


def test_base_path_relative_to_sweep_file(tmp_path):
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "base.yaml").write_text("name: b\nhardware: {clock_hz: 5.0e+8}\n")
    (tmp_path / "s.yaml").write_text("base: cfg/base.yaml\naxes: {quant.act_bits: [4, 16]}\n")
    sw = load_sweep(tmp_path / "s.yaml")
    assert sw.name == "s"
    assert [p.config.quant.act_bits for p in sw.points] == [4, 16]
    assert all(p.config.hardware.clock_hz == 5e8 and p.config.name == "b" for p in sw.points)


def test_dict_of_models_axis_key_accepts_free_name():
    check_axis_key("quant.layers.conv1.weight_bits", "s.yaml")
    sw = sweep_from_dict({"axes": {"quant.layers.conv1.weight_bits": [4, 6]}})
    assert [p.config.quant.layers["conv1"].weight_bits for p in sw.points] == [4, 6]


@pytest.mark.parametrize("data, match", [
    ({"axes": {"quant.wieght_bits": [4]}}, r"s\.yaml: axes: 'quant\.wieght_bits': unknown key 'wieght_bits' in quant \(valid keys: weight_bits"),
    ({"axes": {"hardwre.array.rows": [4]}}, r"s\.yaml: axes: 'hardwre\.array\.rows': unknown key 'hardwre' in the run config"),
    ({"axes": {"quant.weight_bits.x": [4]}}, r"s\.yaml: axes: 'quant\.weight_bits\.x': quant\.weight_bits is a value"),
    ({"axes": {"quant.weight_bits": []}}, r"s\.yaml: axes: 'quant\.weight_bits': empty list"),
    ({"axes": {"quant.weight_bits": 4}}, r"s\.yaml: axes: 'quant\.weight_bits': expected a list"),
    ({"axes": {}}, r"s\.yaml: axes: no axes given"),
    ({"mode": "zip", "axes": {"quant.weight_bits": [4, 8], "quant.act_bits": [4]}},
     r"s\.yaml: axes: zipped axes must have equal lengths \(quant\.weight_bits has 2, quant\.act_bits has 1\)"),
    ({"mode": "cross", "axes": {"quant.weight_bits": [4]}}, r"s\.yaml: mode: 'cross' is not valid"),
    ({"axis": {"quant.weight_bits": [4]}}, r"s\.yaml: unknown key 'axis' \(valid keys: name, base, axes, mode\)"),
    ({"name": "x"}, r"s\.yaml: required key 'axes' is missing"),
    ({"axes": [{"quant.weight_bits": [4]}, {"quant.weight_bits": [8]}]}, r"appears in more than one group"),
    ({"axes": {"quant.weight_bits": [4, 99]}},
     r"s\.yaml: point 1 \(quant\.weight_bits=99\): quant\.weight_bits: .*less than or equal to 16"),
    ({"base": {"quant": {"bits": 3}}, "axes": {"quant.weight_bits": [4]}}, r"s\.yaml: base: quant\.bits: unknown key"),
    ({"base": "nowhere.yaml", "axes": {"quant.weight_bits": [4]}}, r"s\.yaml: base: run config .*nowhere\.yaml' not found"),
])
def test_bad_sweeps_fail_before_running_with_one_line(data, match, tmp_path):
    with pytest.raises(ConfigError, match=match) as info:
        sweep_from_dict(data, source="s.yaml", base_dir=tmp_path)
    assert "\n" not in str(info.value)


def test_shipped_bitwidth_sweep_has_48_points_rows_equal_cols():
    sw = load_sweep(configs_dir() / "sweeps" / "bitwidths.yaml")
    assert len(sw.points) == 48
    combos = {(p.config.quant.weight_bits, p.config.quant.act_bits, p.config.hardware.array.rows)
              for p in sw.points}
    assert combos == {(w, a, r) for w in (4, 6, 8, 16) for a in (4, 6, 8, 16) for r in (16, 32, 64)}
    assert all(p.config.hardware.array.rows == p.config.hardware.array.cols for p in sw.points)
