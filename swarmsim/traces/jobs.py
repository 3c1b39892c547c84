"""Readers of GPU-cluster job traces, streamed into :class:`~swarmsim.traces.JobRows` chunks.

One reader per format, each registered in :data:`~swarmsim.traces.FORMATS` at import:
``alibaba-gpu-2023``, ``alibaba-gpu-2020``, ``philly``, ``gavel``, ``tiresias``, ``helios`` and
``csv`` (generic, through :func:`read_csv_jobs` and a column mapping). ``docs/traces.md`` says,
per format, which column becomes which field and what the reader decides where the trace is
ambiguous: fractional GPUs, jobs still running when the trace ends, jobs that never started,
durations given in training steps.

Shared rules:

- the file is read with the ``csv`` module, ``chunk_rows`` rows at a time, so memory does not grow
  with the file; ``.gz`` files are decompressed on the fly;
- each row keeps the 1-based line of the file it starts on (a header is line 1, so the first data
  row is line 2; a file without a header line starts its data on line 1);
- every row is checked (missing or non-numeric fields, negative GPUs, an end before the start,
  a finished job that ran for 0 s or less) and a bad row goes to ``bad_rows.bad(line, column,
  reason)``: it raises under ``on_bad_rows: error`` and is counted and left out under ``skip``.
  Reasons are short and do not repeat the row's values, so the skip tally groups them;
- a row that is valid but not a job that ran (a pod deleted while still Pending, a task that was
  never launched) is left out without being a bad row; how many is logged at INFO.

The table reading helpers (:func:`read_table`, :class:`Checks`) are shared with
:mod:`swarmsim.traces.nodes`.
"""

from __future__ import annotations

import ast
import csv
import gzip
import json
import logging
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import numpy as np
import pandas as pd

from swarmsim.traces import CHUNK_ROWS, BadRows, JobRows, TraceError, TraceFormat, register

log = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]

#: The reasons used by more than one reader (a skip tally groups rows by reason).
MISSING = "missing"
NOT_A_NUMBER = "not a number"
NEGATIVE = "negative"
NOT_WHOLE = "not a whole number"
NOT_POSITIVE_RUN = "<= 0 s for a finished job"


# ----------------------------------------------------------------------------- reading tables


@dataclass(frozen=True)
class RawChunk:
    """Up to ``chunk_rows`` rows of one file as stripped text columns.

    ``issues`` holds the rows already found bad while splitting the file (a wrong number of
    fields), as ``(line, column, reason)``; :class:`Checks` adds the others.
    """

    line: np.ndarray  # int64, the line each row starts on
    text: dict[str, np.ndarray]  # column -> str array; only the columns the file has
    issues: list[tuple[int, str | None, str]]


def require_file(path: PathLike, expected: str) -> Path:
    """The path, or a :class:`TraceError` naming the columns the reader expected."""
    p = Path(path)
    if not p.is_file():
        what = "not a file" if p.exists() else "no such file"
        raise TraceError(str(path), None, None, f"{what} (expected a table with columns {expected})")
    return p


def open_trace(path: PathLike, expected: str) -> TextIO:
    """Open a trace file for the ``csv`` module (``.gz`` decompressed)."""
    p = require_file(path, expected)
    if p.name.endswith(".gz"):
        return gzip.open(p, "rt", encoding="utf-8-sig", newline="")
    return p.open(encoding="utf-8-sig", newline="")


def sidecar_header(path: PathLike) -> list[str] | None:
    """Column names from ``NAME.header`` next to ``NAME.csv`` (the Alibaba PAI 2020 layout)."""
    p = Path(path)
    stem = p.name
    for suffix in (".gz", ".csv", ".tsv", ".txt"):
        stem = stem.removesuffix(suffix)
    header = p.with_name(stem + ".header")
    if not header.is_file():
        return None
    first = header.read_text(encoding="utf-8-sig").splitlines()[:1]
    return [name.strip() for name in next(csv.reader(first), [])] if first else None


