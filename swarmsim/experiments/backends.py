"""Where the runs of a sweep execute: this process, a local process pool, or a Ray cluster.

A backend receives ``tasks``, a list of picklable zero-argument callables (each one
``functools.partial(run_one, spec, out, save_run)``) that return one table row (a dict) and never
raise for a failing run: a failed run comes back as a row with ``status == "failed"``. The
backend returns the rows in any order (the sweep sorts them by ``(point, seed)``) and, if given
``progress``, calls ``progress(done, failed, total)`` after each row arrives, counting only the
tasks it was given. Every backend runs the same ``run_one`` on the same specs, so all of them give
the same table (``wall_time_s`` aside).

``BACKENDS`` maps a backend name to an adapter ``(tasks, *, jobs, address, progress) -> rows``;
``sweep(backend=...)`` looks names up there and nowhere else.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from swarmsim.errors import ArgumentError

Row = dict[str, Any]
Task = Callable[[], Row]
Progress = Callable[[int, int, int], None]


class _Tally:
    """Counts finished and failed rows and reports them to a progress callback."""

    def __init__(self, total: int, progress: Progress | None) -> None:
        self.total, self.progress = total, progress
        self.done = self.failed = 0

    def add(self, row: Row) -> Row:
        self.done += 1
        self.failed += row.get("status") == "failed"
        if self.progress is not None:
            self.progress(self.done, self.failed, self.total)
        return row


def run_local(tasks: Sequence[Task], *, jobs: int | None = None, progress: Progress | None = None) -> list[Row]:
    """Run ``tasks`` on this machine: in this process when ``jobs == 1``, else on a
    ``ProcessPoolExecutor`` of ``jobs`` workers (default: ``os.cpu_count()``).

    A worker that dies (killed, out of memory) fails its run with a row saying so rather than
    losing the sweep; the next resume retries it.
    """
    tally = _Tally(len(tasks), progress)
    workers = min(jobs or os.cpu_count() or 1, max(len(tasks), 1))
    if workers <= 1:
        return [tally.add(task()) for task in tasks]
    rows: list[Row] = []
    pool = ProcessPoolExecutor(max_workers=workers)
    try:
        pending = {pool.submit(task): task for task in tasks}
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                task = pending.pop(future)
                try:
                    row = future.result()
                except BrokenProcessPool as err:
                    row = _lost_row(task, f"the worker process died: {err}")
                rows.append(tally.add(row))
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    return rows


def _lost_row(task: Task, error: str) -> Row:
    spec = getattr(task, "args", (None,))[0]
    row: Row = {"point": getattr(spec, "point", -1), "seed": getattr(spec, "seed", -1)}
    row.update(getattr(spec, "params", {}))
    row.update(status="failed", error=error)
    return row


def _local(tasks: Sequence[Task], *, jobs: int | None, address: str | None, progress: Progress | None) -> list[Row]:
    if address is not None:
        from swarmsim.errors import ScenarioError

        raise ScenarioError(None, [("address", "is for backend 'ray'; the local backend runs on this machine")])
    return run_local(tasks, jobs=jobs, progress=progress)


def _ray(tasks: Sequence[Task], *, jobs: int | None, address: str | None, progress: Progress | None) -> list[Row]:
    return run_ray(tasks, address=address, num_cpus=jobs, progress=progress)


BACKENDS: dict[str, Callable[..., list[Row]]] = {"local": _local, "ray": _ray}


def check_backend(backend: str, jobs: int | None, address: str | None) -> None:
    """The checks a sweep and a plan share, before anything is written: a known backend, at least
    one worker, an ``address`` only for Ray, and Ray installed when it is asked for.

    Raises:
        ArgumentError: on ``backend``, ``jobs`` or ``address``, naming what was expected.
    """
    if backend not in BACKENDS:
        raise ArgumentError(None, [("backend", f"unknown backend {backend!r}; expected one of "
                                               f"{', '.join(sorted(BACKENDS))}")])
    if jobs is not None and jobs < 1:
        raise ArgumentError(None, [("jobs", f"expected a number of workers >= 1, got {jobs}")])
    if address is not None and backend != "ray":
        raise ArgumentError(None, [("address", "is for backend=ray; the local backend runs on this machine")])
    if backend == "ray":
        import importlib.util

        if importlib.util.find_spec("ray") is None:
            raise ArgumentError(None, [("backend", "ray: Ray is not installed (pip install 'swarmsim[ray]')")])


# --- Ray backend -----------------------------------------------------------------------------
# Owned by the Ray backend's author: replace run_ray below (same signature, same contract as the
# module docstring: rows in any order, progress(done, failed, total), never raise for a failed run).


def run_ray(
    tasks: Sequence[Task],
    *,
    address: str | None = None,
    num_cpus: int | None = None,
    retries: int = 2,
    progress: Progress | None = None,
) -> list[Row]:
    """Run ``tasks`` as Ray tasks and return their rows as they finish.

    ``address``: ``None`` starts a local Ray instance for this call (``num_cpus`` of this
    machine's CPUs, default all of them), unless Ray is already initialised in this process or
    ``RAY_ADDRESS`` names a cluster; ``"auto"`` or ``"ray://host:10001"`` joins an existing
    cluster, where ``num_cpus`` caps the runs in flight instead. Ray is imported here and nowhere
    else, and shut down on return only if this call started it.

    Each task is one Ray task (one CPU) shipped as the pickled ``partial(run_one, spec, out,
    save_run)``: the run spec with its scenario, not the process that planned it, so a custom
    policy's module must be importable on the workers. A task whose worker process dies is
    retried up to ``retries`` times; a run still lost after that comes back as a failed row,
    like ``run_local``'s, and the next resume retries it.
    """
    try:
        import ray
    except ImportError as err:
        raise ImportError("backend 'ray' needs Ray: pip install 'swarmsim[ray]'") from err

    started = sized_here = False
    if not ray.is_initialized():
        sized_here = _init_ray(ray, address, num_cpus)
        started = True
    # Runs in flight: num_cpus on a cluster this call did not size; otherwise twice the cluster's
    # CPUs, enough to keep every CPU busy while keeping each ray.wait over a short list.
    window = num_cpus if num_cpus and not sized_here else 2 * int(ray.cluster_resources().get("CPU", 1)) + 2
    remote = ray.remote(_call_task).options(num_cpus=1, max_retries=retries, retry_exceptions=False)
    paths = ray.put([p for p in sys.path if p])
    tally = _Tally(len(tasks), progress)
    rows: list[Row] = []
    queue = list(reversed(tasks))
    pending: dict[Any, Task] = {}
    try:
        while queue or pending:
            while queue and len(pending) < max(window, 1):
                task = queue.pop()
                pending[remote.remote(task, paths)] = task
            finished, _ = ray.wait(list(pending), num_returns=1)
            for ref in finished:
                task = pending.pop(ref)
                try:
                    row = ray.get(ref)
                except (ray.exceptions.RayError, OSError) as err:  # the worker died retries + 1 times
                    row = _lost_row(task, f"the Ray task was lost after {retries} retries: {type(err).__name__}: "
                                          f"{str(err).splitlines()[0] if str(err) else ''}")
                rows.append(tally.add(row))
    except BaseException:
        for ref in pending:
            with contextlib.suppress(Exception):  # already finished or gone: nothing to cancel
                ray.cancel(ref, force=True)
        raise
    finally:
        if started:
            ray.shutdown()
    return rows


def _init_ray(ray: Any, address: str | None, num_cpus: int | None) -> bool:
    """``ray.init`` as :func:`run_ray` documents it; True when it sized a local instance here."""
    kwargs: dict[str, Any] = {"log_to_driver": False, "include_dashboard": False, "logging_level": "warning"}
    sized_here = False
    if address is None and not os.environ.get("RAY_ADDRESS"):
        import tempfile

        kwargs.update(num_cpus=num_cpus, _temp_dir=os.path.join(tempfile.gettempdir(), "ray"))
        sized_here = True
    try:
        ray.init(address=address, **kwargs)
    except ConnectionError as err:  # no cluster at that address
        from swarmsim.errors import ScenarioError

        raise ScenarioError(None, [("address", f"cannot reach a Ray cluster at {address!r}: {err}")]) from None
    return sized_here


@contextlib.contextmanager
def ray_session(address: str | None = None, num_cpus: int | None = None) -> Iterator[None]:
    """One Ray instance for several sweeps (a plan runs one sweep per candidate).

    Starts Ray as :func:`run_ray` would (same ``address`` and ``num_cpus`` rules) unless it is
    already initialised, and shuts it down on exit only if it started it; every ``run_ray`` inside
    finds it initialised and leaves it running, so Ray starts once instead of once per sweep.
    """
    try:
        import ray
    except ImportError as err:
        raise ImportError("backend 'ray' needs Ray: pip install 'swarmsim[ray]'") from err
    if ray.is_initialized():
        yield
        return
    _init_ray(ray, address, num_cpus)
    try:
        yield
    finally:
        ray.shutdown()


def _call_task(task: Task, paths: list[str]) -> Row:
    """The Ray task: run one ``partial(run_one, ...)`` in a worker.

    ``paths`` is the driver's ``sys.path``: Ray starts its workers with the driver's working
    directory and script directory only, so a custom policy that the driver imports from a
    folder it added itself (a notebook's ``sys.path.insert``, pytest's test folder) would not be
    found. Entries the worker lacks are appended (the worker's own come first); on another
    machine an absent folder is harmless. A forked local pool inherits the same path.
    """
    sys.path.extend(p for p in paths if p not in sys.path)
    return task()
