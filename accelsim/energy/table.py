"""Energy tables: per-event energies as validated, cited plain data (Timeloop/Accelergy style).

A table is one YAML file per technology (shipped: ``configs/energy/{45,28,16,7}nm.yaml``; users may
name their own with ``energy.table:``). Every number sits beside a ``source:`` string, a citation
or ``derived: <how>``; the loader refuses an entry without one. Units are in the key names:

``multiplier``        ``energy_pj`` of one multiply at ``weight_bits`` x ``act_bits``
``adder``             ``energy_pj`` of one add at ``bits``
``pe_register``       ``write.energy_pj_per_bit`` (any PE register write),
                      ``forward.energy_pj_per_bit`` (the wire hop of one bit to the neighbouring PE),
                      ``clock.energy_pj_per_bit`` (one flip-flop bit clocked for one cycle) and
                      ``mux2.energy_pj_per_bit`` (one bit through one 2:1 multiplexer of a
                      register-file read)
``sram``              CACTI results on a grid of capacity x width x banks x ports per cell type
                      (see :meth:`SramTable.macro`)
``local_sram``        the same for the small SRAMs inside a PE (``hardware.pe.local_stores``);
                      optional
``dram``              ``energy_pj_per_bit`` per memory kind (lpddr4, ddr3, ddr4, gddr5, hbm2)
``leakage``           ``pe.power_uw`` per PE and ``sram.power_uw_per_kib``: powers, not energies
``vector``            ``energy_pj`` of one element operation at ``bits`` per op kind
                      (maxpool, avgpool, add, mul, concat, lut, requant)
``logic_voltage``     ``volts`` the logic entries hold at (optional; needed by
                      ``energy.logic_supply_v``, :meth:`EnergyTable.at_logic_voltage`)

:func:`load_table` reads and validates a file; :func:`table_for` picks the table a run config names;
:meth:`EnergyTable.check_covers` checks the table prices everything a hardware config needs.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated

import pydantic
from pydantic import Field

from accelsim.config.base import ConfigModel, load_yaml_text, parse_model, read_text_file
from accelsim.config.energy import available_technologies, tables_dir
from accelsim.errors import ConfigError
from accelsim.hw.counts import BUFFERS

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
    clock: PerBitEntry = Field(
        description="Clocking one flip-flop bit for one cycle, whether or not it is written (the clock pin's "
        "internal energy and capacitance): charged for every clocked register bit, every cycle its clock runs."
    )
    mux2: PerBitEntry = Field(
        description="One bit through one 2:1 multiplexer level: a register-file read of `words` entries passes "
        "ceil(log2(words)) levels."
    )


SRAM_CELLS = ("itrs-hp", "itrs-lstp", "itrs-lop")
"""CACTI's SRAM device types a table may price (the values of ``hardware.buffers.<buffer>.cell``)."""

MaybeValue = Annotated[float, Field(ge=0, allow_inf_nan=False)] | None


class SramOrganisation(ConfigModel):
    """CACTI's results for one SRAM organisation (port width, banks, ports) at every grid capacity.

    Each list holds one value per entry of :attr:`SramTable.capacity_kib`; ``null`` where CACTI
    found no organisation (a port too wide for so few rows).
    """

    width_bits: int = Field(ge=1, description="Port width: bits read or written per access.")
    banks: int = Field(ge=1, description="Banks (one active per access).")
    ports: int = Field(ge=1, description="Read/write ports.")
    read_pj: list[MaybeValue] = Field(description="Dynamic energy of one read access, pJ.")
    write_pj: list[MaybeValue] = Field(description="Dynamic energy of one write access, pJ.")
    leakage_uw: list[MaybeValue] = Field(description="Standby leakage of all banks, awake, microwatt.")
    gated_leakage_uw: list[MaybeValue] = Field(
        description="Standby leakage of all banks while power-gated (data retained), microwatt."
    )
    wakeup_pj: list[MaybeValue] = Field(description="Energy of waking the gated banks once, pJ.")
    cycle_ns: list[MaybeValue] = Field(description="Random cycle time, ns (the fastest clock it keeps up with).")
    source: Source


class SramCellTable(ConfigModel):
    """All organisations of one cell type."""

    source: Source
    organisations: list[SramOrganisation] = Field(min_length=1)

    @pydantic.model_validator(mode="after")
    def _unique(self) -> "SramCellTable":
        keys = [(o.width_bits, o.banks, o.ports) for o in self.organisations]
        dup = sorted({k for k in keys if keys.count(k) > 1})
        if dup:
            raise ValueError(f"organisations repeat (width_bits, banks, ports) {dup}")
        return self


