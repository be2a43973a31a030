"""``hardware:`` — the systolic array, its PEs, SRAM buffers, DRAM and clock (DESIGN §4).

The micro-architecture keys under ``hardware.pe`` and ``hardware.array`` set the closed-form fold
timing of :mod:`accelsim.hw.timing`; the register-level model :mod:`accelsim.hw.reference` obeys
the same keys and the tests hold the two equal. The README section "Hardware timing" gives the
exact machine these keys describe.
"""

from typing import Literal

from pydantic import Field

from accelsim.config.base import ConfigModel
from accelsim.config.sections import HardwareRules, LocalStoreRules

Dataflow = Literal["os", "ws", "is"]
DATAFLOWS: tuple[str, ...] = ("os", "ws", "is")


class ArrayConfig(ConfigModel):
    """Shape of the PE array and how operands enter and results leave it."""

    rows: int = Field(32, ge=1, le=4096, description="PE rows of the array, PEs.")
    cols: int = Field(32, ge=1, le=4096, description="PE columns of the array, PEs.")
    skew: Literal["feeder", "array"] = Field(
        "feeder",
        description="Who staggers the operands of successive rows: 'feeder' (the SRAM reads are "
        "staggered, no extra latency) or 'array' (all rows read at once, then a triangular bank of "
        "skew registers at the array edge: row i passes i registers, plus one input register when "
        "array.skew_input_register is true, which adds 1 cycle of latency).",
    )
    skew_input_register: bool = Field(
        True,
        description="With skew 'array': whether every row's skew chain starts with an input register "
        "(row i passes i + 1 registers, +1 cycle of latency, row 0 registered too) or not (row i passes "
        "i registers, row 0 goes straight into the array: the same timing as skew 'feeder', but the "
        "skew registers are still written). No effect with skew 'feeder'.",
    )
    drain: Literal["shift", "parallel", "wavefront"] = Field(
        "shift",
        description="How output-stationary results leave the array: 'shift' (when a fold's last result "
        "is final, all results are copied in one cycle into an output shift chain, which then shifts "
        "them out column by column to the right edge: C cycles, one per physical column); 'wavefront' "
        "(every PE has a shadow output register in that chain; each anti-diagonal of results is copied "
        "the cycle after it is final, so the accumulators are free at once and, with overlap_folds, the "
        "next fold streams T cycles behind; the chain drains the same C beats once the fold is complete, "
        "and a fold whose first copy would land while the chain still holds or drains an older fold is "
        "held back: the array idles until it can go); 'parallel' (each PE writes its result to the "
        "output buffer the cycle after it is final). Weight- and input-stationary results always flow "
        "out of the bottom edge with the stream, so this key does not affect them.",
    )
    edge_folds: Literal["padded", "trimmed"] = Field(
        "padded",
        description="Time of a partial (edge) fold that uses r < R rows or c < C columns: 'padded' (it "
        "takes full-array time: the unused rows and columns are fed zeros, which move through the PE "
        "registers like real operands, as in most RTL arrays) or 'trimmed' (it takes only the time of "
        "its used r x c PEs: the array's control shortens the wavefront). Operand and result SRAM "
        "traffic is the same either way (the zeros are made at the array edge), and MAC energy counts "
        "only the real MACs; the PE register and forwarding bits include the zeros.",
    )
    stationary_registers: Literal["shadow", "single"] = Field(
        "shadow",
        description="Weight- and input-stationary: stationary registers per PE. 'shadow' (two banks: "
        "with overlap_folds the next fold's tile preloads into the idle bank while the current fold "
        "streams, as in the TPU) or 'single' (one register per PE: the preload shifts every row, so "
        "with overlap_folds it may begin only the cycle after the current fold's last multiply, "
        "without overlap_folds after its last write). No effect on os.",
    )
    overlap_folds: bool = Field(
        False,
        description="Whether the next fold's operands may stream in while the previous fold drains. "
        "os: with drain 'parallel' or 'wavefront' the next fold streams right behind the previous one "
        "(T cycles later, held back by the output chain with 'wavefront'); with 'shift' it starts after "
        "the whole-fold copy. ws/is: the next fold's preload overlaps the current stream with "
        "stationary_registers 'shadow', or begins right after the current fold's last multiply with "
        "'single' (early preload); false: the next preload waits for the last write.",
    )


