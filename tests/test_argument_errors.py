"""Bad arguments of the Python API are named by their parameter, never by a CLI flag; the CLI
shows the same problems in its own words (``max_runs`` -> ``--max-runs``, ``vary=fleet`` ->
``--vary fleet``)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest

import swarmsim
from swarmsim.cli import in_flags
from swarmsim.errors import ArgumentError, ScenarioError
from swarmsim.traces.inspect import inspect_trace

ROOT = Path(__file__).resolve().parents[1]
MMC = ROOT / "scenarios" / "plan-mmc.yaml"
SLO = {"job_wait_mean_s": 3}

CASES: list[tuple[str, Any, str]] = [
    ("max_runs", lambda: swarmsim.plan(MMC, SLO, max_runs=0), "expected a number of simulations >= 1"),
    ("regions", lambda: swarmsim.plan(MMC, SLO, vary="demand", regions=["us-east"]), "only for vary=fleet"),
    ("address", lambda: swarmsim.plan(MMC, SLO, address="auto"), "is for backend=ray"),
    ("slo", lambda: swarmsim.plan(MMC, {"latency_p99": 2}), "unknown metric 'latency_p99'"),
    ("jobs", lambda: swarmsim.sweep(MMC, None, 2, jobs=0), "expected a number of workers >= 1"),
    ("backend", lambda: swarmsim.sweep(MMC, None, 2, backend="slurm"), "unknown backend 'slurm'"),
    ("fmt", lambda: inspect_trace(MMC, "azure-lm"), "did you mean 'azure-llm'"),
    ("overrides", lambda: swarmsim.load_scenario(MMC, swarmsim.scenario.parse_overrides(["=3"])),
     "expected path=value"),
]


@pytest.mark.parametrize(("param", "call", "says"), CASES, ids=[c[0] for c in CASES])
def test_a_bad_argument_names_the_parameter_not_a_flag(param: str, call: Any, says: str) -> None:
    with pytest.raises(ArgumentError) as caught:
        call()
    (path, message), = caught.value.problems
    assert path == param and says in message
    assert "--" not in caught.value.format()


def test_the_cli_names_its_flags_for_the_same_problems() -> None:
    args = argparse.Namespace(vary="demand", regions="us-east", max_runs=0, backend="local", resume=False)
    err = ArgumentError("plan.yaml", [("regions", "only for vary=fleet; vary=demand keeps the fleet"),
                                      ("max_runs", "expected >= 1 (see resume=True and path=value)")])
    assert in_flags(err, args).format().splitlines() == [
        "plan.yaml: --regions: only for --vary fleet; --vary demand keeps the fleet",
        "plan.yaml: --max-runs: expected >= 1 (see --resume and path=value)",
    ]
    scenario_error = ScenarioError("plan.yaml", [("regions", "expected at least one region")])
    assert in_flags(scenario_error, args) is scenario_error  # a scenario's own field is not a flag
