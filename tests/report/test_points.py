"""Reading points and the Pareto front (accelsim.report.points)."""

import dataclasses
import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accelsim.errors import InputFileError
from accelsim.report.points import ReportPoint, best_point, find_point, load_points, pareto_front


def _pt(i, thr, energy, lat=None, **kw):
    res = {"inferences_per_s": thr, "energy_per_inference_uj": energy}
    if lat is not None:
        res["latency_s"] = lat
    return ReportPoint(key=f"{i:04x}" + "0" * 60, index=i, status="ok", result=res, **kw)


def test_pareto_front_hand_worked():
    pts = [_pt(0, 100, 5.0), _pt(1, 200, 6.0), _pt(2, 150, 7.0), _pt(3, 200, 6.5), _pt(4, 50, 5.0),
           _pt(5, 300, 9.0), _pt(6, 10, 1.0)]
    # 2 is beaten by 1 (faster, cheaper); 3 by 1 (same speed, dearer); 4 by 0 (slower, same energy)
    assert [p.index for p in pareto_front(pts)] == [6, 0, 1, 5]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 20), st.integers(1, 20)), min_size=1, max_size=25))
def test_pareto_front_matches_brute_force(pairs):
    pts = [_pt(i, t, e) for i, (t, e) in enumerate(pairs)]
    got = {p.index for p in pareto_front(pts)}

    def dominated(i):
        t, e = pairs[i]
        return any((t2 >= t and e2 <= e and (t2 > t or e2 < e)) for t2, e2 in pairs)

    undominated = {i for i in range(len(pairs)) if not dominated(i)}
    # exact duplicates of a front point count once
    assert got <= undominated
    assert {pairs[i] for i in got} == {pairs[i] for i in undominated}


def test_failed_points_and_missing_metrics_stay_off_the_front():
    bad = ReportPoint(key="e" * 64, index=9, status="error", error="x")
    nan = ReportPoint(key="f" * 64, index=8, status="ok", result={"inferences_per_s": float("nan"),
                                                                     "energy_per_inference_uj": 0.1})
    assert [p.index for p in pareto_front([bad, nan, _pt(1, 5, 5)])] == [1]


def test_best_point_is_lowest_energy_delay_product():
    pts = [_pt(0, 1, 10.0, lat=1.0), _pt(1, 1, 4.0, lat=2.0), _pt(2, 1, 3.0, lat=3.0)]
    assert best_point(pts).index == 1  # 10, 8, 9


def test_find_point_by_index_or_key_prefix():
    pts = [_pt(0, 1, 1), _pt(1, 1, 1)]
    assert find_point(pts, "1").index == 1
    assert find_point(pts, "0000").index == 0
    with pytest.raises(InputFileError, match=r"--point '7': no point match"):
        find_point(pts, "7")


def test_labels_from_axis_values():
    p = ReportPoint(key="k", index=0, status="ok", overrides={
        "quant.weight_bits": 4, "quant.act_bits": 8, "hardware.array.rows": 16, "hardware.array.cols": 16,
        "hardware.dataflow": "ws"})
    assert p.label == "w4 a8 16x16 dataflow=ws"


def test_load_single_run_summary(tmp_path):
    (tmp_path / "summary.json").write_text(json.dumps({"inferences_per_s": 10.0, "energy_per_inference_uj": 2.0,
                                                       "config": {"quant": {"weight_bits": 6}}}))
    pts = load_points(tmp_path)
    assert len(pts) == 1 and pts[0].metric("inferences_per_s") == 10.0 and pts[0].weight_bits == 6


def test_load_rejects_a_folder_that_is_neither(tmp_path):
    with pytest.raises(InputFileError, match=r"neither a results store \(store\.json\) nor a run folder"):
        load_points(tmp_path)
    with pytest.raises(InputFileError, match=r"not found"):
        load_points(tmp_path / "nope")


def test_accuracy_floor_keeps_points_that_no_longer_classify_off_the_front():
    def acc_pt(i, thr, energy, quant_top1):
        p = _pt(i, thr, energy)
        p.result = dataclasses.replace(p.result, float_top1=0.92, quant_top1=quant_top1)
        return p

    pts = [acc_pt(0, 100, 1.0, 0.73),    # cheapest and fastest, but 19 points worse than float
           acc_pt(1, 90, 2.0, 0.915),    # 0.5 points worse: eligible
           acc_pt(2, 80, 3.0, 0.905),    # 1.5 points worse
           _pt(3, 50, 1.5)]              # shapes only: accuracy not measured, never excluded
    assert [p.index for p in pareto_front(pts)] == [0]  # no floor: the useless point wins alone
    assert [p.index for p in pareto_front(pts, max_accuracy_drop=1.0)] == [3, 1]
    assert [p.index for p in pareto_front(pts, max_accuracy_drop=2.0)] == [3, 1]
    assert [p.index for p in pareto_front(pts, max_accuracy_drop=20.0)] == [0]