@dataclass(frozen=True)
class SramMacro:
    """One buffer's SRAM as priced: per-bit access energies, leakage and wake-up cost."""

    cell: str
    capacity_kib: float
    width_bits: int
    banks: int
    ports: int
    read_pj_per_bit: float
    write_pj_per_bit: float
    leakage_uw: float
    gated_leakage_uw: float
    wakeup_pj: float
    cycle_ns: float

    def to_dict(self) -> dict:
        """Plain data, units in the keys."""
        return asdict(self)


class SramTable(ConfigModel):
    """SRAM access energy and leakage from CACTI on a grid of capacity x width x banks x ports.

    :meth:`macro` interpolates the grid for one buffer (see there for the rules).
    """

    capacity_kib: list[float] = Field(min_length=1, description="Grid capacities, KiB, ascending.")
    temperature_k: float = Field(gt=0, description="Temperature CACTI's leakage is for, kelvin.")
    source: Source
    cells: dict[str, SramCellTable] = Field(description="One block per cell type (itrs-hp, itrs-lstp, itrs-lop).")

    @pydantic.model_validator(mode="after")
    def _check(self) -> "SramTable":
        caps = self.capacity_kib
        if any(c <= 0 for c in caps) or any(b <= a for a, b in zip(caps, caps[1:])):
            raise ValueError(f"capacity_kib must be positive and strictly ascend, got {caps}")
        bad = sorted(set(self.cells) - set(SRAM_CELLS))
        if bad:
            raise ValueError(f"unknown cell type(s) {bad} (valid: {', '.join(SRAM_CELLS)})")
        for cell, block in self.cells.items():
            for o in block.organisations:
                for name in ("read_pj", "write_pj", "leakage_uw", "gated_leakage_uw", "wakeup_pj", "cycle_ns"):
                    if len(getattr(o, name)) != len(caps):
                        raise ValueError(
                            f"cells.{cell}: organisation {o.width_bits} bits/{o.banks} banks/{o.ports} ports: "
                            f"{name} has {len(getattr(o, name))} values for {len(caps)} capacities"
                        )
        return self

    def organisations(self, cell: str, banks: int, ports: int) -> list[SramOrganisation]:
        """The organisations of *cell* with *banks* and *ports*, by ascending width (may be empty)."""
        block = self.cells.get(cell)
        if block is None:
            return []
        return sorted((o for o in block.organisations if o.banks == banks and o.ports == ports),
                      key=lambda o: o.width_bits)

    def grid_choices(self, cell: str) -> tuple[list[int], list[int]]:
        """``(banks, ports)`` values the table has for *cell*."""
        block = self.cells.get(cell)
        if block is None:
            return [], []
        return (sorted({o.banks for o in block.organisations}), sorted({o.ports for o in block.organisations}))

    def macro(self, cell: str, capacity_kib: float, width_bits: int, banks: int, ports: int) -> SramMacro:
        """The SRAM of one buffer, interpolated from the CACTI grid.

        Rules: *banks* and *ports* must be grid values (no interpolation across organisations
        that differ in kind). In capacity every quantity is interpolated linearly in log-log space
        between the two neighbouring grid capacities (a power law; CACTI's energy grows about as
        the square root of capacity, its leakage about linearly) and the end segments' power laws
        are extended outside the grid. In width the same between the two neighbouring grid widths;
        outside the grid widths, or where CACTI found no organisation at this capacity for the
        wider port, the nearest width with results is used with its per-bit energies (the access
        energy scaled by the width ratio) and its leakage. Per-bit energies are the access energy
        divided by *width_bits*.

        Raises
        ------
        ConfigError
            The table has no *cell*, or no organisation with these *banks* and *ports*, or none
            that covers *capacity_kib* (message names the table file and what it has).
        """
        if capacity_kib <= 0:
            raise ConfigError(f"SRAM capacity must be > 0 KiB, got {capacity_kib}")
        if cell not in self.cells:
            raise ConfigError(f"{self._source}: sram.cells: no cell type {cell!r} "
                              f"(this table prices: {', '.join(self.cells) or 'none'})")
        orgs = self.organisations(cell, banks, ports)
        if not orgs:
            b, p = self.grid_choices(cell)
            raise ConfigError(f"{self._source}: sram.cells.{cell}: no organisation with {banks} banks and {ports} "
                              f"ports (banks: {b}, ports: {p})")
        values = [(o, _at_capacity(self.capacity_kib, o, capacity_kib)) for o in orgs]
        values = [(o, v) for o, v in values if v is not None]
        if not values:
            raise ConfigError(f"{self._source}: sram.cells.{cell}: CACTI found no {banks}-bank {ports}-port "
                              f"organisation of {capacity_kib:g} KiB at any width")
        lower = [(o, v) for o, v in values if o.width_bits <= width_bits]
        upper = [(o, v) for o, v in values if o.width_bits >= width_bits]
        if lower and upper:
            (o0, v0), (o1, v1) = lower[-1], upper[0]
            if o0.width_bits == o1.width_bits:
                q = v0
            else:
                t = math.log(width_bits / o0.width_bits) / math.log(o1.width_bits / o0.width_bits)
                q = {k: _loglerp(v0[k], v1[k], t) for k in v0}
        else:
            o, q0 = (lower[-1] if lower else upper[0])
            scale = width_bits / o.width_bits
            q = dict(q0, read_pj=q0["read_pj"] * scale, write_pj=q0["write_pj"] * scale)
        return SramMacro(
            cell=cell, capacity_kib=capacity_kib, width_bits=width_bits, banks=banks, ports=ports,
            read_pj_per_bit=q["read_pj"] / width_bits, write_pj_per_bit=q["write_pj"] / width_bits,
            leakage_uw=q["leakage_uw"], gated_leakage_uw=q["gated_leakage_uw"], wakeup_pj=q["wakeup_pj"],
            cycle_ns=q["cycle_ns"],
        )

    _source: str = pydantic.PrivateAttr("<table>")


