"""Sweeps: plan every run first, run them on a backend, resume an interrupted sweep.

``plan_runs`` turns (scenario, grid, seeds) into a list of :class:`RunSpec`, validating every grid
point before anything runs; ``run_one`` runs one spec and returns its table row (a failing run
becomes a row with ``status == "failed"``); ``sweep`` ties them together and writes the sweep
folder::

    out/sweep.json                      scenario hash, grid, seeds, swarmsim version (written first)
    out/runs/p{point:03d}-s{seed}/      summary.json + run.json (a finished run; the full run
                                        folder with save_runs) or error.json (a failed run)
    out/results.csv                     the table, written at the end

Each run folder appears atomically (written beside it, then renamed). A resume reads back the
folders of the *planned* runs (never by globbing) and runs only those without a summary.json.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import logging
import math
import operator
import os
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from swarmsim.atomic import partial_dir, remove_dir, replace_dir, write_atomic
from swarmsim.errors import ArgumentError, ScenarioError
from swarmsim.estimate import check as check_estimate
from swarmsim.experiments.backends import BACKENDS, check_backend
from swarmsim.jsonvalues import json_scalar
from swarmsim.scenario import Scenario, load_scenario
from swarmsim.version import __version__

log = logging.getLogger(__name__)

SWEEP_FILE = "sweep.json"
RESULTS_FILE = "results.csv"


@dataclass(frozen=True)
class RunSpec:
    """One run of a sweep.

    Attributes:
        point: index of the grid point (the grid's cartesian product, first key varying slowest).
        seed: the run's seed (replaces the scenario's own).
        params: ``{"dotted.path": value}`` of this point (values as parsed from YAML text).
        scenario: the resolved scenario as plain data (``Scenario.model_dump(mode="json")`` with
            the point's overrides and the seed applied, plus ``source`` so that relative paths
            still resolve); picklable, and validated again by ``simulate``.
    """

    point: int
    seed: int
    params: dict[str, Any]
    scenario: dict

    @property
    def folder(self) -> str:
        """Name of the run's folder under ``out/runs``."""
        return f"p{self.point:03d}-s{self.seed}"


def plan_runs(
    scenario: str | os.PathLike[str] | dict[str, Any] | Scenario,
    grid: dict[str, list] | None,
    seeds: Iterable[int] | int,
) -> list[RunSpec]:
    """Every run of the sweep, sorted by (point, seed), each grid point validated first.

    Raises:
        ScenarioError: the scenario, a grid path or value (naming the grid point), or the seeds
            are invalid. Nothing has run or been written when it is raised.
    """
    base = load_scenario(scenario)
    grid = _check_grid(grid, base.source)
    seed_list = check_seeds(seeds, base.source)
    names = list(grid)
    specs: list[RunSpec] = []
    for point, values in enumerate(itertools.product(*(grid[n] for n in names))):
        params = dict(zip(names, values, strict=True))
        try:
            resolved = load_scenario(base, params) if params else base
            check_estimate(resolved)
        except ScenarioError as err:
            shown = ", ".join(f"{k}={_text(v)}" for k, v in params.items())
            problems = [(p, f"{m} (grid point {point}: {shown})") for p, m in err.problems]
            raise err.moved(err.file, problems) from None
        data = resolved.model_dump(mode="json")
        if base.source is not None:
            data["source"] = base.source
        specs.extend(RunSpec(point, seed, params, {**data, "seed": seed}) for seed in seed_list)
    return specs


def run_one(spec: RunSpec, out: Path | None, save_run: bool) -> dict[str, Any]:
    """Run one spec and return its row; write its folder under ``out/runs`` if ``out`` is given.

    Never raises for a failing run: the row gets ``status="failed"`` and ``error`` (the exception
    type and message), and the folder an ``error.json``.
    """
    from swarmsim.simulation import simulate

    row: dict[str, Any] = {"point": spec.point, "seed": spec.seed, **spec.params, "status": "ok", "error": ""}
    started = time.perf_counter()
    try:
        result = simulate(spec.scenario)
    except Exception as err:
        row.update(status="failed", error=f"{type(err).__name__}: {err}".strip(),
                   wall_time_s=time.perf_counter() - started)
        log.warning("run %s failed: %s", spec.folder, row["error"])
        if out is not None:
            _write_folder(Path(out) / "runs" / spec.folder, {"error.json": {
                "point": spec.point, "seed": spec.seed, "params": spec.params, "error": row["error"],
                "wall_time_s": row["wall_time_s"], "swarmsim_version": __version__}})
        return row
    figures = {k: _plain(v) for k, v in result.summary.items() if k != "wall_time_s"}
    row.update(figures)
    row["wall_time_s"] = _plain(result.summary.get("wall_time_s", time.perf_counter() - started))
    if out is not None:
        target = Path(out) / "runs" / spec.folder
        if save_run:
            remove_dir(target)  # a failed attempt's folder (error.json) is not a run folder to replace
            result.save(target, plots=False)
        else:
            _write_folder(target, {
                "summary.json": {"summary": {k: json_scalar(v) for k, v in figures.items()},
                                 "provenance": result.provenance()},
                "run.json": {"wall_time_s": row["wall_time_s"]},
            })
    return row


