"""Closed-form fold timing: hand-worked folds, overlap, SCALE-Sim's published totals."""

from __future__ import annotations

from pathlib import Path

import pytest

from accelsim.hw.mapping import map_layer
from accelsim.hw.timing import (
    MicroArch,
    layer_compute_cycles,
    layer_schedule,
    scalesim_fold_cycles,
    scalesim_layer_cycles,
    single_fold_cycles,
)
from tests.hw.conftest import gemm_layer, hw_config

from tests.shared import SCALESIM

RESNET18 = SCALESIM / "v3" / "topologies" / "conv_nets" / "Resnet18.csv"


def test_single_fold_formulas_by_hand():
    arch = MicroArch(rows=8, cols=8)
    # os, shift drain: T + r + c + e + m + a - 1 + C = 10 + 8 + 8 + 0 + 0 + 1 - 1 + 8
    assert single_fold_cycles("os", 10, 8, 8, arch) == 34
    # ws: (r-1-e) + T + R*a + c + e + m = 7 + 10 + 8 + 8
    assert single_fold_cycles("ws", 10, 8, 8, arch) == 33
    deep = MicroArch(rows=8, cols=8, mult_stages=2, acc_stages=3, skew="array", drain="parallel")
    # os parallel: 10 + 8 + 8 + 1 + 2 + 3 - 1
    assert single_fold_cycles("os", 10, 8, 8, deep) == 31
    # is: (8-1-1) + 10 + 8*3 + 8 + 1 + 2
    assert single_fold_cycles("is", 10, 8, 8, deep) == 51


@pytest.mark.parametrize("df", ["os", "ws", "is"])
def test_layer_without_overlap_is_sum_of_folds(df):
    """Folds run back to back: the layer is the sum of its folds' lengths (hand sum over edges)."""
    hw = hw_config(4, 4, df)
    mp = map_layer(gemm_layer(10, 6, 9), hw)
    arch = MicroArch.from_config(hw)
    want = sum(single_fold_cycles(df, mp.t, mp.fold_rows(i), mp.fold_cols(j), arch)
               for i in range(mp.row_folds) for j in range(mp.col_folds))
    total, spans = layer_schedule(mp, arch)
    assert total == want and spans.sum() == total and len(spans) == mp.tiles


def test_overlap_never_slower_and_os_parallel_streams_back_to_back():
    for df in ("os", "ws", "is"):
        for drain in ("shift", "parallel"):
            a = layer_compute_cycles(map_layer(gemm_layer(40, 20, 30), hw_config(4, 4, df, drain=drain)),
                                     MicroArch.from_config(hw_config(4, 4, df, drain=drain)))
            hwo = hw_config(4, 4, df, drain=drain, overlap=True)
            b = layer_compute_cycles(map_layer(gemm_layer(40, 20, 30), hwo), MicroArch.from_config(hwo))
            assert b <= a
    # os parallel overlap, full folds: folds*T plus one fold's tail: 10*5 folds, T=30, r=c=4
    hwo = hw_config(4, 4, "os", drain="parallel", overlap=True)
    mp = map_layer(gemm_layer(40, 20, 30), hwo)
    assert layer_compute_cycles(mp, MicroArch.from_config(hwo)) == 49 * 30 + (30 + 4 + 4 + 0 + 0 + 1 - 1)


def test_scalesim_fold_formulas():
    assert scalesim_fold_cycles("os", 147, 32, 32) == 147 + 62
    assert scalesim_fold_cycles("ws", 12544, 32, 32) == 12544 + 94
    hw = hw_config(32, 32, "ws")
    mp = map_layer(gemm_layer(12544, 64, 147), hw)  # ResNet-18 conv1 as SCALE-Sim sees it
    assert scalesim_layer_cycles(mp) == 5 * 2 * (12544 + 94) - 1


@pytest.mark.parametrize("size,df,published", [(32, "os", 1_718_353), (32, "ws", 2_519_815),
                                                (128, "os", 262_370), (128, "ws", 417_628)])
def test_scalesim_convention_matches_published_resnet18_totals(size, df, published):
    """SCALE-Sim 3.0.0 totals for ResNet-18 (CALC mode, 64 KB SRAMs), measured by a peer run."""
    from accelsim.config.simulation import SimulationConfig
    from accelsim.workloads.load import load_topology
    from accelsim.hw.sim import simulate_network

    net = load_topology(str(RESNET18))
    timing = simulate_network(net, hw_config(size, size, df), SimulationConfig(convention="scalesim", stall_free=True))
    assert timing.total.total_cycles == published
    assert timing.total.compute_cycles == published
