"""Services with ``replica.batching: iteration`` in whole runs: the KV cache sets the batch of
long-context traffic, ``max_batch`` that of short traffic; requests are conserved; a request
that can never fit is rejected with its reason; a replica whose weights do not fit is bad input;
and a one-slot replica is the M/D/1 queue of queueing theory."""

from __future__ import annotations

import copy
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

import swarmsim
from swarmsim.errors import ScenarioError
from swarmsim.kvcache import kv_capacity_tokens
from swarmsim.planning.analytic import kv_batch_bound
from swarmsim.scenario import load_scenario
from swarmsim.serving import ServiceProfile

ROOT = Path(__file__).resolve().parents[1]
LONG = ROOT / "scenarios" / "inference-long-context.yaml"


def _long() -> dict:
    return yaml.safe_load(LONG.read_text())


def test_kv_capacity_is_the_memory_arithmetic() -> None:
    """(2 x 80e9 x 0.9 - 68.98e9 x 2 - 2 x 0.5e9) / (80 layers x 2 x 8 heads x 128 x 2 B)."""
    expected = math.floor((2 * 80e9 * 0.9 - 68.98e9 * 2 - 2 * 0.5e9) / (80 * 2 * 8 * 128 * 2))
    assert kv_capacity_tokens("llama2-70b", "A100-80GB", 2) == expected == 15_380
    assert kv_capacity_tokens("not-a-model", "A100-80GB", 2) is None
    with pytest.raises(ValueError, match="do not fit"):
        kv_capacity_tokens("llama2-70b", "A100-80GB", 1)


def test_long_prompts_are_bounded_by_memory_and_short_ones_by_max_batch() -> None:
    long = swarmsim.simulate(LONG).summary
    cap = kv_capacity_tokens("llama2-70b", "A100-80GB", 2)
    # a request holds prompt + the output so far: at most cap / E[prompt] of them at once
    assert long["replica_batch_mean"] < cap / 2000 < 64 / 4
    assert long["kv_cache_utilization"] > 0.8
    assert long["requests_preempted"] > 0
    short = swarmsim.simulate(LONG, {"workloads.chat.prompt_tokens": 100, "workloads.chat.output_tokens": 100,
                                     "workloads.chat.arrivals.rate": "40/s"}).summary
    assert 0.9 * 64 < short["replica_batch_mean"] <= 64
    assert short["requests_preempted"] == 0
    assert short["kv_cache_utilization"] <= 64 * 200 / cap


def test_the_analytic_start_uses_the_kv_bounded_batch() -> None:
    sc = load_scenario(LONG)
    work = sc.workloads["chat"]
    prompt, output = np.full(10, 2000.0), np.full(10, 200.0)
    assert kv_batch_bound(work, "A100-80GB", prompt, output) == math.floor(15_380 / 2100) == 7
    assert kv_batch_bound(work, "A100-80GB", prompt / 20, output / 2) == 64


def test_requests_are_conserved_and_runs_repeat() -> None:
    a = swarmsim.simulate(LONG, {"horizon": "40m"}).summary
    b = swarmsim.simulate(LONG, {"horizon": "40m"}).summary
    assert a == {**b, "wall_time_s": a["wall_time_s"]}
    assert a["requests_arrived"] == a["requests_completed"] + a["requests_dropped"] + a["requests_unfinished"]


def test_a_request_that_can_never_fit_is_rejected_with_its_reason() -> None:
    res = swarmsim.simulate(LONG, {"horizon": "30m", "workloads.chat.prompt_tokens": 15_000,
                                   "workloads.chat.output_tokens": 500, "workloads.chat.arrivals.rate": "1/s"})
    s = res.summary
    assert s["requests_never_fit"] == s["requests_arrived"] == s["requests_dropped"] > 0
    assert set(res.requests["drop_reason"].astype(str)) == {"never-fits"}


def test_weights_that_do_not_fit_are_bad_input_naming_the_field(tmp_path: Path) -> None:
    raw = _long()
    raw["workloads"]["chat"]["replica"]["gpus"] = 1
    with pytest.raises(ScenarioError, match="gpus"):
        load_scenario(raw)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw))
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "swarmsim.cli", "run", str(path), "--out", str(out)],
                          capture_output=True, text=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT)})
    assert proc.returncode == 2
    assert "gpus" in proc.stderr and "bad.yaml" in proc.stderr
    assert not out.exists()


def test_admission_batching_runs_carry_no_new_figures() -> None:
    s = swarmsim.simulate(LONG, {"horizon": "30m", "workloads.chat.replica.batching": "admission"}).summary
    assert "replica_batch_mean" not in s and "requests_preempted" not in s


def test_one_slot_replica_is_an_md1_queue() -> None:
    """max_batch 1, stall prefill, no KV bound, constant tokens: service D = prefill_s(P) +
    (O - 1) x tpot_s(1); Poisson arrivals at rate lambda; Pollaczek-Khinchine mean wait
    W = rho D / (2 (1 - rho)). Mean latency = access + W + D."""
    raw = _long()
    w = raw["workloads"]["chat"]
    w["replica"].update(max_batch=1, prefill="stall", kv_cache=False)
    w.update(prompt_tokens=500, output_tokens=50, replicas={"us-east": 1})
    w.pop("timeout")
    raw.update(horizon="30h", warmup="1h")
    p = ServiceProfile.from_catalog("llama2-70b", "A100-80GB", 2)
    d = p.prefill_s(500) + 49 * p.tpot_s(1)
    lam = 0.6 / d
    w["arrivals"] = {"process": "poisson", "rate": lam}
    s = swarmsim.simulate(copy.deepcopy(raw)).summary
    rho = lam * d
    expected = 0.02 + rho * d / (2 * (1 - rho)) + d  # 0.02 s: the core region's access latency
    assert s["request_latency_mean_s"] == pytest.approx(expected, rel=0.05)
    assert s["replica_batch_mean"] == pytest.approx(lam * 49 * p.tpot_s(1), rel=0.05)  # decoding share


def test_node_failures_retry_the_requests_of_an_iteration_replica() -> None:
    path = ROOT / "scenarios" / "resilience-region-outage.yaml"
    s = swarmsim.simulate(path, {"workloads.chat.replica.batching": "iteration"}).summary
    assert s["requests_arrived"] == s["requests_completed"] + s["requests_dropped"] + s["requests_unfinished"]
    assert s["requests_completed"] > 0.95 * s["requests_arrived"]


def test_prefix_caching_skips_the_shared_prefix_and_reports_its_hit_rate() -> None:
    """Prompts of 2,000 tokens whose first 1,500 are a shared system prompt: a warm replica
    prefills 500 and holds 500 + output of KV per request, so the hit rate is 1,500 / 2,000 less
    the four replicas' first requests, and the batch is no longer bounded by memory."""
    over = {"horizon": "40m", "warmup": 0, "workloads.chat.prompt_tokens": 2000,
            "workloads.chat.output_tokens": 200, "workloads.chat.shared_prefix_tokens": 1500}
    off = swarmsim.simulate(LONG, over).summary
    on = swarmsim.simulate(LONG, {**over, "workloads.chat.replica.prefix_caching": True}).summary
    assert "prefix_cache_hit_rate" not in off
    admitted = on["requests_completed"] + on["requests_unfinished"]
    assert on["prefix_cache_hit_rate"] == pytest.approx(0.75 * (1 - 4 / admitted), rel=0.02)
    assert on["replica_batch_mean"] > 2 * off["replica_batch_mean"]
    assert on["requests_completed"] > 2 * off["requests_completed"]
