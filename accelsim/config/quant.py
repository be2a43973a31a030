"""``quant:`` — bit widths and calibration (DESIGN §3); read by :mod:`accelsim.quant`.

Bit widths are signed symmetric codes (step ``T / (2**(b-1) - 1)``), or, with
``unsigned_activations``, unsigned codes ``0 .. 2**b - 1`` (step ``T / (2**b - 1)``) for tensors
that cannot be negative; the requantization scale is unsigned. See :mod:`accelsim.quant.requant`
for how ``scale_bits`` and ``acc_bits`` bound the integers, :mod:`accelsim.quant.thresholds` for
the methods and docs/quantization.md for what each option buys at low bit widths.
"""

from typing import Literal

from pydantic import Field

from accelsim.config.base import ConfigModel

ThresholdMethod = Literal["kl-j", "max", "percentile", "entropy", "mse", "auto"]
WeightMethod = Literal["max", "mse", "output"]

WIDTH_RANGE = (2, 16)
"""Inclusive range of weight and activation widths, bits."""


class LayerQuantOverride(ConfigModel):
    """Per-layer overrides; a key left out keeps the global value."""

    weight_bits: int | None = Field(None, ge=2, le=16, description="Weight width, bits.")
    act_bits: int | None = Field(None, ge=2, le=16, description="Output activation width, bits.")
    method: ThresholdMethod | None = Field(None, description="Threshold method for this layer's output.")
    weight_method: WeightMethod | None = Field(None, description="Weight threshold rule for this layer.")


class QuantConfig(ConfigModel):
    """Symmetric integer quantization calibrated on one batch."""

    weight_bits: int = Field(8, ge=2, le=16, description="Weight width, bits (2-16).")
    act_bits: int = Field(8, ge=2, le=16, description="Activation width, bits (2-16).")
    acc_bits: int = Field(32, ge=8, le=48, description="Accumulator width, bits (8-48); the requantization "
                          "product (acc >> pre_shift) * scale is kept within it.")
    bias_bits: int = Field(32, ge=8, le=48, description="Bias width, bits (bias in accumulator units; "
                           "saturated with a warning when it does not fit).")
    scale_bits: int = Field(8, ge=2, le=32, description="Width B of the unsigned requantization scale, bits; "
                            "the scale lies in [2**(B-1), 2**B - 1], relative error <= 2**-B.")
    method: ThresholdMethod = Field(
        "kl-j", description="Activation threshold method: kl-j (the paper's, default), max, percentile, entropy, "
        "mse, or auto (per layer, the method whose quantized output is closest, in mean squared error, to the "
        "float model's tensor on the calibration batch).")
    weight_method: WeightMethod = Field(
        "max", description="Weight threshold rule: max (T = max|w|, default), mse (per output channel, the T "
        "in [0.2, 1] x max|w| minimising the squared rounding plus clipping error of the weights) or output (the "
        "same candidates, minimising the layer's squared output error on the calibration batch, priced by the "
        "Gram matrix of its quantized inputs).")
    bias_correction: bool = Field(
        False, description="Subtract from each MAC layer's integer bias the mean output error per channel "
        "(quantized minus float pre-activation output, averaged over the calibration batch), accumulator units.")
    unsigned_activations: bool = Field(
        False, description="Unsigned codes 0 .. 2**b - 1 for tensors that cannot be negative (after a fused "
        "ReLU/ReLU6 or clip with min >= 0, and maxpool/avgpool/flatten/concat of such tensors), so a b-bit "
        "activation uses all 2**b levels; false keeps signed codes everywhere.")
    percentile: float = Field(99.99, gt=0, le=100, description="Percentile of |x| for method 'percentile', %.")
    per_channel: bool = Field(True, description="One weight threshold per output channel (else per tensor).")
    calib_batch: int = Field(64, ge=1, description="Images in the one calibration batch (drawn with the "
                             "run seed).")
    overflow: Literal["saturate", "wrap"] = Field("saturate", description="Accumulator overflow policy, "
                                                   "stored in each layer's QuantParams.")
    add_threshold: Literal["inputs", "calibrated"] = Field(
        "calibrated", description="Output threshold of a residual add: 'calibrated' (default) = the larger of "
        "the larger input threshold and the threshold method's choice on the sum, so a sum that outgrows its "
        "inputs is not clipped (deep residual networks: up to 18 dB better logits); 'inputs' = the larger input "
        "threshold (DESIGN's original rule: that input passes unscaled, but the sum may saturate).")
    layers: dict[str, LayerQuantOverride] = Field(
        default_factory=dict, description="Per-layer overrides keyed by layer (ONNX node) name."
    )
