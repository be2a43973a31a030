"""Run configs validated without pydantic, for commands whose whole run costs less than importing it.

``accelsim simulate`` runs ResNet-18 in tens of milliseconds; importing pydantic and building the
config models took about as long as the rest of the command together. :func:`load_config` here
reads the same file (:func:`accelsim.config.files.config_data`), checks every key against the
models' own declarations and returns read-only records with the same attributes, derived values
and rules (the :mod:`accelsim.config.sections` classes) as the models. It never decides an error
itself: whenever a value is anything but plainly valid (a wrong type, a string where pydantic
would coerce a number, a bound crossed, an unknown or missing key, a rule broken) it hands the
same mapping to pydantic (:func:`accelsim.config.run.load_config`'s validation), so every message,
coercion and exit code stays pydantic's.

The declarations are read from :mod:`accelsim.config.plain_spec`, a module generated from the
pydantic models (never written by hand; ``tests/config/test_plain.py`` fails when it is stale)::

    python -m accelsim.config.plain > accelsim/config/plain_spec.py

What the records support: every key of the section as an attribute, the derived values of its
section class (``hardware.pes``, ``workload.topology.label``, ...), ``==``, ``hash`` and ``repr``. What they
do not: pydantic's methods (``model_dump``, ``model_copy``); code that needs those loads the config
with :func:`accelsim.config.run.load_config`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from accelsim.config import sections
from accelsim.config.files import config_data


class Unsure(Exception):
    """A value the plain reader does not vouch for: pydantic decides."""


class Record:
    """A validated config section without pydantic: its keys as read-only attributes."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen: {name} cannot be set")

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.__dict__ == self.__dict__

    def __hash__(self) -> int:  # as a frozen pydantic model's: a TypeError when a value is a dict
        return hash((type(self).__name__, *self.__dict__.values()))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.__dict__.items())})"


def _records() -> dict[str, type]:
    from accelsim.config.plain_spec import MODELS

    return {name: type(name, (getattr(sections, spec["rules"]), Record), {"__module__": __name__})
            for name, spec in MODELS.items()}


_RECORDS: dict[str, type] = {}


def _check_bounds(value: float, field: dict[str, Any]) -> None:
    if ("ge" in field and not value >= field["ge"]) or ("gt" in field and not value > field["gt"]) \
            or ("le" in field and not value <= field["le"]) or ("lt" in field and not value < field["lt"]):
        raise Unsure


def _value(value: Any, kind: tuple, field: dict[str, Any]) -> Any:
    """*value* as the model's field would hold it, or :class:`Unsure`."""
    tag = kind[0]
    if tag == "optional":
        return None if value is None else _value(value, kind[1], field)
    if tag == "int" and type(value) is int:
        _check_bounds(value, field)
        return value
    if tag == "float" and type(value) in (int, float):
        value = float(value)
        if field.get("finite") and not math.isfinite(value):
            raise Unsure
        _check_bounds(value, field)
        return value
    if (tag == "bool" and type(value) is bool) or (tag == "str" and type(value) is str):
        return value
    if tag == "literal" and any(type(value) is type(choice) and value == choice for choice in kind[1]):
        return value
    if tag == "model" and type(value) is dict:
        return _model(kind[1], value)
    if tag == "dict" and type(value) is dict and all(type(k) is str for k in value):
        return {k: _value(v, kind[1], field) for k, v in value.items()}
    raise Unsure


def _model(name: str, data: Any) -> Record:
    from accelsim.config.plain_spec import MODELS

    if not _RECORDS:
        _RECORDS.update(_records())
    record = _RECORDS[name]
    data = record.before_keys(data)
    fields = MODELS[name]["fields"]
    if type(data) is not dict or any(key not in fields for key in data):
        raise Unsure
    values = {}
    for key, field in fields.items():
        if key in data:
            if field.get("opaque"):
                raise Unsure
            values[key] = _value(data[key], field["type"], field)
        elif "default" in field:
            values[key] = field["default"] if field.get("opaque") else _value(field["default"], field["type"], field)
        elif "factory" in field:
            values[key] = {} if field["factory"] == "dict" else _model(field["factory"], {})
        else:
            raise Unsure  # a required key is missing
    out = record(values)
    try:
        out.check_keys()
    except ValueError:
        raise Unsure from None
    return out


def validate(data: dict[str, Any]) -> Record:
    """The run config record of the mapping *data* (as :func:`~accelsim.config.files.config_data`
    returns it); raises :class:`Unsure` where pydantic must decide."""
    return _model("RunConfig", data)


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> Any:
    """:func:`accelsim.config.run.load_config` without pydantic where the config is plainly valid.

    Returns a record with the attributes of :class:`~accelsim.config.run.RunConfig` when every
    key is plainly valid, else (a coercion or an error to report) the pydantic model itself.

    Raises
    ------
    ConfigError
        As :func:`accelsim.config.run.load_config`, with its messages.
    """
    path, data = config_data(path, overrides)
    try:
        return validate(data)
    except Unsure:
        from accelsim.config.run import RunConfig, parse_model

        return parse_model(RunConfig, data, str(path))


