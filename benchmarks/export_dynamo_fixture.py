"""Regenerate ``tests/data/dynamo_cnn_op18.onnx``: a small CNN through PyTorch's ``dynamo=True`` exporter.

Run in a torch venv (``/work/venvs/torch/bin/python benchmarks/export_dynamo_fixture.py``; torch 2.x,
onnxscript). The network has what the dynamo exporter spells differently from the TorchScript one
(opset 18, ``ReduceMean`` with axes as an input for the average pools, BatchNormalization kept as a
node, ``Reshape`` for flatten) and the layers of the torchvision models users bring: Conv-BN-ReLU stem,
MaxPool, a ResNeXt-style residual block (grouped 3x3 conv) with a residual ``Add``, a
squeeze-and-excitation gate (average pool, 1x1 convs, HardSigmoid, ``Mul``), global average pool,
Linear. Weights are seeded (``torch.manual_seed(0)``); BatchNorm statistics come from 4 train-mode
passes over seeded random inputs (so the activations neither vanish nor explode). The file is
written only if it differs from the one in place, so re-running is harmless; the test
(``tests/graph/test_dynamo_fixture.py``) checks the numbers against onnxruntime, not against a
stored output.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "dynamo_cnn_op18.onnx"


def build():
    import torch
    from torch import nn

    class Block(nn.Module):
        def __init__(self, c: int, groups: int):
            super().__init__()
            self.a = nn.Sequential(nn.Conv2d(c, c, 3, padding=1, groups=groups, bias=False), nn.BatchNorm2d(c),
                                   nn.ReLU())
            self.b = nn.Sequential(nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c))
            self.se = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(c, 8, 1), nn.ReLU(), nn.Conv2d(8, c, 1),
                                    nn.Hardsigmoid())

        def forward(self, x):
            y = self.b(self.a(x))
            return torch.relu(x + y * self.se(y))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
                                      nn.MaxPool2d(2))
            self.block = Block(16, groups=4)
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(16, 10)

        def forward(self, x):
            return self.fc(torch.flatten(self.pool(self.block(self.stem(x))), 1))

    torch.manual_seed(0)
    net = Net()
    net.train()
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for _ in range(4):
            net(torch.randn(16, 3, 16, 16, generator=g))
    return net.eval()


def main() -> int:
    import torch

    net = build()
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(4))
    batch = torch.export.Dim("batch", min=1, max=1024)
    prog = torch.onnx.export(net, (x,), dynamo=True, opset_version=18, input_names=["input"],
                             output_names=["logits"], dynamic_shapes=({0: batch},))
    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / OUT.name
        prog.save(str(p))
        data = p.read_bytes()
    if OUT.exists() and OUT.read_bytes() == data:
        print(f"{OUT}: unchanged ({len(data)} bytes)")
        return 0
    OUT.write_bytes(data)
    print(f"wrote {OUT} ({len(data)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
