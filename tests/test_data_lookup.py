"""Where trace data is found (issue #20 item 2): ``${SWARMSIM_DATA}`` by the lookup order of
:mod:`swarmsim.datadirs`, and clear messages when it is not set."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from swarmsim import datadirs
from swarmsim.errors import ScenarioError
from swarmsim.scenario import load_scenario
from swarmsim.traces.fetch import DATASETS

ROOT = Path(__file__).resolve().parents[1]


def without_data_variable() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "SWARMSIM_DATA"}


def swarmsim(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = without_data_variable() | {"PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "swarmsim.cli", *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=300)


def test_every_scenario_validates_beside_shared_data_without_the_variable(tmp_path: Path) -> None:
    beside = datadirs.checkout_data()
    if beside is None or not (beside / "alibaba-gpu-v2023").is_dir():
        pytest.skip("no ../shared/data beside this checkout")
    files = sorted(str(p) for p in (ROOT / "scenarios").glob("*.yaml"))
    proc = swarmsim("validate", *files, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "trace-alibaba-2023.yaml: ok" in proc.stdout


def test_an_unset_variable_says_where_it_looked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SWARMSIM_DATA", raising=False)
    doc = {"name": "t", "horizon": "1h", "regions": {"us-east": {}},
           "node_types": {"a": {"gpu": "A100-80GB", "gpus": 8}}, "fleet": {"us-east": {"a": 1}},
           "workloads": {"w": {"kind": "jobs", "origin": {"us-east": 1.0},
                               "trace": {"format": "alibaba-gpu-2023", "path": "${SWARMSIM_DATA}/no-such-set/x.csv"}}}}
    with pytest.raises(ScenarioError) as info:
        load_scenario(doc)
    [(where, message)] = info.value.problems
    assert where == "workloads.w.trace.path"
    assert message.startswith("SWARMSIM_DATA is not set; looked for no-such-set/x.csv in ")
    assert str(datadirs.fetch_cache() / "no-such-set" / "x.csv") in message
    assert message.endswith("Set SWARMSIM_DATA to the folder holding no-such-set/, or run "
                            "`swarmsim data fetch no-such-set`")


def test_a_set_variable_is_used_as_it_is(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SWARMSIM_DATA", str(tmp_path))
    assert datadirs.candidates() == [("$SWARMSIM_DATA", tmp_path)]
    monkeypatch.delenv("SWARMSIM_DATA")
    assert [how for how, _ in datadirs.candidates()][-1] == "the `swarmsim data fetch` cache"


@pytest.mark.parametrize("command", ["inspect", "fit"])
def test_trace_tools_see_the_empty_variable_the_shell_expanded(command: str, tmp_path: Path) -> None:
    path = "/azure-llm-2023/AzureLLMInferenceTrace_conv.csv"
    assert not Path(path).exists()
    proc = swarmsim("trace", command, path, "--format", "azure-llm", cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    [line] = proc.stderr.splitlines()
    assert line.startswith(f"{path}: no such file: SWARMSIM_DATA is not set, so "
                           "${SWARMSIM_DATA}/azure-llm-2023/AzureLLMInferenceTrace_conv.csv became " + path)


def test_scenario_comments_name_datasets_that_data_fetch_knows() -> None:
    named = {m for p in (ROOT / "scenarios").glob("*.yaml")
             for m in re.findall(r"swarmsim data fetch ([\w.-]+)", p.read_text())}
    assert named and named <= set(DATASETS)
