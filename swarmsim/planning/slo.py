"""The SLOs of a plan and the noise rule: a candidate **meets** an SLO only when the upper end of
the metric's confidence interval across seeds is within it (the lower end for a figure where
higher is better, such as ``slo_attainment``); how far it is from meeting is its worst ratio.

An SLO is a headline figure with a bound (``job_wait_p95_s=30m``), a service-level figure of
:mod:`swarmsim.levels` with a bound (``job_wait_p80_s=20``, ``job_wait_within_20s>=0.8``), or an
attainment SLO as planners state it (``job_wait<=20s:80%``, ``request_ttft<=300ms:99%``,
``job_wait[training]<=1h:95%``), which is the attainment figure ``job_wait_within_20s >= 0.8``."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from swarmsim.errors import ArgumentError, did_you_mean
from swarmsim.levels import EXPECTED, LevelError, is_level, parse_level, parse_target, split_outside_brackets
from swarmsim.scenario import InferenceWorkloadSpec, JobsWorkloadSpec, Scenario

#: Figures where higher is better: an SLO on them is a lower bound.
HIGHER_IS_BETTER = frozenset({"slo_attainment", "gpu_utilization", "replica_slot_utilization",
                              "jobs_completed", "requests_completed"})

#: Figures every plan must keep at zero, whatever the SLOs say.
MUST_BE_ZERO = ("residency_violations", "request_residency_violations")


def known_metrics() -> list[str]:
    """Every headline figure a run reports (docs/metrics.md)."""
    from swarmsim.metrics.summary import HEADLINE_KEYS, NO_REQUESTS

    skip = {"sim_events", "wall_time_s"}
    return [k for k in dict.fromkeys([*HEADLINE_KEYS, *NO_REQUESTS]) if k not in skip]


@dataclass(frozen=True)
class Slo:
    """One objective: ``metric`` (a headline figure) ``sense`` (``<=`` or ``>=``) ``bound``."""

    metric: str
    bound: float
    sense: str = "<="

    def meets(self, low: float, high: float, mean: float) -> bool:
        """Whether the interval ``[low, high]`` (``mean`` when it is NaN) lies within the bound."""
        value = (high if self.sense == "<=" else low)
        value = mean if math.isnan(value) else value
        if math.isnan(value):
            return False
        return value <= self.bound if self.sense == "<=" else value >= self.bound

    def ratio(self, value: float) -> float:
        """How far ``value`` is from the bound: > 1 misses, < 1 meets with room (NaN -> inf)."""
        if math.isnan(value):
            return math.inf
        if self.sense == "<=":
            return value / self.bound if self.bound > 0 else (math.inf if value > 0 else 0.0)
        return self.bound / value if value > 0 else math.inf

    def __str__(self) -> str:
        return f"{self.metric}{self.sense}{self.bound:g}"


def parse_slo(text: str) -> Slo:
    """``"request_latency_p99_s=2.0"`` (or ``<=``, ``>=``; a duration may carry a unit, ``30m``).

    ``=`` means "at most" for lower-is-better figures and "at least" for :data:`HIGHER_IS_BETTER`.

    Raises:
        ArgumentError: on ``slo``: malformed text, unknown metric or bad value.
    """
    example = ("expected METRIC=VALUE such as request_latency_p99_s=2.0 or job_wait_p80_s=20s, or a service "
               "level such as 'job_wait<=20s:80%' or 'request_ttft[region=eu-west]<=300ms:99%'")
    try:
        target = parse_target(str(text))
    except LevelError as err:
        raise ArgumentError(None, [("slo", f"{text}: {err}")]) from None
    if target is not None:
        return Slo(target[0].key, target[1], ">=")
    metric, op, value = split_outside_brackets(str(text))
    sep = op
    if not sep or not metric.strip() or not value.strip():
        raise ArgumentError(None, [("slo", f"{example}, got {text!r}")])
    return make_slo(metric.strip(), value.strip(), {"=": None}.get(op, op))


def make_slo(metric: str, value: Any, sense: str | None = None) -> Slo:
    """An :class:`Slo` from a metric name and a bound (a number, or a duration text for ``*_s``)."""
    from swarmsim.units import parse_duration

    known = known_metrics()
    if metric not in known and is_level(metric):
        level = parse_level(metric)
        metric = level.key
        known = [*known, metric]
        sense = sense or (">=" if level.higher_is_better else "<=")
        if level.higher_is_better:  # a share: 0.8 or 80%
            from swarmsim.units import parse_fraction

            try:
                share = parse_fraction(value)
            except (TypeError, ValueError):
                raise ArgumentError(None, [("slo", f"{metric}: expected a share such as 0.8 or 80%, "
                                                     f"got {value!r}")]) from None
            if not 0.0 <= share <= 1.0:
                raise ArgumentError(None, [("slo", f"{metric}: expected a share between 0 and 1, got {value!r}")])
            return Slo(metric, share, sense)
    if metric not in known:
        raise ArgumentError(None, [("slo", f"unknown metric {metric!r}{did_you_mean(metric, known)}; metrics: "
                                             f"{', '.join(known)}; or a service level: {EXPECTED}")])
    try:
        seconds = metric.split("[")[0].endswith("_s")  # a selector follows the unit: job_wait_p80_s[training]
        bound = parse_duration(value) if seconds else float(value)
    except (TypeError, ValueError):
        what = "a number of seconds or a duration such as 30m" if seconds else "a number"
        raise ArgumentError(None, [("slo", f"{metric}: expected {what}, got {value!r}")]) from None
    if not math.isfinite(bound) or bound < 0:
        raise ArgumentError(None, [("slo", f"{metric}: expected a finite bound >= 0, got {value!r}")])
    return Slo(metric, bound, sense or (">=" if metric in HIGHER_IS_BETTER else "<="))


def check_slos(slo: dict[str, Any] | list[Slo] | list[str], scenario: Scenario) -> list[Slo]:
    """The SLOs of a plan, each checked against what the scenario can report."""
    if isinstance(slo, dict):
        slos = [make_slo(k, v) for k, v in slo.items()]
    else:
        slos = [s if isinstance(s, Slo) else parse_slo(s) for s in slo]
    if not slos:
        raise ArgumentError(None, [("slo", "expected at least one SLO such as request_latency_p99_s=2.0")])
    has_jobs = any(isinstance(w, JobsWorkloadSpec) for w in scenario.workloads.values())
    has_requests = any(isinstance(w, InferenceWorkloadSpec) for w in scenario.workloads.values())
    for s in slos:
        if is_level(s.metric) and s.metric not in known_metrics():
            from swarmsim.scenario.report import check_level_names

            why = check_level_names(s.metric, scenario.workloads, list(scenario.regions))
            if why:
                raise ArgumentError(scenario.source, [("slo", why)])
        if s.metric.startswith("job") and not has_jobs:
            raise ArgumentError(scenario.source, [("slo", f"{s.metric}: the scenario has no jobs workload")])
        if (s.metric.startswith(("request", "replica")) or s.metric == "slo_attainment") and not has_requests:
            raise ArgumentError(scenario.source, [("slo", f"{s.metric}: the scenario has no inference workload")])
    return slos


def level_metrics(slos: list[Slo]) -> list[str]:
    """The SLO figures that are service levels beyond the headline ones: the runs of a plan
    must ask for them (``report.figures``)."""
    known = set(known_metrics())
    return [s.metric for s in slos if s.metric not in known and is_level(s.metric)]


def undecided(slos: list[Slo], stats: Any) -> bool:
    """Whether more seeds could change the verdict of some SLO: its interval (``stats``: the
    :func:`~swarmsim.experiments.stats.summarize` rows indexed by metric) is missing (fewer than
    two seeds) or straddles the bound (its conservative end misses, the other end meets)."""
    for s in slos:
        low, high = float(stats.loc[s.metric, "ci_low"]), float(stats.loc[s.metric, "ci_high"])
        if math.isnan(low) or math.isnan(high):
            return True
        if (s.sense == "<=" and low <= s.bound < high) or (s.sense == ">=" and low < s.bound <= high):
            return True
    return False


def worst_ratio(slos: list[Slo], row: dict[str, Any]) -> float:
    """The largest ``Slo.ratio`` of a row's conservative ends (upper for <=, lower for >=)."""
    out = 0.0
    for s in slos:
        end = row[f"{s.metric}_ci_high"] if s.sense == "<=" else row[f"{s.metric}_ci_low"]
        end = row[f"{s.metric}_mean"] if math.isnan(end) else end
        out = max(out, s.ratio(end))
    return out


def _slo_text(s: Slo, row: dict[str, Any]) -> str:
    high = row[f"{s.metric}_ci_high"] if s.sense == "<=" else row[f"{s.metric}_ci_low"]
    return f"{s.metric} {'≤' if s.sense == '<=' else '≥'} {s.bound:g}: CI end {high:.4g}"
