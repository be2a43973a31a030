"""One entry point for shape-only workloads: a zoo name or a SCALE-Sim topology CSV.

``workload.topology`` in a config and ``accelsim simulate --topology`` both end here.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from accelsim.config.files import topology_from_text
from accelsim.errors import ConfigError
from accelsim.workloads.topology import FORMS, read_topology
from accelsim.workloads.zoo import ZOO
from accelsim.layers import Network

if TYPE_CHECKING:  # pragma: no cover
    from accelsim.config.workload import TopologyConfig

ZOO_NAMES: tuple[str, ...] = tuple(ZOO)
"""Zoo names :func:`load_topology` accepts (besides CSV paths)."""


def _zoo_key(spec: str) -> str:
    """Normalise ``ResNet-18`` / ``resnet_18`` / ``MobileNet-V1`` to zoo keys."""
    key = spec.strip().lower().replace("-", "_")
    aliases = {"resnet_18": "resnet18", "resnet_50": "resnet50", "vgg_16": "vgg16",
               "mobilenetv1": "mobilenet_v1", "mobilenetv2": "mobilenet_v2"}
    return aliases.get(key, key)


def load_topology(spec: "str | TopologyConfig", form: str = "auto", batch: int = 1) -> Network:
    """Shape-only network for *spec*: ``{zoo: name}`` or ``{csv: path}`` (a :class:`TopologyConfig`),
    or a string read by :func:`~accelsim.config.workload.topology_from_text` (a path if it looks
    like one, else a zoo name).

    Parameters
    ----------
    spec : the topology; zoo names are case-insensitive, ``-`` or ``_`` (see :data:`ZOO_NAMES`).
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
        An unknown zoo name (the message lists the zoo names), a CSV that does not exist, or an
        invalid *form*/*batch*.
    InputFileError
        The CSV is malformed (file and line named).
    """
    if form not in FORMS:
        raise ConfigError(f"topology form must be one of {', '.join(FORMS)}, got {form!r}")
    if not isinstance(batch, int) or batch < 1:
        raise ConfigError(f"batch must be a positive integer, got {batch!r}")
    if isinstance(spec, str):
        from accelsim.config.workload import TopologyConfig

        spec = TopologyConfig(**topology_from_text(spec))
    if spec.zoo is not None:
        key = _zoo_key(spec.zoo)
        if key not in ZOO:
            raise ConfigError(f"unknown topology: {spec.zoo!r}; give a SCALE-Sim topology CSV path or a zoo "
                              f"name ({', '.join(ZOO_NAMES)})")
        return ZOO[key](batch=batch)
    path = Path(spec.csv)
    if not path.is_file():
        raise ConfigError(f"topology file not found: {spec.csv!r}; give a SCALE-Sim topology CSV path or a "
                          f"zoo name ({', '.join(ZOO_NAMES)})")
    return read_topology(path, form=form, batch=batch)
