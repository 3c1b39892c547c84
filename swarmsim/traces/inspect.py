"""What a trace holds, and the synthetic workload that reproduces it (``swarmsim trace inspect``
and ``swarmsim trace fit``; docs/traces.md, "Tools").

:func:`inspect_trace` streams a trace once through its reader and keeps running aggregates only:
counts by hour of day, exact counters of GPU counts and models, and a bounded uniform reservoir
(:class:`Reservoir`) of durations and token counts for quantiles and fits. Memory does not grow
with the file. :mod:`swarmsim.traces.fit` turns that :class:`TraceSummary` into a ``workloads:``
entry. Nothing here prints; the CLI does.

Arrivals follow what a replay keeps (:mod:`swarmsim.workloads.replay`): rows with a submit time
and, for jobs, at least some GPU.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np

from swarmsim.errors import ArgumentError, ScenarioError, did_you_mean
from swarmsim.traces import CHUNK_ROWS, BadRows, JobRows, NodeRows, Rows, TraceError
from swarmsim.units import format_duration

#: Values kept per reservoir: quantiles and fits are exact up to this many rows.
RESERVOIR_SIZE = 100_000

_DAY_S = 86_400.0
_HOUR_S = 3_600.0

#: A diurnal shape needs the trace to cover every hour of the day at least once.
MIN_DIURNAL_SPAN_S = _DAY_S

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95, 0.99)


# --- streaming aggregates ------------------------------------------------------------------------


class Reservoir:
    """A uniform random sample of at most ``size`` values of a stream (Algorithm R, vectorised
    per chunk). With ``seen <= size`` it holds every value, so its quantiles are exact."""

    def __init__(self, size: int, rng: np.random.Generator) -> None:
        self.size, self.rng = size, rng
        self.values = np.empty(0, dtype=np.float64)
        self.seen = 0

    def add(self, x: np.ndarray) -> None:
        x = np.asarray(x, dtype=np.float64)
        room = self.size - len(self.values)
        if room > 0:
            self.values = np.concatenate([self.values, x[:room]])
            self.seen += min(room, len(x))
            x = x[room:]
        if len(x):
            # Item number i (0-based over the stream) replaces slot j ~ U{0..i} when j < size;
            # numpy's fancy assignment keeps the last of repeated slots, as the loop would.
            j = self.rng.integers(0, self.seen + np.arange(len(x)) + 1)
            hit = j < self.size
            self.values[j[hit]] = x[hit]
            self.seen += len(x)

    def quantiles(self, qs: tuple[float, ...] = QUANTILES) -> dict[float, float]:
        if not len(self.values):
            return {}
        return dict(zip(qs, np.quantile(self.values, qs).tolist(), strict=True))


@dataclass
class TraceSummary:
    """Everything :func:`inspect_trace` learnt from one pass over a trace.

    Times are seconds of the trace's own clock (``submit_s``). ``clock`` is the date-time that
    ``submit_s`` 0 stands for when the format records one, else None (time 0 is then taken as
    00:00). ``hour_counts`` and ``hour_exposure_s`` are arrivals and seconds covered per hour of
    day, between the first and the last arrival. Arrival figures count only rows a replay keeps.
    """

    path: str
    format: str
    kind: Literal["jobs", "requests", "nodes"]
    bad: BadRows
    clock: datetime | None = None
    rows: int = 0
    arrivals: int = 0
    no_submit: int = 0
    cpu_only: int = 0
    first_s: float = math.inf
    last_s: float = -math.inf
    out_of_order: int = 0
    first_out_of_order_line: int | None = None
    hour_counts: np.ndarray = field(default_factory=lambda: np.zeros(24, dtype=np.int64))
    hour_exposure_s: np.ndarray = field(default_factory=lambda: np.zeros(24))
    gpus: Counter[float] = field(default_factory=Counter)
    gpu_models: Counter[str] = field(default_factory=Counter)
    running: int = 0
    nonpositive: int = 0
    first_nonpositive_line: int | None = None
    durations: Reservoir | None = None
    prompt_tokens: Reservoir | None = None
    output_tokens: Reservoir | None = None
    nodes: Counter[tuple[str, int]] = field(default_factory=Counter)

    @property
    def span_s(self) -> float:
        """Last minus first arrival, s (0 without arrivals)."""
        return self.last_s - self.first_s if self.arrivals else 0.0

    @property
    def mean_rate_per_s(self) -> float:
        """Arrivals over the span, per second (NaN for a span of 0)."""
        return self.arrivals / self.span_s if self.span_s > 0 else math.nan

    def hourly_rate_per_h(self) -> np.ndarray:
        """Arrivals per hour by hour of day of the trace's clock (NaN where no time was covered)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            rate = self.hour_counts / self.hour_exposure_s * _HOUR_S
        return np.where(self.hour_exposure_s > 0, rate, np.nan)

    def warnings(self) -> list[str]:
        """What looks odd in the trace, one sentence each."""
        out = []
        if self.out_of_order:
            out.append(f"{self.out_of_order:,} rows are earlier than a row before them (first at line "
                       f"{self.first_out_of_order_line}); a replay needs rows in submit order")
        if self.nonpositive:
            out.append(f"{self.nonpositive:,} jobs ran for 0 s or less (first at line {self.first_nonpositive_line})")
        if self.running:
            out.append(f"{self.running:,} jobs were still running when the trace ends (no duration; "
                       "a replay runs them to the horizon)")
        if self.no_submit:
            out.append(f"{self.no_submit:,} rows have no submit time (this format records durations only)"
                       if self.no_submit == self.rows else f"{self.no_submit:,} rows have no submit time")
        if self.cpu_only:
            out.append(f"{self.cpu_only:,} rows ask for no GPU (CPU work): a replay leaves them out, and so "
                       "do the arrival figures")
        if self.kind != "nodes" and self.arrivals and self.span_s < MIN_DIURNAL_SPAN_S:
            out.append(f"the arrivals span {format_duration(self.span_s)}, less than a day: no daily shape "
                       "can be read from them")
        for reason, count in sorted(self.bad.skipped.items(), key=lambda kv: -kv[1]):
            out.append(f"{count:,} bad rows skipped: {reason} (first at line {self.bad.first_line.get(reason)})")
        return out


