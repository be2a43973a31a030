"""The base of every config section, the safe YAML loader and one-line error formatting.

Configs are pydantic models, frozen and closed (``extra="forbid"``): an unknown key is an error,
not a silently ignored typo. :func:`parse_model` collects every problem pydantic finds and raises
one :class:`~accelsim.errors.ConfigError` whose single line names the file and each key path.
"""

from pathlib import Path
import typing
from typing import Any, TypeVar

import pydantic
import yaml

from accelsim.errors import ConfigError

M = TypeVar("M", bound="ConfigModel")


class ConfigModel(pydantic.BaseModel):
    """Frozen, closed pydantic model; every field carries its default, unit and description."""

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid", validate_default=True)


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
