"""Hardware: mapping layers onto the systolic array, the closed-form fold timing, the SimPy
model of array, SRAM buffers and DRAM, and the register-level reference model.

Reads layer descriptors (:mod:`accelsim.layers`) and the hardware config; emits count records
(:mod:`accelsim.hw.counts`). Knows nothing about energy tables or accuracy."""
