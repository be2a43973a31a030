"""Output-error weight thresholds (``weight_method: output``) against independent references."""

import numpy as np
import pytest

from accelsim.graph.executor import execute_node
from accelsim.graph.ir import Node
from accelsim.quant.requant import MSE_WEIGHT_GRID, quantize_weights
from accelsim.quant.weights import input_gram, output_thresholds


@pytest.mark.parametrize("attrs, cin, cout, k", [
    ({"stride": (1, 1), "padding": (1, 1, 1, 1), "dilation": (1, 1), "groups": 1}, 3, 5, 3),
    ({"stride": (2, 1), "padding": (0, 1, 2, 0), "dilation": (1, 2), "groups": 1}, 2, 4, 3),
    ({"stride": (1, 1), "padding": (1, 1, 1, 1), "dilation": (1, 1), "groups": 4}, 4, 4, 3),   # depthwise
    ({"stride": (2, 2), "padding": (1, 1, 1, 1), "dilation": (1, 1), "groups": 2}, 4, 6, 3),   # grouped
])
def test_gram_prices_the_output_error_of_any_weight_change(attrs, cin, cout, k):
    """e^T H e equals the mean squared output change of the float executor's conv (independent
    im2col, every padding/stride/dilation/group case) when the weights change by e."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, cin, 7, 6)).astype(np.float32)
    e = rng.normal(size=(cout, cin // attrs["groups"], k, k))
    node = Node("c", "conv", ["x", "w"], ["y"], dict(attrs, kernel=(k, k)))
    dy = execute_node(node, [x, e.astype(np.float32)])[0].astype(np.float64)  # conv is linear in w
    want = (dy ** 2).mean(axis=(0, 2, 3))
    gram, group = input_gram(x, e.shape, attrs)
    rows = e.reshape(cout, -1)
    got = np.einsum("ci,cij,cj->c", rows, gram[group], rows)
    np.testing.assert_allclose(got, want, rtol=1e-4)


def test_gram_of_a_gemm():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(20, 6))
    e = rng.normal(size=(3, 6))
    gram, group = input_gram(x, e.shape, None)
    got = np.einsum("ci,cij,cj->c", e, gram[group], e)
    np.testing.assert_allclose(got, ((x @ e.T) ** 2).mean(axis=0), rtol=1e-10)


def test_output_threshold_hand_worked():
    """2 bits (codes -1, 0, 1), w = [1.0, 0.4 x 9] (the weight-MSE hand case, T = 0.46 there).
    If the first input has 100x the power of the others (H = diag(100, 1, ...)), clipping the 1.0
    costs 100 (1 - T)^2: at T = 1 the error is 9 * 0.16 = 1.44 (the 0.4s round to 0); for
    0.4 <= T <= 0.8 it is 100 (1 - T)^2 + 9 (0.4 - T)^2 >= 5.44 (least at T = 0.8); for
    0.8 < T < 1, 1.44 + 100 (1 - T)^2 > 1.44. So T = 1. With equal input powers it is the weight
    MSE problem again: T = 0.46."""
    w = np.array([[1.0] + [0.4] * 9])
    h = np.diag([100.0] + [1.0] * 9)[None]
    assert output_thresholds(w, 2, h, np.zeros(1, int), MSE_WEIGHT_GRID)[0] == 1.0
    t = output_thresholds(w, 2, np.eye(10)[None], np.zeros(1, int), MSE_WEIGHT_GRID)[0]
    assert t == pytest.approx(0.46, abs=1e-9)


def test_output_thresholds_never_cost_more_output_error_than_max_or_weight_mse():
    rng = np.random.default_rng(3)
    w = rng.standard_t(3, size=(8, 2, 3, 3))
    x = np.maximum(rng.normal(size=(4, 2, 9, 9)) + rng.normal(size=(1, 2, 1, 1)), 0)  # correlated, ReLU-like
    attrs = {"stride": (1, 1), "padding": (1, 1, 1, 1), "dilation": (1, 1), "groups": 1}
    gram, group = input_gram(x, w.shape, attrs)
    rows = w.reshape(8, -1)

    def out_err(t):
        s = (t / 7)[:, None]  # 4 bits: qmax 7
        e = rows - np.clip(np.floor(rows / s + 0.5), -7, 7) * s
        return np.einsum("ci,cij,cj->c", e, gram[group], e)

    t_out = output_thresholds(rows, 4, gram, group, MSE_WEIGHT_GRID)
    for method in ("max", "mse"):
        _, t, _ = quantize_weights(w, 4, True, method)
        assert np.all(out_err(t_out) <= out_err(t) * (1 + 1e-12))
    _, t_mse, _ = quantize_weights(w, 4, True, "mse")
    assert out_err(t_out).sum() < out_err(t_mse).sum()  # the input statistics changed the choice
    t_one = output_thresholds(rows, 4, gram, group, MSE_WEIGHT_GRID, per_channel=False)
    assert np.all(t_one == t_one[0]) and t_one[0] <= np.abs(rows).max()


def test_gram_is_the_same_whatever_the_chunk_of_images(monkeypatch):
    from accelsim.quant import weights

    x = np.random.default_rng(4).normal(size=(5, 3, 6, 6))
    attrs = {"stride": (1, 1), "padding": (1, 1, 1, 1), "dilation": (1, 1), "groups": 1}
    whole, _ = input_gram(x, (4, 3, 3, 3), attrs)
    monkeypatch.setattr(weights, "GRAM_CHUNK_BYTES", 1)  # one image per chunk
    parts, _ = input_gram(x, (4, 3, 3, 3), attrs)
    np.testing.assert_allclose(parts, whole, rtol=1e-12)
