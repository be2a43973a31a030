"""Lazy kernels (accelsim.hw.jit): plain Python and the Numba-compiled form give the same numbers."""

import importlib
import pkgutil

import pytest

import accelsim.hw
from accelsim.config.run import config_from_dict
from accelsim.hw import jit
from accelsim.pipeline.stages import run_stages


def _kernels():
    for info in pkgutil.iter_modules(accelsim.hw.__path__):
        module = importlib.import_module(f"accelsim.hw.{info.name}")
        for name, value in vars(module).items():
            if callable(value) and hasattr(value, "py_func") and getattr(value, "__module__", "") == module.__name__:
                yield module, name, value


def test_the_kernels_are_found():
    assert {name for _, name, _ in _kernels()} >= {"_schedule", "_merge_tiles"}


@pytest.mark.parametrize("topology, rows, cols, dataflow, bandwidth", [
    ("alexnet", 16, 16, "os", 4), ("mobilenet_v1", 8, 32, "ws", 16), ("resnet18", 32, 8, "is", 2),
])
def test_python_and_compiled_kernels_give_identical_timing(monkeypatch, topology, rows, cols, dataflow, bandwidth):
    cfg = config_from_dict({"workload": {"topology": {"zoo": topology}, "batch": 2},
                            "hardware": {"array": {"rows": rows, "cols": cols}, "dataflow": dataflow,
                                         "dram": {"bandwidth_bytes_per_cycle": bandwidth}}})
    monkeypatch.setattr(jit, "_spent_s", jit.PYTHON_BUDGET_S)  # budget spent: compiled kernels
    compiled = run_stages(cfg, "timing")["timing"].to_dict()
    with monkeypatch.context() as m:
        for module, name, kernel in _kernels():
            m.setattr(module, name, kernel.py_func)
        python = run_stages(cfg, "timing")["timing"].to_dict()
    assert python == compiled


def test_under_budget_and_without_numba_a_kernel_runs_as_python(monkeypatch):
    calls = []

    def kernel(x):
        calls.append(x)
        return x + 1

    wrapped = jit.lazy_njit(kernel)
    monkeypatch.setattr(jit, "_spent_s", 0.0)
    monkeypatch.setattr(jit.sys, "modules", {k: v for k, v in jit.sys.modules.items() if k != "numba"})
    assert wrapped(1) == 2 and calls == [1]  # ran as Python (numba could not append to a list)
    assert wrapped.py_func is kernel and "numba" not in jit.sys.modules
