"""A run's memory and time, estimated before it starts (issue #20 item 1): ``validate`` prints
the estimate, ``run``, ``simulate`` and ``sweep`` refuse a run that cannot fit in memory, and
the scenario refuses sizes above a physical bound."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
import yaml

import swarmsim
from swarmsim.cli import builtin_scenario, main
from swarmsim.errors import ScenarioError
from swarmsim.estimate import BUDGET_VARIABLE, check, estimate, machine_memory
from swarmsim.experiments.sweep import plan_runs
from swarmsim.scenario import load_scenario

QUICK = builtin_scenario()


def bad(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """The command line exits 2, without a traceback, with one line on stderr: that line."""
    assert main(list(argv)) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    [line] = err.splitlines()
    return line


def test_validate_prints_the_estimate(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(QUICK)]) == 0
    out = capsys.readouterr()
    assert re.fullmatch(rf"{re.escape(str(QUICK))}: ok \(quickstart: 3 regions, 2 workloads; "
                        r"~\d+ jobs, ~\d+ MB, ~\d+ s\)\n", out.out)
    assert out.err == ""


def test_validate_warns_about_a_long_run(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(BUDGET_VARIABLE, "1TB")  # the warning, not the refusal, on any machine
    doc = yaml.safe_load(QUICK.read_text())
    doc["workloads"]["training"]["arrivals"]["mean_rate"] = "100/s"  # ~17 M jobs in 2 days
    path = tmp_path / "busy.yaml"
    path.write_text(yaml.safe_dump(doc))
    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr()
    assert "~17 M jobs" in out.out
    [line] = out.err.splitlines()
    assert line.startswith(f"warning: {path}: this run may take ~") and "min" in line


def test_run_refuses_a_fleet_beyond_any_cloud(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = tmp_path / "run"
    line = bad(capsys, "run", "--out", str(out), "--set", "fleet.us-east.a100x8=100000000000")
    assert line.startswith(f"{QUICK}: fleet.us-east.a100x8: 100,000,000,000 nodes is more than 10,000,000")
    assert not out.exists()


def test_run_refuses_a_horizon_of_centuries(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    line = bad(capsys, "run", "--out", str(tmp_path / "run"), "--set", "horizon=1e300s")
    assert line.startswith(f"{QUICK}: horizon: 1e+300 s is more than 100 years")


def test_run_refuses_what_the_machine_cannot_hold(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = tmp_path / "run"  # 30,000 days sampled every second: ~7.8 G time-series rows, ~1.4 TB
    line = bad(capsys, "run", "--out", str(out), "--set", "horizon=30000d", "--set", "sample_every=1s")
    assert line.startswith(f"{QUICK}: sample_every: this run would need ~")
    assert "more than the machine's memory" in line and line.endswith("use a coarser sample_every or a shorter horizon")
    assert not out.exists() and not (tmp_path / "results").exists()


@pytest.mark.parametrize(("sets", "where", "advice"), [
    (["fleet.us-east.a100x8=2000000"], "fleet.us-east.a100x8", "use fewer nodes"),
    (["workloads.training.arrivals.mean_rate=100/s"], "workloads.training.arrivals",
     "use a lower arrival rate or a shorter horizon"),
])
def test_the_budget_is_overridable_and_the_message_names_the_cause(
        sets: list[str], where: str, advice: str, capsys: pytest.CaptureFixture[str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(BUDGET_VARIABLE, "500MB")
    argv = ["run", "--out", str(tmp_path / "run")] + [a for s in sets for a in ("--set", s)]
    line = bad(capsys, *argv)
    assert line.startswith(f"{QUICK}: {where}: this run would need ~")
    assert f"more than {BUDGET_VARIABLE}=500MB (500 MB)" in line and line.endswith(advice)


def test_simulate_and_sweep_refuse_the_same_run() -> None:
    huge = {"horizon": "30000d", "sample_every": "1s"}
    with pytest.raises(ScenarioError) as info:
        swarmsim.simulate(QUICK, overrides=huge)
    assert [w for w, _ in info.value.problems] == ["sample_every"]
    with pytest.raises(ScenarioError) as info:
        plan_runs(QUICK, {"sample_every": ["10m", "1s"], "horizon": ["30000d"]}, [1])
    [(where, message)] = info.value.problems
    assert where == "sample_every" and "(grid point 1: sample_every=1s, horizon=30000d)" in message


def test_an_explicit_budget_argument() -> None:
    sc = load_scenario(QUICK)
    assert check(sc, budget="1TB").memory_bytes < 1e9
    with pytest.raises(ScenarioError):
        check(sc, budget="10MB")


def test_the_counts_follow_the_arrival_processes() -> None:
    sc = load_scenario(QUICK, {"horizon": "10h", "warmup": "0", "sample_every": "1m",
                               "workloads.training.arrivals": "{process: ramp, start_rate: 0, end_rate: 20/h, "
                                                              "over: 4h, start: 2h}",
                               "workloads.eu-research.arrivals": "{process: deterministic, rate: 1/h, count: 3}"})
    est = estimate(sc)
    # ramp: 2 h at 0, 4 h averaging 10/h, 4 h at 20/h = 120; deterministic: capped at 3
    assert est.jobs == pytest.approx(123)
    assert est.rows == pytest.approx(600 * 3)  # 10 h / 1 min x 3 regions
    assert est.nodes == 24


def test_machine_memory_is_known_here() -> None:
    ram = machine_memory()
    assert ram is not None and math.isfinite(ram) and ram > 1e8


@pytest.mark.parametrize("mode", ["stream", "aggregate"])
def test_bounded_record_modes_hold_one_chunk_of_jobs(mode: str) -> None:
    # 1,000 jobs/h for 10,000 h = 10 M jobs: full holds every row; stream and aggregate hold at
    # most one chunk of ended jobs (here 100,000) plus the sampled rows (10 M / 1,000 = 10,000)
    over = {"horizon": "10000h", "warmup": "0", "sample_every": "1d",
            "workloads.training.arrivals": "{process: poisson, rate: 1000/h}",
            "workloads.eu-research.arrivals": "{process: deterministic, rate: 1/h, count: 1}"}
    full = estimate(load_scenario(QUICK, over))
    bounded = estimate(load_scenario(QUICK, {**over, "record": f"{{mode: {mode}, chunk_jobs: 100000}}"}))
    assert full.jobs == bounded.jobs == pytest.approx(10_000_001)
    assert full.parts["jobs"][0] == pytest.approx(10_000_001 * 480.0)
    assert bounded.parts["jobs"][0] == pytest.approx((100_000 + 10_000_001 / 1000) * 480.0)
