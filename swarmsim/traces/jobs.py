"""Readers of GPU-cluster job traces, streamed into :class:`~swarmsim.traces.JobRows` chunks.

One reader per format, each registered in :data:`~swarmsim.traces.FORMATS` at import:
``alibaba-gpu-2023``, ``alibaba-gpu-2020``, ``philly``, ``gavel``, ``tiresias``, ``helios`` and
``csv`` (generic, through :func:`read_csv_jobs` and a column mapping). ``docs/traces.md`` says,
per format, which column becomes which field and what the reader decides where the trace is
ambiguous: fractional GPUs, jobs still running when the trace ends, jobs that never started,
durations given in training steps.

The readers of two families live beside this module (:mod:`swarmsim.traces.alibaba`,
:mod:`swarmsim.traces.philly` for philly, gavel and tiresias), and the rules every reader shares
in :mod:`swarmsim.traces.table` (chunked ``csv`` reading, 1-based lines, row checks, bad rows).
This module holds ``helios`` and the generic ``csv`` reader, and registers every job format.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import pandas as pd

from swarmsim.traces import CHUNK_ROWS, BadRows, JobRows, TraceError, TraceFormat, register
from swarmsim.traces.alibaba import (
    ALIBABA_2023_END_S,
    PAI_STATUSES,
    PAI_TASK_COLUMNS,
    POD_PHASES,
    gpu_alternatives,
    read_alibaba_2020_jobs,
    read_alibaba_2023_jobs,
)
from swarmsim.traces.philly import (
    GAVEL_COLUMNS,
    GAVEL_REFERENCE_WORKER,
    GAVEL_THROUGHPUTS,
    TIRESIAS_JOB_COLUMNS,
    find_gavel_throughputs,
    gavel_steps_per_s,
    load_gavel_throughputs,
    read_gavel_jobs,
    read_philly_jobs,
    read_tiresias_jobs,
)
from swarmsim.traces.table import (
    MISSING,
    NEGATIVE,
    NOT_A_NUMBER,
    NOT_POSITIVE_RUN,
    NOT_WHOLE,
    Checks,
    PathLike,
    RawChunk,
    job_rows,
    log_left_out,
    numbered,
    open_trace,
    peek_header,
    read_table,
    require_file,
    sidecar_header,
)

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


__all__ = [
    "ALIBABA_2023_END_S",
    "CSV_FIELDS",
    "CSV_HINT",
    "GAVEL_COLUMNS",
    "GAVEL_REFERENCE_WORKER",
    "GAVEL_THROUGHPUTS",
    "HELIOS_ORIGIN",
    "HELIOS_TIME_FORMAT",
    "MISSING",
    "NEGATIVE",
    "NOT_A_NUMBER",
    "NOT_POSITIVE_RUN",
    "NOT_WHOLE",
    "PAI_STATUSES",
    "PAI_TASK_COLUMNS",
    "POD_PHASES",
    "TIRESIAS_JOB_COLUMNS",
    "Checks",
    "PathLike",
    "RawChunk",
    "check_csv_columns",
    "find_gavel_throughputs",
    "gavel_steps_per_s",
    "gpu_alternatives",
    "job_rows",
    "load_gavel_throughputs",
    "log_left_out",
    "numbered",
    "open_trace",
    "peek_header",
    "read_alibaba_2020_jobs",
    "read_alibaba_2023_jobs",
    "read_csv_jobs",
    "read_csv_unmapped",
    "read_gavel_jobs",
    "read_helios_jobs",
    "read_philly_jobs",
    "read_table",
    "read_tiresias_jobs",
    "require_file",
    "seconds_since",
    "sidecar_header",
]
