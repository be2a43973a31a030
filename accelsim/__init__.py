"""accelsim: cycle-accurate simulation of low-power CNN inference hardware.

The data flows one way (see DESIGN.md in the project docs)::

    model -> graph -> quant -> layers (descriptors) -> datapath (accuracy)
                                                    -> hw (cycles, counts) -> energy (pJ)
    everything -> report;  many configs -> sweep

Each stage is a sub-package that imports only the stages to its left.
"""

__version__ = "0.1.0"
