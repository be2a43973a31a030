"""What the config sections compute from their keys and the key combinations they refuse, in plain Python.

The pydantic models (:mod:`accelsim.config.hardware`, ...) declare the keys; each model that has
derived values or cross-key rules inherits them from one class here, and so do the pydantic-free
records of :mod:`accelsim.config.plain` (``accelsim simulate`` validates without pydantic). So a
rule or a derived value is written once, whichever of the two built the section.

Two hooks, run by :class:`~accelsim.config.base.ConfigModel`'s validators and by the plain reader
alike: ``before_keys(data)`` rewrites the raw mapping before the keys are checked (a deprecated
form into the current one); ``check_keys()`` raises ``ValueError`` when valid keys do not go
together.
"""

from importlib.resources import files
from pathlib import Path
from typing import Any

from accelsim.config.files import bundled_data, deprecated_topology


class SectionRules:
    """No rewriting, no cross-key rule: the default of every section."""

    @classmethod
    def before_keys(cls, data: Any) -> Any:
        """The raw mapping as the keys are checked (unchanged here)."""
        return data

    def check_keys(self) -> None:
        """Raise ``ValueError`` when the section's valid keys do not go together (never here)."""


class RunRules(SectionRules):
    @classmethod
    def before_keys(cls, data: Any) -> Any:
        """For the bundled model, a data set without a ``path`` (or not given) is the bundled one."""
        return bundled_data(data)


class TopologyRules(SectionRules):
    def check_keys(self) -> None:
        if (self.zoo is None) == (self.csv is None):
            raise ValueError("give exactly one of 'zoo' (a network name) or 'csv' (a topology file)")

    @property
    def label(self) -> str:
        """``resnet18`` or the CSV's file name."""
        return self.zoo if self.zoo is not None else Path(self.csv).name


class WorkloadRules(SectionRules):
    @classmethod
    def before_keys(cls, data: Any) -> Any:
        """A plain-string ``topology`` (deprecated) becomes its mapping form, with a warning."""
        if isinstance(data, dict) and isinstance(data.get("topology"), str):
            return {**data, "topology": deprecated_topology(data["topology"])}
        return data

    def check_keys(self) -> None:
        if self.model is not None and self.topology is not None:
            raise ValueError("give 'model' or 'topology', not both")
        if self.topology_form not in ("auto", "conv", "gemm"):
            raise ValueError(f"topology_form must be auto, conv or gemm (got {self.topology_form!r})")

    @property
    def model_or_bundled(self) -> str | None:
        """The model to load: the bundled one when neither model nor topology was given."""
        if self.model is None and self.topology is None:
            return "bundled"
        return self.model


class LocalStoreRules(SectionRules):
    @property
    def bits(self) -> int:
        """Storage bits, words x width_bits."""
        return self.words * self.width_bits


class HardwareRules(SectionRules):
    def check_keys(self) -> None:
        if self.pe.precision_scalable and self.pe.native_bits % 4:
            raise ValueError(
                f"pe.native_bits must be a multiple of 4 when pe.precision_scalable is true (got {self.pe.native_bits})"
            )

    @property
    def pes(self) -> int:
        """Number of PEs, rows x cols."""
        return self.array.rows * self.array.cols

    def sram_width_bits(self, buffer: str) -> int:
        """Port width of *buffer* (``ifmap``, ``weight``, ``ofmap``), bits: its ``width_bits`` or the
        array edge it feeds (ifmap: rows, weight and ofmap: cols) x ``pe.native_bits``."""
        macro = getattr(self.buffers, buffer)
        if macro.width_bits is not None:
            return macro.width_bits
        edge = self.array.rows if buffer == "ifmap" else self.array.cols
        return edge * self.pe.native_bits

    def sram_banks(self, buffer: str) -> int:
        """Banks of *buffer*: its ``banks`` or 2 when double-buffered, else 1."""
        macro = getattr(self.buffers, buffer)
        if macro.banks is not None:
            return macro.banks
        return 2 if self.buffers.double_buffered else 1

    def macs_per_pe(self, weight_bits: int, act_bits: int) -> int:
        """MACs one PE does per cycle at these operand widths (1, 2 or 4).

        ``4`` when both widths are <= native_bits/4, ``2`` when <= native_bits/2, else ``1``;
        always ``1`` without ``pe.precision_scalable``.
        """
        if not self.pe.precision_scalable:
            return 1
        widest = max(weight_bits, act_bits)
        if widest <= self.pe.native_bits // 4:
            return 4
        if widest <= self.pe.native_bits // 2:
            return 2
        return 1

    def peak_macs_per_cycle(self, weight_bits: int = 8, act_bits: int = 8) -> int:
        """Array MACs per cycle at these widths, MACs/cycle."""
        return self.pes * self.macs_per_pe(weight_bits, act_bits)


def tables_dir() -> Path:
    """Folder of the shipped energy tables (``configs/energy``; inside the package when installed)."""
    return Path(str(files("accelsim") / "configs" / "energy"))


def available_technologies() -> list[str]:
    """Names of the shipped energy tables, e.g. ``['16nm', '28nm', '45nm', '7nm']``."""
    return sorted(p.stem for p in tables_dir().glob("*.yaml"))


class EnergyRules(SectionRules):
    def check_keys(self) -> None:
        if self.table is None:
            available = available_technologies()
            if self.technology not in available:
                raise ValueError(
                    f"technology {self.technology!r} has no shipped energy table (available: {', '.join(available)})"
                )
