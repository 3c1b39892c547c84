"""Readers of the Philly-derived job traces: ``philly`` (run times only), ``gavel`` (OSDI'20
``*.trace``, durations in training steps) and ``tiresias`` (NSDI'19). Registered in
:data:`~swarmsim.traces.FORMATS` by :mod:`swarmsim.traces.jobs`."""

from __future__ import annotations

import ast
import csv
import json
import logging
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from swarmsim.traces import CHUNK_ROWS, BadRows, JobRows, TraceError
from swarmsim.traces.table import (
    MISSING,
    NEGATIVE,
    NOT_POSITIVE_RUN,
    Checks,
    PathLike,
    job_rows,
    peek_header,
    read_table,
    require_file,
)

log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------- philly


def read_philly_jobs(path: PathLike, bad_rows: BadRows, chunk_rows: int = CHUNK_ROWS) -> Iterator[JobRows]:
    """``philly_runtime.csv`` (Philly job run times, from the Alibaba 2020 analysis folder).

    A sample of run times, not a trace: ``duration_s`` = runtime (s), and ``submit_s`` and
    ``gpus`` are NaN (unknown). Use it as an empirical duration distribution.
    """
    yield from _durations_only(path, bad_rows, chunk_rows, "runtime")


def _durations_only(path: PathLike, bad_rows: BadRows, chunk_rows: int, column: str) -> Iterator[JobRows]:
    """A file of run times only (one positive number of seconds per row in ``column``): job rows
    with ``duration_s`` set and ``submit_s`` and ``gpus`` NaN."""
    for raw in read_table(path, bad_rows, chunk_rows, required=(column,)):
        c = Checks(raw)
        seconds = c.number(column)
        c.flag(seconds <= 0, column, NOT_POSITIVE_RUN)
        c.report(bad_rows)
        keep = c.good
        if keep.any():
            nan = np.full(int(keep.sum()), np.nan)
            yield job_rows(raw.line[keep], nan, nan, seconds[keep])


# ----------------------------------------------------------------------------- gavel

#: Fields of a Gavel trace line (tab-separated, no header), in order.
GAVEL_COLUMNS = (
    "job_type",
    "command",
    "num_steps_arg",
    "needs_data_dir",
    "total_steps",
    "arrival_time",
    "scale_factor",
)
#: The worker type Gavel's trace generator turned run times into steps with.
GAVEL_REFERENCE_WORKER = "v100"
GAVEL_THROUGHPUTS = "simulation_throughputs.json"


def find_gavel_throughputs(trace: PathLike) -> Path | None:
    """``simulation_throughputs.json`` in the trace's folder or one of its three parents (Gavel
    keeps traces in ``scheduler/traces/msr/seed=0/`` and the file in ``scheduler/``)."""
    folder = Path(trace).resolve().parent
    for candidate in [folder, *folder.parents][:4]:
        if (candidate / GAVEL_THROUGHPUTS).is_file():
            return candidate / GAVEL_THROUGHPUTS
    return None


def load_gavel_throughputs(path: PathLike, worker: str = GAVEL_REFERENCE_WORKER) -> dict[str, dict[int, float]]:
    """``{job_type: {scale_factor: steps per s}}`` of one worker type, from the ``null`` (job
    alone, no co-location) entries of Gavel's ``simulation_throughputs.json``."""
    with open(path, encoding="utf-8") as f:
        table = json.load(f)
    if worker not in table:
        raise TraceError(str(path), None, None, f"no '{worker}' worker type (found {', '.join(table)})")
    rates: dict[str, dict[int, float]] = {}
    for key, entry in table[worker].items():
        job_type, scale_factor = ast.literal_eval(key)
        rate = float(entry.get("null", 0.0)) if isinstance(entry, dict) else 0.0
        if rate > 0 and math.isfinite(rate):
            rates.setdefault(job_type, {})[int(scale_factor)] = rate
    return rates


def gavel_steps_per_s(rates: dict[str, dict[int, float]], job_type: str, scale_factor: int) -> tuple[float, bool]:
    """Throughput of ``job_type`` on ``scale_factor`` GPUs and whether it was extrapolated: an
    unmeasured scale factor takes the largest measured one below it, scaled linearly."""
    measured = rates.get(job_type, {})
    if scale_factor in measured:
        return measured[scale_factor], False
    below = [s for s in measured if s <= scale_factor]
    if not below:
        return math.nan, False
    base = max(below)
    return measured[base] * scale_factor / base, True


