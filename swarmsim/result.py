"""The outcome of one run: headline figures, frames, and an atomic run folder."""

from __future__ import annotations

import json
import math
import os
import platform
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from swarmsim.atomic import partial_dir, replace_dir
from swarmsim.errors import ScenarioError
from swarmsim.jsonvalues import json_tree
from swarmsim.results_io import RUN_TABLES, read_table, write_extras, write_table
from swarmsim.scenario import Scenario
from swarmsim.version import __version__


@dataclass
class Result:
    """A finished run.

    Attributes:
        scenario: the resolved scenario that ran.
        summary: headline figures (contract §6; times in s, money in USD; NaN = no data).
        jobs: one row per job. requests: one row per inference request (empty for now).
        timeseries: tidy, one row per (sample time, region). actions: one row per scaling action.
        billing: one row per node billing segment. breakdown: per region and per GPU type.
    """

    scenario: Scenario
    summary: dict[str, Any]
    jobs: pd.DataFrame
    timeseries: pd.DataFrame
    actions: pd.DataFrame
    billing: pd.DataFrame
    breakdown: pd.DataFrame
    requests: pd.DataFrame = field(default_factory=pd.DataFrame)
    lost: pd.DataFrame = field(default_factory=pd.DataFrame)
    request_timeseries: pd.DataFrame = field(default_factory=pd.DataFrame)
    replicas: pd.DataFrame = field(default_factory=pd.DataFrame)
    failures: pd.DataFrame = field(default_factory=pd.DataFrame)
    availability: pd.DataFrame = field(default_factory=pd.DataFrame)
    resilience: pd.DataFrame = field(default_factory=pd.DataFrame)
    kv_cache: pd.DataFrame | None = None  # replica.kv_series: KV occupancy per replica and sample (kv_cache.csv)
    request_recorder: Any = field(default=None, repr=False)  # histograms, for latency CDFs
    jobs_file: Path | None = None  # record: stream: every job row, Parquet (``jobs`` holds the sampled rows)
    job_histograms: pd.DataFrame | None = None  # record: stream/aggregate: wait and run time histograms

    @classmethod
    def load(cls, folder: str | os.PathLike[str]) -> Result:
        """A run folder read back: its resolved ``scenario.yaml``, the figures of ``summary.json``
        (null back to NaN) and every table of :data:`~swarmsim.results_io.RUN_TABLES` (Parquet or
        CSV; empty when absent). There is no request recorder: plots and the report then take the
        latency CDF from the sampled ``requests`` rows.

        Raises:
            ScenarioError: ``scenario.yaml`` is missing, or a file cannot be read (naming it).
        """
        from swarmsim.scenario import load_scenario

        path = Path(folder)
        if not (path / "scenario.yaml").is_file():
            raise ScenarioError(str(path / "scenario.yaml"), [("", "missing: the run folder is incomplete")])
        scenario = load_scenario(path / "scenario.yaml")
        try:
            summary = json.loads((path / "summary.json").read_text())["summary"]
        except (OSError, json.JSONDecodeError, KeyError, TypeError) as err:
            raise ScenarioError(str(path / "summary.json"), [("summary", f"not a swarmsim summary: {err}")]) from None
        tables: dict[str, pd.DataFrame] = {}
        for name in RUN_TABLES:
            try:
                tables[name] = read_table(path, name)
            except FileNotFoundError:
                tables[name] = pd.DataFrame()
            except (pd.errors.ParserError, UnicodeDecodeError, OSError) as err:
                raise ScenarioError(str(path / name), [("", f"cannot read the table: {err}")]) from None
        return cls(scenario=scenario, summary={k: math.nan if v is None else v for k, v in summary.items()},
                   **tables)

    def provenance(self) -> dict[str, Any]:
        """What produced these figures: scenario name and hash, seed, swarmsim version."""
        return {
            "scenario": self.scenario.name,
            "scenario_sha256": self.scenario.digest(),
            "seed": self.scenario.seed,
            "swarmsim_version": __version__,
            "horizon_s": self.scenario.horizon,
            "warmup_s": self.scenario.warmup,
        }

    def default_folder(self, root: str | os.PathLike[str] = "results") -> Path:
        """``results/<scenario name>/seed-<seed>-<first 8 hex of the scenario hash>``."""
        return Path(root) / self.scenario.name / f"seed-{self.scenario.seed}-{self.scenario.digest()[:8]}"

    @property
    def plot(self) -> Any:
        """Inline figures for notebooks: ``res.plot.capacity()``, ``res.plot.cost()``,
        ``res.plot.waits()``, ``res.plot.latency()``, ``res.plot.slo()``, ``res.plot.failures()``,
        ``res.plot.map()``; each returns a matplotlib ``Axes`` (:class:`swarmsim.plots.accessor.RunPlots`)."""
        from swarmsim.plots.accessor import RunPlots

        return RunPlots(self)

    def save(self, folder: str | os.PathLike[str] | None = None, plots: bool = True,
             report: bool | None = None, format: str = "csv") -> Path:
        """Write the run folder atomically and return its path.

        Files: ``summary.json`` (headline figures + provenance; byte-identical for the same
        scenario and seed), ``run.json`` (wall time, host, Python), ``scenario.yaml`` (resolved),
        ``jobs.csv``, ``timeseries.csv``, ``actions.csv``, ``billing.csv``, ``breakdown.csv``,
        ``requests.csv``, ``failures.csv``, ``availability.csv``, ``resilience.csv``, PNG
        plots and ``report.html`` (the interactive report, docs/report.md; ``report`` defaults to
        ``plots``). ``format="parquet"`` writes the large tables (jobs, requests, timeseries,
        billing) as ``.parquet`` instead (``swarmsim.results_io``). Everything is written into a
        temporary sibling folder that is renamed into place only when complete. An existing *run folder* (one holding a
        ``summary.json``) is replaced; anything else at that path is left alone and refused.

        Raises:
            ScenarioError: the folder cannot be written (it is a file, a folder that is not a
                run folder, or the file system refuses), with the path and the reason.
        """
        shown = Path(folder) if folder is not None else self.default_folder()
        target = shown.resolve()
        if target.exists() and not (target.is_dir() and (target / "summary.json").is_file()):
            what = "a folder that is not a swarmsim run folder" if target.is_dir() else "a file"
            raise ScenarioError(str(target), [("", f"the path is {what}; choose a new folder "
                                                   "(an existing run folder is replaced)")])
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = partial_dir(target)
        except OSError as err:
            raise ScenarioError(str(target), [("", f"cannot create the run folder: {err}")]) from None
        try:
            deterministic = {k: v for k, v in self.summary.items() if k != "wall_time_s"}
            doc = {"summary": json_tree(deterministic), "provenance": self.provenance()}
            (tmp / "summary.json").write_text(json.dumps(doc, indent=2) + "\n")
            run = {"wall_time_s": self.summary.get("wall_time_s"), "python": platform.python_version(),
                   "platform": platform.platform()}
            (tmp / "run.json").write_text(json.dumps(run, indent=2) + "\n")
            (tmp / "scenario.yaml").write_text(self.scenario.to_yaml())
            for name in RUN_TABLES:
                frame: pd.DataFrame = getattr(self, name)
                write_table(frame, tmp, name, format)
            write_extras(self, tmp)
            if plots:
                from swarmsim.plots import save_plots

                save_plots(self, tmp)
            if plots if report is None else report:
                from swarmsim.report.run import run_report

                run_report(self, tmp)
            replace_dir(tmp, target)
        except OSError as err:
            shutil.rmtree(tmp, ignore_errors=True)
            raise ScenarioError(str(target), [("", f"cannot write the run folder: {err}")]) from None
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return shown
