"""Layer descriptors: the one vocabulary every stage after the front end speaks.

Three producers write them (the quantizer, the ONNX importer without calibration, the topology
readers) and two consumers read them (the integer datapath and the hardware model). This package
depends on nothing else in accelsim but :mod:`accelsim.errors`.
"""

from accelsim.layers.descriptor import (
    ARRAY_OPS,
    OP_KINDS,
    GemmView,
    LayerDescriptor,
    Network,
    QuantParams,
)
from accelsim.layers.io import SCHEMA_VERSION, read_network, write_network

__all__ = [
    "ARRAY_OPS",
    "OP_KINDS",
    "GemmView",
    "LayerDescriptor",
    "Network",
    "QuantParams",
    "SCHEMA_VERSION",
    "read_network",
    "write_network",
]
