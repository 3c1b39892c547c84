"""report.html (swarmsim/report/): written by the real CLI for the quickstart run, a small sweep
and a small plan, opened from file:// in a real headless Chromium with the network off; the page
must render with no script error and every section present. Plus what the page may hold (no
remote references), its size, determinism, the downsampling arithmetic, the coastlines, the
notebook accessors and the progress bars."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from browser import chromium, open_page
from matplotlib.axes import Axes
from matplotlib.path import Path as MplPath

from swarmsim.report import REPORT_FILE
from swarmsim.report.html import Figure, Section, page
from swarmsim.report.run import expected_sections
from swarmsim.report.series import CDF_LEVELS, MAX_POINTS, cdf_points, downsample

ROOT = Path(__file__).resolve().parent.parent
SCREENS = ROOT / "results" / "report-screenshots"


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "swarmsim.cli", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=600, env={**os.environ, "PYTHONPATH": str(ROOT)})
    return proc


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    folder = tmp_path_factory.mktemp("report") / "quickstart"
    proc = cli("run", "--out", str(folder), cwd=folder.parent)
    assert proc.returncode == 0, proc.stderr
    return folder, proc


@pytest.fixture(scope="module")
def sweep_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("report") / "sweep"
    proc = cli("sweep", str(ROOT / "scenarios" / "horizontal-step-demand.yaml"), "--grid",
               "policies.0.target_utilization=0.5,0.9", "--seeds", "3", "--jobs", "1", "--out", str(folder),
               cwd=folder.parent)
    assert proc.returncode == 0, proc.stderr
    return folder


@pytest.fixture(scope="module")
def plan_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("report") / "plan"
    proc = cli("plan", str(ROOT / "scenarios" / "plan-mmc.yaml"), "--slo", "job_wait_mean_s=3", "--seeds", "3",
               "--jobs", "1", "--set", "horizon=8h", "--out", str(folder), cwd=folder.parent)
    assert proc.returncode == 0, proc.stderr
    return folder


@pytest.fixture(scope="module")
def browser() -> str:
    binary, why = chromium()
    if binary is None:
        pytest.skip(why)
    return binary


def section_ids(html: str) -> list[str]:
    return re.findall(r'<section id="([^"]+)"', html)


def assert_renders(binary: str, report: Path, sections: list[str], name: str) -> str:
    dom = open_page(binary, report, SCREENS / f"{name}.png")
    errors = re.search(r'<pre id="report-errors">(.*?)</pre>', dom, re.S)
    assert errors is not None and errors.group(1).strip() == "", errors.group(1) if errors else dom[-2000:]
    assert 'data-rendered="yes"' in dom  # the last script ran to its end
    assert section_ids(dom) == sections
    figures = re.findall(r'<div class="fig[^"]*" id="([^"]+)"', report.read_text())
    for fig in figures:  # plotly drew an SVG into every figure's div
        start = dom.index(f'id="{fig}"')
        end = dom.find('<div class="fig', start + 1)
        assert 'class="main-svg"' in dom[start: end if end > 0 else len(dom)], fig
    assert (SCREENS / f"{name}.png").stat().st_size > 10_000
    return dom


# --- in a real browser ---------------------------------------------------------------------


def test_quickstart_report_renders_in_chromium(quickstart: tuple[Path, subprocess.CompletedProcess[str]],
                                               browser: str) -> None:
    folder, _ = quickstart
    summary = json.loads((folder / "summary.json").read_text())["summary"]
    failures = len(pd.read_csv(folder / "failures.csv")) > 0
    dom = assert_renders(browser, folder / REPORT_FILE, expected_sections(summary, failures), "quickstart")
    assert "GPU utilization" in dom and "job_wait_p95_s" in dom


def test_sweep_report_renders_in_chromium(sweep_folder: Path, browser: str) -> None:
    assert_renders(browser, sweep_folder / REPORT_FILE, ["overview", "metrics", "comparisons"], "sweep")


def test_plan_report_renders_in_chromium(plan_folder: Path, browser: str) -> None:
    dom = assert_renders(browser, plan_folder / REPORT_FILE, ["overview", "front", "fleet", "rejected"], "plan")
    assert 'href="run/report.html"' in dom


def test_the_browser_check_catches_a_script_error(tmp_path: Path, browser: str) -> None:
    """The harness itself: a page whose script throws shows the error in the DOM."""
    bad = Section("broken", "Broken", parts=["<script>noSuchFunction();</script>",
                                             Figure([{"type": "scatter", "x": [1, 2], "y": [3, 4]}])])
    path = tmp_path / "bad.html"
    path.write_text(page("bad", "", [bad]))
    dom = open_page(browser, path)
    assert "noSuchFunction" in re.search(r'<pre id="report-errors">(.*?)</pre>', dom, re.S).group(1)


# --- the file itself -----------------------------------------------------------------------


def outside_library(html: str) -> str:
    """The page without the inlined plotly.js bundle (whose licence comments name web sites)."""
    start = html.index('<script id="plotly-js">')
    return html[:start] + html[html.index("</script>", start):]


@pytest.mark.parametrize("which", ["quickstart", "sweep", "plan"])
def test_report_holds_no_remote_reference(which: str, request: pytest.FixtureRequest) -> None:
    folder = {"quickstart": lambda: request.getfixturevalue("quickstart")[0],
              "sweep": lambda: request.getfixturevalue("sweep_folder"),
              "plan": lambda: request.getfixturevalue("plan_folder")}[which]()
    html = (folder / REPORT_FILE).read_text()
    assert html.count("<script") == html.count("</script>")
    assert not re.search(r"<script[^>]*\bsrc=", html)  # every script is inline
    assert not re.search(r"<link\b", html) and "@import" not in html and "url(" not in outside_library(html)
    assert not re.search(r"https?://", outside_library(html))  # no remote script, style, data or image
    assert str(folder) not in html  # no absolute path either


def test_quickstart_report_is_small_and_the_cli_says_where_it_is(
        quickstart: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    folder, proc = quickstart
    assert (folder / REPORT_FILE).stat().st_size < 5_000_000
    assert f"report:  {folder / REPORT_FILE}" in proc.stdout
    assert (folder / "world_map.png").is_file()


def test_report_is_byte_identical_for_the_same_run(quickstart: tuple[Path, subprocess.CompletedProcess[str]],
                                                   tmp_path: Path) -> None:
    again = tmp_path / "again"
    assert cli("run", "--out", str(again), cwd=tmp_path).returncode == 0
    assert (again / REPORT_FILE).read_bytes() == (quickstart[0] / REPORT_FILE).read_bytes()


def test_report_command_rewrites_a_run_folder_from_its_files(
        quickstart: tuple[Path, subprocess.CompletedProcess[str]], tmp_path: Path) -> None:
    """`swarmsim report` reads the folder back (no recorder: sampled rows) and writes every section."""
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(quickstart[0], copy)
    (copy / REPORT_FILE).unlink()
    proc = cli("report", str(copy), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((copy / "summary.json").read_text())["summary"]
    assert section_ids((copy / REPORT_FILE).read_text()) == expected_sections(summary, False)


def test_no_report_skips_it_and_a_wrong_folder_exits_2(tmp_path: Path) -> None:
    proc = cli("run", "--out", str(tmp_path / "r"), "--no-report", "--set", "horizon=4h", "--set", "warmup=1h",
               cwd=tmp_path)
    assert proc.returncode == 0 and not (tmp_path / "r" / REPORT_FILE).exists()
    assert "report:" not in proc.stdout
    (tmp_path / "empty").mkdir()
    bad = cli("report", str(tmp_path / "empty"), cwd=tmp_path)
    assert bad.returncode == 2 and str(tmp_path / "empty") in bad.stderr and "Traceback" not in bad.stderr
    assert not (tmp_path / "empty" / REPORT_FILE).exists()


def test_plan_report_says_why_each_rejected_candidate_failed(plan_folder: Path) -> None:
    """Every candidate that misses the SLO is listed with the deciding upper end of its interval."""
    html = (plan_folder / REPORT_FILE).read_text()
    table = pd.read_csv(plan_folder / "plan.csv")
    rejected = html[html.index('<section id="rejected"'):]
    for r in table[~table["meets"]].itertuples():
        assert f"{r.job_wait_mean_s_ci_high:.4g}" in rejected, r.candidate


# --- downsampling, coastlines, notebooks, progress -----------------------------------------


def test_downsampling_keeps_the_mean_and_bounds_the_points() -> None:
    """Buckets of equal size: the mean of the bucket means is the mean of the series (exact
    when the bucket size divides the length), and there are at most MAX_POINTS of them."""
    n = MAX_POINTS * 7
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"time_s": np.repeat(np.arange(n) * 60.0, 2), "region": ["a", "b"] * n,
                          "busy": rng.integers(0, 100, 2 * n).astype(float)})
    out, size = downsample(frame, "region", ["busy"])
    assert size == 7
    for region in ("a", "b"):
        part = out[out["region"] == region]
        assert len(part) == MAX_POINTS
        assert part["busy"].mean() == pytest.approx(frame.loc[frame["region"] == region, "busy"].mean(), rel=1e-12)
    summed, _ = downsample(frame, "region", ["busy"], how="sum")
    assert summed["busy"].sum() == frame["busy"].sum()  # counts are conserved
    short, size = downsample(frame.iloc[:100], "region", ["busy"])
    assert size == 1 and len(short) == 100


def test_cdf_points_are_exact_quantiles() -> None:
    values = np.arange(1, 100_001, dtype=float)
    x, y = cdf_points(values)
    assert len(x) == CDF_LEVELS + 1
    assert x[0] == 1 and x[-1] == 100_000
    assert np.interp(0.95, y, x) == pytest.approx(np.quantile(values, 0.95))
    small, share = cdf_points(np.array([3.0, 1.0, 2.0]))
    assert list(small) == [1, 2, 3] and list(share) == pytest.approx([1 / 3, 2 / 3, 1])


def test_coastlines_put_cities_on_land_and_oceans_at_sea() -> None:
    from swarmsim.plots.coastlines import land_path, land_polygons

    polygons = [MplPath(xy) for xy in land_polygons()]
    assert len(polygons) > 100

    def on_land(lon: float, lat: float) -> bool:
        return any(p.contains_point((lon, lat)) for p in polygons)

    for city in ((2.35, 48.86), (-105.0, 39.7), (139.7, 35.7), (-47.9, -15.8), (133.9, -23.7), (36.8, -1.3)):
        assert on_land(*city), city
    for sea in ((-30.0, 30.0), (-150.0, 0.0), (80.0, -30.0)):
        assert not on_land(*sea), sea
    lon, lat = land_path()
    assert len(lon) == len(lat) and lon.count(None) == len(polygons)


def test_notebook_accessors_return_axes() -> None:
    import matplotlib.pyplot as plt

    import swarmsim

    res = swarmsim.simulate(str(ROOT / "swarmsim" / "scenarios" / "quickstart.yaml"),
                            overrides={"horizon": "6h", "warmup": "1h"})
    from swarmsim.plots.coastlines import land_polygons

    for name in ("capacity", "cost", "waits", "latency", "slo", "failures", "map"):
        ax = getattr(res.plot, name)()
        assert isinstance(ax, Axes), name
        if name == "map":  # the PNG's world map draws every land polygon (one collection)
            assert any(len(c.get_paths()) == len(land_polygons()) for c in ax.collections)
        plt.close(ax.figure)


def test_progress_bars_only_on_a_terminal_unless_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    from swarmsim.render import ProgressBar, SweepProgress, progress_wanted

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("SWARMSIM_PROGRESS", raising=False)
    monkeypatch.delenv("CI", raising=False)
    assert not progress_wanted(io.StringIO()) and progress_wanted(Tty())
    monkeypatch.setenv("CI", "true")
    assert not progress_wanted(Tty())
    monkeypatch.setenv("SWARMSIM_PROGRESS", "1")
    assert progress_wanted(io.StringIO())
    quiet = io.StringIO()
    bar = ProgressBar(quiet, after_s=0.0, force=False)
    bar(3600.0, 7200.0)
    bar.close()
    assert quiet.getvalue() == ""
    shown = io.StringIO()
    runs = SweepProgress(shown, after_s=0.0, force=True)
    for done in range(1, 5):
        runs(done, 1, 4)
    runs.close()
    assert "4/4 runs" in shown.getvalue() and "failed=1" in shown.getvalue() and "left" in shown.getvalue()


def test_no_report_means_no_report_anywhere_in_a_plan_folder(tmp_path: Path) -> None:
    folder = tmp_path / "plan"
    proc = cli("plan", str(ROOT / "scenarios" / "plan-mmc.yaml"), "--slo", "job_wait_mean_s=3", "--seeds", "2",
               "--jobs", "1", "--set", "horizon=8h", "--no-report", "--out", str(folder), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (folder / "run" / "summary.json").is_file()  # the chosen plan's run is still written
    assert not list(folder.rglob(REPORT_FILE)), "plan --no-report wrote a report"
    assert "report:" not in proc.stdout
