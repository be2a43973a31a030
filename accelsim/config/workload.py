"""``workload:`` — what network runs: an ONNX model (calibrated and evaluated) or shapes only.

::

    workload: {model: bundled}                  # the shipped Fashion-MNIST CNN (the default)
    workload: {model: nets/my_model.onnx}       # a float ONNX model, relative to the config file
    workload: {topology: {zoo: resnet18}}       # shapes only: a network of the zoo
    workload: {topology: {csv: resnet18.csv}}   # shapes only: a SCALE-Sim topology CSV

The older ``topology: resnet18`` / ``topology: path.csv`` still reads (with a ``FutureWarning``);
:func:`topology_from_text` is the one rule that tells a CSV path from a zoo name.
"""

import warnings
from pathlib import Path
from typing import Any

import pydantic
from pydantic import Field

from accelsim.config.base import ConfigModel


def topology_from_text(text: str) -> dict[str, str]:
    """``{"csv": text}`` when *text* names a file (ends in ``.csv``, has a path separator, or
    exists), else ``{"zoo": text}``: the rule for ``--topology`` and the deprecated string form."""
    if text.lower().endswith(".csv") or "/" in text or "\\" in text or Path(text).is_file():
        return {"csv": text}
    return {"zoo": text}


def deprecated_topology(value: Any, where: str = "workload.topology") -> Any:
    """The mapping form of a string topology, with a ``FutureWarning`` saying what to write."""
    if not isinstance(value, str):
        return value
    new = topology_from_text(value)
    (kind, ref), = new.items()
    warnings.warn(f"{where}: a plain string is deprecated; write {{{kind}: {ref}}}", FutureWarning, stacklevel=2)
    return new


class TopologyConfig(ConfigModel):
    """Shapes only, no weights: a network of the zoo or a SCALE-Sim topology CSV (give one)."""

    zoo: str | None = Field(
        None, description="Zoo network name: alexnet, vgg16, googlenet, resnet18, resnet50, mobilenet_v1 or "
        "mobilenet_v2 (case and '-'/'_' ignored).")
    csv: str | None = Field(
        None, description="Path of a SCALE-Sim topology CSV (relative to the config file).")

    @pydantic.model_validator(mode="after")
    def _exactly_one(self) -> "TopologyConfig":
        if (self.zoo is None) == (self.csv is None):
            raise ValueError("give exactly one of 'zoo' (a network name) or 'csv' (a topology file)")
        return self

    @property
    def label(self) -> str:
        """``resnet18`` or the CSV's file name."""
        return self.zoo if self.zoo is not None else Path(self.csv).name


class WorkloadConfig(ConfigModel):
    """The network to run. Give ``model`` or ``topology``, not both; neither means the bundled model."""

    model: str | None = Field(
        None,
        description="Path to a float ONNX model (relative to the config file), or 'bundled' for the "
        "shipped Fashion-MNIST CNN. Default: bundled, unless a topology is given.",
    )
    topology: TopologyConfig | None = Field(
        None,
        description="Shapes only, no weights: {zoo: NAME} or {csv: PATH}. Accuracy is then not measured.",
    )
    topology_form: str = Field(
        "auto", description="SCALE-Sim CSV form: 'conv', 'gemm' (M,N,K rows) or 'auto' (from the header)."
    )
    input_shape: tuple[int, ...] | None = Field(
        None, description="Model input shape N,C,H,W (elements) when the ONNX file leaves it dynamic."
    )
    batch: int = Field(1, ge=1, description="Inferences per pass through the array (GEMM M grows with it).")

    @pydantic.field_validator("topology", mode="before")
    @classmethod
    def _string_topology(cls, value: Any) -> Any:
        return deprecated_topology(value)

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