def read_gavel_jobs(
    path: PathLike, bad_rows: BadRows, chunk_rows: int = CHUNK_ROWS, throughputs: PathLike | None = None
) -> Iterator[JobRows]:
    """A Gavel trace (``*.trace``: 7 tab-separated fields, no header), one row per job.

    ``submit_s`` = arrival_time; ``gpus`` = scale_factor; ``duration_s`` = total_steps / the
    job's throughput on a V100 (steps/s, from ``simulation_throughputs.json``: Gavel made the
    steps from a Philly run time with that same V100 throughput), so durations are seconds on a
    V100. A scale factor without a measurement takes the largest measured one below it, scaled
    linearly (logged). ``throughputs`` defaults to the file found by :func:`find_gavel_throughputs`.
    """
    required = ("job_type", "total_steps", "arrival_time", "scale_factor")
    require_file(path, ", ".join(GAVEL_COLUMNS) + " (tab-separated, no header)")
    source = throughputs if throughputs is not None else find_gavel_throughputs(path)
    if source is None:
        raise TraceError(
            str(path),
            None,
            None,
            f"needs {GAVEL_THROUGHPUTS} (Gavel's measured throughputs) in the trace's folder or a parent folder "
            "to turn training steps into seconds",
        )
    rates = load_gavel_throughputs(source)
    cache: dict[tuple[str, int], tuple[float, bool]] = {}
    extrapolated = 0
    for raw in read_table(
        path, bad_rows, chunk_rows, required=required, names=GAVEL_COLUMNS, delimiter="\t", quoting=csv.QUOTE_NONE
    ):
        c = Checks(raw)
        job_type = c.text("job_type")
        c.flag(job_type == "", "job_type", MISSING)
        steps = c.number("total_steps")
        c.flag(steps <= 0, "total_steps", "not a positive number of steps")
        arrival = c.number("arrival_time")
        c.flag(arrival < 0, "arrival_time", NEGATIVE)
        scale = c.count("scale_factor")
        c.flag(scale == 0, "scale_factor", "0 GPUs")
        rate = np.full(c.n, np.nan)
        guessed = np.zeros(c.n, dtype=bool)
        for i in np.flatnonzero(c.good):
            key = (str(job_type[i]), int(scale[i]))
            if key not in cache:
                cache[key] = gavel_steps_per_s(rates, *key)
            rate[i], guessed[i] = cache[key]
        c.flag(np.isnan(rate), "job_type", "no measured V100 throughput")
        c.report(bad_rows)
        keep = c.good
        extrapolated += int((guessed & keep).sum())
        if keep.any():
            yield job_rows(raw.line[keep], arrival[keep], scale[keep], (steps / rate)[keep])
    if extrapolated:
        log.info("%s: %d jobs on an unmeasured scale factor: throughput scaled linearly", path, extrapolated)


# ----------------------------------------------------------------------------- tiresias

TIRESIAS_JOB_COLUMNS = ("submit_time", "num_gpu", "duration")


def read_tiresias_jobs(path: PathLike, bad_rows: BadRows, chunk_rows: int = CHUNK_ROWS) -> Iterator[JobRows]:
    """Tiresias simulator inputs, in either layout (chosen from the header).

    - ``60_job.csv`` (job_id, num_gpu, submit_time, iterations, model_name, duration, interval):
      ``submit_s`` = submit_time, ``gpus`` = num_gpu, ``duration_s`` = duration. Jobs are listed
      in submission order (``interval`` is the gap to the next job), so a submit_time earlier
      than a previous row's is a bad row.
    - ``yarn-gput10000.csv`` (duration only): a sample of GPU-times (GPU x s), not jobs:
      ``duration_s`` = the GPU-time, ``submit_s`` and ``gpus`` NaN.
    """
    expected = "submit_time, num_gpu, duration (60_job.csv) or duration (yarn-gput10000.csv)"
    header = peek_header(path, expected)
    if set(TIRESIAS_JOB_COLUMNS) <= set(header):
        yield from _tiresias_jobs(path, bad_rows, chunk_rows)
    elif "duration" in header:
        yield from _durations_only(path, bad_rows, chunk_rows, "duration")
    else:
        raise TraceError(str(path), None, None, f"expected columns {expected}; the header is: {', '.join(header)}")


def _tiresias_jobs(path: PathLike, bad_rows: BadRows, chunk_rows: int) -> Iterator[JobRows]:
    latest = -math.inf  # the largest submit_time of the good rows so far
    for raw in read_table(path, bad_rows, chunk_rows, required=TIRESIAS_JOB_COLUMNS):
        c = Checks(raw)
        submit = c.number("submit_time")
        c.flag(submit < 0, "submit_time", NEGATIVE)
        gpus = c.count("num_gpu")
        duration = c.number("duration")
        c.flag(duration <= 0, "duration", NOT_POSITIVE_RUN)
        before = np.maximum.accumulate(np.concatenate([[latest], np.where(c.good, submit, -math.inf)]))[:-1]
        c.flag(submit < before, "submit_time", "earlier than a previous row (the file is in submission order)")
        c.report(bad_rows)
        keep = c.good
        if keep.any():
            latest = max(latest, float(submit[keep].max()))
            yield job_rows(raw.line[keep], submit[keep], gpus[keep], duration[keep])
