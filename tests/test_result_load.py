"""``Result.load(folder)``: a saved run folder read back into the same ``Result`` fields (the one
list ``results_io.RUN_TABLES`` serves both ``save`` and ``load``), in CSV or Parquet."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pandas as pd
import pytest

import swarmsim
from swarmsim.errors import ScenarioError
from swarmsim.result import Result
from swarmsim.results_io import RUN_TABLES

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def run() -> Result:
    # Checkpointed jobs on failing nodes: the lost, failures and availability tables are not empty.
    return swarmsim.simulate(ROOT / "scenarios" / "resilience-checkpointing.yaml")


def test_every_table_field_of_result_is_saved_and_loaded() -> None:
    frames = {f.name for f in dataclasses.fields(Result) if f.type in ("pd.DataFrame", pd.DataFrame)}
    assert frames == set(RUN_TABLES)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_load_gives_back_what_save_wrote(run: Result, tmp_path: Path, fmt: str) -> None:
    folder = run.save(tmp_path / fmt, plots=False, report=False, format=fmt)
    back = Result.load(folder)
    assert back.scenario.digest() == run.scenario.digest()
    assert back.summary.keys() == {k for k in run.summary if k != "wall_time_s"}
    for key, value in back.summary.items():
        want = run.summary[key]
        assert (math.isnan(value) and math.isnan(want)) if isinstance(want, float) and math.isnan(want) else \
            value == pytest.approx(want, rel=1e-12), key
    assert len(back.lost) == len(run.lost) > 0
    for name in RUN_TABLES:
        got, want = getattr(back, name), getattr(run, name)
        assert len(got) == len(want), name
        if len(want):
            assert list(got.columns) == list(want.columns), name
    pd.testing.assert_series_equal(back.jobs["wait_s"], run.jobs["wait_s"], check_exact=False, rtol=1e-8)


def test_load_of_an_incomplete_folder_names_the_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"scenario\.yaml"):
        Result.load(tmp_path)