SramCell = Literal["itrs-lstp", "itrs-lop", "itrs-hp"]
PowerGating = Literal["off", "idle_layers", "idle_cycles"]
ClockGating = Literal["off", "idle_array", "idle_pes"]
CLOCK_GATINGS: tuple[str, ...] = ("off", "idle_array", "idle_pes")


class LocalStoreConfig(LocalStoreRules, ConfigModel):
    """A store inside every PE (a scratchpad or register file), read and written per MAC.

    The dataflow decides how often: Eyeriss's row-stationary PE, for instance, reads one ifmap
    value, one weight and one partial sum and writes one partial sum per MAC. Timing does not read
    these keys (the store is assumed to keep up); the energy model prices each access
    (``pe_stores``), the clock of a register store's bits (``clock``) and an SRAM store's leakage.
    ``bits`` (words x width_bits): :class:`~accelsim.config.sections.LocalStoreRules`.
    """

    words: int = Field(ge=1, le=1 << 20, description="Entries of the store, words.")
    width_bits: int = Field(ge=1, le=1024, description="Bits per word (and per access).")
    kind: Literal["register", "sram"] = Field(
        description="'register': a register file of words x width_bits flip-flops (written at the PE register "
        "write energy per bit, read through a tree of ceil(log2(words)) 2:1 multiplexers, every bit clocked "
        "as the PE's registers are, see hardware.clock_gating); 'sram': a small SRAM macro priced by CACTI "
        "for its capacity and width (the energy table's local_sram grid) at its cell type.",
    )
    cell: SramCell = Field("itrs-lstp", description="CACTI cell type of an 'sram' store (ignored for 'register').")
    reads_per_mac: float = Field(0.0, ge=0, le=64, allow_inf_nan=False,
                                 description="Word reads per MAC the dataflow makes of this store, reads/MAC.")
    writes_per_mac: float = Field(0.0, ge=0, le=64, allow_inf_nan=False,
                                  description="Word writes per MAC the dataflow makes of this store, writes/MAC "
                                  "(fills from outside the PE are already counted as PE register writes).")


class PeConfig(ConfigModel):
    """One processing element: MAC pipeline and precision scaling."""

    mult_stages: int = Field(
        0, ge=0, le=8, description="Pipeline registers inside the multiplier, cycles of latency (0 = "
        "the product feeds the adder in the same cycle)."
    )
    mult_input: Literal["register", "wires"] = Field(
        "register",
        description="What the multiplier reads: 'register' (the PE's operand registers, which also "
        "forward the operands to the next PE: the product is formed the cycle after an operand arrives) "
        "or 'wires' (the PE's input wires, i.e. the operands the cycle they arrive, before they are "
        "latched: 1 cycle less latency per fold).",
    )
    acc_stages: int = Field(
        1, ge=1, le=8, description="Register stages of the adder, cycles: in ws/is the partial sum "
        "takes this many cycles per PE hop down a column; in os the accumulate loop is 1 cycle and "
        "acc_stages-1 output retiming registers add latency at the end of a fold."
    )
    psum_register: Literal["after_adder", "before_adder"] = Field(
        "after_adder",
        description="Weight- and input-stationary: where the acc_stages partial-sum registers of a row "
        "hop sit. 'after_adder': each PE registers its sum before passing it down, so the bottom row's "
        "sums are registered before they are written; 'before_adder': each PE registers the partial "
        "sum arriving from above and adds its product to it, so the bottom row's adder writes the output "
        "buffer directly (acc_stages cycles less per fold). Rows are staggered by acc_stages either way. "
        "No effect on os.",
    )
    native_bits: int = Field(8, ge=2, le=32, description="Native operand width of the multiplier, bits.")
    precision_scalable: bool = Field(
        False,
        description="A PE does 2 MACs per cycle when both operands are <= native_bits/2 bits wide, "
        "4 when <= native_bits/4 (it packs that many consecutive reduction elements into one cycle).",
    )
    local_stores: dict[str, LocalStoreConfig] = Field(
        default_factory=dict,
        description="Stores inside every PE by name (e.g. Eyeriss's filter, ifmap and psum scratchpads), each "
        "with its size, kind and accesses per MAC; none by default (the PE holds only its pipeline registers).",
    )