def inspect_trace(
    path: str | Path,
    fmt: str,
    *,
    on_bad_rows: Literal["error", "skip"] = "error",
    columns: dict[str, str] | None = None,
    time_unit: float = 1.0,
    chunk_rows: int = CHUNK_ROWS,
    reservoir: int = RESERVOIR_SIZE,
    seed: int = 0,
) -> TraceSummary:
    """Read a trace once and summarise it (bounded memory, whatever the file's size).

    Args:
        path: the trace file.
        fmt: a name of :data:`~swarmsim.traces.FORMATS` (``csv`` needs ``columns``).
        on_bad_rows: ``error`` stops at the first bad row with a :class:`TraceError`; ``skip``
            counts them by reason in ``summary.bad``.
        columns, time_unit: for ``csv``, as in :func:`swarmsim.traces.jobs.read_csv_jobs`.
        reservoir: values kept per sampled quantity (durations, token counts).
        seed: of the reservoir's random stream.
    """
    from swarmsim.traces.formats import FORMATS

    path = str(path)
    if fmt not in FORMATS:
        raise ArgumentError(path, [("fmt", _unknown_format(fmt, FORMATS))])
    if fmt == "csv" and not columns:
        raise TraceError(path, None, "columns", "format csv needs the file's column of each field: submit, gpus, "
                         "and duration or end (optional gpu_model, group), e.g. submit=t,gpus=n_gpu,duration=runtime")
    bad = BadRows(on_bad_rows, file=path)
    rng = np.random.default_rng(seed)
    summary = TraceSummary(path=path, format=fmt, kind=FORMATS[fmt].kind, bad=bad)
    if summary.kind == "jobs":
        summary.durations = Reservoir(reservoir, rng)
    elif summary.kind == "requests":
        summary.prompt_tokens = Reservoir(reservoir, rng)
        summary.output_tokens = Reservoir(reservoir, rng)
    summary.clock = _guarded(path, fmt, lambda: trace_clock(fmt, path))
    for rows in _read(path, fmt, bad, chunk_rows, columns, time_unit):
        _add(summary, rows)
    if summary.rows == 0 and not bad.total:
        raise TraceError(path, None, None, f"no rows: the file holds no {summary.kind} in format {fmt}")
    if summary.arrivals:
        summary.hour_exposure_s = hour_exposure(summary.first_s, summary.last_s, _clock_offset_s(summary.clock))
    return summary


def trace_clock(fmt: str, path: str) -> datetime | None:
    """The date-time ``submit_s`` 0 stands for, for formats that record one (Azure LLM, Alibaba
    GenAI 2026), else None."""
    from swarmsim.traces import requests

    origin = {"azure-llm": "azure_time_origin", "alibaba-genai-2026": "genai_time_origin"}.get(fmt)
    reader = getattr(requests, origin, None) if origin else None
    return reader(path) if reader is not None else None


