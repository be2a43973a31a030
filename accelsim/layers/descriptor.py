"""Layer descriptor types (DESIGN §2).

A :class:`Network` is an ordered list of :class:`LayerDescriptor` (topological order) plus a
dictionary of integer tensors. Shapes are always 4-D ``(N, C, H, W)``; a fully connected layer
uses ``(N, features, 1, 1)``. Arrays never sit in a descriptor: they live in
``Network.tensors`` under ``"<layer name>.<role>"`` (see :meth:`LayerDescriptor.key`).

Roles used by the quantizer and read by the datapath:

``weight``      int weights, conv ``[Cout, Cin/groups, kh, kw]``, gemm ``[N, K]``
``bias``        int bias in accumulator units, ``[Cout]``
``w_threshold`` float per-output-channel weight thresholds ``[Cout]`` (traceability)
``w_step``      float per-output-channel weight steps ``[Cout]`` (traceability)
``pre_shift``, ``scale``, ``post_shift``
                per-output-channel requantization ``out = sat(((acc >> pre) * scale) >> post)``,
                each shift rounding half up (add ``1 << (shift-1)`` before an arithmetic shift)
``in<i>.pre_shift``, ``in<i>.scale``, ``in<i>.post_shift``
                requantization of input *i* of an ``add``/``concat`` to the output step (an ``add``
                sums the two scaled inputs exactly and rounds once)
``lut``         ``lut`` op: output code for each input code, index ``code + qmax(act_bits)``
                (length ``2**act_bits - 1``)
``weight``, ``bias`` of ``affine``
                per-sample constants broadcast onto ``(C, H, W)`` (each axis full or 1): ``w`` codes
                (``weight_bits``, threshold per channel when ``w`` has a channel axis) and ``b`` in
                units of ``s_in * s_w[c]``
``weight`` of ``prelu``
                slope codes ``[C or 1, 1, 1]``; ``pos.pre_shift/scale/post_shift`` requantize ``x >= 0``
``index``, ``fill`` of ``gather`` (and of a ``concat`` along H or W)
                int32 per-sample source index of every output element (C order); ``-1 - k`` stands
                for the constant code ``fill[k]`` (a pad value)
``h_index``, ``h_weight``, ``w_index``, ``w_weight`` of ``resize``
                ``[out, 2]`` source rows/columns and fixed-point weights (summing to 256) per axis

What each op computes on integer codes (the exact rules are in :mod:`accelsim.layers.arith`):

``conv2d``, ``depthwise``, ``gemm``
    ``acc = bias + sum(x * w)`` in an ``acc_bits`` accumulator (``quant.overflow``: saturate or
    wrap at every partial sum, in reduction order), then
    ``out = clip(requant(acc, pre_shift, scale, post_shift), out_min, out_max)`` per channel.
``maxpool``
    max of codes over the window (padding never wins); output step = input step.
``avgpool``
    ``requant(sum over window, pre_shift, scale, post_shift)``: the divisor and any step change
    are folded into the per-channel multiplier.
``add``
    ``clip(round(p0 / 2**post0 + p1 / 2**post1), out_min, out_max)`` with
    ``p<i> = rshift_round(x<i>, pre<i>) * scale<i>`` from the ``in<i>.*`` parameters: the sum is
    exact and rounded once (half up).
``mul``
    ``clip(requant(x0 * x1, pre_shift, scale, post_shift), out_min, out_max)`` (broadcast over H, W).
``concat``
    each input requantized by its ``in<i>.*`` parameters to the output step and clipped; the
    flattened samples laid end to end; then ``v[index]`` when the layer has an ``index`` (a concat
    along H or W), else that vector is the output (a concat along channels).
``affine``
    ``clip(requant(x * w + b, pre_shift, scale, post_shift), out_min, out_max)`` per channel.
``prelu``
    ``x >= 0``: ``requant(x, pos.*)``; ``x < 0``: ``requant(x * weight[c], pre_shift, scale,
    post_shift)``; then clipped to ``[out_min, out_max]``.
``gather``
    ``out[n].flat[i] = x[n].flat[index[i]]`` (``fill[-1 - index[i]]`` for negative entries);
    output step = input step.
``resize``
    ``clip(requant(sum_{a,b} x[c, h_index[i,a], w_index[j,b]] * h_weight[i,a] * w_weight[j,b],
    pre_shift, scale, post_shift), out_min, out_max)``.
``lut``
    ``out = lut[x + qmax(act_bits)]``.
``reshape``
    no arithmetic: C-order reshape to ``out_shape`` (flatten of NCHW).

The network input is quantized with ``Network.input_quant`` by :func:`~accelsim.layers.arith.quantize_tensor`;
the network output codes times ``quant.out_step`` of the last layer give the float logits.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Mapping

import numpy as np

OP_KINDS = (
    "conv2d",      # dense or grouped convolution (groups may be > 1)
    "depthwise",   # convolution with groups == C_in == C_out / multiplier
    "gemm",        # fully connected: [N, K] x [K, Nout]
    "maxpool",
    "avgpool",     # includes global average pooling (kernel = H x W)
    "add",         # element-wise add of two tensors with requantization
    "mul",         # element-wise multiply (e.g. squeeze-and-excitation gate)
    "concat",      # channel concatenation
    "lut",         # non-linear activation as an integer lookup table
    "reshape",     # flatten / reshape: layout only, no arithmetic
    "affine",      # x * w + b with constant w, b (scalar, per channel or per element)
    "prelu",       # x >= 0 ? x : x * slope, each side with its own requantization
    "gather",      # data movement by a per-sample index map (transpose, slice, pad, nearest resize, ...)
    "resize",      # bilinear resize: 2x2 fixed-point taps per output element
)
"""Every op kind a descriptor may carry."""

ARRAY_OPS = ("conv2d", "depthwise", "gemm")
"""Op kinds that run on the MAC array; the others run beside it (vector unit) or are free."""

ROUNDING_MODES = ("half_up",)
OVERFLOW_MODES = ("saturate", "wrap")


@dataclass(frozen=True)
class GemmView:
    """A layer as ``groups`` independent GEMMs ``[M, K] x [K, N]`` (im2col view).

    ``M`` = output pixels x batch, ``N`` = output channels per group, ``K`` = reduction length
    per group (``C_in/groups * kh * kw``). A depthwise layer is ``groups = C`` GEMMs with N = 1.
    """

    M: int
    N: int
    K: int
    groups: int = 1

    @property
    def macs(self) -> int:
        """Multiply-accumulates of the whole layer."""
        return self.M * self.N * self.K * self.groups


@dataclass(frozen=True)
class QuantParams:
    """Scalar quantization facts of one layer; its arrays live in ``Network.tensors``.

    Steps follow ``s = T / (2**(b-1) - 1)`` (symmetric, zero point 0).
    """

    in_thresholds: tuple[float, ...]
    """Threshold T of each input tensor (real units)."""
    in_steps: tuple[float, ...]
    """Step s of each input tensor (real units per code)."""
    out_threshold: float
    out_step: float
    out_min: int
    """Lowest output code after saturation (0 when a ReLU is fused)."""
    out_max: int
    """Highest output code after saturation."""
    weight_per_channel: bool = True
    scale_bits: int = 8
    """Width of the unsigned integer requantization scale."""
    rounding: str = "half_up"
    overflow: str = "saturate"
    """Accumulator overflow policy: ``saturate`` or ``wrap``."""
    method: str = ""
    """Threshold method that chose ``out_threshold`` (traceability)."""

    def __post_init__(self) -> None:
        if self.rounding not in ROUNDING_MODES:
            raise ValueError(f"rounding must be one of {ROUNDING_MODES}, got {self.rounding!r}")
        if self.overflow not in OVERFLOW_MODES:
            raise ValueError(f"overflow must be one of {OVERFLOW_MODES}, got {self.overflow!r}")


@dataclass(frozen=True)
class LayerDescriptor:
    """One layer as the datapath and the hardware model see it.

    Bit widths are in bits; shapes in elements. ``activation`` names a fused element-wise
    activation (``none``, ``relu``, ``clip``) whose effect is already in ``quant.out_min/out_max``.
    """

    name: str
    op: str
    inputs: tuple[str, ...]
    output: str
    in_shape: tuple[int, int, int, int]
    out_shape: tuple[int, int, int, int]
    kernel: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int, int, int] = (0, 0, 0, 0)
    """(top, left, bottom, right) in elements."""
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1
    weight_bits: int = 8
    act_bits: int = 8
    """Width of the input activations."""
    out_bits: int = 8
    acc_bits: int = 32
    bias_bits: int = 32
    activation: str = "none"
    quant: QuantParams | None = None
    """None for shape-only descriptors (topology files, uncalibrated import)."""
    extra: Mapping[str, object] = field(default_factory=dict)
    """Producer-specific facts kept for traceability (never needed to execute)."""

    def __post_init__(self) -> None:
        if self.op not in OP_KINDS:
            raise ValueError(f"layer {self.name!r}: op must be one of {OP_KINDS}, got {self.op!r}")
        for attr in ("in_shape", "out_shape"):
            shape = getattr(self, attr)
            if len(shape) != 4 or any(int(d) < 1 for d in shape):
                raise ValueError(f"layer {self.name!r}: {attr} must be 4 positive ints, got {shape}")

    def key(self, role: str) -> str:
        """Name of this layer's array *role* in ``Network.tensors``."""
        return f"{self.name}.{role}"

    @property
    def on_array(self) -> bool:
        """True when the layer runs on the MAC array."""
        return self.op in ARRAY_OPS

    def gemm(self) -> GemmView:
        """The im2col GEMM view used to map the layer onto the array.

        Raises ``ValueError`` for ops that do not run on the array.
        """
        n, c, _, _ = self.in_shape
        _, k_out, oh, ow = self.out_shape
        kh, kw = self.kernel
        if self.op == "gemm":
            return GemmView(M=n * oh * ow, N=k_out, K=c * kh * kw, groups=1)
        if self.op in ("conv2d", "depthwise"):
            g = self.groups
            return GemmView(M=n * oh * ow, N=k_out // g, K=(c // g) * kh * kw, groups=g)
        raise ValueError(f"layer {self.name!r}: op {self.op!r} does not run on the MAC array")

    @property
    def macs(self) -> int:
        """Multiply-accumulates (0 for layers off the array)."""
        return self.gemm().macs if self.on_array else 0

    def with_bits(self, **bits: int) -> "LayerDescriptor":
        """Copy with some of ``weight_bits, act_bits, out_bits, acc_bits, bias_bits`` changed."""
        return replace(self, **bits)


@dataclass(frozen=True)
class Network:
    """Quantized (or shape-only) network: descriptors in topological order plus int tensors."""

    name: str
    layers: tuple[LayerDescriptor, ...]
    inputs: tuple[str, ...]
    """Tensor names fed from outside (the model input)."""
    outputs: tuple[str, ...]
    tensors: Mapping[str, np.ndarray] = field(default_factory=dict)
    """Integer arrays keyed ``"<layer>.<role>"`` plus ``"<input>.step"`` style network facts."""
    input_quant: Mapping[str, tuple[float, float, int]] = field(default_factory=dict)
    """For each network input: (threshold, step, bits) used to quantize the float input."""
    meta: Mapping[str, object] = field(default_factory=dict)
    """Free-form provenance: source model, calibration method, batch size, date-free facts."""

    @property
    def quantized(self) -> bool:
        """True when every layer carries quantization parameters."""
        return bool(self.layers) and all(layer.quant is not None for layer in self.layers)

    def layer(self, name: str) -> LayerDescriptor:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(name)

    @property
    def macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    def with_bits(self, **bits: int) -> "Network":
        """Copy with the given bit widths (``weight_bits=4, act_bits=8, ...``) set on every layer.

        For shape-only networks (topologies), whose bit widths come from the run config.
        """
        return replace(self, layers=tuple(layer.with_bits(**bits) for layer in self.layers))

    def with_batch(self, batch: int) -> "Network":
        """Copy whose every layer processes *batch* inferences at once (shapes' N set to *batch*).

        The hardware model maps N into the GEMM's M, so a larger batch reuses each weight tile
        over more output pixels.
        """
        if batch < 1:
            raise ValueError(f"batch must be >= 1, got {batch}")
        return replace(self, layers=tuple(
            replace(layer, in_shape=(batch, *layer.in_shape[1:]), out_shape=(batch, *layer.out_shape[1:]))
            for layer in self.layers))
