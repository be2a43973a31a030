"""The integer micro-kernel paths (int8, int16, screened faithful) against numpy int64 references.

The exact 8-bit path runs on the register micro-kernel here even where AMX is available
(``ACCELSIM_AMX=0``); tests/datapath/test_amx.py tests the AMX kernels.

Geometry here is larger than in test_kernels.py so that the padded-plane layout (taps over the
plane) and multi-tile jobs run; the references are vectorised numpy int64 so they stay fast.
"""

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from numba import njit

from accelsim.datapath import igemm, kernels, ops
from tests.datapath.test_kernels import ref_add_requant, ref_conv_acc, ref_requant


@pytest.fixture(autouse=True, scope="module")
def _register_kernels():
    """This module tests the register micro-kernel: keep the exact 8-bit path off AMX
    (tests/datapath/test_amx.py covers that path)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ACCELSIM_AMX", "0")
        yield


def ref_faithful_vec(x, w, bias, stride, pad, dil, groups, acc_bits, wrap):
    """Stepwise accumulator in the documented order (bias, then c, ky, kx), all outputs at once.

    Padded positions are skipped in the documented order; adding their zero product to an
    in-range accumulator changes nothing and is no event, so adding 0 there is the same thing.
    """
    n, c, h, wd = x.shape
    co, cg, kh, kw = w.shape
    pt, pl, pb, pr = pad
    lo, hi = -2 ** (acc_bits - 1), 2 ** (acc_bits - 1) - 1
    xp = np.zeros((n, c, h + pt + pb, wd + pl + pr), np.int64)
    xp[:, :, pt:pt + h, pl:pl + wd] = x
    oh = (h + pt + pb - dil[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (wd + pl + pr - dil[1] * (kw - 1) - 1) // stride[1] + 1
    ng = co // groups
    events = 0

    def fix(s):
        nonlocal events
        bad = (s < lo) | (s > hi)
        events += int(bad.sum())
        if wrap:
            return (s - lo) % 2 ** acc_bits + lo
        return np.clip(s, lo, hi)

    a = fix(np.broadcast_to(np.asarray(bias, np.int64)[None, :, None, None], (n, co, oh, ow)).copy())
    for ci in range(cg):
        for ky in range(kh):
            for kx in range(kw):
                ys, xs = ky * dil[0], kx * dil[1]
                for g in range(groups):
                    patch = xp[:, g * cg + ci, ys:ys + stride[0] * (oh - 1) + 1:stride[0],
                               xs:xs + stride[1] * (ow - 1) + 1:stride[1]]
                    wk = w[g * ng:(g + 1) * ng, ci, ky, kx].astype(np.int64)
                    a[:, g * ng:(g + 1) * ng] = fix(a[:, g * ng:(g + 1) * ng] + patch[:, None] * wk[None, :, None, None])
    return a, events


@st.composite
def wide_case(draw, acc_bits_range=(32, 32), bits_range=(2, 8)):
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    cg = draw(st.integers(1, 9))
    ng = draw(st.integers(1, 19))
    k = draw(st.sampled_from([1, 2, 3]))
    kh, kw = k, draw(st.sampled_from([k, 1, 3]))
    stride = draw(st.sampled_from([(1, 1), (1, 1), (2, 2), (1, 2)]))
    dil = draw(st.sampled_from([(1, 1), (1, 1), (2, 1)]))
    pad = tuple(draw(st.integers(0, 2)) for _ in range(4))
    h, wd = draw(st.integers(1, 17)), draw(st.integers(1, 17))
    assume(h + pad[0] + pad[2] >= dil[0] * (kh - 1) + 1 and wd + pad[1] + pad[3] >= dil[1] * (kw - 1) + 1)
    n = draw(st.integers(1, 3))
    ab = draw(st.integers(*bits_range))
    wb = draw(st.integers(*bits_range))
    acc_bits = draw(st.integers(*acc_bits_range))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    aq, wq = 2 ** (ab - 1) - 1, 2 ** (wb - 1) - 1
    x = rng.integers(-aq, aq + 1, (n, groups * cg, h, wd))
    w = rng.integers(-wq, wq + 1, (groups * ng, cg, kh, kw))
    if draw(st.booleans()):  # corners: largest codes of both signs
        x.flat[:: max(1, x.size // 7)] = aq
        w.flat[:: max(1, w.size // 5)] = -wq
    co = groups * ng
    bias = rng.integers(-2 ** min(acc_bits - 2, 30), 2 ** min(acc_bits - 2, 30), co)
    return dict(x=x, w=w, bias=bias, pre=rng.integers(0, 4, co), scale=rng.integers(1, 256, co),
                post=rng.integers(4, 20, co), lo=-127, hi=127, stride=stride, pad=pad, dil=dil,
                groups=groups, acc_bits=acc_bits, wrap=draw(st.booleans()))


def _run(case, path):
    return ops.conv(case["x"], case["w"], case["bias"], case["pre"], case["scale"], case["post"],
                    lo=case["lo"], hi=case["hi"], stride=case["stride"], padding=case["pad"],
                    dilation=case["dil"], groups=case["groups"], acc_bits=case["acc_bits"],
                    overflow="wrap" if case["wrap"] else "saturate", path=path)


def _exact(case):
    acc = ref_conv_acc(case["x"], case["w"], case["bias"], case["stride"], case["pad"], case["dil"], case["groups"])
    return ref_requant(acc, case["pre"], case["scale"], case["post"], case["lo"], case["hi"])


LAYOUTS = pytest.mark.parametrize("plane_min", [0, 1 << 30], ids=["plane", "im2col"])
"""Run a test with every stride-1 layer on the padded-plane layout, then with none."""


def _run_layout(case, path, plane_min):
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(igemm, "_PLANE_MIN", plane_min)
        return _run(case, path)


@LAYOUTS
@settings(max_examples=25, deadline=None)
@given(case=wide_case())
def test_int8_path_matches_int64(plane_min, case):
    np.testing.assert_array_equal(_run_layout(case, "int8", plane_min).out, _exact(case))


@LAYOUTS
@settings(max_examples=25, deadline=None)
@given(case=wide_case(bits_range=(2, 16), acc_bits_range=(40, 48)))
def test_int16_path_matches_int64(plane_min, case):
    l1 = np.abs(case["w"]).reshape(len(case["w"]), -1).sum(1)
    assume(int(np.abs(case["x"]).max()) * int(l1.max()) < 2 ** 31)
    np.testing.assert_array_equal(_run_layout(case, "int16", plane_min).out, _exact(case))


@LAYOUTS
@settings(max_examples=40, deadline=None)
@given(case=wide_case(acc_bits_range=(8, 22), bits_range=(2, 10)))
def test_faithful_path_matches_stepwise_reference_when_it_overflows(plane_min, case):
    """Narrow accumulators: many outputs overflow and are stepped, the rest take the screen."""
    acc, events = ref_faithful_vec(case["x"], case["w"], case["bias"], case["stride"], case["pad"],
                                   case["dil"], case["groups"], case["acc_bits"], case["wrap"])
    got = _run_layout(case, "faithful", plane_min)
    np.testing.assert_array_equal(got.out, ref_requant(acc, case["pre"], case["scale"], case["post"], -127, 127))
    assert got.overflow_events == events


@LAYOUTS
@settings(max_examples=25, deadline=None)
@given(case=wide_case(bits_range=(2, 16), acc_bits_range=(16, 48)), one_by_one=st.booleans())
def test_narrow_input_codes_give_the_same_outputs_in_the_narrowest_dtype(plane_min, case, one_by_one):
    """Activations in their narrowest dtype (int8 / int16, as the executor passes them) through
    every path ``auto`` picks (int8, int16, faithful, depthwise lanes, ...): outputs equal the
    int64 reference (faithful: the stepwise one) and come back in ``code_dtype(lo, hi)``.
    *one_by_one* makes the layer 1x1, stride 1, unpadded (the whole-plane pack)."""
    if one_by_one:
        case = dict(case, w=case["w"][:, :, :1, :1], stride=(1, 1), pad=(0, 0, 0, 0), dil=(1, 1))
    q = int(np.abs(case["x"]).max())
    case["lo"], case["hi"] = (0, 100) if case["wrap"] else (-127, 127)
    narrow = dict(case, x=case["x"].astype(ops.code_dtype(-q, q)))
    got = _run_layout(narrow, "auto", plane_min)
    acc, events = ref_faithful_vec(case["x"], case["w"], case["bias"], case["stride"], case["pad"], case["dil"],
                                   case["groups"], case["acc_bits"], case["wrap"])
    assert got.out.dtype == np.int8
    np.testing.assert_array_equal(got.out, ref_requant(acc, case["pre"], case["scale"], case["post"], case["lo"],
                                                       case["hi"]))
    assert got.overflow_events == events


def test_sums_above_float32_range_are_exact():
    """16-bit codes, sums up to ~2**31: beyond float32's 2**24 but inside the int32 lanes."""
    rng = np.random.default_rng(3)
    x = rng.integers(-32767, 32768, (2, 8, 9, 9))
    x[0, :, 3:6, 3:6] = 32767
    w = rng.integers(-800, 800, (16, 8, 3, 3))
    w[0] = 800  # output (0, 0, 4, 4): 72 * 32767 * 800 = 1.887e9 < 2**31
    l1 = np.abs(w).reshape(16, -1).sum(1)
    assert 2 ** 24 < 32767 * int(l1.max()) < 2 ** 31
    kw = dict(lo=-2 ** 31, hi=2 ** 31 - 1, padding=(1, 1, 1, 1), acc_bits=32)
    got = ops.conv(x, w, np.zeros(16), 0, 1, 0, **kw)
    assert got.path == "int16"
    want = ref_conv_acc(x, w, np.zeros(16), (1, 1), (1, 1, 1, 1), (1, 1), 1)
    assert want.max() == 72 * 32767 * 800
    np.testing.assert_array_equal(got.out, want)


