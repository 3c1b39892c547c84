"""Replaying traces: a replay against ample capacity reproduces the trace exactly; window, time
scale, sample, scale, origins and GPU mapping do what they say; bad rows are reported."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from builders import scenario

import swarmsim

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
H = 3600.0


def write_trace(path: Path, n: int = 400, seed: int = 0, bad_line: int | None = None) -> pd.DataFrame:
    """A generic CSV job trace: sorted submit times (s), GPUs (some fractional), durations (s),
    a GPU model and a team."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "t": np.sort(rng.uniform(0, 20 * H, n)).round(3),
        "g": rng.choice([0.5, 1, 2, 4, 8], n),
        "d": rng.uniform(60, 3 * H, n).round(3),
        "model": rng.choice(["V100", "A100", ""], n),
        "team": rng.choice(["alpha", "beta", "gamma", "delta"], n),
    })
    if bad_line is not None:
        df.loc[bad_line - 2, "d"] = -5.0  # line numbers: header = 1
    df.to_csv(path, index=False)
    return df


def replay_scenario(path: Path, **trace: object) -> dict:
    spec = {"format": "csv", "path": str(path),
            "columns": {"submit": "t", "gpus": "g", "duration": "d", "gpu_model": "model", "group": "team"}}
    spec.update(trace)
    return scenario(
        horizon="30h", sample_every="30m",
        regions={"us-east": {}, "eu-west": {}},
        node_types={"a100x8": {"gpu": "A100-80GB", "gpus": 8}, "h100x8": {"gpu": "H100-SXM", "gpus": 8}},
        fleet={"us-east": {"a100x8": 60, "h100x8": 20}, "eu-west": {"h100x8": 40}},
        workloads={"trace": {"kind": "jobs", "origin": {"us-east": 0.6, "eu-west": 0.4}, "trace": spec}},
    )


def test_ample_capacity_reproduces_the_trace(tmp_path: Path) -> None:
    df = write_trace(tmp_path / "t.csv")
    res = swarmsim.simulate(replay_scenario(tmp_path / "t.csv"))
    jobs = res.jobs
    assert len(jobs) == len(df) and (jobs["status"] == "completed").all()
    assert (jobs["wait_s"] == 0).all()
    np.testing.assert_allclose(jobs["arrival_s"], df["t"] - df["t"].min())
    # Each job runs exactly its traced duration, whatever GPU it lands on (no speed map).
    np.testing.assert_allclose(jobs["run_time_s"], df["d"])
    assert set(jobs["node_type"].astype(str)) == {"a100x8", "h100x8"}
    # Whole GPUs: half a GPU is allocated one GPU ("ceil"); busy GPU-seconds add up exactly.
    np.testing.assert_array_equal(jobs["gpus"], np.ceil(df["g"]))
    assert res.summary["gpu_hours_busy"] * H == pytest.approx(float((np.ceil(df["g"]) * df["d"]).sum()))


def test_time_scale_and_window(tmp_path: Path) -> None:
    df = write_trace(tmp_path / "t.csv")
    full = swarmsim.simulate(replay_scenario(tmp_path / "t.csv"))
    half = swarmsim.simulate(replay_scenario(tmp_path / "t.csv", time_scale=0.5))
    np.testing.assert_allclose(np.diff(half.jobs["arrival_s"]), 0.5 * np.diff(full.jobs["arrival_s"]))
    window = swarmsim.simulate(replay_scenario(tmp_path / "t.csv", start="5h", end="10h", offset="1h"))
    inside = df[(df["t"] >= 5 * H) & (df["t"] < 10 * H)]
    assert len(window.jobs) == len(inside)
    np.testing.assert_allclose(window.jobs["arrival_s"], 1 * H + inside["t"] - 5 * H)


