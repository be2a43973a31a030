"""The config files themselves, without pydantic: the safe YAML loader, where shipped configs live,
dotted overrides and relative paths.

Everything here is plain Python, so a command that validates its config without pydantic
(:mod:`accelsim.config.plain`) reads files exactly as :func:`accelsim.config.run.load_config` does.
"""

import warnings
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml

from accelsim.errors import ConfigError

BUNDLED = "bundled"
"""Path value meaning 'the model or data shipped inside the package'."""


class _UniqueKeySafeLoader(yaml.SafeLoader):
    """A safe loader that refuses duplicate keys instead of keeping the last one silently."""


def _construct_mapping(loader: _UniqueKeySafeLoader, node: yaml.MappingNode, deep: bool = False):
    mapping = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in mapping:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        mapping[key] = loader.construct_object(value_node, deep=deep)
    return mapping


_UniqueKeySafeLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping
)


class _UniqueKeyCSafeLoader(getattr(yaml, "CSafeLoader", _UniqueKeySafeLoader)):
    """:class:`_UniqueKeySafeLoader` with libyaml's scanner and parser (``yaml.CSafeLoader``) when
    PyYAML has them: the same safe constructors and resolver, so the same values, ~7x faster on
    the 68 KB energy tables. Its error texts are libyaml's, terser than PyYAML's (no tab hint), so
    :func:`load_yaml_text` reports errors from the pure-Python loader."""


_UniqueKeyCSafeLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping
)


def load_yaml(path: str | Path) -> Any:
    """Read a YAML file through a safe loader that rejects duplicate keys.

    Raises
    ------
    ConfigError
        The file is missing, unreadable or not valid YAML (the message gives file and line).
    """
    path = Path(path)
    return load_yaml_text(read_text_file(path), source=str(path))


def read_text_file(path: str | Path) -> str:
    """The UTF-8 text of config file *path*.

    Raises
    ------
    ConfigError
        The file is missing or unreadable (names the file and the cause).
    """
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read ({exc})") from None


def load_yaml_text(text: str, source: str = "<string>") -> Any:
    """Parse YAML text with the duplicate-rejecting safe loader; errors name *source*."""
    try:
        return yaml.load(text, Loader=_UniqueKeyCSafeLoader)  # noqa: S506 - safe loader subclass
    except yaml.YAMLError:
        pass  # parse again below for PyYAML's own message and mark
    try:
        return yaml.load(text, Loader=_UniqueKeySafeLoader)  # noqa: S506 - safe loader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        raise ConfigError(f"{where}: invalid YAML: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: invalid YAML: {exc}") from None


def topology_from_text(text: str) -> dict[str, str]:
    """``{"csv": text}`` when *text* names a file (ends in ``.csv``, has a path separator, or
    exists), else ``{"zoo": text}``: the rule for ``--topology`` and the deprecated string form."""
    if text.lower().endswith(".csv") or "/" in text or "\\" in text or Path(text).is_file():
        return {"csv": text}
    return {"zoo": text}


def deprecated_topology(value: Any, where: str = "workload.topology") -> Any:
    """The mapping form of a string topology, with a ``FutureWarning`` saying what to write."""
    if not isinstance(value, str):
        return value
    new = topology_from_text(value)
    (kind, ref), = new.items()
    warnings.warn(f"{where}: a plain string is deprecated; write {{{kind}: {ref}}}", FutureWarning, stacklevel=2)
    return new


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


def bundled_data(data: Any) -> Any:
    """For the bundled model, a data set without a ``path`` (or not given) is the bundled one: *data*
    (a run config mapping) with ``data.calib`` and ``data.test`` filled in, else *data* unchanged."""
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


def config_data(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> tuple[Path, dict[str, Any]]:
    """The config file *path* names and the mapping to validate: its YAML with the dotted-key
    *overrides* set and relative paths resolved against the file's folder.

    Parameters
    ----------
    path : the YAML file, or a shipped config by name (:func:`locate_config`); ``None`` means the
        shipped ``configs/default.yaml``.
    overrides : ``{"hardware.array.rows": 16, ...}`` applied before validation (CLI flags, sweeps).

    Raises
    ------
    ConfigError
        Missing file, bad YAML, or not a mapping at the top level.
    """
    path = locate_config(path) if path is not None else configs_dir() / "default.yaml"
    data = load_yaml(path)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of sections at the top level, got {type(data).__name__}")
    for key, value in (overrides or {}).items():
        data = set_dotted(data, key, value)
    return path, _resolve_paths(data, path.parent)
