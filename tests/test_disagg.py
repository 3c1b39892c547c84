"""Disaggregated prefill and decode (swarmsim/disagg.py): conservation, the hand-off arithmetic,
the qualitative effect against colocated serving at equal GPUs, and the chunked attention price."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from swarmsim.catalog.models import find_model
from swarmsim.disagg import PoolSpec, handoff_s, simulate_pools
from swarmsim.kvcache import kv_capacity_tokens
from swarmsim.scenario.services import ReplicaSpec
from swarmsim.serving import ServiceProfile, profile_for_replica
from swarmsim.world.batching import Batcher


def _llama70b() -> tuple[ServiceProfile, float, float]:
    """The built-in llama2-70b profile on 4 x A100-80GB, its KV tokens and KV bytes per token."""
    spec = ReplicaSpec(model="llama2-70b", gpu="A100-80GB", gpus=4, batching="iteration")
    kv = kv_capacity_tokens("llama2-70b", "A100-80GB", 4)
    return profile_for_replica(spec, "A100-80GB"), float(kv), find_model("llama2-70b").kv_bytes_per_token()


def _poisson(rate: float, n: int, seed: int) -> list[tuple[float, int, int]]:
    rng = np.random.default_rng(seed)
    t = np.cumsum(rng.exponential(1.0 / rate, n))
    prompt = rng.integers(500, 2500, n)
    output = rng.integers(2, 400, n)
    return [(float(a), int(p), int(o)) for a, p, o in zip(t, prompt, output, strict=True)]


def test_handoff_delay_by_hand() -> None:
    """One request alone: TTFT = its stall prefill; the decode starts one hand-off later
    (RTT + prompt x KV bytes x 8 / bandwidth) and runs output - 1 iterations at batch 1."""
    profile = ServiceProfile(prefill_fixed_s=0.05, prefill_s_per_token=0.001, decode_s_per_token=0.02,
                             batch_slowdown=0.1)
    prompt, output, kvb, bw, rtt = 1000, 11, 327_680.0, 10e9, 0.002
    move = rtt + prompt * kvb * 8 / bw  # 0.002 + 0.262144 s
    assert handoff_s(prompt, kvb, bw, rtt) == pytest.approx(0.264144, rel=1e-12)
    pool = PoolSpec(1, profile, math.inf, chunk_tokens=None)
    res = simulate_pools([(3.0, prompt, output)], pool, pool, kvb, bw, rtt)
    prefill = 0.05 + 0.001 * prompt
    assert res.ttft_s[0] == pytest.approx(prefill, rel=1e-12)
    assert res.finish_s[0] == pytest.approx(3.0 + prefill + move + (output - 1) * 0.02, rel=1e-12)
    assert res.tpot_s[0] == pytest.approx((move + (output - 1) * 0.02) / (output - 1), rel=1e-12)


def test_conservation() -> None:
    """Every request is prefilled once, handed off once (those with more than one output token)
    and finished once, KV-bound and with preemptions on the decode pool."""
    profile, _, kvb = _llama70b()
    reqs = [*_poisson(4.0, 1500, seed=3), (10.0, 800, 1)]
    reqs.sort()
    res = simulate_pools(reqs, PoolSpec(2, profile, 60_000.0), PoolSpec(2, profile, 40_000.0), kvb, 100e9, 0.001)
    n = len(reqs)
    assert res.prefilled == n
    assert res.handed_off == n - 1
    assert res.finished == n
    assert res.preempted > 0  # the decode pool's small cache overflows: recompute, still counted once
    assert not any(math.isnan(f) for f in res.finish_s)
    for (arrival, _, _), ttft, fin in zip(reqs, res.ttft_s, res.finish_s, strict=True):
        assert 0 < ttft <= fin - arrival


def test_decode_tpot_not_disturbed_by_prefills() -> None:
    """Same GPUs (2 + 2 vs 4 replicas of 4 x A100): under disaggregation no decode iteration
    carries a prefill chunk, so every request's TPOT stays within tpot_s(max_batch) plus its
    share of the hand-off and of its wait for a decode slot; colocated, chunks ride along with
    the decodes and the tail exceeds it."""
    profile, kv, kvb = _llama70b()
    reqs = _poisson(4.0, 3000, seed=1)
    bw, rtt = 100e9, 0.001
    col = simulate_pools(reqs, PoolSpec(4, profile, kv), None)
    dis = simulate_pools(reqs, PoolSpec(2, profile, kv), PoolSpec(2, profile, kv), kvb, bw, rtt)
    bound = [profile.tpot_s(64) + (handoff_s(p, kvb, bw, rtt) + w) / (o - 1)
             for (_, p, o), w in zip(reqs, dis.decode_wait_s, strict=True)]
    assert all(t <= b * (1 + 1e-9) for t, b in zip(dis.tpot_s, bound, strict=True))
    assert any(t > b for t, b in zip(col.tpot_s, bound, strict=True))
    assert np.percentile(dis.tpot_s, 99) < np.percentile(col.tpot_s, 99)


def test_prefilled_admission_holds_prompt_kv() -> None:
    """A decode-pool engine admits a handed-off request straight into decoding with prompt + 1
    KV tokens, and finishes it after output - 1 decode iterations."""
    profile = ServiceProfile(prefill_fixed_s=0.05, prefill_s_per_token=0.001, decode_s_per_token=0.02,
                             batch_slowdown=0.0)

    class One:
        def __init__(self) -> None:
            self.items = [(700, 5)]

        def head(self) -> tuple[int, int] | None:
            return self.items[0] if self.items else None

        def take(self) -> object:
            self.items.pop()
            return "r"

    engine = Batcher(profile, 10_000, 8, 512, prefilled=True)
    end = engine.plan(1.0, One())
    assert engine.used == 701 and len(engine.running) == 1 and not engine.prefilling
    assert end == pytest.approx(1.0 + 4 * 0.02)
    firsts, done = engine.end(end)
    assert firsts == [] and [j.payload for j in done] == ["r"] and engine.used == 0


@pytest.mark.parametrize("chunk", [100, 300, 1000])
def test_chunked_prefill_keeps_attention_cost(chunk: int) -> None:
    """With a quadratic prefill term, a prompt prefilled alone in chunks costs what prefill_s of
    the whole prompt costs, plus the fixed cost of each extra iteration:
    sum over chunks of fixed + a c + s ((d + c)^2 - d^2) = n fixed + a P + s P^2 (it telescopes)."""
    profile = ServiceProfile(prefill_fixed_s=0.01, prefill_s_per_token=1e-4, decode_s_per_token=0.02,
                             batch_slowdown=0.0, prefill_s_per_token_sq=1e-7)
    prompt = 2000
    res = simulate_pools([(0.0, prompt, 1)], PoolSpec(1, profile, math.inf, chunk_tokens=chunk), None)
    n = math.ceil(prompt / chunk)
    expected = n * 0.01 + 1e-4 * prompt + 1e-7 * prompt**2
    assert res.ttft_s[0] == pytest.approx(expected, rel=1e-12)
    assert res.ttft_s[0] == pytest.approx(profile.prefill_s(prompt) + (n - 1) * 0.01, rel=1e-12)


def test_size_split_orders_by_slo() -> None:
    """The P:D search tries every split of 4 replicas; the ones that meet both SLOs come first,
    their p99s are numpy's, and a split with one prefill replica cannot keep up with the prompts
    (its TTFT p99 is the largest)."""
    from swarmsim.disagg import _p99, size_split

    profile, kv, kvb = _llama70b()
    reqs = _poisson(2.0, 1500, seed=2)
    pool = PoolSpec(4, profile, kv)
    rows = size_split(reqs, 4, pool, pool, kvb, 100e9, 0.001, 2.0, 0.07)
    assert sorted((p, d) for p, d, *_ in rows) == [(1, 3), (2, 2), (3, 1)]
    meets = [ok for *_, ok in rows]
    assert meets == sorted(meets, reverse=True) and meets[0]
    for _, _, ttft, tpot, ok in rows:
        assert ok == (ttft <= 2.0 and tpot <= 0.07)
    assert max(rows, key=lambda r: r[2])[0] == 1
    res = simulate_pools(reqs, PoolSpec(2, profile, kv), PoolSpec(2, profile, kv), kvb, 100e9, 0.001)
    assert _p99(res.ttft_s) == pytest.approx(float(np.percentile(res.ttft_s, 99)), rel=1e-12)
    assert next(r for r in rows if r[0] == 2)[2] == _p99(res.ttft_s)


# --- the world: prefill_pool / decode_pool (world/disagg_serving.py) ------------------------------

SCENARIO = Path(__file__).resolve().parent.parent / "scenarios" / "inference-disaggregated.yaml"
COLOCATED = {"workloads.chat.prefill_pool": None, "workloads.chat.decode_pool": None}


def test_world_conservation_and_handoff() -> None:
    """In a run: every arrived request is completed, dropped or still in the system at the end;
    every completed request with more than one output token was handed off once (the
    hand-offs begun = those completed + those still on their way or decoding); no request was
    prefilled on the decode pool (its engines hold only prefilled requests)."""
    from swarmsim.scenario import load_scenario
    from swarmsim.world.world import build_world, run_world

    world = build_world(load_scenario(SCENARIO, {"horizon": "15m", "warmup": 0}))
    run_world(world, None)
    services = world.services
    rec = services.recorder
    pre, dec = services.services
    assert (pre.role, dec.role, dec.name) == ("prefill", "decode", "chat/decode")
    assert sum(s.serving for s in pre.sites) == 2 and sum(s.serving for s in dec.sites) == 2
    status = np.asarray(rec.row_status)
    output = np.asarray(rec.row_output)
    done = status == 0
    arrived, completed, dropped = sum(rec.arrived), sum(rec.completed), sum(rec.dropped)
    assert completed == int(done.sum()) > 1000
    in_system = sum(len(site.queue) + site.in_service for s in services.services for site in s.sites)
    in_transit = services.handoff.handoffs - int((done & (output > 1)).sum()) \
        - sum(len(site.queue) + site.in_service for site in dec.sites)
    assert in_transit >= 0
    assert arrived == completed + dropped + in_system + in_transit
    assert len(services.handoff.handed) == services.handoff.handoffs - int((done & (output > 1)).sum())


def test_world_disaggregation_lowers_tpot_at_equal_gpus() -> None:
    """The scenario at equal GPUs (16 A100s): TPOT p99 falls without prefill chunks in the
    decode iterations; the TTFT p99 of both stays within the 2 s SLO at 2 req/s."""
    import swarmsim

    dis = swarmsim.simulate(SCENARIO).summary
    col = swarmsim.simulate(SCENARIO, COLOCATED).summary
    assert dis["gpu_hours_provisioned"] == col["gpu_hours_provisioned"]
    assert dis["request_tpot_p99_s"] < 0.85 * col["request_tpot_p99_s"]
    assert dis["request_ttft_p99_s"] < 2.0 and col["request_ttft_p99_s"] < 2.0


@pytest.mark.parametrize(("override", "field"), [
    ("workloads.chat.replica.batching=admission", "replica.batching: iteration"),
    ("workloads.chat.decode_pool.gpus=1", "decode_pool.gpus"),
    ("workloads.chat.prefill_pool=null", "prefill_pool"),
])
def test_bad_pools_exit_2_naming_the_field(tmp_path: Path, override: str, field: str) -> None:
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "swarmsim.cli", "run", str(SCENARIO), "--out", str(out),
                           "--set", override], capture_output=True, text=True, cwd=SCENARIO.parent.parent)
    assert proc.returncode == 2
    assert "inference-disaggregated.yaml" in proc.stderr and field in proc.stderr
    assert not out.exists()


def test_each_pool_autoscales_on_its_own_ongoing_requests() -> None:
    """The existing replica policy scales the pools apart: ``services: [chat]`` is the prefill
    pool (its queue and prefills), ``services: [chat/decode]`` the decode pool (its decodes);
    at 3 req/s both grow, each action naming its pool and citing its own count."""
    import swarmsim

    pol = [{"kind": "horizontal", "strategy": "serve", "services": ["chat/decode"],
            "target_ongoing_requests": 16, "max_replicas": 3},
           {"kind": "horizontal", "strategy": "serve", "services": ["chat"],
            "target_ongoing_requests": 1, "max_replicas": 3}]
    res = swarmsim.simulate(SCENARIO, {"policies": pol, "fleet.us-east.a100x8": 3,
                                       "workloads.chat.arrivals.rate": "3/s", "horizon": "40m"})
    adds = res.actions[res.actions["action"] == "AddReplicas"]
    assert set(adds["service"]) == {"chat", "chat/decode"}
    assert set(adds[adds["service"] == "chat"]["policy"]) == {"1:horizontal/serve"}
    assert set(adds[adds["service"] == "chat/decode"]["policy"]) == {"0:horizontal/serve"}