def numbered(reader: Iterator[list[str]]) -> Iterator[tuple[int, list[str]]]:
    """``(line, row)`` with the line each row starts on (a quoted field may span lines)."""
    previous = 0
    for row in reader:
        yield previous + 1, row
        previous = reader.line_num  # type: ignore[attr-defined]


def read_table(
    path: PathLike,
    bad_rows: BadRows,
    chunk_rows: int,
    *,
    required: Sequence[str],
    optional: Sequence[str] = (),
    names: Sequence[str] | None = None,
    sidecar: bool = False,
    delimiter: str = ",",
    quoting: int = csv.QUOTE_MINIMAL,
) -> Iterator[RawChunk]:
    """Stream a delimited file as :class:`RawChunk` s of at most ``chunk_rows`` rows.

    The first line is the header when it holds every ``required`` column. Otherwise the file has
    no header line: its columns come from ``NAME.header`` next to it (when ``sidecar``), else from
    ``names`` (the format's documented order), and its first line is data (line 1). A file that
    does not exist, is empty or lacks a required column raises :class:`TraceError` without a
    line. Blank lines are not rows.
    """
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be at least 1, got {chunk_rows}")
    file = str(path)
    if not bad_rows.file:
        bad_rows.file = file
    expected = ", ".join(required)
    with open_trace(path, expected) as f:
        rows = numbered(csv.reader(f, delimiter=delimiter, quoting=quoting))
        first = next(rows, None)
        if first is None:
            raise TraceError(file, None, None, f"empty file (expected columns {expected})")
        head = [name.strip() for name in first[1]]
        if set(required) <= set(head):
            columns, data = head, rows
        else:
            columns = (sidecar_header(path) if sidecar else None) or (list(names) if names else None)
            if columns is None or not set(required) <= set(columns):
                found = ", ".join(head[:12]) + (", ..." if len(head) > 12 else "")
                missing = ", ".join(c for c in required if c not in head)
                raise TraceError(
                    file, None, None, f"expected columns {expected}; missing {missing} (the header is: {found})"
                )
            data = _chain(first, rows)
        wanted = [c for c in (*required, *optional) if c in columns]
        index = {c: columns.index(c) for c in wanted}
        width = len(columns)
        lines: list[int] = []
        values: dict[str, list[str]] = {c: [] for c in wanted}
        issues: list[tuple[int, str | None, str]] = []
        for line, row in data:
            if not row or (len(row) == 1 and not row[0].strip() and width > 1):
                continue
            if len(row) != width:
                issues.append((line, None, f"expected {width} fields, found {len(row)}"))
            else:
                lines.append(line)
                for c, i in index.items():
                    values[c].append(row[i])
            if len(lines) + len(issues) >= chunk_rows:
                yield _raw_chunk(lines, values, issues)
                lines, values, issues = [], {c: [] for c in wanted}, []
        if lines or issues:
            yield _raw_chunk(lines, values, issues)


def _chain(first: tuple[int, list[str]], rest: Iterator[tuple[int, list[str]]]) -> Iterator[tuple[int, list[str]]]:
    yield first
    yield from rest


def _raw_chunk(lines: list[int], values: dict[str, list[str]], issues: list) -> RawChunk:
    text = {c: np.char.strip(np.array(v, dtype=str)) for c, v in values.items()}
    return RawChunk(np.array(lines, dtype=np.int64), text, issues)


def peek_header(path: PathLike, expected: str, delimiter: str = ",") -> list[str]:
    """The names on the first line of a file (to choose between two layouts of one format)."""
    with open_trace(path, expected) as f:
        first = next(csv.reader(f, delimiter=delimiter), None)
    if first is None:
        raise TraceError(str(path), None, None, f"empty file (expected columns {expected})")
    return [name.strip() for name in first]


