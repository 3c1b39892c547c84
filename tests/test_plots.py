"""Plots (swarmsim/plots.py) on small real runs: what each function draws, which files
``save_plots`` writes, and that the plots work on frames read back from a run folder's CSVs."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from builders import scenario

import swarmsim
from swarmsim.plots import (
    plot_capacity,
    plot_cost,
    plot_latency_cdf,
    plot_slo_over_day,
    plot_wait_cdf,
    plot_world_map,
    save_plots,
)

JOB_FILES = {"capacity.png", "wait_cdf.png", "cost.png"}


def inference_scenario(**fields) -> dict:
    """Two serving regions and users in Tokyo (no GPUs there): Tokyo's requests are served in
    us-east, the nearest region with replicas, across the antimeridian; a few jobs from Tokyo move too."""
    base = scenario(
        name="plots",
        horizon="6h",
        sample_every="30m",
        regions={"us-east": {}, "eu-west": {}, "ap-northeast": {"active": False}},
        node_types={"l4x4": {"gpu": "L4", "gpus": 4}},
        fleet={"us-east": {"l4x4": 2}, "eu-west": {"l4x4": 1}},
        workloads={
            "chat": {
                "kind": "inference",
                "arrivals": {"process": "diurnal", "mean_rate": "1/s"},
                "origin": {"us-east": 0.5, "eu-west": 0.3, "ap-northeast": 0.2},
                "prompt_tokens": {"dist": "lognormal", "median": 1000, "sigma": 0.8},
                "output_tokens": {"dist": "lognormal", "median": 130, "sigma": 0.9},
                "replica": {"gpu": "L4", "gpus": 1, "max_batch": 16},
                "replicas": {"us-east": 4, "eu-west": 2},
                "slo": {"latency_p99": "20s"},
                "sample_requests": None,
            },
            "train": {
                "kind": "jobs",
                "arrivals": {"process": "poisson", "rate": "2/h"},
                "origin": {"ap-northeast": 1.0},
                "duration": "30m",
            },
        },
    )
    base.update(fields)
    return base


@pytest.fixture(scope="module")
def served() -> swarmsim.Result:
    return swarmsim.simulate(inference_scenario())


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def origins_with(rec, counts) -> list[str]:
    return [name for name, n in zip(rec.region_names, counts, strict=True) if n]


# --- each plot on a fresh Result -------------------------------------------------------------------


def test_latency_cdf_has_one_line_per_user_region_and_the_slo(served):
    rec = served.request_recorder
    ax = plot_latency_cdf(served)
    origins = origins_with(rec, rec.completed)
    assert origins == ["us-east", "eu-west", "ap-northeast"]
    labels = [line.get_label() for line in ax.lines]
    assert [label.split(" (")[0] for label in labels[: len(origins)]] == origins
    assert labels[len(origins)] == "SLO latency_p99 = 20 s (chat)"
    assert labels[len(origins) + 1] == "99 % of requests"
    assert len(ax.lines) == len(origins) + 2
    assert ax.get_xscale() == "log"
    assert "(s" in ax.get_xlabel()
    # Each origin's curve is its recorder CDF: rising to 1, and at the SLO it gives the share
    # of that origin's completed requests within 20 s.
    for line in ax.lines[: len(origins)]:
        y = np.asarray(line.get_ydata())
        assert np.all(np.diff(y) >= 0) and y[-1] == pytest.approx(1.0)


def test_latency_cdf_from_the_recorder_alone_has_no_slo_line_unless_given(served):
    rec = served.request_recorder
    n = len(origins_with(rec, rec.completed))
    assert len(plot_latency_cdf(rec).lines) == n
    assert len(plot_latency_cdf(rec, slo_s=5.0).lines) == n + 2


def test_slo_over_day_has_one_line_per_user_region_by_utc_hour(served):
    rts = served.request_timeseries
    ax = plot_slo_over_day(rts)
    rec = served.request_recorder
    origins = origins_with(rec, [c + d for c, d in zip(rec.completed, rec.dropped, strict=True)])
    assert [line.get_label() for line in ax.lines] == origins
    assert ax.get_xlim() == (0, 24)
    assert "UTC" in ax.get_xlabel()
    # 6 h from 00:00 UTC: hours 0..5 have data, the others are gaps; the hour-weighted mean of
    # a line is the origin's slo_attainment in the breakdown (the horizon is on the sample grid,
    # so request_timeseries holds every request).
    rows = served.breakdown[served.breakdown["by"] == "origin"].set_index("name")
    for line in ax.lines:
        x, y = np.asarray(line.get_xdata()), np.asarray(line.get_ydata())
        assert np.array_equal(x, np.arange(24) + 0.5)
        assert np.all(np.isfinite(y[:6])) and np.all(np.isnan(y[6:]))
        mine = rts[rts["origin"] == line.get_label()]
        decided = (mine["completed"] + mine["dropped"]).groupby((mine["time_s"] - 1) // 3600).sum().to_numpy()
        assert np.average(y[:6], weights=decided) == pytest.approx(rows.loc[line.get_label(), "slo_attainment"])


def test_slo_over_day_puts_each_interval_in_the_hour_it_covers():
    rts = pd.DataFrame({
        "time_s": [3600.0, 7200.0, 90000.0], "origin": ["a", "a", "a"], "arrived": [10, 10, 10],
        "completed": [10, 8, 10], "slo_met": [5, 8, 10], "dropped": [0, 2, 0], "latency_sum_s": [1.0, 1.0, 1.0],
    })
    y = np.asarray(plot_slo_over_day(rts).lines[0].get_ydata())
    # (0, 1h] -> hour 0, (1h, 2h] -> hour 1, (24h, 25h] -> hour 0 of day two: summed with day one.
    assert y[0] == pytest.approx((5 + 10) / 20) and y[1] == pytest.approx(8 / 10)
    assert np.all(np.isnan(y[2:]))


def test_world_map_draws_regions_and_arrows_for_requests_and_moved_jobs(served):
    ax = plot_world_map(served)
    rec = served.request_recorder
    names = rec.region_names
    cross = {(names[o], names[r]) for o, row in enumerate(rec.traffic) for r, n in enumerate(row) if n and o != r}
    jobs = served.jobs[served.jobs["region"].notna()]
    moved = set(zip(jobs["origin"].astype(str), jobs["region"].astype(str), strict=True)) - {
        (r, r) for r in names}
    assert ("ap-northeast", "us-east") in cross and moved
    lon = {n: served.scenario.regions[n].location.lon for n in names}

    def pieces(pair):  # an arrow across the antimeridian is drawn as two pieces
        return 2 if abs(lon[pair[1]] - lon[pair[0]]) > 180 else 1

    assert len(ax.patches) == sum(map(pieces, cross)) + sum(map(pieces, moved))
    # One scatter for the core regions with GPUs, one for the region without; the land (coastlines) is one
    # PolyCollection under them.
    from matplotlib.collections import PathCollection, PolyCollection

    assert len([c for c in ax.collections if isinstance(c, PathCollection)]) == 2
    assert [type(c) for c in ax.collections].count(PolyCollection) == 1
    assert sorted(t.get_text().split("\n")[0] for t in ax.texts) == sorted(names)
    assert ax.get_xlim() == (-180, 180) and ax.get_ylim() == (-60, 75)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[:2] == ["core region", "no GPUs (users only)"]
    assert legend[2].startswith("requests, user region → serving region") and legend[3].startswith("jobs moved")


def test_world_map_spreads_co_located_regions_and_says_so():
    sc = scenario(
        regions={"eu-central": {"active": False},
                 "edge-fra": {"location": {"lat": 50.1, "lon": 8.7}, "kind": "edge"}},
        node_types={"l4": {"gpu": "L4", "gpus": 1}},
        fleet={"edge-fra": {"l4": 1}},
        horizon="1h",
        workloads={"chat": {"kind": "inference", "arrivals": {"process": "poisson", "rate": "1/s"},
                            "origin": {"eu-central": 1.0}, "replica": {"gpu": "L4"}}},
    )
    ax = plot_world_map(swarmsim.simulate(sc))
    assert len(ax.patches) == 1  # eu-central users served at the edge, now a visible arrow
    notes = [t.get_text() for t in ax.texts if "drawn" in t.get_text()]
    assert len(notes) == 1 and notes[0].startswith("eu-central drawn")


def test_the_job_plots_still_work_on_an_inference_run(served):
    assert plot_capacity(served.timeseries).lines
    assert plot_wait_cdf(served.jobs).lines
    assert plot_cost(served.breakdown).patches


# --- save_plots ----------------------------------------------------------------------------------


def test_save_plots_writes_the_request_plots_and_the_map_for_a_run_with_requests(served, tmp_path):
    paths = save_plots(served, tmp_path)
    names = {p.name for p in paths}
    assert names == JOB_FILES | {"capacity_by_region.png", "latency_cdf.png", "slo_over_day.png", "world_map.png"}
    assert all(p.is_file() and p.stat().st_size > 1000 for p in paths)


def test_save_plots_without_requests_writes_the_map_only_with_two_regions(tmp_path):
    two = swarmsim.simulate(scenario(
        regions={"us-east": {}, "eu-west": {}},
        fleet={"us-east": {"a1": 1}, "eu-west": {"a1": 1}},
        workloads={"w": {"kind": "jobs", "arrivals": {"process": "poisson", "rate": "1/h"},
                         "origin": {"us-east": 0.5, "eu-west": 0.5}, "duration": "30m"}},
    ))
    assert two.summary["requests_arrived"] == 0
    (tmp_path / "two").mkdir()
    assert {p.name for p in save_plots(two, tmp_path / "two")} == JOB_FILES | {
        "capacity_by_region.png", "world_map.png"}
    one = swarmsim.simulate(scenario(workloads={"w": {
        "kind": "jobs", "arrivals": {"process": "poisson", "rate": "1/h"}, "origin": {"us-east": 1.0},
        "duration": "30m"}}))
    (tmp_path / "one").mkdir()
    assert {p.name for p in save_plots(one, tmp_path / "one")} == JOB_FILES


# --- the notebook use case: frames read back from a run folder --------------------------------------


def test_plots_work_on_frames_read_from_the_csv_files_of_a_run_folder(served, tmp_path):
    folder = served.save(tmp_path / "run", plots=False)

    def read(name: str) -> pd.DataFrame:
        return pd.read_csv(Path(folder) / f"{name}.csv")

    timeseries, jobs, requests, rts = read("timeseries"), read("jobs"), read("requests"), read("request_timeseries")
    assert len(plot_capacity(timeseries, region="us-east").lines) == len(plot_capacity(
        served.timeseries, region="us-east").lines)
    assert len(plot_wait_cdf(jobs).lines) == len(plot_wait_cdf(served.jobs).lines)
    assert len(plot_cost(read("breakdown")).patches) == len(plot_cost(served.breakdown).patches)

    fresh = plot_slo_over_day(served.request_timeseries)
    loaded = plot_slo_over_day(rts)
    assert [line.get_label() for line in loaded.lines] == [line.get_label() for line in fresh.lines]
    for a, b in zip(loaded.lines, fresh.lines, strict=True):
        np.testing.assert_allclose(a.get_ydata(), b.get_ydata(), rtol=1e-12)

    # requests.csv holds every request here (sample_requests: null): one exact CDF per origin.
    cdf = plot_latency_cdf(requests, slo_s=20)
    rec = served.request_recorder
    assert len(cdf.lines) == len(origins_with(rec, rec.completed)) + 2
    for line in cdf.lines[:3]:
        name, n = line.get_label().split(" (")
        assert int(n.split(" ")[0].replace(",", "")) == rec.completed[rec.region_names.index(name)]

    run = SimpleNamespace(scenario=swarmsim.load_scenario(Path(folder) / "scenario.yaml"),
                          timeseries=timeseries, jobs=jobs, requests=requests)
    loaded_map, fresh_map = plot_world_map(run), plot_world_map(served)
    assert len(loaded_map.patches) == len(fresh_map.patches)
    assert len(loaded_map.collections) == len(fresh_map.collections)
    assert [t.get_text() for t in loaded_map.get_legend().get_texts()] == [
        t.get_text() for t in fresh_map.get_legend().get_texts()]
