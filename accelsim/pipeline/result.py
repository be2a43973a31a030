"""The result of one point: :class:`PointSummary`, the typed and versioned schema of ``summary.json``.

Made in one place (:meth:`accelsim.pipeline.RunResult.summary`) and read through this one type by
the CLI, the sweep's records and the reports. On disk it is plain JSON with units in the keys::

    {"schema_version": 2, "name": "default", "workload": "bundled model", "weight_bits": 8, ...,
     "energy_breakdown_uj": {"mac": ..., ...}, "layers": [{"name": "conv1", ...}, ...]}

A reader accepts files from this version and earlier (a record written before the version field
existed reads as version 0, every field it lacks as ``None``) and refuses newer ones with
:class:`~accelsim.errors.SchemaVersionError`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from accelsim.energy.model import ENERGY_KINDS
from accelsim.errors import InputFileError, SchemaVersionError

__all__ = ["SCHEMA_VERSION", "SUMMARY_FILE", "LAYERS_FILE", "DESCRIPTORS_DIR", "ENERGY_KINDS",
           "LayerSummary", "PointSummary"]

SCHEMA_VERSION = 2
"""Version of the :class:`PointSummary` JSON; bump it when a field changes meaning or is removed.
2: ``energy_breakdown_uj`` splits ``leakage`` into ``leakage_logic`` and one ``leakage_<buffer>``
per SRAM buffer (a version-1 record's single ``leakage`` still reads, as an extra kind)."""

SUMMARY_FILE = "summary.json"
"""File name of a run's :class:`PointSummary` (plus the resolved config) in its output folder."""

LAYERS_FILE = "layers.csv"
"""File name of the per-layer table (the rows of :attr:`PointSummary.layers`)."""

DESCRIPTORS_DIR = "descriptors"
"""Folder of the simulated network's layer descriptors (:func:`accelsim.layers.write_network`)."""


@dataclass(frozen=True)
class LayerSummary:
    """One layer of a point, per pass through the array (energy per inference)."""

    name: str
    op: str
    macs: int
    folds: int
    compute_cycles: int
    stall_cycles: int
    total_cycles: int
    utilization: float
    """Fraction of MAC slots busy during compute cycles, in [0, 1]."""
    dram_read_bytes: float
    dram_write_bytes: float
    energy_uj: float
    """Energy of this layer per inference, µJ."""


@dataclass(frozen=True)
class PointSummary:
    """What one run of one config measured; units in the field names.

    Accuracy fields are fractions in [0, 1], ``None`` when not measured (``accuracy_note`` says
    why). Hardware counts are per pass of ``batch`` inferences; energy and power per inference.
    """

    name: str | None = None
    workload: str | None = None
    """Short label: ``bundled model``, the ONNX file name, or ``topology:<zoo name or CSV name>``."""
    weight_bits: int | None = None
    act_bits: int | None = None
    acc_bits: int | None = None
    method: str | None = None
    """Activation threshold method (None for shape-only topologies)."""
    array_rows: int | None = None
    array_cols: int | None = None
    dataflow: str | None = None
    clock_hz: float | None = None
    batch: int | None = None
    technology: str | None = None
    macs: int | None = None
    compute_cycles: int | None = None
    stall_cycles: int | None = None
    total_cycles: int | None = None
    utilization: float | None = None
    latency_s: float | None = None
    inferences_per_s: float | None = None
    tops: float | None = None
    peak_tops: float | None = None
    energy_per_inference_uj: float | None = None
    energy_breakdown_uj: dict[str, float] = field(default_factory=dict)
    """Energy per inference by event kind (:data:`ENERGY_KINDS` order), µJ; sums to the total."""
    power_mw: float | None = None
    tops_per_w: float | None = None
    float_top1: float | None = None
    quant_top1: float | None = None
    float_top5: float | None = None
    quant_top5: float | None = None
    agreement: float | None = None
    """Fraction of images where float and quantized argmax agree."""
    accuracy_images: int | None = None
    accuracy_note: str = ""
    calib_images_requested: int | None = None
    """Calibration images the config asked for (``quant.calib_batch``); None without calibration."""
    calib_images: int | None = None
    """Calibration images actually used (fewer when the data set is smaller: see ``warnings``)."""
    warnings: tuple[str, ...] = ()
    """Every clamp or fallback the run made on the user's behalf, one line each."""
    layers: tuple[LayerSummary, ...] = ()
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data (``schema_version`` first); :meth:`from_dict` reads it back."""
        out: dict[str, Any] = {"schema_version": self.schema_version}
        for f in fields(self):
            if f.name == "schema_version":
                continue
            value = getattr(self, f.name)
            if f.name == "layers":
                value = [asdict(layer) for layer in value]
            elif f.name == "energy_breakdown_uj":
                value = dict(value)
            elif f.name == "warnings":
                value = list(value)
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: Any, source: str = "summary") -> "PointSummary":
        """Read a summary written by this or an earlier version; unknown keys are ignored.

        Raises
        ------
        InputFileError
            *data* is not a JSON object, or ``layers`` is not a list of objects.
        SchemaVersionError
            ``schema_version`` is newer than :data:`SCHEMA_VERSION`.
        """
        if not isinstance(data, dict):
            raise InputFileError(f"{source}: expected a JSON object (a point summary), got {type(data).__name__}")
        version = data.get("schema_version", 0)
        if not isinstance(version, int) or version > SCHEMA_VERSION:
            raise SchemaVersionError(f"{source}: schema_version {version!r} is newer than this accelsim reads "
                                     f"(<= {SCHEMA_VERSION}); upgrade accelsim")
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in known}
        kwargs["schema_version"] = version
        kwargs["energy_breakdown_uj"] = dict(data.get("energy_breakdown_uj") or {})
        if kwargs.get("accuracy_note") is None:
            kwargs["accuracy_note"] = ""
        kwargs["warnings"] = tuple(str(w) for w in (data.get("warnings") or ()))
        layer_keys = {f.name for f in fields(LayerSummary)}
        rows = data.get("layers") or []
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise InputFileError(f"{source}: 'layers' must be a list of objects")
        kwargs["layers"] = tuple(LayerSummary(**{k: r.get(k) for k in layer_keys}) for r in rows)
        return cls(**kwargs)

    def metric(self, name: str) -> float | None:
        """A numeric field by name, or ``None`` when missing, not a number or not finite."""
        value = getattr(self, name, None)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None
        return float(value) if math.isfinite(value) else None

    def breakdown(self) -> dict[str, float]:
        """Energy per inference by kind, µJ: :data:`ENERGY_KINDS` first, in order, then any others."""
        out = {k: float(self.energy_breakdown_uj[k] or 0.0) for k in ENERGY_KINDS if k in self.energy_breakdown_uj}
        out.update({k: float(v or 0.0) for k, v in self.energy_breakdown_uj.items() if k not in out})
        return out