_SRAM_QUANTITIES = ("read_pj", "write_pj", "leakage_uw", "gated_leakage_uw", "wakeup_pj", "cycle_ns")


def _loglerp(a: float, b: float, t: float) -> float:
    """``a^(1-t) b^t``: linear in log space, and for *t* outside [0, 1] the power law through
    ``(0, a)`` and ``(1, b)`` extended; linear (never below 0) when either is not positive."""
    if a > 0 and b > 0:
        return math.exp((1 - t) * math.log(a) + t * math.log(b))
    return max(0.0, (1 - t) * a + t * b)


def _at_capacity(caps: list[float], org: SramOrganisation, capacity_kib: float) -> dict[str, float] | None:
    """Every quantity of *org* at *capacity_kib*, log-log between the grid capacities where CACTI
    has results, the end segments' power laws extended outside them. None when CACTI has no result
    for *org*, or when *capacity_kib* lies below the smallest capacity CACTI could build *org* at
    (above the grid's smallest)."""
    valid = [i for i in range(len(caps)) if all(getattr(org, q)[i] is not None for q in _SRAM_QUANTITIES)]
    if not valid or (valid[0] > 0 and capacity_kib < caps[valid[0]]):
        return None
    if len(valid) == 1:
        return {q: getattr(org, q)[valid[0]] for q in _SRAM_QUANTITIES}
    j = next((j for j, i in enumerate(valid) if caps[i] >= capacity_kib), len(valid) - 1)
    j = min(max(j, 1), len(valid) - 1)
    i0, i1 = valid[j - 1], valid[j]
    if caps[i1] == capacity_kib:
        return {q: getattr(org, q)[i1] for q in _SRAM_QUANTITIES}
    t = math.log(capacity_kib / caps[i0]) / math.log(caps[i1] / caps[i0])
    return {q: _loglerp(getattr(org, q)[i0], getattr(org, q)[i1], t) for q in _SRAM_QUANTITIES}


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


class LeakageTable(ConfigModel):
    """Logic leakage; energy = power x time, so leakage per inference falls as the clock rises.

    SRAM leakage is per buffer, from CACTI, under ``sram``.
    """

    pe: PowerEntry


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


class VoltageEntry(ConfigModel):
    """The supply voltage a table's logic energies were measured or derived at."""

    volts: float = Field(gt=0, le=5, allow_inf_nan=False, description="Supply voltage, V.")
    source: Source


