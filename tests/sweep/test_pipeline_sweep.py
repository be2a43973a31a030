"""A small real sweep through the pipeline (topology-only: shapes through the SimPy model)."""

import pytest

from accelsim import pipeline
from accelsim.sweep import DEFAULT_POINT_FN, ResultStore, SerialExecutor, run_sweep, sweep_from_dict


CSV = ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
       "c1, 16, 16, 3, 3, 8, 16, 1,\n"
       "c2, 14, 14, 1, 1, 16, 32, 1,\n")
# MACs by hand: c1 out 14x14 (=(16-3)/1+1), 16 filters of 3x3x8; c2 out 14x14, 32 filters of 1x1x16
MACS = 14 * 14 * 16 * 3 * 3 * 8 + 14 * 14 * 32 * 16


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    d = tmp_path_factory.mktemp("topo")
    (d / "tiny.csv").write_text(CSV)
    return sweep_from_dict({"name": "topo", "base": {"workload": {"topology": {"csv": "tiny.csv"}}}, "axes": [
        {"hardware.array.rows": [4, 8], "hardware.array.cols": [4, 8]},
        {"hardware.dataflow": ["os", "ws"]}]}, base_dir=d)


def test_real_points_store_what_run_point_returns(sweep, tmp_path):
    out = run_sweep(sweep, tmp_path / "r", SerialExecutor(), point_fn=DEFAULT_POINT_FN, progress=False)
    assert (out.ok, out.failed) == (4, 0), out.errors
    recs = ResultStore(tmp_path / "r").latest()
    assert len(recs) == 4
    for p in sweep.points:
        rec = next(r for r in recs.values() if r.index == p.index)
        assert rec.result["macs"] == MACS
        assert rec.result["quant_top1"] is None
        direct = pipeline.run_point(p.config)
        assert rec.result["total_cycles"] == direct["total_cycles"]
        assert rec.result["energy_per_inference_uj"] == direct["energy_per_inference_uj"]
        # latency = total cycles / clock, inferences/s its inverse (batch 1)
        assert rec.result["latency_s"] == pytest.approx(direct["total_cycles"] / 200e6)
        assert rec.result["inferences_per_s"] == pytest.approx(200e6 / direct["total_cycles"])


def test_real_points_equal_on_dask(sweep, tmp_path):
    import distributed
    from accelsim.sweep import DaskExecutor

    run_sweep(sweep, tmp_path / "s", SerialExecutor(), point_fn=DEFAULT_POINT_FN, progress=False)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster:
        ex = DaskExecutor(cluster.scheduler_address, timeout_s=10)
        try:
            run_sweep(sweep, tmp_path / "d", ex, point_fn=DEFAULT_POINT_FN, progress=False)
        finally:
            ex.close()
    a = {r.key: r.result for r in ResultStore(tmp_path / "s").latest().values()}
    b = {r.key: r.result for r in ResultStore(tmp_path / "d").latest().values()}
    assert a == b and len(a) == 4
