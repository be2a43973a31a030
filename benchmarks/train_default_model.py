"""Train and export accelsim's bundled default model: a small Fashion-MNIST CNN.

A development script, never imported by the package (torch is only in the ``train`` extra)::

    pip install -e '.[train]'
    python benchmarks/train_default_model.py --out accelsim/data

It writes, into ``--out``:

- ``default_model.onnx``   float model, opset 17, input ``input`` [N,1,28,28] float32 (dynamic N),
  output ``logits`` [N,10]; BatchNormalization nodes are kept (the importer folds them);
- ``default_model.json``   metadata: input/output, preprocessing, class names, accuracies,
  parameter and MAC counts, training facts, SHA-256 of the ONNX file and of the data subsets;
- ``fashion_mnist_test_2000.npz``  the FIRST 2,000 images of the official test split;
- ``fashion_mnist_calib_512.npz``  512 training images drawn without replacement by a seeded
  ``numpy.random.default_rng(seed)``, kept in ascending index order (``indices`` is stored too).

Network (every conv has no bias and is followed by BatchNorm)::

    input 1x28x28
    conv3x3 1->16, BN, ReLU                       28x28  (stem)
    maxpool 2x2                                   14x14
    residual block: conv3x3 16->16, BN, ReLU,     14x14
                    conv3x3 16->16, BN, + identity, ReLU
    depthwise 3x3 (groups=16), BN, ReLU           14x14  (depthwise-separable block 1)
    pointwise 1x1 16->48, BN, ReLU
    maxpool 2x2                                   7x7
    depthwise 3x3 (groups=48), BN, ReLU           7x7    (depthwise-separable block 2)
    pointwise 1x1 48->96, BN, ReLU
    global average pool -> flatten -> fully connected 96->10 (logits)

Determinism: fixed seeds (torch, numpy), ``torch.use_deterministic_algorithms(True)``, a fixed
thread count (``--threads``, default 1: on 2 cores shared with other jobs, 2 OpenMP threads ran
5-7x slower per step than 1), data order and augmentation (random horizontal flip) drawn from a
seeded ``torch.Generator``. Rerunning on the same machine with the same arguments gives the same
weights; the script prints their SHA-256 (also stored as ``training.weights_sha256``) so two runs
can be compared. Another CPU or thread count may round differently and give other weights.

Training takes 8 epochs of ~2-5 minutes each on 2 shared cores (~106 s on a quiet machine).

The ONNX graph is written with ``onnx.helper`` from the trained weights (no exporter package
needed), then checked against torch with onnxruntime (max abs diff of the logits < 1e-4).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import struct
import sys
import time
from pathlib import Path

import numpy as np

CLASS_NAMES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]
DEFAULT_DATA_DIR = str(Path(__file__).resolve().parents[1].parent / "shared" / "data" / "fashion-mnist")  # ../shared beside the checkout
TEST_SUBSET_SIZE = 2000
CALIB_SUBSET_SIZE = 512
OPSET = 17
C_STEM, C_MID, C_OUT = 16, 48, 96  # channel widths (see the docstring)


# ---------------------------------------------------------------------------------------------
# IDX reading (a tiny reader of its own; the package has its own loader)
# ---------------------------------------------------------------------------------------------
def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (gzipped if the name ends in .gz) of unsigned bytes into a uint8 array.

    Header: two zero bytes, a type code (0x08 = ubyte), the number of dimensions d, then d
    big-endian uint32 sizes; the data follow in C order.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        raw = fh.read()
    zero, dtype_code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype_code != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file (magic {raw[:4].hex()})")
    shape = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise ValueError(f"{path}: header says {shape} but holds {data.size} bytes")
    return data.reshape(shape).copy()


def load_split(data_dir: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Images uint8 [N,28,28] and labels uint8 [N] of the 'train' or 't10k' split."""
    images = read_idx(data_dir / f"{split}-images-idx3-ubyte.gz")
    labels = read_idx(data_dir / f"{split}-labels-idx1-ubyte.gz")
    assert images.shape[0] == labels.shape[0]
    return images, labels