class Checks:
    """The bad rows of one chunk: each row is reported once, under its first problem.

    ``flag(mask, column, reason)`` marks rows; ``report(bad_rows)`` hands them to ``bad_rows`` in
    line order (so under ``error`` the first bad line of the file raises, whatever the chunk
    size); ``good`` is the mask of rows with no problem.
    """

    def __init__(self, raw: RawChunk) -> None:
        self.raw = raw
        self.line = raw.line
        self.n = len(raw.line)
        self.bad = np.zeros(self.n, dtype=bool)
        self.issues = list(raw.issues)

    @property
    def good(self) -> np.ndarray:
        return ~self.bad

    def flag(self, mask: np.ndarray, column: str | None, reason: str) -> None:
        new = np.asarray(mask, dtype=bool) & ~self.bad
        if new.any():
            self.issues.extend((int(line), column, reason) for line in self.line[new])
            self.bad |= new

    def has(self, column: str) -> bool:
        return column in self.raw.text

    def text(self, column: str) -> np.ndarray:
        """The column's stripped text ("" where the file leaves it empty or lacks the column)."""
        if column in self.raw.text:
            return self.raw.text[column]
        return np.full(self.n, "", dtype=str)

    def number(self, column: str, *, required: bool = True) -> np.ndarray:
        """The column as float64: NaN where empty (a bad row when ``required``); a value that is
        not a finite number is a bad row."""
        text = self.text(column)
        missing = text == ""
        x = np.asarray(pd.to_numeric(text, errors="coerce"), dtype=np.float64) if self.n else np.zeros(0)
        if required:
            self.flag(missing, column, MISSING)
        self.flag(~missing & ~np.isfinite(x), column, NOT_A_NUMBER)
        return np.where(np.isfinite(x), x, np.nan)

    def count(self, column: str, *, required: bool = True) -> np.ndarray:
        """A whole, non-negative number (GPUs, instances), as float64 (NaN where empty)."""
        x = self.number(column, required=required)
        self.flag(x < 0, column, NEGATIVE)
        self.flag(np.isfinite(x) & (x != np.floor(x)), column, NOT_WHOLE)
        return x

    def report(self, bad_rows: BadRows) -> None:
        for line, column, reason in sorted(self.issues, key=lambda issue: issue[0]):
            bad_rows.bad(line, column, reason)


def job_rows(
    line: np.ndarray,
    submit_s: np.ndarray,
    gpus: np.ndarray,
    duration_s: np.ndarray,
    gpu_model: np.ndarray | None = None,
    group: np.ndarray | None = None,
) -> JobRows:
    """A :class:`JobRows` with the canonical dtypes (``""`` for an absent model or group)."""
    n = len(line)
    return JobRows(
        line=np.asarray(line, dtype=np.int64),
        submit_s=np.asarray(submit_s, dtype=np.float64),
        gpus=np.asarray(gpus, dtype=np.float64),
        duration_s=np.asarray(duration_s, dtype=np.float64),
        gpu_model=np.full(n, "", dtype=object) if gpu_model is None else np.asarray(gpu_model).astype(object),
        group=np.full(n, "", dtype=object) if group is None else np.asarray(group).astype(object),
    )


def log_left_out(path: PathLike, count: int, what: str) -> None:
    if count:
        log.info("%s: left out %d %s", path, count, what)


# ----------------------------------------------------------------------------- alibaba-gpu-2023

#: End of the Alibaba GPU 2023 (openb) trace: the largest ``deletion_time`` of the default pod
#: list, given to the pods that were still running when the trace was taken.
ALIBABA_2023_END_S = 12_902_960.0
POD_PHASES = ("Running", "Succeeded", "Failed", "Pending")


