"""Calibration and quantization (DESIGN §3): observers, threshold methods, requantization,
lowering of the float graph to layer descriptors, and the one-batch calibration driver.

Imports only ``config``, ``layers`` and ``graph``; never ``hw`` or SimPy.
"""

from accelsim.quant.calibrate import calibrate, check_calibration_data
from accelsim.quant.lower import lower, plan_layers
from accelsim.quant.observers import HistogramObserver, HistogramStats
from accelsim.quant.requant import multiplier_error, quantize_bias, quantize_weights, requant_params
from accelsim.quant.thresholds import THRESHOLD_METHODS, choose_threshold

__all__ = [
    "HistogramObserver",
    "HistogramStats",
    "THRESHOLD_METHODS",
    "calibrate",
    "check_calibration_data",
    "choose_threshold",
    "lower",
    "plan_layers",
    "multiplier_error",
    "quantize_bias",
    "quantize_weights",
    "requant_params",
]
