"""Shot jobs -> result dicts on Dask: a local cluster on this machine, or an existing farm's scheduler.

`run_on_dask` is what `batch.run_shots(engine="dask")` calls. Each shot is one Dask task whose only input
is the shot's job dict (plain JSON types) and whose only output is the small result dict of
`batch._run_job_dict`; the worker writes the media and its sidecar straight to the path in the job, so that
folder must be storage every worker and the driver see. The driver alone writes the edit.

What Dask does for us, and what it is told:

* A worker that dies mid-shot (killed, out of memory, segfault) gets its shot rescheduled on another
  worker by the scheduler. A shot that kills every worker it runs on is given up after
  `distributed.scheduler.allowed-failures` deaths (default 3, so 4 tries); its future then raises
  `KilledWorker` and the shot comes back as a failed result. Retrying is safe: a shot is idempotent
  (sidecars, atomic media, a per-shot lock, leftovers removed under the lock).
* Any other exception escaping the task (the shot's own problems come back as "failed" dicts, so this is
  the machine's: a lost mount, a full scratch disk) is retried `TASK_RETRIES` times, then fails that shot.
* Dask counts a worker's death against every task the scheduler had handed that worker, running or
  waiting, so a shot queued behind a crashing one could be given up too. The driver therefore keeps no more
  shots in flight than the cluster has worker threads: each worker holds only the shot it is running.

CPU: the local cluster runs one single-threaded worker process per `--jobs`. Dask's nanny already sets
OMP_NUM_THREADS, MKL_NUM_THREADS and OPENBLAS_NUM_THREADS to 1 in each worker (`distributed.nanny.
pre-spawn-environ`), but onnxruntime and x264 size their own thread pools to the machine's cores and
ignore those, so `--jobs N` runs N such pools side by side: keep N at most the number of cores. On a
farm, start workers with `--nthreads 1` for the same reason, and because a worker that dies takes down every
shot running on it.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from .errors import UsageError

if TYPE_CHECKING:
    from .batch import ShotResult

# Long enough for a farm's scheduler across a busy network, short enough that a typo is reported promptly.
CONNECT_TIMEOUT_S = 10.0
# Retries for exceptions raised by a task (worker deaths are counted by the scheduler's allowed-failures).
TASK_RETRIES = 1
FARM_EXTRA_HINT = "--engine dask needs the farm extra: pip install 'previz-plugin[farm]'"

ShotTask = Callable[[dict[str, Any]], dict[str, Any]]


def _import_distributed() -> Any:
    """Return the `distributed` module, or one UsageError line saying how to install it."""
    try:
        import distributed
    except ImportError:
        raise UsageError(FARM_EXTRA_HINT) from None
    return distributed


def _root_cause(error: BaseException) -> BaseException:
    """Return the innermost cause: Dask wraps "connection refused" in two layers of its own errors."""
    while error.__cause__ is not None:
        error = error.__cause__
    return error


def _connect(distributed: Any, scheduler: str, timeout_s: float) -> Any:
    """Return a Client connected to the scheduler at `scheduler`, or one UsageError line."""
    try:
        return distributed.Client(scheduler, timeout=timeout_s, set_as_default=False)
    except ValueError as error:  # an unknown scheme or a malformed address
        raise UsageError(f"bad Dask scheduler address {scheduler!r}: {error}; expected tcp://HOST:PORT") from None
    except (OSError, TimeoutError) as error:
        raise UsageError(f"cannot reach the Dask scheduler at {scheduler} within {timeout_s:g} s "
                         f"({_root_cause(error)}); is `dask scheduler` running there and its port open?") from None


@contextlib.contextmanager
def _quiet_dask_logs() -> Iterator[None]:
    """Hold back the scheduler's and nannies' INFO lines while shots run, unless debug logging is on.

    The CLI's handler sits on the root logger, and Dask then leaves `distributed` at INFO propagating to it:
    every worker start and stop would print. Worker deaths and failed shots are in the fill's report.
    Children with their own level (`distributed.client`: WARNING, e.g. version mismatches) still speak.
    """
    logger = logging.getLogger("distributed")
    if logging.getLogger().getEffectiveLevel() <= logging.DEBUG:
        yield
        return
    previous = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(previous)


def _start_local_cluster(distributed: Any, workers: int) -> tuple[Any, Any]:
    """Return (cluster, client) for `workers` single-threaded worker processes on this machine."""
    # processes=True: onnxruntime, FFmpeg and the GIL make threads a poor fit, and a worker process that
    # dies (out of memory) takes only its own shot with it; the nanny starts a fresh one.
    # No dashboard; the scheduler's HTTP routes (health, metrics) still start, so give them a free localhost
    # port: the default 8787 makes a second fill at once print "Port 8787 is already in use".
    # silence_logs: the worker processes' own log lines (this process's are held by _quiet_dask_logs).
    cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                       dashboard_address=None, scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                                       silence_logs=logging.CRITICAL)
    try:
        client = distributed.Client(cluster, set_as_default=False)
    except BaseException:
        cluster.close()
        raise
    return cluster, client


def _failed(job: dict[str, Any], error: str) -> dict[str, Any]:
    """Return a failed result dict for a job whose task never gave one back."""
    from dataclasses import asdict

    from .batch import ShotResult  # lazy: batch imports this module lazily too

    spec = job.get("spec", {})
    return asdict(ShotResult(str(spec.get("shot_id", "")), str(spec.get("name", "")), str(job.get("media_path", "")),
                             "failed", error=error))


def _outcome(future: Any, job: dict[str, Any], distributed: Any) -> dict[str, Any]:
    """Return the result dict a finished future carries, or a failed one saying why it has none."""
    name = job.get("spec", {}).get("name", "?")
    if future.status == "cancelled":
        return _failed(job, f"{name}: cancelled on the Dask cluster (scheduler restarted or lost)")
    if future.status != "error":
        try:
            return future.result()
        except Exception as lost:  # the result could not be fetched (its worker gone, the scheduler lost)
            return _failed(job, f"{name}: result lost ({type(lost).__name__}: {lost})")
    error = future.exception()
    if isinstance(error, distributed.KilledWorker):
        # args: (task key, last worker, allowed failures); the shot ran allowed_failures + 1 times.
        deaths = error.args[2] + 1 if len(error.args) > 2 and isinstance(error.args[2], int) else "several"
        return _failed(job, f"{name}: worker died {deaths} times (KilledWorker)")
    if isinstance(error, ModuleNotFoundError):  # a farm whose workers lack the package: say what to install
        return _failed(job, f"{name}: the Dask worker cannot import {error.name!r}; install previz-plugin on the workers")
    first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return _failed(job, f"{name}: {type(error).__name__}: {first_line}".rstrip(": "))


def _worker_threads(client: Any) -> int:
    """Return how many shots the cluster can run at once now (at least 1: a farm may be scaling up)."""
    return max(1, sum(client.nthreads().values()))


def run_on_dask(
    job_dicts: list[dict[str, Any]],
    *,
    workers: int,
    scheduler: str | None,
    on_result: Callable[[ShotResult], None] | None = None,
    task: ShotTask | None = None,
    connect_timeout_s: float = CONNECT_TIMEOUT_S,
) -> list[dict[str, Any]]:
    """Return one result dict per job, in the jobs' order, after running every shot as a Dask task.

    Without `scheduler`, starts a local cluster of `workers` processes and closes it at the end; with
    `scheduler` ("tcp://HOST:PORT"), uses that cluster's workers (`workers` is then unused). `on_result` gets
    each ShotResult as it arrives, in completion order. `task` replaces `batch._run_job_dict` (tests use it
    to make a worker die); the workers must be able to import it. Ctrl-C cancels the shots in flight,
    closes the cluster and re-raises KeyboardInterrupt.
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise UsageError(f"workers must be a whole number >= 1, got {workers!r}")
    if scheduler is not None and (not isinstance(scheduler, str) or not scheduler.strip()):
        raise UsageError(f"scheduler must be an address like tcp://HOST:PORT, got {scheduler!r}")
    distributed = _import_distributed()
    from .batch import _run_job_dict  # lazy: batch imports this module lazily too

    if not job_dicts:
        return []
    with _quiet_dask_logs():
        cluster = None
        if scheduler is None:
            cluster, client = _start_local_cluster(distributed, workers)
        else:
            client = _connect(distributed, scheduler.strip(), connect_timeout_s)
        try:
            return _run_all(distributed, client, job_dicts, task or _run_job_dict, on_result)
        finally:
            # Closing the local cluster ends its workers, so after Ctrl-C no shot goes on rendering.
            with contextlib.suppress(Exception):
                client.close()
            if cluster is not None:
                with contextlib.suppress(Exception):
                    cluster.close()


