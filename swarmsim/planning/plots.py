"""Plots of a plan: cost against the SLO with the Pareto front, and the chosen fleet by region."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pandas as pd

from swarmsim.planning.analytic import Fleet
from swarmsim.planning.slo import Slo, worst_ratio

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from swarmsim.scenario import Scenario


class PlanFrames(Protocol):
    """What the plan plots read of a plan (:class:`~swarmsim.planning.result.PlanResult` has it):
    its SLOs, its table of candidates, the recommended row and fleet, and the base scenario."""

    slos: list[Slo]
    table: pd.DataFrame
    recommended: dict[str, Any] | None
    base: Scenario

    @property
    def fleet(self) -> Fleet | None: ...


def plot_cost_vs_slo(result: PlanFrames, ax: Axes | None = None) -> Axes:
    """Each candidate's monthly cost (USD) against its worst SLO ratio (conservative CI end over the
    bound; 1 = on the SLO, below 1 meets), the Pareto front (no other candidate is both cheaper
    and nearer the SLOs) and the recommended plan (a star)."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4.5))
    rows = result.table.to_dict("records")
    cost = np.array([r["cost_usd_per_month"] for r in rows], dtype=float)
    # Clipped to [1e-3, 1e6] for the log scale: a figure of 0 (no wait at all) still shows.
    ratio = np.array([min(max(worst_ratio(result.slos, r), 1e-3), 1e6) for r in rows], dtype=float)
    meets = np.array([bool(r["meets"]) for r in rows])
    ax.scatter(cost[meets], ratio[meets], c="tab:green", label="meets every SLO", zorder=3)
    ax.scatter(cost[~meets], ratio[~meets], c="tab:red", marker="x", label="misses", zorder=3)
    from swarmsim.plots.sweep import pareto_mask

    order = np.lexsort((ratio, cost))
    front = order[pareto_mask(cost, ratio)[order]]  # in order of cost, for the line
    ax.plot(cost[front], ratio[front], "-", c="0.4", lw=1, label="Pareto front", zorder=2)
    chosen: dict[str, Any] | None = result.recommended
    if chosen is not None:
        i = int(chosen["candidate"])
        ax.scatter([cost[i]], [ratio[i]], marker="*", s=300, c="gold", edgecolors="k", label="recommended", zorder=4)
    ax.axhline(1.0, ls="--", c="k", lw=0.8)
    ax.set_yscale("log")
    # Limits that always hold the SLO line (ratio 1) and some room around a single point, and
    # dollar ticks without an offset: one candidate would otherwise get unreadable tick labels.
    low, high = min(float(ratio.min()), 1.0), max(float(ratio.max()), 1.0)
    ax.set_ylim(low / 2, high * 2)
    if len(cost) and float(cost.max() - cost.min()) < 0.05 * max(float(cost.max()), 1.0):
        mid = float(cost.mean()) or 1.0
        ax.set_xlim(mid * 0.8, mid * 1.2)
    from matplotlib.ticker import MaxNLocator, StrMethodFormatter

    ax.xaxis.set_major_locator(MaxNLocator(5))
    ax.xaxis.set_major_formatter(StrMethodFormatter("${x:,.0f}"))
    ax.set_xlabel("cost, USD per month")
    ax.set_ylabel("worst SLO ratio (CI end / bound; < 1 meets)")
    ax.set_title(f"{result.base.name}: " + ", ".join(str(s) for s in result.slos), fontsize=9)
    ax.legend(fontsize=8)
    return ax


def plot_fleet(result: PlanFrames, ax: Axes | None = None) -> Axes:
    """Nodes of the recommended (else closest) plan per region, stacked by node type."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    fleet = result.fleet or {}
    regions = list(fleet)
    types = sorted({t for c in fleet.values() for t in c})
    bottom = np.zeros(len(regions))
    for t in types:
        heights = np.array([fleet[r].get(t, 0) for r in regions], dtype=float)
        ax.bar(regions, heights, bottom=bottom, label=t)
        bottom += heights
    ax.set_ylabel("nodes")
    state = "recommended" if result.recommended is not None else "closest (infeasible)"
    ax.set_title(f"{state} fleet by region", fontsize=9)
    if types:
        ax.legend(fontsize=8)
    return ax
