"""The whole run config: one YAML file with a section per stage.

::

    name: edge_32x32          # used for the output folder
    workload: {...}           # accelsim.config.workload
    data: {...}               # accelsim.config.data
    quant: {...}              # accelsim.config.quant
    hardware: {...}           # accelsim.config.hardware
    simulation: {...}         # accelsim.config.simulation
    energy: {...}             # accelsim.config.energy
    output_dir: out/edge      # relative to this file's folder, like every path in it
    seed: 0                   # seed of the calibration batch draw

Paths inside the file (model, data, labels, topology CSV, energy table, output_dir) are relative to
the file's folder; :func:`load_config` resolves them. Command-line paths (``-o DIR``) are relative
to the working directory.
"""

from pathlib import Path
from typing import Any

from pydantic import Field

from accelsim.config.base import ConfigModel, parse_model
from accelsim.config.data import DataConfig
from accelsim.config.energy import EnergyConfig
from accelsim.config.files import (  # noqa: F401 - re-exported: the file rules of a run config
    BUNDLED,
    _resolve_paths,
    config_data,
    configs_dir,
    locate_config,
    set_dotted,
)
from accelsim.config.hardware import HardwareConfig
from accelsim.config.quant import QuantConfig
from accelsim.config.simulation import SimulationConfig
from accelsim.config.sections import RunRules
from accelsim.config.workload import WorkloadConfig
from accelsim.errors import ConfigError


class RunConfig(RunRules, ConfigModel):
    """Everything one run needs; built only through :func:`load_config` or :func:`config_from_dict`."""

    name: str = Field("run", description="Name of the run; names the output folder.")
    workload: WorkloadConfig = Field(default_factory=WorkloadConfig)
    data: DataConfig = Field(default_factory=DataConfig)
    quant: QuantConfig = Field(default_factory=QuantConfig)
    hardware: HardwareConfig = Field(default_factory=HardwareConfig)
    simulation: SimulationConfig = Field(default_factory=SimulationConfig)
    energy: EnergyConfig = Field(default_factory=EnergyConfig)
    output_dir: str | None = Field(
        None, description="Output folder, relative to the config file's folder like every path in it; default "
                          "out/<name> under the working directory (accelsim run -o DIR overrides both).")
    seed: int = Field(0, description="Seed of every random choice (calibration batch draw).")


def config_from_dict(data: Any, source: str = "<config>", base: Path | None = None) -> RunConfig:
    """Validate plain data into a :class:`RunConfig`; relative paths resolve against *base*."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of sections at the top level, got {type(data).__name__}")
    if base is not None:
        data = _resolve_paths(data, base)
    return parse_model(RunConfig, data, source)


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> RunConfig:
    """Load a run config from YAML, apply dotted-key *overrides*, validate.

    *path* and *overrides* as in :func:`~accelsim.config.files.config_data` (a shipped config by
    name, ``None`` for ``configs/default.yaml``; ``{"hardware.array.rows": 16, ...}``).

    Raises
    ------
    ConfigError
        Missing file, bad YAML, unknown keys, wrong types or impossible values; one line naming
        the file and every bad key path.
    """
    path, data = config_data(path, overrides)
    return parse_model(RunConfig, data, str(path))
