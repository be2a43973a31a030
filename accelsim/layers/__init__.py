"""Layer descriptors: the one vocabulary every stage after the front end speaks.

Three producers write them (the quantizer, the ONNX importer without calibration, the topology
readers) and two consumers read them (the integer datapath and the hardware model). This package
depends on nothing else in accelsim but :mod:`accelsim.errors` (and the small helpers
:mod:`accelsim.atomic`, :mod:`accelsim.lazy`). The file format
(:mod:`accelsim.layers.io`: ``SCHEMA_VERSION``, ``read_network``, ``write_network``) is imported on
first use, so a shape-only run never loads it.
"""

from accelsim.layers.descriptor import (
    ARRAY_OPS,
    OP_KINDS,
    GemmView,
    LayerDescriptor,
    Network,
    QuantParams,
)
from accelsim.lazy import lazy_getattr

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

__getattr__ = lazy_getattr(__name__, dict.fromkeys(("SCHEMA_VERSION", "read_network", "write_network"),
                                                   "accelsim.layers.io"))
