"""The YAML loader and one-line config errors."""

import pytest

from accelsim.config.base import load_yaml, load_yaml_text
from accelsim.config.run import config_from_dict, load_config
from accelsim.errors import ConfigError


def test_duplicate_key_is_refused_with_line():
    with pytest.raises(ConfigError, match=r"^cfg.yaml:3: invalid YAML: duplicate key 'rows'$"):
        load_yaml_text("array:\n  rows: 4\n  rows: 8\n", source="cfg.yaml")


def test_unsafe_tags_are_refused():
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_yaml_text("x: !!python/object/apply:os.system ['true']\n", source="evil.yaml")


def test_missing_file_names_it(tmp_path):
    with pytest.raises(ConfigError, match=r"nope.yaml: file not found"):
        load_yaml(tmp_path / "nope.yaml")


def test_every_problem_in_one_line_with_key_paths(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("hardware:\n  array: {rows: 0, colz: 4}\n  dataflow: xs\nquant:\n  weight_bits: 1\n")
    with pytest.raises(ConfigError) as info:
        load_config(p)
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith(str(p))
    for part in ("hardware.array.rows: Input should be greater than or equal to 1 (got 0)",
                 "hardware.array.colz: unknown key (valid keys: rows, cols",
                 "hardware.dataflow: Input should be 'os', 'ws' or 'is' (got 'xs')",
                 "quant.weight_bits: Input should be greater than or equal to 2 (got 1)"):
        assert part in msg


def test_unknown_key_under_optional_and_mapping_sections_lists_valid_keys():
    with pytest.raises(ConfigError, match=r"data.test.preprocess.colour: unknown key \(valid keys: resize, "):
        config_from_dict({"data": {"test": {"path": "x.npz", "preprocess": {"colour": 1}}}})
    with pytest.raises(ConfigError, match=r"quant.layers.c1.bitz: unknown key \(valid keys: weight_bits, "):
        config_from_dict({"quant": {"layers": {"c1": {"bitz": 3}}}})


def test_top_level_must_be_a_mapping(tmp_path):
    p = tmp_path / "list.yaml"
    p.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="expected a mapping of sections at the top level, got list"):
        load_config(p)


def test_paths_resolve_against_the_config_folder(tmp_path):
    sub = tmp_path / "cfgs"
    sub.mkdir()
    p = sub / "run.yaml"
    p.write_text("workload: {model: ../models/m.onnx}\ndata:\n  calib: {path: calib.npz}\noutput_dir: out/r\n")
    cfg = load_config(p)
    assert cfg.workload.model == str((tmp_path / "models" / "m.onnx").resolve())
    assert cfg.data.calib.path == str((sub / "calib.npz").resolve())
    assert cfg.output_dir == str((sub / "out" / "r").resolve())  # as the docs say: every path in the file


def test_overrides_apply_before_validation():
    cfg = load_config(overrides={"hardware.array.rows": 16, "quant.weight_bits": 4})
    assert cfg.hardware.array.rows == 16 and cfg.quant.weight_bits == 4
    with pytest.raises(ConfigError, match="model' or 'topology', not both"):
        load_config(overrides={"workload.topology": {"zoo": "resnet18"}})


def test_every_shipped_yaml_reads_as_pyyaml_pure_python_reads_it():
    # load_yaml parses with libyaml when PyYAML has it; PyYAML's pure-Python SafeLoader is the reference
    from pathlib import Path

    import yaml

    import accelsim

    files = sorted(Path(accelsim.__file__).parent.joinpath("configs").rglob("*.yaml"))
    assert len(files) >= 10
    for f in files:
        assert load_yaml(f) == yaml.load(f.read_text(encoding="utf-8"), Loader=yaml.SafeLoader), f  # noqa: S506


def test_syntax_errors_keep_pyyaml_messages():
    with pytest.raises(ConfigError, match=r"^t.yaml:2: invalid YAML: found character '\\t' that cannot start any token$"):
        load_yaml_text("a:\n\t- 1\n", source="t.yaml")
    with pytest.raises(ConfigError, match=r"^t.yaml:1: invalid YAML: mapping values are not allowed here$"):
        load_yaml_text("a: b: c\n", source="t.yaml")
