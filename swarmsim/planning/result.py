"""What a plan found (:class:`PlanResult`): its table of candidates, the recommendation, the
plan files it saves and the text it prints."""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from swarmsim.jsonvalues import json_scalar
from swarmsim.planning.analytic import Fleet
from swarmsim.planning.slo import Slo
from swarmsim.render import text_table
from swarmsim.scenario import Scenario, load_scenario


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
    max_seeds: int | None = None

    @property
    def fleet(self) -> Fleet | None:
        """The recommended fleet (region -> node type -> nodes), or None."""
        row = self.recommended or self.closest
        return None if row is None else fleet_of(row) or self.base.fleet

    def orders_ahead(self) -> list[dict[str, Any]]:
        """The nodes the recommended fleet adds to the base fleet of a node type with a lead time:
        ``region``, ``node_type``, ``nodes``, ``lead_time_s``; they must be ordered that long
        before they are needed."""
        fleet = self.fleet if self.vary == "fleet" else None
        out = []
        for region, counts in (fleet or {}).items():
            for t, n in counts.items():
                lead = float(self.base.node_types[t].lead_time or 0.0)
                extra = n - self.base.fleet.get(region, {}).get(t, 0)
                if lead > 0 and extra > 0:
                    out.append({"region": region, "node_type": t, "nodes": extra, "lead_time_s": lead})
        return out

    def scenario(self) -> Scenario | None:
        """The recommended (else closest) candidate as a scenario, or None."""
        row = self.recommended or self.closest
        return None if row is None else load_scenario(self.base, row["overrides"]) if row["overrides"] else self.base

    def to_dict(self) -> dict[str, Any]:
        """The plan as JSON-ready data (what ``plan.json`` holds)."""
        def clean(row: dict[str, Any] | None) -> dict[str, Any] | None:
            if row is None:
                return None
            return {k: json_scalar(v) for k, v in row.items() if k != "overrides"} | {"overrides": row["overrides"]}

        return {
            "scenario": self.base.name, "scenario_sha256": self.base.digest(), "vary": self.vary,
            "slo": [str(s) for s in self.slos], "seeds": self.seeds,
            "max_seeds": self.max_seeds or len(self.seeds), "feasible": self.feasible,
            "recommended": clean(self.recommended), "fleet": self.fleet if self.vary == "fleet" else None,
            **({"orders_ahead": self.orders_ahead()} if self.orders_ahead() else {}),
            "binding_constraint": self.binding, "closest": clean(self.closest) if not self.feasible else None,
            "analytic_vs_simulated": self.analytic, "simulations_run": self.runs,
            "simulations_reused": self.runs_reused, "candidates": len(self.table),
            "wall_time_s": round(self.wall_time_s, 1),
        }

    def save(self, folder: str | os.PathLike[str], run: bool = True, report: bool = True) -> Path:
        """Write ``plan.csv``, ``plan.json``, ``cost-vs-slo.png``, ``fleet-by-region.png`` and (with
        ``run``) the chosen plan's run folder ``run/`` (seed = the plan's first seed; with its
        ``report.html`` unless ``report`` is false) into ``folder``. Each file appears atomically."""
        from swarmsim.atomic import atomic_file, write_atomic
        from swarmsim.planning.plots import plot_cost_vs_slo, plot_fleet

        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        shown = self.table.drop(columns=["overrides", "key"], errors="ignore")
        write_atomic(out / "plan.csv", shown.to_csv(index=False))
        write_atomic(out / "plan.json", json.dumps(self.to_dict(), indent=2, default=json_scalar) + "\n")
        if len(self.table):
            from swarmsim.plots.base import new_figure

            for name, draw, size in (("cost-vs-slo.png", plot_cost_vs_slo, (7, 4.5)),
                                     ("fleet-by-region.png", plot_fleet, (6, 4))):
                fig, ax = new_figure(size)  # outside pyplot: a notebook's backend stays as it was
                draw(self, ax=ax)
                with atomic_file(out / name, "wb") as f:
                    fig.savefig(f, format="png", dpi=110, bbox_inches="tight")
        chosen = self.scenario()
        if run and chosen is not None:
            from swarmsim.simulation import simulate

            simulate(load_scenario(chosen, {"seed": self.seeds[0]})).save(out / "run", report=report)
        return out

    def render(self) -> str:
        """The table and the recommendation as plain text."""
        cols = [c for c in self.table.columns if (c.startswith("nodes.") and self.table[c].any())
                or c in ("demand_scale", "prefill_replicas", "decode_replicas") or c.startswith("policies.")]
        rows = [["#", "phase", *(c.removeprefix("nodes.") for c in cols), "seeds", "USD/month",
                 *(f"{s.metric} mean [CI]" for s in self.slos), "meets"]]
        for _, r in self.table.iterrows():
            figs = [f"{_num(r[f'{s.metric}_mean'])} [{_num(r[f'{s.metric}_ci_low'])}, {_num(r[f'{s.metric}_ci_high'])}]"
                    for s in self.slos]
            rows.append([str(r["candidate"]), str(r["phase"]), *(_num(r[c]) for c in cols), str(r["runs"]),
                         f"{r['cost_usd_per_month']:,.0f}", *figs, "yes" if r["meets"] else "no"])
        lines = [text_table(rows, right=[0, *range(2, len(rows[0]) - 1)], indent=""), ""]
        if self.recommended is not None:
            r = self.recommended
            what = {"fleet": "cheapest plan that meets every SLO", "demand": "most demand within the SLOs"}
            if self.vary.startswith("pd"):
                what[self.vary] = "cheapest prefill:decode split that meets every SLO"
            lines.append(f"recommended: candidate {r['candidate']} ({what.get(self.vary, 'cheapest value that meets')}"
                         f"): {_labels_text(_labels(r))}, ${r['cost_usd_per_month']:,.0f}/month")
        else:
            lines.append("infeasible: no candidate meets every SLO with the stated confidence")
            if self.closest is not None:
                lines.append(f"closest: candidate {self.closest['candidate']}: {_labels_text(_labels(self.closest))}, "
                             f"${self.closest['cost_usd_per_month']:,.0f}/month")
        for o in self.orders_ahead():
            lines.append(f"lead time: order the {o['nodes']} more {o['node_type']} nodes in {o['region']} "
                         f"{o['lead_time_s'] / 86400:g} days before they are needed (lead_time)")
        if self.binding:
            lines.append(f"binding constraint: {self.binding}")
        gap = self.analytic.get("gap")
        if gap:
            lines.append(f"analytic start vs simulated answer: {gap}")
        lines.append(f"simulations: {self.runs} run, {self.runs_reused} reused from earlier runs")
        return "\n".join(lines)


def _labels(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in row if k.startswith(("nodes.", "policies."))
            or k in ("demand_scale", "prefill_replicas", "decode_replicas")}


def _num(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        return f"{value:.4g}"
    return str(value)


def fleet_of(row: dict[str, Any]) -> Fleet:
    """The fleet of a table row (``nodes.<region>.<type>`` columns, zeros left out)."""
    out: Fleet = {}
    for k, v in row.items():
        if k.startswith("nodes.") and v:
            _, region, node_type = k.split(".", 2)
            out.setdefault(region, {})[node_type] = int(v)
    return out


def _labels_text(labels: dict[str, Any]) -> str:
    return ", ".join(f"{k.removeprefix('nodes.')}={v:g}" if isinstance(v, float) else
                     f"{k.removeprefix('nodes.')}={v}" for k, v in labels.items() if v != 0) or "empty fleet"
