"""Which activation tensors stay on chip between layers (``hardware.buffers.keep_activations``).

Rule. A layer's output is written into the output buffer; when it is *resident* it stays there and
becomes its consumer's ifmap by a buffer swap (no copy), so its producer writes nothing to DRAM
for it and its consumers read nothing from DRAM for it (the array's SRAM reads and writes are
counted as before). Liveness comes from the descriptors' ``inputs``/``output`` names: a tensor
produced by layer ``p`` and last read by layer ``q`` occupies ``size = elements x out_bits / 8``
bytes during layers ``p..q`` (both included). Tensors are considered in production order
(greedy): a tensor becomes resident when, at every layer of its lifetime, it fits beside the
resident tensors already live there within ``min(ifmap_kb, ofmap_kb)`` KiB (the buffer swap puts
it in the output buffer, then makes that the input buffer, so both must hold it); otherwise it is
spilled (written to DRAM and read back by each consumer, as without residency). A tensor read by
several layers (a residual skip, a concat input) is therefore held until its last consumer ran.

With ``hardware.buffers.unified_activations`` the ifmap buffer is one activation buffer (the
TPU's Unified Buffer): a resident output is moved into it when its layer finishes (no swap), so
the budget is ``ifmap_kb`` alone.

Never resident: the network inputs (they come from DRAM), the network outputs (they go to DRAM),
and tensors nobody reads. A ``reshape`` only relabels its input (it moves no bytes): its output is
the same tensor, so its consumers extend the input's lifetime and read it from wherever it lives.

Simplification (documented): the budget is the whole buffer (both halves), and the working halves
a layer streams through (partial sums of ws/is, tiles of spilled tensors) are not subtracted from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from accelsim.hw.mapping import KIB
from accelsim.layers import Network

if TYPE_CHECKING:  # annotations only: the config may be a pydantic model or a plain record (accelsim.config.plain)
    from accelsim.config.hardware import HardwareConfig


@dataclass(frozen=True)
class Residency:
    """Resident tensors of a network and, per layer, what it reads from and writes to SRAM only.

    ``resident`` holds tensor names (reshape outputs included under their own names);
    ``size_bytes`` the bytes of every produced tensor; ``elems`` the element count of every tensor
    the network knows (for per-input byte counts of concat).
    """

    resident: frozenset[str] = frozenset()
    size_bytes: dict[str, float] = field(default_factory=dict)
    elems: dict[str, int] = field(default_factory=dict)

    def inputs_resident(self, inputs: tuple[str, ...]) -> frozenset[str]:
        """The names among *inputs* that are read from SRAM."""
        return frozenset(t for t in inputs if t in self.resident)

    def output_resident(self, output: str) -> bool:
        return output in self.resident


def plan_residency(net: Network, hw: HardwareConfig) -> Residency:
    """Decide which tensors of *net* stay on chip (see the module docstring for the rule)."""
    layers = net.layers
    elems: dict[str, int] = {}
    for layer in layers:
        elems.setdefault(layer.inputs[0] if layer.inputs else "", int(np.prod(layer.in_shape)))
        elems[layer.output] = int(np.prod(layer.out_shape))
    if not hw.buffers.keep_activations:
        return Residency(frozenset(), {}, elems)
    canon: dict[str, str] = {}  # reshape output -> the tensor it relabels
    producer: dict[str, int] = {}
    size: dict[str, float] = {}
    for idx, layer in enumerate(layers):
        if layer.op == "reshape" and len(layer.inputs) == 1:
            canon[layer.output] = canon.get(layer.inputs[0], layer.inputs[0])
        else:
            producer[layer.output] = idx
            size[layer.output] = int(np.prod(layer.out_shape)) * layer.out_bits / 8
    last: dict[str, int] = {}
    for idx, layer in enumerate(layers):
        for t in layer.inputs:
            last[canon.get(t, t)] = idx
    pinned = {canon.get(t, t) for t in net.outputs} | {canon.get(t, t) for t in net.inputs}
    budget = (hw.buffers.ifmap_kb if hw.buffers.unified_activations
              else min(hw.buffers.ifmap_kb, hw.buffers.ofmap_kb)) * KIB
    used = np.zeros(len(layers))
    resident: set[str] = set()
    for t, p in sorted(producer.items(), key=lambda kv: kv[1]):
        if t in pinned or t not in last or last[t] <= p:
            continue
        q = last[t]
        if np.all(used[p:q + 1] + size[t] <= budget * (1 + 1e-12)):
            used[p:q + 1] += size[t]
            resident.add(t)
    resident |= {alias for alias, base in canon.items() if base in resident}
    return Residency(frozenset(resident), size, elems)