def gpu_alternatives(specs: np.ndarray) -> np.ndarray:
    """``"V100M32|V100M16|V100M32"`` -> ``"V100M16|V100M32"``: sorted, without duplicates."""
    unique, inverse = np.unique(specs, return_inverse=True)
    tidy = np.array(
        ["|".join(sorted({part.strip() for part in s.split("|") if part.strip()})) for s in unique], dtype=object
    )
    return tidy[inverse] if len(specs) else np.zeros(0, dtype=object)


def read_alibaba_2023_jobs(path: PathLike, bad_rows: BadRows, chunk_rows: int = CHUNK_ROWS) -> Iterator[JobRows]:
    """Alibaba GPU 2023 (openb) pod list ``openb_pod_list_*.csv``, one row per pod.

    ``submit_s`` = creation_time; ``gpus`` = num_gpu x gpu_milli / 1000 (a share of one GPU for
    GPU-sharing pods); ``duration_s`` = deletion_time - scheduled_time, NaN for a pod still
    Running at the trace's end (deletion_time = :data:`ALIBABA_2023_END_S`); ``gpu_model`` =
    gpu_spec, alternatives sorted and joined by ``|``; ``group`` = qos. Pods deleted while still
    Pending (never scheduled) are left out.
    """
    pending = 0
    required = ("creation_time", "deletion_time", "scheduled_time", "num_gpu", "gpu_milli", "pod_phase")
    for raw in read_table(path, bad_rows, chunk_rows, required=required, optional=("gpu_spec", "qos")):
        c = Checks(raw)
        created = c.number("creation_time")
        num_gpu = c.count("num_gpu")
        milli = c.number("gpu_milli")
        c.flag((milli < 0) | (milli > 1000), "gpu_milli", "outside 0..1000")
        c.flag((num_gpu > 0) & (milli == 0), "gpu_milli", "0 for a pod that asks for GPUs")
        c.flag((num_gpu == 0) & (milli > 0), "gpu_milli", "a GPU share for a pod with num_gpu 0")
        phase = c.text("pod_phase")
        c.flag(~np.isin(phase, POD_PHASES), "pod_phase", "not Running, Succeeded, Failed or Pending")
        deleted = c.number("deletion_time")
        c.flag(deleted < created, "deletion_time", "before creation_time")
        ran = phase != "Pending"
        scheduled = c.number("scheduled_time", required=False)
        c.flag(ran & np.isnan(scheduled), "scheduled_time", "missing for a pod that was scheduled")
        c.flag(ran & (scheduled < created), "scheduled_time", "before creation_time")
        c.flag(ran & (scheduled > deleted), "scheduled_time", "after deletion_time")
        still_running = (phase == "Running") & (deleted >= ALIBABA_2023_END_S)
        c.flag(ran & ~still_running & (deleted <= scheduled), "deletion_time", NOT_POSITIVE_RUN)
        c.report(bad_rows)
        pending += int((c.good & ~ran).sum())
        keep = c.good & ran
        if not keep.any():
            continue
        yield job_rows(
            raw.line[keep],
            created[keep],
            (num_gpu * milli / 1000.0)[keep],
            np.where(still_running, np.nan, deleted - scheduled)[keep],
            gpu_alternatives(c.text("gpu_spec")[keep]),
            c.text("qos")[keep],
        )
    log_left_out(path, pending, "pods deleted while Pending (never scheduled, so no run time)")


# ----------------------------------------------------------------------------- alibaba-gpu-2020

#: ``pai_task_table.header`` of the Alibaba PAI 2020 trace (the .csv itself has no header).
PAI_TASK_COLUMNS = (
    "job_name",
    "task_name",
    "inst_num",
    "status",
    "start_time",
    "end_time",
    "plan_cpu",
    "plan_mem",
    "plan_gpu",
    "gpu_type",
)
PAI_STATUSES = ("Terminated", "Failed", "Running", "Waiting")


