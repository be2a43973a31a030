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

from importlib.resources import files
from pathlib import Path
from typing import Any

import pydantic
from pydantic import Field

from accelsim.config.base import ConfigModel, load_yaml, parse_model
from accelsim.config.data import DataConfig
from accelsim.config.energy import EnergyConfig
from accelsim.config.hardware import HardwareConfig
from accelsim.config.quant import QuantConfig
from accelsim.config.simulation import SimulationConfig
from accelsim.config.workload import WorkloadConfig, deprecated_topology
from accelsim.errors import ConfigError

BUNDLED = "bundled"
"""Path value meaning 'the model or data shipped inside the package'."""


class RunConfig(ConfigModel):
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

    @pydantic.model_validator(mode="before")
    @classmethod
    def _bundled_data(cls, data: Any) -> Any:
        """For the bundled model, a data set without a ``path`` (or not given) is the bundled one."""
        if not isinstance(data, dict):
            return data
        wl = data.get("workload")
        wl = wl if isinstance(wl, dict) else {}
        if wl.get("topology") is not None or wl.get("model", BUNDLED) not in (None, BUNDLED):
            return data
        section = data.get("data")
        if section is not None and not isinstance(section, dict):
            return data
        section = dict(section or {})
        for split in ("calib", "test"):
            ds = section.get(split)
            if ds is None:
                section[split] = {"path": BUNDLED}
            elif isinstance(ds, dict) and "path" not in ds:
                section[split] = {"path": BUNDLED, **ds}
        return {**data, "data": section}


def configs_dir() -> Path:
    """The folder of shipped configs (``configs/`` in the repo, inside the package when installed)."""
    return Path(str(files("accelsim") / "configs"))


def locate_config(path: str | Path) -> Path:
    """The YAML file *path* names: the file itself, else the shipped config of that name.

    A relative path that does not exist where the command runs is looked up among the shipped
    configs, with or without its ``configs/`` prefix and ``.yaml`` suffix, so the commands the docs
    print (``accelsim run configs/bitfusion.yaml``) work from any folder once accelsim is installed,
    and ``accelsim run bitfusion`` names the same file. A file in the working directory always wins.

    Raises
    ------
    ConfigError
        Neither exists: one line naming *path* and the shipped configs.
    """
    path = Path(path)
    if path.is_file() or path.is_absolute():
        return path
    root = configs_dir()
    parts = path.parts[1:] if path.parts[:1] == ("configs",) else path.parts
    if parts:
        shipped = root.joinpath(*parts)
        for candidate in (shipped, shipped.with_name(shipped.name + ".yaml")):
            if candidate.is_file():
                return candidate
    if path.exists():
        raise ConfigError(f"{path}: not a file (a YAML config file is expected)")
    names = sorted(p.relative_to(root).with_suffix("").as_posix() for p in root.rglob("*.yaml")
                   if "energy" not in p.relative_to(root).parts)
    raise ConfigError(f"{path}: file not found (give a YAML file, or a shipped config by name: {', '.join(names)})")


def _resolve_paths(data: dict[str, Any], base: Path) -> dict[str, Any]:
    """Make relative file paths in *data* relative to *base* (the config file's folder)."""

    def fix(value: Any) -> Any:
        if isinstance(value, str) and value != BUNDLED and not Path(value).is_absolute():
            return str((base / value).resolve())
        return value

    out = dict(data)
    wl = out.get("workload")
    if isinstance(wl, dict):
        wl = dict(wl)
        if "model" in wl:
            wl["model"] = fix(wl["model"])
        topo = deprecated_topology(wl.get("topology"))
        if isinstance(topo, dict) and isinstance(topo.get("csv"), str):
            topo = dict(topo, csv=fix(topo["csv"]))
        if topo is not None:
            wl["topology"] = topo
        out["workload"] = wl
    dt = out.get("data")
    if isinstance(dt, dict):
        dt = dict(dt)
        for split in ("calib", "test"):
            ds = dt.get(split)
            if isinstance(ds, dict):
                ds = dict(ds)
                for key in ("path", "labels"):
                    if key in ds:
                        ds[key] = fix(ds[key])
                dt[split] = ds
        out["data"] = dt
    if isinstance(out.get("output_dir"), str):
        out["output_dir"] = fix(out["output_dir"])
    en = out.get("energy")
    if isinstance(en, dict) and "table" in en:
        en = dict(en)
        en["table"] = fix(en["table"])
        out["energy"] = en
    return out


def set_dotted(data: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    """Return a copy of nested *data* with ``a.b.c`` set to *value* (missing levels created)."""
    parts = dotted.split(".")
    out = dict(data)
    node = out
    for part in parts[:-1]:
        child = node.get(part)
        child = dict(child) if isinstance(child, dict) else {}
        node[part] = child
        node = child
    node[parts[-1]] = value
    return out


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

    Parameters
    ----------
    path : the YAML file, or a shipped config by name (:func:`locate_config`); ``None`` means the
        shipped ``configs/default.yaml``.
    overrides : ``{"hardware.array.rows": 16, ...}`` applied before validation (CLI flags, sweeps).

    Raises
    ------
    ConfigError
        Missing file, bad YAML, unknown keys, wrong types or impossible values; one line naming
        the file and every bad key path.
    """
    path = locate_config(path) if path is not None else configs_dir() / "default.yaml"
    data = load_yaml(path)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of sections at the top level, got {type(data).__name__}")
    for key, value in (overrides or {}).items():
        data = set_dotted(data, key, value)
    return config_from_dict(data, source=str(path), base=path.parent)
