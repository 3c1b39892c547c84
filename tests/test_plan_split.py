"""``swarmsim plan --vary pd``: the prefill:decode split of a disaggregated service, sized over
full simulation runs on common seeds (swarmsim/planning/split.py, docs/planning.md "Sizing the
P:D ratio")."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

from swarmsim.errors import ScenarioError
from swarmsim.planning.analytic import HOURS_PER_MONTH
from swarmsim.planning.search import plan
from swarmsim.planning.split import analytic_split, split_cost, split_overrides, split_target
from swarmsim.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]
DISAGG = ROOT / "scenarios" / "inference-disaggregated.yaml"
SHORT = {"horizon": "30m", "warmup": "5m"}
SLO = ["request_ttft_p99_s=3", "request_tpot_p99_s=0.07"]  # 3 s: two seeds of 25 min give wide intervals


def test_cost_and_fleet_of_a_split_by_hand() -> None:
    """Replicas of 4 x A100-80GB on nodes of 8: 2 prefill + 1 decode = 12 GPUs on 2 nodes, and
    12 GPUs x the node type's price x 730 h a month."""
    sc = load_scenario(DISAGG)
    assert split_target(sc, "pd") == ("chat", "us-east", "a100x8")
    over = split_overrides(sc, "chat", "us-east", "a100x8", 2, 1)
    assert over == {"workloads.chat.prefill_pool.replicas": {"us-east": 2},
                    "workloads.chat.decode_pool.replicas": {"us-east": 1},
                    "fleet": {"us-east": {"a100x8": 2}}}
    price = sc.node_types["a100x8"].usd_per_gpu_hour
    assert price > 0
    assert math.isclose(split_cost(sc, "chat", "us-east", "a100x8", 2, 1), 12 * price * HOURS_PER_MONTH)
    assert split_overrides(sc, "chat", "us-east", "a100x8", 2, 2)["fleet"] == {"us-east": {"a100x8": 2}}
    assert split_overrides(sc, "chat", "us-east", "a100x8", 3, 2)["fleet"] == {"us-east": {"a100x8": 3}}


def test_planner_picks_the_cheapest_split_and_agrees_with_size_split(tmp_path: Path) -> None:
    """At 2 req/s (prompts median 1,200 tokens, about 0.45 s of prefill each on one replica) one
    prefill replica runs at about 90 % and its queue breaks TTFT p99 <= 3 s, so every split
    with one prefill replica misses (1:1 and 1:2) and 2:1 meets: the cheapest plan is 3
    replicas, 2:1, the split ``disagg.size_split`` ranks first at the smallest N it finds."""
    base = load_scenario(DISAGG, SHORT)
    n, rows = analytic_split(base, "chat", 3.0, 0.07)
    assert (n, rows[0][:2], rows[0][4]) == (3, (2, 1), True)
    res = plan(base, SLO, "pd", seeds=2, jobs=1, out=tmp_path / "plan", report=False)
    table = res.table
    tried = {(int(r.prefill_replicas), int(r.decode_replicas)): bool(r.meets) for r in table.itertuples()}
    assert tried[(2, 1)] and not tried[(1, 2)] and not tried[(1, 1)]
    assert (res.recommended["prefill_replicas"], res.recommended["decode_replicas"]) == (2, 1)
    assert res.analytic["gap"] == "analytic 2:1 vs simulated 2:1"
    assert (table["runs"] == 2).all()  # every candidate on the same two seeds
    one_prefill = table[table["prefill_replicas"] == 1]
    assert (one_prefill["request_ttft_p99_s_mean"] > 3.0).all()
    assert res.recommended["cost_usd_per_month"] == min(table[table["meets"]]["cost_usd_per_month"])
    assert (tmp_path / "plan" / "plan.csv").is_file() and (tmp_path / "plan" / "run" / "summary.json").is_file()
    assert "prefill_replicas=2, decode_replicas=1" in res.render()


def test_planner_climbs_when_the_start_misses(tmp_path: Path) -> None:
    """Without the analytic start the search starts at N = 2 (1:1, which misses) and climbs to
    the same answer."""
    base = load_scenario(DISAGG, SHORT)
    res = plan(base, SLO, "pd", seeds=2, jobs=1, out=tmp_path / "plan", report=False, analytic_start=False)
    assert res.table["phase"].iloc[0] == "start"
    assert (res.recommended["prefill_replicas"], res.recommended["decode_replicas"]) == (2, 1)


def test_vary_pd_needs_a_disaggregated_workload(tmp_path: Path) -> None:
    colocated = load_scenario(DISAGG, {"workloads.chat.prefill_pool": None, "workloads.chat.decode_pool": None})
    with pytest.raises(ScenarioError, match="--vary"):
        plan(colocated, SLO, "pd", seeds=1)
    with pytest.raises(ScenarioError, match="pd:nope: not a disaggregated workload"):
        plan(load_scenario(DISAGG), SLO, "pd:nope", seeds=1)
    out = tmp_path / "p"
    proc = subprocess.run([sys.executable, "-m", "swarmsim.cli", "plan", str(DISAGG), "--vary", "pd:nope",
                           "--slo", SLO[0], "--out", str(out)], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 2 and "pd:nope" in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists()
