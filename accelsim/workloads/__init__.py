"""Workloads: what runs on the array when there are no weights to calibrate, and the bundled model.

- :mod:`accelsim.workloads.zoo` -- the built-in shape zoo (AlexNet ... MobileNet-V2);
- :mod:`accelsim.workloads.topology` -- SCALE-Sim topology CSVs (conv and GEMM forms);
- :mod:`accelsim.workloads.load` -- one entry point, zoo name or CSV path -> :class:`~accelsim.layers.Network`;
- :mod:`accelsim.workloads.bundled` -- where the shipped default model and its data sets are.

Imports only :mod:`accelsim.layers`, :mod:`accelsim.config` and :mod:`accelsim.errors`.
"""
