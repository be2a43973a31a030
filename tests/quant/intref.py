"""Test-only numpy int64 reference of the descriptor ops, written from the descriptor docstring
and :mod:`accelsim.layers.arith` (independent of the quantizer's fake-quant arithmetic)."""

import numpy as np

from accelsim.layers.arith import qmax, quantize_tensor, requantize, requantize_sum


def _pad(x, pads, value):
    t, l, b, r = pads
    return np.pad(x, ((0, 0), (0, 0), (t, b), (l, r)), constant_values=value)


def _windows(x, kernel, stride, dilation, out_hw):
    """[N, C, oh, ow, kh*kw] views of a padded input."""
    kh, kw = kernel
    sh, sw = stride
    dh, dw = dilation
    oh, ow = out_hw
    cols = []
    for i in range(kh):
        for j in range(kw):
            cols.append(x[:, :, i * dh: i * dh + sh * (oh - 1) + 1: sh, j * dw: j * dw + sw * (ow - 1) + 1: sw])
    return np.stack(cols, axis=-1)


def _params(net, layer, prefix, ndim):
    """``(pre_shift, scale, post_shift)`` of *layer*, per channel on axis 1 of an *ndim* array."""
    k = lambda role: np.asarray(net.tensors[layer.key(prefix + role)], dtype=np.int64)  # noqa: E731
    pre, scale, post = k("pre_shift"), k("scale"), k("post_shift")
    shp = (1, -1) + (1,) * (ndim - 2)
    if pre.size > 1:
        pre, scale, post = pre.reshape(shp), scale.reshape(shp), post.reshape(shp)
    return pre, scale, post


def _rq(acc, net, layer, prefix=""):
    """Per-channel requantization on axis 1 of *acc*."""
    return requantize(acc, *_params(net, layer, prefix, acc.ndim), -(2**62), 2**62)