def read_alibaba_2020_jobs(path: PathLike, bad_rows: BadRows, chunk_rows: int = CHUNK_ROWS) -> Iterator[JobRows]:
    """Alibaba PAI 2020 ``pai_task_table.csv``, one row per task (a job's PS and workers are
    separate rows).

    Columns come from the file's header line, else ``pai_task_table.header`` next to it, else
    the documented order. ``submit_s`` = start_time (the task's launch); ``gpus`` = inst_num x
    plan_gpu / 100 (plan_gpu is per instance, in percent of one GPU; empty = 0); ``duration_s``
    = end_time - start_time, NaN when end_time is empty or 0 (still running); ``gpu_model`` =
    gpu_type (the type the task was given). Waiting tasks and tasks with an empty or 0
    start_time were never launched and are left out.
    """
    waiting = 0
    required = ("inst_num", "status", "start_time", "end_time", "plan_gpu")
    for raw in read_table(
        path, bad_rows, chunk_rows, required=required, optional=("gpu_type",), names=PAI_TASK_COLUMNS, sidecar=True
    ):
        c = Checks(raw)
        status = c.text("status")
        c.flag(~np.isin(status, PAI_STATUSES), "status", "not Terminated, Failed, Running or Waiting")
        start = c.number("start_time", required=False)
        c.flag(start < 0, "start_time", NEGATIVE)
        launched = (status != "Waiting") & (start > 0)
        inst = c.count("inst_num", required=False)
        c.flag(launched & np.isnan(inst), "inst_num", MISSING)
        c.flag(launched & (inst == 0), "inst_num", "0 instances")
        plan = c.number("plan_gpu", required=False)
        c.flag(plan < 0, "plan_gpu", NEGATIVE)
        end = c.number("end_time", required=False)
        ended = end > 0
        c.flag(launched & ~ended & (status != "Running"), "end_time", "missing for a task that is not Running")
        c.flag(launched & ended & (end < start), "end_time", "before start_time")
        c.flag(launched & ended & (end == start), "end_time", NOT_POSITIVE_RUN)
        c.report(bad_rows)
        waiting += int((c.good & ~launched).sum())
        keep = c.good & launched
        if not keep.any():
            continue
        yield job_rows(
            raw.line[keep],
            start[keep],
            (inst * np.nan_to_num(plan, nan=0.0) / 100.0)[keep],
            np.where(ended, end - start, np.nan)[keep],
            c.text("gpu_type")[keep],
        )
    log_left_out(path, waiting, "tasks never launched (Waiting, or no start_time)")


# ----------------------------------------------------------------------------- philly


def read_philly_jobs(path: PathLike, bad_rows: BadRows, chunk_rows: int = CHUNK_ROWS) -> Iterator[JobRows]:
    """``philly_runtime.csv`` (Philly job run times, from the Alibaba 2020 analysis folder).

    A sample of run times, not a trace: ``duration_s`` = runtime (s), and ``submit_s`` and
    ``gpus`` are NaN (unknown). Use it as an empirical duration distribution.
    """
    yield from _durations_only(path, bad_rows, chunk_rows, "runtime")


def _durations_only(path: str, bad_rows: BadRows, chunk_rows: int, column: str) -> Iterator[JobRows]:
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


# ----------------------------------------------------------------------------- helios

#: Time origin of Helios replays: the first day of the Helios collection (its ``cluster_log.csv``
#: times are wall-clock strings; the shipped arrival-rate file starts at the same instant).
HELIOS_ORIGIN = pd.Timestamp("2020-04-01 00:00:00")
HELIOS_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def seconds_since(text: np.ndarray, origin: pd.Timestamp, time_format: str) -> np.ndarray:
    """``"2020-06-09 18:41:01"`` -> seconds since ``origin``; NaN where empty or unreadable."""
    if not len(text):
        return np.zeros(0)
    stamps = pd.to_datetime(pd.Series(text, dtype=object), format=time_format, errors="coerce")
    return ((stamps - origin) / pd.Timedelta(seconds=1)).to_numpy(dtype=np.float64, na_value=np.nan)