def test_auto_takes_the_integer_kernel_and_depthwise_stays_direct():
    rng = np.random.default_rng(4)
    x = rng.integers(-127, 128, (2, 16, 12, 12))
    kw = dict(lo=-127, hi=127, padding=(1, 1, 1, 1), acc_bits=32)
    assert ops.conv(x, rng.integers(-127, 128, (16, 16, 3, 3)), np.zeros(16), 0, 1, 8, **kw).path == "int8"
    assert ops.conv(x * 200, rng.integers(-127, 128, (16, 16, 3, 3)), np.zeros(16), 0, 1, 8, **kw).path == "int16"
    dw = ops.conv(x, rng.integers(-127, 128, (16, 1, 3, 3)), np.zeros(16), 0, 1, 8, groups=16, **kw)
    assert dw.path == "int64"
    with pytest.raises(ValueError, match="not exact"):
        ops.conv(x * 200, rng.integers(-127, 128, (16, 16, 3, 3)), np.zeros(16), 0, 1, 8, path="int8", **kw)


def test_weight_code_minus_128_takes_the_16_bit_kernel():
    """|w| = 128 does not fit the screen's signed bytes, so 8-bit codes with -128 go to int16."""
    x = np.full((1, 4, 5, 5), 127)
    w = np.full((8, 4, 3, 3), -128)
    r = ops.conv(x, w, np.zeros(8), 0, 1, 0, lo=-2 ** 31, hi=2 ** 31 - 1, padding=(1, 1, 1, 1), acc_bits=32)
    assert r.path == "int16"
    np.testing.assert_array_equal(r.out, ref_conv_acc(x, w, np.zeros(8), (1, 1), (1, 1, 1, 1), (1, 1), 1))


