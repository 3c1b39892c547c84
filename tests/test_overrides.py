"""``--set`` and grid overrides (issue #20, items 3 and 4): a typo in a name or an index is an
error with a did-you-mean, never a new half-empty structure; a grid or ``--set`` that changes a
policy's strategy drops the parameters that only came from the old strategy's defaults."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import yaml

from swarmsim.cli import builtin_scenario, main
from swarmsim.errors import ScenarioError
from swarmsim.experiments.sweep import plan_runs
from swarmsim.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]
STEP = ROOT / "scenarios" / "horizontal-step-demand.yaml"


def bad(capsys: pytest.CaptureFixture[str], *argv: str) -> list[str]:
    """Run the command line; assert exit 2 without a traceback; the lines of stderr."""
    assert main(list(argv)) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err.splitlines()


# --- item 4: names and indexes --------------------------------------------------------------


def test_a_misspelt_workload_is_named_with_a_suggestion(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = tmp_path / "run"
    [line] = bad(capsys, "run", "--out", str(out), "--set", "workloads.trainng.arrivals.rate=40/h")
    assert line == (f"{builtin_scenario()}: workloads.trainng: no workload 'trainng' (did you mean 'training'?); "
                    "workloads: training, eu-research (to add one, set the whole entry: "
                    "--set 'workloads.trainng={...}')")
    assert not out.exists()


def test_an_index_past_the_end_of_the_policies(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    [line] = bad(capsys, "run", str(STEP), "--out", str(tmp_path / "run"), "--set", "policies.5.kind=static")
    assert line == f"{STEP}: policies.5: policies has 1 entry; index 5 is out of range (0 to 0)"


def test_an_index_into_policies_the_file_does_not_have(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    [line] = bad(capsys, "run", "--out", str(tmp_path / "run"), "--set", "policies.0.kind=static")
    assert "policies.0: the scenario has no policies; index 0 is out of range" in line


@pytest.mark.parametrize(("path", "where", "phrase"), [
    ("fleet.us-est.a100x8", "fleet.us-est", "no region 'us-est' (did you mean 'us-east'?)"),
    ("fleet.us-east.a100x9", "fleet.us-east.a100x9", "no node type 'a100x9' (did you mean 'a100x8'?)"),
    ("regions.eu-wst.max_nodes", "regions.eu-wst", "no region 'eu-wst' (did you mean 'eu-west'?)"),
    ("node_types.h100x9.gpus", "node_types.h100x9", "no node type 'h100x9' (did you mean 'h100x8'?)"),
    ("limits.pools.us-eats.a100x8.max", "limits.pools.us-eats", "no region 'us-eats'"),
    ("workloads.training.origin.eu-wets", "workloads.training.origin.eu-wets", "no region 'eu-wets'"),
])
def test_names_that_nothing_defines(path: str, where: str, phrase: str) -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario(builtin_scenario(), {path: "3"})
    [(got, message)] = info.value.problems
    assert got == where and phrase in message


def test_new_optional_keys_and_entries_still_work() -> None:
    sc = load_scenario(builtin_scenario(), {
        "limits.budget_usd_per_hour": "10",              # an optional field the file does not have
        "fleet.eu-west.h100x8": "2",                     # a defined node type, new in this region
        "limits.pools.us-east.a100x8.max": "20",         # a new pool bound
        "workloads.extra": "{kind: jobs, arrivals: {process: poisson, rate: 1/h}, origin: {us-east: 1.0}, "
                           "duration: 1h}",              # a whole new workload
    })
    assert sc.limits.budget_usd_per_hour == 10
    assert sc.fleet["eu-west"]["h100x8"] == 2
    assert sc.limits.pools["us-east"]["a100x8"].max == 20
    assert "extra" in sc.workloads


# --- item 3: a sweep over the strategy ------------------------------------------------------


def test_the_issue_repro_reports_the_one_written_parameter(capsys: pytest.CaptureFixture[str],
                                                           tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    lines = bad(capsys, "sweep", str(STEP), "--grid", "policies.0.strategy=target-tracking,queue", "--seeds", "3",
                "--out", str(out))
    [line] = lines  # was: ten errors about defaults of target-tracking the file never wrote
    assert line.startswith(f"{STEP}: policies.0.target_utilization: unknown parameter 'target_utilization' "
                           "of horizontal queue")
    assert "(grid point 1: policies.0.strategy=queue)" in line
    assert not out.exists()


def step_without_target(tmp_path: Path) -> Path:
    doc = yaml.safe_load(STEP.read_text())
    del doc["policies"][0]["target_utilization"]
    path = tmp_path / "step.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_a_grid_over_the_strategy_keeps_only_written_parameters(tmp_path: Path) -> None:
    specs = plan_runs(step_without_target(tmp_path), {"policies.0.strategy": ["target-tracking", "queue"]}, [1])
    tracking, queue = (s.scenario["policies"][0] for s in specs)
    assert tracking["strategy"] == "target-tracking" and "target_utilization" in tracking["params"]
    assert queue["strategy"] == "queue"
    assert "target_utilization" not in queue["params"] and "tolerance" not in queue["params"]
    assert queue["params"]["min_nodes"] == 10 and queue["params"]["max_nodes"] == 40  # written: kept


def test_a_parameter_set_beside_the_strategy_counts_as_written(tmp_path: Path) -> None:
    base = load_scenario(step_without_target(tmp_path))
    sc = load_scenario(base, {"policies.0.strategy": "queue", "policies.0.params.scale_down_unneeded_time": "5m"})
    assert sc.policies[0].params["scale_down_unneeded_time"] == 300
    with pytest.raises(ScenarioError) as info:
        load_scenario(base, {"policies.0.strategy": "queue", "policies.0.tolerance": "0.2"})
    [(where, message)] = info.value.problems
    assert where == "policies.0.tolerance" and "unknown parameter 'tolerance'" in message


def test_without_a_record_of_the_file_defaults_are_told_apart_by_value(tmp_path: Path) -> None:
    base = pickle.loads(pickle.dumps(load_scenario(step_without_target(tmp_path))))  # the record stays behind
    sc = load_scenario(base, {"policies.0.strategy": "queue"})
    assert sc.policies[0].params["min_nodes"] == 10 and sc.policies[0].params["max_nodes"] == 40
