"""A run's bill under its ``pricing:`` section: billing.csv by pricing model, the commitments,
and the summary and breakdown figures (docs/pricing-power-carbon.md, docs/metrics.md).

Only scenarios with a ``pricing:`` section come here; without one the bill is the plain
``billing_frame`` and nothing changes. The arithmetic is :mod:`swarmsim.pricing`'s.

Every figure counts the measurement window ``[warmup, horizon]``:

- an on-demand, spot or community segment is billed over ``[start_s, start_s + billed_s)``:
  the rounding of its increment and minimum is charged right after it ends (a segment still
  running at the horizon is not rounded: it has not ended);
- a reserved node's segment costs nothing of its own (``cost_usd`` 0): its node is under a
  commitment, and each commitment is one row (``node_id`` -1) that costs its amortized rate
  over the part of its term in the window, used or not;
- ``committed_unused_usd`` is the commitments' cost minus the busy GPU-seconds of their pools
  (jobs, interrupted runs, replicas) at the amortized rate: committed capacity paid but idle,
  whether no node held it or a node held it without work.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from swarmsim.metrics.aggregate import JobAggregate
from swarmsim.metrics.summary import busy_gpu_seconds
from swarmsim.metrics.window import lost_gpu_seconds, overlap_s
from swarmsim.pricing import MODELS, billed_seconds, commitments, rates_for
from swarmsim.scenario import Scenario

#: Summary keys this module adds (after ``cost_usd``'s own).
PRICING_KEYS = ("cost_on_demand_usd", "cost_reserved_usd", "cost_spot_usd", "cost_community_usd",
                "committed_unused_usd", "upfront_usd")


def plain_node_cost_usd(sc: Scenario, billing: pd.DataFrame) -> float:
    """The node cost the plain summary counts: each segment's GPUs x price x seconds in the
    window, USD (what :func:`pricing_figures`' ``node_cost_usd`` replaces)."""
    inside = overlap_s(billing["start_s"].to_numpy(dtype=float), billing["end_s"].to_numpy(dtype=float),
                       sc.warmup, sc.horizon)
    return float(np.sum(billing["gpus"].to_numpy() * billing["usd_per_gpu_hour"].to_numpy() * inside) / 3600.0)


def _key(model: str) -> str:
    return f"cost_{model.replace('-', '_')}_usd"


def priced_billing(sc: Scenario, billing: pd.DataFrame) -> pd.DataFrame:
    """billing.csv under ``pricing:``: the node segments with ``pricing`` (model), ``billed_s``
    (seconds billed after the increment and minimum), ``cost_usd`` (in the window) and
    ``upfront_usd``, then one row per reserved commitment (``node_id`` -1, ``gpus`` = nodes x
    GPUs per node, ``[start_s, end_s)`` its term within the run)."""
    lo, hi = sc.warmup, sc.horizon
    bill = billing.copy()
    types = bill["node_type"].astype(str).to_numpy()
    start = bill["start_s"].to_numpy(dtype=float)
    end = bill["end_s"].to_numpy(dtype=float)
    model = np.empty(len(bill), dtype=object)
    billed = end - start
    for name in sc.node_types:
        mine = types == name
        if not mine.any():
            continue
        r = rates_for(sc, name)
        model[mine] = r.model
        if r.model != "reserved":
            ended = mine & (end < hi - 1e-9)  # a segment running at the horizon has not ended
            billed[ended] = billed_seconds(billed[ended], r.increment_s, r.minimum_s)
    cost = bill["gpus"].to_numpy() * bill["usd_per_gpu_hour"].to_numpy() * overlap_s(start, start + billed, lo, hi)
    cost = np.where(model == "reserved", 0.0, cost / 3600.0)
    bill = bill.assign(pricing=pd.Categorical(model, categories=list(MODELS)), billed_s=billed, cost_usd=cost,
                       upfront_usd=0.0)
    rows = _commitment_rows(sc, bill)
    if rows:
        bill = pd.concat([bill, pd.DataFrame(rows).astype({"pricing": bill["pricing"].dtype,
                                                          "region": bill["region"].dtype,
                                                          "node_type": bill["node_type"].dtype})],
                         ignore_index=True)
    return bill


def _commitment_rows(sc: Scenario, bill: pd.DataFrame) -> list[dict[str, object]]:
    lo, hi = sc.warmup, sc.horizon
    rows: list[dict[str, object]] = []
    for name, entry in (sc.pricing or {}).items():
        if entry.model != "reserved":
            continue
        r = rates_for(sc, name)
        gpus = sc.node_types[name].gpus
        for region, spec in sc.regions.items():
            mine = bill[(bill["node_type"].astype(str) == name) & (bill["region"].astype(str) == region)]
            committed = entry.count.get(region, 0)
            mult = spec.price_multiplier
            for t0, nodes in commitments(mine["start_s"].to_numpy(), mine["end_s"].to_numpy(), committed,
                                         r.term_s, hi):
                t1 = min(t0 + r.term_s, hi)
                inside = max(min(t1, hi) - max(t0, lo), 0.0)
                rows.append({
                    "node_id": -1, "region": region, "node_type": name, "gpus": nodes * gpus,
                    "usd_per_gpu_hour": r.effective_usd_per_gpu_hour * mult, "start_s": t0, "end_s": t1,
                    "pricing": "reserved", "billed_s": inside,
                    "cost_usd": nodes * gpus * mult * r.effective_usd_per_gpu_hour * inside / 3600.0,
                    "upfront_usd": nodes * gpus * mult * r.upfront_usd_per_gpu if lo <= t0 < hi else 0.0,
                })
    return rows


#: Busy GPU-seconds in the window per (region, node type): jobs, interrupted runs, replicas.
Busy = dict[tuple[str, str], float]


def busy_by_pool(sc: Scenario, jobs: pd.DataFrame, lost: pd.DataFrame, replicas: pd.DataFrame | None,
                 agg: JobAggregate | None = None) -> Busy:
    """GPU-seconds that did work in the window, per (region, node type): jobs (from the rows,
    or the aggregate's exact sums), interrupted runs and GPUs held by model replicas, the same
    busy time as ``gpu_hours_busy`` and ``idle_cost_usd`` count."""
    held = [lost] if replicas is None or not len(replicas) else [lost, replicas[lost.columns.intersection(
        replicas.columns)]]
    parts = [h.assign(busy_s=lost_gpu_seconds(h, sc))[["region", "node_type", "busy_s"]] for h in held]
    if agg is None:
        parts.append(jobs.assign(busy_s=busy_gpu_seconds(jobs, sc))[["region", "node_type", "busy_s"]])
    frame = pd.concat(parts, ignore_index=True)
    out: Busy = {}
    if len(frame):
        sums = frame.assign(region=frame["region"].astype(str), node_type=frame["node_type"].astype(str)) \
            .groupby(["region", "node_type"])["busy_s"].sum()
        out = {(str(r), str(t)): float(v) for (r, t), v in sums.items()}
    if agg is not None:
        cube = agg.cube(agg.busy_s).sum(axis=0)[1:, 1:]  # (region, node type)
        for i, region in enumerate(agg.regions):
            for j, ntype in enumerate(agg.node_types):
                if cube[i, j]:
                    out[(region, ntype)] = out.get((region, ntype), 0.0) + float(cube[i, j])
    return out


def pricing_figures(sc: Scenario, bill: pd.DataFrame, busy: Busy) -> dict[str, float]:
    """The summary's cost by pricing model, ``committed_unused_usd`` and ``upfront_usd``, and
    ``cost_usd`` of the nodes (egress not included), from :func:`priced_billing`'s frame."""
    out = {_key(m): float(bill.loc[bill["pricing"] == m, "cost_usd"].sum()) for m in MODELS}
    out["committed_unused_usd"] = committed_unused_usd(bill, busy)
    out["upfront_usd"] = float(bill["upfront_usd"].sum())
    out["node_cost_usd"] = float(bill["cost_usd"].sum())
    return out


def committed_unused_usd(bill: pd.DataFrame, busy: Busy) -> float:
    """USD of commitments paid in the window for GPU time that did no work: per region and
    reserved node type, the commitments' cost minus the busy GPU-seconds there at the
    commitment's amortized rate (never below 0). It counts committed capacity with no node in
    it and reserved nodes that ran idle alike."""
    rows = bill[(bill["pricing"] == "reserved") & (bill["node_id"] < 0)]
    total = 0.0
    for (region, ntype), group in rows.groupby([rows["region"].astype(str), rows["node_type"].astype(str)]):
        paid = float(group["cost_usd"].sum())
        rate = float(group["usd_per_gpu_hour"].iloc[0]) / 3600.0
        total += max(paid - busy.get((str(region), str(ntype)), 0.0) * rate, 0.0)
    return total


def priced_breakdown(sc: Scenario, breakdown: pd.DataFrame, bill: pd.DataFrame, busy: Busy) -> pd.DataFrame:
    """The breakdown with each row's ``cost_usd`` from the priced bill (plus egress on region
    rows, as before) and one column per pricing model's cost and ``committed_unused_usd``."""
    gpu_of = {name: t.gpu for name, t in sc.node_types.items()}
    frame = bill.assign(gpu_type=bill["node_type"].astype(str).map(gpu_of), region=bill["region"].astype(str))
    out = breakdown.copy()
    plain = out.get("by").isin(["region", "gpu_type"]) if len(out) else pd.Series(dtype=bool)
    for m in MODELS:
        out[_key(m)] = math.nan
    out["committed_unused_usd"] = math.nan
    for i in out.index[plain]:
        by, name = out.at[i, "by"], out.at[i, "name"]
        col = "region" if by == "region" else "gpu_type"
        mine = frame[frame[col] == name]
        old_nodes = float((mine["gpus"] * mine["usd_per_gpu_hour"] * overlap_s(
            mine["start_s"].to_numpy(dtype=float), mine["end_s"].to_numpy(dtype=float), sc.warmup, sc.horizon)
        ).where(mine["node_id"] >= 0, 0.0).sum() / 3600.0)
        extra = float(out.at[i, "cost_usd"]) - old_nodes  # egress on region rows
        out.at[i, "cost_usd"] = float(mine["cost_usd"].sum()) + extra
        for m in MODELS:
            out.at[i, _key(m)] = float(mine.loc[mine["pricing"] == m, "cost_usd"].sum())
        out.at[i, "committed_unused_usd"] = committed_unused_usd(mine, busy)
    return out
