"""KV occupancy over time per replica (``replica.kv_series``, kv_cache.csv) and the replica
policy's ``kv_occupancy`` and ``queue`` signals (docs/serving.md, "KV occupancy over time" and
"Autoscaling the two pools")."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import swarmsim
from swarmsim.errors import ScenarioError
from swarmsim.policies.replicas import ServeAutoscaler, ServeParams
from swarmsim.policies.views import SiteView

ROOT = Path(__file__).resolve().parents[1]
LONG = ROOT / "scenarios" / "inference-long-context.yaml"
AUTOSCALE = ROOT / "scenarios" / "inference-disaggregated-autoscale.yaml"


def _utilization(kv: pd.DataFrame) -> float:
    return float((kv["kv_tokens"] * kv["seconds"]).sum() / (kv["kv_capacity"] * kv["seconds"]).sum())


def test_series_time_average_is_the_summary_figure_on_a_fixed_fleet() -> None:
    """Four replicas all run long: the rows' seconds add up to 4 x the window, each interval's
    rows are whole sample steps, occupancy (mean and peak) never exceeds the capacity, memory
    binds (peaks reach the 15,380-token cache), and sum(kv_tokens x s) / sum(capacity x s) is
    ``kv_cache_utilization``."""
    res = swarmsim.simulate(LONG, {"horizon": "40m", "warmup": "10m", "workloads.chat.replica.kv_series": True})
    kv = res.kv_cache
    assert kv is not None and len(kv) == 4 * 6  # 4 replicas x samples at 15, 20, ..., 40 min
    assert sorted(set(kv["time_s"])) == [900.0 + 300.0 * i for i in range(6)]
    assert np.allclose(kv["seconds"], 300.0)
    assert math.isclose(kv["seconds"].sum(), 4 * 1800.0)
    assert (kv["kv_capacity"] == 15380).all()
    assert (kv["kv_tokens"] <= kv["kv_capacity"]).all() and (kv["kv_tokens_peak"] <= kv["kv_capacity"]).all()
    assert (kv["kv_tokens"] <= kv["kv_tokens_peak"]).all()
    assert kv["kv_tokens_peak"].max() > 15000  # long prompts: the cache fills
    assert math.isclose(_utilization(kv), res.summary["kv_cache_utilization"], rel_tol=1e-12)


def test_series_does_not_change_the_run() -> None:
    """Keeping the series only cuts the occupancy integrals at the sample times: every other
    figure is the same, the two occupancy figures agree to rounding, and without the field no
    kv_cache frame exists (so existing run folders get no new file)."""
    over = {"horizon": "30m", "warmup": "10m"}
    plain = swarmsim.simulate(LONG, over)
    kept = swarmsim.simulate(LONG, {**over, "workloads.chat.replica.kv_series": True})
    assert plain.kv_cache is None
    for key, value in plain.summary.items():
        if key in ("wall_time_s",):
            continue
        if key in ("kv_cache_utilization", "replica_batch_mean"):
            assert math.isclose(kept.summary[key], value, rel_tol=1e-9)
        elif isinstance(value, float) and math.isnan(value):
            assert math.isnan(kept.summary[key])
        else:
            assert kept.summary[key] == value, key


def test_series_with_replicas_that_come_and_go(tmp_path: Path) -> None:
    """The autoscaled disaggregated scenario: replicas start and stop between samples, so rows
    have partial seconds; the identity still holds over both pools, peaks stay within capacity,
    and the CSV in the run folder carries the same figure (9 significant digits)."""
    res = swarmsim.simulate(AUTOSCALE)
    kv = res.kv_cache
    assert set(kv["service"]) == {"chat", "chat/decode"}
    assert (kv["seconds"] < 300.0 - 1e-9).any()  # some replica served part of an interval
    assert (kv["seconds"] <= 300.0 + 1e-9).all()
    assert (kv["kv_tokens_peak"] <= kv["kv_capacity"]).all()
    assert math.isclose(_utilization(kv), res.summary["kv_cache_utilization"], rel_tol=1e-12)
    folder = res.save(tmp_path / "run", plots=False)
    disk = pd.read_csv(folder / "kv_cache.csv")
    assert list(disk.columns) == list(kv.columns)
    assert math.isclose(_utilization(disk), res.summary["kv_cache_utilization"], rel_tol=1e-7)


def test_decode_pool_grows_when_kv_fills_and_shrinks_when_it_empties() -> None:
    """The scenario's decode pool scales on KV occupancy: at 3 req/s its one replica's cache
    fills and it grows to at least 4 replicas; once demand has fallen to 0.3 req/s the
    occupancy is below target and it is back to one replica. Every decode action cites KV
    occupancy."""
    res = swarmsim.simulate(AUTOSCALE)
    kv = res.kv_cache
    dec = kv[kv["service"] == "chat/decode"]
    replicas = dec.groupby("time_s")["seconds"].sum() / 300.0  # mean decode replicas per interval
    early = dec[dec["time_s"] <= 900.0]
    assert early["kv_tokens_peak"].max() == early["kv_capacity"].max()  # the cache filled
    assert replicas.loc[1200.0:2400.0].min() >= 4
    assert (replicas.loc[4800.0:] == 1).all()
    acts = res.actions
    d = acts[acts["service"] == "chat/decode"]
    assert set(d["action"]) == {"AddReplicas", "RemoveReplicas"}
    assert d["reason"].str.startswith("KV occupancy").all()
    adds = d[d["action"] == "AddReplicas"]
    assert adds["time_decided_s"].min() < 300.0  # as soon as the first cache fills


def test_same_load_on_ongoing_requests_waits_for_a_queue() -> None:
    """Control: on Ray's ongoing-requests signal with a target of 1,000 requests per replica,
    the decode pool grows only once 1,000 requests wait for a decode slot (after 300 s, where
    the KV signal above acted before 300 s), and its actions cite ongoing requests."""
    res = swarmsim.simulate(AUTOSCALE, {"policies.0.metric": "ongoing_requests",
                                        "policies.0.target_ongoing_requests": 1000, "horizon": "30m"})
    acts = res.actions
    d = acts[(acts["service"] == "chat/decode") & (acts["action"] == "AddReplicas")]
    assert d["time_decided_s"].min() > 300.0
    assert d["reason"].str.contains("ongoing / \\(1000 x", regex=True).all()


def _site(**kw: float) -> SiteView:
    base = dict(region="r", replicas_serving=2, replicas_loading=0, replicas_waiting=0,
                requests_in_service=4, requests_queued=0, requests_served=0)
    base.update(kw)
    return SiteView(**base)  # type: ignore[arg-type]


def test_kv_occupancy_rule_by_hand() -> None:
    """desired = ceil(running x occupancy / target) (factor 1), minus 1 when that keeps the
    count on a shrink: 2 replicas at 0.91 against 0.7 -> ceil(2.6) = 3; at 0.2 -> ceil(0.57) = 1;
    queue: 6 queued / (2 x 2) -> ceil(3) = 3."""
    kv = ServeAutoscaler(ServeParams(metric="kv_occupancy", target_kv_occupancy=0.7), rng=np.random.default_rng(0))
    assert kv._desired(_site(kv_occupancy=0.91), 0.91)[0] == 3
    assert kv._desired(_site(kv_occupancy=0.2), 0.2)[0] == 1
    assert kv._desired(_site(kv_occupancy=0.7), 0.7)[0] == 2
    assert kv._signal(_site()) == 0.0  # NaN occupancy (no KV-bound replica serving) counts as empty
    q = ServeAutoscaler(ServeParams(metric="queue", target_ongoing_requests=2), rng=np.random.default_rng(0))
    site = _site(requests_queued=6)
    assert q._signal(site) == 6
    assert q._desired(site, 6.0)[0] == 3


def test_new_policy_fields_leave_old_resolved_scenarios_alone() -> None:
    """At their defaults ``metric`` and ``target_kv_occupancy`` are not in the resolved params."""
    dumped = ServeParams().model_dump(mode="json")
    assert "metric" not in dumped and "target_kv_occupancy" not in dumped
    assert ServeParams(metric="kv_occupancy").model_dump(mode="json")["metric"] == "kv_occupancy"


def test_kv_series_without_iteration_batching_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="kv_series: needs batching: iteration"):
        swarmsim.simulate(LONG, {"workloads.chat.replica.batching": "admission",
                                 "workloads.chat.replica.kv_series": True})
    out = tmp_path / "r"
    proc = subprocess.run([sys.executable, "-m", "swarmsim.cli", "run", str(LONG), "--out", str(out),
                           "--set", "workloads.chat.replica.batching=admission",
                           "--set", "workloads.chat.replica.kv_series=true"],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 2
    assert "kv_series" in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists()
