"""Evaluating candidates by simulation: each runs through :func:`swarmsim.sweep` on the plan's
common seeds into its own resumable sweep folder ``out/candidates/<key>/``, and becomes one row
of the plan's table.

**Adaptive replication** (``max_seeds`` above the plan's seeds): a candidate whose interval still
straddles an SLO's bound (:func:`undecided`) gets more seeds, doubling its count each time (the
next unused seed numbers, capped at ``max_seeds`` and at what the ``max_runs`` budget leaves),
until every SLO is decided or the cap is reached. Each batch of added seeds is its own sweep folder
``out/candidates/<key>+<first>-<last>/``, so a re-run of the plan resumes every batch and never
runs a seed twice."""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from swarmsim.planning.analytic import HOURS_PER_MONTH, Prediction
from swarmsim.planning.result import _labels_text
from swarmsim.planning.slo import MUST_BE_ZERO, Slo, _slo_text, undecided, worst_ratio
from swarmsim.scenario import Scenario, load_scenario

CANDIDATES = "candidates"


class BudgetError(Exception):
    """The next candidate would take the plan past ``max_runs`` simulations."""


class Evaluator:
    """Runs candidates through :func:`swarmsim.sweep` on common seeds and keeps their rows."""

    def __init__(self, base: Scenario, slos: list[Slo], seeds: list[int], *, out: Path | None, backend: str,
                 jobs: int | None, max_runs: int | None, confidence: float,
                 progress: Callable[[str], None], address: str | None = None, max_seeds: int | None = None) -> None:
        self.base, self.slos, self.seeds = base, slos, seeds
        self.max_seeds = max(max_seeds or len(seeds), len(seeds))
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

    def pending(self, key: str, seeds: list[int] | None = None) -> int:
        """Runs of a candidate (on ``seeds``, default the plan's) not finished in its folder."""
        from swarmsim.experiments.sweep import RunSpec

        seeds = self.seeds if seeds is None else seeds
        if self.out is None:
            return len(seeds)
        folder = self.out / CANDIDATES / self._batch(key, seeds) / "runs"
        return sum(not (folder / RunSpec(0, s, {}, {}).folder / "summary.json").is_file() for s in seeds)

    def _batch(self, key: str, seeds: list[int]) -> str:
        """The folder name of one batch of a candidate's seeds: the plan's seeds, or added ones."""
        return key if seeds == self.seeds else f"{key}+{seeds[0]}-{seeds[-1]}"

    def _level(self, n: int) -> float:
        """The confidence a candidate with ``n`` seeds is judged at: the plan's at the cap (as a
        fixed plan of ``max_seeds`` would), stricter before it (Bonferroni over the looks the
        doubling allows), so that stopping early on a lucky interval is no easier than the
        plan's confidence says."""
        if n >= self.max_seeds:
            return self.confidence
        looks, k = 1, len(self.seeds)
        while k < self.max_seeds:
            k, looks = min(2 * k, self.max_seeds), looks + 1
        return 1.0 - (1.0 - self.confidence) / looks

    def _more(self, used: list[int]) -> list[int]:
        """The next batch of seeds for a candidate that ran ``used``: doubling, up to ``max_seeds``
        and to what the ``max_runs`` budget leaves; empty when neither allows another."""
        want = min(2 * len(used), self.max_seeds) - len(used)
        if self.max_runs is not None:
            want = min(want, self.max_runs - self.runs)
        out: list[int] = []
        seed = max(used) + 1
        while len(out) < want:
            if seed not in used:
                out.append(seed)
            seed += 1
        return out

    def _run(self, overrides: dict[str, Any], key: str, seeds: list[int]) -> Any:
        """One batch of a candidate's seeds through :func:`swarmsim.sweep` (resumed if in ``out``)."""
        from swarmsim.experiments.sweep import sweep

        need = self.pending(key, seeds)
        folder = self.out / CANDIDATES / self._batch(key, seeds) if self.out is not None else None
        table = sweep(self.scenario(overrides), None, seeds, backend=self.backend, jobs=self.jobs,
                      address=self.address, out=folder, resume=True)
        self.runs += need
        self.reused += len(seeds) - need
        return table

    def evaluate(self, overrides: dict[str, Any], labels: dict[str, Any], phase: str,
                 cost_usd_per_month: float | None, prediction: Prediction | None = None) -> dict[str, Any]:
        """Simulate one candidate on every seed and return its table row (cached by key)."""
        import pandas as pd

        from swarmsim.experiments.stats import summarize

        key = self.key(overrides)
        if key in self._done:
            return self._done[key]
        need = self.pending(key)
        if self.max_runs is not None and self.runs + need > self.max_runs:
            raise BudgetError
        table = self._run(overrides, key, self.seeds)
        used = list(self.seeds)
        while True:
            metrics = [s.metric for s in self.slos] + [m for m in ("cost_usd", *MUST_BE_ZERO) if m in table.columns]
            stats = summarize(table, list(dict.fromkeys(metrics)), self._level(len(used))).set_index("metric")
            if (table["status"] == "failed").any() or not undecided(self.slos, stats):
                break
            more = self._more(used)
            if not more:
                break
            table = pd.concat([table, self._run(overrides, key, more)], ignore_index=True)
            table["point"] = 0
            used += more
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
            row[f"{s.metric}_ci_method"] = str(st["ci_method"])
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
        row["runs"] = len(used)
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


class _InfeasibleError(Exception):
    """The constraints cannot be met; the message names what binds."""


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
    more = f" (up to {ev.max_seeds} where a candidate is undecided)" if ev.max_seeds > len(ev.seeds) else ""
    ev.progress(f"estimate: about {candidates} candidates x {len(ev.seeds)} seeds{more} = {runs} simulations"
                f"{f' (budget --max-runs {ev.max_runs})' if ev.max_runs else ''}, ~{per_run:.1f} s each on "
                f"{workers} workers: ~{runs * per_run / workers / 60:.1f} min (finished runs in --out are reused)")