def _run_all(
    distributed: Any,
    client: Any,
    job_dicts: list[dict[str, Any]],
    task: ShotTask,
    on_result: Callable[[ShotResult], None] | None,
) -> list[dict[str, Any]]:
    """Return the jobs' result dicts in their order, keeping at most one shot in flight per worker thread."""
    from .batch import ShotResult

    # One token per run: two fills sharing a farm must not share task keys (Dask would merge the tasks).
    run_token = secrets.token_hex(4)
    results: dict[int, dict[str, Any]] = {}
    in_flight: dict[Any, int] = {}
    waiting = list(reversed(range(len(job_dicts))))  # pop() from the end hands shots out in edit order
    finished = distributed.as_completed(loop=client.loop)

    def submit_up_to_capacity() -> None:
        capacity = _worker_threads(client)  # asked each time: a farm grows and shrinks, a dead worker restarts
        while waiting and len(in_flight) < capacity:
            index = waiting.pop()
            job = job_dicts[index]
            shot_id = job.get("spec", {}).get("shot_id", "shot")
            future = client.submit(task, job, key=f"previz-shot-{index:04d}-{shot_id}-{run_token}",
                                   pure=False, retries=TASK_RETRIES)
            in_flight[future] = index
            finished.add(future)

    try:
        submit_up_to_capacity()
        for future in finished:  # as_completed takes futures added while it is being iterated
            index = in_flight.pop(future)
            results[index] = _outcome(future, job_dicts[index], distributed)
            future.release()  # the result is ours now; the scheduler may forget the task
            if on_result:
                on_result(ShotResult(**results[index]))
            submit_up_to_capacity()
    except KeyboardInterrupt:
        with contextlib.suppress(Exception):
            client.cancel(list(in_flight), force=True)
        raise
    return [results[index] for index in range(len(job_dicts))]
