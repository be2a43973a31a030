"""Energy tables: per-event energies as validated, cited plain data (Timeloop/Accelergy style).

A table is one YAML file per technology (shipped: ``configs/energy/{45,28,16,7}nm.yaml``; users may
name their own with ``energy.table:``). Every number sits beside a ``source:`` string, a citation
or ``derived: <how>``; the loader refuses an entry without one. Units are in the key names:

``multiplier``        ``energy_pj`` of one multiply at ``weight_bits`` x ``act_bits``
``adder``             ``energy_pj`` of one add at ``bits``
``pe_register``       ``write.energy_pj_per_bit`` (any PE register write) and
                      ``forward.energy_pj_per_bit`` (the wire hop of one bit to the neighbouring PE)
``sram``              ``read``/``write``: points ``{capacity_kib, energy_pj_per_bit}``, interpolated
                      in log capacity (see :meth:`SramCurve.energy_pj_per_bit`)
``dram``              ``energy_pj_per_bit`` per memory kind (lpddr4, ddr3, ddr4, gddr5, hbm2)
``leakage``           ``pe.power_uw`` per PE and ``sram.power_uw_per_kib``: powers, not energies
``vector``            ``energy_pj`` of one element operation at ``bits`` per op kind
                      (maxpool, avgpool, add, mul, concat, lut, requant)

:func:`load_table` reads and validates a file; :func:`table_for` picks the table a run config names;
:meth:`EnergyTable.check_covers` checks the table prices everything a hardware config needs.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import pydantic
from pydantic import Field

from accelsim.config.base import ConfigModel, load_yaml, parse_model
from accelsim.config.energy import available_technologies, tables_dir
from accelsim.errors import ConfigError

NonNegEnergy = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Bits = Annotated[int, Field(ge=1, le=64)]
Source = Annotated[str, Field(min_length=1, description="Citation, or 'derived: <how>'.")]

DRAM_KINDS = ("lpddr4", "ddr3", "ddr4", "gddr5", "hbm2")
"""Memory kinds a table may price (the values of ``hardware.dram.kind``)."""

VECTOR_OPS = ("maxpool", "avgpool", "add", "mul", "concat", "lut", "requant")
"""Vector-unit element operations a table prices (``requant``: the array's output requantization)."""


class MultiplierEntry(ConfigModel):
    """One integer multiply at a reference width pair; energy scales with the operand-width product."""

    energy_pj: NonNegEnergy = Field(description="Energy of one multiply at the reference widths, pJ.")
    weight_bits: Bits = Field(description="Reference weight operand width, bits.")
    act_bits: Bits = Field(description="Reference activation operand width, bits.")
    source: Source


class AdderEntry(ConfigModel):
    """One integer add at a reference width; energy scales linearly with width."""

    energy_pj: NonNegEnergy = Field(description="Energy of one add at `bits`, pJ.")
    bits: Bits = Field(description="Reference adder width, bits.")
    source: Source


class PerBitEntry(ConfigModel):
    """An energy per bit moved or stored."""

    energy_pj_per_bit: NonNegEnergy = Field(description="Energy per bit, pJ.")
    source: Source


class RegisterEntry(ConfigModel):
    """PE register energies."""

    write: PerBitEntry = Field(description="Writing one bit into any PE register (operand or accumulator).")
    forward: PerBitEntry = Field(
        description="Driving one bit over the wire to the neighbouring PE (its register write is under `write`)."
    )


class SramPoint(ConfigModel):
    """SRAM energy per bit at one capacity."""

    capacity_kib: float = Field(gt=0, allow_inf_nan=False, description="SRAM capacity, KiB.")
    energy_pj_per_bit: NonNegEnergy = Field(description="Energy per bit accessed, pJ.")
    source: Source


class SramCurve(ConfigModel):
    """SRAM read and write energy per bit as functions of capacity."""

    read: list[SramPoint] = Field(min_length=1, description="Read energy points, ascending capacity.")
    write: list[SramPoint] = Field(min_length=1, description="Write energy points, ascending capacity.")

    @pydantic.field_validator("read", "write")
    @classmethod
    def _ascending(cls, points: list[SramPoint]) -> list[SramPoint]:
        caps = [p.capacity_kib for p in points]
        if any(b <= a for a, b in zip(caps, caps[1:])):
            raise ValueError(f"capacity_kib must strictly ascend, got {caps}")
        return points

    def energy_pj_per_bit(self, capacity_kib: float, direction: str = "read") -> float:
        """Energy per bit of an SRAM of *capacity_kib*, interpolated from the table points.

        Between two points the energy is linear in log-log space (a power law
        ``E = E0 * (C / C0) ** alpha``, alpha from the two points: CACTI's SRAM energy grows about
        as the square root of capacity). Outside the points the nearest segment's power law is
        extended; a zero energy at either end of a segment, or a curve of one point, gives a
        constant. Exactly at a point the point's value is returned.
        """
        assert direction in ("read", "write"), direction
        pts = self.read if direction == "read" else self.write
        if capacity_kib <= 0:
            raise ConfigError(f"SRAM capacity must be > 0 KiB, got {capacity_kib}")
        if len(pts) == 1:
            return pts[0].energy_pj_per_bit
        for p in pts:
            if p.capacity_kib == capacity_kib:
                return p.energy_pj_per_bit
        if capacity_kib < pts[0].capacity_kib:
            lo, hi = pts[0], pts[1]
        elif capacity_kib > pts[-1].capacity_kib:
            lo, hi = pts[-2], pts[-1]
        else:
            i = next(i for i, p in enumerate(pts) if p.capacity_kib > capacity_kib)
            lo, hi = pts[i - 1], pts[i]
        e0, e1 = lo.energy_pj_per_bit, hi.energy_pj_per_bit
        if e0 == 0.0 or e1 == 0.0:
            return e0 if capacity_kib < hi.capacity_kib else e1
        alpha = math.log(e1 / e0) / math.log(hi.capacity_kib / lo.capacity_kib)
        return e0 * (capacity_kib / lo.capacity_kib) ** alpha


class DramTable(ConfigModel):
    """DRAM energy per bit transferred, per memory kind; a kind left out cannot be priced."""

    lpddr4: PerBitEntry | None = None
    ddr3: PerBitEntry | None = None
    ddr4: PerBitEntry | None = None
    gddr5: PerBitEntry | None = None
    hbm2: PerBitEntry | None = None

    def kinds(self) -> list[str]:
        """Memory kinds this table prices."""
        return [k for k in DRAM_KINDS if getattr(self, k) is not None]


class PowerEntry(ConfigModel):
    """Leakage power of one PE."""

    power_uw: NonNegEnergy = Field(description="Leakage power, microwatt.")
    source: Source


class PowerPerKibEntry(ConfigModel):
    """Leakage power of SRAM per KiB of capacity."""

    power_uw_per_kib: NonNegEnergy = Field(description="Leakage power per KiB, microwatt.")
    source: Source


class LeakageTable(ConfigModel):
    """Leakage powers; energy = power x time, so leakage per inference falls as the clock rises."""

    pe: PowerEntry
    sram: PowerPerKibEntry


class VectorEntry(ConfigModel):
    """One vector-unit element operation at a reference width; energy scales linearly with width."""

    energy_pj: NonNegEnergy = Field(description="Energy of one element operation at `bits`, pJ.")
    bits: Bits = Field(8, description="Reference operand width, bits.")
    source: Source


class VectorTable(ConfigModel):
    maxpool: VectorEntry
    avgpool: VectorEntry
    add: VectorEntry
    mul: VectorEntry
    concat: VectorEntry
    lut: VectorEntry
    requant: VectorEntry


class EnergyTable(ConfigModel):
    """A whole energy table (one technology)."""

    technology: str = Field(min_length=1, description="Name of the technology, e.g. 45nm.")
    description: str = Field("", description="What the table is and where it comes from.")
    multiplier: MultiplierEntry
    adder: AdderEntry
    pe_register: RegisterEntry
    sram: SramCurve
    dram: DramTable
    leakage: LeakageTable
    vector: VectorTable

    _source: str = pydantic.PrivateAttr("<table>")

    @property
    def source(self) -> str:
        """The file the table was read from (for error messages)."""
        return self._source

    def dram_energy_pj_per_bit(self, kind: str) -> float:
        """DRAM energy per bit of memory *kind*.

        Raises
        ------
        ConfigError
            The table has no entry for *kind* (message names the table file and the kinds it has).
        """
        entry = getattr(self.dram, kind, None) if kind in DRAM_KINDS else None
        if entry is None:
            raise ConfigError(
                f"{self._source}: dram.{kind}: no entry for DRAM kind {kind!r} "
                f"(this table prices: {', '.join(self.dram.kinds()) or 'none'})"
            )
        return entry.energy_pj_per_bit

    def check_covers(self, hw) -> None:
        """Raise :class:`ConfigError` if the table cannot price hardware config *hw*."""
        self.dram_energy_pj_per_bit(hw.dram.kind)


def load_table(path: str | Path) -> EnergyTable:
    """Read and validate an energy table YAML file.

    Raises
    ------
    ConfigError
        Missing or unreadable file, bad YAML, a missing entry, a negative energy, an unknown key
        (e.g. an unknown DRAM kind) or an entry without ``source``: one line naming the file and
        every bad key path.
    """
    path = Path(path)
    table = parse_model(EnergyTable, load_yaml(path), source=str(path))
    table._source = str(path)
    return table


def shipped_table(technology: str) -> EnergyTable:
    """The shipped table of *technology* (e.g. ``"45nm"``).

    Raises
    ------
    ConfigError
        No shipped table of that name (message lists the available ones).
    """
    available = available_technologies()
    if technology not in available:
        raise ConfigError(
            f"energy.technology: no shipped energy table {technology!r} (available: {', '.join(available)})"
        )
    return load_table(tables_dir() / f"{technology}.yaml")


def table_for(energy_config, hw=None) -> EnergyTable:
    """The table an :class:`~accelsim.config.energy.EnergyConfig` names, checked against *hw*.

    ``energy.table`` (a path) wins over ``energy.technology`` (a shipped table name). With *hw*
    (a :class:`~accelsim.config.hardware.HardwareConfig`) the table must price its DRAM kind.
    """
    if energy_config.table is not None:
        table = load_table(energy_config.table)
    else:
        table = shipped_table(energy_config.technology)
    if hw is not None:
        table.check_covers(hw)
    return table
