"""Export ResNet-18, ResNet-50 and MobileNet-V2 from torchvision (seeded weights) to ONNX.

Runs in a venv that has torch and torchvision (never a dependency of accelsim), e.g.::

    /work/venvs/torch/bin/python benchmarks/datapath_export_torchvision.py ../models_cache

Weights are torchvision's random initialisation under ``torch.manual_seed(0)``; BatchNorm
running statistics are then set from one forward pass in train mode on 32 seeded images so the
activations have realistic ranges (an untrained network with unit BatchNorm statistics blows up
in depth). Opset 17, batch dimension dynamic, input ``input`` [N, 3, 224, 224]. Nothing is
downloaded.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
import torchvision

NETS = {"resnet18": torchvision.models.resnet18, "resnet50": torchvision.models.resnet50,
        "mobilenet_v2": torchvision.models.mobilenet_v2}


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "models_cache")
    out.mkdir(parents=True, exist_ok=True)
    for name, ctor in NETS.items():
        torch.manual_seed(0)
        model = ctor(weights=None)
        g = torch.Generator().manual_seed(1)
        model.train()
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.momentum = None  # cumulative average over the calibration pass
                m.reset_running_stats()
        with torch.no_grad():
            model(torch.randn(32, 3, 224, 224, generator=g))
        model.eval()
        path = out / f"{name}.onnx"
        torch.onnx.export(model, torch.randn(1, 3, 224, 224, generator=g), str(path), opset_version=17,
                          input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "n"}, "logits": {0: "n"}}, dynamo=False)
        print(f"{name}: {path} ({path.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
