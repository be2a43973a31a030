"""Helpers for the hardware tests: descriptors for raw GEMMs and configs built from keywords."""

from __future__ import annotations

import pytest

from accelsim.config.hardware import HardwareConfig
from accelsim.layers import LayerDescriptor


def gemm_layer(m: int, n: int, k: int, groups: int = 1, name: str = "g", **bits) -> LayerDescriptor:
    """A 1x1 convolution whose GEMM view is ``groups`` x [m, k] @ [k, n]."""
    return LayerDescriptor(name=name, op="conv2d", inputs=("x",), output=name,
                           in_shape=(m, groups * k, 1, 1), out_shape=(m, groups * n, 1, 1),
                           groups=groups, **bits)


def hw_config(rows=4, cols=4, dataflow="os", mult_stages=0, acc_stages=1, skew="feeder", drain="shift",
              overlap=False, *, skew_input_register=True, mult_input="register", edge_folds="trimmed",
              psum_register="after_adder", stationary_registers="shadow", **extra) -> HardwareConfig:
    data = {"array": {"rows": rows, "cols": cols, "skew": skew, "drain": drain, "overlap_folds": overlap,
                      "skew_input_register": skew_input_register, "edge_folds": edge_folds,
                      "stationary_registers": stationary_registers},
            "pe": {"mult_stages": mult_stages, "acc_stages": acc_stages, "mult_input": mult_input,
                   "psum_register": psum_register},
            "dataflow": dataflow}
    for key, value in extra.items():
        if "__" in key:
            section, field = key.split("__")
            data.setdefault(section, {})[field] = value
        else:
            data[key] = value
    return HardwareConfig.model_validate(data)


@pytest.fixture
def make_hw():
    return hw_config
