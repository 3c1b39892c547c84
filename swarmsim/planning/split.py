"""``vary="pd"``: the prefill:decode split of a disaggregated service, sized over full runs
(docs/planning.md, "Sizing the P:D ratio").

The candidates are the service's prefill and decode replica counts ``(P, D)`` in its region
(``P, D >= 1``); the fleet of each candidate is just enough nodes of the pools' node type to hold
them, and its cost is the replicas' GPUs at that type's price (times the region's multiplier,
:data:`~swarmsim.planning.analytic.HOURS_PER_MONTH` a month). Every candidate runs on the plan's
common seeds (:class:`~swarmsim.planning.evaluate.Evaluator`).

The search, by total replicas ``N = P + D``:

1. **Analytic start**: :func:`swarmsim.disagg.size_split` on the scenario's own requests (its
   arrivals and token counts drawn as the run of the first seed draws them), for N = 2, 3, ...:
   the smallest N at which some split meets the TTFT and TPOT p99 SLOs, and that split.
2. **Simulation**: every split of N (in the analytic order, best first); if one meets, the same
   at N - 1, and so on down while one meets; if none meets, N + 1 and up, to ``max_replicas``.
   The answer is the cheapest candidate that meets, ties broken by the smallest worst SLO
   ratio. With both pools on the same replica shape, cost grows with N, so the first N (from
   below) with a meeting split holds the cheapest plan.
"""

from __future__ import annotations

import math
from typing import Any

from swarmsim.errors import ScenarioError
from swarmsim.planning.analytic import HOURS_PER_MONTH
from swarmsim.planning.evaluate import Evaluator, _estimate, _InfeasibleError
from swarmsim.planning.slo import worst_ratio
from swarmsim.scenario import InferenceWorkloadSpec, Scenario

#: SLO metrics the analytic split reads (the others count only in the simulations).
TTFT, TPOT = "request_ttft_p99_s", "request_tpot_p99_s"
#: Largest total replica count the search tries by default.
MAX_REPLICAS = 32


def split_target(base: Scenario, vary: str) -> tuple[str, str, str]:
    """``(workload, region, node type)`` of ``vary`` (``"pd"``: the one disaggregated workload,
    ``"pd:NAME"``); a :class:`ScenarioError` naming ``--vary`` otherwise."""
    disagg = [n for n, w in base.workloads.items()
              if isinstance(w, InferenceWorkloadSpec) and w.prefill_pool is not None]
    name = vary.partition(":")[2]
    if not name:
        if len(disagg) != 1:
            raise ScenarioError(base.source, [("--vary", f"pd: the scenario has {len(disagg)} disaggregated "
                                               f"workloads ({', '.join(disagg) or 'none'}); name one with pd:NAME "
                                               "(a workload with prefill_pool and decode_pool)")])
        name = disagg[0]
    if name not in disagg:
        known = ", ".join(disagg) or "(none: set prefill_pool and decode_pool)"
        raise ScenarioError(base.source, [("--vary", f"pd:{name}: not a disaggregated workload; expected one of "
                                                     f"{known}")])
    work: InferenceWorkloadSpec = base.workloads[name]  # type: ignore[assignment]  # the caller names an inference workload
    pools = (work.prefill_pool, work.decode_pool)
    regions = sorted({r for pool in pools for r, n in pool.replicas.items() if n > 0})  # type: ignore[union-attr]  # a disaggregated workload has both pools
    if len(regions) != 1:
        raise ScenarioError(base.source, [("--vary", f"pd:{name}: the pools serve in {len(regions)} regions "
                                                     f"({', '.join(regions) or 'none'}); the split is sized in one")])
    region = regions[0]
    accepted = set(base.node_types_for(base.workloads[name]))
    gpus = max(work.pool(role).replica.gpus for role in ("prefill", "decode"))
    types = [t for t in base.node_types if t in accepted and base.node_types[t].gpus >= gpus]
    in_fleet = [t for t in types if base.fleet.get(region, {}).get(t)]
    if not types:
        raise ScenarioError(base.source, [("--vary", f"pd:{name}: no node type holds a replica of {gpus} GPUs")])
    return name, region, (in_fleet or types)[0]


def split_cost(base: Scenario, name: str, region: str, node_type: str, p: int, d: int) -> float:
    """USD a month of ``p`` prefill and ``d`` decode replicas: their GPUs at the node type's price."""
    work: InferenceWorkloadSpec = base.workloads[name]  # type: ignore[assignment]  # the caller names an inference workload
    gpus = p * work.pool("prefill").replica.gpus + d * work.pool("decode").replica.gpus
    spec = base.node_types[node_type]
    return gpus * (spec.usd_per_gpu_hour or 0.0) * base.regions[region].price_multiplier * HOURS_PER_MONTH


