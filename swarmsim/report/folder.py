"""What kind of results folder a path is (a run, a sweep or a plan). A run folder is read back
by :meth:`swarmsim.result.Result.load`."""

from __future__ import annotations

from pathlib import Path

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


__all__ = ["folder_kind"]
