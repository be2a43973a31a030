"""The flip-flops of the PE array, and how many of them the clock drives in a layer.

Every clocked register bit costs energy every cycle its clock toggles, whether or not its value
changes (the clock pin's internal energy and capacitance); the energy model prices the count
this module makes (``clock_bit_cycles``) at the energy table's ``pe_register.clock``. The bits are
the physical registers of the micro-architecture that :mod:`accelsim.hw.traffic` counts the writes
of, at their built widths: operands at ``pe.native_bits`` (a precision-scalable PE packs its
narrower operands into the same register), accumulators and partial sums at ``acc_bits``.

Per PE, with m = ``pe.mult_stages``, a = ``pe.acc_stages``, n = ``pe.native_bits``:

- os: two operand registers and m multiplier stages of both operands ``2 n (1 + m)``, the
  accumulator and its a - 1 output retiming registers ``a acc``, and with drain ``shift`` or
  ``wavefront`` the output chain's register ``acc``;
- ws/is: the stationary register ``n`` (``2 n`` with ``array.stationary_registers: shadow``), the
  streamed operand register ``n``, m multiplier stages ``2 n m`` and a partial-sum registers
  ``a acc``;
- plus every ``pe.local_stores`` entry of kind ``register``: ``words x width_bits``.

Outside the PEs, with ``array.skew: array``, the skew bank at the array edge: ws/is
``n sum_{i<R} (i a + s)`` on the streamed side, os ``n (sum_{i<R} (i + s) + sum_{j<C} (j + s))``
(s = 1 with ``array.skew_input_register``, else 0).

Which cycles the clock runs (``hardware.clock_gating``): ``off`` every cycle of every layer;
``idle_array`` the compute cycles of array layers (none while stalled, none in vector layers);
``idle_pes`` each PE only in its MAC cycles, ``MACs / MACs-per-PE-per-cycle`` PE-cycles per layer,
and the skew bank in the array's compute cycles.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: the config may be a pydantic model or a plain record (accelsim.config.plain)
    from accelsim.config.hardware import HardwareConfig


def pe_register_bits(hw: HardwareConfig, acc_bits: int) -> int:
    """Clocked flip-flop bits in one PE (formulas in the module docstring), bits.

    Parameters
    ----------
    hw : the hardware config (dataflow, PE pipeline, drain, stationary registers, local stores).
    acc_bits : width of the accumulator and partial-sum registers, bits.
    """
    n = hw.pe.native_bits
    m = hw.pe.mult_stages
    a = hw.pe.acc_stages
    if hw.dataflow == "os":
        bits = 2 * n * (1 + m) + a * acc_bits + (acc_bits if hw.array.drain in ("shift", "wavefront") else 0)
    else:
        stationary = 2 * n if hw.array.stationary_registers == "shadow" else n
        bits = stationary + n + 2 * n * m + a * acc_bits
    bits += sum(s.bits for s in hw.pe.local_stores.values() if s.kind == "register")
    return bits


def edge_register_bits(hw: HardwareConfig) -> int:
    """Clocked bits of the skew bank at the array edge (0 with ``array.skew: feeder``), bits."""
    if hw.array.skew != "array":
        return 0
    n = hw.pe.native_bits
    s = 1 if hw.array.skew_input_register else 0
    rows, cols = hw.array.rows, hw.array.cols
    if hw.dataflow == "os":
        return n * (sum(i + s for i in range(rows)) + sum(j + s for j in range(cols)))
    a = hw.pe.acc_stages
    return n * sum(i * a + s for i in range(rows))


def clock_bit_cycles(hw: HardwareConfig, acc_bits: int, *, on_array: bool, total_cycles: int,
                     compute_cycles: int, macs: int, macs_per_pe: int) -> int:
    """Flip-flop bits x cycles the array's clock drives in one layer (``hardware.clock_gating``).

    Parameters
    ----------
    hw : the hardware config.
    acc_bits : the layer's accumulator width, bits.
    on_array : whether the layer runs on the PE array (vector layers do not).
    total_cycles, compute_cycles : the layer's cycles with and without stalls.
    macs : the layer's MACs.
    macs_per_pe : MACs one PE does per cycle at the layer's widths (1, 2 or 4).

    Returns
    -------
    int
        ``off``: ``(PEs x b + e) x total_cycles``; ``idle_array``: ``(PEs x b + e) x compute_cycles``
        on the array, else 0; ``idle_pes``: ``b x ceil(macs / macs_per_pe) + e x compute_cycles`` on the
        array, else 0 (b = :func:`pe_register_bits`, e = :func:`edge_register_bits`).
    """
    b = pe_register_bits(hw, acc_bits)
    e = edge_register_bits(hw)
    gating = hw.clock_gating
    if gating == "off":
        return (hw.pes * b + e) * total_cycles
    if not on_array:
        return 0
    if gating == "idle_array":
        return (hw.pes * b + e) * compute_cycles
    busy_pe_cycles = -(-macs // max(1, macs_per_pe))
    return b * busy_pe_cycles + e * compute_cycles


def local_store_bits(hw: HardwareConfig, macs: int) -> tuple[dict[str, float], dict[str, float]]:
    """Bits read and written in each ``pe.local_stores`` entry over *macs* MACs.

    Returns
    -------
    (dict, dict)
        ``{store: macs x reads_per_mac x width_bits}`` and the same with ``writes_per_mac``, bits.
    """
    stores = hw.pe.local_stores
    reads = {name: float(macs) * s.reads_per_mac * s.width_bits for name, s in stores.items()}
    writes = {name: float(macs) * s.writes_per_mac * s.width_bits for name, s in stores.items()}
    return reads, writes