def run_layer(net, layer, xs):
    q = layer.quant
    lo, hi = q.out_min, q.out_max
    op = layer.op
    if op in ("conv2d", "depthwise"):
        w = net.tensors[layer.key("weight")].astype(np.int64)
        b = net.tensors[layer.key("bias")].astype(np.int64)
        x = _pad(xs[0].reshape((xs[0].shape[0],) + tuple(layer.in_shape[1:])), layer.padding, 0)
        _, _, oh, ow = layer.out_shape
        win = _windows(x, layer.kernel, layer.stride, layer.dilation, (oh, ow))  # N,C,oh,ow,K
        g = layer.groups
        cin_g = layer.in_shape[1] // g
        cout_g = layer.out_shape[1] // g
        outs = []
        if cin_g == 1 and cout_g == 1:  # depthwise: one vectorised product over channels
            prod = np.einsum("nchwk,ck->nchw", win.astype(np.float64), w.reshape(g, -1).astype(np.float64))
            outs.append(np.rint(prod).astype(np.int64))
            g = 0
        for gi in range(g):
            xg = win[:, gi * cin_g:(gi + 1) * cin_g]  # N,cin_g,oh,ow,kk
            wg = w[gi * cout_g:(gi + 1) * cout_g].reshape(cout_g, cin_g, -1)
            # float64 products are exact integers here (|sum| << 2**53) and use BLAS
            prod = np.tensordot(xg.astype(np.float64), wg.astype(np.float64), axes=([1, 4], [1, 2]))
            outs.append(np.rint(prod).astype(np.int64).transpose(0, 3, 1, 2))
        acc = np.concatenate(outs, axis=1) + b.reshape(1, -1, 1, 1)
        return np.clip(_rq(acc, net, layer), lo, hi)
    if op == "gemm":
        w = net.tensors[layer.key("weight")].astype(np.int64)
        b = net.tensors[layer.key("bias")].astype(np.int64)
        x = xs[0].reshape(xs[0].shape[0], -1)
        acc = np.rint(x.astype(np.float64) @ w.T.astype(np.float64)).astype(np.int64) + b
        return np.clip(_rq(acc, net, layer), lo, hi).reshape((x.shape[0],) + tuple(layer.out_shape[1:]))
    if op == "maxpool":
        x = _pad(xs[0], layer.padding, -(2**40))
        win = _windows(x, layer.kernel, layer.stride, layer.dilation, layer.out_shape[2:])
        return win.max(axis=-1)
    if op == "avgpool":
        x = _pad(xs[0], layer.padding, 0)
        win = _windows(x, layer.kernel, layer.stride, (1, 1), layer.out_shape[2:])
        return np.clip(_rq(win.sum(axis=-1), net, layer), lo, hi)
    if op == "add":
        return requantize_sum(xs[0], xs[1], _params(net, layer, "in0.", xs[0].ndim),
                              _params(net, layer, "in1.", xs[1].ndim), lo, hi)
    if op == "concat":
        parts = [np.clip(_rq(x, net, layer, f"in{i}."), lo, hi) for i, x in enumerate(xs)]
        if layer.key("index") in net.tensors:  # concat along H or W: flat samples end to end, then index
            flat = np.concatenate([p.reshape(p.shape[0], -1) for p in parts], axis=1)
            idx = net.tensors[layer.key("index")].astype(np.int64)
            return flat[:, idx].reshape((flat.shape[0],) + tuple(layer.out_shape[1:]))
        return np.concatenate(parts, axis=1)
    if op == "affine":
        w = net.tensors[layer.key("weight")].astype(np.int64)
        b = net.tensors[layer.key("bias")].astype(np.int64)
        x = xs[0].reshape((xs[0].shape[0],) + tuple(layer.in_shape[1:]))
        return np.clip(_rq(x * w + b, net, layer), lo, hi)
    if op == "prelu":
        a = net.tensors[layer.key("weight")].astype(np.int64).reshape(1, -1, 1, 1)
        x = xs[0].reshape((xs[0].shape[0],) + tuple(layer.in_shape[1:]))
        return np.clip(np.where(x >= 0, _rq(x, net, layer, "pos."), _rq(x * a, net, layer)), lo, hi)
    if op == "gather":
        idx = net.tensors[layer.key("index")].astype(np.int64)
        fill = net.tensors[layer.key("fill")].astype(np.int64)
        flat = xs[0].reshape(xs[0].shape[0], -1)
        out = np.empty((flat.shape[0], idx.size), np.int64)
        for i, k in enumerate(idx):  # element by element, as the descriptor docstring reads
            out[:, i] = flat[:, k] if k >= 0 else fill[-1 - k]
        return out.reshape((flat.shape[0],) + tuple(layer.out_shape[1:]))
    if op == "resize":
        t = {k: net.tensors[layer.key(k)].astype(np.int64) for k in ("h_index", "h_weight", "w_index", "w_weight")}
        x = xs[0]
        n, c, oh, ow = (x.shape[0],) + tuple(layer.out_shape[1:])
        acc = np.zeros((n, c, oh, ow), np.int64)
        for i in range(oh):
            for j in range(ow):
                for a in range(2):
                    for b in range(2):
                        acc[:, :, i, j] += (x[:, :, t["h_index"][i, a], t["w_index"][j, b]]
                                            * t["h_weight"][i, a] * t["w_weight"][j, b])
        return np.clip(_rq(acc, net, layer), lo, hi)
    if op == "mul":
        return np.clip(_rq(xs[0] * xs[1], net, layer), lo, hi)
    if op == "lut":
        return net.tensors[layer.key("lut")].astype(np.int64)[xs[0] + qmax(layer.act_bits)]
    if op == "reshape":
        return xs[0].reshape((xs[0].shape[0],) + tuple(layer.out_shape[1:]))
    raise AssertionError(op)


def run_int(net, x):
    """Quantize *x* with ``net.input_quant`` and run every layer; returns dequantized outputs."""
    name = net.inputs[0]
    t, s, bits = net.input_quant[name]
    env = {name: quantize_tensor(x, s, bits)}
    steps = {}
    for layer in net.layers:
        env[layer.output] = run_layer(net, layer, [env[i] for i in layer.inputs])
        steps[layer.output] = layer.quant.out_step
    return {o: env[o].reshape(env[o].shape[0], -1) * steps[o] for o in net.outputs}
