"""Executors: where the points of a sweep run, behind one small interface.

An executor maps :func:`evaluate_point` over argument tuples and yields ``(tag, outcome)`` pairs
as points finish, in completion order. Three implementations:

- :class:`LocalExecutor` - worker processes on this machine (``concurrent.futures`` with the
  ``spawn`` start method: no forked Numba/thread state in the children); they end when this
  process dies, even by ``SIGKILL`` (:func:`accelsim.lifeline.die_with_parent`);
- :class:`DaskExecutor` - an existing ``dask.distributed`` cluster named by its scheduler address
  (the optional extra ``accelsim[dask]``; imported only when used);
- :class:`SerialExecutor` - this process, one point after another (debugging, tests).

Workers get the config as plain JSON data and rebuild the :class:`~accelsim.config.run.RunConfig`
themselves, so any executor sees exactly the same input and returns the same numbers. A point
that raises is turned into an ``error`` outcome (one line) - it never stops the other points.
"""

from __future__ import annotations

import concurrent.futures as cf
import importlib
import multiprocessing
import os
import time
from typing import Any, Callable, Iterable, Iterator, Protocol

from accelsim.errors import AccelsimError, ConfigError
from accelsim.lifeline import die_with_parent

DEFAULT_POINT_FN = "accelsim.pipeline:run_point"
"""The function that evaluates one point: ``fn(cfg, *, cache=None, progress=False) -> dict``."""

DEFAULT_SCHEDULER_TIMEOUT_S = 5.0
"""Seconds to wait for a Dask scheduler before giving up with a clear error."""


def resolve_point_fn(spec: str) -> Callable[..., dict]:
    """Import ``"module:function"`` and return the function.

    Raises
    ------
    ConfigError
        The module or function cannot be imported (names the spec and the reason).
    """
    if not isinstance(spec, str) or ":" not in spec:
        raise ConfigError(f"point function {spec!r}: expected 'module:function', e.g. {DEFAULT_POINT_FN!r}")
    module_name, _, attr = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"point function {spec!r}: cannot import module {module_name!r} ({exc})") from None
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise ConfigError(f"point function {spec!r}: module {module_name!r} has no function {attr!r}")
    return fn


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


_FN_MEMO: dict[str, Callable[..., dict]] = {}


def evaluate_point(point_fn: str, config: dict[str, Any], cache_dir: str | None) -> dict[str, Any]:
    """Run one point in a worker; never raises for a failing point.

    Parameters
    ----------
    point_fn : ``"module:function"`` of the point function.
    config : the point's full config as JSON data (``cfg.model_dump(mode="json")``); paths in it
        are already absolute.
    cache_dir : folder of the shared :class:`~accelsim.sweep.cache.ResultCache`, or ``None``.

    Returns
    -------
    dict
        ``{"status": "ok", "result": {...}, "elapsed_s": s, "warnings": [one line each]}`` or
        ``{"status": "error", "error": "<ExcType>: <first line>", "elapsed_s": s}``.
    """
    from accelsim.config.run import config_from_dict
    from accelsim.pipeline.stages import recorded_warnings, warning_lines
    from accelsim.sweep.cache import ResultCache

    start = time.perf_counter()
    try:
        fn = _FN_MEMO.get(point_fn)
        if fn is None:
            fn = _FN_MEMO[point_fn] = resolve_point_fn(point_fn)
        cfg = config_from_dict(config, source="<sweep point>")
        cache = ResultCache(cache_dir) if cache_dir else None
        with recorded_warnings(reissue=False) as caught:
            result = fn(cfg, cache=cache, progress=False)
        if not isinstance(result, dict):
            raise TypeError(f"point function returned {type(result).__name__}, expected dict")
        return {"status": "ok", "result": result, "elapsed_s": time.perf_counter() - start,
                "warnings": warning_lines(caught, with_category=True, limit=MAX_WARNINGS)}
    except Exception as exc:  # noqa: BLE001 - a failing point is recorded, never fatal
        return {"status": "error", "error": _one_line(exc), "elapsed_s": time.perf_counter() - start}


MAX_WARNINGS = 50
"""Warnings kept per point (distinct messages, in order of first appearance)."""


class PointExecutor(Protocol):
    """Runs ``fn(*args)`` for each ``(tag, args)`` and yields ``(tag, result)`` as each finishes."""

    def map_unordered(self, fn: Callable[..., Any], jobs: Iterable[tuple[Any, tuple]]) -> Iterator[tuple[Any, Any]]:
        ...

    def close(self) -> None:
        ...