# ---------------------------------------------------------------------------------------------
# The network
# ---------------------------------------------------------------------------------------------
def build_model():
    """The torch module described in the module docstring."""
    import torch.nn as nn

    def conv_bn(cin: int, cout: int, k: int, groups: int = 1) -> nn.Sequential:
        return nn.Sequential(
            nn.Conv2d(cin, cout, k, padding=k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)
        )

    class DefaultNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = conv_bn(1, C_STEM, 3)
            self.res_a = conv_bn(C_STEM, C_STEM, 3)
            self.res_b = conv_bn(C_STEM, C_STEM, 3)
            self.dw1 = conv_bn(C_STEM, C_STEM, 3, groups=C_STEM)
            self.pw1 = conv_bn(C_STEM, C_MID, 1)
            self.dw2 = conv_bn(C_MID, C_MID, 3, groups=C_MID)
            self.pw2 = conv_bn(C_MID, C_OUT, 1)
            self.fc = nn.Linear(C_OUT, 10)
            self.relu = nn.ReLU()
            self.pool = nn.MaxPool2d(2)

        def forward(self, x):
            x = self.pool(self.relu(self.stem(x)))
            x = self.relu(self.res_b(self.relu(self.res_a(x))) + x)
            x = self.relu(self.pw1(self.relu(self.dw1(x))))
            x = self.pool(x)
            x = self.relu(self.pw2(self.relu(self.dw2(x))))
            x = x.mean(dim=(2, 3))
            return self.fc(x)

    return DefaultNet()


def count_macs() -> dict[str, int]:
    """Multiply-accumulates per image, layer by layer (conv: H*W*Cout*K*K*Cin/groups; fc: in*out)."""
    layers = {
        "stem": 28 * 28 * C_STEM * 9 * 1,
        "res_a": 14 * 14 * C_STEM * 9 * C_STEM,
        "res_b": 14 * 14 * C_STEM * 9 * C_STEM,
        "dw1": 14 * 14 * C_STEM * 9,
        "pw1": 14 * 14 * C_MID * C_STEM,
        "dw2": 7 * 7 * C_MID * 9,
        "pw2": 7 * 7 * C_OUT * C_MID,
        "fc": C_OUT * 10,
    }
    layers["total"] = sum(layers.values())
    return layers