def sweep(
    scenario: str | os.PathLike[str] | dict[str, Any] | Scenario,
    grid: dict[str, list] | None = None,
    seeds: Iterable[int] | int = 10,
    *,
    backend: str = "local",
    jobs: int | None = None,
    address: str | None = None,
    out: str | os.PathLike[str] | None = None,
    resume: bool = False,
    save_runs: bool = False,
    progress: Callable[[int, int, int], None] | None = None,
) -> pd.DataFrame:
    """Run ``scenario`` at every grid point on every seed; one row per run.

    Args:
        scenario: a path, a dict or a :class:`Scenario`.
        grid: ``{"dotted.path": [values]}``; the points are the cartesian product (first key
            varying slowest). ``None``: one point, replications only.
        seeds: the seeds every point runs on (common random numbers); an int n means range(n).
        backend: ``"local"`` (process pool; ``jobs=1`` runs in this process) or ``"ray"``.
        jobs: worker processes (local) or CPUs (ray); default all cores.
        address: the Ray cluster (``"auto"`` or ``host:port``); ray only.
        out: the sweep folder (module docstring); ``None`` writes nothing.
        resume: continue the sweep in ``out``: keep its finished runs, run the missing and
            failed ones. Refused if the scenario, grid or seeds differ from ``out/sweep.json``.
        save_runs: also write each run's full folder (CSVs; no PNG plots) under ``out/runs``.
        progress: ``progress(done, failed, total)`` after each run (finished runs of a resumed
            sweep count as done from the start).

    Returns:
        The table sorted by (point, seed): ``point``, ``seed``, one column per grid path,
        ``status`` (ok | failed), ``error``, every summary figure, ``wall_time_s``.

    Raises:
        ScenarioError: bad scenario, grid, seeds, backend or ``out`` folder (before any run).
    """
    specs = plan_runs(scenario, grid, seeds)
    check_backend(backend, jobs, address)  # before the sweep folder is written: nothing is left behind
    folder = Path(out) if out is not None else None
    done: dict[tuple[int, int], dict[str, Any]] = {}
    if folder is not None:
        header = _header(scenario, grid, specs)
        done = _open_folder(folder, header, specs, resume)
    todo = [s for s in specs if (s.point, s.seed) not in done]
    tasks = [functools.partial(run_one, s, folder, save_runs) for s in todo]
    report = None
    if progress is not None:
        progress(len(done), 0, len(specs))
        report = functools.partial(_offset_progress, progress, len(done), len(specs))
    try:
        rows = BACKENDS[backend](tasks, jobs=jobs, address=address, progress=report)
    except ImportError as err:
        raise ArgumentError(None, [("backend", f"{backend}: {err}")]) from None
    table = _table([*done.values(), *rows])
    if folder is not None:
        write_atomic(folder / RESULTS_FILE, table.to_csv(index=False))
    return table


def _offset_progress(progress: Callable[[int, int, int], None], kept: int, total: int,
                     done: int, failed: int, _: int) -> None:
    progress(kept + done, failed, total)


# --- the table ------------------------------------------------------------------------------


def _table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    rows = sorted(rows, key=lambda r: (r["point"], r["seed"]))
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(k for k in row if k != "wall_time_s"))
    columns["wall_time_s"] = None
    return pd.DataFrame(rows, columns=list(columns))


def _plain(value: Any) -> Any:
    """A summary value as a plain Python scalar; None and non-finite floats become NaN."""
    if value is None:
        return math.nan
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return math.nan
    return value


# --- the sweep folder -----------------------------------------------------------------------


def _header(scenario: Any, grid: dict[str, list] | None, specs: list[RunSpec]) -> dict[str, Any]:
    base = load_scenario(scenario, {"seed": 0})  # each run replaces the seed: not part of the hash
    seeds = [s.seed for s in specs if s.point == 0]
    return {
        "scenario": base.name,
        "scenario_sha256": base.digest(),
        "grid": json.loads(json.dumps(_check_grid(grid, None), default=str)),
        "seeds": seeds,
        "runs": len(specs),
        "swarmsim_version": __version__,
    }


def default_folder(scenario: Any, grid: dict[str, list] | None, seeds: Iterable[int] | int,
                   root: str | os.PathLike[str] = "results") -> Path:
    """``results/<scenario name>/sweep-<8 hex of the hash of scenario, grid and seeds>``."""
    header = _header(scenario, grid, plan_runs(scenario, grid, seeds))
    key = json.dumps([header["scenario_sha256"], header["grid"], header["seeds"]], sort_keys=True)
    return Path(root) / header["scenario"] / f"sweep-{hashlib.sha256(key.encode()).hexdigest()[:8]}"


