"""What a trace holds, and the synthetic workload that reproduces it (``swarmsim trace inspect``
and ``swarmsim trace fit``; docs/traces.md, "Tools").

:func:`inspect_trace` streams a trace once through its reader and keeps running aggregates only:
counts by hour of day, exact counters of GPU counts and models, and a bounded uniform reservoir
(:class:`Reservoir`) of durations and token counts for quantiles and fits. Memory does not grow
with the file. :func:`fit_workload` turns that :class:`TraceSummary` into a ``workloads:`` entry
(:class:`WorkloadFit`), and :func:`fit_yaml` writes it as YAML with comments that say how each
number was chosen. Nothing here prints; the CLI does.

Arrivals follow what a replay keeps (:mod:`swarmsim.workloads.replay`): rows with a submit time
and, for jobs, at least some GPU.
"""

from __future__ import annotations

import math
import re
import warnings
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np

from swarmsim.errors import ScenarioError
from swarmsim.traces import CHUNK_ROWS, BadRows, JobRows, NodeRows, Rows, TraceError
from swarmsim.units import format_duration

#: Values kept per reservoir: quantiles and fits are exact up to this many rows.
RESERVOIR_SIZE = 100_000

_DAY_S = 86_400.0
_HOUR_S = 3_600.0

#: A diurnal shape needs the trace to cover every hour of the day at least once.
MIN_DIURNAL_SPAN_S = _DAY_S

#: Below this p-value of the likelihood-ratio test (cosine profile against a flat one) the
#: daily shape is kept; above it the profile is called flat and arrivals are Poisson.
FLAT_P_VALUE = 0.01

#: Largest amplitude a fitted cosine may take (peak_to_trough = 1.99 / 0.01 = 199).
_MAX_AMPLITUDE = 0.99

#: Mean of cos over one hour-wide bin divided by its value at the bin's middle: hourly counts
#: see the cosine's amplitude shrunk by this factor, which the fit undoes.
_BIN_ATTENUATION = math.sin(math.pi / 24) / (math.pi / 24)

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
        raise ScenarioError(path, [("--format", _unknown_format(fmt, FORMATS))])
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
        s.prompt_tokens.add(rows.prompt_tokens)  # type: ignore[union-attr]
        s.output_tokens.add(rows.output_tokens)  # type: ignore[union-attr]
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
    s.durations.add(d[finite & (d > 0)])  # type: ignore[union-attr]