def read_helios_jobs(path: PathLike, bad_rows: BadRows, chunk_rows: int = CHUNK_ROWS) -> Iterator[JobRows]:
    """A Helios ``cluster_log.csv`` (HeliosData; not shipped here), one row per Slurm job.

    Columns job_id, user, vc, gpu_num, cpu_num, node_num, state, submit_time, start_time,
    end_time, duration, queue. ``submit_s`` = submit_time in s since 2020-04-01 00:00:00;
    ``gpus`` = gpu_num (0 for CPU jobs); ``duration_s`` = duration (end_time - start_time, s);
    ``group`` = vc. Every job in the log has ended (state COMPLETED, CANCELLED, FAILED,
    TIMEOUT, NODE_FAIL), so no duration is NaN; a job with an empty start_time never started
    and is left out.
    """
    not_started = 0
    for raw in read_table(
        path, bad_rows, chunk_rows, required=("submit_time", "gpu_num", "duration"), optional=("start_time", "vc")
    ):
        c = Checks(raw)
        text = c.text("submit_time")
        submit = seconds_since(text, HELIOS_ORIGIN, HELIOS_TIME_FORMAT)
        c.flag(text == "", "submit_time", MISSING)
        c.flag(np.isnan(submit), "submit_time", "not a time like 2020-06-09 18:41:01")
        gpus = c.count("gpu_num")
        started = c.text("start_time") != "" if c.has("start_time") else np.ones(c.n, dtype=bool)
        duration = c.number("duration", required=False)
        c.flag(started & np.isnan(duration), "duration", MISSING)
        c.flag(started & (duration <= 0), "duration", NOT_POSITIVE_RUN)
        c.report(bad_rows)
        not_started += int((c.good & ~started).sum())
        keep = c.good & started
        if keep.any():
            yield job_rows(raw.line[keep], submit[keep], gpus[keep], duration[keep], group=c.text("vc")[keep])
    log_left_out(path, not_started, "jobs that never started (no start_time)")


# ----------------------------------------------------------------------------- csv (generic)

#: The canonical fields a ``columns`` mapping of :func:`read_csv_jobs` may name.
CSV_FIELDS = ("submit", "gpus", "duration", "end", "gpu_model", "group")
CSV_HINT = "a columns mapping from submit, gpus, duration or end, gpu_model, group to the file's column names"


def read_csv_jobs(
    path: PathLike,
    bad_rows: BadRows,
    chunk_rows: int = CHUNK_ROWS,
    columns: dict[str, str] | None = None,
    time_unit: float = 1.0,
) -> Iterator[JobRows]:
    """Any CSV of jobs, given which of its columns holds each canonical field.

    ``columns`` maps ``submit``, ``gpus`` and ``duration`` or ``end`` (required), and
    ``gpu_model``, ``group`` (optional) to the file's column names, e.g. ``{"submit": "t",
    "gpus": "n_gpu", "duration": "runtime_min"}``. Times are numbers; ``time_unit`` is the
    seconds per unit of the file's times (60 for minutes, 0.001 for milliseconds). An empty
    duration or end means the job was still running (NaN); with ``end``, the duration is
    end - submit. GPUs may be fractional.
    """
    mapping = check_csv_columns(path, columns)
    if not (math.isfinite(time_unit) and time_unit > 0):
        raise TraceError(str(path), None, None, f"time_unit: expected seconds per time unit > 0, got {time_unit}")
    required = [mapping[f] for f in ("submit", "gpus", "duration", "end") if f in mapping]
    optional = [mapping[f] for f in ("gpu_model", "group") if f in mapping]
    for raw in read_table(path, bad_rows, chunk_rows, required=required, optional=optional):
        c = Checks(raw)
        submit = c.number(mapping["submit"]) * time_unit
        gpus = c.number(mapping["gpus"])
        c.flag(gpus < 0, mapping["gpus"], NEGATIVE)
        if "duration" in mapping:
            duration = c.number(mapping["duration"], required=False) * time_unit
            c.flag(duration <= 0, mapping["duration"], NOT_POSITIVE_RUN)
        else:
            end = c.number(mapping["end"], required=False) * time_unit
            c.flag(end < submit, mapping["end"], f"before {mapping['submit']}")
            duration = end - submit
            c.flag(duration == 0, mapping["end"], NOT_POSITIVE_RUN)
        c.report(bad_rows)
        keep = c.good
        if keep.any():
            model = c.text(mapping["gpu_model"])[keep] if "gpu_model" in mapping else None
            group = c.text(mapping["group"])[keep] if "group" in mapping else None
            yield job_rows(raw.line[keep], submit[keep], gpus[keep], duration[keep], model, group)


