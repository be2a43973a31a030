"""The append-only results store (accelsim.sweep.store)."""

import hashlib
import json

import pytest

from accelsim.config.run import config_from_dict
from accelsim.errors import ConfigError, InputFileError, SchemaVersionError
from accelsim.sweep.store import ResultStore, make_record, point_key


def _rec(key, status="ok", index=0, result=None, error=None):
    return make_record(key=key, index=index, sweep="t", overrides={"a": index}, config={"c": index},
                       outcome={"status": status, "result": result, "error": error, "elapsed_s": 0.5})


def test_point_key_is_sha256_of_canonical_config_json():
    cfg = config_from_dict({"quant": {"weight_bits": 4}})
    dump = cfg.model_dump(mode="json")
    text = json.dumps({"store_schema": 1, "config": dump}, sort_keys=True, separators=(",", ":"))
    assert point_key(cfg) == hashlib.sha256(text.encode()).hexdigest()
    assert point_key(cfg) == point_key(config_from_dict({"quant": {"weight_bits": 4}}))
    assert point_key(cfg) != point_key(config_from_dict({"quant": {"weight_bits": 5}}))
    assert point_key(cfg) != point_key(config_from_dict({"quant": {"weight_bits": 4}, "name": "x"}))


def test_append_then_reopen_reads_every_record(tmp_path):
    with ResultStore(tmp_path / "r").open("t") as st:
        st.append(_rec("aa", result={"x": 1.5}))
        st.append(_rec("bb", status="error", index=1, error="ValueError: no"))
    recs = ResultStore(tmp_path / "r").records()
    assert [(r.key, r.status, r.result, r.error) for r in recs] == [
        ("aa", "ok", {"x": 1.5}, None), ("bb", "error", None, "ValueError: no")]
    lines = (tmp_path / "r" / "results.jsonl").read_text().splitlines()
    assert len(lines) == 2 and json.loads(lines[0])["key"] == "aa"


def test_nan_is_stored_as_null_and_lines_are_strict_json(tmp_path):
    with ResultStore(tmp_path).open() as st:
        st.append(_rec("aa", result={"x": float("nan"), "y": [float("inf"), 1.0]}))
    line = (tmp_path / "results.jsonl").read_text()
    assert json.loads(line, parse_constant=lambda c: pytest.fail(c))["result"] == {"x": None, "y": [None, 1.0]}


def test_torn_last_line_is_dropped_and_truncated_on_reopen(tmp_path):
    with ResultStore(tmp_path).open() as st:
        st.append(_rec("aa"))
    with open(tmp_path / "results.jsonl", "ab") as fh:
        fh.write(b'{"key": "bb", "status": "o')  # a write cut short by SIGKILL
    assert [r.key for r in ResultStore(tmp_path).records()] == ["aa"]
    with ResultStore(tmp_path).open() as st:
        st.append(_rec("cc"))
    text = (tmp_path / "results.jsonl").read_text()
    assert [json.loads(x)["key"] for x in text.splitlines()] == ["aa", "cc"]


def test_latest_record_per_key_wins(tmp_path):
    with ResultStore(tmp_path).open() as st:
        st.append(_rec("aa", status="error", error="E: x"))
        st.append(_rec("aa", result={"v": 2}))
    latest = ResultStore(tmp_path).latest()
    assert list(latest) == ["aa"] and latest["aa"].status == "ok"


def test_store_of_another_schema_version_is_refused(tmp_path):
    ResultStore(tmp_path).open().close()
    meta = json.loads((tmp_path / "store.json").read_text())
    meta["schema_version"] = 99
    (tmp_path / "store.json").write_text(json.dumps(meta))
    with pytest.raises(SchemaVersionError, match=r"store\.json: results store schema_version 99 .* reads version 1"):
        ResultStore(tmp_path).open()
    with pytest.raises(SchemaVersionError):
        ResultStore(tmp_path).records()


def test_non_store_folder_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(InputFileError, match=r"not empty and holds no store\.json"):
        ResultStore(tmp_path).open()
    with pytest.raises(InputFileError, match=r"not an accelsim results store"):
        ResultStore(tmp_path).records()


def test_corrupt_middle_line_is_an_error_naming_the_line(tmp_path):
    with ResultStore(tmp_path).open() as st:
        st.append(_rec("aa"))
    with open(tmp_path / "results.jsonl", "ab") as fh:
        fh.write(b"garbage\n")
    with ResultStore(tmp_path).open() as st:
        pass  # a corrupt *last* line is a torn write: dropped
    with open(tmp_path / "results.jsonl", "ab") as fh:
        fh.write(b"garbage\n")
        fh.write(json.dumps(_rec("bb").to_json()).encode() + b"\n")
    with pytest.raises(InputFileError, match=r"results\.jsonl:2: corrupt record"):
        ResultStore(tmp_path).records()


def test_second_writer_is_refused_while_first_holds_the_lock(tmp_path):
    first = ResultStore(tmp_path).open()
    try:
        with pytest.raises(ConfigError, match="another sweep is writing this results folder"):
            ResultStore(tmp_path).open()
    finally:
        first.close()
    ResultStore(tmp_path).open().close()
