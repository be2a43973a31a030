"""Config: YAML -> validated, frozen, typed config objects.

Each stage's section lives in its own module (``hardware``, ``quant``, ...), all built on
:class:`accelsim.config.base.ConfigModel`. Configs are immutable and validated once, when built;
a change means building a new one. Each default lives in one place: the field.
"""

from accelsim.config.base import ConfigModel, load_yaml, parse_model

__all__ = ["ConfigModel", "load_yaml", "parse_model"]
