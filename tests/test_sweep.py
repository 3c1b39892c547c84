"""Sweeps: planning, backends, common random numbers, resume, statistics and the CLI, on real
processes with short horizons."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from builders import poisson_jobs, scenario
from scipy import stats as sps
from test_theory import erlang_c, mmc_scenario

import swarmsim
from swarmsim.cli import main
from swarmsim.experiments import compare, plan_runs, summarize
from swarmsim.experiments.sweep import RunSpec, run_one

TESTS = Path(__file__).resolve().parent
SWARMSIM = Path(sys.executable).parent / "swarmsim"


def small(horizon: str = "40h", **extra: object) -> dict:
    """Two one-GPU nodes, Poisson jobs: a run takes a few milliseconds."""
    return scenario(horizon=horizon, fleet={"us-east": {"a1": 2}},
                    workloads={"w": poisson_jobs("1/h", {"dist": "exponential", "mean": "1h"})}, **extra)


GRID = {"scheduler.placement": ["best-fit", "spread"], "workloads.w.arrivals.rate": ["1/h", "1.4/h"]}


def without_wall(table: pd.DataFrame) -> pd.DataFrame:
    return table.drop(columns="wall_time_s")


def test_table_shape_params_and_order() -> None:
    table = swarmsim.sweep(small(), GRID, seeds=3, jobs=1)
    assert len(table) == 4 * 3
    assert list(table.columns[:6]) == ["point", "seed", *GRID, "status", "error"]
    assert table.columns[-1] == "wall_time_s"
    assert list(zip(table["point"], table["seed"], strict=True)) == [(p, s) for p in range(4) for s in range(3)]
    # the first key varies slowest
    assert list(table["scheduler.placement"][::3]) == ["best-fit", "best-fit", "spread", "spread"]
    assert list(table["workloads.w.arrivals.rate"][::3]) == ["1/h", "1.4/h", "1/h", "1.4/h"]
    assert (table["status"] == "ok").all() and {"cost_usd", "job_wait_p95_s"} <= set(table.columns)


def test_plan_applies_the_point_and_the_seed() -> None:
    specs = plan_runs(small(seed=99), GRID, [5, 7])
    assert [(s.point, s.seed) for s in specs] == [(p, s) for p in range(4) for s in (5, 7)]
    last = specs[-1]
    assert last.scenario["seed"] == 7 and last.scenario["scheduler"]["placement"] == "spread"
    assert last.scenario["workloads"]["w"]["arrivals"]["rate"] == pytest.approx(1.4 / 3600)
    assert last.params == {"scheduler.placement": "spread", "workloads.w.arrivals.rate": "1.4/h"}
    assert swarmsim.load_scenario(last.scenario).seed == 7


def test_every_point_is_validated_before_anything_runs(tmp_path: Path) -> None:
    grid = {"scheduler.placement": ["best-fit", "spread", "worst-fit"]}
    calls: list[tuple[int, int, int]] = []
    with pytest.raises(swarmsim.ScenarioError) as err:
        swarmsim.sweep(small(), grid, seeds=2, jobs=1, out=tmp_path / "sw", progress=lambda *a: calls.append(a))
    assert "grid point 2" in str(err.value) and "worst-fit" in str(err.value)
    assert "scheduler.placement" in str(err.value)
    assert not calls and not (tmp_path / "sw").exists()


def test_bad_seeds_and_backend_are_refused() -> None:
    with pytest.raises(swarmsim.ScenarioError, match="seeds"):
        swarmsim.sweep(small(), None, seeds=[1, -2])
    with pytest.raises(swarmsim.ScenarioError, match="backend"):
        swarmsim.sweep(small(), None, seeds=1, backend="cloud")
    with pytest.raises(swarmsim.ScenarioError, match="seed is not a grid path"):
        swarmsim.sweep(small(), {"seed": [1, 2]}, seeds=1)


def test_in_process_and_process_pool_give_the_same_table() -> None:
    one = swarmsim.sweep(small(), GRID, seeds=3, jobs=1)
    two = swarmsim.sweep(small(), GRID, seeds=3, jobs=2)
    pd.testing.assert_frame_equal(without_wall(one), without_wall(two))


def test_common_random_numbers_identical_figures_for_equivalent_points() -> None:
    # One job at a time on an uncrowded fleet: best-fit and spread place every job alike, so each
    # seed gives the same figures at both points; different seeds differ.
    sc = scenario(horizon="60h", fleet={"us-east": {"a1": 6}},
                  workloads={"w": poisson_jobs("0.5/h", {"dist": "exponential", "mean": "1h"})})
    table = swarmsim.sweep(sc, {"scheduler.placement": ["best-fit", "spread"]}, seeds=4, jobs=1)
    figures = ["jobs_arrived", "gpu_hours_busy", "job_completion_mean_s", "cost_usd", "sim_events"]
    a = table[table["point"] == 0][figures].reset_index(drop=True)
    b = table[table["point"] == 1][figures].reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)
    assert a["jobs_arrived"].nunique() > 1
    verdict = compare(table, 0, 1, ["gpu_hours_busy"])["verdict"].iloc[0]
    assert verdict == "same on all 4 seeds"


FAILING = {"policies.0.params.fail_at_s": [None, 7200.0]}


def failing_scenario() -> dict:
    return small(policies=[{"kind": "custom", "class": "user_policies:FailAt", "params": {"fail_at_s": None}}])


def test_a_failing_run_is_recorded_and_the_sweep_goes_on(tmp_path: Path) -> None:
    table = swarmsim.sweep(failing_scenario(), FAILING, seeds=2, jobs=2, out=tmp_path / "sw")
    assert list(table["status"]) == ["ok", "ok", "failed", "failed"]
    assert table["error"].iloc[2].startswith("RuntimeError: FailAt: failing on purpose at 7200 s")
    assert table["error"].iloc[0] == "" and math.isnan(table["cost_usd"].iloc[2])
    err = json.loads((tmp_path / "sw/runs/p001-s0/error.json").read_text())
    assert "failing on purpose" in err["error"] and err["params"] == {"policies.0.params.fail_at_s": 7200.0}
    assert (tmp_path / "sw/results.csv").is_file()
    # run_one on its own never raises either
    spec = plan_runs(failing_scenario(), FAILING, [3])[1]
    assert run_one(spec, None, False)["status"] == "failed"
    # summarize leaves failed runs out
    assert summarize(table, ["cost_usd"])["n"].tolist() == [2, 0]


def stamps(folder: Path) -> dict[str, int]:
    return {p.parent.name: p.stat().st_mtime_ns for p in (folder / "runs").glob("*/summary.json")}


def test_resume_runs_only_missing_and_failed_runs(tmp_path: Path) -> None:
    out = tmp_path / "sw"
    sc = failing_scenario()
    grid = {**FAILING, "scheduler.placement": ["best-fit", "spread"]}
    first = swarmsim.sweep(sc, grid, seeds=3, jobs=2, out=out, save_runs=True)
    assert (first["status"] == "failed").sum() == 6
    assert (out / "runs/p000-s0/jobs.csv").is_file()  # save_runs: the full run folder
    # interrupt by hand: two finished runs lost (the failed runs are retried and fail again)
    for name in ("p000-s1", "p001-s2"):
        for f in (out / "runs" / name).iterdir():
            f.unlink()
        (out / "runs" / name).rmdir()
    (out / "results.csv").unlink()
    before = stamps(out)
    seen: list[tuple[int, int, int]] = []
    resumed = swarmsim.sweep(sc, grid, seeds=3, jobs=2, out=out, resume=True, save_runs=True,
                             progress=lambda *a: seen.append(a))
    after = stamps(out)
    assert {k: after[k] for k in before} == before  # finished runs were not rerun
    assert set(after) - set(before) == {"p000-s1", "p001-s2"}
    assert seen[0] == (4, 0, 12) and seen[-1] == (12, 6, 12)  # 4 kept; 2 missing + 6 failed retried
    pd.testing.assert_frame_equal(without_wall(resumed), without_wall(first))
    on_disk = pd.read_csv(out / "results.csv")
    assert len(on_disk) == 12 and on_disk["cost_usd"].iloc[0] == pytest.approx(first["cost_usd"].iloc[0], rel=0)


def test_resume_refuses_a_different_sweep(tmp_path: Path) -> None:
    out = tmp_path / "sw"
    swarmsim.sweep(small(), GRID, seeds=2, jobs=1, out=out)
    with pytest.raises(swarmsim.ScenarioError, match="already holds a sweep"):
        swarmsim.sweep(small(), GRID, seeds=2, jobs=1, out=out)
    with pytest.raises(swarmsim.ScenarioError, match="the seeds differ"):
        swarmsim.sweep(small(), GRID, seeds=3, jobs=1, out=out, resume=True)
    with pytest.raises(swarmsim.ScenarioError, match="the grid differ"):
        swarmsim.sweep(small(), {"scheduler.placement": ["best-fit"]}, seeds=2, jobs=1, out=out, resume=True)
    with pytest.raises(swarmsim.ScenarioError, match="the scenario differ"):
        swarmsim.sweep(small(horizon="41h"), GRID, seeds=2, jobs=1, out=out, resume=True)
    # the scenario's own seed is replaced by every run's: not a difference
    swarmsim.sweep(small(seed=5), GRID, seeds=2, jobs=1, out=out, resume=True)


def test_a_killed_sweep_resumes_to_the_same_table(tmp_path: Path) -> None:
    path = tmp_path / "sc.yaml"
    path.write_text(yaml.safe_dump(small(horizon="400h")))
    grid = {"scheduler.placement": ["best-fit", "spread"]}
    out = tmp_path / "sw"
    specs = plan_runs(path, grid, 15)
    proc = subprocess.Popen([str(SWARMSIM), "sweep", str(path), "--grid", "scheduler.placement=best-fit,spread",
                             "--seeds", "15", "--jobs", "1", "--out", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while sum((out / "runs" / s.folder / "summary.json").is_file() for s in specs) < 3:
        assert time.monotonic() < deadline and proc.poll() is None, "the sweep ended before it could be killed"
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished = sum((out / "runs" / s.folder / "summary.json").is_file() for s in specs)
    assert 3 <= finished < len(specs) and not (out / "results.csv").exists()
    resumed = swarmsim.sweep(path, grid, seeds=15, jobs=2, out=out, resume=True)
    fresh = swarmsim.sweep(path, grid, seeds=15, jobs=2)
    pd.testing.assert_frame_equal(without_wall(resumed), without_wall(fresh))
    assert not [p for p in (out / "runs").iterdir() if p.name.startswith(".")]  # no partial folders left


@pytest.mark.slow
def test_confidence_intervals_cover_erlang_c() -> None:
    # M/M/2 at rho = 0.7, 2000 h runs after a 100 h warm-up (start-up bias well under the standard
    # error); 40 independent sweeps of 10 seeds: the 95 % interval of the mean wait holds the
    # Erlang C value in at least 34 of them (P(fewer) < 1 % at true coverage 0.95).
    c, rho = 2, 0.7
    theory_s = erlang_c(c, rho * c) / (c - rho * c) * 3600.0
    covered = 0
    for k in range(40):
        table = swarmsim.sweep(mmc_scenario(c, rho, 0, horizon_h=2000, warmup_h=100), None,
                               seeds=range(10 * k, 10 * k + 10), jobs=2)
        row = summarize(table, ["job_wait_mean_s"]).iloc[0]
        assert row["n"] == 10
        covered += row["ci_low"] <= theory_s <= row["ci_high"]
    assert covered >= 34, covered
    assert sps.binom.cdf(33, 40, 0.95) < 0.01


def hand_table() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    rows = []
    for point, shift in ((0, 0.0), (1, 0.5), (2, 0.01)):
        for seed in range(8):
            base = 10 + seed  # a per-seed level shared by every point (as CRN gives)
            rows.append({"point": point, "seed": seed, "knob": ["a", "b", "c"][point], "status": "ok", "error": "",
                         "wait_s": base + shift + rng.normal(0, 0.1), "cost_usd": 100.0 + seed,
                         "wall_time_s": 0.1})
    rows[3]["status"] = "failed"  # point 0, seed 3
    return pd.DataFrame(rows)


def test_summarize_matches_scipy() -> None:
    table = hand_table()
    s = summarize(table, ["wait_s", "cost_usd"], confidence=0.9)
    assert list(s.columns) == ["point", "knob", "metric", "n", "mean", "std", "ci_low", "ci_high", "ci_method"]
    row = s[(s["point"] == 0) & (s["metric"] == "wait_s")].iloc[0]
    x = table[(table["point"] == 0) & (table["status"] == "ok")]["wait_s"].to_numpy()
    assert row["n"] == 7 and row["knob"] == "a"
    assert row["mean"] == pytest.approx(x.mean()) and row["std"] == pytest.approx(x.std(ddof=1))
    # A duration is non-negative: the t interval on log(mean), se(log mean) = se / mean (log-t).
    t = sps.t.ppf(0.95, len(x) - 1)
    spread = np.exp(t * sps.sem(x) / x.mean())
    assert row["ci_method"] == "log-t"
    assert (row["ci_low"], row["ci_high"]) == (pytest.approx(x.mean() / spread), pytest.approx(x.mean() * spread))
    # A figure of unknown sign keeps the Student-t interval of scipy.
    signed = summarize(table.rename(columns={"wait_s": "level"}), ["level"], confidence=0.9).iloc[0]
    low, high = sps.t.interval(0.9, len(x) - 1, loc=x.mean(), scale=sps.sem(x))
    assert signed["ci_method"] == "t"
    assert (signed["ci_low"], signed["ci_high"]) == (pytest.approx(low), pytest.approx(high))
    assert set(summarize(table)["metric"]) == {"wait_s", "cost_usd"}  # default: every numeric figure


def test_compare_matches_scipy_and_gives_verdicts() -> None:
    table = hand_table()
    r = compare(table, 0, {"knob": "b"}, ["wait_s"]).iloc[0]
    ok = table[table["status"] == "ok"]
    seeds = sorted(set(ok[ok["point"] == 0]["seed"]) & set(ok[ok["point"] == 1]["seed"]))
    a = ok[ok["point"] == 0].set_index("seed").loc[seeds, "wait_s"].to_numpy()
    b = ok[ok["point"] == 1].set_index("seed").loc[seeds, "wait_s"].to_numpy()
    d = b - a
    assert r["n"] == 7 and r["a"] == 0 and r["b"] == 1
    assert r["mean_diff"] == pytest.approx(d.mean())
    assert r["p_value"] == pytest.approx(sps.ttest_rel(b, a).pvalue)
    low, high = sps.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=sps.sem(d))
    assert (r["ci_low"], r["ci_high"]) == (pytest.approx(low), pytest.approx(high))
    assert r["verdict"] == "b higher"
    assert compare(table, 1, 0, "wait_s")["verdict"].iloc[0] == "b lower"
    # two seeds of noisy data: cannot tell
    two = table[table["seed"].isin([6, 7])]
    assert compare(two, 0, 2, ["wait_s"])["verdict"].iloc[0] == "cannot tell with 2 seeds"
    with pytest.raises(swarmsim.ScenarioError, match="no point 9"):
        compare(table, 0, 9, ["wait_s"])
    with pytest.raises(swarmsim.ScenarioError, match="no column"):
        compare(table, 0, 1, ["nope"])


def test_runspec_is_plain_picklable_data() -> None:
    import pickle

    spec = plan_runs(small(), GRID, [0])[0]
    assert isinstance(spec, RunSpec) and pickle.loads(pickle.dumps(spec)) == spec


def test_cli_sweep_and_compare_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "sc.yaml"
    path.write_text(yaml.safe_dump(small()))
    out = tmp_path / "sw"
    code = main(["sweep", str(path), "--grid", "scheduler.placement=best-fit,spread",
                 "--grid", "workloads.w.arrivals.rate=1/h,1.4/h", "--seeds", "3", "--jobs", "2", "--out", str(out)])
    text = capsys.readouterr().out
    assert code == 0 and (out / "results.csv").is_file() and (out / "sweep.json").is_file()
    assert "job_wait_p95_s" in text and "gpu_utilization" in text and "request_latency_p95_s" not in text
    table = pd.read_csv(out / "results.csv")
    assert len(table) == 12 and table["workloads.w.arrivals.rate"].tolist()[::3] == ["1/h", "1.4/h"] * 2
    assert main(["compare", str(out), "--metric", "job_wait_mean_s", "--metric", "cost_usd"]) == 0
    text = capsys.readouterr().out
    assert "point 3 - point 0" in text and "job_wait_mean_s" in text
    assert main(["compare", str(out), "--metric", "cost_usd", "--a", "1", "--b", "2"]) == 0
    assert "point 2 - point 1" in capsys.readouterr().out


def test_cli_grid_values_are_yaml() -> None:
    from swarmsim.cli import parse_grid

    assert parse_grid(["a.b=0.5,0.7", "c=target-tracking,queue", "d=[1,2],{x: 1}"]) == {
        "a.b": [0.5, 0.7], "c": ["target-tracking", "queue"], "d": [[1, 2], {"x": 1}]}


@pytest.mark.parametrize("grid", ["scheduler.placement", "=a,b", "scheduler.placement=", "x=a,,b"])
def test_cli_bad_grid_exits_2_with_one_line(tmp_path: Path, grid: str) -> None:
    path = tmp_path / "sc.yaml"
    path.write_text(yaml.safe_dump(small()))
    proc = subprocess.run([str(SWARMSIM), "sweep", str(path), "--grid", grid, "--seeds", "2",
                           "--out", str(tmp_path / "sw")], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(TESTS)})
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "--grid" in proc.stderr
    assert not (tmp_path / "sw").exists()


def test_cli_compare_without_results_exits_2(tmp_path: Path) -> None:
    assert main(["compare", str(tmp_path), "--metric", "cost_usd"]) == 2


def test_a_grid_value_of_none_can_be_named_in_compare() -> None:
    """Switching a field off (``checkpoint_every: None``) is a grid value like any other: the
    table holds it as NaN, and ``compare`` finds its point by ``None``."""
    sc = scenario(horizon="12h", workloads={"w": poisson_jobs("2/h", "1h", checkpoint_every="20m")},
                  failures={"nodes": {"a1": {"mtbf": "3h", "repair": "10m"}}})
    table = swarmsim.sweep(sc, {"workloads.w.checkpoint_every": [None, "20m"]}, range(3), jobs=1)
    assert table["workloads.w.checkpoint_every"].isna().sum() == 3
    r = compare(table, {"workloads.w.checkpoint_every": None}, {"workloads.w.checkpoint_every": "20m"},
                ["gpu_hours_lost"]).iloc[0]
    assert (r["a"], r["b"]) == (0, 1)
