"""``vary="fleet"``: per-region sizing by the analytic model; if that start misses, a common
scale factor on every region's count grows until the plan meets (bisection between the last
miss and the first meet); then a coordinate-wise bisection lowers each region's count in turn,
regions in order of decreasing monthly cost (the greedy heuristic: the largest possible saving
first), keeping every change that still meets. Supply caps bound every count."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from swarmsim.errors import ScenarioError
from swarmsim.planning import analytic
from swarmsim.planning.analytic import Fleet, Model, Prediction
from swarmsim.planning.evaluate import Evaluator, _estimate, _InfeasibleError
from swarmsim.planning.result import fleet_of
from swarmsim.planning.slo import Slo
from swarmsim.scenario import InferenceWorkloadSpec, Scenario

#: Growth steps of the common scale factor before a plan is called out of reach.
MAX_GROW_STEPS = 8


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
                          for r, c in prev.items() for t, n in c.items() if (cap := caps[(r, t)]) is not None
                          and n >= cap]
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
    at_floor: list[str] = []
    for r, t in order:
        group = next(g for g, types in groups.items() if t in types)
        lo = max(analytic.stability_floor(model, r, group, t) - 1, 0)
        hi = fleet[r][t]
        if hi - lo <= 1:
            at_floor.append(f"{r}.{t}={hi}")
        while hi - lo > 1:
            half = (lo + hi) // 2
            trial = {rr: dict(c) for rr, c in fleet.items()}
            trial[r][t] = half
            if run(trial, "trim")["meets"]:
                hi, fleet = half, trial
            else:
                lo = half
    trimmed = sum(row["phase"] == "trim" for row in ev.rows)
    floor = (f"{', '.join(at_floor)} already at the stability floor (one node fewer would be unstable, so it "
             "is never simulated)") if at_floor else ""
    done = (f"search done after {len(ev.rows)} candidate{'s' if len(ev.rows) != 1 else ''} "
            f"(the estimate allowed for more):")
    if trimmed:
        ev.progress(f"{done} each count was lowered until one node fewer missed the SLOs"
                    f"{'; ' + floor if floor else ''}")
    else:
        ev.progress(f"{done} no count could be lowered: {floor or 'every smaller count missed'}")
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