def _unknown_format(fmt: str, formats: dict[str, Any]) -> str:
    import difflib

    close = difflib.get_close_matches(fmt, list(formats), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown trace format {fmt!r}{hint}; known: {', '.join(sorted(formats))}"


# --- fits ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DailyFit:
    """The cosine profile of :class:`~swarmsim.scenario.DiurnalArrivals` fitted to hourly rates:
    rate(h) = mean_rate (1 + a cos(2π (h - peak_hour) / 24)), a = (ptt - 1) / (ptt + 1)."""

    mean_rate_per_s: float
    peak_to_trough: float
    peak_hour: float  # on the trace's clock, hours
    p_value: float  # likelihood-ratio test of the cosine profile against a flat one

    @property
    def amplitude(self) -> float:
        return (self.peak_to_trough - 1.0) / (self.peak_to_trough + 1.0)


def fit_daily(hour_counts: np.ndarray, hour_exposure_s: np.ndarray) -> DailyFit:
    """Weighted least squares of hourly rates on the cosine profile of swarmsim's diurnal process
    (:func:`swarmsim.workloads.arrivals.diurnal_factor`); weights are the seconds each hour of
    day was covered (the variance of a Poisson rate estimate falls as 1 / exposure). The
    amplitude is corrected for averaging the cosine over hour-wide bins. The p-value compares the
    Poisson deviances of the flat and the cosine profiles (chi-squared, 2 degrees of freedom)."""
    from scipy import stats

    n = np.asarray(hour_counts, dtype=np.float64)
    e = np.asarray(hour_exposure_s, dtype=np.float64)
    covered = e > 0
    theta = 2.0 * math.pi * (np.arange(24) + 0.5) / 24.0
    x = np.column_stack([np.ones(24), np.cos(theta), np.sin(theta)])[covered]
    w = np.sqrt(e[covered])
    rate = n[covered] / e[covered]
    beta, *_ = np.linalg.lstsq(x * w[:, None], rate * w, rcond=None)
    mean_rate = float(beta[0])
    if mean_rate <= 0:
        mean_rate = float(n.sum() / e.sum())
    amplitude = min(math.hypot(beta[1], beta[2]) / _BIN_ATTENUATION / mean_rate, _MAX_AMPLITUDE)
    phase = math.atan2(beta[2], beta[1])
    peak_hour = (phase * 24.0 / (2.0 * math.pi)) % 24.0
    mu_cos = e[covered] * mean_rate * (1.0 + amplitude * _BIN_ATTENUATION * np.cos(theta[covered] - phase))
    mu_flat = e[covered] * n.sum() / e.sum()
    lr = _deviance(n[covered], mu_flat) - _deviance(n[covered], mu_cos)
    p = float(stats.chi2.sf(max(lr, 0.0), 2))
    return DailyFit(mean_rate, (1.0 + amplitude) / (1.0 - amplitude), round(peak_hour, 2) % 24.0, p)


def _deviance(n: np.ndarray, mu: np.ndarray) -> float:
    with np.errstate(divide="ignore", invalid="ignore"):
        term = np.where(n > 0, n * np.log(n / mu), 0.0)
    return float(2.0 * np.sum(term - (n - mu)))


@dataclass(frozen=True)
class DistFit:
    """One fitted distribution: its ``dist:`` mapping for the YAML (swarmsim units, as text) and
    how it was chosen."""

    spec: dict[str, Any]
    note: str
    candidates: dict[str, float] = field(default_factory=dict)  # name -> AIC


def fit_duration(x: np.ndarray) -> DistFit:
    """The duration distribution (s) among lognormal, gamma, Weibull and exponential with the
    lowest AIC, each fitted by maximum likelihood (``scipy.stats``, location fixed at 0)."""
    from scipy import stats

    x = np.asarray(x, dtype=np.float64)
    x = x[x > 0]
    if not len(x):
        raise ValueError("no finished job with a positive duration")
    if np.all(x == x[0]):
        return DistFit({"dist": "constant", "value": format_duration(x[0])}, "every duration is the same")
    fits: dict[str, tuple[float, dict[str, Any]]] = {}
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        s, _, scale = stats.lognorm.fit(x, floc=0)
        fits["lognormal"] = (_aic(stats.lognorm.logpdf(x, s, scale=scale), 2),
                             {"dist": "lognormal", "median": format_duration(scale), "sigma": _num(s)})
        a, _, scale = stats.gamma.fit(x, floc=0)
        fits["gamma"] = (_aic(stats.gamma.logpdf(x, a, scale=scale), 2),
                         {"dist": "gamma", "mean": format_duration(a * scale), "cv": _num(1.0 / math.sqrt(a))})
        c, _, scale = stats.weibull_min.fit(x, floc=0)
        fits["weibull"] = (_aic(stats.weibull_min.logpdf(x, c, scale=scale), 2),
                           {"dist": "weibull", "shape": _num(c), "scale": format_duration(scale)})
        _, scale = stats.expon.fit(x, floc=0)
        fits["exponential"] = (_aic(stats.expon.logpdf(x, scale=scale), 1),
                               {"dist": "exponential", "mean": format_duration(scale)})
    aics = {k: v[0] for k, v in fits.items() if math.isfinite(v[0])}
    best = min(aics, key=lambda k: aics[k])
    table = ", ".join(f"{k} {aics[k] - aics[best]:+.1f}" for k in sorted(aics, key=lambda k: aics[k]))
    note = (f"{best} by the lowest AIC among maximum-likelihood fits to {len(x):,} durations "
            f"(AIC minus the best: {table})")
    return DistFit(fits[best][1], note, aics)


def _aic(logpdf: np.ndarray, k: int) -> float:
    ll = float(np.sum(logpdf))
    return 2 * k - 2 * ll if math.isfinite(ll) else math.inf


def fit_tokens(x: np.ndarray) -> DistFit:
    """A lognormal for token counts whose median is the trace's median (so the synthetic median
    matches it) and whose sigma is the maximum-likelihood sigma given that median; the plain
    maximum-likelihood fit is reported in the note. Zero counts are left out of sigma."""
    x = np.asarray(x, dtype=np.float64)
    median = float(np.median(x)) if len(x) else 0.0
    if median <= 0:
        return DistFit({"dist": "constant", "value": 0}, "the median count is 0")
    positive = x[x > 0]
    logs = np.log(positive)
    sigma = math.sqrt(float(np.mean((logs - math.log(median)) ** 2)))
    note = (f"lognormal with the trace's median {_num(median)} and sigma {_num(sigma)} by maximum likelihood "
            f"given that median (plain maximum likelihood: median {_num(math.exp(logs.mean()))}, "
            f"sigma {_num(logs.std() if logs.std() > 1e-9 else 0.0)})")
    zeros = len(x) - len(positive)
    if zeros:
        note += f"; {zeros:,} counts of 0 are left out of sigma"
    return DistFit({"dist": "lognormal", "median": _num(median), "sigma": _num(sigma)}, note)


def fit_gpus(gpus: Counter[float]) -> DistFit:
    """An empirical GPU-count distribution: the traced counts in whole GPUs (a fractional request
    rounded up, as a replay's ``fractional_gpus: ceil``), weighted by their number of jobs."""
    whole: Counter[int] = Counter()
    fractional = 0
    for value, count in gpus.items():
        if value <= 0 or math.isnan(value):
            continue
        up = max(1, math.ceil(value - 1e-9))
        fractional += count if up != value else 0
        whole[up] += count
    if not whole:
        raise ValueError("no job asks for a GPU")
    values = sorted(whole)
    total = sum(whole.values())
    shares = ", ".join(f"{v}: {whole[v] / total:.3f}" for v in values[:12])
    note = f"empirical from {total:,} jobs (share by GPUs: {shares}{', ...' if len(values) > 12 else ''})"
    if fractional:
        note += (f"; {fractional:,} jobs asking for a fractional number of GPUs are rounded up "
                 "(as a replay does with fractional_gpus: ceil)")
    if len(values) == 1:
        return DistFit({"dist": "constant", "value": values[0]}, note)
    return DistFit({"dist": "empirical", "values": values, "weights": [whole[v] for v in values]}, note)


@dataclass(frozen=True)
class WorkloadFit:
    """A fitted ``workloads:`` entry: ``spec`` is the workload's mapping (text values in swarmsim
    units), ``notes`` say how each part was fitted (key -> sentence)."""

    name: str
    spec: dict[str, Any]
    notes: dict[str, str]
    header: str
    daily: DailyFit | None = None


def fit_workload(summary: TraceSummary, origin: str = "us-east", name: str | None = None) -> WorkloadFit:
    """The synthetic workload that reproduces a summarised trace, for users in ``origin``.

    Arrivals: ``diurnal`` from :func:`fit_daily` when the trace covers at least a day and its
    hourly profile is not flat (p < :data:`FLAT_P_VALUE`), else ``poisson`` at the mean rate.
    The peak hour is read on the trace's clock, taken as the origin's local time; a clock in UTC
    (Azure 2024) is moved to the origin's local time by its catalog UTC offset. Jobs: GPU counts
    (:func:`fit_gpus`) and durations (:func:`fit_duration`); requests: token counts
    (:func:`fit_tokens`).
    """
    where = summary.path
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", origin):
        raise ScenarioError(where, [("--origin", f"expected a region name such as us-east, got {origin!r}")])
    if summary.kind == "nodes":
        raise ScenarioError(where, [("", f"format {summary.format} is a node list: it has no arrivals to fit "
                                     "(swarmsim trace inspect shows its GPU models)")])
    if summary.arrivals < 2 or summary.span_s <= 0:
        why = ("no row has a submit time" if summary.no_submit == summary.rows
               else f"{summary.arrivals} arrival(s) over {format_duration(summary.span_s)}")
        raise ScenarioError(where, [("", f"cannot fit arrivals: {why}")])
    name = name or _workload_name(summary.path)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
        raise ScenarioError(where, [("--name", f"expected letters, digits, '.', '_' or '-', got {name!r}")])
    notes: dict[str, str] = {}
    arrivals, daily = _fit_arrivals(summary, origin, notes)
    spec: dict[str, Any] = {"kind": "inference" if summary.kind == "requests" else "jobs",
                            "arrivals": arrivals, "origin": {origin: 1.0}}
    try:
        if summary.kind == "jobs":
            gpus = fit_gpus(summary.gpus)
            spec["gpus"], notes["gpus"] = gpus.spec, gpus.note
            duration = fit_duration(summary.durations.values)  # type: ignore[union-attr]
            spec["duration"] = duration.spec
            notes["duration"] = duration.note + "; traced run times are taken as run times on the reference GPU"
            if summary.running:
                notes["duration"] += (f"; {summary.running:,} jobs still running at the end are left out "
                                      "(their durations are censored, so the fit leans short)")
        else:
            for key in ("prompt_tokens", "output_tokens"):
                fit = fit_tokens(getattr(summary, key).values)
                spec[key], notes[key] = fit.spec, fit.note
    except ValueError as err:
        raise ScenarioError(where, [("", f"cannot fit: {err}")]) from None
    noun = "requests" if summary.kind == "requests" else "jobs"
    header = (f"swarmsim trace fit: {Path(summary.path).name} ({summary.format}), {summary.arrivals:,} {noun} "
              f"over {format_duration(summary.span_s)}")
    return WorkloadFit(name, spec, notes, header, daily)


def _fit_arrivals(s: TraceSummary, origin: str, notes: dict[str, str]) -> tuple[dict[str, Any], DailyFit | None]:
    rate = s.mean_rate_per_s
    poisson = {"process": "poisson", "rate": format_rate(rate)}
    base = f"{s.arrivals:,} arrivals over {format_duration(s.span_s)}"
    if s.span_s < MIN_DIURNAL_SPAN_S:
        notes["arrivals"] = (f"poisson at the mean rate ({base}): the trace spans less than a day, so no "
                             "daily shape can be fitted from it; use diurnal with a peak_to_trough and "
                             "peak_hour from a longer trace to add one")
        return poisson, None
    daily = fit_daily(s.hour_counts, s.hour_exposure_s)
    if daily.p_value >= FLAT_P_VALUE:
        notes["arrivals"] = (f"poisson at the mean rate ({base}): the hourly profile is flat (a cosine with "
                             f"peak_to_trough {daily.peak_to_trough:.3g} is no better, p {_p_text(daily.p_value)})")
        return poisson, daily
    peak, clock_note = _local_peak(daily.peak_hour, s.clock, origin)
    notes["arrivals"] = (f"diurnal by least squares on the hourly profile ({base}; against a flat profile "
                         f"p = {daily.p_value:.2g}); {clock_note}")
    return {"process": "diurnal", "mean_rate": format_rate(daily.mean_rate_per_s),
            "peak_to_trough": _num(daily.peak_to_trough), "peak_hour": round(peak, 2) % 24.0}, daily


def _p_text(p: float) -> str:
    return "< 1e-12" if p < 1e-12 else f"= {p:.2g}"


def _local_peak(peak_hour: float, clock: datetime | None, origin: str) -> tuple[float, str]:
    """The peak in the origin's local time, and a sentence saying how it was read."""
    from swarmsim import catalog

    if clock is None:
        return peak_hour, "peak_hour counts hours from the trace's time 0, taken as 00:00 local time"
    if clock.tzinfo is None:
        return peak_hour, "peak_hour is on the trace's own clock, taken as the origin's local time"
    site = catalog.find_region(origin)
    if site is None:
        return peak_hour, f"peak_hour is in UTC ({origin!r} is not a catalog region: set its local hour by hand)"
    local = (peak_hour + site.utc_offset) % 24.0
    return local, f"peak_hour moved from UTC to {origin} local time (UTC{site.utc_offset:+g})"


def _workload_name(path: str) -> str:
    stem = Path(path).name.split(".")[0]
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-._")
    return name if name and name[0].isalnum() else f"trace-{name}" if name else "trace"


def format_rate(rate_per_s: float) -> str:
    """A rate with a unit that keeps the number readable: ``5.528/s``, ``20.5/h``, ``3.2/d``."""
    if rate_per_s >= 1.0:
        return f"{_num(rate_per_s)}/s"
    if rate_per_s * _HOUR_S >= 1.0:
        return f"{_num(rate_per_s * _HOUR_S)}/h"
    return f"{_num(rate_per_s * _DAY_S)}/d"


def _num(x: float, digits: int = 4) -> float | int:
    """``x`` to ``digits`` significant digits, as a plain number (never YAML's exponent form)."""
    x = float(x)
    if x == 0 or not math.isfinite(x):
        return 0 if x == 0 else x
    rounded = float(np.format_float_positional(x, precision=digits, unique=False, fractional=False, trim="-"))
    return int(rounded) if rounded.is_integer() and abs(rounded) < 2**53 else rounded


def fit_yaml(fit: WorkloadFit) -> str:
    """The ``workloads:`` block of a fit, with comment lines saying how each value was chosen."""
    lines = [f"# {fit.header}"]
    lines.append("# add regions (including the origin), node_types and a fleet to run it")
    lines += ["workloads:", f"  {fit.name}:"]
    for key, value in fit.spec.items():
        if key in fit.notes:
            first, *rest = _wrap(f"{key}: {fit.notes[key]}")
            lines += [f"    # {first}", *(f"    #   {part}" for part in rest)]
        lines.append(f"    {key}: {_flow(value)}")
    return "\n".join(lines) + "\n"


def _wrap(text: str, width: int = 96) -> list[str]:
    import textwrap

    return textwrap.wrap(text, width=width) or [""]


def _flow(value: Any) -> str:
    """YAML flow style for the values a fit produces (numbers, plain strings, lists, mappings)."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return np.format_float_positional(value, trim="-") if math.isfinite(value) else str(value)
    return str(value)
