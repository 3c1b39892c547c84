"""NVIDIA MIG (docs/sharing.md, "MIG"): the A100 placement rules against the MIG User Guide's
combinations, conservation of slices under every MIG policy (hypothesis mixes), reconfiguration
only on an empty GPU and its time counted, the speed per profile applied to run time exactly,
the MIG fragmentation measure, and bad input (exit 2, one message naming the field)."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from swarmsim.catalog.mig import mig_gpus, mig_profiles
from swarmsim.world.inflation import inflate
from swarmsim.world.mig import (
    MIG_POLICIES,
    TIER_CREATE,
    TIER_INSTANCE,
    TIER_RECONFIGURE,
    MigNodes,
    MigPlacement,
    MigShapes,
    MigTask,
    free_view,
    gpu_options,
    is_valid,
    node_fragment,
    slices_for_share,
)

ROOT = Path(__file__).resolve().parents[1]
A100 = mig_profiles("A100-80GB")
K = {p.name: k for k, p in enumerate(A100)}  # profile name -> index


def lay(*parts: tuple[str, int], busy: int = 1) -> tuple[tuple[int, int, int], ...]:
    """A layout from (profile, start) pairs."""
    return tuple(sorted((start, K[name], busy) for name, start in parts))


# The 19 full-GPU combinations of the A100 figure in NVIDIA's MIG User Guide ("Supported MIG
# Profiles"), written as (profile, start memory slice); 4g/3g fill memory slices 0-3, 3g
# also 4-7, 2g starts at 0, 2 or 4, 1g at 0..6.
GUIDE_COMBINATIONS = [
    [("7g.80gb", 0)],
    *[left + right for left, right in itertools.product(
        [[("4g.40gb", 0)], [("3g.40gb", 0)], [("2g.20gb", 0), ("2g.20gb", 2)],
         [("2g.20gb", 0), ("1g.10gb", 2), ("1g.10gb", 3)], [("1g.10gb", 0), ("1g.10gb", 1), ("2g.20gb", 2)],
         [("1g.10gb", 0), ("1g.10gb", 1), ("1g.10gb", 2), ("1g.10gb", 3)]],
        [[("3g.40gb", 4)], [("2g.20gb", 4), ("1g.10gb", 6)], [("1g.10gb", 4), ("1g.10gb", 5), ("1g.10gb", 6)]])],
]


def test_the_catalog_has_the_guides_profiles_and_placements() -> None:
    assert set(mig_gpus()) == {"A100-80GB", "A100-40GB", "H100-SXM", "H100-PCIe"}
    assert [p.name for p in A100] == ["1g.10gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb"]
    assert [p.name for p in mig_profiles("A100-40GB")] == ["1g.5gb", "2g.10gb", "3g.20gb", "4g.20gb", "7g.40gb"]
    assert [p.starts for p in A100] == [(0, 1, 2, 3, 4, 5, 6), (0, 2, 4), (0, 4), (0,), (0,)]
    # Speeds: SMs of the profile over the GPU's (14, 28, 42, 56, 98 of 108 on A100).
    assert [round(p.speed * 108) for p in A100] == [14, 28, 42, 56, 98]
    assert mig_profiles("L4") == ()


def test_every_combination_of_the_guide_is_valid_and_they_are_all_the_full_layouts() -> None:
    assert len(GUIDE_COMBINATIONS) == 19
    for combo in GUIDE_COMBINATIONS:
        assert is_valid(lay(*combo), A100), combo
    # Exhaustively: the valid layouts to which no instance can be added are exactly the guide's 19.
    placements = [(name, s) for name, k in K.items() for s in A100[k].starts]
    full = set()
    for n in range(1, 8):
        for combo in itertools.combinations(placements, n):
            layout = lay(*combo)
            if is_valid(layout, A100) and all(not gpu_options(layout, k, A100) or
                                              gpu_options(layout, k, A100)[0][0] != TIER_CREATE for k in K.values()):
                full.add(layout)
    assert full == {lay(*c) for c in GUIDE_COMBINATIONS}


@pytest.mark.parametrize("combo", [
    [("2g.20gb", 1)],  # 2g starts only at 0, 2, 4
    [("3g.40gb", 2)],  # 3g only at 0, 4
    [("4g.40gb", 4)],  # 4g only at 0
    [("7g.80gb", 1)],
    [("1g.10gb", 7)],  # the 8th memory slice has no 1g placement
    [("4g.40gb", 0), ("2g.20gb", 2)],  # overlap on memory slices 2-3
    [("3g.40gb", 4), ("1g.10gb", 5)],
    [("7g.80gb", 0), ("1g.10gb", 6)],
])
def test_invalid_layouts_are_refused(combo) -> None:
    assert not is_valid(lay(*combo), A100)


def test_placement_tiers_instance_then_free_slices_then_reconfigure() -> None:
    free_3g = lay(("3g.40gb", 0), busy=0) + lay(("1g.10gb", 4))
    assert gpu_options(free_3g, K["3g.40gb"], A100) == [(TIER_INSTANCE, lay(("3g.40gb", 0), ("1g.10gb", 4)))]
    # A 2g on the same GPU: a new instance at 2? no (3g holds 0-3): only at 4? no (1g at 4): none.
    assert gpu_options(free_3g, K["2g.20gb"], A100) == []
    # A 1g: new instances at 5 and 6 (the free 3g is not torn down while the 1g at 4 runs).
    assert [t for t, _ in gpu_options(free_3g, K["1g.10gb"], A100)] == [TIER_CREATE, TIER_CREATE]
    # The free-capacity view says the same per profile (-1: none now).
    assert free_view("A100-80GB", free_3g) == {"1g.10gb": TIER_CREATE, "2g.20gb": -1, "3g.40gb": TIER_INSTANCE,
                                               "4g.40gb": -1, "7g.80gb": -1}
    # Once empty, the GPU may be reconfigured for a 7g.
    empty = lay(("3g.40gb", 0), ("1g.10gb", 4), busy=0)
    assert gpu_options(empty, K["7g.80gb"], A100) == [(TIER_RECONFIGURE, lay(("7g.80gb", 0)))]


def test_reconfiguration_only_on_an_empty_gpu_and_its_time_counted() -> None:
    nodes = MigNodes(["A100-80GB"], [1], [10_000], [10_000], [42.0])
    small, whole = MigTask(0, 0, 1, 1, "1g.10gb"), MigTask(0, 0, 1, 7, "7g.80gb")
    pl = MigPlacement("first-fit", nodes, MigShapes([small, whole], [1, 1], "t"))
    i, plan = pl.choose(nodes, small)  # type: ignore[misc]
    g = nodes.take(i, small, plan)
    assert plan[0][2] == TIER_CREATE and g.delay_s == 0
    assert pl.choose(nodes, whole) is None  # the GPU is busy: its layout cannot change
    busy = nodes.layouts[0][0]
    with pytest.raises(ValueError, match="only when the GPU is empty"):
        nodes.take(0, whole, ((busy, lay(("7g.80gb", 0)), TIER_RECONFIGURE),))
    nodes.release(g)
    i, plan = pl.choose(nodes, whole)  # type: ignore[misc]
    g2 = nodes.take(i, whole, plan)
    assert plan[0][2] == TIER_RECONFIGURE and g2.delay_s == 42.0
    assert nodes.reconfigurations == 1 and nodes.reconfigure_total_s == 42.0
    nodes.check()


@pytest.mark.parametrize(("gpu", "profile", "sms", "gpu_sms", "train_speed"), [
    ("A100-80GB", "3g.40gb", 42, 108, 1.0),
    ("H100-SXM", "1g.10gb", 16, 132, 1.676),
])
def test_speed_per_profile_is_applied_to_run_time_exactly(gpu, profile, sms, gpu_sms, train_speed) -> None:
    # One GPU, its layout already holding another profile so the first job reconfigures: start
    # = arrival + 30 s, run time = duration / (GPU speed x SMs of the profile / SMs of the GPU).
    nodes = MigNodes([gpu], [1], [1000], [1000], [30.0])
    other = "7g.80gb" if profile != "7g.80gb" else "1g.10gb"
    k = next(k for k, p in enumerate(mig_profiles(gpu)) if p.name == other)
    nodes.layouts[0][0] = ((0, k, 0),)
    nodes._moved(0)
    task = MigTask(0, 0, 1, next(p.compute_slices for p in mig_profiles(gpu) if p.name == profile), profile)
    shapes = MigShapes([task], [1.0], "t")
    run = inflate(nodes, [task], MigPlacement("first-fit", nodes, shapes), shapes, seed=0, stop_at=0.1,
                  gap_s=10.0, durations=lambda rng: 1000.0)
    job = run.jobs[0]
    assert job["reconfigure_s"] == 30.0 and job["start_s"] == job["arrival_s"] + 30.0
    assert job["run_time_s"] == 1000.0 / (train_speed * sms / gpu_sms)
    assert job["end_s"] == job["start_s"] + job["run_time_s"]


def test_mig_fragmentation_counts_idle_slices_no_profile_of_the_mix_can_use() -> None:
    # A 3g runs at memory slices 0-3: 4 compute slices idle, on slices 4-7.
    state = ("A100-80GB", 1000, 1000, (lay(("3g.40gb", 0)),))
    assert node_fragment(state, MigTask(0, 0, 1, 3, "3g.40gb")) == 0  # a 3g fits at 4
    assert node_fragment(state, MigTask(0, 0, 1, 4, "4g.40gb")) == 4  # a 4g only at 0: all idle
    assert node_fragment(state, MigTask(2000, 0, 1, 1, "1g.10gb")) == 4  # too little CPU
    # Two GPUs, the second empty: a 4g fits there, so only the first GPU's 4 idle slices are fragments;
    # two 4g (on two GPUs) do not fit: all 4 + 7 idle slices are.
    two = ("A100-80GB", 1000, 1000, ((), lay(("3g.40gb", 0))))
    assert node_fragment(two, MigTask(0, 0, 1, 4, "4g.40gb")) == 4
    assert node_fragment(two, MigTask(0, 0, 2, 4, "4g.40gb")) == 11
    assert node_fragment(two, MigTask(0, 0, 1, 1, "1g.10gb")) == 0
    shapes = MigShapes([MigTask(0, 0, 1, 3, "3g.40gb"), MigTask(0, 0, 1, 4, "4g.40gb")], [3, 1], "t")
    assert shapes.node(state) == pytest.approx(0.25 * 4 * 1000 / 7)  # milli-GPU


def test_a_traced_share_maps_to_the_smallest_profile_holding_it() -> None:
    assert [slices_for_share(m) for m in (100, 142, 143, 285, 286, 500, 571, 572, 1000)] == \
        [1, 1, 2, 2, 3, 4, 4, 7, 7]  # g slices hold g/7 of a GPU: 2/7 = 0.2857, 4/7 = 0.5714


tasks = st.lists(st.tuples(st.sampled_from(["1g.10gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb"]),
                           st.integers(0, 4000)), min_size=1, max_size=6)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mix=tasks, policy=st.sampled_from(MIG_POLICIES), gpus=st.integers(1, 4), seed=st.integers(0, 99),
       mean=st.floats(10, 400))
def test_conservation_slices_never_double_used(mix, policy, gpus, seed, mean) -> None:
    slices = {p.name: p.compute_slices for p in A100}
    pool = [MigTask(cpu, 0, 1, slices[name], name) for name, cpu in mix]
    nodes = MigNodes(["A100-80GB", "H100-SXM", "A100-80GB"], [gpus, gpus, 1], [16_000, 8000, 4000],
                     [10**6] * 3, [30.0, 45.0, 30.0])
    shapes = MigShapes.of(pool, "t")
    run = inflate(nodes, pool, MigPlacement(policy, nodes, shapes, seed=seed), shapes, seed=seed, stop_at=4.0,
                  check_every=1, durations=lambda rng: float(rng.exponential(mean)), poisson=True)
    nodes.check()
    assert run.arrived == run.placed + run.dropped
    # No instance busy twice: at any moment the running jobs' slices fit the GPUs.
    events = sorted([(j["start_s"] - j["reconfigure_s"], 1, j) for j in run.jobs] +
                    [(j["end_s"], 0, j) for j in run.jobs], key=lambda e: (e[0], e[1]))
    held: dict[tuple[int, int], int] = {}
    for _, up, j in events:
        for gpu in str(j["gpus"]).split("|"):
            key = (int(j["node"]), int(gpu))
            held[key] = held.get(key, 0) + (1 if up else -1) * slices[str(j["profile"])]
            assert 0 <= held[key] <= 7


# --- the scenario and bad input through the CLI ----------------------------------------------

def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "swarmsim.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def _scenario(tmp: Path, change=None) -> Path:
    doc = yaml.safe_load((ROOT / "scenarios" / "sharing-mig.yaml").read_text())
    doc["workloads"]["mig-jobs"]["stop_at_requested"] = 1.0
    if change:
        change(doc)
    path = tmp / "s.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_the_mig_scenario_runs_deterministically(tmp_path: Path) -> None:
    path = _scenario(tmp_path)
    for out in ("a", "b"):
        res = _run(["run", str(path), "--out", str(tmp_path / out)], tmp_path)
        assert res.returncode == 0, res.stderr
    a = json.loads((tmp_path / "a" / "summary.json").read_text())["summary"]
    assert a["jobs_arrived"] == a["jobs_started"] + a["jobs_dropped"] and a["gpus_total"] == 80
    assert a["requested_gpu_fraction"] >= 1.0
    # The resolved scenario (mig_profile mix, mig_reconfigure) runs again to the same files.
    again = _run(["run", str(tmp_path / "a" / "scenario.yaml"), "--out", str(tmp_path / "c")], tmp_path)
    assert again.returncode == 0, again.stderr
    for f in ("jobs.csv", "timeseries.csv"):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "c" / f).read_bytes()
    assert "mig_reconfigurations" in (tmp_path / "a" / "timeseries.csv").read_text()


@pytest.mark.parametrize(("change", "field", "words"), [
    (lambda d: d["node_types"]["a100-mig"].update(gpu="L4"), "node_types.a100-mig", "needs a GPU with MIG"),
    (lambda d: d["node_types"]["a100-mig"].update(gpu="RTX-4090"), "node_types.a100-mig", "not RTX-4090"),
    (lambda d: d["workloads"]["mig-jobs"].update(mig_profile="3g.04gb"), "workloads.mig-jobs.mig_profile",
     "did you mean '3g.40gb'"),
    (lambda d: d["workloads"]["mig-jobs"].update(mig_profile="3g.80gb"), "workloads.mig-jobs.mig_profile",
     "larger than the fleet's MIG GPUs"),
    (lambda d: [t.update(gpu_sharing="none") or t.pop("mig_reconfigure", 0) for t in d["node_types"].values()],
     "workloads.mig-jobs.mig_profile", "needs a node type with gpu_sharing: mig"),
    (lambda d: d["node_types"]["a100-mig"].update(gpu_sharing="none", mig_reconfigure="10s"),
     "node_types.a100-mig", "mig_reconfigure: only for gpu_sharing: mig"),
    (lambda d: d["scheduler"].update(placement="dot-product"), "scheduler.placement", "not defined for MIG"),
])
def test_bad_mig_input_names_the_field(tmp_path: Path, change, field: str, words: str) -> None:
    res = _run(["run", str(_scenario(tmp_path, change)), "--out", str(tmp_path / "r")], tmp_path)
    assert res.returncode == 2, res.stderr
    assert field in res.stderr and words in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("policy", MIG_POLICIES)
def test_every_policy_prefers_a_free_instance_then_free_slices_then_reconfiguring(policy) -> None:
    # Node 0: an empty GPU whose layout holds a free 7g (a 3g there needs a reconfiguration);
    # node 1: a GPU with a 1g busy (a 3g fits on free slices at 4); node 2: a free 3g next to a busy 1g.
    nodes = MigNodes(["A100-80GB"] * 3, [1] * 3, [1000] * 3, [1000] * 3, [30.0] * 3)
    nodes.layouts[0][0] = lay(("7g.80gb", 0), busy=0)
    nodes.layouts[1][0] = lay(("1g.10gb", 0))
    nodes.layouts[2][0] = lay(("3g.40gb", 0), busy=0) + lay(("1g.10gb", 4))
    for i in range(3):
        nodes._moved(i)
        nodes.busy += 1 if i else 0
    nodes.check()
    three = MigTask(0, 0, 1, 3, "3g.40gb")
    pl = MigPlacement(policy, nodes, MigShapes([three], [1.0], "t"), seed=3)
    # ... and a fourth 3g goes next to the reconfigured one, on node 0's free slices 4-7.
    expected = [(2, TIER_INSTANCE), (1, TIER_CREATE), (0, TIER_RECONFIGURE), (0, TIER_CREATE)]
    for node, tier in expected:
        i, plan = pl.choose(nodes, three)  # type: ignore[misc]
        assert (i, plan[0][2]) == (node, tier)
        nodes.take(i, three, plan)
    assert pl.choose(nodes, three) is None
    nodes.check()


def test_a_traced_pod_list_runs_on_a_mig_fleet(tmp_path: Path) -> None:
    # Two nodes of 2 A100-80GB; a 0.3-GPU pod becomes a 3g.40gb (3/7 >= 0.3 > 2/7), a 2-GPU pod two 7g.80gb.
    (tmp_path / "nodes.csv").write_text("sn,cpu_milli,memory_mib,gpu,model\nn0,8000,16384,2,G2\nn1,8000,16384,2,G2\n")
    (tmp_path / "pods.csv").write_text("name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,"
                                       "creation_time,deletion_time,scheduled_time\n"
                                       "p0,1000,1024,1,300,,LS,Running,0,10,0\np1,1000,1024,2,1000,,LS,Running,0,10,0\n")
    doc = yaml.safe_load((ROOT / "scenarios" / "fragmentation-openb.yaml").read_text())
    doc["fleet"]["us-east"]["from_trace"].update(path=str(tmp_path / "nodes.csv"), gpu_map={"G2": "A100-80GB"},
                                                 gpu_sharing="mig")
    doc["workloads"]["openb"]["trace"]["path"] = str(tmp_path / "pods.csv")
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(doc))
    res = _run(["run", str(path), "--out", str(tmp_path / "r")], tmp_path)
    assert res.returncode == 0, res.stderr
    s = json.loads((tmp_path / "r" / "summary.json").read_text())["summary"]
    assert s["gpus_total"] == 4 and s["task_shapes"].startswith("trace: 2 GPU task shapes")
    # Allocated GPU is a sum of 3/7 and 2 x 7/7 instances.
    alloc = s["gpu_allocation_ratio"] * 4 * 7
    assert alloc == pytest.approx(round(alloc)) and s["gpus_unallocated_final"] == pytest.approx(4 - alloc / 7)