def split_overrides(base: Scenario, name: str, region: str, node_type: str, p: int, d: int) -> dict[str, Any]:
    """The pools' replicas and a fleet of just enough nodes of ``node_type`` to hold them."""
    work: InferenceWorkloadSpec = base.workloads[name]  # type: ignore[assignment]  # the caller names an inference workload
    per = base.node_types[node_type].gpus
    gp, gd = work.pool("prefill").replica.gpus, work.pool("decode").replica.gpus
    nodes = math.ceil((p * gp + d * gd) / per) if per % gp == 0 and per % gd == 0 \
        else math.ceil(p / (per // gp)) + math.ceil(d / (per // gd))
    return {f"workloads.{name}.prefill_pool.replicas": {region: p},
            f"workloads.{name}.decode_pool.replicas": {region: d},
            "fleet": {region: {node_type: nodes}}}


def analytic_split(base: Scenario, name: str, ttft_s: float, tpot_s: float, max_replicas: int = MAX_REPLICAS,
                   ) -> tuple[int, list[tuple[int, int, float, float, bool]]] | None:
    """``(N, size_split rows at N)`` for the smallest N at which :func:`~swarmsim.disagg.size_split`
    finds a split meeting both p99s, on the scenario's own requests (first region's KV link and
    intra-region RTT); None when no N up to ``max_replicas`` does."""
    from swarmsim.catalog.models import find_model
    from swarmsim.disagg import PoolSpec, size_split
    from swarmsim.kvcache import kv_capacity_tokens
    from swarmsim.rng import Streams
    from swarmsim.serving import profile_for_replica
    from swarmsim.workloads.requests import request_batches

    work: InferenceWorkloadSpec = base.workloads[name]  # type: ignore[assignment]  # the caller names an inference workload
    offered = []
    for batch in request_batches(name, work, base, Streams(base.seed)):
        offered += list(zip(batch.time, batch.prompt, batch.output, strict=True))

    def pool(role: str) -> PoolSpec:
        r = work.pool(role).replica
        gpu = r.accepted[0] if r.accepted else base.node_types[next(iter(base.node_types_for(work)))].gpu
        kv = kv_capacity_tokens(r.model, gpu, r.gpus, r.gpu_memory_utilization) if r.kv_cache is not False else None
        return PoolSpec(1, profile_for_replica(r, gpu), math.inf if kv is None else float(kv), r.max_batch,
                        r.chunk_tokens if r.prefill == "chunked" else None)

    pre, dec = pool("prefill"), pool("decode")
    arch = find_model(work.replica.model)
    kvb = arch.kv_bytes_per_token("fp16") if arch is not None else 0.0
    bw = work.decode_pool.kv_link_bandwidth or base.network.bandwidth  # type: ignore[union-attr]  # a disaggregated workload has a decode pool
    for n in range(2, max_replicas + 1):
        rows = size_split(offered, n, pre, dec, kvb, bw, base.network.intra_region_rtt, ttft_s, tpot_s)
        if rows[0][4]:
            return n, rows
    return None


def best_split(ev: Evaluator) -> dict[str, Any] | None:
    """The cheapest candidate that meets every SLO; among equal costs, the smallest worst SLO ratio."""
    ok = [r for r in ev.rows if r["meets"]]
    return min(ok, key=lambda r: (r["cost_usd_per_month"], worst_ratio(ev.slos, r), r["candidate"])) if ok else None


def plan_split(ev: Evaluator, vary: str, analytic_start: bool,
               max_replicas: int = MAX_REPLICAS) -> tuple[str | None, dict[str, Any]]:
    """Run the search of the module docstring; returns (what binds, the analytic figures)."""
    base = ev.base
    name, region, node_type = split_target(base, vary)
    bounds = {s.metric: s.bound for s in ev.slos if s.sense == "<="}
    info: dict[str, Any] = {}
    order: dict[int, list[int]] = {}  # N: prefill counts in the analytic order
    start = 2
    if analytic_start:
        found = analytic_split(base, name, bounds.get(TTFT, math.inf), bounds.get(TPOT, math.inf), max_replicas)
        if found is not None:
            start, rows = found
            order[start] = [r[0] for r in rows]
            info.update({"analytic_replicas": start, "analytic_prefill": rows[0][0], "analytic_decode": rows[0][1],
                         "analytic_ttft_p99_s": rows[0][2], "analytic_tpot_p99_s": rows[0][3]})

    def run_n(n: int, phase: str) -> bool:
        met = False
        for p in order.get(n, range(1, n)):
            d = n - p
            over = split_overrides(base, name, region, node_type, p, d)
            labels = {f"nodes.{region}.{node_type}": over["fleet"][region][node_type],
                      "prefill_replicas": p, "decode_replicas": d}
            met |= ev.evaluate(over, labels, phase, split_cost(base, name, region, node_type, p, d))["meets"]
        return met

    _estimate(ev, split_overrides(base, name, region, node_type, start // 2 or 1, start - (start // 2 or 1)),
              2 * start)
    n = start
    if run_n(n, "analytic" if analytic_start else "start"):
        while n > 2 and run_n(n - 1, "down"):
            n -= 1
    else:
        while True:
            n += 1
            if n > max_replicas:
                raise _InfeasibleError(f"no split of up to {max_replicas} replicas meets the SLOs")
            if run_n(n, "up"):
                break
    best = best_split(ev)
    if best is not None and "analytic_replicas" in info:
        info["gap"] = (f"analytic {info['analytic_prefill']}:{info['analytic_decode']} "
                       f"vs simulated {best['prefill_replicas']}:{best['decode_replicas']}")
    return None, info


__all__ = ["MAX_REPLICAS", "analytic_split", "best_split", "plan_split", "split_cost", "split_overrides",
           "split_target"]
