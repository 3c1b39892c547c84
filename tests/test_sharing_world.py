"""A sharing fleet is a normal fleet (docs/sharing.md): jobs asking for shares of a GPU plus CPU
and memory run in the SimPy world, depart and free their shares, in several regions, with
routing, queues, a scaling policy and billing. Conservation under every placement policy
(hypothesis task mixes), keeping shares against rounding them up, the planner's GPU share, task
shapes from a table, and bad input (exit 2, one message naming the field)."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from swarmsim import simulate
from swarmsim.scenario import load_scenario
from swarmsim.workloads.jobs import held_gpus
from swarmsim.world.placement import POLICIES
from swarmsim.world.shared_pool import FractionalPool
from swarmsim.world.sharing import MILLI
from swarmsim.world.world import build_world

ROOT = Path(__file__).resolve().parents[1]
FLEET = ROOT / "scenarios" / "sharing-fleet.yaml"


def _doc() -> dict[str, Any]:
    return yaml.safe_load(FLEET.read_text())


def _small(values: list[float], cpus: float, memory_gib: int, placement: str, seed: int,
           strategy: str = "target-tracking", failures: bool = False) -> dict[str, Any]:
    """Two regions of 2-GPU sharing nodes, jobs of the given GPU sizes that depart, a horizontal
    policy of ``strategy``, and with ``failures`` nodes that fail and come back."""
    doc = _doc()
    doc.update(seed=seed, horizon="12h", warmup=0, sample_every="30m")
    doc["node_types"]["a100x8"].update(gpus=2, cpus=16, memory="128GiB")
    doc["fleet"] = {"us-east": {"a100x8": 2}, "eu-west": {"a100x8": 1}}
    doc["workloads"] = {"mix": {
        "kind": "jobs", "arrivals": {"process": "poisson", "rate": "8/h"},
        "origin": {"us-east": 0.5, "eu-west": 0.5}, "gpus": {"dist": "empirical", "values": values},
        "cpus": cpus, "memory": f"{memory_gib}GiB", "duration": {"dist": "exponential", "mean": "1h"}}}
    doc["scheduler"] = {"queue": "fifo", "placement": placement}
    doc["policies"] = [{"kind": "horizontal", "strategy": strategy, "min_nodes": 1, "max_nodes": 4,
                        "interval": "5m"}]
    if failures:
        doc["failures"] = {"nodes": {"a100x8": {"mtbf": "3h", "repair": "30m"}}}
    return doc


def _check_pools(world: Any) -> None:
    """The conservation laws on every sharing pool: shares per GPU within 0..1, CPU and memory
    within 0..the node's, allocated = capacity - free, and the pool's counters agree."""
    for region in world.regions:
        busy = 0.0
        for pool in region.pools:
            if not isinstance(pool, FractionalPool):
                continue
            pool.shared.check()
            ready = [pool.slot[n] for n in pool.nodes]
            free = sum(sum(pool.shared.free[i]) for i in ready)
            assert pool.free_milli == free
            assert pool.total_milli == MILLI * sum(pool.shared.gpus[i] for i in ready)
            for node in pool.nodes.values():
                assert node.free == sum(1 for v in pool.shared.free[pool.slot[node.id]] if v == MILLI)
            held = sum(MILLI * pool.shared.gpus[i] - sum(pool.shared.free[i]) for i in pool.slot.values())
            assert pool.busy_gpus == pytest.approx(held / MILLI)
            busy += pool.busy_gpus
        assert region.busy_gpus == pytest.approx(busy)


@pytest.mark.parametrize("placement", POLICIES)
@given(values=st.lists(st.sampled_from([0.1, 0.25, 0.3, 0.5, 0.75, 1, 2]), min_size=1, max_size=4),
       cpus=st.sampled_from([0, 1, 4, 8]), memory=st.sampled_from([0, 8, 48]), seed=st.integers(0, 3),
       strategy=st.sampled_from(["target-tracking", "threshold", "queue"]), failures=st.booleans())
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_no_policy_overcommits_a_shared_node_in_the_world(placement: str, values: list[float], cpus: int,
                                                          memory: int, seed: int, strategy: str,
                                                          failures: bool) -> None:
    # Nodes come (the policy), go (drained, failed) and come back; jobs are interrupted and queue again.
    sc = load_scenario(_small(values, cpus, memory, placement, seed, strategy, failures))
    world = build_world(sc)
    world.run(progress=lambda now, horizon: _check_pools(world))
    _check_pools(world)
    rec = world.recorder
    # Jobs are conserved: every arrival has exactly one outcome row (completed, unfinished, rejected).
    assert rec.job_rows() == world.jobs._next_job_id
    assert world.jobs._next_job_id > 0


def _summary(overrides: dict[str, Any]) -> dict[str, Any]:
    return simulate(FLEET, overrides=overrides).summary


def test_keeping_shares_needs_fewer_gpus_and_costs_less_than_rounding_them_up() -> None:
    # Offered GPU load (busy GPUs = rate x mean duration x GPUs held): inference 60/h x 2 h x
    # E[held]; E[held] = 0.75 x 0.25 + 0.25 x 0.5 = 0.3125 kept, 1 rounded up; training 3/h x 3 h
    # x 2.6 = 23.4 either way. So about 37.5 + 23.4 = 61 busy GPUs kept against 120 + 23.4 = 143
    # rounded: the target-tracking policy (80 %) keeps ~0.42x the nodes, and the bill follows.
    keep = _summary({})
    ceil = _summary({"workloads.inference.fractional_gpus": "ceil"})
    for s in (keep, ceil):
        assert s["jobs_arrived"] == s["jobs_completed"] + s["jobs_unfinished"] + s["jobs_rejected"]
        assert s["scale_actions"] > 0
    assert keep["jobs_arrived"] == ceil["jobs_arrived"]  # the same jobs
    assert keep["gpu_hours_provisioned"] < 0.6 * ceil["gpu_hours_provisioned"]
    assert keep["cost_usd"] < 0.6 * ceil["cost_usd"]
    # A share counts by its share: busy GPU-hours are the jobs' shares x their run times.
    assert keep["gpu_hours_busy"] < 0.6 * ceil["gpu_hours_busy"]
    assert keep["task_shapes"].startswith("trace: ")


def test_fragmentation_figures_per_sample_and_region() -> None:
    res = simulate(FLEET)
    ts = res.timeseries
    assert set(ts["region"]) == {"us-east", "eu-west"}
    assert (ts["gpus_allocated"] + ts["gpus_idle"] - ts["gpus_total"]).abs().max() < 1e-9
    assert ((ts["gpus_fragmented"] >= 0) & (ts["gpus_fragmented"] <= ts["gpus_idle"] + 1e-9)).all()
    # busy_gpus counts shares: some samples hold a non-whole number of GPUs.
    assert (ts["busy_gpus"] % 1 != 0).any()
    assert (res.jobs["gpus"] < 1).any()
    s = res.summary
    assert 0 < s["gpu_allocation_ratio"] <= 1
    assert s["gpus_fragmented_final"] <= s["gpus_unallocated_final"] + 1e-9


def test_the_same_seed_gives_the_same_run() -> None:
    a, b = simulate(FLEET), simulate(FLEET)
    assert a.jobs.equals(b.jobs) and a.timeseries.equals(b.timeseries)


def test_the_planner_counts_a_share_by_its_share() -> None:
    sc = load_scenario(FLEET)
    # 0.75 x 0.25 + 0.25 x 0.5 GPUs held per job when kept; a whole GPU each when rounded up.
    assert held_gpus(sc, sc.workloads["inference"]) == pytest.approx(0.3125)  # type: ignore[arg-type]
    ceil = load_scenario(FLEET, {"workloads.inference.fractional_gpus": "ceil"})
    assert held_gpus(ceil, ceil.workloads["inference"]) == pytest.approx(1.0)  # type: ignore[arg-type]
    assert held_gpus(sc, sc.workloads["training"]) == pytest.approx(0.4 + 0.6 + 0.8 + 0.8)  # type: ignore[arg-type]
    # Erlang C's servers: 64 GPUs of quarter-ish jobs are 64 / 0.3125 = 204 servers.
    from swarmsim.planning.analytic import Model

    queue = Model(sc, ["us-east"])._job_queue(sc.workloads["inference"], {"a100x8": 8}, 1.0)  # type: ignore[arg-type]
    assert queue.servers == int(64 // 0.3125)


# --- task shapes from a table, and bad input -----------------------------------------------------

def _run(args: list[str], tmp: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "swarmsim.cli", *args], capture_output=True, text=True,
                          env=env, cwd=tmp, timeout=600)


def _write(tmp: Path, doc: dict[str, Any]) -> Path:
    path = tmp / "s.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_fgd_reads_its_task_shapes_from_a_table(tmp_path: Path) -> None:
    (tmp_path / "shapes.csv").write_text("cpu_milli,memory_mib,num_gpu,gpu_milli,weight\n"
                                         "4000,32768,1,250,3\n4000,32768,1,500,1\n12000,131072,2,1000,1\n")
    doc = _doc()
    doc["horizon"] = "12h"
    doc["scheduler"]["task_shapes"] = {"table": "shapes.csv"}
    res = _run(["run", str(_write(tmp_path, doc)), "--out", str(tmp_path / "r"), "--no-plots", "--no-report"],
               tmp_path)
    assert res.returncode == 0, res.stderr
    s = json.loads((tmp_path / "r" / "summary.json").read_text())["summary"]
    assert s["task_shapes"] == "table: 3 GPU task shapes from shapes.csv"
    assert "table: shapes.csv" in (tmp_path / "r" / "scenario.yaml").read_text()


def _bad(doc: dict[str, Any]) -> None:
    doc["scheduler"]["task_shapes"] = {"table": "missing-column.csv"}


def _edit(path: str, value: Any):  # type: ignore[no-untyped-def]
    def change(doc: dict[str, Any]) -> None:
        *head, last = path.split(".")
        node = doc
        for key in head:
            node = node[key]
        node[last] = value
    return change


@pytest.mark.parametrize(("change", "field", "words"), [
    # A share on a node type that does not share.
    (_edit("node_types.a100x8.gpu_sharing", "none"), "workloads.inference.gpus", "share of one GPU"),
    # Larger than every node: GPUs, CPUs, memory.
    (_edit("workloads.training.gpus", 16), "workloads.training.gpus", "larger than every node"),
    (_edit("workloads.training.cpus", 200), "workloads.training.cpus", "larger than every node"),
    (_edit("workloads.training.memory", "2TiB"), "workloads.training.memory", "larger than every node"),
    (_bad, "scheduler.task_shapes.table", "cpu_milli"),
])
def test_bad_sharing_input_in_the_world_names_the_field(tmp_path: Path, change, field: str, words: str) -> None:
    (tmp_path / "missing-column.csv").write_text("memory_mib,num_gpu,gpu_milli\n1024,1,500\n")
    doc = copy.deepcopy(_doc())
    change(doc)
    res = _run(["run", str(_write(tmp_path, doc)), "--out", str(tmp_path / "r")], tmp_path)
    assert res.returncode == 2, res.stderr
    assert field in res.stderr and words in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "r").exists()


def test_fgd_learns_its_task_shapes_online_in_the_world() -> None:
    doc = _doc()
    doc["horizon"] = "12h"
    world = build_world(load_scenario(doc, {"scheduler.task_shapes": "online"}))
    world.run()
    sharing = world.sharing
    assert sharing is not None
    # What arrived, exactly: the learned distribution is the arrivals' shapes by their counts.
    arrived = sum(sharing.seen.values())
    assert arrived == world.jobs._next_job_id
    assert set(sharing.shapes.tasks) == {t for t in sharing.seen if t.num_gpu}
    top = max(sharing.seen, key=lambda t: sharing.seen[t])
    assert sharing.shapes.p[sharing.shapes.tasks.index(top)] == pytest.approx(sharing.seen[top] / arrived)
    assert sharing.summary()["task_shapes"].startswith("online: ")
    for pools in sharing.pools:
        for pool in pools:
            assert pool.placement.shapes is sharing.shapes
