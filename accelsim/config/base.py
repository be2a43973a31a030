"""The base of every config section and one-line error formatting (the safe YAML loader, re-exported
here, lives in :mod:`accelsim.config.files`).

Configs are pydantic models, frozen and closed (``extra="forbid"``): an unknown key is an error,
not a silently ignored typo. :func:`parse_model` collects every problem pydantic finds and raises
one :class:`~accelsim.errors.ConfigError` whose single line names the file and each key path.
"""

import typing
from typing import Any, TypeVar

import pydantic

from accelsim.config.files import load_yaml, load_yaml_text, read_text_file  # noqa: F401 - re-exported
from accelsim.config.sections import SectionRules
from accelsim.errors import ConfigError

M = TypeVar("M", bound="ConfigModel")


class ConfigModel(SectionRules, pydantic.BaseModel):
    """Frozen, closed pydantic model; every field carries its default, unit and description.

    A section's rewriting of its raw mapping and its cross-key rules are the ``before_keys`` and
    ``check_keys`` of its :mod:`accelsim.config.sections` class (the only model validators), so the
    pydantic-free reader :mod:`accelsim.config.plain` applies the same ones.
    """

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid", validate_default=True)

    @pydantic.model_validator(mode="before")
    @classmethod
    def _before_keys(cls, data: Any) -> Any:
        return cls.before_keys(data)

    @pydantic.model_validator(mode="after")
    def _check_keys(self) -> "ConfigModel":
        self.check_keys()
        return self


def format_validation_error(exc: pydantic.ValidationError, source: str, prefix: str = "") -> str:
    """Turn every problem pydantic found into one line: ``file: key.path: problem (got X); ...``."""
    problems = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in err["loc"] if not str(p).startswith("function-"))
        if prefix:
            loc = f"{prefix}.{loc}" if loc else prefix
        kind = err["type"]
        if kind == "extra_forbidden":
            msg = "unknown key"
        elif kind == "missing":
            msg = "required key is missing"
        else:
            msg = err["msg"]
            if msg.startswith("Value error, "):
                msg = msg[len("Value error, "):]
            if "input" in err and kind not in ("model_type", "dict_type"):
                got = err["input"]
                if not isinstance(got, (dict, list)):
                    msg += f" (got {got!r})"
        problems.append(f"{loc}: {msg}" if loc else msg)
    return f"{source}: " + "; ".join(problems)


def parse_model(cls: type[M], data: Any, source: str = "<config>", prefix: str = "") -> M:
    """Build and validate config model *cls* from plain data.

    Parameters
    ----------
    cls : the config model class.
    data : the mapping read from YAML (``None`` means all defaults).
    source : the file name (or other origin) named in error messages.
    prefix : key path of *data* inside the file, for error messages.

    Raises
    ------
    ConfigError
        One line listing every problem with its key path.
    """
    if data is None:
        data = {}
    if not isinstance(data, dict):
        where = f"{prefix}: " if prefix else ""
        raise ConfigError(f"{source}: {where}expected a mapping of keys, got {type(data).__name__}")
    try:
        return cls.model_validate(data)
    except pydantic.ValidationError as exc:
        raise ConfigError(_with_valid_keys(format_validation_error(exc, source, prefix), cls, exc)) from None


def _model_in(annotation: Any) -> Any:
    """The config model an annotation holds: ``Model``, ``Model | None`` or ``dict[str, Model]``.

    Returns the model class, ``("dict", Model)`` for a mapping of models, or None.
    """
    if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        return annotation
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is dict and len(args) == 2:
        inner = _model_in(args[1])
        return ("dict", inner) if isinstance(inner, type) else None
    for arg in args:  # Optional / Union: the first model member
        inner = _model_in(arg)
        if inner is not None:
            return inner
    return None


def _with_valid_keys(message: str, cls: type[pydantic.BaseModel], exc: pydantic.ValidationError) -> str:
    """Append the valid keys for each unknown key, read from the model's fields."""
    out = message
    for err in exc.errors(include_url=False):
        if err["type"] != "extra_forbidden":
            continue
        model: Any = cls
        for part in err["loc"][:-1]:
            if isinstance(model, tuple):  # a user key of a dict[str, Model]
                model = model[1]
                continue
            field = model.model_fields.get(str(part))
            model = _model_in(getattr(field, "annotation", None))
            if model is None:
                break
        if isinstance(model, type):
            bad = str(err["loc"][-1])
            valid = ", ".join(model.model_fields)
            out = out.replace(f"{bad}: unknown key", f"{bad}: unknown key (valid keys: {valid})", 1)
    return out
