"""The register-level reference against numpy int64 GEMMs, and the closed form against it."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accelsim.errors import ConfigError
from accelsim.hw.foldsim import fold_pipeline_cycles
from accelsim.hw.mapping import map_layer
from accelsim.hw.reference import reference_gemm
from accelsim.hw.timing import MicroArch, layer_compute_cycles, layer_schedule
from accelsim.config.simulation import SimulationConfig
from accelsim.hw.sim import simulate_network
from accelsim.layers import Network
from tests.hw.conftest import gemm_layer, hw_config


def _net(layer):
    return Network(name="n", layers=(layer,), inputs=("x",), outputs=(layer.output,))

SETTINGS = st.fixed_dictionaries({
    "mult_stages": st.integers(0, 2),
    "acc_stages": st.integers(1, 3),
    "skew": st.sampled_from(["feeder", "array"]),
    "drain": st.sampled_from(["shift", "parallel", "wavefront"]),
    "overlap": st.booleans(),
    "skew_input_register": st.booleans(),
    "mult_input": st.sampled_from(["register", "wires"]),
    "edge_folds": st.sampled_from(["trimmed", "padded"]),
    "psum_register": st.sampled_from(["after_adder", "before_adder"]),
    "stationary_registers": st.sampled_from(["shadow", "single"]),
})
KNOBS = ("skew_input_register", "mult_input", "edge_folds", "psum_register", "stationary_registers")


def _hw(rows, cols, df, opts, **extra):
    return hw_config(rows, cols, df, opts["mult_stages"], opts["acc_stages"], opts["skew"], opts["drain"],
                     opts["overlap"], **{k: opts[k] for k in KNOBS if k in opts}, **extra)


def _closed_form(m, n, k, groups, df, rows, cols, opts, bits=8, scalable=False):
    hw = _hw(rows, cols, df, opts, pe__precision_scalable=scalable)
    layer = gemm_layer(m, n, k, groups, weight_bits=bits, act_bits=bits)
    mp, arch = map_layer(layer, hw), MicroArch.from_config(hw)
    cycles = layer_compute_cycles(mp, arch)
    assert fold_pipeline_cycles(mp, arch) == cycles  # the SimPy fold model agrees
    return cycles


@pytest.mark.parametrize("df", ["os", "ws", "is"])
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_reference_matches_numpy_and_closed_form(df, data):
    rows = data.draw(st.integers(1, 6), "rows")
    cols = data.draw(st.integers(1, 6), "cols")
    m = data.draw(st.integers(1, 13), "M")
    n = data.draw(st.integers(1, 13), "N")
    k = data.draw(st.integers(1, 13), "K")
    groups = data.draw(st.integers(1, 2), "groups")
    opts = data.draw(SETTINGS, "opts")
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16), "seed"))
    a = rng.integers(-128, 128, (groups, m, k))
    b = rng.integers(-128, 128, (groups, k, n))
    hops = np.zeros(4, np.int64)
    out, cycles = reference_gemm(a, b, df, rows, cols, opts["mult_stages"], opts["acc_stages"], opts["skew"],
                                 opts["drain"], opts["overlap"], hops=hops, **{k: opts[k] for k in KNOBS})
    np.testing.assert_array_equal(out, np.einsum("gmk,gkn->gmn", a, b))
    assert cycles == _closed_form(m, n, k, groups, df, rows, cols, opts)
    # the PE-to-PE bits the energy model is given equal the hops the registers really made
    hw = _hw(rows, cols, df, opts)
    counts = simulate_network(_net(gemm_layer(m, n, k, groups, weight_bits=6, act_bits=5, acc_bits=20)), hw,
                              SimulationConfig(stall_free=True)).total
    stream_bits, stat_bits = {"os": (5, 6), "ws": (5, 6), "is": (6, 5)}[df]
    assert counts.pe_forward_bits == hops[0] * stream_bits + hops[1] * stat_bits + (hops[2] + hops[3]) * 20


@pytest.mark.parametrize("df", ["os", "ws", "is"])
@pytest.mark.parametrize("p,bits", [(2, 4), (4, 2)])
def test_precision_scalable_pes_pack_the_reduction(df, p, bits):
    """A PE doing p MACs/cycle (operands <= 8/p bits of a native 8-bit PE) equals the reference."""
    rng = np.random.default_rng(7)
    a = rng.integers(-(2 ** (bits - 1)) + 1, 2 ** (bits - 1), (11, 13))
    b = rng.integers(-(2 ** (bits - 1)) + 1, 2 ** (bits - 1), (13, 6))
    opts = {"mult_stages": 1, "acc_stages": 1, "skew": "feeder", "drain": "parallel", "overlap": False}
    out, cycles = reference_gemm(a, b, df, 4, 3, 1, 1, "feeder", "parallel", False, macs_per_pe=p)
    np.testing.assert_array_equal(out, a @ b)
    assert cycles == _closed_form(11, 6, 13, 1, df, 4, 3, opts, bits=bits, scalable=True)


def test_hand_worked_single_fold():
    """2x2 os fold, K=3, m=0, a=1, feeder skew, parallel drain: operands of PE(1,1) arrive at
    cycle 0+1+1 for k=0, its last accumulate latches at end of cycle 2+2+1=5 (k=2: 2+1+1+1), its
    result is written in cycle 6: 7 cycles = T + r + c (3 + 2 + 2)."""
    a = np.array([[1, 2, 3], [4, 5, 6]])
    b = np.array([[1, 0], [0, 1], [1, 1]])
    out, cycles = reference_gemm(a, b, "os", 2, 2, drain="parallel")
    np.testing.assert_array_equal(out, a @ b)
    assert cycles == 7
    # ws: preload 2 rows (cycles 0-1), stream from cycle 1 (r-1), bottom of column 1 writes
    # step 1 (M=2) at 1 + 1 + 2 + 1 + 1 = 6: 7 cycles = (r-1) + T + R + c.
    out, cycles = reference_gemm(a[:, :2], b[:2], "ws", 2, 2)
    np.testing.assert_array_equal(out, a[:, :2] @ b[:2])
    assert cycles == 1 + 2 + 2 + 2


def test_reference_rejects_big_arrays_and_bad_options():
    a = np.ones((2, 2), np.int64)
    with pytest.raises(ConfigError, match="outside 1..16"):
        reference_gemm(a, a, "os", 17, 4)
    with pytest.raises(ConfigError, match="unknown dataflow 'rs'"):
        reference_gemm(a, a, "rs", 4, 4)


@pytest.mark.parametrize("df", ["os", "ws", "is"])
@pytest.mark.parametrize("drain", ["shift", "parallel"])
def test_many_short_folds_in_flight(df, drain):
    """T = 1 with overlap: a new fold starts every cycle while earlier ones still skew through."""
    rng = np.random.default_rng(3)
    m, n, k = {"os": (9, 7, 1), "ws": (1, 7, 9), "is": (7, 1, 9)}[df]
    a = rng.integers(-50, 50, (2, m, k))
    b = rng.integers(-50, 50, (2, k, n))
    opts = {"mult_stages": 1, "acc_stages": 2, "skew": "feeder", "drain": drain, "overlap": True}
    out, cycles = reference_gemm(a, b, df, 4, 2, 1, 2, "feeder", drain, True)
    np.testing.assert_array_equal(out, np.einsum("gmk,gkn->gmn", a, b))
    assert cycles == _closed_form(m, n, k, 2, df, 4, 2, opts)


# Measured on an open-source output-stationary RTL array (Verilator, issue 10): GEMM 16x32x16
# (M x K x N), LM multiplier stages, LA accumulator stages; tiles streamed back to back / serial.
RTL = [(4, 1, 1, 524, 704), (8, 1, 1, 152, 224), (4, 2, 3, 527, 752), (8, 2, 3, 155, 236)]


@pytest.mark.parametrize("size,lm,la,streamed,serial", RTL)
def test_rtl_cycles_with_the_matching_knobs(size, lm, la, streamed, serial):
    """The RTL's conventions: its skew bank has no register on row 0, its multiplier reads the input
    wires, its LM multiplier stages are mult_stages, edge folds padded, wavefront drain. Closed form,
    SimPy fold model and register-level reference all give the measured cycles, and the
    formulas the issue quotes: one tile K + R + 2C + LM + LA - 2, streamed + (F - 1) K."""
    rng = np.random.default_rng(size + lm)
    a = rng.integers(-128, 128, (16, 32))
    b = rng.integers(-128, 128, (32, 16))
    tile = 32 + size + 2 * size + lm + la - 2
    tiles = (16 // size) ** 2
    for overlap, want in ((True, streamed), (False, serial)):
        opts = {"mult_stages": lm, "acc_stages": la, "skew": "array", "drain": "wavefront", "overlap": overlap,
                "skew_input_register": False, "mult_input": "wires", "edge_folds": "padded"}
        out, cycles = reference_gemm(a, b, "os", size, size, lm, la, "array", "wavefront", overlap,
                                     skew_input_register=False, mult_input="wires", edge_folds="padded")
        np.testing.assert_array_equal(out, a @ b)
        assert cycles == want == _closed_form(16, 16, 32, 1, "os", size, size, opts)
        assert want == (tile + (tiles - 1) * 32 if overlap else tiles * tile)
        assert _closed_form(16, 16, 32, 1, "os", size, size, opts | {"skew": "feeder"}) == want


@pytest.mark.parametrize("k", [3, 9, 10, 11, 20])
def test_wavefront_back_pressure_below_the_streaming_bound(k):
    """4x4 array, K < R + 2C - 2 = 10: the next fold's first copy would land on the chain still
    draining, so the array idles: each fold after the first costs R + 2C - 2 instead of K
    (hand count: the chain is busy from the first copy, cycle T + 1, to the last beat,
    T + R + C - 1 + C; the next fold's first copy comes K cycles after this one's)."""
    rng = np.random.default_rng(k)
    a = rng.integers(-9, 9, (8, k))
    b = rng.integers(-9, 9, (k, 8))
    out, cycles = reference_gemm(a, b, "os", 4, 4, 1, 1, "feeder", "wavefront", True, mult_input="wires",
                                 edge_folds="padded")
    np.testing.assert_array_equal(out, a @ b)
    tile = k + 4 + 8 + 1 + 1 - 2
    assert cycles == tile + 3 * max(k, 4 + 2 * 4 - 2)


def test_padded_edge_folds_cost_full_array_time():
    """One 3x5 partial fold on a 4x8 array, K = 6, parallel drain, m = 0, a = 1: trimmed takes
    T + r + c = 14 cycles, padded T + R + C = 18: the (R - r) + (C - c) the issue measured."""
    a = np.arange(18).reshape(3, 6)
    b = np.arange(30).reshape(6, 5)
    for policy, want in (("trimmed", 6 + 3 + 5), ("padded", 6 + 4 + 8)):
        out, cycles = reference_gemm(a, b, "os", 4, 8, drain="parallel", edge_folds=policy)
        np.testing.assert_array_equal(out, a @ b)
        assert cycles == want


@pytest.mark.parametrize("overlap,stationary,psum,want", [
    (True, "shadow", "after_adder", 11), (True, "shadow", "before_adder", 10),
    (True, "single", "after_adder", 15), (True, "single", "before_adder", 14),
    (False, "shadow", "after_adder", 16), (False, "single", "before_adder", 14),
])
def test_ws_conventions_by_hand(overlap, stationary, psum, want):
    """ws on 2x2, K = 4 (two row folds of 2), N = 2, M = 3 (T = 3), m = 0, a = 1, feeder skew.

    Fold 0: preload cycles 0-1, stream from 1 (r - 1), last multiply U = 1+3+1+2-1 = 6, bottom
    write of the last step at 7 (registers after the adder) or 6 (before: the bottom adder writes).
    Fold 1: shadow registers preload at 2 while fold 0 streams, stream at 4 (after fold 0's T),
    done 4 + 6 = 10 -> 11 cycles; a single register preloads after the last multiply (7), streams
    at 8, done 14 -> 15; without overlap the preload waits for the last write (8, stream 9, done
    15 -> 16). Before the adder every fold ends one cycle (a) earlier."""
    rng = np.random.default_rng(1)
    a = rng.integers(-9, 9, (3, 4))
    b = rng.integers(-9, 9, (4, 2))
    out, cycles = reference_gemm(a, b, "ws", 2, 2, 0, 1, "feeder", "shift", overlap, psum_register=psum,
                                 stationary_registers=stationary)
    np.testing.assert_array_equal(out, a @ b)
    assert cycles == want
    opts = {"mult_stages": 0, "acc_stages": 1, "skew": "feeder", "drain": "shift", "overlap": overlap,
            "psum_register": psum, "stationary_registers": stationary}
    assert _closed_form(3, 2, 4, 1, "ws", 2, 2, opts) == want


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_split_stream_matches_numpy_and_closed_form(data):
    """The streamed dimension split in chunks, each a fold sequence of its own (os: the reduction,
    whose chunks' partial sums add up in the output; ws: the output pixels; is: the output
    channels): the registers still compute A @ B, and the closed form, the SimPy fold model and
    the registers agree on the cycles (chunks of unequal length included)."""
    df = data.draw(st.sampled_from(("os", "ws", "is")), "dataflow")
    rows, cols = data.draw(st.integers(1, 5), "rows"), data.draw(st.integers(1, 5), "cols")
    m, n, k = (data.draw(st.integers(1, 13), name) for name in "MNK")
    groups, chunks = data.draw(st.integers(1, 2), "groups"), data.draw(st.integers(2, 4), "chunks")
    opts = data.draw(SETTINGS, "opts")
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16), "seed"))
    a = rng.integers(-128, 128, (groups, m, k))
    b = rng.integers(-128, 128, (groups, k, n))
    out, cycles = reference_gemm(a, b, df, rows, cols, opts["mult_stages"], opts["acc_stages"], opts["skew"],
                                 opts["drain"], opts["overlap"], k_chunks=chunks, **{x: opts[x] for x in KNOBS})
    np.testing.assert_array_equal(out, np.einsum("gmk,gkn->gmn", a, b))
    hw = _hw(rows, cols, df, opts)
    mp, arch = map_layer(gemm_layer(m, n, k, groups), hw), MicroArch.from_config(hw)
    assert cycles == layer_schedule(mp, arch, chunks)[0] == fold_pipeline_cycles(mp, arch, chunks)


def test_network_simpy_model_gives_the_rtl_cycles():
    """Through the whole network model (SimPy DRAM/buffer model, stalls on): each layer's compute
    cycles with the RTL knobs equal the register-level model's for its GEMM (8x8, LM = 2, LA = 3:
    16x32x16 streamed takes 155 cycles, as measured on the RTL)."""
    hw = hw_config(8, 8, "os", 2, 3, "array", "wavefront", True, skew_input_register=False, mult_input="wires",
                   edge_folds="padded")
    layers = (gemm_layer(16, 16, 32, name="a"), gemm_layer(13, 5, 40, name="b"))
    timing = simulate_network(Network(name="n", layers=layers, inputs=("x",), outputs=("a", "b")), hw,
                              SimulationConfig())
    rng = np.random.default_rng(0)
    want = []
    for m, n, k in ((16, 16, 32), (13, 5, 40)):
        a, b = rng.integers(-9, 9, (m, k)), rng.integers(-9, 9, (k, n))
        want.append(reference_gemm(a, b, "os", 8, 8, 2, 3, "array", "wavefront", True, skew_input_register=False,
                                   mult_input="wires", edge_folds="padded")[1])
    assert [c.compute_cycles for c in timing.layers] == want
    assert want[0] == 155
    assert all(c.total_cycles >= c.compute_cycles for c in timing.layers)