def _open_folder(folder: Path, header: dict[str, Any], specs: list[RunSpec],
                 resume: bool) -> dict[tuple[int, int], dict[str, Any]]:
    """Check or create ``folder`` and return the finished rows to keep (resume only)."""
    where = str(folder / SWEEP_FILE)
    marker = folder / SWEEP_FILE
    if marker.is_file():
        if not resume:
            raise ArgumentError(str(folder), [("out", "already holds a sweep; resume it (resume=True) "
                                                      "or choose a new folder")])
        try:
            old = json.loads(marker.read_text())
        except (OSError, ValueError) as err:
            raise ScenarioError(where, [("", f"cannot read: {err}")]) from None
        changed = [k for k in ("scenario_sha256", "grid", "seeds") if old.get(k) != header[k]]
        if changed:
            what = {"scenario_sha256": "the scenario", "grid": "the grid", "seeds": "the seeds"}
            raise ScenarioError(where, [("", f"cannot resume: {' and '.join(what[k] for k in changed)} "
                                             "differ from the sweep in this folder; choose a new folder")])
        if old.get("swarmsim_version") != __version__:
            log.warning("resuming a sweep started with swarmsim %s under %s", old.get("swarmsim_version"),
                        __version__)
        return {(s.point, s.seed): row for s in specs if (row := _read_back(folder / "runs" / s.folder, s))}
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        found = "a file" if not folder.is_dir() else "a folder that is not empty and holds no sweep"
        raise ArgumentError(str(folder), [("out", f"the path is {found}; choose a new folder")])
    try:
        folder.mkdir(parents=True, exist_ok=True)
        write_atomic(marker, json.dumps(header, indent=2) + "\n")
    except OSError as err:
        raise ArgumentError(str(folder), [("out", f"cannot create the sweep folder: {err}")]) from None
    return {}


def _read_back(run: Path, spec: RunSpec) -> dict[str, Any] | None:
    """The row of a finished run from its folder, or None if it must run (absent or failed)."""
    try:
        doc = json.loads((run / "summary.json").read_text())
        wall = json.loads((run / "run.json").read_text()).get("wall_time_s")
    except FileNotFoundError:
        return None
    row: dict[str, Any] = {"point": spec.point, "seed": spec.seed, **spec.params, "status": "ok", "error": ""}
    row.update({k: _plain(v) for k, v in doc["summary"].items()})
    row["wall_time_s"] = _plain(wall)
    return row


def _write_folder(target: Path, files: dict[str, Any]) -> None:
    """Write ``files`` (name -> JSON document) as the folder ``target``, atomically."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = partial_dir(target)
    try:
        for name, doc in files.items():
            (tmp / name).write_text(json.dumps(doc, indent=2, default=str) + "\n")
        replace_dir(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# --- checks -----------------------------------------------------------------------------------


def _check_grid(grid: dict[str, list] | None, file: str | None) -> dict[str, list]:
    if grid is None:
        return {}
    if not isinstance(grid, dict):
        raise ArgumentError(file, [("grid", f"expected {{path: [values]}}, got {type(grid).__name__}")])
    out: dict[str, list] = {}
    for path, values in grid.items():
        if str(path).strip() == "seed":
            raise ArgumentError(file, [("grid", "seed is not a grid path; give the seeds with seeds=")])
        if isinstance(values, str | bytes) or not isinstance(values, Iterable):
            raise ScenarioError(file, [(f"grid.{path}", f"expected a list of values, got {values!r}")])
        values = list(values)
        if not values:
            raise ScenarioError(file, [(f"grid.{path}", "expected at least one value, got none")])
        out[str(path).strip()] = values
    return out


def check_seeds(seeds: Iterable[int] | int, file: str | None) -> list[int]:
    """The seeds of a sweep or a plan as a list: an int ``n`` means ``range(n)``; otherwise distinct
    non-negative integers, at least one.

    Raises:
        ScenarioError: on ``seeds`` (with ``file`` as the location), naming what was expected.
    """
    try:
        raw = range(operator.index(seeds)) if not isinstance(seeds, Iterable) else list(seeds)
    except TypeError:
        expected = f"expected a number of seeds or a list of seeds, got {seeds!r}"
        raise ArgumentError(file, [("seeds", expected)]) from None
    out = []
    for seed in raw:
        try:
            value = operator.index(seed)
        except TypeError:
            value = -1
        if isinstance(seed, bool) or value < 0:
            raise ArgumentError(file, [("seeds", f"expected non-negative integers, got {seed!r}")])
        out.append(value)
    if not out:
        raise ArgumentError(file, [("seeds", "expected at least one seed")])
    if len(set(out)) != len(out):
        raise ArgumentError(file, [("seeds", "a seed is given twice")])
    return out


def _text(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, str) else value