# ---------------------------------------------------------------------------------------------
# ONNX export by hand (onnx.helper), BatchNormalization nodes kept
# ---------------------------------------------------------------------------------------------
def export_onnx(model, path: Path) -> None:
    """Write ``model`` (in eval mode) as an opset-17 ONNX graph with explicit BN nodes."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    sd = {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}
    inits: list = []
    nodes: list = []

    def init(name: str, arr: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(arr, dtype=np.float32), name))
        return name

    def conv_bn(prefix: str, x: str, groups: int, relu: bool, k: int) -> str:
        w = init(f"{prefix}.conv.weight", sd[f"{prefix}.0.weight"])
        pad = k // 2
        nodes.append(helper.make_node(
            "Conv", [x, w], [f"{prefix}.conv_out"], name=f"{prefix}.conv",
            kernel_shape=[k, k], pads=[pad, pad, pad, pad], strides=[1, 1], dilations=[1, 1],
            group=groups,
        ))
        bn_in = [f"{prefix}.conv_out"] + [
            init(f"{prefix}.bn.{p}", sd[f"{prefix}.1.{q}"])
            for p, q in (("scale", "weight"), ("bias", "bias"), ("mean", "running_mean"),
                         ("var", "running_var"))
        ]
        eps = float(model.get_submodule(f"{prefix}.1").eps)
        nodes.append(helper.make_node(
            "BatchNormalization", bn_in, [f"{prefix}.bn_out"], name=f"{prefix}.bn", epsilon=eps,
        ))
        out = f"{prefix}.bn_out"
        if relu:
            nodes.append(helper.make_node("Relu", [out], [f"{prefix}.relu_out"], name=f"{prefix}.relu"))
            out = f"{prefix}.relu_out"
        return out

    def maxpool(name: str, x: str) -> str:
        nodes.append(helper.make_node(
            "MaxPool", [x], [f"{name}_out"], name=name, kernel_shape=[2, 2], strides=[2, 2],
            pads=[0, 0, 0, 0],
        ))
        return f"{name}_out"

    x = conv_bn("stem", "input", 1, True, 3)
    x = maxpool("pool1", x)
    skip = x
    y = conv_bn("res_a", x, 1, True, 3)
    y = conv_bn("res_b", y, 1, False, 3)
    nodes.append(helper.make_node("Add", [y, skip], ["res_add_out"], name="res_add"))
    nodes.append(helper.make_node("Relu", ["res_add_out"], ["res_relu_out"], name="res_relu"))
    x = conv_bn("dw1", "res_relu_out", C_STEM, True, 3)
    x = conv_bn("pw1", x, 1, True, 1)
    x = maxpool("pool2", x)
    x = conv_bn("dw2", x, C_MID, True, 3)
    x = conv_bn("pw2", x, 1, True, 1)
    nodes.append(helper.make_node("GlobalAveragePool", [x], ["gap_out"], name="gap"))
    nodes.append(helper.make_node("Flatten", ["gap_out"], ["flat_out"], name="flatten", axis=1))
    nodes.append(helper.make_node(
        "Gemm", ["flat_out", init("fc.weight", sd["fc.weight"]), init("fc.bias", sd["fc.bias"])],
        ["logits"], name="fc", transB=1,
    ))
    graph = helper.make_graph(
        nodes, "accelsim_default_fashion_mnist",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 1, 28, 28])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])],
        initializer=inits,
    )
    m = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="accelsim-train",
        ir_version=8,
    )
    onnx.checker.check_model(m, full_check=True)
    path.write_bytes(m.SerializeToString())


# ---------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------
def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def weights_sha256(model) -> str:
    """SHA-256 over every state-dict tensor, in key order (name, then raw little-endian bytes)."""
    h = hashlib.sha256()
    for k, v in model.state_dict().items():
        h.update(k.encode())
        h.update(np.ascontiguousarray(v.detach().cpu().numpy()).tobytes())
    return h.hexdigest()


def onnx_top1(onnx_path: Path, x: np.ndarray, y: np.ndarray, batch: int = 1000) -> float:
    """Top-1 accuracy of the ONNX model under onnxruntime on preprocessed float input ``x``."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    sess = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
    correct = 0
    for i in range(0, len(x), batch):
        logits = sess.run(["logits"], {"input": x[i:i + batch]})[0]
        correct += int((logits.argmax(1) == y[i:i + batch]).sum())
    return correct / len(x)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=DEFAULT_DATA_DIR, help="folder with the four Fashion-MNIST IDX .gz files")
    ap.add_argument("--out", default=None, help="folder to write the model, metadata and subsets into")
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--max-lr", type=float, default=0.01, help="OneCycle peak learning rate (AdamW)")
    ap.add_argument("--weight-decay", type=float, default=5e-4)
    ap.add_argument("--label-smoothing", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=20180401)
    ap.add_argument("--calib-seed", type=int, default=512, help="seed of the calibration-subset draw")
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads (fixed for determinism)")
    args = ap.parse_args(argv)

    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)

    data_dir = Path(args.data)
    train_x, train_y = load_split(data_dir, "train")
    test_x, test_y = load_split(data_dir, "t10k")

    # Preprocessing statistics from the training pixels, after x/255 (float64, then rounded to float32).
    train01 = train_x.astype(np.float64) / 255.0
    mean = float(np.float32(train01.mean()))
    std = float(np.float32(train01.std()))
    del train01

    def prep(images: np.ndarray) -> np.ndarray:
        x = images.astype(np.float32) * np.float32(1.0 / 255.0)
        return ((x - np.float32(mean)) / np.float32(std))[:, None, :, :]

    # channels_last: about 10 % faster mkldnn convolutions on CPU; same arithmetic order each run.
    xtr = torch.from_numpy(prep(train_x)).contiguous(memory_format=torch.channels_last)
    ytr = torch.from_numpy(train_y.astype(np.int64))
    xte_np = prep(test_x)
    xte = torch.from_numpy(xte_np)

    model = build_model().to(memory_format=torch.channels_last)
    n_params = sum(p.numel() for p in model.parameters())
    steps_per_epoch = (len(xtr) + args.batch_size - 1) // args.batch_size
    opt = torch.optim.AdamW(model.parameters(), lr=args.max_lr / 25, weight_decay=args.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=args.max_lr, epochs=args.epochs, steps_per_epoch=steps_per_epoch
    )
    gen = torch.Generator().manual_seed(args.seed)

    def evaluate(x: torch.Tensor, y: np.ndarray) -> float:
        model.eval()
        with torch.no_grad():
            pred = torch.cat([model(x[i:i + 1000]).argmax(1) for i in range(0, len(x), 1000)])
        return float((pred.numpy() == y).mean())

    print(f"params {n_params}, MACs/image {count_macs()['total']}, mean {mean:.6f}, std {std:.6f}", flush=True)
    t0 = time.perf_counter()
    for epoch in range(args.epochs):
        model.train()
        order = torch.randperm(len(xtr), generator=gen)
        flips = torch.rand(len(xtr), generator=gen) < 0.5
        total_loss = 0.0
        for s in range(steps_per_epoch):
            idx = order[s * args.batch_size:(s + 1) * args.batch_size]
            xb = xtr[idx]
            fb = flips[s * args.batch_size:(s + 1) * args.batch_size]
            xb = torch.where(fb[:, None, None, None], xb.flip(3), xb)
            loss = F.cross_entropy(model(xb), ytr[idx], label_smoothing=args.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total_loss += float(loss.detach()) * len(idx)
        acc = evaluate(xte, test_y)
        print(f"epoch {epoch + 1}/{args.epochs}  loss {total_loss / len(xtr):.4f}  test top-1 {acc:.4f}  "
              f"{time.perf_counter() - t0:.0f} s", flush=True)
    train_seconds = time.perf_counter() - t0
    model.eval()
    wsha = weights_sha256(model)
    torch_acc = evaluate(xte, test_y)
    print(f"weights sha256 {wsha}", flush=True)
    print(f"torch float top-1 on 10k test: {torch_acc:.4f}; training {train_seconds:.0f} s", flush=True)

    if args.out is None:
        return 0
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    onnx_path = out / "default_model.onnx"
    export_onnx(model, onnx_path)

    # Check the ONNX graph against torch on 1,000 test images.
    import onnxruntime as ort

    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    ref = model(xte[:1000]).detach().numpy()
    got = sess.run(["logits"], {"input": xte_np[:1000]})[0]
    max_diff = float(np.abs(ref - got).max())
    print(f"onnxruntime vs torch: max abs diff of logits {max_diff:.3g}", flush=True)
    if not max_diff < 1e-4:
        print("ONNX export does not match torch", file=sys.stderr)
        return 1
    onnx_acc = onnx_top1(onnx_path, xte_np, test_y)

    # Data subsets.
    test_sub = {"images": test_x[:TEST_SUBSET_SIZE], "labels": test_y[:TEST_SUBSET_SIZE],
                "indices": np.arange(TEST_SUBSET_SIZE, dtype=np.int64)}
    calib_idx = np.sort(np.random.default_rng(args.calib_seed).choice(
        len(train_x), size=CALIB_SUBSET_SIZE, replace=False)).astype(np.int64)
    calib_sub = {"images": train_x[calib_idx], "labels": train_y[calib_idx], "indices": calib_idx}
    test_path = out / f"fashion_mnist_test_{TEST_SUBSET_SIZE}.npz"
    calib_path = out / f"fashion_mnist_calib_{CALIB_SUBSET_SIZE}.npz"
    np.savez_compressed(test_path, **test_sub)
    np.savez_compressed(calib_path, **calib_sub)
    sub_acc = onnx_top1(onnx_path, xte_np[:TEST_SUBSET_SIZE], test_y[:TEST_SUBSET_SIZE])

    meta = {
        "name": "accelsim default Fashion-MNIST CNN",
        "model_file": onnx_path.name,
        "onnx_sha256": sha256_bytes(onnx_path.read_bytes()),
        "opset": OPSET,
        "input": {"name": "input", "shape": ["N", 1, 28, 28], "dtype": "float32", "layout": "nchw"},
        "output": {"name": "logits", "shape": ["N", 10], "dtype": "float32"},
        "preprocessing": {
            "description": "x = pixel_uint8 * scale; x = (x - mean) / std; shape [N,1,28,28]",
            "scale": 1.0 / 255.0, "mean": [mean], "std": [std], "layout": "nchw",
            "source": "mean and std of all 60,000 Fashion-MNIST training images after x/255",
        },
        "class_names": CLASS_NAMES,
        "parameters": n_params,
        "macs_per_image": count_macs(),
        "float_top1": {"test_10000": onnx_acc, f"test_subset_{TEST_SUBSET_SIZE}": sub_acc,
                       "evaluated_with": f"onnxruntime {ort.__version__}"},
        "datasets": {
            "test": {"file": test_path.name, "split": "Fashion-MNIST official test split (t10k)",
                     "selection": f"the first {TEST_SUBSET_SIZE} images, in file order",
                     "sha256": sha256_bytes(test_path.read_bytes())},
            "calib": {"file": calib_path.name, "split": "Fashion-MNIST training split (train)",
                      "selection": f"{CALIB_SUBSET_SIZE} indices drawn without replacement by "
                                   f"numpy.random.default_rng({args.calib_seed}).choice(60000, "
                                   f"{CALIB_SUBSET_SIZE}, replace=False), sorted ascending",
                      "sha256": sha256_bytes(calib_path.read_bytes())},
            "arrays": "images uint8 [N,28,28], labels uint8 [N], indices int64 [N] (into the split)",
        },
        "training": {
            "framework": f"torch {torch.__version__} (CPU)",
            "data": "all 60,000 Fashion-MNIST training images; the test split is used only for reporting",
            "epochs": args.epochs, "batch_size": args.batch_size,
            "optimizer": f"AdamW(weight_decay={args.weight_decay})",
            "schedule": f"OneCycleLR(max_lr={args.max_lr}), stepped per batch",
            "loss": f"cross entropy, label_smoothing={args.label_smoothing}",
            "augmentation": "random horizontal flip (p=0.5)",
            "seed": args.seed, "threads": args.threads,
            "deterministic": "torch.use_deterministic_algorithms(True); order and flips from a seeded "
                             "torch.Generator",
            "train_seconds": round(train_seconds, 1),
            "weights_sha256": wsha,
            "onnx_vs_torch_max_abs_diff": max_diff,
            "command": "python benchmarks/train_default_model.py --out accelsim/data",
        },
    }
    (out / "default_model.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    print(f"onnx float top-1: 10k {onnx_acc:.4f}, first {TEST_SUBSET_SIZE} {sub_acc:.4f}", flush=True)
    for p in (onnx_path, out / "default_model.json", test_path, calib_path):
        print(f"wrote {p} ({p.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
