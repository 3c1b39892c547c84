"""The report of a plan folder (``plan.csv``, ``plan.json``): the cost-vs-SLO front with the
chosen plan, the fleet per region, and why each rejected candidate failed."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from swarmsim.errors import ScenarioError
from swarmsim.planning.slo import Slo, parse_slo, worst_ratio
from swarmsim.report.html import Figure, Section, esc, page, table


def _labels(row: dict[str, Any]) -> str:
    parts = [f"{k.removeprefix('nodes.')}={v:g}" if isinstance(v, float) else f"{k.removeprefix('nodes.')}={v}"
             for k, v in row.items() if k.startswith(("nodes.", "policies.")) or k == "demand_scale"]
    return ", ".join(p for p in parts if not p.endswith("=0")) or "empty fleet"


def why_rejected(slos: list[Slo], row: dict[str, Any]) -> str:
    """Why a candidate did not meet the SLOs: each SLO it misses with the end of the interval that
    decides (the upper end for an at-most bound) against the bound, and any failed runs."""
    reasons = []
    for s in slos:
        if bool(row.get(f"{s.metric}_meets", True)):
            continue
        end = row[f"{s.metric}_ci_high"] if s.sense == "<=" else row[f"{s.metric}_ci_low"]
        mean = row[f"{s.metric}_mean"]
        if isinstance(end, float) and math.isnan(end):
            end = mean
        side = "upper" if s.sense == "<=" else "lower"
        if isinstance(mean, float) and math.isnan(mean):
            reasons.append(f"{s.metric}: no value (nothing measured)")
        elif s.sense == "<=" and isinstance(mean, float) and mean <= s.bound < end:
            reasons.append(f"{s.metric}: mean {mean:.4g} is within {s.bound:g}, but the {side} end of its "
                           f"interval, {end:.4g}, is not (too noisy to be sure)")
        else:
            reasons.append(f"{s.metric}: {side} interval end {end:.4g} {'>' if s.sense == '<=' else '<'} "
                           f"bound {s.bound:g} (mean {mean:.4g})")
    failed = int(row.get("failed_runs", 0) or 0)
    if failed:
        reasons.append(f"{failed} of its runs failed")
    return "; ".join(reasons) or "not chosen (meets, but costs more than the recommended plan)"


def _front(rows: list[dict[str, Any]], slos: list[Slo]) -> tuple[np.ndarray, np.ndarray, list[int]]:
    cost = np.array([float(r["cost_usd_per_month"]) for r in rows])
    ratio = np.array([min(max(worst_ratio(slos, r), 1e-3), 1e6) for r in rows])
    front, best = [], math.inf
    for i in np.lexsort((ratio, cost)):
        if ratio[i] < best:
            front.append(int(i))
            best = ratio[i]
    return cost, ratio, front


def _fleet(folder: Path, meta: dict[str, Any]) -> dict[str, dict[str, int]]:
    if meta.get("fleet"):
        return meta["fleet"]
    run = folder / "run" / "scenario.yaml"
    if run.is_file():
        return (yaml.safe_load(run.read_text()) or {}).get("fleet") or {}
    return {}


def plan_page(folder: Path) -> str:
    """The HTML report of the plan folder at ``folder``.

    Raises:
        ScenarioError: ``plan.json`` or ``plan.csv`` is missing or unreadable.
    """
    try:
        meta = json.loads((folder / "plan.json").read_text())
        frame = pd.read_csv(folder / "plan.csv")
    except (OSError, json.JSONDecodeError, pd.errors.ParserError) as err:
        raise ScenarioError(str(folder), [("", f"cannot read the plan files: {err}")]) from None
    slos = [parse_slo(s) for s in meta.get("slo", [])]
    rows = frame.to_dict("records")
    chosen = meta.get("recommended")
    pick = int(chosen["candidate"]) if chosen else None
    over = Section("overview", "What the plan found")
    if chosen:
        over.lead = esc(f"Recommended: candidate {pick}, {_labels(chosen)}, ${chosen['cost_usd_per_month']:,.0f} per "
                        f"month: the cheapest candidate whose {len(meta.get('seeds', []))}-seed 95 % intervals are "
                        f"within every SLO ({', '.join(meta.get('slo', []))}).")
    else:
        over.lead = esc("Infeasible: no candidate meets every SLO with the stated confidence."
                        + (f" Binding: {meta['binding_constraint']}." if meta.get("binding_constraint") else ""))
    facts = [["vary", esc(meta.get("vary"))], ["SLOs", esc(", ".join(meta.get("slo", [])))],
             ["candidates simulated", str(meta.get("candidates", len(rows)))],
             ["simulations", f"{meta.get('simulations_run', 0)} run, {meta.get('simulations_reused', 0)} reused"]]
    gap = (meta.get("analytic_vs_simulated") or {}).get("gap")
    if gap:
        facts.append(["analytic start vs answer", esc(gap)])
    over.add(table(None, facts, numeric_from=2))
    if (folder / "run" / "report.html").is_file():
        over.add('<p>The chosen plan\'s own run report: <a href="run/report.html">run/report.html</a>.</p>')
    front = Section("front", "Cost against the SLOs",
                    "Each candidate's monthly cost against its worst SLO ratio (the deciding interval end over the "
                    "bound; below 1 meets). The line is the Pareto front; the star is the recommended plan.")
    if rows:
        cost, ratio, on = _front(rows, slos)
        meets = np.array([bool(r["meets"]) for r in rows])
        text = [f"candidate {r['candidate']} ({esc(r['phase'])}): {esc(_labels(r))}" for r in rows]
        traces: list[dict[str, Any]] = []
        for mask, name, marker in ((meets, "meets every SLO", {"color": "#2ca02c", "size": 9}),
                                   (~meets, "misses", {"color": "#d62728", "symbol": "x", "size": 9})):
            idx = np.nonzero(mask)[0]
            traces.append({"type": "scatter", "mode": "markers", "x": cost[idx], "y": ratio[idx], "name": name,
                           "text": [text[i] for i in idx], "marker": marker,
                           "hovertemplate": "%{text}<br>$%{x:,.0f}/month, worst ratio %{y:.3g}<extra></extra>"})
        traces.append({"type": "scatter", "mode": "lines", "x": cost[on], "y": ratio[on], "name": "Pareto front",
                       "line": {"color": "#666", "width": 1}, "hoverinfo": "skip"})
        if pick is not None:
            i = [int(r["candidate"]) for r in rows].index(pick)
            traces.append({"type": "scatter", "mode": "markers", "x": [cost[i]], "y": [ratio[i]],
                           "name": "recommended", "text": [text[i]], "hovertemplate": "%{text}<extra></extra>",
                           "marker": {"symbol": "star", "size": 20, "color": "gold", "line": {"color": "#000",
                                                                                              "width": 1}}})
        front.add(Figure(traces, {"xaxis": {"title": {"text": "cost, USD per month"}},
                                  "yaxis": {"title": {"text": "worst SLO ratio (< 1 meets)"}, "type": "log"},
                                  "shapes": [{"type": "line", "xref": "paper", "yref": "y", "x0": 0, "x1": 1,
                                              "y0": 1, "y1": 1, "line": {"dash": "dash", "color": "#000"}}]}))
    fleet = _fleet(folder, meta)
    fl = Section("fleet", "The fleet per region",
                 "Nodes of the " + ("recommended" if chosen else "closest") + " plan in each region, by node type.")
    types = sorted({t for c in fleet.values() for t in c})
    regions = list(fleet)
    fl.add(Figure([{"type": "bar", "name": t, "x": regions, "y": [fleet[r].get(t, 0) for r in regions],
                    "hovertemplate": "%{x}: %{y} × " + esc(t) + "<extra></extra>"} for t in types],
                  {"barmode": "stack", "bargap": 0.5, "yaxis": {"title": {"text": "nodes"}}}, height=340))
    fl.add(table(["region", "node type", "nodes"], [[esc(r), esc(t), n] for r in regions for t, n in fleet[r].items()],
                 numeric_from=2))
    rej = Section("rejected", "Why each rejected candidate failed",
                  "Every simulated candidate that was not chosen, cheapest first, with the reason.")
    lines = [[r["candidate"], esc(r["phase"]), esc(_labels(r)), f"${r['cost_usd_per_month']:,.0f}",
              esc(why_rejected(slos, r))]
             for r in sorted(rows, key=lambda r: float(r["cost_usd_per_month"])) if r["candidate"] != pick]
    rej.add(table(["#", "phase", "candidate", "USD/month", "why not"], lines, numeric_from=3, numeric_to=4) if lines
            else '<p class="note">No other candidate was simulated.</p>')
    return page(f"swarmsim plan: {meta.get('scenario', folder.name)}", esc(", ".join(meta.get("slo", []))),
                [over, front, fl, rej])


__all__ = ["plan_page", "why_rejected"]