class EnergyTable(ConfigModel):
    """A whole energy table (one technology)."""

    technology: str = Field(min_length=1, description="Name of the technology, e.g. 45nm.")
    description: str = Field("", description="What the table is and where it comes from.")
    logic_voltage: VoltageEntry | None = Field(
        None, description="Supply voltage of the logic entries (multiplier, adder, pe_register, vector but lut); "
        "needed to price another supply (energy.logic_supply_v)."
    )
    multiplier: MultiplierEntry
    adder: AdderEntry
    pe_register: RegisterEntry
    sram: SramTable
    local_sram: SramTable | None = Field(
        None, description="CACTI results for the small SRAMs inside a PE (hardware.pe.local_stores of kind sram).")
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

    def buffer_macros(self, hw) -> dict[str, SramMacro]:
        """Each buffer of hardware config *hw* as this table prices it, ``{buffer: SramMacro}``.

        Raises
        ------
        ConfigError
            No results for a buffer's cell type, banks or ports (names ``hardware.buffers.<buffer>``).
        """
        out = {}
        for buf in BUFFERS:
            macro = getattr(hw.buffers, buf)
            try:
                out[buf] = self.sram.macro(macro.cell, getattr(hw.buffers, f"{buf}_kb"), hw.sram_width_bits(buf),
                                           hw.sram_banks(buf), macro.ports)
            except ConfigError as exc:
                raise ConfigError(f"hardware.buffers.{buf}: {exc}") from None
        return out

    def store_macros(self, hw) -> dict[str, SramMacro]:
        """Each ``hardware.pe.local_stores`` entry of kind ``sram`` as this table prices it (``local_sram``:
        one bank, one port, its capacity ``words x width_bits`` and width), ``{store: SramMacro}``.

        Raises
        ------
        ConfigError
            The table has no ``local_sram`` block, or no result for the store's cell type or size
            (names ``hardware.pe.local_stores.<store>``).
        """
        out = {}
        for name, store in hw.pe.local_stores.items():
            if store.kind != "sram":
                continue
            if self.local_sram is None:
                raise ConfigError(f"hardware.pe.local_stores.{name}: {self._source}: local_sram: missing; an sram "
                                  "store needs the table's CACTI grid of small SRAMs (or make the store kind: register)")
            try:
                out[name] = self.local_sram.macro(store.cell, store.bits / 8 / 1024, store.width_bits, 1, 1)
            except ConfigError as exc:
                raise ConfigError(f"hardware.pe.local_stores.{name}: {exc}") from None
        return out

    def at_logic_voltage(self, volts: float) -> "EnergyTable":
        """This table with its logic supplied at *volts* instead of :attr:`logic_voltage`.

        Dynamic CMOS energy is the switched capacitance times V^2 (E = C V^2), so the multiplier,
        adder, PE register write, forward, clock and mux2 and the vector entries (all but ``lut``, an SRAM read)
        scale by ``(volts / logic_voltage)^2``; their sources say so. SRAM (CACTI, at its cell
        type's own supply), DRAM and leakage are unchanged.

        Raises
        ------
        ConfigError
            The table has no ``logic_voltage`` (message names the table file).
        """
        if self.logic_voltage is None:
            raise ConfigError(f"{self._source}: logic_voltage: missing; the table needs the supply voltage of its logic "
                              "entries ({volts: V, source: ...}) to price energy.logic_supply_v")
        ref = self.logic_voltage.volts
        k = (volts / ref) ** 2
        note = f"; x (logic supply {volts:g} V / table's {ref:g} V)^2 = {k:.4g} (E = C V^2)"

        def scaled(entry, field: str):
            return entry.model_copy(update={field: getattr(entry, field) * k, "source": entry.source + note})

        vec = {op: (getattr(self.vector, op) if op == "lut" else scaled(getattr(self.vector, op), "energy_pj"))
               for op in VECTOR_OPS}
        reg = RegisterEntry(**{k: scaled(getattr(self.pe_register, k), "energy_pj_per_bit")
                               for k in ("write", "forward", "clock", "mux2")})
        out = self.model_copy(update={
            "multiplier": scaled(self.multiplier, "energy_pj"), "adder": scaled(self.adder, "energy_pj"),
            "pe_register": reg, "vector": VectorTable(**vec),
            "logic_voltage": VoltageEntry(volts=volts, source=f"energy.logic_supply_v (table's logic at {ref:g} V)"),
        })
        out._source = self._source
        return out

    def check_covers(self, hw) -> None:
        """Raise :class:`ConfigError` if the table cannot price hardware config *hw*."""
        self.dram_energy_pj_per_bit(hw.dram.kind)
        self.buffer_macros(hw)
        self.store_macros(hw)


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
    text = read_text_file(path)
    memo = (str(path), text)
    table = _TABLES.get(memo)
    if table is None:
        table = parse_model(EnergyTable, load_yaml_text(text, source=str(path)), source=str(path))
        table._source = str(path)
        table.sram._source = str(path)
        if table.local_sram is not None:
            table.local_sram._source = str(path)
        if len(_TABLES) >= _TABLES_KEPT:
            _TABLES.pop(next(iter(_TABLES)))
        _TABLES[memo] = table
    return table


_TABLES: dict[tuple[str, str], EnergyTable] = {}
"""Tables already read in this process, under (path, the file's text): a table is frozen, and every
point of a sweep prices with the same ~68 KB file, whose parsing took longer than the pricing."""
_TABLES_KEPT = 16


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

    ``energy.table`` (a path) wins over ``energy.technology`` (a shipped table name);
    ``energy.logic_supply_v`` reprices its logic at that supply (:meth:`EnergyTable.at_logic_voltage`). With *hw*
    (a :class:`~accelsim.config.hardware.HardwareConfig`) the table must price its DRAM kind.
    """
    if energy_config.table is not None:
        table = load_table(energy_config.table)
    else:
        table = shipped_table(energy_config.technology)
    if energy_config.logic_supply_v is not None:
        table = table.at_logic_voltage(energy_config.logic_supply_v)
    if hw is not None:
        table.check_covers(hw)
    return table