@pytest.mark.parametrize("sixteen", [False, True])
def test_portable_vector_code_equals_the_vnni_instructions(sixteen, monkeypatch):
    """The code compiled for processors without AVX-512 VNNI gives the same lanes."""

    def kernel():
        @njit
        def dot(a, b, out, nq):
            acc = igemm.vzero()
            for q in range(nq):
                acc = igemm.vdot(acc, a, q * 16, b, q)
            igemm.vstore(acc, out, 0)
        return dot

    rng = np.random.default_rng(5)
    nq = 37
    if sixteen:
        a = rng.integers(-32768, 32768, nq * 32).astype(np.int16)
        b = rng.integers(-32768, 32768, nq * 2).astype(np.int16)
        want = (a.reshape(nq, 16, 2).astype(np.int64) * b.reshape(nq, 1, 2)).sum(axis=(0, 2))
    else:
        a = rng.integers(0, 256, nq * 64).astype(np.uint8)
        b = rng.integers(-128, 128, nq * 4).astype(np.int8)
        want = (a.reshape(nq, 16, 4).astype(np.int64) * b.reshape(nq, 1, 4)).sum(axis=(0, 2))
    want = (want + 2 ** 31) % 2 ** 32 - 2 ** 31  # lanes wrap modulo 2**32
    outs = []
    for vnni in sorted({False, igemm.HAVE_VNNI}):
        monkeypatch.setattr(igemm, "HAVE_VNNI", vnni)
        out = np.zeros(16, np.int32)
        kernel()(a, b, out, nq)
        outs.append(out)
    for out in outs:
        np.testing.assert_array_equal(out, want)


