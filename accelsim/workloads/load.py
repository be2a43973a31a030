"""One entry point for shape-only workloads: a zoo name or a SCALE-Sim topology CSV.

``workload.topology`` in a config and ``accelsim simulate --topology`` both end here.
"""

from __future__ import annotations

from pathlib import Path

from accelsim.errors import ConfigError
from accelsim.workloads.topology import FORMS, read_topology
from accelsim.workloads.zoo import ZOO
from accelsim.layers import Network

ZOO_NAMES: tuple[str, ...] = tuple(ZOO)
"""Names :func:`load_topology` accepts besides a CSV path."""


def _zoo_key(spec: str) -> str:
    """Normalise ``ResNet-18`` / ``resnet_18`` / ``MobileNet-V1`` to zoo keys."""
    key = spec.strip().lower().replace("-", "_")
    aliases = {"resnet_18": "resnet18", "resnet_50": "resnet50", "vgg_16": "vgg16",
               "mobilenetv1": "mobilenet_v1", "mobilenetv2": "mobilenet_v2"}
    return aliases.get(key, key)


def load_topology(spec: str, form: str = "auto", batch: int = 1) -> Network:
    """Shape-only network for *spec*: a zoo name (see :data:`ZOO_NAMES`) or a CSV path.

    Parameters
    ----------
    spec : zoo name (case-insensitive, ``-`` or ``_``) or path to a SCALE-Sim topology CSV.
    form : for CSVs, ``"auto"``, ``"conv"`` or ``"gemm"``; ignored for zoo names.
    batch : inferences per pass (N of every layer).

    Returns
    -------
    Network
        Descriptors with ``quant=None`` and 8-bit defaults; set widths with
        ``net.with_bits(weight_bits=..., act_bits=..., out_bits=...)``.

    Raises
    ------
    ConfigError
        *spec* is neither a zoo name nor an existing file (the message lists the zoo names), or
        *form*/*batch* is invalid.
    InputFileError
        The CSV is malformed (file and line named).
    """
    if form not in FORMS:
        raise ConfigError(f"topology form must be one of {', '.join(FORMS)}, got {form!r}")
    if not isinstance(batch, int) or batch < 1:
        raise ConfigError(f"batch must be a positive integer, got {batch!r}")
    key = _zoo_key(spec)
    if key in ZOO:
        return ZOO[key](batch=batch)
    path = Path(spec)
    if path.is_file():
        return read_topology(path, form=form, batch=batch)
    looks_like_path = path.suffix.lower() == ".csv" or "/" in spec or "\\" in spec
    what = "topology file not found" if looks_like_path else "unknown topology"
    raise ConfigError(f"{what}: {spec!r}; give a SCALE-Sim topology CSV path or a zoo name "
                      f"({', '.join(ZOO_NAMES)})")
