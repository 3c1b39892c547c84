"""What kind of results folder a path is (a run, a sweep or a plan), and a run folder read back
into the frames that the report and the plots take (:class:`RunFolder`)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from swarmsim.errors import ScenarioError


def folder_kind(folder: Path) -> str:
    """``"run"`` (summary.json and timeseries.csv), ``"sweep"`` (sweep.json or results.csv) or
    ``"plan"`` (plan.json).

    Raises:
        ScenarioError: the path is not a folder, or holds none of those files.
    """
    if not folder.is_dir():
        raise ScenarioError(str(folder), [("", "not a folder; expected a run, sweep or plan folder")])
    if (folder / "plan.json").is_file():
        return "plan"
    if (folder / "sweep.json").is_file() or (folder / "results.csv").is_file():
        return "sweep"
    if (folder / "summary.json").is_file() and (folder / "timeseries.csv").is_file():
        return "run"
    raise ScenarioError(str(folder), [("", "not a results folder: expected summary.json and timeseries.csv "
                                           "(a run), sweep.json or results.csv (a sweep), or plan.json (a plan)")])


def _csv(path: Path) -> pd.DataFrame:
    if not path.is_file() or path.stat().st_size == 0:
        return pd.DataFrame()
    try:
        return pd.read_csv(path)
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise ScenarioError(str(path), [("", f"cannot read the CSV file: {err}")]) from None


@dataclass
class RunFolder:
    """A run folder read back: the resolved scenario and the frames of contract §6 (no request
    recorder: the latency CDF then comes from the sampled ``requests.csv`` rows)."""

    scenario: Any
    summary: dict[str, Any]
    jobs: pd.DataFrame
    timeseries: pd.DataFrame
    actions: pd.DataFrame
    billing: pd.DataFrame
    breakdown: pd.DataFrame
    requests: pd.DataFrame = field(default_factory=pd.DataFrame)
    request_timeseries: pd.DataFrame = field(default_factory=pd.DataFrame)
    failures: pd.DataFrame = field(default_factory=pd.DataFrame)
    request_recorder: Any = None


def read_run(folder: Path) -> RunFolder:
    """The run folder at ``folder`` (its ``scenario.yaml``, ``summary.json`` and CSVs).

    Raises:
        ScenarioError: a file is missing or unreadable (naming it).
    """
    from swarmsim.scenario import load_scenario

    if not (folder / "scenario.yaml").is_file():
        raise ScenarioError(str(folder / "scenario.yaml"), [("", "missing: the run folder is incomplete")])
    scenario = load_scenario(folder / "scenario.yaml")
    try:
        summary = json.loads((folder / "summary.json").read_text())["summary"]
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise ScenarioError(str(folder / "summary.json"), [("summary", f"not a swarmsim summary: {err}")]) from None
    summary = {k: (float("nan") if v is None else v) for k, v in summary.items()}
    frames = {name: _csv(folder / f"{name}.csv") for name in
              ("jobs", "timeseries", "actions", "billing", "breakdown", "requests", "request_timeseries", "failures")}
    return RunFolder(scenario=scenario, summary=summary, **frames)


__all__ = ["RunFolder", "folder_kind", "read_run"]
