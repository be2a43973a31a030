"""What the commands share: flags become config overrides, one config is built, stages run.

Every command follows one shape: parse flags -> :func:`build_config` (the ``--config`` file, or
the command's default, plus dotted-key overrides from the flags) -> :func:`accelsim.pipeline.stages.run_stages`
for the values it prints. Paths given on the command line are relative to the working directory
(:func:`cli_path` makes them absolute before they override a config whose paths are relative to
its own folder).
"""

from __future__ import annotations

import argparse
import typing
from pathlib import Path
from typing import TYPE_CHECKING, Any

from accelsim.config.files import BUNDLED
from accelsim.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from accelsim.config.run import RunConfig


def cli_path(text: str) -> str:
    """A path from the command line, absolute (``bundled`` stays as is)."""
    return text if text == BUNDLED else str(Path(text).resolve())


def build_config(config: str | Path | None, overrides: dict[str, Any], source: str) -> RunConfig:
    """The run config of a command: the *config* file (or, without one, all defaults) + *overrides*.

    Raises
    ------
    ConfigError
        As :func:`accelsim.config.run.load_config`; without a file, *source* names the command line.
    """
    from accelsim.config.run import config_from_dict, load_config, set_dotted

    if config is not None:
        return load_config(config, overrides=overrides)
    data: dict[str, Any] = {}
    for key, value in overrides.items():
        data = set_dotted(data, key, value)
    return config_from_dict(data, source=source, base=Path.cwd())


def dataset_override(arg: str, configured: Any) -> dict[str, Any]:
    """``--data PATH`` as a data-set section: the path, keeping the configured preprocessing."""
    out: dict[str, Any] = {"path": cli_path(arg)}
    if arg != BUNDLED and configured is not None:
        out["preprocess"] = configured.preprocess.model_dump(mode="json")
    return out


def add_quant_arguments(p: argparse.ArgumentParser) -> None:
    """The calibration flags ``quantize`` and ``evaluate`` share; defaults read from :class:`QuantConfig`."""
    from accelsim.config.quant import QuantConfig, ThresholdMethod, WeightMethod

    f = QuantConfig.model_fields
    p.add_argument("--batch", type=int, metavar="N", help=f"calibration images (default {f['calib_batch'].default})")
    p.add_argument("--bits", type=int, metavar="B", help="weight and activation width, bits (2-16)")
    p.add_argument("--weight-bits", type=int, metavar="W", help=f"weight width, bits (default {f['weight_bits'].default})")
    p.add_argument("--act-bits", type=int, metavar="A", help=f"activation width, bits (default {f['act_bits'].default})")
    p.add_argument("--method", choices=typing.get_args(ThresholdMethod),
                   help=f"activation threshold method (default {f['method'].default})")
    p.add_argument("--per-tensor", action="store_true", help="one weight threshold per layer (default per channel)")
    p.add_argument("--weight-method", choices=typing.get_args(WeightMethod),
                   help=f"weight threshold rule per output channel (default {f['weight_method'].default})")
    p.add_argument("--bias-correction", action="store_true", default=None,
                   help="subtract each MAC layer's mean output error (measured on the calibration batch) from its bias")
    p.add_argument("--unsigned", action="store_true", default=None,
                   help="unsigned codes 0..2^b-1 for tensors that cannot be negative (after ReLU/ReLU6)")
    p.add_argument("--seed", type=int, help="seed of the calibration batch draw (default: the config's seed, 0)")


def add_input_shape_argument(p: argparse.ArgumentParser) -> None:
    """``--input-shape``, for the commands that import a model (overrides ``workload.input_shape``)."""
    p.add_argument("--input-shape", metavar="N,C,H,W",
                   help="model input shape where the ONNX file leaves it symbolic (default: the config's "
                   "workload.input_shape, else taken from the data: batch 1, channels and image size of a sample)")


def input_shape_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """``--input-shape 1,3,224,224`` as the ``workload.input_shape`` override.

    Raises
    ------
    InputFileError
        Not a list of positive integers.
    """
    from accelsim.graph.inputs import parse_shape

    if args.input_shape is None:
        return {}
    return {"workload.input_shape": list(parse_shape(args.input_shape, "--input-shape"))}


QUANT_FLAGS = ("batch", "bits", "weight_bits", "act_bits", "method", "per_tensor", "weight_method",
               "bias_correction", "unsigned", "seed")
"""Destinations of :func:`add_quant_arguments`: flags that change the calibration."""


def quant_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The calibration flags as dotted config overrides (``--bits 4`` -> both widths).

    Raises
    ------
    ConfigError
        ``--bits`` given with ``--weight-bits``/``--act-bits``.
    """
    out: dict[str, Any] = {}
    if args.bits is not None and (args.weight_bits is not None or args.act_bits is not None):
        raise ConfigError("--bits sets both widths; give either --bits or --weight-bits/--act-bits")
    if args.bits is not None:
        out["quant.weight_bits"] = out["quant.act_bits"] = args.bits
    if args.weight_bits is not None:
        out["quant.weight_bits"] = args.weight_bits
    if args.act_bits is not None:
        out["quant.act_bits"] = args.act_bits
    if args.method is not None:
        out["quant.method"] = args.method
    if args.per_tensor:
        out["quant.per_channel"] = False
    if args.weight_method is not None:
        out["quant.weight_method"] = args.weight_method
    if args.bias_correction:
        out["quant.bias_correction"] = True
    if args.unsigned:
        out["quant.unsigned_activations"] = True
    if args.batch is not None:
        out["quant.calib_batch"] = args.batch
    if args.seed is not None:
        out["seed"] = args.seed
    return out


def given_quant_flags(args: argparse.Namespace) -> list[str]:
    """The calibration flags actually given, as ``--flag`` names."""
    return [f"--{n.replace('_', '-')}" for n in QUANT_FLAGS
            if (getattr(args, n) is not None and getattr(args, n) is not False)]


def model_overrides(model: str) -> dict[str, Any]:
    """``MODEL.onnx`` (or ``bundled``) of ``quantize``/``evaluate`` as workload overrides."""
    return {"workload.model": cli_path(model), "workload.topology": None}
