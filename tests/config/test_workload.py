"""``workload:`` (accelsim.config.workload): topology forms, the deprecated string form, resolution."""

import warnings

import pytest

from accelsim.config.run import config_from_dict, load_config
from accelsim.config.workload import topology_from_text
from accelsim.errors import ConfigError


@pytest.mark.parametrize("text, expected", [
    ("resnet18", {"zoo": "resnet18"}), ("MobileNet-V1", {"zoo": "MobileNet-V1"}),
    ("nets/r18.csv", {"csv": "nets/r18.csv"}), ("R18.CSV", {"csv": "R18.CSV"}), ("a/b", {"csv": "a/b"}),
])
def test_one_rule_tells_a_csv_path_from_a_zoo_name(text, expected):
    assert topology_from_text(text) == expected


def test_an_existing_file_is_a_csv_whatever_its_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "resnet18").write_text("")
    assert topology_from_text("resnet18") == {"csv": "resnet18"}


def test_mapping_form_reads_without_warning_and_csv_is_relative_to_the_config_file(tmp_path):
    (tmp_path / "sub").mkdir()
    cfg_path = tmp_path / "sub" / "c.yaml"
    cfg_path.write_text("workload: {topology: {csv: nets/t.csv}}\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cfg = load_config(cfg_path)
        assert config_from_dict({"workload": {"topology": {"zoo": "alexnet"}}}).workload.topology.zoo == "alexnet"
    assert cfg.workload.topology.csv == str(tmp_path / "sub" / "nets" / "t.csv")
    assert cfg.workload.topology.label == "t.csv"


def test_string_form_still_reads_with_a_future_warning_naming_the_new_form(tmp_path):
    cfg_path = tmp_path / "c.yaml"
    cfg_path.write_text("workload: {topology: t.csv}\n")
    with pytest.warns(FutureWarning, match=r"workload.topology: a plain string is deprecated; write \{csv: t.csv\}"):
        cfg = load_config(cfg_path)
    assert cfg.workload.topology.csv == str(tmp_path / "t.csv")
    with pytest.warns(FutureWarning, match=r"write \{zoo: resnet18\}"):
        assert config_from_dict({"workload": {"topology": "resnet18"}}).workload.topology.zoo == "resnet18"


def test_zoo_and_csv_together_or_neither_is_an_error():
    with pytest.raises(ConfigError, match=r"workload.topology: .*exactly one of 'zoo'"):
        config_from_dict({"workload": {"topology": {"zoo": "alexnet", "csv": "a.csv"}}})
    with pytest.raises(ConfigError, match=r"workload.topology: .*exactly one of 'zoo'"):
        config_from_dict({"workload": {"topology": {}}})


def test_bundled_model_takes_the_bundled_data_sets_unless_given():
    cfg = load_config(None, overrides={"data.test.limit": 5})
    assert cfg.data.calib.path == "bundled" and cfg.data.test.path == "bundled" and cfg.data.test.limit == 5
    user = config_from_dict({"workload": {"model": "/m.onnx"}})
    assert user.data.calib is None and user.data.test is None
    topo = config_from_dict({"workload": {"topology": {"zoo": "alexnet"}}})
    assert topo.data.calib is None
