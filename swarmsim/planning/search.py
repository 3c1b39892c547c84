"""The search: candidates from the analytic start, checked by simulation on common seeds.

A candidate is a set of scenario overrides (a fleet, a demand scale, a policy parameter). It is
evaluated by :func:`swarmsim.sweep` on the plan's seeds (the same seeds for every candidate:
common random numbers), into its own sweep folder ``out/candidates/<key>/`` that a re-run of the
same plan resumes, so finished runs are never run twice. A candidate **meets** an SLO only when
the upper end of the metric's confidence interval across seeds is within it (the lower end for
a figure where higher is better, such as ``slo_attainment``).

Strategies (docs/planning.md):

* ``vary="fleet"``: per-region sizing by the analytic model; if that start misses, a common
  scale factor on every region's count grows until the plan meets (bisection between the last
  miss and the first meet); then a coordinate-wise bisection lowers each region's count in turn,
  regions in order of decreasing monthly cost (the greedy heuristic: the largest possible saving
  first), keeping every change that still meets. Supply caps bound every count.
* ``vary="demand"``: a bracket, then bisection, on a factor applied to every arrival rate.
* ``vary="policies.N.param"``: a grid over the parameter's range, then halving the bracket between
  the cheapest value that meets and each neighbour that misses.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from swarmsim.errors import ScenarioError
from swarmsim.planning import analytic
from swarmsim.planning.analytic import HOURS_PER_MONTH, Fleet, Model, Prediction
from swarmsim.scenario import InferenceWorkloadSpec, JobsWorkloadSpec, Scenario, load_scenario

log = logging.getLogger(__name__)

#: Figures where higher is better: an SLO on them is a lower bound.
HIGHER_IS_BETTER = frozenset({"slo_attainment", "gpu_utilization", "replica_slot_utilization",
                              "jobs_completed", "requests_completed"})

#: Figures every plan must keep at zero, whatever the SLOs say.
MUST_BE_ZERO = ("residency_violations", "request_residency_violations")

CANDIDATES = "candidates"

#: Growth steps of the common scale factor before a plan is called out of reach.
MAX_GROW_STEPS = 8

#: ``vary="policies.N.param"``: values in the first grid, then rounds of halving the bracket.
POLICY_GRID = 5
POLICY_ROUNDS = 4


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
        ScenarioError: on ``--slo``: malformed text, unknown metric or bad value.
    """
    example = "expected METRIC=VALUE such as request_latency_p99_s=2.0 or job_wait_p95_s=30m"
    for op in ("<=", ">=", "="):
        metric, sep, value = str(text).partition(op)
        if sep:
            break
    if not sep or not metric.strip() or not value.strip():
        raise ScenarioError(None, [("--slo", f"{example}, got {text!r}")])
    return make_slo(metric.strip(), value.strip(), {"=": None}.get(op, op))


