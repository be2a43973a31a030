"""Sensitivity and mixed-precision search on a tiny ONNX model (labels: the float model's argmax
from onnxruntime, so float top-1 is 100 % and every loss is the quantization's)."""

import json

import numpy as np
import pytest
import yaml

from accelsim.cli import main
from accelsim.config.run import load_config
from accelsim.errors import ConfigError
from accelsim.sweep.executor import SerialExecutor
from accelsim.sweep.search import (Knob, assignment_config, greedy_chain, knobs_of, parse_widths, search,
                                   sensitivity, uniform_config)

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    d = tmp_path_factory.mktemp("search")
    rng = np.random.default_rng(0)
    w1 = rng.normal(0, 0.4, (6, 1, 3, 3)).astype(np.float32)
    b1 = rng.normal(0, 0.1, 6).astype(np.float32)
    w2 = rng.normal(0, 0.3, (5, 96)).astype(np.float32)
    b2 = rng.normal(0, 0.1, 5).astype(np.float32)
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c"], pads=[1, 1, 1, 1], kernel_shape=[3, 3], name="conv"),
        helper.make_node("Relu", ["c"], ["r"], name="relu"),
        helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2], name="pool"),
        helper.make_node("Flatten", ["p"], ["f"], axis=1, name="flat"),
        helper.make_node("Gemm", ["f", "w2", "b2"], ["y"], transB=1, name="fc"),
    ]
    g = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 8, 8])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 5])],
                          [numpy_helper.from_array(a, n) for a, n in ((w1, "w1"), (b1, "b1"), (w2, "w2"), (b2, "b2"))])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.save(m, str(d / "tiny.onnx"))
    x = rng.normal(0, 1, (160, 1, 8, 8)).astype(np.float32)
    labels = ort.InferenceSession(str(d / "tiny.onnx"), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    np.savez(d / "test.npz", x=x[32:], labels=labels.argmax(1)[32:])
    np.savez(d / "calib.npz", x=x[:32])
    cfg = {"name": "tiny", "workload": {"model": str(d / "tiny.onnx")},
           "data": {"calib": {"path": str(d / "calib.npz")}, "test": {"path": str(d / "test.npz")}},
           "quant": {"method": "mse", "unsigned_activations": True, "calib_batch": 32},
           "hardware": {"array": {"rows": 8, "cols": 8}, "pe": {"precision_scalable": True}}}
    (d / "tiny.yaml").write_text(yaml.safe_dump(cfg))
    return d


def test_knobs_and_assignment_reach_the_descriptors(tiny):
    from accelsim.quant.lower import lower
    from accelsim.sweep.search import _graph

    cfg = load_config(tiny / "tiny.yaml")
    graph = _graph(cfg)
    knobs = knobs_of(cfg, graph)
    assert [k.label for k in knobs] == ["input.act", "conv.weight", "conv.act", "fc.weight", "fc.act"]
    widths = {Knob(None, "act"): 6, Knob("conv", "weight"): 3, Knob("conv", "act"): 4,
              Knob("fc", "weight"): 2, Knob("fc", "act"): 8}
    c = assignment_config(cfg, widths)
    net = {l.name: l for l in lower(graph, None, c.quant).layers}
    assert (net["conv"].act_bits, net["conv"].weight_bits, net["conv"].out_bits) == (6, 3, 4)
    assert (net["pool"].act_bits, net["pool"].out_bits) == (4, 4)  # pass-through keeps the width
    assert (net["fc"].act_bits, net["fc"].weight_bits, net["fc"].out_bits) == (4, 2, 8)
    assert c.quant.method == "mse" and c.quant.unsigned_activations  # the rest of the config is kept
    u = uniform_config(c, 4, 6)
    assert u.quant.layers == {} and (u.quant.weight_bits, u.quant.act_bits) == (4, 6)


def test_search_meets_the_budget_and_writes_a_runnable_config(tiny, tmp_path, capsys):
    cfg = load_config(tiny / "tiny.yaml")
    res = search(cfg, budget=2.0, widths=(2, 4, 8), objective="latency", results_dir=tmp_path / "pts",
                 executor=SerialExecutor(), sensitivity_images=None, verify_points=4, progress=False)
    # the seed is the uniform point of least latency within the budget, measured like any other
    ok = {wa: u for wa, u in res.uniform.items() if res.drop(u) <= 2.0}
    assert len(res.uniform) == 9 and ok
    seed = min(ok, key=lambda wa: (ok[wa]["latency_s"], -ok[wa]["quant_top1"], wa))
    assert res.seed == seed and res.verified[0] is res.uniform[seed]
    assert {res.chain[0].widths[k] for k in res.chain[0].widths if k.kind == "weight"} == {seed[0]}
    assert {res.chain[0].widths[k] for k in res.chain[0].widths if k.kind == "act"} == {seed[1]}
    # the chain walks down from the seed one knob one notch at a time, never below two notches under it
    assert len(res.chain) > 1
    for a, b in zip(res.chain, res.chain[1:]):
        changed = [k for k in a.widths if a.widths[k] != b.widths[k]]
        assert len(changed) == 1 and b.widths[changed[0]] < a.widths[changed[0]]
    # every neighbour of the seed (one knob one width narrower) is a candidate measured on the whole test set
    lower = {8: 4, 4: 2, 2: None}
    seed_w = res.chain[0].widths
    assert len(res.neighbours) == sum(lower[b] is not None for b in seed_w.values())
    for c in res.neighbours:
        changed = [k for k in seed_w if c.widths[k] != seed_w[k]]
        assert len(changed) == 1 and c.widths[changed[0]] == lower[seed_w[changed[0]]]
        v = res.verified[c.step]
        assert v["accuracy_images"] == res.uniform[seed]["accuracy_images"]
        assert c.est_loss == pytest.approx(100 * (res.uniform[seed]["quant_top1"] - v["quant_top1"]))
    assert res.best_step is not None
    best = res.verified[res.best_step]
    assert res.drop(best) <= 2.0
    assert all(res.cost(best) <= res.cost(v) for v in res.verified.values() if res.drop(v) <= 2.0)
    # every uniform point within the budget costs at least as much latency as the answer
    for u in res.uniform.values():
        if res.drop(u) <= 2.0:
            assert u["latency_s"] >= best["latency_s"]
    # dominance, checked from the measured numbers: every uniform point has a measured point at
    # least as accurate with no more energy and latency, and the table names it
    dom = res.dominance()
    for r in dom["rows"]:
        u, d = res.uniform[(r["weight_bits"], r["act_bits"])], r["summary"]
        assert d["quant_top1"] >= u["quant_top1"] and d["energy_per_inference_uj"] <= u["energy_per_inference_uj"]
        assert d["latency_s"] <= u["latency_s"]
        if r["dominated_by_step"] is not None:
            assert d is res.verified[r["dominated_by_step"]] and r["dominated_by_step"] > 0
    paths = __import__("accelsim.sweep.search", fromlist=["write_search"]).write_search(res, cfg, tmp_path / "out")
    # the written config runs and measures what the search measured
    assert main(["run", str(paths["config"]), "-o", str(tmp_path / "run"), "--no-progress"]) == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["quant_top1"] == pytest.approx(best["quant_top1"])
    assert summary["latency_s"] == pytest.approx(best["latency_s"])
    doc = json.loads(paths["json"].read_text())
    assert doc["best_step"] == res.best_step and (tmp_path / "out" / "front.png").stat().st_size > 1000
    # a second search in the same store runs nothing new (resumable)
    n = sum(1 for _ in open(tmp_path / "pts" / "results.jsonl"))
    search(cfg, budget=2.0, widths=(2, 4, 8), objective="latency", results_dir=tmp_path / "pts",
           executor=SerialExecutor(), sensitivity_images=None, verify_points=4, progress=False)
    assert sum(1 for _ in open(tmp_path / "pts" / "results.jsonl")) == n


def test_sensitivity_loss_is_the_measured_top1_difference(tiny, tmp_path):
    from accelsim.pipeline.point import run

    cfg = load_config(tiny / "tiny.yaml")
    sens = sensitivity(cfg, (2, 8), tmp_path / "pts", SerialExecutor(), None, progress=False)
    k = Knob("conv", "act")
    alone = run(assignment_config(cfg, {**{kk: 8 for kk in sens.knobs}, k: 2})).accuracy.quant_top1
    assert sens.loss[k][2] == pytest.approx(sens.base_top1 - 100 * alone)
    assert all(sens.loss[kk][8] == 0.0 for kk in sens.knobs)


@pytest.mark.parametrize("args, match", [
    (["--widths", "1,4,8"], "--widths: width\\(s\\) 1 outside 2-16"),
    (["--widths", "4,17"], "outside 2-16"),
    (["--max-accuracy-drop", "-0.5"], "--max-accuracy-drop: must be a number of points >= 0"),
])
def test_bad_search_input_is_one_line(tiny, args, match, capsys):
    argv = ["search", str(tiny / "tiny.yaml")] + (["--max-accuracy-drop", "0.5"] if "--max-accuracy-drop" not in args
                                                  else []) + args
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and __import__("re").search(match, err[0])


@pytest.mark.parametrize("args", [["--widths", "1,4"], ["--widths", "2,20"], ["--widths", "4"]])
def test_bad_sensitivity_widths_are_one_line(tiny, args, capsys):
    assert main(["sensitivity", str(tiny / "tiny.yaml")] + args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--widths" in err[0]


def test_search_on_a_topology_is_one_line(tmp_path, capsys):
    cfg = tmp_path / "t.yaml"
    cfg.write_text("workload: {topology: {zoo: resnet18}}\n")
    for cmd in (["search", str(cfg), "--max-accuracy-drop", "0.5"], ["sensitivity", str(cfg)]):
        assert main(cmd) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "workload.topology" in err[0] and "no weights" in err[0]


def test_parse_widths():
    assert parse_widths("8,2,4,4") == (2, 4, 8)
    with pytest.raises(ConfigError, match="at least two"):
        parse_widths("4")
    with pytest.raises(ConfigError, match="integers"):
        parse_widths("4,x")
