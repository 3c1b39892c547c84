"""The search: candidates from the analytic start, checked by simulation on common seeds.

:func:`plan` checks its arguments, runs one strategy and returns a
:class:`~swarmsim.planning.result.PlanResult`. The pieces below it: ``slo.py`` (the SLOs and the
rule for meeting one), ``evaluate.py`` (a candidate's runs and table row), ``result.py`` (the plan
files and text), ``fleet.py`` (the fleet strategy); the demand and policy strategies are here.

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
* ``vary="pd"`` (or ``"pd:NAME"``): the prefill and decode replica counts of a disaggregated
  service (``split.py``).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from swarmsim.errors import ArgumentError, ScenarioError, did_you_mean
from swarmsim.planning import analytic
from swarmsim.planning.analytic import Model
from swarmsim.planning.evaluate import CANDIDATES, BudgetError, Evaluator, _estimate, _InfeasibleError
from swarmsim.planning.fleet import (
    _gap,
    _plan_fleet,
    fleet_overrides,
    predicted_meets,
)
from swarmsim.planning.result import PlanResult, fleet_of
from swarmsim.planning.slo import (
    HIGHER_IS_BETTER,
    MUST_BE_ZERO,
    Slo,
    check_slos,
    known_metrics,
    level_metrics,
    make_slo,
    parse_slo,
    worst_ratio,
)
from swarmsim.planning.split import best_split, plan_split, split_target
from swarmsim.scenario import Scenario, load_scenario

log = logging.getLogger(__name__)

#: ``vary="policies.N.param"``: values in the first grid, then rounds of halving the bracket.
POLICY_GRID = 5
POLICY_ROUNDS = 4


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
    max_seeds: int | None = None,
    analytic_start: bool = True,
    progress: Callable[[str], None] | None = None,
    report: bool = True,
) -> PlanResult:
    """Find the cheapest plan that meets every SLO (or answer an inverse question).

    Args:
        scenario: a path, a dict or a :class:`Scenario`; its workloads are the demand to plan for.
        slo: ``{"request_latency_p99_s": 2.0, "job_wait_p95_s": "30m"}`` or ``["metric=value", ...]``;
            a bound is an upper bound, or a lower bound for :data:`HIGHER_IS_BETTER` figures.
        vary: ``"fleet"`` (nodes per region and type), ``"demand"`` (most demand the scenario's
            fleet carries), ``"policies.N.param"`` (the cheapest value of a policy parameter) or
            ``"pd"`` / ``"pd:NAME"`` (the cheapest prefill:decode split of a disaggregated service).
        node_types: node types the fleet may use (default: all of the scenario's).
        regions: regions that may hold nodes (default: the scenario's active regions).
        seeds: seeds every candidate runs on (common random numbers); an int n means range(n).
        max_seeds: adaptive replication: a candidate whose interval still straddles an SLO's bound
            gets more seeds (doubling, the next unused numbers) up to this many; default (None):
            the fixed ``seeds`` (:mod:`swarmsim.planning.evaluate`, docs/planning.md).
        backend, jobs, address: where the simulations run (:func:`swarmsim.sweep`). With ``"ray"``
            one Ray instance serves the whole plan (started here unless already initialised, and
            shut down at the end if started here).
        out: the plan folder; each candidate's runs go to ``out/candidates/<key>/`` (a sweep folder
            that a re-run resumes), then ``save(out)`` writes the plan files and the chosen run.
        max_runs: most simulations to run (finished runs found in ``out`` are free).
        confidence: of the intervals across seeds (log-t, logit-t: :mod:`swarmsim.experiments.stats`) a
            candidate must keep within its SLOs.
        analytic_start: start from the analytic sizing (``False``: from one node per region,
            to measure what the analytic start saves).
        progress: called with one line per event (the estimate, each candidate, the best plan so
            far); default: the module's logger at INFO.
        report: write ``report.html`` in the chosen plan's run folder (``out/run``).

    Raises:
        ScenarioError: bad scenario, SLO, vary, node type, region, seeds, backend or out folder;
            nothing has run or been written when it is raised.
    """
    from swarmsim.experiments.backends import check_backend, ray_session
    from swarmsim.experiments.sweep import check_seeds

    started = time.perf_counter()
    say = progress or log.info
    base = load_scenario(scenario)
    slos = check_slos(slo, base)
    seed_list = check_seeds(seeds, base.source)
    check_backend(backend, jobs, address)
    if max_runs is not None and max_runs < 1:
        raise ArgumentError(None, [("max_runs", f"expected a number of simulations >= 1, got {max_runs}")])
    if max_seeds is not None and max_seeds < len(seed_list):
        raise ArgumentError(None, [("max_seeds", f"expected at least the {len(seed_list)} starting seeds "
                                                   f"(seeds), got {max_seeds}")])
    if not 0 < confidence < 1:
        raise ArgumentError(None, [("confidence", f"expected a probability between 0 and 1, got {confidence}")])
    region_list = _check_names("regions", regions, base.regions, [r for r, s in base.regions.items() if s.active])
    type_list = _check_names("node_types", node_types, base.node_types, list(base.node_types))
    for r in region_list:
        if not base.regions[r].active:
            raise ArgumentError(base.source, [("regions", f"{r} is inactive in the scenario (active: false)")])
    if vary != "fleet":
        for option, given in (("regions", regions), ("node_types", node_types)):
            if given is not None:
                raise ArgumentError(None, [(option, f"only for vary=fleet; vary={vary} keeps the scenario's "
                                                     "fleet (change it with an override of fleet)")])
    if vary == "fleet":
        analytic.groups(base, type_list)  # every workload can be placed on the node types
    elif vary == "demand":
        demand_overrides(base, 1.0)
    elif vary == "pd" or vary.startswith("pd:"):
        split_target(base, vary)
    else:
        _policy_range(base, vary)
    with contextlib.ExitStack() as stack:
        if backend == "ray":  # one Ray instance for every candidate's sweep, before the folder exists
            stack.enter_context(ray_session(address, jobs))
        folder = _open_out(out)
        ev = Evaluator(with_levels(base, slos), slos, seed_list, out=folder, backend=backend, jobs=jobs,
                       max_runs=max_runs, confidence=confidence, progress=say, address=address,
                       max_seeds=max_seeds)
        binding: str | None = None
        info: dict[str, Any] = {}
        try:
            if vary == "fleet":
                binding, info = _plan_fleet(ev, region_list, type_list, analytic_start)
            elif vary == "demand":
                binding, info = _plan_demand(ev, analytic_start)
            elif vary == "pd" or vary.startswith("pd:"):
                binding, info = plan_split(ev, vary, analytic_start)
            else:
                binding = _plan_policy(ev, vary)
        except BudgetError:
            binding = f"budget: max_runs={max_runs} reached before the search finished"
            say(binding)
        except _InfeasibleError as err:
            binding = str(err)
            say(f"infeasible: {binding}")
    best = best_split(ev) if vary == "pd" or vary.startswith("pd:") else ev.best()
    if vary == "demand":
        ok = [r for r in ev.rows if r["meets"]]
        best = max(ok, key=lambda r: r["demand_scale"]) if ok else None
    result = PlanResult(
        vary=vary, slos=slos, seeds=seed_list, table=pd.DataFrame(ev.rows), recommended=best,
        feasible=best is not None,
        binding=binding if best is None or (binding and binding.startswith(("budget", "range"))) else None,
        closest=ev.closest() if best is None else None, analytic=info, runs=ev.runs, runs_reused=ev.reused,
        base=base, max_seeds=ev.max_seeds)
    if vary == "fleet" and best is not None and info:
        info.update(_gap(base, info, best, slos))
    result.wall_time_s = time.perf_counter() - started
    if folder is not None:
        result.save(folder, report=report)
    return result


def with_levels(base: Scenario, slos: list[Slo]) -> Scenario:
    """``base`` asking its runs' summaries for the service-level figures the SLOs name beyond the
    headline ones (``report.figures``, added to any the scenario asks for); the analytic model
    predicts the same figures."""
    wanted = level_metrics(slos)
    if not wanted:
        return base
    have = list(base.report.figures) if base.report is not None else []
    return load_scenario(base, {"report": {"figures": list(dict.fromkeys([*have, *wanted]))}})


def _check_names(option: str, given: list[str] | None, known: dict[str, Any], default: list[str]) -> list[str]:
    if given is None:
        return default
    names = [str(g).strip() for g in given if str(g).strip()]
    if not names:
        raise ArgumentError(None, [(option, "expected at least one name")])
    for n in names:
        if n not in known:
            raise ArgumentError(None, [(option, f"unknown name {n!r}{did_you_mean(n, known)}; the scenario has: "
                                                f"{', '.join(known)}")])
    return list(dict.fromkeys(names))


def _open_out(out: str | os.PathLike[str] | None) -> Path | None:
    """The plan folder: new, empty, or an earlier plan's (which is resumed)."""
    if out is None:
        return None
    folder = Path(out)
    if folder.exists():
        if not folder.is_dir():
            raise ArgumentError(str(folder), [("out", "the path is a file; choose a folder")])
        if any(folder.iterdir()) and not (folder / CANDIDATES).is_dir():
            raise ArgumentError(str(folder), [("out", "a folder that is not empty and holds no plan; "
                                                        "choose a new folder")])
    try:
        (folder / CANDIDATES).mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ArgumentError(str(folder), [("out", f"cannot create the plan folder: {err}")]) from None
    return folder


# --- vary demand -----------------------------------------------------------------------------


def demand_overrides(base: Scenario, scale: float) -> dict[str, Any]:
    """Overrides that multiply every workload's arrival rate by ``scale``."""
    from swarmsim.scenario import DeterministicArrivals, DiurnalArrivals, MmppArrivals, PoissonArrivals

    out: dict[str, Any] = {}
    for name, work in base.workloads.items():
        a, p = work.arrivals, f"workloads.{name}.arrivals"
        if a is None:
            raise ArgumentError(base.source, [(f"workloads.{name}", "vary=demand needs synthetic arrivals "
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
        raise ArgumentError(base.source, [("workloads", "vary=demand needs at least one workload")])
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
    example = "expected fleet, demand, pd[:NAME] or policies.N.PARAM such as policies.0.target_utilization"
    if len(parts) != 3 or parts[0] != "policies" or not parts[1].isdigit():
        raise ArgumentError(None, [("vary", f"{example}, got {path!r}")])
    index, name = int(parts[1]), parts[2]
    if index >= len(base.policies):
        raise ArgumentError(base.source, [("vary", f"policies.{index}: the scenario has {len(base.policies)} "
                                                     "policies")])
    spec = base.policies[index]
    params = spec.policy_class().Params
    if name not in params.model_fields or name not in spec.params:
        raise ArgumentError(base.source, [("vary", f"policies.{index} has no parameter {name!r}; parameters: "
                                                     f"{', '.join(params.model_fields)}")])
    current = spec.params[name]
    if isinstance(current, bool) or not isinstance(current, int | float):
        raise ArgumentError(base.source, [("vary", f"policies.{index}.{name} is not a number ({current!r})")])
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
                f"from another value (an override of {path})")
    return None


__all__ = [
    "HIGHER_IS_BETTER", "MUST_BE_ZERO", "BudgetError", "Evaluator", "PlanResult", "Slo", "check_slos",
    "demand_overrides", "fleet_of", "fleet_overrides", "known_metrics", "make_slo", "parse_slo", "plan",
    "predicted_meets", "worst_ratio",
]