def check_csv_columns(path: PathLike, columns: dict[str, str] | None) -> dict[str, str]:
    """The mapping of :func:`read_csv_jobs`, or a :class:`TraceError` saying what is wrong."""
    if not columns:
        raise TraceError(str(path), None, None, f"the csv format needs {CSV_HINT}")
    unknown = [k for k in columns if k not in CSV_FIELDS]
    if unknown:
        raise TraceError(
            str(path), None, None, f"columns: unknown field {unknown[0]!r} (expected {', '.join(CSV_FIELDS)})"
        )
    missing = [k for k in ("submit", "gpus") if k not in columns]
    if missing:
        raise TraceError(str(path), None, None, f"columns: {missing[0]!r} is required ({CSV_HINT})")
    if ("duration" in columns) == ("end" in columns):
        raise TraceError(str(path), None, None, "columns: give exactly one of 'duration' and 'end'")
    return dict(columns)


def read_csv_unmapped(path: PathLike, bad_rows: BadRows, chunk_rows: int = CHUNK_ROWS) -> Iterator[JobRows]:
    """The registered ``csv`` reader: without a mapping it can only say what it needs."""
    raise TraceError(
        str(path), None, None, f"the csv format needs {CSV_HINT} (read it with read_csv_jobs(..., columns=...))"
    )


# ----------------------------------------------------------------------------- registry

register(
    TraceFormat(
        "alibaba-gpu-2023",
        "jobs",
        read_alibaba_2023_jobs,
        "Alibaba GPU 2023 (openb, FGD ATC'23) pod list openb_pod_list_*.csv: fractional GPUs, GPU-type constraints",
        time_end_s=ALIBABA_2023_END_S,
    )
)
register(
    TraceFormat(
        "alibaba-gpu-2020",
        "jobs",
        read_alibaba_2020_jobs,
        "Alibaba PAI 2020 (NSDI'22) pai_task_table.csv (downloaded separately), one row per task",
    )
)
register(
    TraceFormat(
        "philly",
        "jobs",
        read_philly_jobs,
        "Philly run times (philly_runtime.csv): a duration sample only, submit_s and gpus are NaN",
    )
)
register(
    TraceFormat(
        "gavel",
        "jobs",
        read_gavel_jobs,
        "Gavel (OSDI'20) Philly-derived *.trace; steps turned into seconds on a V100 with simulation_throughputs.json",
    )
)
register(
    TraceFormat(
        "tiresias",
        "jobs",
        read_tiresias_jobs,
        "Tiresias (NSDI'19) 60_job.csv jobs, or yarn-gput10000.csv GPU-time sample (submit_s and gpus NaN)",
    )
)
register(
    TraceFormat(
        "helios",
        "jobs",
        read_helios_jobs,
        "SenseTime Helios (SC'21) cluster_log.csv (downloaded separately), one row per Slurm job",
    )
)
register(
    TraceFormat(
        "csv",
        "jobs",
        read_csv_unmapped,
        "any CSV of jobs, through read_csv_jobs(path, bad_rows, chunk_rows, columns={...}, time_unit=...)",
    )
)