def hour_exposure(first_s: float, last_s: float, offset_s: float = 0.0) -> np.ndarray:
    """Seconds of [first_s, last_s] that fall in each hour of day, 24 values, for a clock on
    which trace time 0 is ``offset_s`` seconds after midnight."""
    out = np.zeros(24)
    start, end = first_s + offset_s, last_s + offset_s
    days = math.floor((end - start) / _DAY_S)
    out += days * _HOUR_S
    t = start + days * _DAY_S
    while t < end:
        hour = math.floor(t / _HOUR_S)
        step = min((hour + 1) * _HOUR_S, end) - t
        out[hour % 24] += step
        t += step
    return out


def _clock_offset_s(clock: datetime | None) -> float:
    if clock is None:
        return 0.0
    return clock.hour * _HOUR_S + clock.minute * 60.0 + clock.second + clock.microsecond / 1e6


#: What a reader may raise on a malformed file besides a TraceError (turned into one).
_READ_ERRORS = (OSError, UnicodeError, ValueError, KeyError, IndexError, TypeError)


def _guarded(path: str, fmt: str, call: Any) -> Any:
    try:
        return call()
    except ScenarioError:
        raise
    except _READ_ERRORS as err:
        raise TraceError(path, None, None, f"cannot be read as format {fmt}: {err}") from None


def _read(path: str, fmt: str, bad: BadRows, chunk_rows: int, columns: dict[str, str] | None,
          time_unit: float) -> Iterator[Rows]:
    """The format's chunks; a reader's own unexpected failure on a malformed file becomes a
    :class:`TraceError` naming the file."""
    from swarmsim.traces.formats import FORMATS

    try:
        if fmt == "csv":
            from swarmsim.traces.jobs import read_csv_jobs

            yield from read_csv_jobs(path, bad, chunk_rows, columns, time_unit)
        else:
            yield from FORMATS[fmt].read(path, bad, chunk_rows)
    except ScenarioError:
        raise
    except _READ_ERRORS as err:
        raise TraceError(path, None, None, f"cannot be read as format {fmt}: {err}") from None


def _add(s: TraceSummary, rows: Rows) -> None:
    n = len(rows.line)
    s.rows += n
    if isinstance(rows, NodeRows):
        for model, gpus, count in zip(rows.gpu_model, rows.gpus, rows.count, strict=True):
            s.nodes[(str(model), int(gpus))] += int(count)
        return
    submit = rows.submit_s
    has_time = ~np.isnan(submit)
    s.no_submit += int(n - has_time.sum())
    keep = has_time
    if isinstance(rows, JobRows):
        gpu = rows.gpus > 0
        s.cpu_only += int((~gpu & ~np.isnan(rows.gpus)).sum())
        keep = keep & gpu
        _add_jobs(s, rows, gpu)
    else:
        s.prompt_tokens.add(rows.prompt_tokens)  # type: ignore[union-attr]  # a requests summary has token counters
        s.output_tokens.add(rows.output_tokens)  # type: ignore[union-attr]  # a requests summary has token counters
    t = submit[keep]
    if not len(t):
        return
    # Out of order: earlier than the latest time seen before it (in this chunk or earlier).
    running_max = np.maximum.accumulate(np.concatenate([[s.last_s], t]))[:-1]
    late = t < running_max
    if late.any():
        s.out_of_order += int(late.sum())
        if s.first_out_of_order_line is None:
            s.first_out_of_order_line = int(rows.line[keep][np.argmax(late)])
    s.arrivals += len(t)
    s.first_s = min(s.first_s, float(t.min()))
    s.last_s = max(s.last_s, float(t.max()))
    hours = np.floor(((t + _clock_offset_s(s.clock)) % _DAY_S) / _HOUR_S).astype(np.int64)
    s.hour_counts += np.bincount(np.clip(hours, 0, 23), minlength=24)


def _add_jobs(s: TraceSummary, rows: JobRows, gpu: np.ndarray) -> None:
    """GPU counts, models and durations of the GPU jobs of a chunk (all of them when the format
    records no GPU counts, as for a run-time sample)."""
    if np.isnan(rows.gpus).all():
        gpu = np.ones(len(rows.gpus), dtype=bool)
    else:
        s.gpus.update(np.round(rows.gpus[gpu], 3).tolist())
        s.gpu_models.update(str(m) for m in rows.gpu_model[gpu])
    d = rows.duration_s[gpu]
    finite = ~np.isnan(d)
    s.running += int((~finite).sum())
    nonpositive = finite & (d <= 0)
    if nonpositive.any():
        s.nonpositive += int(nonpositive.sum())
        if s.first_nonpositive_line is None:
            s.first_nonpositive_line = int(rows.line[gpu][np.argmax(nonpositive)])
    s.durations.add(d[finite & (d > 0)])  # type: ignore[union-attr]  # a jobs summary has durations


def _unknown_format(fmt: str, formats: dict[str, Any]) -> str:
    return f"unknown trace format {fmt!r}{did_you_mean(fmt, formats)}; known: {', '.join(sorted(formats))}"