class SramMacroConfig(ConfigModel):
    """How one buffer's SRAM is built: what the energy model prices it as (CACTI tables).

    Timing does not read these keys: the buffers deliver what the dataflow needs every cycle.
    """

    cell: SramCell = Field(
        "itrs-lstp",
        description="SRAM device type of the cells and periphery, as CACTI names them: 'itrs-lstp' (low "
        "standby power, high threshold: the lowest leakage, about 2x the access energy of lop; the default, "
        "suited to inference engines clocked well under 1 GHz that sit idle between inferences), 'itrs-lop' "
        "(low operating power: lowest access energy, 100-1000x lstp's leakage) or 'itrs-hp' (high "
        "performance: fastest, 10-20x lop's leakage).",
    )
    width_bits: int | None = Field(
        None, ge=1, le=65536,
        description="Port width, bits per access (energy per bit = CACTI's energy per access / width). "
        "null = the array edge it feeds at pe.native_bits per PE: ifmap rows x native_bits, weight and "
        "ofmap cols x native_bits.",
    )
    banks: Literal[1, 2, 4, 8, 16] | None = Field(
        None, description="SRAM banks, one active per access; null = 2 when buffers.double_buffered "
        "(one bank per half), else 1."
    )
    ports: Literal[1, 2] = Field(1, description="Read/write ports.")
    power_gating: PowerGating = Field(
        "off",
        description="Power-gate the buffer when idle, at CACTI's gated (data-retaining) leakage plus its "
        "wake-up energy: 'off'; 'idle_layers' (asleep through every layer that neither reads nor writes "
        "it, one wake-up each); 'idle_cycles' (asleep in every cycle its ports are not busy, busy cycles = "
        "bits moved / (width_bits x ports), one wake-up per fold: an optimistic bound).",
    )


class BuffersConfig(ConfigModel):
    """On-chip SRAM buffers (one per operand)."""

    ifmap_kb: float = Field(64.0, gt=0, description="Input-activation SRAM, KiB.")
    weight_kb: float = Field(64.0, gt=0, description="Weight SRAM, KiB.")
    ofmap_kb: float = Field(64.0, gt=0, description="Output SRAM (also holds partial sums), KiB.")
    double_buffered: bool = Field(
        True, description="Each buffer is split in two halves: the next tile loads while the current one computes."
    )
    keep_activations: bool = Field(
        True,
        description="Keep a layer's output on chip when it fits: the output buffer holds it (at out_bits) "
        "and becomes the next consumer's ifmap by a buffer swap, so its DRAM write and its consumers' DRAM "
        "reads are skipped. Resident tensors live until their last consumer ran and together must fit "
        "min(ifmap_kb, ofmap_kb) KiB at every layer of their lifetime (greedy in production order; a tensor that does "
        "not fit goes through DRAM). The network input and outputs always go through DRAM.",
    )
    unified_activations: bool = Field(
        False,
        description="The ifmap buffer is one activation buffer for a layer's inputs and outputs, as the TPU's "
        "Unified Buffer: a kept activation (keep_activations) is moved from the output buffer into it when "
        "its layer finishes (one more read of the output buffer and one more write of the ifmap buffer per "
        "element), so it stays on chip when it fits ifmap_kb beside the other kept activations, instead of "
        "min(ifmap_kb, ofmap_kb) with the buffer swap; the output buffer then holds only partial sums and "
        "results on their way out.",
    )
    cross_layer_prefetch: bool = Field(
        False,
        description="Whether a layer's first DMA may load its weights into a free buffer half while the "
        "previous layer still computes or writes back (its activations, the previous layer's output, "
        "still wait for that layer to end). Off: a layer's first load waits for the previous layer's "
        "last write-back. The SimPy model finds the stalls either way.",
    )
    split_reduction: Literal["never", "auto"] = Field(
        "never",
        description="Output stationary: whether a layer may split its reduction (K) into chunks, each "
        "a pass over the folds whose partial sums (at acc_bits) are added into the output buffer, so a "
        "weight (or ifmap) block too big for its buffer half is not re-read for every fold of the inner "
        "loop. 'auto' tries the fewest chunks that make a block fit and keeps them when they move fewer "
        "DRAM bytes (partial sums that do not fit half the ofmap buffer are spilled to DRAM and read back "
        "at acc_bits between chunks); 'never' always completes the reduction in one pass. Needs an "
        "output path that can add partial sums.",
    )
    ifmap: SramMacroConfig = Field(default_factory=SramMacroConfig, description="The input-activation SRAM's make.")
    weight: SramMacroConfig = Field(default_factory=SramMacroConfig, description="The weight SRAM's make.")
    ofmap: SramMacroConfig = Field(default_factory=SramMacroConfig, description="The output SRAM's make.")


