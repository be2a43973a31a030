"""The network executor on hand-built descriptors, against numpy int64 written in the test."""

import numpy as np
import pytest

from accelsim.datapath import prepare, run_network
from accelsim.errors import InputFileError, NotCalibratedError, SchemaVersionError
from accelsim.layers import LayerDescriptor, Network, QuantParams, read_network, write_network
from tests.datapath.test_kernels import ref_add_requant, ref_conv_acc, ref_requant, ref_round_shift


def _q(out_step=0.05, lo=-127, hi=127, overflow="saturate", n_in=1):
    return QuantParams(in_thresholds=(1.0,) * n_in, in_steps=(1 / 127,) * n_in, out_threshold=out_step * 127,
                       out_step=out_step, out_min=lo, out_max=hi, overflow=overflow)


def _req(t, layer, c, rng, prefix=""):
    t[layer.key(prefix + "pre_shift")] = rng.integers(0, 3, c).astype(np.int32)
    t[layer.key(prefix + "scale")] = rng.integers(1, 256, c).astype(np.int64)
    t[layer.key(prefix + "post_shift")] = rng.integers(6, 12, c).astype(np.int32)


def build_net(acc_bits=32, overflow="saturate", seed=0):
    """x[2,3,8,8] -> conv3x3 relu -> maxpool2 -> depthwise3x3 -> add(residual) -> concat(mul)
    -> lut -> global avgpool -> reshape -> gemm."""
    rng = np.random.default_rng(seed)
    t = {}
    L = []
    c1 = LayerDescriptor("c1", "conv2d", ("x",), "t1", (2, 3, 8, 8), (2, 4, 8, 8), kernel=(3, 3),
                         padding=(1, 1, 1, 1), acc_bits=acc_bits, quant=_q(lo=0, overflow=overflow),
                         extra={"float_tensor": "f1"})
    t[c1.key("weight")] = rng.integers(-127, 128, (4, 3, 3, 3)).astype(np.int8)
    t[c1.key("bias")] = rng.integers(-500, 500, 4).astype(np.int32)
    _req(t, c1, 4, rng)
    mp = LayerDescriptor("mp", "maxpool", ("t1",), "t2", (2, 4, 8, 8), (2, 4, 4, 4), kernel=(2, 2),
                         stride=(2, 2), quant=_q(lo=-127))
    dw = LayerDescriptor("dw", "depthwise", ("t2",), "t3", (2, 4, 4, 4), (2, 4, 4, 4), kernel=(3, 3),
                         padding=(1, 1, 1, 1), groups=4, acc_bits=acc_bits, quant=_q(overflow=overflow))
    t[dw.key("weight")] = rng.integers(-127, 128, (4, 1, 3, 3)).astype(np.int8)
    t[dw.key("bias")] = rng.integers(-500, 500, 4).astype(np.int32)
    _req(t, dw, 4, rng)
    ad = LayerDescriptor("ad", "add", ("t3", "t2"), "t4", (2, 4, 4, 4), (2, 4, 4, 4), quant=_q(lo=0, n_in=2))
    _req(t, ad, 1, rng, "in0.")
    _req(t, ad, 1, rng, "in1.")
    t[ad.key("in1.pre_shift")][:] = 0
    t[ad.key("in1.scale")][:] = 1
    t[ad.key("in1.post_shift")][:] = 0
    mu = LayerDescriptor("mu", "mul", ("t4", "t2"), "t5", (2, 4, 4, 4), (2, 4, 4, 4), quant=_q(n_in=2))
    _req(t, mu, 1, rng)
    cc = LayerDescriptor("cc", "concat", ("t4", "t5"), "t6", (2, 4, 4, 4), (2, 8, 4, 4), quant=_q(n_in=2))
    _req(t, cc, 1, rng, "in0.")
    _req(t, cc, 1, rng, "in1.")
    lu = LayerDescriptor("lu", "lut", ("t6",), "t7", (2, 8, 4, 4), (2, 8, 4, 4), quant=_q())
    t[lu.key("lut")] = np.clip(np.arange(-127, 128) // 2 + 3, -127, 127).astype(np.int16)
    ap = LayerDescriptor("ap", "avgpool", ("t7",), "t8", (2, 8, 4, 4), (2, 8, 1, 1), kernel=(4, 4),
                         quant=_q())
    _req(t, ap, 8, rng)
    rs = LayerDescriptor("rs", "reshape", ("t8",), "t9", (2, 8, 1, 1), (2, 8, 1, 1), quant=_q())
    fc = LayerDescriptor("fc", "gemm", ("t9",), "y", (2, 8, 1, 1), (2, 5, 1, 1), acc_bits=acc_bits,
                         quant=_q(out_step=0.1, overflow=overflow))
    t[fc.key("weight")] = rng.integers(-127, 128, (5, 8)).astype(np.int8)
    t[fc.key("bias")] = rng.integers(-500, 500, 5).astype(np.int32)
    _req(t, fc, 5, rng)
    L = (c1, mp, dw, ad, mu, cc, lu, ap, rs, fc)
    return Network("tiny", L, ("x",), ("y",), t, input_quant={"x": (1.0, 1 / 127, 8)})


def reference(net, x):
    """The whole network in numpy int64, each op from the descriptor contract."""
    T = net.tensors
    g = lambda k: np.asarray(T[k], np.int64)  # noqa: E731
    req = lambda v, n, p="": ref_requant(v, g(f"{n}.{p}pre_shift"), g(f"{n}.{p}scale"),  # noqa: E731
                                         g(f"{n}.{p}post_shift"), -2 ** 40, 2 ** 40)
    q = np.clip(np.floor(x / (1 / 127) + 0.5), -127, 127).astype(np.int64)
    out = {}
    a = ref_conv_acc(q, g("c1.weight"), g("c1.bias"), (1, 1), (1, 1, 1, 1), (1, 1), 1)
    out["c1"] = t1 = np.clip(req(a, "c1"), 0, 127)
    t2 = t1.reshape(2, 4, 4, 2, 4, 2).max(axis=(3, 5))
    out["mp"] = t2
    a = ref_conv_acc(t2, g("dw.weight"), g("dw.bias"), (1, 1), (1, 1, 1, 1), (1, 1), 4)
    out["dw"] = t3 = np.clip(req(a, "dw"), -127, 127)
    par = lambda n, p: tuple(g(f"{n}.{p}{r}") for r in ("pre_shift", "scale", "post_shift"))  # noqa: E731
    out["ad"] = t4 = ref_add_requant(t3, t2, par("ad", "in0."), par("ad", "in1."), 0, 127)
    out["mu"] = t5 = np.clip(req(t4 * t2, "mu"), -127, 127)
    out["cc"] = t6 = np.clip(np.concatenate([req(t4, "cc", "in0."), req(t5, "cc", "in1.")], 1), -127, 127)
    out["lu"] = t7 = g("lu.lut")[t6 + 127]
    out["ap"] = t8 = np.clip(req(t7.sum(axis=(2, 3), keepdims=True), "ap"), -127, 127)
    out["rs"] = t9 = t8.reshape(2, 8, 1, 1)
    a = t9.reshape(2, 8) @ g("fc.weight").T + g("fc.bias")
    out["fc"] = y = np.clip(req(a.reshape(2, 5, 1, 1), "fc"), -127, 127)
    return out, y.reshape(2, 5) * 0.1


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_network_matches_int64_reference(seed):
    net = build_net(seed=seed)
    x = np.random.default_rng(seed + 10).normal(0, 0.6, (2, 3, 8, 8))
    want_codes, want_logits = reference(net, x)
    res = run_network(net, x, keep="all")
    for name, codes in want_codes.items():
        np.testing.assert_array_equal(res.codes[name], codes, err_msg=name)
    np.testing.assert_array_equal(res.logits, want_logits)
    assert res.overflow == {"c1": 0, "dw": 0, "fc": 0}
    forced = run_network(net, x, keep="all", path="faithful")
    np.testing.assert_array_equal(forced.logits, want_logits)
    assert set(forced.paths.values()) == {"faithful"}


def test_overflow_counted_per_layer_with_narrow_accumulator():
    net = build_net(acc_bits=12, seed=3)
    x = np.random.default_rng(3).normal(0, 1.0, (2, 3, 8, 8))
    res = run_network(net, x)
    assert res.paths["c1"] == "faithful" and res.overflow["c1"] > 0
    # the first layer by hand: count steps leaving [-2048, 2047] in the documented order
    q = np.clip(np.floor(x * 127 + 0.5), -127, 127).astype(np.int64)
    w = np.asarray(net.tensors["c1.weight"], np.int64)
    b = np.asarray(net.tensors["c1.bias"], np.int64)
    qp = np.pad(q, ((0, 0), (0, 0), (1, 1), (1, 1)))
    events = 0
    for n in range(2):
        for o in range(4):
            for i in range(8):
                for j in range(8):
                    a = int(b[o])
                    for c in range(3):
                        for ky in range(3):
                            for kx in range(3):
                                if not (0 <= i + ky - 1 < 8 and 0 <= j + kx - 1 < 8):
                                    continue
                                a += int(qp[n, c, i + ky, j + kx]) * int(w[o, c, ky, kx])
                                if a > 2047 or a < -2048:
                                    events += 1
                                    a = min(max(a, -2048), 2047)
    assert res.overflow["c1"] == events


def test_memory_drops_intermediates_unless_kept():
    net = build_net()
    x = np.zeros((1, 3, 8, 8))
    res = run_network(net, x, keep=["dw"])
    assert set(res.codes) == {"dw"} and res.logits.shape == (1, 5)


def test_descriptor_round_trip_then_run(tmp_path):
    net = build_net()
    back = read_network(write_network(net, tmp_path))
    x = np.random.default_rng(0).normal(0, 0.6, (2, 3, 8, 8))
    np.testing.assert_array_equal(run_network(back, x).logits, run_network(net, x).logits)


# ---------------------------------------------------------------- bad input

def _with_tensor(net, key, value):
    t = dict(net.tensors)
    if value is None:
        del t[key]
    else:
        t[key] = value
    return Network(net.name, net.layers, net.inputs, net.outputs, t, net.input_quant)


def test_missing_array():
    net = _with_tensor(build_net(), "ad.in1.scale", None)
    with pytest.raises(InputFileError, match=r"layer 'ad' \(add\): array 'ad.in1.scale' is missing"):
        prepare(net)


def test_weight_codes_outside_weight_bits():
    net = build_net()
    net = Network(net.name, tuple(l.with_bits(weight_bits=4) if l.name == "c1" else l for l in net.layers),
                  net.inputs, net.outputs, net.tensors, net.input_quant)
    with pytest.raises(InputFileError, match=r"layer 'c1'.*weight holds values in \[-\d+, \d+\], outside 4-bit"):
        prepare(net)


@pytest.mark.parametrize("bits", [7, 49])
def test_acc_bits_outside_range(bits):
    net = build_net()
    net = net.with_bits(acc_bits=bits)
    with pytest.raises(InputFileError, match=f"acc_bits = {bits}; the datapath runs 8-48 bits"):
        prepare(net)


def test_shape_only_descriptors_refused():
    net = build_net()
    from dataclasses import replace
    net = replace(net, layers=(replace(net.layers[0], quant=None),) + net.layers[1:])
    with pytest.raises(NotCalibratedError, match="run 'accelsim quantize'"):
        prepare(net)


def test_data_shape_mismatch():
    with pytest.raises(InputFileError, match=r"input 'x' has shape \(2, 1, 8, 8\); the model expects \(N, 3, 8, 8\)"):
        run_network(build_net(), np.zeros((2, 1, 8, 8)))


def test_newer_schema_refused(tmp_path):
    import json
    write_network(build_net(), tmp_path)
    head = json.loads((tmp_path / "descriptors.json").read_text())
    head["schema_version"] = 99
    (tmp_path / "descriptors.json").write_text(json.dumps(head))
    with pytest.raises(SchemaVersionError, match="schema_version 99 is newer"):
        read_network(tmp_path)


def test_round_shift_reference_sanity():
    assert ref_round_shift(np.array([-3, -2, -1, 1, 2, 3]), 1).tolist() == [-1, -1, 0, 1, 1, 2]


@pytest.mark.parametrize("seed", [0, 1])
def test_code_bounds_hold_on_every_tensor_and_keep_the_paths(seed):
    """The per-tensor bounds the executor passes to conv (to skip scanning inputs) are true bounds,
    and taking them changes neither the bits nor the path of any MAC layer."""
    from accelsim.datapath import ops, prepare

    net = build_net(seed=seed)
    prep = prepare(net)
    x = np.random.default_rng(seed).normal(0, 3.0, (2, 3, 8, 8))  # saturates the input quantizer
    res = run_network(prep, x, keep="all")
    for layer in net.layers:
        assert np.abs(res.codes[layer.name]).max() <= prep.code_bounds[layer.output], layer.name
    assert prep.code_bounds["x"] == 127
    rng = np.random.default_rng(seed)
    for xb in (127, 2 ** 15 - 1):  # a bound that selects the int8 kernel, one that does not
        xq = rng.integers(-100, 101, (2, 16, 9, 9))
        w = rng.integers(-127, 128, (24, 16, 3, 3))
        args = (xq, w, rng.integers(-900, 900, 24), 1, 77, 9)
        kw = dict(lo=-127, hi=127, padding=(1, 1, 1, 1), acc_bits=24)
        want = ops.conv(*args, **kw)
        got = ops.conv(*args, x_bound=xb, **kw)
        assert got.path == want.path
        np.testing.assert_array_equal(got.out, want.out)
        np.testing.assert_array_equal(got.out, ops.conv(*args, path="int64", **kw).out)


def _residual_net(seed: int, conv_first: bool) -> Network:
    """x[3,8,6,6] -> conv3x3 relu (t1) -> conv1x1 (t2) -> add(t2, t1) relu: a residual block whose
    add a convolution's epilogue can compute."""
    rng = np.random.default_rng(seed)
    t = {}
    c1 = LayerDescriptor("c1", "conv2d", ("x",), "t1", (3, 8, 6, 6), (3, 16, 6, 6), kernel=(3, 3),
                         padding=(1, 1, 1, 1), quant=_q(lo=0))
    c2 = LayerDescriptor("c2", "conv2d", ("t1",), "t2", (3, 16, 6, 6), (3, 16, 6, 6), kernel=(1, 1), quant=_q())
    for lay, shape in ((c1, (16, 8, 3, 3)), (c2, (16, 16, 1, 1))):
        t[lay.key("weight")] = rng.integers(-127, 128, shape).astype(np.int8)
        t[lay.key("bias")] = rng.integers(-500, 500, 16).astype(np.int32)
        _req(t, lay, 16, rng)
    ins = ("t2", "t1") if conv_first else ("t1", "t2")
    ad = LayerDescriptor("ad", "add", ins, "y", (3, 16, 6, 6), (3, 16, 6, 6), quant=_q(lo=0, n_in=2))
    _req(t, ad, 16, rng, "in0.")
    _req(t, ad, 16, rng, "in1.")
    return Network("res", (c1, c2, ad), ("x",), ("y",), t, input_quant={"x": (1.0, 1 / 127, 8)})


@pytest.mark.parametrize("conv_first", [True, False], ids=["conv-is-in0", "conv-is-in1"])
def test_residual_add_computed_in_the_convolution_epilogue_matches_int64(conv_first):
    """The add after a convolution that nothing else reads is planned into its epilogue; the
    network's outputs equal numpy int64 (and the run that keeps every layer's codes, which
    computes the add on its own); asking for the add's codes still returns them."""
    net = _residual_net(5, conv_first)
    prep = prepare(net)
    assert list(prep.residuals) == [1] and prep.residuals[1].add_index == 2 and prep.residuals[1].skip == "t1"
    x = np.random.default_rng(6).normal(0, 0.6, (3, 8, 6, 6))
    T = net.tensors
    par = lambda name, pre="": tuple(T[f"{name}.{pre}{k}"].astype(np.int64) for k in  # noqa: E731
                                     ("pre_shift", "scale", "post_shift"))
    xq = np.clip(np.floor(x * 127 + 0.5), -127, 127).astype(np.int64)
    t1 = ref_requant(ref_conv_acc(xq, T["c1.weight"], T["c1.bias"], (1, 1), (1, 1, 1, 1), (1, 1), 1), *par("c1"),
                     0, 127)
    t2 = ref_requant(ref_conv_acc(t1, T["c2.weight"], T["c2.bias"], (1, 1), (0, 0, 0, 0), (1, 1), 1), *par("c2"),
                     -127, 127)
    a, b = (t2, t1) if conv_first else (t1, t2)
    y = ref_add_requant(a, b, par("ad", "in0."), par("ad", "in1."), 0, 127)
    res = run_network(prep, x, keep=["ad"])
    np.testing.assert_array_equal(res.codes["ad"], y)
    np.testing.assert_array_equal(res.logits, y.reshape(3, -1) * 0.05)
    assert res.paths["c2"] == "int8" and res.overflow["c2"] == 0
    every = run_network(prep, x, keep="all")
    np.testing.assert_array_equal(every.codes["c2"], t2)
    np.testing.assert_array_equal(every.logits, res.logits)
