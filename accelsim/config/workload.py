"""``workload:`` — what network runs: an ONNX model (calibrated and evaluated) or shapes only.

::

    workload: {model: bundled}                  # the shipped Fashion-MNIST CNN (the default)
    workload: {model: nets/my_model.onnx}       # a float ONNX model, relative to the config file
    workload: {topology: {zoo: resnet18}}       # shapes only: a network of the zoo
    workload: {topology: {csv: resnet18.csv}}   # shapes only: a SCALE-Sim topology CSV

The older ``topology: resnet18`` / ``topology: path.csv`` still reads (with a ``FutureWarning``);
:func:`topology_from_text` is the one rule that tells a CSV path from a zoo name.
"""

from pydantic import Field

from accelsim.config.base import ConfigModel
from accelsim.config.files import deprecated_topology, topology_from_text  # noqa: F401 - re-exported
from accelsim.config.sections import TopologyRules, WorkloadRules


class TopologyConfig(TopologyRules, ConfigModel):
    """Shapes only, no weights: a network of the zoo or a SCALE-Sim topology CSV (give one).

    ``label`` and the one-of rule: :class:`~accelsim.config.sections.TopologyRules`.
    """

    zoo: str | None = Field(
        None, description="Zoo network name: alexnet, vgg16, googlenet, resnet18, resnet50, mobilenet_v1 or "
        "mobilenet_v2 (case and '-'/'_' ignored).")
    csv: str | None = Field(
        None, description="Path of a SCALE-Sim topology CSV (relative to the config file).")


class WorkloadConfig(WorkloadRules, ConfigModel):
    """The network to run. Give ``model`` or ``topology``, not both; neither means the bundled model.

    ``model_or_bundled``, the rules and the deprecated string topology:
    :class:`~accelsim.config.sections.WorkloadRules`.
    """

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
