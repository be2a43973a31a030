"""``workload:`` — what network runs: an ONNX model (calibrated and evaluated) or shapes only."""

from __future__ import annotations

import pydantic
from pydantic import Field

from accelsim.config.base import ConfigModel


class WorkloadConfig(ConfigModel):
    """The network to run. Give ``model`` or ``topology``, not both; neither means the bundled model."""

    model: str | None = Field(
        None,
        description="Path to a float ONNX model (relative to the config file), or 'bundled' for the "
        "shipped Fashion-MNIST CNN. Default: bundled, unless a topology is given.",
    )
    topology: str | None = Field(
        None,
        description="Shapes only, no weights: a zoo name (alexnet, vgg16, googlenet, resnet18, resnet50, "
        "mobilenet_v1, mobilenet_v2) or a SCALE-Sim topology CSV path. Accuracy is then not measured.",
    )
    topology_form: str = Field(
        "auto", description="SCALE-Sim CSV form: 'conv', 'gemm' (M,N,K rows) or 'auto' (from the header)."
    )
    input_shape: tuple[int, ...] | None = Field(
        None, description="Model input shape N,C,H,W (elements) when the ONNX file leaves it dynamic."
    )
    batch: int = Field(1, ge=1, description="Inferences per pass through the array (GEMM M grows with it).")

    @pydantic.model_validator(mode="after")
    def _one_source(self) -> "WorkloadConfig":
        if self.model is not None and self.topology is not None:
            raise ValueError("give 'model' or 'topology', not both")
        if self.topology_form not in ("auto", "conv", "gemm"):
            raise ValueError(f"topology_form must be auto, conv or gemm (got {self.topology_form!r})")
        return self

    @property
    def model_or_bundled(self) -> str | None:
        """The model to load: the bundled one when neither model nor topology was given."""
        if self.model is None and self.topology is None:
            return "bundled"
        return self.model
