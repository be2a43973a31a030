"""The per-process memo of float-model tensors behind :func:`accelsim.datapath.evaluate`."""

import numpy as np

from accelsim.datapath import accuracy
from accelsim.graph.executor import run_graph
from accelsim.graph.ir import Graph, Node


def _graph(scale: float) -> Graph:
    w = np.array([[scale, -1.0], [0.5, 2.0], [1.0, 1.0]], dtype=np.float32)
    return Graph(name="g", nodes=[Node("fc", "gemm", ["x", "w"], ["h"], {}), Node("r", "relu", ["h"], ["y"], {})],
                 inputs={"x": (1, 2)}, outputs=["y"], params={"w": w})


def test_float_memo_returns_what_the_float_pass_computes_and_keys_on_content(monkeypatch):
    monkeypatch.setattr(accuracy, "_FLOAT_MEMO", type(accuracy._FLOAT_MEMO)())
    calls = []
    real = run_graph

    def counting(graph, feeds, keep="outputs"):
        calls.append(1)
        return real(graph, feeds, keep=keep)

    monkeypatch.setattr("accelsim.graph.executor.run_graph", counting)
    x = np.random.default_rng(0).normal(size=(7, 2)).astype(np.float32)
    g = _graph(1.0)
    first = accuracy._float_env(g, x, ("h", "y"))
    again = accuracy._float_env(_graph(1.0), x.copy(), ("h", "y"))  # equal content, other objects: a hit
    assert len(calls) == 1
    ref = real(g, {"x": x}, keep="all")  # independent: the float executor itself
    for n in ("h", "y"):
        np.testing.assert_array_equal(first[n], ref[n])
        np.testing.assert_array_equal(again[n], ref[n])
    # another weight or other images: computed again, and right
    other = accuracy._float_env(_graph(3.0), x, ("h", "y"))
    np.testing.assert_array_equal(other["y"], real(_graph(3.0), {"x": x})["y"])
    x2 = x.copy()
    x2[0, 0] += 1.0
    np.testing.assert_array_equal(accuracy._float_env(g, x2, ("h", "y"))["h"], real(g, {"x": x2}, keep="all")["h"])
    assert len(calls) == 3


def test_float_memo_stays_within_its_byte_budget(monkeypatch):
    monkeypatch.setattr(accuracy, "_FLOAT_MEMO", type(accuracy._FLOAT_MEMO)())
    monkeypatch.setattr(accuracy, "FLOAT_MEMO_BYTES", 3 * 7 * 4 * 2)  # two entries of one [7, 3] float32 tensor
    g = _graph(1.0)
    rng = np.random.default_rng(1)
    for _ in range(5):
        accuracy._float_env(g, rng.normal(size=(7, 2)).astype(np.float32), ("y",))
    assert len(accuracy._FLOAT_MEMO) == 2
