"""The scenario package, pinned: its outward face (the JSON Schema of ``swarmsim schema`` byte for
byte, the names ``swarmsim.scenario`` exports, pickling: sweeps ship scenarios to workers) and
its shape (small modules that import only the leaves of swarmsim at load time).

``tests/data/scenario.schema.json`` was generated from the single-module ``swarmsim/scenario.py``
before it became a package (``python -m swarmsim.cli schema > tests/data/scenario.schema.json``);
regenerate it the same way only when the scenario format changes on purpose.
"""

from __future__ import annotations

import ast
import json
import pickle
from pathlib import Path

import pytest

import swarmsim.scenario
from swarmsim.cli import main
from swarmsim.scenario import load_scenario, scenario_json_schema

SNAPSHOT = Path(__file__).resolve().parent / "data" / "scenario.schema.json"
PACKAGE = Path(swarmsim.scenario.__file__).resolve().parent
MODULES = sorted(PACKAGE.glob("*.py"))

#: What the scenario package may import when it loads: the leaves. Trace formats, the policy
#: registry and serving profiles are imported only inside the function that needs them, so that
#: importing the scenario stays light and never pulls in the layers that read it.
#: ``swarmsim.levels`` (the service-level grammar, for ``report.figures``) imports only units, lazily.
LEAVES = {"swarmsim", "swarmsim.catalog", "swarmsim.distributions", "swarmsim.errors", "swarmsim.units",
          "swarmsim.levels"}

#: Every public name ``swarmsim.scenario`` defined as a single module; each stays importable.
PUBLIC = [
    "Name", "PositiveDuration", "NonNegativeDuration", "PositiveRate", "PROVIDERS", "Provider",
    "NonNegativeRate", "Shares", "DEFAULT_ACCESS_LATENCY_S", "DEFAULT_PROVISION_TIME", "Spec", "Location",
    "RegionSpec", "NetworkSpec", "NodeTypeSpec", "PoissonArrivals", "DeterministicArrivals", "DiurnalArrivals",
    "MmppArrivals", "RampArrivals", "ArrivalSpec", "TraceSpec", "JobsWorkloadSpec", "DEFAULT_LOAD_TIME",
    "ReplicaSpec", "SloSpec", "InferenceWorkloadSpec", "WorkloadSpec", "SchedulerSpec", "PolicySpec",
    "PoolLimitSpec", "LimitsSpec", "PUBLISHED_FAILURES", "REPAIR_SIGMA", "NodeFailureSpec", "SpotSpec",
    "ChurnSpec", "OutageSpec", "FailuresSpec", "Scenario", "scenario_json_schema", "load_scenario",
    "parse_overrides", "ScenarioError", "RecordSpec",
]


def test_schema_is_the_snapshot() -> None:
    assert json.dumps(scenario_json_schema(), indent=2) + "\n" == SNAPSHOT.read_text()


def test_cli_prints_the_snapshot(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    assert capsys.readouterr().out == SNAPSHOT.read_text()


@pytest.mark.parametrize("name", PUBLIC)
def test_public_name_is_importable(name: str) -> None:
    assert getattr(swarmsim.scenario, name) is not None


def test_a_loaded_scenario_pickles() -> None:
    quick = load_scenario(Path(swarmsim.__file__).parent / "scenarios" / "quickstart.yaml")
    again = pickle.loads(pickle.dumps(quick))
    assert again == quick and again.digest() == quick.digest()


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_modules_stay_small(path: Path) -> None:
    assert len(path.read_text().splitlines()) < 600


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_modules_import_only_leaves_at_load_time(path: Path) -> None:
    tree = ast.parse(path.read_text())
    top = {n.module for n in tree.body if isinstance(n, ast.ImportFrom) and n.module}
    top |= {a.name for n in tree.body if isinstance(n, ast.Import) for a in n.names}
    ours = {m for m in top if m.startswith("swarmsim") and not m.startswith("swarmsim.scenario")}
    assert ours <= LEAVES, f"{path.name} imports {ours - LEAVES} at load time"
