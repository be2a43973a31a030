"""accelsim: cycle-accurate simulation of low-power CNN inference hardware.

The data flows one way; :data:`accelsim.pipeline.stages.STAGES` is the whole orchestration::

    workload -> float graph -> quantized descriptors (+ accuracy) -> timing -> energy -> result
    many configs -> sweep -> report

Packages import only packages below them (``lint-imports`` checks the contract in setup.cfg)::

    cli > report > sweep > pipeline > energy > datapath | hw > quant > datasets
        > graph | workloads > config | layers > atomic | lazy | jitcache > errors
"""

__version__ = "0.1.0"
