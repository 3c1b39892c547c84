"""Run folders on disk: the table formats ``Result.save`` writes, and :func:`open_results`,
which reads a run folder or a whole sweep folder lazily (docs/metrics.md).

The large tables (``jobs``, ``requests``, ``timeseries``, ``billing``) are written as CSV by
default (the contract's ``jobs.csv``) or as Parquet on request (``swarmsim run --format parquet``,
``Result.save(format="parquet")``); a ``record: stream`` run adds ``jobs.parquet`` (every row)
next to ``jobs.csv`` (the sampled rows). Reading prefers ``<table>.parquet`` over ``<table>.csv``.
"""

from __future__ import annotations

import json
import os
import shutil
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

#: The tables of a run folder, in the order ``Result.save`` writes them (each a ``Result`` field).
RUN_TABLES = ("jobs", "timeseries", "actions", "billing", "breakdown", "requests", "lost",
              "request_timeseries", "replicas", "failures", "availability", "resilience")
#: Tables written as Parquet with ``format="parquet"``.
LARGE_TABLES = ("jobs", "requests", "timeseries", "billing")
FORMATS = ("csv", "parquet")


def write_table(frame: pd.DataFrame, folder: Path, name: str, format: str = "csv") -> None:
    """Write one table of a run folder: ``<name>.parquet`` when ``format`` is parquet and the
    table is a large one, else ``<name>.csv`` (floats to 9 significant digits)."""
    if format not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {format!r}")
    if format == "parquet" and name in LARGE_TABLES:
        frame.to_parquet(folder / f"{name}.parquet", index=False)
    else:
        frame.to_csv(folder / f"{name}.csv", index=False, float_format="%.9g")


def write_extras(result: Any, folder: Path) -> None:
    """The files only some runs have: ``jobs.parquet`` (every job row) and ``job_histograms.csv``
    (``record: stream``/``aggregate``), ``kv_cache.csv`` (``replica.kv_series``)."""
    jobs_file = getattr(result, "jobs_file", None)
    if jobs_file is not None:
        shutil.copyfile(jobs_file, folder / "jobs.parquet")
    hist = getattr(result, "job_histograms", None)
    if hist is not None:
        hist.to_csv(folder / "job_histograms.csv", index=False, float_format="%.9g")
    kv = getattr(result, "kv_cache", None)
    if kv is not None:
        kv.to_csv(folder / "kv_cache.csv", index=False, float_format="%.9g")


def read_table(folder: Path, name: str, columns: list[str] | None = None) -> pd.DataFrame:
    """One table of a run folder (Parquet when there is one, else CSV; empty when neither)."""
    parquet, csv = folder / f"{name}.parquet", folder / f"{name}.csv"
    if parquet.is_file():
        return pd.read_parquet(parquet, columns=columns)
    if csv.is_file():
        try:
            return pd.read_csv(csv, usecols=columns)
        except pd.errors.EmptyDataError:
            return pd.DataFrame()
    raise FileNotFoundError(f"{folder}: no {name}.parquet or {name}.csv")


class RunFolder:
    """One run folder, read on demand: ``summary`` (dict) at once, tables when first asked for
    (``run.jobs``, ``run.table("timeseries", columns=[...])``), each read once."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        doc = json.loads((self.path / "summary.json").read_text())
        self.summary: dict[str, Any] = doc.get("summary", {})
        self.provenance: dict[str, Any] = doc.get("provenance", {})
        self._tables: dict[str, pd.DataFrame] = {}

    def table(self, name: str, columns: list[str] | None = None) -> pd.DataFrame:
        """A table of this run (``jobs``, ``timeseries``, ``billing``, ...)."""
        if columns is not None:
            return read_table(self.path, name, columns)
        if name not in self._tables:
            self._tables[name] = read_table(self.path, name)
        return self._tables[name]

    def __getattr__(self, name: str) -> pd.DataFrame:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self.table(name)
        except FileNotFoundError as err:
            raise AttributeError(str(err)) from None

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"


class SweepFolder:
    """Every run folder under a folder (a sweep's, or any tree of runs), read on demand.

    ``summary`` is one row per run (its path relative to the folder, seed, then the headline
    figures) from the ``summary.json`` files alone; ``table(name)`` concatenates one table of
    every run with a ``run`` column; ``dataset(name)`` is a ``pyarrow.dataset`` over the runs'
    files of that table, to query without loading them (``.to_table(filter=...)``, DuckDB)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.runs = [RunFolder(p.parent) for p in sorted(self.path.rglob("summary.json"))]

    @cached_property
    def summary(self) -> pd.DataFrame:
        """One row per run: ``run`` (path under the folder), ``seed``, the summary keys."""
        rows = [{"run": str(r.path.relative_to(self.path)), "seed": r.provenance.get("seed"), **r.summary}
                for r in self.runs]
        return pd.DataFrame(rows)

    def table(self, name: str, columns: list[str] | None = None) -> pd.DataFrame:
        """One table of every run, concatenated, with the run's path in a ``run`` column."""
        parts = [r.table(name, columns).assign(run=str(r.path.relative_to(self.path))) for r in self.runs]
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()

    def dataset(self, name: str) -> Any:
        """A ``pyarrow.dataset.Dataset`` over every run's ``<name>`` file (Parquet when the runs
        have it, else CSV)."""
        import pyarrow.dataset as ds

        parquet = [r.path / f"{name}.parquet" for r in self.runs if (r.path / f"{name}.parquet").is_file()]
        if parquet:
            return ds.dataset([str(p) for p in parquet], format="parquet")
        return ds.dataset([str(r.path / f"{name}.csv") for r in self.runs], format="csv")

    def __len__(self) -> int:
        return len(self.runs)

    def __repr__(self) -> str:
        return f"SweepFolder({str(self.path)!r}, {len(self.runs)} runs)"


def open_results(folder: str | os.PathLike[str]) -> RunFolder | SweepFolder:
    """A run folder (it holds a ``summary.json``) or every run under a folder, read lazily.

    Raises:
        FileNotFoundError: ``folder`` holds no run folder."""
    path = Path(folder)
    if (path / "summary.json").is_file():
        return RunFolder(path)
    found = SweepFolder(path)
    if not found.runs:
        raise FileNotFoundError(f"{path}: no run folder (summary.json) in it or under it")
    return found
