"""Executors: the Dask path gives the serial numbers; a bad scheduler fails fast and clearly."""

import contextlib
import http.server
import os
import socket
import subprocess
import sys
import threading
import time
from importlib.resources import files

import pytest

from accelsim.errors import ConfigError
from accelsim.sweep import ResultStore, SerialExecutor, run_sweep, sweep_from_dict
from accelsim.sweep.executor import DaskExecutor, evaluate_point, make_executor

FAKE = "tests.sweep.points:fake_point"
SHIPPED_SWEEP = files("accelsim") / "configs" / "sweeps" / "bitwidths.yaml"


def _sweep():
    return sweep_from_dict({"name": "d", "axes": {"quant.act_bits": [4, 8], "hardware.array.rows": [8, 64]}})


def test_dask_cluster_gives_the_same_numbers_as_serial(tmp_path):
    import distributed
    run_sweep(_sweep(), tmp_path / "serial", SerialExecutor(), point_fn=FAKE, progress=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        ex = DaskExecutor(cluster.scheduler_address, timeout_s=10)
        try:
            assert ex.workers == 2
            out = run_sweep(_sweep(), tmp_path / "dask", ex, point_fn=FAKE, progress=False)
        finally:
            ex.close()
    assert (out.ok, out.failed) == (4, 0)
    a = {r.key: r.result for r in ResultStore(tmp_path / "serial").latest().values()}
    b = {r.key: r.result for r in ResultStore(tmp_path / "dask").latest().values()}
    assert a == b and len(a) == 4


def test_unreachable_scheduler_is_a_clear_error_within_seconds():
    import distributed  # noqa: F401 - the test extra installs dask.distributed
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    start = time.monotonic()
    with pytest.raises(ConfigError, match=rf"--scheduler tcp://127\.0\.0\.1:{port}: cannot reach a Dask scheduler within 2 s"):
        make_executor(scheduler=f"tcp://127.0.0.1:{port}", scheduler_timeout_s=2)
    assert time.monotonic() - start < 10


@contextlib.contextmanager
def _http_server():
    """A real HTTP server on a free port of 127.0.0.1 (it accepts connections, never speaks Dask)."""
    server = http.server.HTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def _junk_server():
    """A server that answers every connection at once with bytes that are not Dask's protocol."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    sock.settimeout(0.2)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                continue
            with conn:
                conn.sendall(b"HTTP/1.0 400 Bad Request\r\nContent-Length: 0\r\n\r\n" * 8)
    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield sock.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        sock.close()


@pytest.mark.parametrize("server", [_http_server, _junk_server])
def test_a_port_that_is_not_a_scheduler_is_one_line_within_the_timeout(server):
    import distributed  # noqa: F401
    with server() as port:
        start = time.monotonic()
        with pytest.raises(ConfigError, match=rf"--scheduler tcp://127\.0\.0\.1:{port}: .*(not a Dask scheduler|"
                                              r"does not speak the Dask protocol|cannot reach)"):
            make_executor(scheduler=f"tcp://127.0.0.1:{port}", scheduler_timeout_s=1.5)
        assert time.monotonic() - start < 8


@pytest.mark.parametrize("address", ["not-a-url", "tcp://127.0.0.1:notaport"])
def test_malformed_scheduler_address_is_one_line_and_no_destructor_traceback(address, tmp_path):
    """In a real process: one error line, exit 2, nothing printed at interpreter exit."""
    proc = subprocess.run(
        [sys.executable, "-m", "accelsim", "sweep", str(SHIPPED_SWEEP), "--scheduler", address,
         "--scheduler-timeout", "2", "--results", str(tmp_path / "r")],
        capture_output=True, text=True, timeout=120)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"accelsim sweep: error: --scheduler {address}: not a scheduler address (")
    assert lines[0].endswith("give the scheduler's address, e.g. tcp://scheduler-host:8786")
    assert not (tmp_path / "r").exists()


def test_workers_and_scheduler_exclude_each_other():
    with pytest.raises(ConfigError, match="--workers and --scheduler exclude each other"):
        make_executor(workers=2, scheduler="tcp://x:1")
    with pytest.raises(ConfigError, match=r"--workers: must be >= 1 \(got -1\)"):
        make_executor(workers=-1)


def test_evaluate_point_turns_exceptions_into_one_line_errors():
    cfg = sweep_from_dict({"axes": {"quant.weight_bits": [4]}}).points[0].config
    out = evaluate_point("tests.sweep.points:failing_point", cfg.model_dump(mode="json"), None)
    assert out["status"] == "error"
    assert out["error"] == "ValueError: 4-bit weights refused by this test"
    out = evaluate_point(FAKE, cfg.model_dump(mode="json"), None)
    assert out["status"] == "ok" and out["result"]["macs"] == 1_000_000


def test_local_workers_share_the_cores_out_between_their_thread_pools():
    from accelsim.sweep.executor import THREAD_VARIABLES, LocalExecutor, threads_per_worker

    from tests.sweep.points import thread_settings

    assert [threads_per_worker(w, cores=2) for w in (1, 2, 3)] == [2, 1, 1]
    assert threads_per_worker(3, cores=8) == 2
    ex = LocalExecutor(2)
    seen = [out for _, out in ex.map_unordered(thread_settings, [(i, ()) for i in range(4)])]
    share = str(threads_per_worker(2))
    want = {name: os.environ.get(name, share) for name in THREAD_VARIABLES}  # a variable the user set wins
    for env, numba_threads in seen:
        assert env == want
        assert numba_threads == int(want["NUMBA_NUM_THREADS"])
