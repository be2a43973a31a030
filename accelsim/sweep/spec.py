"""Sweep files: a base run config plus axes of dotted keys, expanded into validated points.

A sweep file is YAML (read through :func:`accelsim.config.base.load_yaml`)::

    name: bitwidths                # optional; default: the file's stem
    base: ../default.yaml          # a run config path (relative to this file) or an inline mapping
    axes:                          # a mapping of dotted keys -> lists of values ...
      quant.weight_bits: [4, 8]
      quant.act_bits: [4, 8]
    mode: product                  # ... combined as 'product' (default) or 'zip'

or, to zip some axes inside a product, ``axes`` is a list of groups: the axes inside one group are
zipped (equal lengths, value i of every axis together), and the groups are combined as a product::

    axes:
      - {quant.weight_bits: [4, 6, 8, 16]}
      - {quant.act_bits: [4, 6, 8, 16]}
      - {hardware.array.rows: [16, 32, 64], hardware.array.cols: [16, 32, 64]}   # rows = cols

Everything is checked before anything runs: unknown top-level keys, an axis key that names no
field of :class:`~accelsim.config.run.RunConfig` (checked recursively), an empty axis, zip axes of
different lengths, a key given twice, and every point's full config (so a value that is invalid
at one point fails the sweep up front). Each error is one :class:`~accelsim.errors.ConfigError`
line naming the sweep file and the key.
"""

from __future__ import annotations

import itertools
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydantic

from accelsim.config.base import load_yaml
from accelsim.config.run import RunConfig, config_from_dict, locate_config, set_dotted
from accelsim.errors import ConfigError

SWEEP_KEYS = ("name", "base", "axes", "mode")
"""Keys a sweep file may hold at the top level."""

MODES = ("product", "zip")


@dataclass(frozen=True)
class SweepPoint:
    """One point of a sweep: its index, the axis values that make it, and its full config."""

    index: int
    overrides: dict[str, Any]
    config: RunConfig


@dataclass(frozen=True)
class Sweep:
    """An expanded, validated sweep."""

    name: str
    source: str
    """The sweep file (or ``<inline>``), for messages."""
    axes: tuple[tuple[str, ...], ...]
    """The axis keys, grouped as they are combined (one tuple per zip group)."""
    points: list[SweepPoint] = field(default_factory=list)