def test_sample_keeps_a_share_reproducibly(tmp_path: Path) -> None:
    df = write_trace(tmp_path / "t.csv", n=3000)
    runs = [swarmsim.simulate(replay_scenario(tmp_path / "t.csv", sample=0.1) | {"seed": s}) for s in (1, 1, 2)]
    kept = len(runs[0].jobs)
    se = np.sqrt(len(df) * 0.1 * 0.9)
    assert abs(kept - 0.1 * len(df)) < 4 * se
    assert list(runs[0].jobs["arrival_s"]) == list(runs[1].jobs["arrival_s"])  # same seed, same rows
    assert list(runs[0].jobs["arrival_s"]) != list(runs[2].jobs["arrival_s"])


def test_scale_repeats_rows_with_jitter(tmp_path: Path) -> None:
    df = write_trace(tmp_path / "t.csv", n=1000)
    res = swarmsim.simulate(replay_scenario(tmp_path / "t.csv", scale=2.5, jitter="10m"))
    se = np.sqrt(len(df) * 0.25)
    assert abs(len(res.jobs) - 2.5 * len(df)) < 4 * se
    assert res.jobs["arrival_s"].is_monotonic_increasing
    # Every copy arrives within the jitter after an original submit time.
    origins = np.sort(df["t"].to_numpy() - df["t"].min())
    after = res.jobs["arrival_s"].to_numpy()
    nearest_before = origins[np.searchsorted(origins, after + 1e-9, side="right") - 1]
    assert ((after - nearest_before) < 600 + 1e-6).all()


def test_origins_by_hashing_the_group_are_stable(tmp_path: Path) -> None:
    df = write_trace(tmp_path / "t.csv")
    res = swarmsim.simulate(replay_scenario(tmp_path / "t.csv", region_by="hash"))
    origin_of = dict(zip(df["team"], res.jobs["origin"].astype(str), strict=False))
    for team, origin in zip(df["team"], res.jobs["origin"].astype(str), strict=True):
        assert origin_of[team] == origin  # one region per team


def test_gpu_map_constrains_and_speed_scaling_rescales(tmp_path: Path) -> None:
    df = write_trace(tmp_path / "t.csv")
    gpu_map = {"V100": "V100", "A100": "A100-80GB"}
    res = swarmsim.simulate(replay_scenario(tmp_path / "t.csv", gpu_map=gpu_map | {"V100": "H100-SXM"}))
    v100 = res.jobs[df["model"].to_numpy() == "V100"]
    assert (v100["node_type"].astype(str) == "h100x8").all()  # mapped model: only its GPU
    scaled = swarmsim.simulate(replay_scenario(tmp_path / "t.csv", gpu_map={"A100": "H100-SXM"},
                                               speed_scaling=True))
    from swarmsim import catalog

    h100, a100 = catalog.find_gpu("H100-SXM").train_speed, catalog.find_gpu("A100-80GB").train_speed
    # A job traced on the GPU it runs on takes its traced duration ...
    rows = scaled.jobs[df["model"].to_numpy() == "A100"]
    assert (rows["node_type"].astype(str) == "h100x8").all()
    np.testing.assert_allclose(rows["run_time_s"], df.loc[df["model"] == "A100", "d"])
    # ... an unmapped one counts as traced on the reference GPU (speed 1.0, the A100-80GB), so on
    # an H100 it runs faster by the speed ratio, and on an A100 as traced.
    assert a100 == 1.0 and h100 > 1.5
    unmapped = scaled.jobs[df["model"].to_numpy() == ""]
    on_h100 = unmapped[unmapped["node_type"].astype(str) == "h100x8"]
    on_a100 = unmapped[unmapped["node_type"].astype(str) == "a100x8"]
    assert len(on_h100) > 0 and len(on_a100) > 0
    np.testing.assert_allclose(on_h100["run_time_s"], df.loc[on_h100.index, "d"] / h100)
    np.testing.assert_allclose(on_a100["run_time_s"], df.loc[on_a100.index, "d"])