@settings(max_examples=40, deadline=None)
@given(case=wide_case(acc_bits_range=(8, 24), bits_range=(2, 9)), lanes=st.booleans(), narrow=st.booleans())
def test_lane_stepping_matches_stepwise_reference(case, lanes, narrow):
    """The faithful path stepped 64 outputs at a time in int32 lanes (products by vpmulld, or by
    vpmaddwd when *narrow*; and the per-output scalar stepping it replaces) against the numpy int64 reference of the documented order: strides,
    dilations, groups, asymmetric pads, saturate and wrap, outputs that overflow and ones that do not."""
    x, w = case["x"], case["w"]
    max_x, max_w = int(np.abs(x).max()), int(np.abs(w).max())
    assume(max_x <= 127 and max_w <= 127)
    assert (1 << (case["acc_bits"] - 1)) + max_x * max_w < 2 ** 31  # the lanes cannot overflow
    acc, events = ref_faithful_vec(x, w, case["bias"], case["stride"], case["pad"], case["dil"], case["groups"],
                                   case["acc_bits"], case["wrap"])
    oh, ow = ops.conv_out_hw(x.shape[2], x.shape[3], w.shape[2:], case["stride"], case["pad"], case["dil"])
    co = w.shape[0]
    per = [ops.per_channel(case[k], co) for k in ("bias", "pre", "scale", "post")]
    got, got_events = igemm.conv_codes(
        np.ascontiguousarray(x, np.int32), np.ascontiguousarray(w, np.int32), *per, -127, 127, case["stride"],
        case["pad"], case["dil"], case["groups"], oh, ow, sixteen=False, faithful=(case["acc_bits"], case["wrap"]),
        step_lanes=lanes, narrow=narrow)
    np.testing.assert_array_equal(got, ref_requant(acc, case["pre"], case["scale"], case["post"], -127, 127))
    assert got_events == events


def test_lane_stepping_counts_every_saturation_by_hand():
    """Nine channels, weights 100, inputs 100, a 16-bit accumulator: saturating, each output
    overflows at the 4th product (3*10**4 + 10**4 > 32767) and at every later one; wrapping,
    only the 4th step overflows."""
    x = np.full((1, 9, 5, 5), 100, np.int32)
    w = np.full((1, 9, 1, 1), 100, np.int32)
    one = np.ones(1, np.int64)
    out, events = igemm.conv_codes(x, w, np.zeros(1, np.int64), 0 * one, one, 0 * one, -2 ** 15, 2 ** 15,
                                   (1, 1), (0, 0, 0, 0), (1, 1), 1, 5, 5, sixteen=False, faithful=(16, False),
                                   step_lanes=True)
    assert (out == 32767).all()
    assert events == 25 * 6  # steps 4..9 of each of the 25 outputs
    out, events = igemm.conv_codes(x, w, np.zeros(1, np.int64), 0 * one, one, 0 * one, -2 ** 15, 2 ** 15,
                                   (1, 1), (0, 0, 0, 0), (1, 1), 1, 5, 5, sixteen=False, faithful=(16, True),
                                   step_lanes=True)
    assert (out == 90000 - 65536).all()  # 40000 wraps to -25536 once; the rest stays in range
    assert events == 25


