"""The calibration/accuracy cache (accelsim.sweep.cache)."""

import json
import multiprocessing
from pathlib import Path

import numpy as np

from accelsim.layers import Network, read_network
from accelsim.sweep.cache import ResultCache


def test_json_builder_runs_once_and_hits_return_equal_values(tmp_path):
    cache = ResultCache(tmp_path)
    calls = []
    key = ResultCache.key("x", 1)

    def build():
        calls.append(1)
        return {"top1": 0.875, "n": 3}

    assert cache.json(key, build) == {"top1": 0.875, "n": 3}
    assert ResultCache(tmp_path).json(key, build) == {"top1": 0.875, "n": 3}
    assert len(calls) == 1
    assert list((tmp_path / "json").iterdir()) == [tmp_path / "json" / f"{key}.json"]


def _build_in_process(args):
    directory, log = args
    cache = ResultCache(directory)

    def build():
        with open(log, "a") as fh:
            fh.write("built\n")
        return {"v": 42}

    return cache.json(ResultCache.key("shared"), build)


def test_concurrent_processes_build_a_key_once(tmp_path):
    log = tmp_path / "log.txt"
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        out = pool.map(_build_in_process, [(str(tmp_path / "c"), str(log))] * 4)
    assert out == [{"v": 42}] * 4
    assert log.read_text().count("built") == 1
    assert not [p for p in Path(tmp_path / "c" / "json").iterdir() if p.name.endswith(".tmp")]


def test_quantized_network_round_trips_through_descriptor_files(tmp_path):
    net = Network(name="n", layers=(), inputs=("x",), outputs=("x",),
                  tensors={"w": np.arange(6, dtype=np.int8).reshape(2, 3)})
    cache = ResultCache(tmp_path)
    key = ResultCache.key("q")
    got = cache.quantized(key, lambda: net)
    again = ResultCache(tmp_path).quantized(key, lambda: (_ for _ in ()).throw(AssertionError("rebuilt")))
    for n in (got, again):
        assert n.name == "n"
        np.testing.assert_array_equal(n.tensors["w"], np.arange(6, dtype=np.int8).reshape(2, 3))
    assert read_network(tmp_path / "quantized" / key).name == "n"
    json.loads((tmp_path / "quantized" / key / "descriptors.json").read_text())


def test_a_network_read_once_is_kept_in_the_process(tmp_path):
    net = Network(name="kept", layers=(), inputs=("x",), outputs=("x",), tensors={"w": np.ones(3, np.int8)})
    key = ResultCache.key("kept")
    ResultCache(tmp_path).put_quantized(key, net)
    first = ResultCache(tmp_path).get_quantized(key)
    (tmp_path / "quantized" / key / "descriptors.json").unlink()  # a second read would now miss
    assert ResultCache(tmp_path).get_quantized(key) is first
    assert ResultCache(tmp_path / "other").get_quantized(key) is None  # kept per cache folder


def test_a_cached_none_is_a_hit(tmp_path):
    calls = []
    key = ResultCache.key("none")

    def build():
        calls.append(1)
        return None

    assert ResultCache(tmp_path).json(key, build) is None
    assert ResultCache(tmp_path).json(key, build) is None
    assert len(calls) == 1


def test_clean_temporaries_removes_only_half_written_values(tmp_path):
    cache = ResultCache(tmp_path)
    key = ResultCache.key("keep")
    cache.put_json(key, {"v": 1})
    (tmp_path / "json" / ".x.123.tmp").write_text("half")
    (tmp_path / "quantized").mkdir()
    (tmp_path / "quantized" / ".y.456.tmp").mkdir()
    assert cache.clean_temporaries() == 2
    assert sorted(p.name for p in (tmp_path / "json").iterdir()) == [f"{key}.json"]
    assert list((tmp_path / "quantized").iterdir()) == []