class SerialExecutor:
    """Runs every job in this process, in order."""

    workers = 1

    def map_unordered(self, fn, jobs):
        for tag, args in jobs:
            yield tag, fn(*args)

    def close(self) -> None:
        pass

    def describe(self) -> str:
        return "this process"


THREAD_VARIABLES = ("NUMBA_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")
"""Environment variables sizing the thread pools of Numba's kernels and of numpy's BLAS."""


def threads_per_worker(workers: int, cores: int | None = None) -> int:
    """Threads each of *workers* local processes gets: the cores shared out, at least one.

    Two workers on two cores each running two Numba and two OpenBLAS threads oversubscribe the
    cores fourfold; measured on the bundled model, a float forward pass then costs 2.4x the CPU
    time of one thread.
    """
    cores = cores or os.cpu_count() or 1
    return max(1, cores // max(1, workers))


def start_worker(parent_pid: int, threads: int) -> None:
    """A local worker's first steps: end with the parent (:func:`~accelsim.lifeline.die_with_parent`),
    then size Numba's and BLAS's thread pools to *threads*.

    The pools are sized by environment variables read when numpy and Numba are first imported,
    which in a ``spawn``-ed worker happens after this runs; a variable the user set wins. Thread
    counts never change a number (integer kernels are exact; each float GEMM output element is
    summed by one thread in the same order).
    """
    die_with_parent(parent_pid)
    for name in THREAD_VARIABLES:
        os.environ.setdefault(name, str(threads))


class LocalExecutor:
    """Worker processes on this machine.

    Parameters
    ----------
    workers : number of processes; default ``os.cpu_count()``.
    start_method : multiprocessing start method; ``spawn`` (default) is safe with Numba and threads.

    Each worker's Numba and BLAS threads share the cores out (:func:`threads_per_worker`).
    """

    def __init__(self, workers: int | None = None, start_method: str = "spawn"):
        if workers is not None and workers < 1:
            raise ConfigError(f"--workers: must be >= 1 (got {workers})")
        self.workers = workers or os.cpu_count() or 1
        self.start_method = start_method
        self._pool: cf.ProcessPoolExecutor | None = None

    def describe(self) -> str:
        return f"{self.workers} local worker process{'es' if self.workers != 1 else ''}"

    def map_unordered(self, fn, jobs):
        jobs = list(jobs)
        if not jobs:
            return
        ctx = multiprocessing.get_context(self.start_method)
        processes = min(self.workers, len(jobs))
        self._pool = cf.ProcessPoolExecutor(max_workers=processes, mp_context=ctx, initializer=start_worker,
                                            initargs=(os.getpid(), threads_per_worker(processes)))
        futures = {self._pool.submit(fn, *args): tag for tag, args in jobs}
        try:
            for fut in cf.as_completed(futures):
                try:
                    result = fut.result()
                except cf.process.BrokenProcessPool:
                    raise AccelsimError(
                        "a worker process died (killed or out of memory); finished points are stored, "
                        "rerun the same command to resume"
                    ) from None
                yield futures[fut], result
        finally:
            for fut in futures:
                fut.cancel()
            self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


class DaskExecutor:
    """An existing dask.distributed cluster.

    Parameters
    ----------
    address : the scheduler address, e.g. ``tcp://scheduler-host:8786``.
    timeout_s : how long to try to reach the scheduler before failing.

    Raises (when constructed)
    ------
    ConfigError
        dask.distributed is not installed, or the scheduler cannot be reached within *timeout_s*.

    Notes
    -----
    Every worker must have accelsim installed and see the files the configs name (model, data,
    energy tables) and the results folder's ``cache/`` at the same paths (a shared disk);
    otherwise the cache is simply not shared and each worker rebuilds what it needs.
    """

    def __init__(self, address: str, timeout_s: float = DEFAULT_SCHEDULER_TIMEOUT_S):
        try:
            import distributed
        except ImportError:
            raise ConfigError(
                f"--scheduler {address}: dask.distributed is not installed; "
                "install it with: pip install 'accelsim[dask]'"
            ) from None
        if not timeout_s > 0:
            raise ConfigError(f"--scheduler-timeout: must be > 0 s (got {timeout_s})")
        self.address = address
        self._distributed = distributed
        self.client = None
        _handshake(address, timeout_s)
        try:
            self.client = distributed.Client(address, timeout=timeout_s, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            raise ConfigError(
                f"--scheduler {address}: cannot reach a Dask scheduler within {timeout_s:g} s "
                f"({_one_line(exc)}); check the address and that 'dask scheduler' is running"
            ) from None
        workers = self.client.scheduler_info().get("workers", {})
        self.workers = max(1, sum(int(w.get("nthreads", 1)) for w in workers.values()))

    def describe(self) -> str:
        return f"Dask cluster {self.address} ({self.workers} worker threads)"

    def map_unordered(self, fn, jobs):
        jobs = list(jobs)
        if not jobs:
            return
        futures = {}
        for tag, args in jobs:
            fut = self.client.submit(fn, *args, pure=False)
            futures[fut] = tag
        try:
            for fut in self._distributed.as_completed(list(futures), loop=self.client.loop):
                try:
                    result = fut.result()
                except Exception as exc:  # noqa: BLE001 - a lost worker etc.: record as error
                    result = {"status": "error", "error": f"dask: {_one_line(exc)}", "elapsed_s": 0.0}
                yield futures[fut], result
        finally:
            self.client.cancel([f for f in futures if not f.done()])

    def close(self) -> None:
        if self.client is None:
            return
        try:
            self.client.close()
        except Exception:  # noqa: BLE001 - closing a client must not mask the real outcome
            pass
        self.client = None


def _handshake(address: str, timeout_s: float) -> None:
    """Check within *timeout_s* that *address* is a Dask scheduler, before any client exists.

    Opens one Dask comm, asks ``identity`` and expects ``{"type": "Scheduler", ...}`` back; the
    whole exchange (connect, Dask's comm handshake, the reply) has one deadline, so a port that
    accepts connections but never answers (an HTTP server, a database) fails in *timeout_s*.
    Probing first also means no half-built ``distributed.Client`` is left to complain from its
    destructor at exit.

    Raises
    ------
    ConfigError
        Malformed address, nothing listening, no answer in time, or an answer that is not a
        scheduler's.
    """
    import asyncio

    from distributed.comm import connect
    from distributed.comm.addressing import parse_address, parse_host_port

    hint = "give the scheduler's address, e.g. tcp://scheduler-host:8786"
    try:
        scheme, location = parse_address(address, strict=False)
        if scheme in ("tcp", "tls"):
            parse_host_port(location)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"--scheduler {address}: not a scheduler address ({exc}); {hint}") from None

    async def identity():
        comm = await connect(address, timeout=timeout_s)
        try:
            await comm.write({"op": "identity", "reply": True})
            return await comm.read()
        finally:
            comm.abort()

    try:
        reply = asyncio.run(asyncio.wait_for(identity(), timeout_s))
    except (asyncio.TimeoutError, TimeoutError):
        raise ConfigError(
            f"--scheduler {address}: cannot reach a Dask scheduler within {timeout_s:g} s (no answer; "
            "something may listen there that is not a Dask scheduler, e.g. an HTTP server); check the "
            "address and that 'dask scheduler' is running, or raise --scheduler-timeout"
        ) from None
    except (OSError, ValueError, TypeError, EOFError) as exc:
        raise ConfigError(
            f"--scheduler {address}: cannot reach a Dask scheduler within {timeout_s:g} s "
            f"({_one_line(exc)}); check the address and that 'dask scheduler' is running"
        ) from None
    except Exception as exc:  # noqa: BLE001 - a garbled reply (CommClosedError, decode errors)
        raise ConfigError(
            f"--scheduler {address}: the process there does not speak the Dask protocol "
            f"({_one_line(exc)}); {hint}"
        ) from None
    if not (isinstance(reply, dict) and reply.get("type") == "Scheduler"):
        kind = reply.get("type") if isinstance(reply, dict) else type(reply).__name__
        raise ConfigError(
            f"--scheduler {address}: answers as {kind!r}, not as a Dask scheduler (a worker's or "
            f"nanny's port?); {hint}"
        )


def make_executor(
    workers: int | None = None,
    scheduler: str | None = None,
    scheduler_timeout_s: float = DEFAULT_SCHEDULER_TIMEOUT_S,
):
    """Choose the executor the CLI flags ask for.

    ``scheduler`` given → :class:`DaskExecutor`; ``workers == 0`` → :class:`SerialExecutor`;
    otherwise :class:`LocalExecutor` with *workers* processes (default: the core count).
    """
    if scheduler:
        if workers:
            raise ConfigError("--workers and --scheduler exclude each other (the cluster sets its own workers)")
        return DaskExecutor(scheduler, timeout_s=scheduler_timeout_s)
    if workers == 0:
        return SerialExecutor()
    return LocalExecutor(workers)
