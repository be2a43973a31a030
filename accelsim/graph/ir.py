"""The float network IR: a list of nodes in topological order over named tensors.

Op names are accelsim's own normalised vocabulary (``conv``, ``gemm``, ``relu``, ``clip``,
``add``, ...), not ONNX's; the importer translates and folds (BatchNorm into Conv, Identity and
Dropout away). Parameters (weights, biases, constants) are float32 numpy arrays in
``Graph.params``; activations are produced by the executor.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Node:
    """One operation: ``outputs = op(inputs, **attrs)``; inputs may name entries of ``params``."""

    name: str
    op: str
    inputs: list[str]
    outputs: list[str]
    attrs: dict[str, Any] = field(default_factory=dict)


@dataclass
class Graph:
    """A float CNN: nodes in topological order, float32 parameters, named inputs and outputs."""

    name: str
    nodes: list[Node]
    inputs: dict[str, tuple[int, ...]]
    """Model input names and shapes (N may be any positive int; it is the batch size)."""
    outputs: list[str]
    params: dict[str, np.ndarray] = field(default_factory=dict)