class DramConfig(ConfigModel):
    """Off-chip memory: one channel shared by reads and write-back."""

    bandwidth_bytes_per_cycle: float = Field(16.0, gt=0, description="DRAM bandwidth, bytes per clock cycle.")
    kind: Literal["lpddr4", "ddr3", "ddr4", "gddr5", "hbm2"] = Field("lpddr4", description="DRAM technology.")


class HardwareConfig(HardwareRules, ConfigModel):
    """The whole accelerator: array, PEs, buffers, DRAM, dataflow and clock.

    Its derived values (``pes``, ``sram_width_bits``, ``sram_banks``, ``macs_per_pe``,
    ``peak_macs_per_cycle``) and its rule on ``pe.native_bits`` are
    :class:`~accelsim.config.sections.HardwareRules`.
    """

    array: ArrayConfig = Field(default_factory=ArrayConfig)
    pe: PeConfig = Field(default_factory=PeConfig)
    dataflow: Dataflow = Field("os", description="os (output-), ws (weight-) or is (input-stationary).")
    clock_hz: float = Field(200e6, gt=0, description="Clock frequency, Hz.")
    clock_gating: ClockGating = Field(
        "idle_array",
        description="When the PE array's registers are clocked (the energy model's 'clock': every clocked "
        "flip-flop bit, every cycle it is clocked): 'off' (every cycle of every layer, stalls and vector "
        "layers included); 'idle_array' (one clock gate at the array's root: clocked in the compute cycles of "
        "the layers on the array, stopped while it stalls on DRAM and during layers beside it; the default, "
        "the gate every low-power accelerator has); 'idle_pes' (a gate per PE: each PE clocked only in the "
        "cycles it does a MAC, fold fills and drains and unused PEs asleep: a lower bound).",
    )
    buffers: BuffersConfig = Field(default_factory=BuffersConfig)
    dram: DramConfig = Field(default_factory=DramConfig)
    loop_order: Literal["auto", "dataflow", "search"] = Field(
        "auto",
        description="Tile loop order per array layer: 'auto' picks, per layer, whether the row folds (Sr) or "
        "the column folds (Sc) form the outer loop, whichever moves fewer DRAM bytes with the buffer sizes "
        "(ties keep the dataflow's order); 'dataflow' always uses the dataflow's order (os: row folds "
        "outer; ws, is: column folds outer); fold cycles are the same either way. 'search' tiles like "
        "ZigZag or Timeloop: it also cuts the streamed dimension (ws: output pixels, is: output channels, "
        "os: the reduction, only with buffers.split_reduction 'auto') into chunks and orders the three "
        "loops (row folds, column folds, chunks) per layer to move the fewest DRAM bytes given the buffer "
        "halves; every chunk is a fold of its own with its fill and drain cycles, so a chunk count is "
        "taken only when the DRAM transfer cycles it saves (bytes / dram.bandwidth_bytes_per_cycle) "
        "exceed the compute cycles it adds.",
    )