def _unwrap(annotation: Any) -> list[Any]:
    """The member types of an ``X | None`` / ``Optional[X]`` annotation (or ``[annotation]``)."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return [a for a in typing.get_args(annotation) if a is not type(None)]
    return [annotation]


def check_axis_key(key: str, source: str) -> None:
    """Check that dotted *key* names a field of :class:`RunConfig`, descending into sections.

    A ``dict[str, Model]`` field (e.g. ``quant.layers``) takes any name as its next part and
    continues in ``Model``.

    Raises
    ------
    ConfigError
        ``<source>: axes: 'quant.wieght_bits': unknown key 'wieght_bits' in quant (valid keys: ...)``.
    """
    if not isinstance(key, str) or not key or any(not p for p in key.split(".")):
        raise ConfigError(f"{source}: axes: {key!r} is not a dotted key such as 'quant.weight_bits'")
    parts = key.split(".")
    model: Any = RunConfig
    path: list[str] = []
    i = 0
    while i < len(parts):
        part = parts[i]
        where = ".".join(path) or "the run config"
        if model is None:
            raise ConfigError(
                f"{source}: axes: {key!r}: {'.'.join(path)} is a value, not a section; "
                f"it has no key {part!r}"
            )
        fields = model.model_fields
        if part not in fields:
            raise ConfigError(
                f"{source}: axes: {key!r}: unknown key {part!r} in {where} "
                f"(valid keys: {', '.join(fields)})"
            )
        path.append(part)
        i += 1
        nxt = None
        for ann in _unwrap(fields[part].annotation):
            if isinstance(ann, type) and issubclass(ann, pydantic.BaseModel):
                nxt = ann
                break
            if typing.get_origin(ann) is dict:
                args = typing.get_args(ann)
                value_type = args[1] if len(args) == 2 else None
                if isinstance(value_type, type) and issubclass(value_type, pydantic.BaseModel):
                    if i < len(parts):  # the next part is a free name (e.g. a layer name)
                        path.append(parts[i])
                        i += 1
                    nxt = value_type
                    break
        model = nxt


def _group_axes(raw_axes: Any, mode: str, source: str) -> list[dict[str, list[Any]]]:
    """Normalise ``axes`` (mapping or list of mappings) into a list of zip groups."""
    if isinstance(raw_axes, dict):
        if mode == "zip":
            groups = [raw_axes]
        else:
            groups = [{k: v} for k, v in raw_axes.items()]
    elif isinstance(raw_axes, list):
        if mode == "zip":
            raise ConfigError(
                f"{source}: mode: 'zip' cannot be used with a list of axis groups "
                "(groups are zipped inside and combined as a product; drop 'mode')"
            )
        groups = []
        for g, group in enumerate(raw_axes):
            if not isinstance(group, dict) or not group:
                raise ConfigError(
                    f"{source}: axes[{g}]: expected a non-empty mapping of dotted keys to value lists, "
                    f"got {group!r}"
                )
            groups.append(group)
    else:
        raise ConfigError(
            f"{source}: axes: expected a mapping of dotted keys to value lists (or a list of such "
            f"groups), got {type(raw_axes).__name__}"
        )
    if not groups:
        raise ConfigError(f"{source}: axes: no axes given; name at least one dotted key with a list of values")
    seen: set[str] = set()
    for group in groups:
        lengths = {}
        for key, values in group.items():
            check_axis_key(key, source)
            if key in seen:
                raise ConfigError(f"{source}: axes: {key!r} appears in more than one group")
            seen.add(key)
            if not isinstance(values, list):
                raise ConfigError(f"{source}: axes: {key!r}: expected a list of values, got {values!r}")
            if not values:
                raise ConfigError(f"{source}: axes: {key!r}: empty list; give at least one value")
            lengths[key] = len(values)
        if len(set(lengths.values())) > 1:
            desc = ", ".join(f"{k} has {n}" for k, n in lengths.items())
            raise ConfigError(f"{source}: axes: zipped axes must have equal lengths ({desc})")
    return groups


def _expand(groups: list[dict[str, list[Any]]]) -> list[dict[str, Any]]:
    """All points: zip inside each group, product across groups (last group varies fastest)."""
    per_group = []
    for group in groups:
        keys = list(group)
        n = len(group[keys[0]])
        per_group.append([{k: group[k][i] for k in keys} for i in range(n)])
    points = []
    for combo in itertools.product(*per_group):
        merged: dict[str, Any] = {}
        for part in combo:
            merged.update(part)
        points.append(merged)
    return points


def _format_value(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def sweep_from_dict(data: Any, source: str = "<inline>", base_dir: Path | None = None) -> Sweep:
    """Validate and expand a sweep given as plain data (what the YAML file holds).

    Parameters
    ----------
    data : the sweep mapping (keys ``name``, ``base``, ``axes``, ``mode``).
    source : the sweep file's name, used in every error message.
    base_dir : folder that a relative ``base`` path (and relative paths in an inline base) resolve
        against; default the working directory. Relative paths in a base *file* (and in axis
        values) resolve against that file's folder, as for ``accelsim run``.

    Raises
    ------
    ConfigError
        On any problem listed in the module docstring; one line naming *source* and the key.
    """
    base_dir = Path(base_dir) if base_dir is not None else Path.cwd()
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping with keys {', '.join(SWEEP_KEYS)}, got {type(data).__name__}")
    unknown = [k for k in data if k not in SWEEP_KEYS]
    if unknown:
        raise ConfigError(f"{source}: unknown key {unknown[0]!r} (valid keys: {', '.join(SWEEP_KEYS)})")
    if "axes" not in data:
        raise ConfigError(f"{source}: required key 'axes' is missing")
    mode = data.get("mode", "product")
    if mode not in MODES:
        raise ConfigError(f"{source}: mode: {mode!r} is not valid (valid: product, zip)")
    name = data.get("name")
    if name is None:
        name = Path(source).stem if source != "<inline>" else "sweep"
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{source}: name: expected a non-empty string, got {name!r}")

    raw_base = data.get("base")
    if raw_base is None:
        base_data: dict[str, Any] = {}
        config_dir = base_dir
        base_source = source
    elif isinstance(raw_base, str):
        base_path = Path(raw_base)
        if not base_path.is_absolute():
            base_path = (base_dir / base_path).resolve()
        if not base_path.is_file():
            raise ConfigError(f"{source}: base: run config {str(base_path)!r} not found")
        loaded = load_yaml(base_path)
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{base_path}: expected a mapping of sections at the top level")
        base_data = loaded
        config_dir = base_path.parent
        base_source = str(base_path)
    elif isinstance(raw_base, dict):
        base_data = raw_base
        config_dir = base_dir
        base_source = f"{source}: base"
    else:
        raise ConfigError(f"{source}: base: expected a run config path or an inline mapping, got {raw_base!r}")

    # The base alone must be valid: its errors name the base file, not a point.
    config_from_dict(base_data, source=base_source, base=config_dir)

    groups = _group_axes(data["axes"], mode, source)
    points = []
    for index, overrides in enumerate(_expand(groups)):
        point_data = dict(base_data)
        for key, value in overrides.items():
            point_data = set_dotted(point_data, key, value)
        desc = ", ".join(f"{k}={_format_value(v)}" for k, v in overrides.items())
        cfg = config_from_dict(point_data, source=f"{source}: point {index} ({desc})", base=config_dir)
        points.append(SweepPoint(index=index, overrides=overrides, config=cfg))
    return Sweep(name=name, source=source, axes=tuple(tuple(g) for g in groups), points=points)


def load_sweep(path: str | Path) -> Sweep:
    """Read, validate and expand the sweep file *path* (see the module docstring for the format).

    *path* may name a shipped sweep (``configs/sweeps/bitwidths.yaml`` or ``sweeps/bitwidths``) from any
    folder, as :func:`accelsim.config.run.locate_config` does for run configs.

    Raises
    ------
    ConfigError
        Missing file, bad YAML, or any problem in the sweep or one of its points.
    """
    path = locate_config(path)
    data = load_yaml(path)
    return sweep_from_dict(data, source=str(path), base_dir=path.parent.resolve())
