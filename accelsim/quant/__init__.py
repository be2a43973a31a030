"""Calibration and quantization (DESIGN §3): observers, threshold methods, requantization,
lowering of the float graph to layer descriptors, and the one-batch calibration driver.

Imports only ``config``, ``layers`` and ``graph``; never ``hw`` or SimPy.
"""

from accelsim.quant.observers import HistogramObserver, HistogramStats
from accelsim.quant.requant import multiplier_error, quantize_bias, quantize_weights, requant_params
from accelsim.quant.thresholds import THRESHOLD_METHODS, choose_threshold

__all__ = [
    "HistogramObserver",
    "HistogramStats",
    "THRESHOLD_METHODS",
    "choose_threshold",
    "multiplier_error",
    "quantize_bias",
    "quantize_weights",
    "requant_params",
]