def test_bad_rows_stop_with_the_line_or_are_skipped_and_counted(tmp_path: Path) -> None:
    write_trace(tmp_path / "t.csv", bad_line=42)
    sc = replay_scenario(tmp_path / "t.csv")
    with pytest.raises(swarmsim.ScenarioError) as err:
        swarmsim.simulate(sc)
    assert f"{tmp_path / 't.csv'}:42:" in err.value.format()
    skipped = swarmsim.simulate(replay_scenario(tmp_path / "t.csv", on_bad_rows="skip"))
    assert skipped.summary["trace_rows_skipped"] == 1
    # Through the CLI: exit 2, one line naming file and line, no traceback, no run folder.
    import yaml

    (tmp_path / "sc.yaml").write_text(yaml.safe_dump(sc))
    proc = subprocess.run([sys.executable, "-m", "swarmsim.cli", "run", str(tmp_path / "sc.yaml"), "--out",
                           str(tmp_path / "out")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert ":42:" in proc.stderr and not (tmp_path / "out").exists()


def test_jobs_still_running_at_the_trace_end_hold_their_gpus_to_the_horizon(tmp_path: Path) -> None:
    df = write_trace(tmp_path / "t.csv", n=50)
    df.loc[[3, 7], "d"] = np.nan
    df.to_csv(tmp_path / "t.csv", index=False)
    res = swarmsim.simulate(replay_scenario(tmp_path / "t.csv"))
    running = res.jobs.iloc[[3, 7]]
    assert (running["status"] == "unfinished").all() and running["start_s"].notna().all()
    assert (res.jobs.drop(index=[3, 7])["status"] == "completed").all()


@pytest.mark.skipif(not (DATA / "alibaba-gpu-v2023").is_dir(), reason=f"published traces not found at {DATA}")
def test_alibaba_2023_against_its_own_fleet() -> None:
    gpu_map = {"P100": "V100", "G2": "A100-80GB", "G3": "A100-40GB", "V100M16": "V100", "V100M32": "V100"}
    folder = DATA / "alibaba-gpu-v2023"
    sc = {
        "name": "openb", "horizon": "36d", "warmup": "1d", "sample_every": "1h",
        "regions": {"us-east": {}},
        "node_types": {},
        "fleet": {"us-east": {"from_trace": {"format": "alibaba-gpu-2023-nodes", "gpu_map": gpu_map,
                                             "path": str(folder / "openb_node_list_gpu_node.csv")}}},
        "workloads": {"openb": {"kind": "jobs", "origin": {"us-east": 1.0}, "trace": {
            "format": "alibaba-gpu-2023", "path": str(folder / "openb_pod_list_default.csv"),
            "start": "115d", "gpu_map": gpu_map}}},
    }
    res = swarmsim.simulate(sc)
    s = res.summary
    assert res.scenario.node_types["a10080gbx8"].gpus == 8  # the G2 nodes, as mapped
    assert sum(res.scenario.fleet["us-east"].values()) == 1213
    assert s["jobs_arrived"] > 5000 and s["jobs_arrived"] == s["jobs_completed"] + s["jobs_unfinished"]
    assert 0 < s["gpu_utilization"] < 1 and np.isfinite(s["job_wait_p95_s"])


def test_fleet_from_a_node_list_at_the_top_of_fleet(tmp_path: Path) -> None:
    # The spelling, `fleet: {from_trace: ...}`: with one region it needs no `region:`.
    nodes = tmp_path / "nodes.csv"
    nodes.write_text("sn,cpu_milli,memory_mib,gpu,model\nn1,96000,786432,8,V100M32\nn2,96000,786432,8,V100M32\n"
                     "n3,32000,262144,2,T4\n")
    base = scenario(node_types={}, fleet={"from_trace": {"format": "alibaba-gpu-2023-nodes", "path": str(nodes),
                                                          "gpu_map": {"V100M32": "V100"}}})
    sc = swarmsim.load_scenario(base)
    assert sc.fleet == {"us-east": {"v100x8": 2, "t4x2": 1}}
    two = dict(base, regions={"us-east": {}, "eu-west": {}})
    with pytest.raises(swarmsim.ScenarioError, match=r"fleet\.from_trace\.region: required"):
        swarmsim.load_scenario(two)
    two["fleet"] = {"from_trace": {**base["fleet"]["from_trace"], "region": "eu-west"}}
    assert swarmsim.load_scenario(two).fleet == {"eu-west": {"v100x8": 2, "t4x2": 1}}
