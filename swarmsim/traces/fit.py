"""The synthetic workload that reproduces a trace (``swarmsim trace fit``; docs/traces.md,
"Tools"): :func:`fit_workload` turns a :class:`~swarmsim.traces.inspect.TraceSummary` into a
``workloads:`` entry (:class:`WorkloadFit`): a daily cosine profile of arrivals when a
likelihood-ratio test keeps it (:func:`fit_daily`), lognormal / gamma / exponential durations by
AIC (:func:`fit_duration`), token and GPU-count distributions; :func:`fit_yaml` writes it as YAML
with comments that say how each number was chosen. Nothing here prints; the CLI does.
"""

from __future__ import annotations

import math
import re
import warnings
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from swarmsim.errors import ArgumentError, ScenarioError
from swarmsim.traces.inspect import _DAY_S, _HOUR_S, MIN_DIURNAL_SPAN_S, TraceSummary
from swarmsim.units import format_duration

#: Below this p-value of the likelihood-ratio test (cosine profile against a flat one) the
#: daily shape is kept; above it the profile is called flat and arrivals are Poisson.
FLAT_P_VALUE = 0.01

#: Largest amplitude a fitted cosine may take (peak_to_trough = 1.99 / 0.01 = 199).
_MAX_AMPLITUDE = 0.99

#: Mean of cos over one hour-wide bin divided by its value at the bin's middle: hourly counts
#: see the cosine's amplitude shrunk by this factor, which the fit undoes.
_BIN_ATTENUATION = math.sin(math.pi / 24) / (math.pi / 24)


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
        raise ArgumentError(where, [("origin", f"expected a region name such as us-east, got {origin!r}")])
    if summary.kind == "nodes":
        raise ScenarioError(where, [("", f"format {summary.format} is a node list: it has no arrivals to fit "
                                     "(swarmsim trace inspect shows its GPU models)")])
    if summary.arrivals < 2 or summary.span_s <= 0:
        why = ("no row has a submit time" if summary.no_submit == summary.rows
               else f"{summary.arrivals} arrival(s) over {format_duration(summary.span_s)}")
        raise ScenarioError(where, [("", f"cannot fit arrivals: {why}")])
    name = name or _workload_name(summary.path)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
        raise ArgumentError(where, [("name", f"expected letters, digits, '.', '_' or '-', got {name!r}")])
    notes: dict[str, str] = {}
    arrivals, daily = _fit_arrivals(summary, origin, notes)
    spec: dict[str, Any] = {"kind": "inference" if summary.kind == "requests" else "jobs",
                            "arrivals": arrivals, "origin": {origin: 1.0}}
    try:
        if summary.kind == "jobs":
            gpus = fit_gpus(summary.gpus)
            spec["gpus"], notes["gpus"] = gpus.spec, gpus.note
            duration = fit_duration(summary.durations.values)  # type: ignore[union-attr]  # a jobs summary has durations
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
