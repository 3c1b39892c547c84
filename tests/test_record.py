"""record: full | stream | aggregate (issue #18): the same figures from bounded memory.

Counts and exact sums must agree with the in-memory jobs frame (sums up to float summation
order), percentiles within the histogram's stated bound, and ``stream``'s Parquet file must
hold exactly the frame's rows."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import swarmsim
from swarmsim.metrics import histogram
from swarmsim.metrics.stream import TIMESERIES_WARN_ROWS, sampling_warning, timeseries_rows

ROOT = Path(__file__).resolve().parents[1]
PERCENTILES = ("job_wait_p50_s", "job_wait_p95_s", "job_wait_p99_s")
# Small chunks so that every run is handed on in many chunks (the point of the test).
SMALL = {"record.chunk_jobs": 97, "record.sample_every": 10}


def _run(path: str, mode: str | None) -> swarmsim.Result:
    overrides = {} if mode is None else {"record.mode": mode, **SMALL}
    return swarmsim.simulate(ROOT / "scenarios" / path, overrides=overrides)


def within_bound(approx: float, exact: float) -> bool:
    """The bound docs/metrics.md states for a histogram percentile."""
    return abs(approx - exact) <= histogram.REL_ERROR * abs(exact) + histogram.ABS_ERROR_S


def same_figure(a: object, b: object) -> bool:
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    if isinstance(a, int) and not isinstance(a, bool):
        return a == b
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)  # type: ignore[arg-type]


# two-regions: two job workloads, two regions, moves and egress; resilience-checkpointing:
# interrupted runs and checkpoint GPU-seconds; global-mixed-providers: several node types.
@pytest.mark.parametrize("path", ["two-regions.yaml", "resilience-checkpointing.yaml",
                                  "global-mixed-providers.yaml"])
def test_aggregate_gives_the_full_summary(path: str) -> None:
    full, agg = _run(path, None), _run(path, "aggregate")
    assert list(agg.summary) == list(full.summary)
    for key, exact in full.summary.items():
        if key == "wall_time_s":
            continue
        got = agg.summary[key]
        if key in PERCENTILES:
            assert within_bound(got, exact), (key, got, exact)  # type: ignore[arg-type]
        else:
            assert same_figure(exact, got), (key, exact, got)
    fb, ab = full.breakdown, agg.breakdown
    assert list(ab.columns) == list(fb.columns) and len(ab) == len(fb)
    for col in fb.columns:
        for exact, got in zip(fb[col], ab[col], strict=True):
            if col == "job_wait_p95_s":
                assert (math.isnan(exact) and math.isnan(got)) or within_bound(got, exact), (col, got, exact)
            elif isinstance(exact, str):
                assert exact == got
            else:
                assert same_figure(exact, got), (col, exact, got)
    # the sampled rows are the frame's rows whose id is a multiple of sample_every
    kept = full.jobs[full.jobs["job_id"] % SMALL["record.sample_every"] == 0].reset_index(drop=True)
    pd.testing.assert_frame_equal(agg.jobs, kept)


def test_histograms_count_every_window_job() -> None:
    full, agg = _run("two-regions.yaml", None), _run("two-regions.yaml", "aggregate")
    hist = agg.job_histograms
    assert hist is not None
    win = full.jobs[full.jobs["arrival_s"] >= full.scenario.warmup]
    assert hist.loc[hist["kind"] == "wait", "count"].sum() == win["start_s"].notna().sum()
    assert hist.loc[hist["kind"] == "run_time", "count"].sum() == (win["status"] == "completed").sum()
    per_workload = hist[hist["kind"] == "wait"].groupby("workload")["count"].sum()
    expected = win[win["start_s"].notna()].groupby("workload", observed=True).size()
    assert per_workload.to_dict() == {str(k): int(v) for k, v in expected.items()}


def test_stream_writes_every_row(tmp_path: Path) -> None:
    full, streamed = _run("two-regions.yaml", None), _run("two-regions.yaml", "stream")
    folder = streamed.save(tmp_path / "run", plots=False)
    rows = pd.read_parquet(folder / "jobs.parquet").sort_values("job_id", kind="stable").reset_index(drop=True)
    assert len(rows) == len(full.jobs)
    pd.testing.assert_frame_equal(rows, full.jobs, check_categorical=False)
    assert (folder / "jobs.csv").is_file() and (folder / "job_histograms.csv").is_file()
    assert len(pd.read_csv(folder / "jobs.csv")) == len(streamed.jobs)


def test_stream_temporary_file_lives_as_long_as_the_result(tmp_path: Path) -> None:
    """The Parquet file of every row is a temporary that the Result owns: there while the Result
    is (save() copies it), gone once the Result is collected, and none left by a CLI run."""
    import gc

    streamed = _run("two-regions.yaml", "stream")
    temp = streamed.jobs_file
    assert temp is not None and temp.is_file()
    folder = streamed.save(tmp_path / "run", plots=False)
    del streamed
    gc.collect()
    assert not temp.exists() and not temp.parent.exists()
    assert (folder / "jobs.parquet").is_file()  # the run folder keeps its copy
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {**os.environ, "TMPDIR": str(scratch), "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    done = subprocess.run([sys.executable, "-m", "swarmsim.cli", "run", str(ROOT / "scenarios" / "two-regions.yaml"),
                           "--set", "record.mode=stream", "--no-plots", "--no-report", "--out", str(tmp_path / "cli")],
                          env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "cli" / "jobs.parquet").is_file()
    assert list(scratch.iterdir()) == [], "the run left its temporary Parquet folder behind"


def test_record_modes_are_deterministic(tmp_path: Path) -> None:
    a = _run("two-regions.yaml", "stream").save(tmp_path / "a", plots=False)
    b = _run("two-regions.yaml", "stream").save(tmp_path / "b", plots=False)
    for name in ("summary.json", "jobs.csv", "jobs.parquet", "job_histograms.csv", "breakdown.csv"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_no_record_section_leaves_the_scenario_as_it_was() -> None:
    sc = swarmsim.load_scenario(ROOT / "scenarios" / "two-regions.yaml")
    assert "record" not in sc.to_yaml()
    with_full = swarmsim.load_scenario(ROOT / "scenarios" / "two-regions.yaml", {"record.mode": "full"})
    assert "record:" in with_full.to_yaml() and with_full.digest() != sc.digest()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.just(0.0), st.floats(1e-6, 1e8)), min_size=1, max_size=400),
       st.sampled_from([0.0, 0.01, 0.5, 0.8, 0.95, 0.99, 1.0]))
def test_histogram_quantile_within_its_bound(values: list[float], q: float) -> None:
    v = np.array(values)
    counts = np.bincount(histogram.bins_of(v), minlength=histogram.BINS)
    assert within_bound(histogram.quantile(counts, q), float(np.quantile(v, q)))


def test_sampling_warning() -> None:
    sc = swarmsim.load_scenario(ROOT / "scenarios" / "two-regions.yaml")
    assert sampling_warning(sc) is None
    fine = swarmsim.load_scenario(ROOT / "scenarios" / "two-regions.yaml", {"sample_every": 0.01, "horizon": "1d"})
    assert timeseries_rows(fine) > TIMESERIES_WARN_ROWS
    assert "time-series rows" in (sampling_warning(fine) or "")


def test_job_figures_need_full_mode() -> None:
    with pytest.raises(swarmsim.ScenarioError, match=r"report\.figures\.0"):
        swarmsim.load_scenario(ROOT / "scenarios" / "two-regions.yaml",
                               {"record.mode": "aggregate", "report.figures": ["job_wait_p80_s"]})


def test_bad_record_mode_exits_2(tmp_path: Path) -> None:
    out = tmp_path / "run"
    done = subprocess.run([sys.executable, "-m", "swarmsim.cli", "run", str(ROOT / "scenarios" / "two-regions.yaml"),
                           "--set", "record.mode=everything", "--out", str(out)],
                          capture_output=True, text=True, cwd=ROOT, check=False)
    assert done.returncode == 2
    assert "record.mode" in done.stderr and "Traceback" not in done.stderr
    assert not out.exists()


def test_parquet_format_and_open_results(tmp_path: Path) -> None:
    out = tmp_path / "runs" / "parquet"
    done = subprocess.run([sys.executable, "-m", "swarmsim.cli", "run", str(ROOT / "scenarios" / "two-regions.yaml"),
                           "--format", "parquet", "--no-plots", "--out", str(out)],
                          capture_output=True, text=True, cwd=ROOT, check=False)
    assert done.returncode == 0, done.stderr
    for name in ("jobs", "requests", "timeseries", "billing"):
        assert (out / f"{name}.parquet").is_file() and not (out / f"{name}.csv").exists()
    assert (out / "actions.csv").is_file()
    full = _run("two-regions.yaml", None)
    csv_folder = full.save(tmp_path / "runs" / "csv", plots=False)
    both = swarmsim.open_results(tmp_path / "runs")
    assert len(both) == 2
    assert list(both.summary["run"]) == ["csv", "parquet"]
    assert both.summary["jobs_arrived"].tolist() == [full.summary["jobs_arrived"]] * 2
    one = swarmsim.open_results(csv_folder)
    assert len(one.jobs) == len(full.jobs) == len(both.runs[1].jobs)
    assert both.runs[1].jobs["wait_s"].sum() == pytest.approx(full.jobs["wait_s"].sum(), rel=1e-8)
    assert both.dataset("jobs").count_rows() == len(full.jobs)
    assert json.loads((out / "summary.json").read_text())["summary"]["jobs_arrived"] == full.summary["jobs_arrived"]
