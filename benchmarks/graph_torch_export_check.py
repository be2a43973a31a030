"""Dev check (needs torch, the ``train`` extra): PyTorch-exported CNNs import and run like onnxruntime.

Builds small seeded torch networks in the shapes real CNNs take (ResNet basic blocks, MobileNetV2
inverted residuals with ReLU6 and depthwise convs, MobileNetV3 squeeze-excite with HardSigmoid /
HardSwish, an Inception-style concat, ceil-mode pools, ``x.view(x.size(0), -1)`` flatten, ZeroPad2d,
LeakyReLU, softmax head), exports each with torch's TorchScript exporter at opsets 11, 13 and 17
(dynamic batch; constant folding off so the Shape->Gather->Unsqueeze->Concat->Reshape chains
stay in), imports the file with accelsim and compares :func:`run_graph` with onnxruntime at batch 3.

    python benchmarks/graph_torch_export_check.py

Prints, per network and opset, the IR op counts and ``max|diff| / max|ref|``; exits 1 on any value
above 1e-4.
"""

from __future__ import annotations

import io
import sys
import warnings
from collections import Counter

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torch.nn as nn

from accelsim.graph.executor import run_graph
from accelsim.graph.onnx_import import import_model


def conv_bn(cin, cout, k=3, s=1, groups=1, act=nn.ReLU):
    return nn.Sequential(nn.Conv2d(cin, cout, k, s, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout), act())


class Basic(nn.Module):
    def __init__(self, c, s=1):
        super().__init__()
        self.a = conv_bn(c if s == 1 else c // 2, c, s=s)
        self.b = nn.Sequential(nn.Conv2d(c, c, 3, 1, 1, bias=False), nn.BatchNorm2d(c))
        self.short = nn.Identity() if s == 1 else nn.Sequential(nn.Conv2d(c // 2, c, 1, s, bias=False), nn.BatchNorm2d(c))

    def forward(self, x):
        return torch.relu(self.b(self.a(x)) + self.short(x))


class ResNetish(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(conv_bn(3, 16, 7, 2), nn.MaxPool2d(3, 2, 1))
        self.l1, self.l2 = Basic(16), Basic(32, s=2)
        self.fc = nn.Linear(32, 10)

    def forward(self, x):
        x = self.l2(self.l1(self.stem(x)))
        x = torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)
        return self.fc(x)


class InvRes(nn.Module):
    def __init__(self, cin, cout, s, t=4, se=False, act=nn.ReLU6):
        super().__init__()
        mid = cin * t
        layers = [conv_bn(cin, mid, 1, act=act), conv_bn(mid, mid, 3, s, groups=mid, act=act)]
        if se:
            layers.append(SE(mid))
        layers += [nn.Conv2d(mid, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        self.body = nn.Sequential(*layers)
        self.res = s == 1 and cin == cout

    def forward(self, x):
        y = self.body(x)
        return x + y if self.res else y


class SE(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.fc1, self.fc2 = nn.Conv2d(c, c // 4, 1), nn.Conv2d(c // 4, c, 1)

    def forward(self, x):
        g = x.mean((2, 3), keepdim=True)
        return x * nn.functional.hardsigmoid(self.fc2(torch.relu(self.fc1(g))))


class MobileNetish(nn.Module):
    def __init__(self, v3=False):
        super().__init__()
        act = nn.Hardswish if v3 else nn.ReLU6
        self.f = nn.Sequential(conv_bn(3, 16, 3, 2, act=act), InvRes(16, 16, 1, se=v3, act=act),
                               InvRes(16, 24, 2, se=v3, act=act), InvRes(24, 24, 1, act=act))
        self.head = nn.Sequential(nn.Dropout(0.2), nn.Linear(24, 10))

    def forward(self, x):
        x = self.f(x)
        return self.head(x.mean((2, 3)))


class Inceptionish(nn.Module):
    def __init__(self):
        super().__init__()
        self.pad = nn.ZeroPad2d((1, 2, 1, 0))
        self.stem = nn.Conv2d(3, 12, 3)
        self.b1 = nn.Conv2d(12, 8, 1)
        self.b2 = nn.Sequential(nn.Conv2d(12, 8, 1), nn.LeakyReLU(0.1), nn.Conv2d(8, 8, 3, padding=2, dilation=2))
        self.b3 = nn.Sequential(nn.AvgPool2d(3, 1, 1, count_include_pad=False), nn.Conv2d(12, 8, 1))
        self.pool = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.avg = nn.AvgPool2d(2, 2, ceil_mode=True)
        self.fc = nn.Linear(24 * 4 * 4, 10)

    def forward(self, x):
        x = torch.relu(self.stem(self.pad(x)))
        x = torch.cat([self.b1(x), self.b2(x), self.b3(x)], 1)
        x = self.avg(self.pool(x))
        x = x.view(x.size(0), -1)
        return torch.softmax(self.fc(x), dim=1)


NETS = {"resnet_basic": (ResNetish, (3, 32, 32)), "mobilenet_v2ish": (MobileNetish, (3, 32, 32)),
        "mobilenet_v3ish": (lambda: MobileNetish(v3=True), (3, 32, 32)), "inceptionish": (Inceptionish, (3, 16, 16))}


def randomise_bn(model: nn.Module, gen: torch.Generator) -> None:
    """Give BatchNorm non-trivial statistics so the fold is really exercised."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.2)
            m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=gen) * 0.1)


def main() -> int:
    warnings.filterwarnings("ignore")
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    worst = 0.0
    for name, (make, chw) in NETS.items():
        net = make().eval()
        randomise_bn(net, gen)
        x = np.random.default_rng(0).standard_normal((3,) + chw).astype(np.float32)
        for opset in (11, 13, 17):
            buf = io.BytesIO()
            torch.onnx.export(net, torch.zeros((1,) + chw), buf, opset_version=opset, dynamo=False,
                              input_names=["x"], output_names=["y"], dynamic_axes={"x": {0: "N"}, "y": {0: "N"}},
                              do_constant_folding=False)
            model = onnx.load_from_string(buf.getvalue())
            onnx_ops = Counter(n.op_type for n in model.graph.node)
            graph = import_model(model, source=f"{name}@{opset}")
            got = run_graph(graph, {"x": x})["y"]
            ref = ort.InferenceSession(buf.getvalue(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
            rel = float(np.abs(got - ref).max() / np.abs(ref).max())
            worst = max(worst, rel)
            ir_ops = Counter(n.op for n in graph.nodes)
            print(f"{name:16s} opset {opset}: rel diff {rel:.2e}; ONNX nodes {sum(onnx_ops.values())} "
                  f"({', '.join(sorted(onnx_ops))}) -> IR {dict(sorted(ir_ops.items()))}")
    print(f"worst relative difference: {worst:.2e}")
    return 0 if worst <= 1e-4 else 1


if __name__ == "__main__":
    sys.exit(main())