def make_slo(metric: str, value: Any, sense: str | None = None) -> Slo:
    """An :class:`Slo` from a metric name and a bound (a number, or a duration text for ``*_s``)."""
    from swarmsim.units import parse_duration

    known = known_metrics()
    if metric not in known:
        import difflib

        close = difflib.get_close_matches(metric, known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ScenarioError(None, [("--slo", f"unknown metric {metric!r}{hint}; metrics: {', '.join(known)}")])
    try:
        bound = parse_duration(value) if metric.endswith("_s") else float(value)
    except (TypeError, ValueError):
        what = "a number of seconds or a duration such as 30m" if metric.endswith("_s") else "a number"
        raise ScenarioError(None, [("--slo", f"{metric}: expected {what}, got {value!r}")]) from None
    if not math.isfinite(bound) or bound < 0:
        raise ScenarioError(None, [("--slo", f"{metric}: expected a finite bound >= 0, got {value!r}")])
    return Slo(metric, bound, sense or (">=" if metric in HIGHER_IS_BETTER else "<="))


def check_slos(slo: dict[str, Any] | list[Slo] | list[str], scenario: Scenario) -> list[Slo]:
    """The SLOs of a plan, each checked against what the scenario can report."""
    if isinstance(slo, dict):
        slos = [make_slo(k, v) for k, v in slo.items()]
    else:
        slos = [s if isinstance(s, Slo) else parse_slo(s) for s in slo]
    if not slos:
        raise ScenarioError(None, [("--slo", "expected at least one SLO such as request_latency_p99_s=2.0")])
    has_jobs = any(isinstance(w, JobsWorkloadSpec) for w in scenario.workloads.values())
    has_requests = any(isinstance(w, InferenceWorkloadSpec) for w in scenario.workloads.values())
    for s in slos:
        if s.metric.startswith("job") and not has_jobs:
            raise ScenarioError(scenario.source, [("--slo", f"{s.metric}: the scenario has no jobs workload")])
        if (s.metric.startswith(("request", "replica")) or s.metric == "slo_attainment") and not has_requests:
            raise ScenarioError(scenario.source, [("--slo", f"{s.metric}: the scenario has no inference workload")])
    return slos


# --- evaluating candidates by simulation ----------------------------------------------------------


class BudgetError(Exception):
    """The next candidate would take the plan past ``max_runs`` simulations."""


class Evaluator:
    """Runs candidates through :func:`swarmsim.sweep` on common seeds and keeps their rows."""

    def __init__(self, base: Scenario, slos: list[Slo], seeds: list[int], *, out: Path | None, backend: str,
                 jobs: int | None, max_runs: int | None, confidence: float,
                 progress: Callable[[str], None], address: str | None = None) -> None:
        self.base, self.slos, self.seeds = base, slos, seeds
        self.out, self.backend, self.jobs, self.max_runs = out, backend, jobs, max_runs
        self.address = address
        self.confidence, self.progress = confidence, progress
        self.rows: list[dict[str, Any]] = []
        self.runs = self.reused = 0
        self._done: dict[str, dict[str, Any]] = {}
        self.started = time.perf_counter()

    def scenario(self, overrides: dict[str, Any]) -> Scenario:
        """The base scenario with a candidate's overrides."""
        return load_scenario(self.base, overrides) if overrides else self.base

    def key(self, overrides: dict[str, Any]) -> str:
        """Folder name of a candidate: a hash of its resolved scenario (seed excluded) and the seeds."""
        digest = load_scenario(self.scenario(overrides), {"seed": 0}).digest()
        return hashlib.sha256(json.dumps([digest, self.seeds]).encode()).hexdigest()[:12]

    def pending(self, key: str) -> int:
        """Runs of a candidate that are not finished in its folder."""
        from swarmsim.experiments.sweep import RunSpec

        if self.out is None:
            return len(self.seeds)
        folder = self.out / CANDIDATES / key / "runs"
        return sum(not (folder / RunSpec(0, s, {}, {}).folder / "summary.json").is_file() for s in self.seeds)

    def evaluate(self, overrides: dict[str, Any], labels: dict[str, Any], phase: str,
                 cost_usd_per_month: float | None, prediction: Prediction | None = None) -> dict[str, Any]:
        """Simulate one candidate on every seed and return its table row (cached by key)."""
        from swarmsim.experiments.stats import summarize
        from swarmsim.experiments.sweep import sweep

        key = self.key(overrides)
        if key in self._done:
            return self._done[key]
        need = self.pending(key)
        if self.max_runs is not None and self.runs + need > self.max_runs:
            raise BudgetError
        folder = self.out / CANDIDATES / key if self.out is not None else None
        table = sweep(self.scenario(overrides), None, self.seeds, backend=self.backend, jobs=self.jobs,
                      address=self.address, out=folder, resume=True)
        self.runs += need
        self.reused += len(self.seeds) - need
        metrics = [s.metric for s in self.slos] + [m for m in ("cost_usd", *MUST_BE_ZERO) if m in table.columns]
        stats = summarize(table, list(dict.fromkeys(metrics)), self.confidence).set_index("metric")
        row: dict[str, Any] = {"candidate": len(self.rows), "phase": phase, **labels}
        window_h = (self.base.horizon - self.base.warmup) / 3600.0
        sim_cost = float(stats.loc["cost_usd", "mean"]) * HOURS_PER_MONTH / window_h
        row["cost_usd_per_month"] = cost_usd_per_month if cost_usd_per_month is not None else sim_cost
        row["simulated_cost_usd_per_month"] = sim_cost
        meets = True
        for s in self.slos:
            st = stats.loc[s.metric]
            row[f"{s.metric}_mean"] = float(st["mean"])
            row[f"{s.metric}_ci_low"] = float(st["ci_low"])
            row[f"{s.metric}_ci_high"] = float(st["ci_high"])
            if prediction is not None:
                row[f"{s.metric}_analytic"] = prediction.figures.get(s.metric, math.nan)
            ok = s.meets(float(st["ci_low"]), float(st["ci_high"]), float(st["mean"]))
            row[f"{s.metric}_meets"] = ok
            meets &= ok
        for m in MUST_BE_ZERO:
            if m in stats.index and float(np.nan_to_num(stats.loc[m, "mean"])) > 0:
                meets = False
        row["failed_runs"] = int((table["status"] == "failed").sum())
        meets &= row["failed_runs"] == 0
        row["meets"] = bool(meets)
        row["runs"] = len(self.seeds)
        row["key"] = key
        row["overrides"] = overrides
        self.rows.append(row)
        self._done[key] = row
        best = self.best()
        shown = f"best so far ${best['cost_usd_per_month']:,.0f}/month (candidate {best['candidate']})" \
            if best is not None else "no plan meets the SLOs yet"
        self.progress(f"candidate {row['candidate']} [{phase}] {_labels_text(labels)}: "
                      f"${row['cost_usd_per_month']:,.0f}/month, {'meets' if meets else 'misses'} "
                      f"({', '.join(_slo_text(s, row) for s in self.slos)}); {shown}; "
                      f"{self.runs} runs, {time.perf_counter() - self.started:.0f} s")
        return row

    def best(self) -> dict[str, Any] | None:
        """The cheapest candidate so far that meets every SLO."""
        ok = [r for r in self.rows if r["meets"]]
        return min(ok, key=lambda r: (r["cost_usd_per_month"], r["candidate"])) if ok else None

    def closest(self) -> dict[str, Any] | None:
        """The candidate nearest to meeting: the smallest worst SLO ratio (ties: cheaper)."""
        if not self.rows:
            return None
        return min(self.rows, key=lambda r: (worst_ratio(self.slos, r), r["cost_usd_per_month"]))


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


def _labels_text(labels: dict[str, Any]) -> str:
    return ", ".join(f"{k.removeprefix('nodes.')}={v:g}" if isinstance(v, float) else
                     f"{k.removeprefix('nodes.')}={v}" for k, v in labels.items() if v != 0) or "empty fleet"


# --- the result -------------------------------------------------------------------------------


@dataclass
class PlanResult:
    """What a plan found.

    Attributes:
        table: one row per simulated candidate: ``candidate``, ``phase``, the varied values
            (``nodes.<region>.<type>``, ``demand_scale`` or the policy parameter),
            ``cost_usd_per_month``, per SLO metric ``<m>_mean``, ``<m>_ci_low``, ``<m>_ci_high``,
            ``<m>_analytic`` (fleet plans) and ``<m>_meets``, ``meets``, ``runs``.
        recommended: the row of the recommended candidate (the cheapest that meets every SLO;
            for ``vary="demand"`` the largest demand that does), or None.
        feasible: whether some candidate meets every SLO.
        binding: when infeasible (or stopped), what binds: supply caps, residency, the budget; for a
            policy plan whose answer is an end of the searched range, that range.
        closest: the candidate nearest to meeting, when infeasible.
        analytic: the analytic start and how far it was from the simulated answer.
        runs: simulations run by this call; runs_reused: finished runs found in ``out``.
    """

    vary: str
    slos: list[Slo]
    seeds: list[int]
    table: pd.DataFrame
    recommended: dict[str, Any] | None
    feasible: bool
    binding: str | None
    closest: dict[str, Any] | None
    analytic: dict[str, Any]
    runs: int
    runs_reused: int
    base: Scenario = field(repr=False)
    wall_time_s: float = 0.0

    @property
    def fleet(self) -> Fleet | None:
        """The recommended fleet (region -> node type -> nodes), or None."""
        row = self.recommended or self.closest
        return None if row is None else fleet_of(row) or self.base.fleet

    def scenario(self) -> Scenario | None:
        """The recommended (else closest) candidate as a scenario, or None."""
        row = self.recommended or self.closest
        return None if row is None else load_scenario(self.base, row["overrides"]) if row["overrides"] else self.base

    def to_dict(self) -> dict[str, Any]:
        """The plan as JSON-ready data (what ``plan.json`` holds)."""
        def clean(row: dict[str, Any] | None) -> dict[str, Any] | None:
            if row is None:
                return None
            return {k: _plain(v) for k, v in row.items() if k != "overrides"} | {"overrides": row["overrides"]}

        return {
            "scenario": self.base.name, "scenario_sha256": self.base.digest(), "vary": self.vary,
            "slo": [str(s) for s in self.slos], "seeds": self.seeds, "feasible": self.feasible,
            "recommended": clean(self.recommended), "fleet": self.fleet if self.vary == "fleet" else None,
            "binding_constraint": self.binding, "closest": clean(self.closest) if not self.feasible else None,
            "analytic_vs_simulated": self.analytic, "simulations_run": self.runs,
            "simulations_reused": self.runs_reused, "candidates": len(self.table),
            "wall_time_s": round(self.wall_time_s, 1),
        }

    def save(self, folder: str | os.PathLike[str], run: bool = True) -> Path:
        """Write ``plan.csv``, ``plan.json``, ``cost-vs-slo.png``, ``fleet-by-region.png`` and (with
        ``run``) the chosen plan's run folder ``run/`` (seed = the plan's first seed) into ``folder``.
        Each file appears atomically."""
        from swarmsim.experiments.sweep import write_atomic
        from swarmsim.planning.plots import plot_cost_vs_slo, plot_fleet

        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        shown = self.table.drop(columns=["overrides", "key"], errors="ignore")
        write_atomic(out / "plan.csv", shown.to_csv(index=False))
        write_atomic(out / "plan.json", json.dumps(self.to_dict(), indent=2, default=_plain) + "\n")
        if len(self.table):
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt

            for name, draw in (("cost-vs-slo.png", plot_cost_vs_slo), ("fleet-by-region.png", plot_fleet)):
                ax = draw(self)
                tmp = out / f".{name}.partial.png"
                ax.figure.savefig(tmp, dpi=110, bbox_inches="tight")
                plt.close(ax.figure)
                os.replace(tmp, out / name)
        chosen = self.scenario()
        if run and chosen is not None:
            from swarmsim.simulation import simulate

            simulate(load_scenario(chosen, {"seed": self.seeds[0]})).save(out / "run")
        return out

    def render(self) -> str:
        """The table and the recommendation as plain text."""
        cols = [c for c in self.table.columns if (c.startswith("nodes.") and self.table[c].any())
                or c == "demand_scale" or c.startswith("policies.")]
        widths = [max(len(c.removeprefix("nodes.")) + 2, 8) for c in cols]
        heads = "".join(f"{c.removeprefix('nodes.'):>{w}}" for c, w in zip(cols, widths, strict=True))
        lines = [f"{'#':>3} {'phase':<9}" + heads
                 + f"{'USD/month':>12}" + "".join(f"{s.metric + ' mean [CI]':>34}" for s in self.slos) + "  meets"]
        for _, r in self.table.iterrows():
            cells = "".join(f"{_num(r[c]):>{w}}" for c, w in zip(cols, widths, strict=True))
            figs = "".join(f"{_num(r[f'{s.metric}_mean']) + ' [' + _num(r[f'{s.metric}_ci_low']) + ', ' + _num(r[f'{s.metric}_ci_high']) + ']':>34}"  # noqa: E501
                           for s in self.slos)
            lines.append(f"{r['candidate']:>3} {r['phase']:<9}{cells}{r['cost_usd_per_month']:>12,.0f}{figs}  "
                         f"{'yes' if r['meets'] else 'no'}")
        lines.append("")
        if self.recommended is not None:
            r = self.recommended
            what = {"fleet": "cheapest plan that meets every SLO", "demand": "most demand within the SLOs"}
            lines.append(f"recommended: candidate {r['candidate']} ({what.get(self.vary, 'cheapest value that meets')}"
                         f"): {_labels_text(_labels(r))}, ${r['cost_usd_per_month']:,.0f}/month")
        else:
            lines.append("infeasible: no candidate meets every SLO with the stated confidence")
            if self.closest is not None:
                lines.append(f"closest: candidate {self.closest['candidate']}: {_labels_text(_labels(self.closest))}, "
                             f"${self.closest['cost_usd_per_month']:,.0f}/month")
        if self.binding:
            lines.append(f"binding constraint: {self.binding}")
        gap = self.analytic.get("gap")
        if gap:
            lines.append(f"analytic start vs simulated answer: {gap}")
        lines.append(f"simulations: {self.runs} run, {self.runs_reused} reused from earlier runs")
        return "\n".join(lines)


def _labels(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in row if k.startswith(("nodes.", "policies.")) or k == "demand_scale"}


def _num(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        return f"{value:.4g}"
    return str(value)


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def fleet_of(row: dict[str, Any]) -> Fleet:
    """The fleet of a table row (``nodes.<region>.<type>`` columns, zeros left out)."""
    out: Fleet = {}
    for k, v in row.items():
        if k.startswith("nodes.") and v:
            _, region, node_type = k.split(".", 2)
            out.setdefault(region, {})[node_type] = int(v)
    return out


# --- plan() ----------------------------------------------------------------------------------


def plan(
    scenario: str | os.PathLike[str] | dict[str, Any] | Scenario,
    slo: dict[str, Any] | list[str] | list[Slo],
    vary: str = "fleet",
    *,
    node_types: list[str] | None = None,
    regions: list[str] | None = None,
    seeds: int | list[int] = 10,
    backend: str = "local",
    jobs: int | None = None,
    address: str | None = None,
    out: str | os.PathLike[str] | None = None,
    max_runs: int | None = None,
    confidence: float = 0.95,
    analytic_start: bool = True,
    progress: Callable[[str], None] | None = None,
) -> PlanResult:
    """Find the cheapest plan that meets every SLO (or answer an inverse question).

    Args:
        scenario: a path, a dict or a :class:`Scenario`; its workloads are the demand to plan for.
        slo: ``{"request_latency_p99_s": 2.0, "job_wait_p95_s": "30m"}`` or ``["metric=value", ...]``;
            a bound is an upper bound, or a lower bound for :data:`HIGHER_IS_BETTER` figures.
        vary: ``"fleet"`` (nodes per region and type), ``"demand"`` (most demand the scenario's
            fleet carries) or ``"policies.N.param"`` (the cheapest value of a policy parameter).
        node_types: node types the fleet may use (default: all of the scenario's).
        regions: regions that may hold nodes (default: the scenario's active regions).
        seeds: seeds every candidate runs on (common random numbers); an int n means range(n).
        backend, jobs, address: where the simulations run (:func:`swarmsim.sweep`). With ``"ray"``
            one Ray instance serves the whole plan (started here unless already initialised, and
            shut down at the end if started here).
        out: the plan folder; each candidate's runs go to ``out/candidates/<key>/`` (a sweep folder
            that a re-run resumes), then ``save(out)`` writes the plan files and the chosen run.
        max_runs: most simulations to run (finished runs found in ``out`` are free).
        confidence: of the Student-t intervals across seeds a candidate must keep within its SLOs.
        analytic_start: start from the analytic sizing (``False``: from one node per region,
            to measure what the analytic start saves).
        progress: called with one line per event (the estimate, each candidate, the best plan so
            far); default: the module's logger at INFO.

    Raises:
        ScenarioError: bad scenario, SLO, vary, node type, region, seeds, backend or out folder;
            nothing has run or been written when it is raised.
    """
    from swarmsim.experiments.backends import BACKENDS, ray_session
    from swarmsim.experiments.sweep import check_seeds

    started = time.perf_counter()
    say = progress or log.info
    base = load_scenario(scenario)
    slos = check_slos(slo, base)
    seed_list = check_seeds(seeds, base.source)
    if backend not in BACKENDS:
        raise ScenarioError(None, [("--backend", f"unknown backend {backend!r}; expected one of "
                                                 f"{', '.join(sorted(BACKENDS))}")])
    if jobs is not None and jobs < 1:
        raise ScenarioError(None, [("--jobs", f"expected a number of workers >= 1, got {jobs}")])
    if address is not None and backend != "ray":
        raise ScenarioError(None, [("--address", "is for --backend ray; the local backend runs on this machine")])
    if backend == "ray":
        import importlib.util

        if importlib.util.find_spec("ray") is None:
            raise ScenarioError(None, [("--backend", "ray: Ray is not installed (pip install 'swarmsim[ray]')")])
    if max_runs is not None and max_runs < 1:
        raise ScenarioError(None, [("--max-runs", f"expected a number of simulations >= 1, got {max_runs}")])
    if not 0 < confidence < 1:
        raise ScenarioError(None, [("--confidence", f"expected a probability between 0 and 1, got {confidence}")])
    region_list = _check_names("--regions", regions, base.regions, [r for r, s in base.regions.items() if s.active])
    type_list = _check_names("--node-types", node_types, base.node_types, list(base.node_types))
    for r in region_list:
        if not base.regions[r].active:
            raise ScenarioError(base.source, [("--regions", f"{r} is inactive in the scenario (active: false)")])
    if vary != "fleet":
        for option, given in (("--regions", regions), ("--node-types", node_types)):
            if given is not None:
                raise ScenarioError(None, [(option, f"only for --vary fleet; --vary {vary} keeps the scenario's "
                                                    "fleet (change it with --set fleet...)")])
    if vary == "fleet":
        analytic.groups(base, type_list)  # every workload can be placed on the node types
    elif vary == "demand":
        demand_overrides(base, 1.0)
    else:
        _policy_range(base, vary)
    with contextlib.ExitStack() as stack:
        if backend == "ray":  # one Ray instance for every candidate's sweep, before the folder exists
            stack.enter_context(ray_session(address, jobs))
        folder = _open_out(out)
        ev = Evaluator(base, slos, seed_list, out=folder, backend=backend, jobs=jobs, max_runs=max_runs,
                       confidence=confidence, progress=say, address=address)
        binding: str | None = None
        info: dict[str, Any] = {}
        try:
            if vary == "fleet":
                binding, info = _plan_fleet(ev, region_list, type_list, analytic_start)
            elif vary == "demand":
                binding, info = _plan_demand(ev, analytic_start)
            else:
                binding = _plan_policy(ev, vary)
        except BudgetError:
            binding = f"budget: --max-runs {max_runs} reached before the search finished"
            say(binding)
        except _InfeasibleError as err:
            binding = str(err)
            say(f"infeasible: {binding}")
    best = ev.best()
    if vary == "demand":
        ok = [r for r in ev.rows if r["meets"]]
        best = max(ok, key=lambda r: r["demand_scale"]) if ok else None
    result = PlanResult(
        vary=vary, slos=slos, seeds=seed_list, table=pd.DataFrame(ev.rows), recommended=best,
        feasible=best is not None,
        binding=binding if best is None or (binding and binding.startswith(("budget", "range"))) else None,
        closest=ev.closest() if best is None else None, analytic=info, runs=ev.runs, runs_reused=ev.reused,
        base=base)
    if vary == "fleet" and best is not None and info:
        info.update(_gap(base, info, best, slos))
    result.wall_time_s = time.perf_counter() - started
    if folder is not None:
        result.save(folder)
    return result


class _InfeasibleError(Exception):
    """The constraints cannot be met; the message names what binds."""


def _check_names(option: str, given: list[str] | None, known: dict[str, Any], default: list[str]) -> list[str]:
    if given is None:
        return default
    names = [str(g).strip() for g in given if str(g).strip()]
    if not names:
        raise ScenarioError(None, [(option, "expected at least one name")])
    for n in names:
        if n not in known:
            import difflib

            close = difflib.get_close_matches(n, list(known), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ScenarioError(None, [(option, f"unknown name {n!r}{hint}; the scenario has: {', '.join(known)}")])
    return list(dict.fromkeys(names))


def _open_out(out: str | os.PathLike[str] | None) -> Path | None:
    """The plan folder: new, empty, or an earlier plan's (which is resumed)."""
    if out is None:
        return None
    folder = Path(out)
    if folder.exists():
        if not folder.is_dir():
            raise ScenarioError(str(folder), [("--out", "the path is a file; choose a folder")])
        if any(folder.iterdir()) and not (folder / CANDIDATES).is_dir():
            raise ScenarioError(str(folder), [("--out", "a folder that is not empty and holds no plan; "
                                                        "choose a new folder")])
    try:
        (folder / CANDIDATES).mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ScenarioError(str(folder), [("--out", f"cannot create the plan folder: {err}")]) from None
    return folder


def _estimate(ev: Evaluator, overrides: dict[str, Any], candidates: int) -> None:
    """Print the expected number of simulations and their time (from a pilot at 1/10 of the horizon)."""
    from swarmsim.simulation import simulate

    sc = ev.scenario(overrides)
    started = time.perf_counter()
    simulate(load_scenario(sc, {"horizon": sc.horizon / 10, "warmup": sc.warmup / 10, "seed": ev.seeds[0]}))
    per_run = 10 * (time.perf_counter() - started)
    workers = ev.jobs or os.cpu_count() or 1
    runs = candidates * len(ev.seeds)
    if ev.max_runs is not None:
        runs = min(runs, ev.max_runs)
    ev.progress(f"estimate: about {candidates} candidates x {len(ev.seeds)} seeds = {runs} simulations"
                f"{f' (budget --max-runs {ev.max_runs})' if ev.max_runs else ''}, ~{per_run:.1f} s each on "
                f"{workers} workers: ~{runs * per_run / workers / 60:.1f} min (finished runs in --out are reused)")


# --- vary fleet ------------------------------------------------------------------------------


def fleet_overrides(base: Scenario, fleet: Fleet) -> dict[str, Any]:
    """Overrides that make ``fleet`` the scenario's whole fleet, with each inference workload's
    replicas filling the node types it accepts (docs/planning.md)."""
    model_counts = {r: dict(c) for r, c in fleet.items() if any(c.values())}
    out: dict[str, Any] = {"fleet": model_counts}
    for name, work in base.workloads.items():
        if isinstance(work, InferenceWorkloadSpec):
            accepted = set(base.node_types_for(work))
            out[f"workloads.{name}.replicas"] = {
                r: sum(n * (base.node_types[t].gpus // work.replica.gpus) for t, n in c.items() if t in accepted)
                for r, c in model_counts.items()}
    return out


def _plan_fleet(ev: Evaluator, regions: list[str], node_types: list[str],
                analytic_start: bool) -> tuple[str | None, dict[str, Any]]:
    base, slos = ev.base, ev.slos
    try:
        model = Model(base, regions)
    except ScenarioError as err:
        raise _InfeasibleError("; ".join(m for _, m in err.problems)) from None
    meets = predicted_meets(slos)
    caps = {(r, t): analytic.supply_cap(base, r, t) for r in regions for t in node_types}
    analytic_fleet = _size_fleet(model, node_types, caps, meets)
    model, analytic_fleet, left_out = _consolidate(model, analytic_fleet, node_types, caps, meets)
    for r, why in left_out.items():
        ev.progress(f"analytic start: no nodes in {r}: {why}")
    start = analytic_fleet if analytic_start else {r: dict.fromkeys(c, 1) for r, c in analytic_fleet.items()}
    start = _clip(base, start, caps)
    columns = [f"nodes.{r}.{t}" for r in regions for t in node_types]

    def run(fleet: Fleet, phase: str) -> dict[str, Any]:
        labels = dict.fromkeys(columns, 0) | {f"nodes.{r}.{t}": n for r, c in fleet.items() for t, n in c.items()}
        return ev.evaluate(fleet_overrides(base, fleet), labels, phase, analytic.monthly_cost_usd(base, fleet),
                           model.predict(fleet))

    info: dict[str, Any] = {"start_fleet": analytic_fleet, "start_cost_usd_per_month":
                            analytic.monthly_cost_usd(base, analytic_fleet),
                            "start_predicted": model.predict(analytic_fleet).figures,
                            "regions_left_out": left_out}
    _estimate(ev, fleet_overrides(base, start), 2 + sum(3 for c in start.values() for _ in c))
    row = run(start, "analytic" if analytic_start else "start")
    fleet = start
    if not row["meets"]:
        low_k, k, prev = 1.0, 1.0, start
        for _ in range(MAX_GROW_STEPS + 1):
            k *= 2.0 if analytic_start is False else 1.5
            grown = _clip(base, _scale(start, k), caps)
            if grown == prev:
                capped = [f"regions.{r}.max_nodes / limits.pools.{r}.{t} = {caps[(r, t)]}"
                          for r, c in prev.items() for t, n in c.items() if caps[(r, t)] is not None
                          and n >= caps[(r, t)]]
                raise _InfeasibleError("supply: every region is at its cap (" + ", ".join(capped) + ") and the "
                                  "SLOs are still missed")
            row = run(grown, "grow")
            if row["meets"]:
                fleet = grown
                break
            low_k, prev = k, grown
        else:
            raise _InfeasibleError(f"no candidate up to {k:g} x the start fleet meets the SLOs; with these node "
                                   "types the SLO may be out of reach at any count (e.g. the service time alone)")
        high_k = k
        for _ in range(4):  # bisection on the common scale
            mid = _clip(base, _scale(start, (low_k + high_k) / 2), caps)
            if mid in (prev, fleet):
                break
            if run(mid, "scale")["meets"]:
                high_k, fleet = (low_k + high_k) / 2, mid
            else:
                low_k, prev = (low_k + high_k) / 2, mid
    # Coordinate-wise bisection downwards, the most expensive region first.
    groups = analytic.groups(base, node_types)
    order = sorted(((r, t) for r, c in fleet.items() for t in c),
                   key=lambda rt: -analytic.monthly_cost_usd(base, {rt[0]: {rt[1]: fleet[rt[0]][rt[1]]}}))
    for r, t in order:
        group = next(g for g, types in groups.items() if t in types)
        lo = max(analytic.stability_floor(model, r, group, t) - 1, 0)
        hi = fleet[r][t]
        while hi - lo > 1:
            mid = (lo + hi) // 2
            trial = {rr: dict(c) for rr, c in fleet.items()}
            trial[r][t] = mid
            if run(trial, "trim")["meets"]:
                hi, fleet = mid, trial
            else:
                lo = mid
    return None, info


def _size_fleet(model: Model, node_types: list[str], caps: dict[tuple[str, str], int | None],
                meets: Callable[[Prediction], bool]) -> Fleet:
    """The analytic sizing of every region of ``model`` (supply caps applied)."""
    fleet: Fleet = {}
    for r in model.regions:
        counts = analytic.size_region(model, r, node_types, meets)
        if counts:
            fleet[r] = counts
    return _clip(model.scenario, fleet, caps)


def _consolidate(model: Model, fleet: Fleet, node_types: list[str], caps: dict[tuple[str, str], int | None],
                 meets: Callable[[Prediction], bool]) -> tuple[Model, Fleet, dict[str, str]]:
    """Leave regions out of the plan while that makes the analytic start cheaper.

    Sizing region by region puts nodes wherever users are nearest, which with large nodes (an
    8-GPU node for a few requests a second) or a small edge site is dearer than serving those
    users from a neighbour. Greedily, the region whose removal saves the most is left out: its
    users go to the nearest other region their residency allows (as the router sends them when a
    region holds no replica), every remaining region is sized again, and the smaller plan must
    still meet every SLO by the model within the supply caps. A region whose users have nowhere
    else to go (residency) is never left out. Returns the model of the regions kept, its fleet
    and, per region left out, why.
    """
    scenario = model.scenario
    cost = analytic.monthly_cost_usd(scenario, fleet)
    left_out: dict[str, str] = {}
    while len(model.regions) > 1:
        best: tuple[float, str, Model, Fleet] | None = None
        for r in model.regions:
            if r not in fleet:
                continue
            try:
                smaller = Model(scenario, [x for x in model.regions if x != r])
            except ScenarioError:
                continue  # residency: some users can be served nowhere else
            trial = _size_fleet(smaller, node_types, caps, meets)
            trial_cost = analytic.monthly_cost_usd(scenario, trial)
            if trial_cost < cost - 0.5 and meets(smaller.predict(trial)) and (best is None or trial_cost < best[0]):
                best = (trial_cost, r, smaller, trial)
        if best is None:
            break
        trial_cost, r, smaller, moved = best
        users = sorted(f"workloads.{w} from {o} -> {smaller.serving[(w, o)]}"
                       for (w, o), s in model.serving.items() if s == r)
        model = smaller
        left_out[r] = (f"its users ({'; '.join(users)}) are served within the SLOs from the nearest region "
                       f"their residency allows, ${cost - trial_cost:,.0f}/month cheaper")
        fleet, cost = moved, trial_cost
    return model, fleet, left_out


def predicted_meets(slos: list[Slo]) -> Callable[[Prediction], bool]:
    """Whether a prediction meets every SLO: predicted figures against their bounds, and for SLO
    figures the model does not predict, every queue at most :data:`analytic.DEFAULT_UTILIZATION` busy."""
    def meets(pred: Prediction) -> bool:
        if not pred.stable:
            return False
        for s in slos:
            value = pred.figures.get(s.metric)
            if value is None:
                if max(pred.utilization.values(), default=0.0) > analytic.DEFAULT_UTILIZATION:
                    return False
            elif not s.meets(value, value, value):
                return False
        return True
    return meets


def _scale(fleet: Fleet, k: float) -> Fleet:
    return {r: {t: max(1, math.ceil(n * k - 1e-9)) for t, n in c.items()} for r, c in fleet.items()}


def _clip(base: Scenario, fleet: Fleet, caps: dict[tuple[str, str], int | None]) -> Fleet:
    out: Fleet = {}
    for r, c in fleet.items():
        left = base.regions[r].max_nodes
        out[r] = {}
        for t, n in c.items():
            cap = caps.get((r, t))
            n = min(n, cap) if cap is not None else n
            if left is not None:
                n = min(n, left)
                left -= n
            out[r][t] = n
    return out


def _gap(base: Scenario, info: dict[str, Any], best: dict[str, Any], slos: list[Slo]) -> dict[str, Any]:
    start_cost = info["start_cost_usd_per_month"]
    cost = best["cost_usd_per_month"]
    start_nodes = sum(sum(c.values()) for c in info["start_fleet"].values())
    nodes = sum(sum(c.values()) for c in fleet_of(best).values())
    rel = (cost - start_cost) / start_cost * 100 if start_cost else math.nan  # + : simulation needed more
    predicted = {s.metric: best.get(f"{s.metric}_analytic") for s in slos}
    simulated = {s.metric: best[f"{s.metric}_mean"] for s in slos}
    return {"recommended_fleet": fleet_of(best), "recommended_cost_usd_per_month": cost,
            "predicted_at_recommended": predicted, "simulated_at_recommended": simulated,
            "gap": f"analytic ${start_cost:,.0f}/month ({start_nodes} nodes) vs simulated ${cost:,.0f}/month "
                   f"({nodes} nodes): {rel:+.0f} % against the analytic start"}


# --- vary demand -----------------------------------------------------------------------------


def demand_overrides(base: Scenario, scale: float) -> dict[str, Any]:
    """Overrides that multiply every workload's arrival rate by ``scale``."""
    from swarmsim.scenario import DeterministicArrivals, DiurnalArrivals, MmppArrivals, PoissonArrivals

    out: dict[str, Any] = {}
    for name, work in base.workloads.items():
        a, p = work.arrivals, f"workloads.{name}.arrivals"
        if a is None:
            raise ScenarioError(base.source, [(f"workloads.{name}", "--vary demand needs synthetic arrivals "
                                                                    "(a trace cannot be scaled below 1)")])
        if isinstance(a, PoissonArrivals | DeterministicArrivals):
            out[f"{p}.rate"] = a.rate * scale
        elif isinstance(a, DiurnalArrivals):
            out[f"{p}.mean_rate"] = a.mean_rate * scale
        elif isinstance(a, MmppArrivals):
            out[f"{p}.rates"] = [x * scale for x in a.rates]
        else:
            out[f"{p}.start_rate"] = a.start_rate * scale
            out[f"{p}.end_rate"] = a.end_rate * scale
    if not out:
        raise ScenarioError(base.source, [("workloads", "--vary demand needs at least one workload")])
    return out


def _plan_demand(ev: Evaluator, analytic_start: bool) -> tuple[str | None, dict[str, Any]]:
    base = ev.base
    fleet = {r: c for r, c in base.fleet.items() if any(c.values())}
    cost = analytic.monthly_cost_usd(base, fleet)
    meets = predicted_meets(ev.slos)
    regions = list(fleet)
    try:
        Model(base, regions)
    except ScenarioError as err:
        raise _InfeasibleError("; ".join(m for _, m in err.problems)) from None

    def predicted_ok(s: float) -> bool:
        return meets(Model(base, regions, scale=s).predict(fleet))

    lo, hi = 1e-3, 1e3
    for _ in range(40):
        mid = math.sqrt(lo * hi)
        lo, hi = (mid, hi) if predicted_ok(mid) else (lo, mid)
    s_analytic = lo
    info: dict[str, Any] = {"analytic_demand_scale": s_analytic}

    def run(s: float, phase: str) -> dict[str, Any]:
        s = float(f"{s:.4g}")
        return ev.evaluate(demand_overrides(base, s), {"demand_scale": s}, phase, cost)

    s0 = float(f"{(s_analytic if analytic_start else 1.0):.4g}")
    _estimate(ev, demand_overrides(base, s0), 6)
    good, bad = (None, None)
    row = run(s0, "analytic" if analytic_start else "start")
    s = s0
    for _ in range(8):  # bracket
        if row["meets"]:
            good = s
            if bad is not None:
                break
            s *= 1.5
        else:
            bad = s
            if good is not None:
                break
            s /= 1.5
        row = run(s, "bracket")
    else:
        if row["meets"]:
            good = max(good or 0.0, s)
        else:
            bad = min(bad or math.inf, s)
    if good is None:
        raise _InfeasibleError("the fleet misses the SLOs even at the smallest demand tried")
    while bad is not None and bad / good > 1.05:
        mid = math.sqrt(good * bad)
        if run(mid, "bisect")["meets"]:
            good = float(f"{mid:.4g}")
        else:
            bad = float(f"{mid:.4g}")
    info["simulated_demand_scale"] = good
    info["gap"] = f"analytic demand scale {s_analytic:.3g} vs simulated {good:.3g}"
    return None, info


# --- vary a policy parameter ------------------------------------------------------------------------


def _policy_range(base: Scenario, path: str) -> tuple[float, float, bool, float]:
    """``(low, high, integer, current)`` of the policy parameter at ``path`` (``policies.N.param``)."""
    parts = path.split(".")
    example = "expected fleet, demand or policies.N.PARAM such as policies.0.target_utilization"
    if len(parts) != 3 or parts[0] != "policies" or not parts[1].isdigit():
        raise ScenarioError(None, [("--vary", f"{example}, got {path!r}")])
    index, name = int(parts[1]), parts[2]
    if index >= len(base.policies):
        raise ScenarioError(base.source, [("--vary", f"policies.{index}: the scenario has {len(base.policies)} "
                                                     "policies")])
    spec = base.policies[index]
    params = spec.policy_class().Params
    if name not in params.model_fields or name not in spec.params:
        raise ScenarioError(base.source, [("--vary", f"policies.{index} has no parameter {name!r}; parameters: "
                                                     f"{', '.join(params.model_fields)}")])
    current = spec.params[name]
    if isinstance(current, bool) or not isinstance(current, int | float):
        raise ScenarioError(base.source, [("--vary", f"policies.{index}.{name} is not a number ({current!r})")])
    low, high = current / 2, current * 2
    for m in params.model_fields[name].metadata:
        for attr, nudge in (("ge", 0.0), ("gt", 0.01), ("le", 0.0), ("lt", -0.01)):
            v = getattr(m, attr, None)
            if v is not None:
                if attr in ("ge", "gt"):
                    low = max(low, v + nudge * max(abs(v), 1))
                else:
                    high = min(high, v + nudge * max(abs(v), 1))
    return low, high, isinstance(current, int), float(current)


def _plan_policy(ev: Evaluator, path: str) -> str | None:
    low, high, integer, _ = _policy_range(ev.base, path)

    def value(x: float) -> float | int:
        return round(x) if integer else float(f"{x:.4g}")

    def run(x: float | int, phase: str) -> dict[str, Any]:
        return ev.evaluate({path: x}, {path: x}, phase, None)

    grid = list(dict.fromkeys(value(x) for x in np.linspace(low, high, POLICY_GRID)))
    _estimate(ev, {path: grid[0]}, len(grid) + POLICY_ROUNDS)
    for x in grid:
        run(x, "grid")
    for _ in range(POLICY_ROUNDS):  # halve the bracket between the cheapest value that meets and a miss
        best = ev.best()
        if best is None:
            break
        rows = {r[path]: r for r in ev.rows}
        tried = sorted(rows)
        i = tried.index(best[path])
        for j in (i - 1, i + 1):
            # A neighbour that meets is dearer (best is the cheapest that meets): the saving, if any,
            # lies towards a neighbour that misses.
            if 0 <= j < len(tried) and not rows[tried[j]]["meets"]:
                mid = value((tried[i] + tried[j]) / 2)
                if mid not in rows:
                    run(mid, "refine")
    best = ev.best()
    if best is None:
        return "no value of the parameter meets the SLOs"
    if best[path] in (grid[0], grid[-1]) and len(grid) > 1:
        return (f"range: the answer {best[path]:g} is an end of the range searched [{grid[0]:g}, {grid[-1]:g}] "
                f"(half to twice the scenario's value, within the policy's bounds); to search beyond it, start "
                f"from another value with --set {path}=...")
    return None
