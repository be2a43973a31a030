"""Throughput of the integer datapath on a ResNet-style 3x3 convolution against onnxruntime.

Layer: 64 -> 64 channels, 56 x 56, 3 x 3, pad 1, batch 8 (925 M MACs). In the same run, on the
same thread count (1 and 2; each count in a fresh subprocess so NUMBA_NUM_THREADS,
OPENBLAS_NUM_THREADS and onnxruntime's intra-op threads all agree):

* accelsim ``ops.conv`` (auto path: the exactness bound holds for 8-bit codes, 32-bit accumulator,
  so the int8 micro-kernel runs; checked bit-exact against the int64 path in the run), with the
  layer's packed weights kept across calls as the network executor keeps them,
* accelsim ``ops.conv`` forced onto the faithful path (saturating accumulator: every output
  screened by its own bound on the micro-kernel, stepped where the bound fails — here none,
  as in any layer whose accumulator is wide enough),
* the same faithful path with narrower accumulators (the count of actual overflow events printed):
  22 bits, where ``|bias| + sum|x w|`` exceeds the range for nearly every output but the sums of
  the positive and of the negative products (the screen) stay inside it, so few blocks step; and
  18 bits, where those sums leave the range for every output and most really overflow, so every
  block of 64 outputs is stepped in int32 lanes in the documented order,
* the float32 BLAS path (``path="float32"``, the exact path before the integer kernels),
* the per-step reference (``path="stepped"``: every output stepped; timed on one image),
* onnxruntime int8 ``QLinearConv`` (uint8 activations, int8 per-channel weights, built with
  onnx.helper),
* onnxruntime float32 ``Conv``.

The four are timed in interleaved rounds (best of ``REPEATS`` kept) so machine load hits them
alike. Prints GMAC/s and the ratio of accelsim to ORT int8, with the load average.

Run: ``python benchmarks/datapath_conv_throughput.py`` (about a minute on 2 cores).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

N, C, H, W, K = 8, 64, 56, 56, 64
MACS = N * H * W * K * C * 9
REPEATS = 5
NARROW_ACC_BITS = (22, 18)
"""Further faithful runs with these accumulator widths: the screen passes nearly every output at
22 bits and none at 18 (most outputs overflow there)."""
NARROWS = tuple(f"faithful_acc{bits}" for bits in NARROW_ACC_BITS)


def _best(fn, repeats=REPEATS):
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def measure(threads: int) -> dict:
    import numpy as np
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    from accelsim.datapath import ops

    rng = np.random.default_rng(0)
    xq = rng.integers(-127, 128, (N, C, H, W)).astype(np.int32)
    wq = rng.integers(-127, 128, (K, C, 3, 3)).astype(np.int32)
    bias = rng.integers(-2000, 2000, K).astype(np.int64)
    pre, scale, post = np.zeros(K, np.int64), np.full(K, 77, np.int64), np.full(K, 17, np.int64)
    kw = dict(lo=-127, hi=127, padding=(1, 1, 1, 1), acc_bits=32)

    res = {"threads": threads}
    l1 = ops.weight_l1(wq)
    packed = {}
    fast = ops.conv(xq, wq, bias, pre, scale, post, l1=l1, packed=packed, **kw)
    ref = ops.conv(xq, wq, bias, pre, scale, post, path="int64", **kw)
    res["accelsim_path"] = fast.path
    res["bit_exact_vs_int64"] = bool(np.array_equal(fast.out, ref.out))
    faithful = ops.conv(xq, wq, bias, pre, scale, post, path="faithful", l1=l1, packed=packed, **kw)
    res["faithful_bit_exact"] = bool(np.array_equal(faithful.out, ref.out)) and faithful.overflow_events == 0
    for bits in NARROW_ACC_BITS:
        narrow = ops.conv(xq, wq, bias, pre, scale, post, path="faithful", **dict(kw, acc_bits=bits))
        res[f"acc{bits}_events"] = narrow.overflow_events
    xs = xq[:1]
    res["stepped_s"] = _best(lambda: ops.conv(xs, wq, bias, pre, scale, post, path="stepped", **kw), 1) * N
    runs = {"accelsim": lambda: ops.conv(xq, wq, bias, pre, scale, post, l1=l1, packed=packed, **kw),
            "faithful": lambda: ops.conv(xq, wq, bias, pre, scale, post, path="faithful", l1=l1, packed=packed,
                                         **kw),
            **{f"faithful_acc{bits}": (lambda bits=bits: ops.conv(xq, wq, bias, pre, scale, post, path="faithful",
                                                                    l1=l1, packed=packed, **dict(kw, acc_bits=bits)))
               for bits in NARROW_ACC_BITS},
            "float32": lambda: ops.conv(xq, wq, bias, pre, scale, post, path="float32", l1=l1, **kw)}

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # the rounds interleave the contenders: onnxruntime's pool threads must not spin-wait through the
    # next contender's round (by default they do, and take its cores: accelsim's 2-thread time doubled)
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")

    def session(nodes, inputs, outputs, inits):
        g = helper.make_graph(nodes, "g", inputs, outputs, inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
        m.ir_version = 8
        return ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])

    # int8: uint8 activations (zero point 128), int8 per-channel weights, int32 bias
    x_u8 = (xq + 128).astype(np.uint8)
    inits = [numpy_helper.from_array(np.array(0.02, np.float32), "xs"), numpy_helper.from_array(np.array(128, np.uint8), "xz"),
             numpy_helper.from_array(wq.astype(np.int8), "w"), numpy_helper.from_array(np.full(K, 0.01, np.float32), "ws"),
             numpy_helper.from_array(np.zeros(K, np.int8), "wz"), numpy_helper.from_array(np.array(0.5, np.float32), "ys"),
             numpy_helper.from_array(np.array(128, np.uint8), "yz"), numpy_helper.from_array(bias.astype(np.int32), "b")]
    node = helper.make_node("QLinearConv", ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz", "b"], ["y"],
                            kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    s8 = session([node], [helper.make_tensor_value_info("x", TensorProto.UINT8, [N, C, H, W])],
                 [helper.make_tensor_value_info("y", TensorProto.UINT8, [N, K, H, W])], inits)
    runs["ort_int8"] = lambda: s8.run(None, {"x": x_u8})

    xf = xq.astype(np.float32) * 0.02
    inits = [numpy_helper.from_array((wq * 0.01).astype(np.float32), "w"), numpy_helper.from_array(bias.astype(np.float32), "b")]
    node = helper.make_node("Conv", ["x", "w", "b"], ["y"], kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    sf = session([node], [helper.make_tensor_value_info("x", TensorProto.FLOAT, [N, C, H, W])],
                 [helper.make_tensor_value_info("y", TensorProto.FLOAT, [N, K, H, W])], inits)
    runs["ort_float"] = lambda: sf.run(None, {"x": xf})
    for f in runs.values():
        f()
    best = {k: float("inf") for k in runs}
    cpu = {k: float("inf") for k in runs}
    for _ in range(REPEATS):
        for k, f in runs.items():
            c = time.process_time()
            t = time.perf_counter()
            f()
            best[k] = min(best[k], time.perf_counter() - t)
            cpu[k] = min(cpu[k], time.process_time() - c)
    for k, v in best.items():
        res[k + "_s"] = v
        res[k + "_cpu_s"] = cpu[k]
    for k in ("accelsim", "faithful", *NARROWS, "float32", "stepped", "ort_int8", "ort_float"):
        res[k + "_gmacs"] = MACS / res[k + "_s"] / 1e9
    res["accelsim_over_ort_int8"] = res["accelsim_gmacs"] / res["ort_int8_gmacs"]
    res["accelsim_over_ort_float"] = res["accelsim_gmacs"] / res["ort_float_gmacs"]
    return res


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        print(json.dumps(measure(int(sys.argv[2]))))
        return
    print(f"3x3 conv {C}->{K}, {H}x{W}, batch {N}: {MACS / 1e6:.0f} M MACs; best of {REPEATS} interleaved rounds; "
          f"load {' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    print(f"{'threads':>7}  {'accelsim':>9}  {'path':>5}  {'exact':>5}  {'faithful':>8}  {'float32':>7}  {'stepped':>7}  "
          f"{'ORT int8':>8}  {'ORT f32':>8}  {'acc/int8':>8}  {'faithful/int8':>13}   (GMAC/s)")
    rows = {}
    for threads in (1, 2):
        env = dict(os.environ, NUMBA_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads),
                   OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
        env.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")  # OpenBLAS's idle threads (float32 column) likewise
        out = subprocess.run([sys.executable, __file__, "--child", str(threads)], env=env, check=True,
                             capture_output=True, text=True).stdout
        r = rows[threads] = json.loads(out.strip().splitlines()[-1])
        exact = r["bit_exact_vs_int64"] and r["faithful_bit_exact"]
        print(f"{threads:>7}  {r['accelsim_gmacs']:>9.2f}  {r['accelsim_path']:>5}  {str(exact):>5}  "
              f"{r['faithful_gmacs']:>8.2f}  {r['float32_gmacs']:>7.2f}  {r['stepped_gmacs']:>7.2f}  "
              f"{r['ort_int8_gmacs']:>8.2f}  {r['ort_float_gmacs']:>8.2f}  {r['accelsim_over_ort_int8']:>8.3f}  "
              f"{r['faithful_gmacs'] / r['ort_int8_gmacs']:>13.3f}")
        for bits in NARROW_ACC_BITS:
            print(f"{'':>7}  faithful with a {bits}-bit accumulator: {r[f'faithful_acc{bits}_gmacs']:.2f} GMAC/s, "
                  f"{r[f'acc{bits}_events']:,} overflow events")
        print(f"{'':>7}  CPU ms (all threads, best round): " + ", ".join(
            f"{k} {1e3 * r[k + '_cpu_s']:.0f}" for k in ("accelsim", "faithful", *NARROWS, "ort_int8", "ort_float")))
    print("2 threads / 1 thread (GMAC/s ratio): " + ", ".join(
        f"{k} {rows[2][k + '_gmacs'] / rows[1][k + '_gmacs']:.2f}"
        for k in ("accelsim", "faithful", *NARROWS, "ort_int8", "ort_float")))
    print(f"load at end {' '.join(f'{v:.1f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
