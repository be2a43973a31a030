"""Config: YAML -> validated, frozen, typed config objects.

Each stage's section lives in its own module (``hardware``, ``quant``, ...), all built on
:class:`accelsim.config.base.ConfigModel`. Configs are immutable and validated once, when built;
a change means building a new one. Each default lives in one place: the field.
:mod:`accelsim.config.plain` validates the same keys without pydantic (``accelsim simulate``), so
the names below import pydantic on first use only.
"""

from accelsim.lazy import lazy_getattr

__all__ = ["ConfigModel", "load_yaml", "parse_model"]

__getattr__ = lazy_getattr(__name__, dict.fromkeys(__all__, "accelsim.config.base"))