def as_dict(record: Any) -> Any:
    """A record as plain data, in the shape of pydantic's ``model_dump()``."""
    if isinstance(record, Record):
        return {k: as_dict(v) for k, v in record.__dict__.items()}
    if isinstance(record, dict):
        return {k: as_dict(v) for k, v in record.items()}
    return record


# -- the generated declarations -----------------------------------------------------------------


def _kind(annotation: Any) -> tuple:
    """The plain reader's type of a field annotation: ``("int",)``, ``("optional", ...)``, ...,
    ``("opaque",)`` for what it leaves to pydantic (tuples, unions of several types)."""
    import types
    import typing

    import pydantic

    if annotation in (int, float, bool, str):
        return (annotation.__name__,)
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Literal:
        return ("literal", args)
    if origin in (typing.Union, types.UnionType) and len(args) == 2 and type(None) in args:
        inner = _kind(next(a for a in args if a is not type(None)))
        return ("opaque",) if inner == ("opaque",) else ("optional", inner)
    if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        return ("model", annotation.__name__)
    if origin is dict and args and args[0] is str:
        inner = _kind(args[1])
        return ("opaque",) if inner == ("opaque",) else ("dict", inner)
    return ("opaque",)


def _field_spec(model: Any, name: str, info: Any, validated: set[str]) -> dict[str, Any]:
    import annotated_types
    import pydantic
    from pydantic_core import PydanticUndefined

    out: dict[str, Any] = {"type": _kind(info.annotation)}
    for meta in info.metadata:
        bound = next((b for b in ("ge", "gt", "le", "lt") if isinstance(meta, getattr(annotated_types, b.title()))), None)
        if bound is not None:
            out[bound] = getattr(meta, bound)
        elif getattr(meta, "__dict__", None) == {"allow_inf_nan": False}:
            out["finite"] = True
        else:
            out["opaque"] = True  # a constraint the plain reader does not know
    if name in validated or out["type"] == ("opaque",):
        out["opaque"] = True
    if info.default is not PydanticUndefined:
        out["default"] = info.default
        if out.get("opaque"):  # used as declared: hold it to what pydantic makes of it
            held = pydantic.TypeAdapter(info.annotation).validate_python(info.default)
            if repr(held) != repr(info.default):
                raise TypeError(f"{model.__name__}.{name}: default {info.default!r} becomes {held!r}")
    elif info.default_factory is dict:
        out["factory"] = "dict"
    elif isinstance(info.default_factory, type) and issubclass(info.default_factory, pydantic.BaseModel):
        out["factory"] = info.default_factory.__name__
    elif info.default_factory is not None:
        raise TypeError(f"{model.__name__}.{name}: default_factory {info.default_factory!r} is not a model or dict")
    return out


def model_specs() -> dict[str, dict[str, Any]]:
    """Every config model reachable from :class:`~accelsim.config.run.RunConfig`: its section class
    (in :mod:`accelsim.config.sections`) and each field's type, bounds and default."""
    import pydantic

    from accelsim.config.base import ConfigModel
    from accelsim.config.run import RunConfig

    specs: dict[str, dict[str, Any]] = {}

    def walk(model: type[ConfigModel]) -> None:
        if model.__name__ in specs:
            return
        decorators = model.__pydantic_decorators__
        extra = set(decorators.model_validators) - {"_before_keys", "_check_keys"}
        if extra or decorators.field_serializers or decorators.model_serializers or decorators.computed_fields:
            raise TypeError(f"{model.__name__}: model validators {sorted(extra)} beside before_keys/check_keys: "
                            "put the rule in the section's class in accelsim.config.sections")
        if model.model_config != ConfigModel.model_config:
            raise TypeError(f"{model.__name__}: its own model_config, which the plain reader does not follow")
        aliased = [name for name, info in model.model_fields.items() if info.alias or info.validation_alias]
        if aliased:
            raise TypeError(f"{model.__name__}: aliased keys {aliased}, which the plain reader does not follow")
        rules = next(c for c in model.__mro__[1:] if issubclass(c, sections.SectionRules)
                     and not issubclass(c, pydantic.BaseModel))
        validated = {f for d in decorators.field_validators.values() for f in d.info.fields}
        specs[model.__name__] = {"rules": rules.__name__, "fields": {
            name: _field_spec(model, name, info, validated) for name, info in model.model_fields.items()}}
        for info in model.model_fields.values():
            for arg in _models_in(info.annotation):
                walk(arg)

    def _models_in(annotation: Any) -> list[type]:
        import typing

        if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
            return [annotation]
        return [m for a in typing.get_args(annotation) for m in _models_in(a)]

    walk(RunConfig)
    return specs


def spec_source() -> str:
    """The text of :mod:`accelsim.config.plain_spec`."""
    import pprint

    return ('"""Declarations of the config models for :mod:`accelsim.config.plain`, generated from the pydantic\n'
            'models by ``python -m accelsim.config.plain > accelsim/config/plain_spec.py``; do not edit."""\n\n'
            f"MODELS = {pprint.pformat(model_specs(), width=110, sort_dicts=False)}\n")


if __name__ == "__main__":  # pragma: no cover
    print(spec_source(), end="")
