"""The ``swarmsim`` command (scenario-format.md §5): validate, run, the results folder, --json.

Runs use the built-in quickstart cut to 6 hours (``--set horizon=6h --set warmup=1h``) so
that each one takes well under a second of simulation.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from swarmsim.cli import builtin_scenario

SHORT = ("--set", "horizon=6h", "--set", "warmup=1h")
RUN_FILES = ("summary.json", "scenario.yaml", "jobs.csv", "timeseries.csv", "actions.csv")
DETERMINISTIC_FILES = ("summary.json", "jobs.csv", "timeseries.csv")

# Contract §6: the headline figures every summary carries.
HEADLINE = (
    "gpu_utilization", "cost_usd", "gpu_hours_provisioned", "gpu_hours_busy",
    "jobs_arrived", "jobs_completed", "jobs_unfinished", "jobs_rejected",
    "job_wait_mean_s", "job_wait_p50_s", "job_wait_p95_s", "job_wait_p99_s",
    "job_completion_mean_s", "requests_arrived", "requests_completed", "requests_dropped",
    "request_latency_p50_s", "request_latency_p95_s", "request_latency_p99_s",
    "slo_attainment", "residency_violations", "scale_actions", "sim_events", "wall_time_s",
)


def swarmsim(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "swarmsim.cli", *args],
                          capture_output=True, text=True, cwd=cwd, timeout=120)


def run(folder: Path, *args: str) -> dict[str, Any]:
    """``swarmsim run`` (the quickstart, shortened) into ``folder``; its summary.json."""
    proc = swarmsim("run", "--out", str(folder), "--no-plots", *SHORT, *args, cwd=folder.parent)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    return json.loads((folder / "summary.json").read_text())


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("cli") / "baseline"
    run(folder)
    return folder


# --- validate -----------------------------------------------------------------------------


def test_validate_the_quickstart_with_the_console_script(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "swarmsim"
    if not script.exists():
        pytest.skip("the swarmsim console script is not installed next to this Python")
    proc = subprocess.run([str(script), "validate", str(builtin_scenario())],
                          capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"{builtin_scenario()}: ok")
    assert proc.stderr == ""


def test_validate_a_mix_names_only_the_bad_file(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(builtin_scenario().read_text())
    bad = tmp_path / "bad.yaml"
    bad.write_text(builtin_scenario().read_text().replace("rate: 4/h", "rate: fast"))
    assert bad.read_text() != good.read_text()
    proc = swarmsim("validate", str(good), str(bad), cwd=tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert f"{good}: ok" in proc.stdout and str(bad) not in proc.stdout
    assert proc.stderr.splitlines() == [
        f"{bad}: workloads.eu-research.arrivals.rate: expected a rate such as 20/h, 50/s or 1200/d, "
        "got 'fast'"
    ]
    assert not (tmp_path / "results").exists()  # validating never writes results


# --- run ----------------------------------------------------------------------------------


def test_run_writes_the_results_folder(baseline: Path) -> None:
    names = {p.name for p in baseline.iterdir()}
    assert set(RUN_FILES) <= names
    assert not any(name.endswith((".partial", ".old")) for name in names)
    assert not [p for p in baseline.parent.iterdir() if p.name.endswith((".partial", ".old"))]
    assert not list(baseline.glob("*.png"))  # --no-plots
    doc = json.loads((baseline / "summary.json").read_text())
    prov = doc["provenance"]
    assert prov["scenario"] == "quickstart" and prov["seed"] == 1
    assert prov["horizon_s"] == 21600.0 and prov["warmup_s"] == 3600.0
    assert len(prov["scenario_sha256"]) == 64 and prov["swarmsim_version"]
    assert set(HEADLINE) - {"wall_time_s"} <= set(doc["summary"])
    resolved = yaml.safe_load((baseline / "scenario.yaml").read_text())
    assert resolved["horizon"] == 21600.0 and resolved["name"] == "quickstart"
    jobs = (baseline / "jobs.csv").read_text().splitlines()
    assert jobs[0].startswith("job_id,") and len(jobs) - 1 >= doc["summary"]["jobs_arrived"] > 0


def test_seed_changes_the_run(baseline: Path, tmp_path: Path) -> None:
    base = json.loads((baseline / "summary.json").read_text())
    other = run(tmp_path / "seed-5", "--seed", "5")
    assert other["provenance"]["seed"] == 5
    assert other["provenance"]["scenario_sha256"] != base["provenance"]["scenario_sha256"]
    assert (tmp_path / "seed-5" / "jobs.csv").read_bytes() != (baseline / "jobs.csv").read_bytes()


def test_set_changes_the_run(baseline: Path, tmp_path: Path) -> None:
    base = json.loads((baseline / "summary.json").read_text())["summary"]
    busier = run(tmp_path / "busier", "--set", "workloads.training.arrivals.mean_rate=60/h")
    assert busier["summary"]["jobs_arrived"] > base["jobs_arrived"]
    resolved = yaml.safe_load((tmp_path / "busier" / "scenario.yaml").read_text())
    assert resolved["workloads"]["training"]["arrivals"]["mean_rate"] == pytest.approx(60 / 3600)


def test_same_command_twice_gives_identical_files(baseline: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    run(again)
    for name in DETERMINISTIC_FILES:
        assert (again / name).read_bytes() == (baseline / name).read_bytes(), name


@pytest.fixture(scope="module")
def json_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    folder = tmp_path_factory.mktemp("json") / "j"
    proc = swarmsim("run", "--out", str(folder), "--no-plots", "--json", *SHORT, cwd=folder.parent)
    assert proc.returncode == 0, proc.stderr
    return proc, folder


def test_json_prints_the_headline_figures(json_run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    proc, folder = json_run
    summary, _ = json.JSONDecoder().raw_decode(proc.stdout)
    for key in HEADLINE:
        assert key in summary, key
    assert summary["jobs_arrived"] == summary["jobs_completed"] + summary["jobs_unfinished"] \
        + summary["jobs_rejected"]
    saved = json.loads((folder / "summary.json").read_text())["summary"]
    assert {k: v for k, v in summary.items() if k != "wall_time_s"} == saved


def test_json_stdout_is_only_json(json_run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    json.loads(json_run[0].stdout)


def test_default_folder_is_under_results_in_the_working_directory(tmp_path: Path) -> None:
    proc = swarmsim("run", "--no-plots", *SHORT, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    [folder] = (tmp_path / "results" / "quickstart").iterdir()
    assert folder.name.startswith("seed-1-")
    assert proc.stdout.rstrip().endswith(f"results: {Path('results') / 'quickstart' / folder.name}")


def test_run_never_replaces_a_file_that_is_not_a_run_folder(tmp_path: Path) -> None:
    precious = tmp_path / "notes.txt"
    precious.write_text("keep me\n")
    proc = swarmsim("run", "--out", str(precious), "--no-plots", *SHORT, cwd=tmp_path)
    assert precious.is_file() and precious.read_text() == "keep me\n"
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
