"""GPU sharing (docs/sharing.md): the fragmentation measure by hand, conservation under every
placement policy (hypothesis task mixes), the paper's experiment on the real openb trace through
the real CLI, determinism, and bad input (exit 2, one message naming the field)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from swarmsim.scenario import load_scenario
from swarmsim.world.fragmentation import Shapes, node_fragment
from swarmsim.world.inflation import inflate
from swarmsim.world.placement import POLICIES, Placement
from swarmsim.world.sharing import MILLI, SharedNodes, Task, after, options

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
OPENB = DATA / "alibaba-gpu-v2023"
needs_openb = pytest.mark.skipif(not OPENB.is_dir(), reason=f"published traces not found at {OPENB}")


# --- the measure, by hand ------------------------------------------------------------------

def test_fragment_of_one_task_by_the_papers_cases() -> None:
    state = (8000, 16384, (200, 500, 1000))  # free milli-CPU, MiB, milli-GPU per GPU (sorted)
    # A 0.3-GPU task fits (on the 500 or the 1000): only the 0.2 GPU is too small for it.
    assert node_fragment(state, Task(1000, 1024, 1, 300)) == 200
    # A one-GPU task fits the idle GPU: both partly used GPUs' free shares are fragments.
    assert node_fragment(state, Task(1000, 1024, 1, 1000)) == 700
    # Two whole GPUs do not fit (one idle GPU): all 1.7 free GPUs are fragments.
    assert node_fragment(state, Task(1000, 1024, 2, 1000)) == 1700
    # Too little CPU: everything is a fragment, even though the GPUs would fit.
    assert node_fragment(state, Task(9000, 1024, 1, 300)) == 1700
    # A task without GPUs cannot use any GPU: all free GPU capacity.
    assert node_fragment(state, Task(1000, 1024, 0, 0)) == 1700


def test_node_fragmentation_is_the_expectation_over_shapes() -> None:
    tasks = [Task(1000, 1024, 1, 300), Task(1000, 1024, 1, 1000), Task(1000, 1024, 2, 1000), Task(10, 10, 0, 0)]
    shapes = Shapes(tasks, [2.0, 1.0, 1.0, 5.0], "given")
    state = (8000, 16384, (200, 500, 1000))
    # The task without GPUs is left out; the rest weigh 2/4, 1/4, 1/4.
    assert shapes.node(state) == pytest.approx(0.5 * 200 + 0.25 * 700 + 0.25 * 1700)


@given(st.lists(st.integers(0, 10), min_size=1, max_size=8), st.integers(0, 4000), st.integers(0, 4000),
       st.lists(st.tuples(st.integers(0, 4000), st.integers(0, 4000), st.sampled_from([0, 1, 1, 2, 4]),
                          st.integers(1, 10)), min_size=1, max_size=6))
@settings(max_examples=60, deadline=None)
def test_vectorised_measure_agrees_with_the_definition(gpus: list[int], cpu: int, mem: int,
                                                       raw: list[tuple[int, int, int, int]]) -> None:
    state = (cpu, mem, tuple(sorted(100 * g for g in gpus)))
    tasks = [Task(c, m, n, (100 * k if n == 1 else MILLI) if n else 0) for c, m, n, k in raw]
    if all(t.num_gpu == 0 for t in tasks):
        tasks.append(Task(0, 0, 1, 500))
    shapes = Shapes.of(tasks, "given")
    expected = sum(p * node_fragment(state, t) for t, p in zip(shapes.tasks, shapes.p, strict=True))
    assert shapes.node(state) == pytest.approx(expected)


def test_options_and_after_keep_shares_within_one_gpu() -> None:
    state = (4000, 4000, (300, 300, 700, 1000))
    t = Task(100, 100, 1, 300)
    assert options(state, t) == [300, 700, 1000]  # one option per distinct free share
    assert after(state, t, 300) == (3900, 3900, (0, 300, 700, 1000))
    assert options(state, Task(100, 100, 2, MILLI)) == []  # one idle GPU only
    assert after(state, Task(100, 100, 1, MILLI), MILLI) == (3900, 3900, (0, 300, 300, 700))


# --- conservation under every policy ------------------------------------------------------

task_st = st.one_of(
    st.builds(Task, st.integers(0, 20_000), st.integers(0, 60_000), st.just(1), st.integers(1, 999)),
    st.builds(Task, st.integers(0, 20_000), st.integers(0, 60_000), st.sampled_from([1, 2, 4, 8]),
              st.just(MILLI)),
    st.builds(Task, st.integers(1, 20_000), st.integers(1, 60_000), st.just(0), st.just(0)),
)


@pytest.mark.parametrize("policy", POLICIES)
@given(tasks=st.lists(task_st, min_size=1, max_size=25),
       kinds=st.lists(st.tuples(st.sampled_from([1, 2, 4, 8]), st.integers(8, 96), st.integers(32, 512)),
                      min_size=1, max_size=5),
       seed=st.integers(0, 3))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_no_policy_overcommits_a_gpu_cpu_or_memory(policy: str, tasks: list[Task],
                                                   kinds: list[tuple[int, int, int]], seed: int) -> None:
    gpus = [g for g, _, _ in kinds]
    nodes = SharedNodes([c * 1000 for _, c, _ in kinds], [m * 1024 for _, _, m in kinds], gpus,
                        track_shapes=policy == "gpu-clustering")
    tasks = [*tasks, Task(0, 0, 1, 500)]  # at least one task asks for GPUs, so arrivals reach stop_at
    shapes = Shapes.of(tasks, "given")
    run = inflate(nodes, tasks, Placement(policy, nodes, shapes, seed), shapes, seed=seed, stop_at=2.0,
                  check_every=1)
    nodes.check()
    assert run.placed + run.dropped == run.arrived
    # The measure never counts more than what is idle.
    assert 0 <= run.fragmented_gpus <= run.unallocated_gpus + 1e-9
    assert run.allocated_gpus + run.unallocated_gpus == pytest.approx(sum(gpus))


def test_a_task_is_dropped_only_when_no_node_fits_it() -> None:
    nodes = SharedNodes([8000], [8192], [2])
    shapes = Shapes.of([Task(1000, 1024, 1, 600)], "given")
    pl = Placement("fgd", nodes, shapes)
    assert pl.choose(nodes, Task(1000, 1024, 1, 600)) is not None
    assert pl.choose(nodes, Task(9000, 1024, 1, 600)) is None  # CPU
    assert pl.choose(nodes, Task(1000, 9000, 1, 600)) is None  # memory
    assert pl.choose(nodes, Task(1000, 1024, 4, MILLI)) is None  # GPUs


def test_fgd_fills_the_gpu_a_share_fits_best_and_best_fit_the_fullest_node() -> None:
    # Two nodes: node 0 has one GPU at 0.5 free, node 1 one idle GPU. Workload: only 0.5-GPU
    # tasks. FGD puts a 0.5 task on node 0 (its 0.5 GPU would otherwise stay unusable by nothing
    # -- it fits 0.5 -- but the idle GPU of node 1 would be split into 0.5 + 0.5: both keep F = 0).
    # With 0.6 tasks in the mix, a 0.5 task on the idle GPU leaves 0.5 that a 0.6 cannot use.
    nodes = SharedNodes([8000, 8000], [8192, 8192], [1, 1])
    nodes.take(0, Task(0, 0, 1, 500), MILLI)
    shapes = Shapes([Task(0, 0, 1, 500), Task(0, 0, 1, 600)], [1.0, 1.0], "given")
    node, option = Placement("fgd", nodes, shapes).choose(nodes, Task(0, 0, 1, 500))
    assert (node, option) == (0, 500)
    # Worst-fit prefers the idle node.
    assert Placement("worst-fit", nodes, shapes).choose(nodes, Task(0, 0, 1, 500))[0] == 1


# --- the paper's experiment on the real trace ---------------------------------------------

def _run(args: list[str], tmp: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, SWARMSIM_DATA=str(DATA), PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "swarmsim.cli", *args], capture_output=True, text=True,
                          env=env, cwd=tmp, timeout=600)


@needs_openb
def test_fgd_leaves_fewer_gpus_unallocated_than_best_fit_on_openb(tmp_path: Path) -> None:
    scenario = ROOT / "scenarios" / "fragmentation-openb.yaml"
    out = {}
    for policy in ("fgd", "best-fit"):
        res = _run(["run", str(scenario), "--set", f"scheduler.placement={policy}", "--out",
                    str(tmp_path / policy)], tmp_path)
        assert res.returncode == 0, res.stderr
        out[policy] = json.loads((tmp_path / policy / "summary.json").read_text())["summary"]
    fgd, best = out["fgd"], out["best-fit"]
    for s in (fgd, best):
        assert s["jobs_arrived"] == s["jobs_started"] + s["jobs_dropped"]
        assert s["requested_gpu_fraction"] >= 1.3  # arrivals stop just past 130 %
        assert s["gpus_total"] == 6212
        assert s["gpus_fragmented_final"] <= s["gpus_unallocated_final"]
    assert fgd["gpus_unallocated_final"] < best["gpus_unallocated_final"]
    assert "trace" in fgd["task_shapes"]
    # The resolved scenario runs again to the same figures (its sharing keys survive the dump).
    again = _run(["run", str(tmp_path / "fgd" / "scenario.yaml"), "--out", str(tmp_path / "again")], tmp_path)
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "again" / "summary.json").read_text() == (tmp_path / "fgd" / "summary.json").read_text()
    ts = (tmp_path / "fgd" / "timeseries.csv").read_text().splitlines()
    assert ts[0].split(",")[-4:] == ["gpus_total", "gpus_allocated", "gpus_idle", "gpus_fragmented"]


# --- bad input -----------------------------------------------------------------------------

def _sharing_files(tmp: Path, pods: str) -> Path:
    (tmp / "nodes.csv").write_text("sn,cpu_milli,memory_mib,gpu,model\nn0,8000,16384,2,T4\nn1,8000,16384,2,T4\n")
    (tmp / "pods.csv").write_text("name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,"
                                  "creation_time,deletion_time,scheduled_time\n" + pods)
    doc = yaml.safe_load((ROOT / "scenarios" / "fragmentation-openb.yaml").read_text())
    doc["fleet"]["us-east"]["from_trace"].update(path=str(tmp / "nodes.csv"), gpu_map={"T4": "T4"})
    doc["workloads"]["openb"]["trace"]["path"] = str(tmp / "pods.csv")
    path = tmp / "s.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


GOOD_PODS = "p0,1000,1024,1,300,,LS,Running,0,10,0\np1,1000,1024,2,1000,,LS,Running,0,10,0\n"


def test_a_small_sharing_scenario_runs_and_fills_the_fleet(tmp_path: Path) -> None:
    path = _sharing_files(tmp_path, GOOD_PODS)
    res = _run(["run", str(path), "--out", str(tmp_path / "r")], tmp_path)
    assert res.returncode == 0, res.stderr
    s = json.loads((tmp_path / "r" / "summary.json").read_text())["summary"]
    assert s["gpus_total"] == 4
    assert s["gpus_unallocated_final"] == pytest.approx(4 - s["gpu_allocation_ratio"] * 4)


@pytest.mark.parametrize(("change", "field"), [
    (lambda d: d["node_types"].update(x={"gpu": "V100", "gpus": 8, "gpu_sharing": "mig"}) or
     d["fleet"]["us-east"].update(x=1), "node_types.x.gpu_sharing"),
    (lambda d: d["node_types"].update(x={"gpu": "T4", "gpus": 2, "cpus": 8, "memory": 512,
                                         "gpu_sharing": "fractional"}) or d["fleet"]["us-east"].update(x=1),
     "node_types.x.memory"),
    (lambda d: d["fleet"]["us-east"]["from_trace"].pop("gpu_sharing"), "workloads.openb.trace.fractional_gpus"),
])
def test_bad_sharing_input_names_the_field(tmp_path: Path, change, field: str) -> None:
    path = _sharing_files(tmp_path, GOOD_PODS)
    doc = yaml.safe_load(path.read_text())
    change(doc)
    path.write_text(yaml.safe_dump(doc))
    res = _run(["run", str(path), "--out", str(tmp_path / "r")], tmp_path)
    assert res.returncode == 2, res.stderr
    assert field in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "r").exists()


def test_a_job_larger_than_every_node_is_refused(tmp_path: Path) -> None:
    path = _sharing_files(tmp_path, GOOD_PODS + "p2,1000,1024,8,1000,,LS,Running,0,10,0\n")
    res = _run(["run", str(path), "--out", str(tmp_path / "r")], tmp_path)
    assert res.returncode == 2
    assert "workloads.openb.trace.path" in res.stderr and "line 4" in res.stderr
    assert "larger than every node" in res.stderr
    assert not (tmp_path / "r").exists()


def test_sharing_fields_stay_out_of_other_scenarios_resolved_files() -> None:
    sc = load_scenario(ROOT / "scenarios" / "two-regions.yaml")
    text = sc.to_yaml()
    for key in ("gpu_sharing", "cpus:", "memory:", "replay:", "departures", "stop_at_requested", "sample_rate"):
        assert key not in text


def test_fgd_can_learn_its_task_shapes_online(tmp_path: Path) -> None:
    path = _sharing_files(tmp_path, GOOD_PODS)
    res = _run(["run", str(path), "--set", "scheduler.task_shapes=online", "--out", str(tmp_path / "r")], tmp_path)
    assert res.returncode == 0, res.stderr
    s = json.loads((tmp_path / "r" / "summary.json").read_text())["summary"]
    assert s["task_shapes"].startswith("online")
    assert "task_shapes: online" in (tmp_path / "r" / "scenario.yaml").read_text()


def test_online_shapes_follow_the_arrivals() -> None:
    nodes = SharedNodes([64_000] * 4, [262_144] * 4, [8] * 4)
    pool = [Task(1000, 1024, 1, 250), Task(1000, 1024, 2, MILLI)]
    start = Shapes.of([Task(0, 0, 1, 900)], "given")  # deliberately wrong: replaced by what arrives
    pl = Placement("fgd", nodes, start)
    inflate(nodes, pool, pl, start, seed=0, stop_at=0.5, online=True, check_every=1)
    assert pl.shapes.source == "online"
    assert set(pl.shapes.tasks) == set(pool)
    assert float(pl.shapes.p.sum()) == pytest.approx(1.0)