@settings(max_examples=30, deadline=None)
@given(c=st.integers(2, 9), mult=st.integers(1, 3), k=st.sampled_from([1, 3, 5]), stride=st.sampled_from([1, 2, 3]),
       dil=st.sampled_from([1, 2]), pad=st.tuples(*[st.integers(0, 2)] * 4), h=st.integers(1, 19),
       wd=st.integers(1, 70), bits=st.sampled_from([2, 5, 8, 8, 12, 16]), seed=st.integers(0, 2 ** 32 - 1))
def test_depthwise_lanes_match_int64(c, mult, k, stride, dil, pad, h, wd, bits, seed):
    """Depthwise layers (channel multiplier 1-3) against numpy int64: on the int32-lane kernel, and
    with 12-16-bit codes whose sums may leave int32 on the int64 row kernel; rows wider than one
    64-output block and strides that split the plane into phases included."""
    assume(h + pad[0] + pad[2] >= dil * (k - 1) + 1 and wd + pad[1] + pad[3] >= dil * (k - 1) + 1)
    rng = np.random.default_rng(seed)
    q = 2 ** (bits - 1) - 1
    x = rng.integers(-q, q + 1, (2, c, h, wd))
    w = rng.integers(-q, q + 1, (c * mult, 1, k, k))
    co = c * mult
    case = dict(x=x, w=w, bias=rng.integers(-5000, 5000, co), pre=rng.integers(0, 4, co),
                scale=rng.integers(1, 256, co), post=rng.integers(4, 20, co), lo=-127, hi=127,
                stride=(stride, stride), pad=pad, dil=(dil, dil), groups=c, acc_bits=48, wrap=False)
    got = _run(case, "auto")
    assert got.path == "int64"
    np.testing.assert_array_equal(got.out, _exact(case))


def test_16_bit_lane_products_equal_the_32_bit_multiply(monkeypatch):
    """``vmadd16`` (one vpmaddwd per lane vector) and its portable form against int64 products,
    over the full signed 16-bit range of codes and weights."""

    def kernel():
        @njit
        def mac(x, ws, out):
            for i in range(ws.size):
                acc = igemm.vmadd16(igemm.vzero(), igemm.vload(x, 16 * i), ws[i])
                igemm.vstore(acc, out, 16 * i)
        return mac

    rng = np.random.default_rng(6)
    ws = rng.integers(-32767, 32768, 40).astype(np.int32)
    ws[:3] = (32767, -32767, 0)
    x = rng.integers(-32767, 32768, 16 * ws.size).astype(np.int32)
    x[:4] = (32767, -32767, -1, 0)
    want = x.astype(np.int64) * np.repeat(ws, 16)
    want = (want + 2 ** 31) % 2 ** 32 - 2 ** 31
    for vnni in sorted({False, igemm.HAVE_VNNI}):
        monkeypatch.setattr(igemm, "HAVE_VNNI", vnni)
        out = np.zeros_like(x)
        kernel()(x, ws, out)
        np.testing.assert_array_equal(out, want)


SCREEN_EDGE = [  # products (times k) in the documented order, overflow rule, hand-stepped acc / k, events
    ([100, 27, -60, -60], "saturate", 7, 0),      # positive products sum to hi exactly: fits, no step
    ([-100, -28, 60, 60], "saturate", -8, 0),     # negative products sum to lo exactly: fits
    ([100, 28, -60, -60], "saturate", None, 1),   # 128k = hi + 1 -> hi = 128k - 1, then -60k twice: 8k - 1
    ([-100, -29, 60, 60], "saturate", -8, 1),     # -129k -> lo = -128k, then +60k twice: -8k (exact: -9k)
    ([100, 28, -60, -60], "wrap", 8, 2),          # 128k wraps to -128k, -188k wraps to 68k, then 8k
]


@pytest.mark.parametrize("k", [1, 1024, 4096], ids=["int8-lanes", "int16-lanes", "int64"])
@pytest.mark.parametrize("products,overflow,acc,events", SCREEN_EDGE)
def test_faithful_screen_at_the_accumulator_edge(k, products, overflow, acc, events):
    """The screen lets an output skip stepping only when the sums of its positive and of its negative
    products both fit (``kernels._fits``), whatever |bias| + sum|x w| says: a 1x1 convolution of one
    pixel with four channels whose products sit exactly at, and one past, an ``8 + log2 k``-bit
    accumulator's edge, against values stepped by hand (k = 4096 makes codes too wide for the
    micro-kernel, so the int64 screen of ``kernels.gemm_acc_faithful`` runs)."""
    acc_bits = 8 + k.bit_length() - 1
    w = np.array([10, 1, 6, 6])
    x = np.array([p // wi for p, wi in zip(products, w)]) * k
    assert list(x * w) == [p * k for p in products]
    want = 8 * k - 1 if acc is None else acc * k
    got = ops.conv(x.reshape(1, 4, 1, 1), w.reshape(1, 4, 1, 1), np.zeros(1), 0, 1, 0, lo=-2 ** 20,
                   hi=2 ** 20, acc_bits=acc_bits, overflow=overflow, path="faithful")
    assert int(got.out[0, 0, 0, 0]) == want
    assert got.overflow_events == events
    lo, hi = -2 ** (acc_bits - 1), 2 ** (acc_bits - 1) - 1
    s, sa = int((x * w).sum()), int(np.abs(x * w).sum())
    assert sa > hi  # the old screen |bias| + sum|x w| <= hi would step every one of these
    assert kernels._fits(0, s, sa, lo, hi) == (events == 0)


def test_target_features_follow_numba_cpu_override(monkeypatch):
    """With NUMBA_CPU_NAME / NUMBA_CPU_FEATURES set, kernels are compiled for that target, so the
    instruction choice (VNNI intrinsics, AMX tiles) must follow it rather than the host."""
    import numba

    monkeypatch.setattr(numba.config, "CPU_NAME", "skylake-avx512")
    monkeypatch.setattr(numba.config, "CPU_FEATURES", "+avx512f,+avx512bw,+avx512vnni")
    assert igemm.target_has("avx512vnni", "avx512bw", "avx512f")
    assert not igemm.target_has("amx-tile", "amx-int8")
    monkeypatch.setattr(numba.config, "CPU_FEATURES", "+avx512f,+avx512bw")
    assert not igemm.target_has("avx512vnni")


def _vm_flags(address: int) -> set[str] | None:
    """VmFlags of the mapping holding *address* in /proc/self/smaps (None without /proc)."""
    try:
        text = open("/proc/self/smaps").read()
    except OSError:
        return None
    inside = False
    for line in text.splitlines():
        head = line.split()[0]
        if "-" in head and not head.endswith(":"):
            lo, hi = (int(v, 16) for v in head.split("-"))
            inside = lo <= address < hi
        elif inside and head == "VmFlags:":
            return set(line.split()[1:])
    return None


def test_scratch_memory_is_advised_for_huge_pages_and_behaves_as_plain_memory():
    """Large scratch buffers sit 2 MiB-aligned in a mapping advised MADV_HUGEPAGE (flag ``hg`` in
    /proc/self/smaps, where Linux has it); contents round-trip like any array; small requests stay
    ordinary numpy memory."""
    import mmap
    n = 3 * igemm.HUGE_PAGE_BYTES + 12345
    buf = igemm.huge_empty(n)
    assert buf.dtype == np.uint8 and buf.shape == (n,) and buf.flags.writeable
    values = np.arange(n, dtype=np.int64) % 251
    buf[:] = values
    assert np.array_equal(buf.astype(np.int64), values)
    assert igemm.huge_empty(100).base is None  # below half a huge page: plain numpy memory
    if not hasattr(mmap, "MADV_HUGEPAGE"):
        return
    assert buf.ctypes.data % igemm.HUGE_PAGE_BYTES == 0
    flags = _vm_flags(buf.ctypes.data)
    if flags is not None:
        assert "hg" in flags
    # the scratch slot reuses its buffer while big enough and grows by half when not
    a = igemm._scratch("test_slot", (1000, 1000), np.int32)
    b = igemm._scratch("test_slot", (10, 10), np.int32)
    assert a.ctypes.data == b.ctypes.data
    c = igemm._scratch("test_slot", (1001, 1000), np.int32)
    assert igemm._SCRATCH.test_slot.size >= 6_000_000
    assert c.shape == (1001, 1000) and c.dtype == np.int32


@njit(cache=True)
def _fused_add_lanes(conv, skip, table, alo, ahi, out):
    """``igemm``'s residual-add lanes over whole arrays (channel ``c`` of row ``c``), the tail of
    each row through the masked load and store."""
    c, m = conv.shape
    for ch in range(c):
        fp = table[ch]
        k = 0
        while k < m:
            cnt = min(igemm.LANES, m - k)
            base = ch * m + k
            v = igemm.vload_codes(conv.reshape(-1), base) if cnt == igemm.LANES else \
                igemm.vload_codes_first(conv.reshape(-1), base, cnt)
            s = igemm.vload_codes(skip.reshape(-1), base) if cnt == igemm.LANES else \
                igemm.vload_codes_first(skip.reshape(-1), base, cnt)
            r = igemm.vadd_requant32(v, s, fp[0], fp[1], fp[2], fp[3], fp[4], fp[5], fp[6], fp[7], alo, ahi)
            if cnt == igemm.LANES:
                igemm.vstore_narrow(r, out.reshape(-1), base)
            else:
                igemm.vstore_narrow_first(r, out.reshape(-1), base, cnt)
            k += cnt


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2 ** 32 - 1), skip16=st.booleans(), relu=st.booleans())
def test_residual_add_lanes_equal_the_add_rule_on_every_code_pair(seed, skip16, relu):
    """``ops.residual_params`` and the lane intrinsics an epilogue uses to fuse an add give the
    add rule in exact rationals for every pair of an 8-bit layer code and a skip code (all 256 x
    256 pairs, or 16-bit skips sampled), per-channel parameters of both inputs, rows of every
    length (masked tails); parameters whose lanes could wrap give None."""
    rng = np.random.default_rng(seed)
    c = 3
    m = 256 * 256 if not skip16 else 4099
    grid = np.arange(-128, 128)
    conv = np.broadcast_to(np.repeat(grid, 256)[:m] if not skip16 else rng.integers(-128, 128, m), (c, m))
    sm = 2 ** 15 if skip16 else 128
    skip = np.broadcast_to(np.tile(grid, 256)[:m] if not skip16 else rng.integers(-sm, sm, m), (c, m))
    p_layer = (rng.integers(0, 3, c), rng.integers(1, 256, c), rng.integers(6, 15, c))
    p_skip = (rng.integers(0, 3, c), rng.integers(1, 256, c), rng.integers(6, 15, c))
    assert ops.residual_params((128, 128), ([0], [2 ** 30], [6]), ([0], [1], [6])) is None  # would wrap
    table = ops.residual_params((128, sm), p_layer, p_skip)
    want_none = not ops.add_lanes((128, sm), p_layer, p_skip).all()
    assert (table is None) == want_none
    if table is None:
        return
    alo, ahi = (0, 127) if relu else (-128, 127)
    out = np.zeros((c, m), dtype=np.int8)
    _fused_add_lanes(np.ascontiguousarray(conv, dtype=np.int8),
                     np.ascontiguousarray(skip, dtype=np.int16 if skip16 else np.int8), table, alo, ahi, out)
    want = ops.add(conv.reshape(1, c, 1, m), skip.reshape(1, c, 1, m), p_layer, p_skip, lo=alo, hi=ahi)
    np.testing.assert_array_equal(out, want.reshape(c, m))
    pick = rng.integers(0, m, 300)  # the add itself against exact rationals on a sample
    np.testing.assert_array_equal(out[None, :, pick], ref_add_requant(conv[None, :, pick], skip[None, :, pick],
                                                                      p_layer, p_skip, alo, ahi))
