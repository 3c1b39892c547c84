"""Issue #20 item 5: intervals that respect each figure's support (named in a ``ci_method``
column), and adaptive replication in ``swarmsim plan`` (``--max-seeds``)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from swarmsim.cli import main
from swarmsim.experiments.stats import compare, interval, summarize


def _table(values: dict[str, list[float]]) -> pd.DataFrame:
    n = len(next(iter(values.values())))
    return pd.DataFrame({"point": [0] * n, "seed": list(range(n)), "status": ["ok"] * n, **values})


def test_a_skewed_non_negative_figure_keeps_its_interval_above_zero() -> None:
    """The issue's case: a mean wait of 183 ms with a Student-t half-width of 642 ms. The log-t
    interval is mean * exp(-/+ t se / mean): positive, holding the mean, wider above than below."""
    waits = [0.0, 0.0, 0.0, 0.9171]  # one seed with a burst of waiting, three with none: mean 0.2293 s
    row = summarize(_table({"job_wait_mean_s": waits})).iloc[0]
    x = np.array(waits)
    se = x.std(ddof=1) / 2
    t = sps.t.ppf(0.975, 3)
    assert row["mean"] - t * se < 0  # what Student t gave
    assert row["ci_method"] == "log-t"
    assert row["ci_low"] == pytest.approx(x.mean() * math.exp(-t * se / x.mean()))
    assert row["ci_high"] == pytest.approx(x.mean() * math.exp(t * se / x.mean()))
    assert 0 < row["ci_low"] < row["mean"] < row["ci_high"]
    assert row["ci_high"] >= row["mean"] + t * se  # never more lenient on an at-most SLO


def test_a_share_stays_inside_zero_and_one() -> None:
    shares = [0.999, 0.93, 1.0]
    row = summarize(_table({"slo_attainment": shares})).iloc[0]
    x = np.array(shares)
    half = sps.t.ppf(0.975, 2) * x.std(ddof=1) / math.sqrt(3)
    assert x.mean() + half > 1  # Student t leaves [0, 1]
    assert row["ci_method"] == "logit-t" and 0 < row["ci_low"] < row["mean"] < row["ci_high"] < 1


def test_figure_of_unknown_sign_and_paired_differences_keep_student_t() -> None:
    table = _table({"delta": [-1.0, 0.5, 2.0], "cost_usd": [1.0, 2.0, 3.0]})
    row = summarize(table, ["delta"]).iloc[0]
    _, _, low, high = interval(np.array([-1.0, 0.5, 2.0]))
    assert row["ci_method"] == "t" and (row["ci_low"], row["ci_high"]) == pytest.approx((low, high))
    two = pd.concat([table, table.assign(point=1, cost_usd=[1.5, 1.0, 4.0])], ignore_index=True)
    cmp = compare(two, 0, 1, "cost_usd").iloc[0]
    assert cmp["ci_method"] == "paired-t" and cmp["ci_low"] < 0 < cmp["ci_high"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0, 1e6, allow_nan=False), min_size=2, max_size=12))
def test_log_t_holds_the_mean_never_goes_below_zero_and_covers_the_t_upper_end(xs: list[float]) -> None:
    x = np.array(xs)
    mean, _, low, high = interval(x, 0.95, "log-t")
    _, _, _, t_high = interval(x, 0.95, "t")
    assert 0 <= low <= mean * (1 + 1e-12) and high >= mean * (1 - 1e-12)
    assert high >= t_high * (1 - 1e-9)


def test_cli_sweep_and_compare_print_intervals_above_zero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Through the real command line: every interval of a non-negative figure starts at >= 0 in
    results' summary text, and the table names its method."""
    out, scenario = tmp_path / "sw", tmp_path / "short-mmc.yaml"
    text = Path("scenarios/plan-mmc.yaml").read_text()
    scenario.write_text(text.replace("horizon: 40h", "horizon: 3h").replace("warmup: 2h", "warmup: 30m"))
    assert main(["sweep", str(scenario), "--grid", "fleet.us-east.a1x1=9,10", "--seeds", "2",
                 "--jobs", "1", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "±" not in text and "log-t" in text
    table = pd.read_csv(out / "results.csv")
    summary = summarize(table, ["job_wait_mean_s", "job_wait_p95_s"])
    assert (summary["ci_low"] >= 0).all() and set(summary["ci_method"]) == {"log-t"}
    assert main(["compare", str(out), "--metric", "job_wait_mean_s"]) == 0
    text = capsys.readouterr().out
    assert "-" not in text.split("\n")[1].split("[")[1].split(",")[0]  # the lower end is not negative


# --- adaptive replication -------------------------------------------------------------------


def _plan(tmp_path: Path, name: str, *seeds: str) -> tuple[dict, pd.DataFrame]:
    out = tmp_path / name
    assert main(["plan", "scenarios/plan-mmc.yaml", "--slo", "job_wait_mean_s=5.3", *seeds, "--jobs", "2",
                 "--out", str(out)]) == 0
    return json.loads((out / "plan.json").read_text()), pd.read_csv(out / "plan.csv")


@pytest.mark.slow
def test_adaptive_plan_matches_the_ten_seed_answer_with_fewer_runs(tmp_path: Path) -> None:
    """M/M/c at 8 Erlang, 1-minute jobs: Erlang C gives a mean wait of 4.9 s with 11 nodes and
    2.1 s with 12, so at a 5.3 s SLO the answer is 11 nodes. With 2 fixed seeds the 11-node
    interval straddles 5.3 s and the plan buys 12; with 10 it meets. Starting at 2 and adding
    seeds only where the interval straddles the bound gives the 10-seed answer for fewer runs."""
    two, _ = _plan(tmp_path, "two", "--seeds", "2")
    ten, _ = _plan(tmp_path, "ten", "--seeds", "10")
    ada, table = _plan(tmp_path, "ada", "--seeds", "2", "--max-seeds", "10")
    nodes = {k: p["recommended"]["nodes.us-east.a1x1"] for k, p in (("two", two), ("ten", ten), ("ada", ada))}
    assert nodes == {"two": 12, "ten": 11, "ada": 11}
    assert ada["recommended"]["cost_usd_per_month"] == ten["recommended"]["cost_usd_per_month"]
    assert ada["simulations_run"] < ten["simulations_run"]
    # The decided candidates stopped early; the undecided one grew 2 -> 4 -> 8 (-> 10).
    assert table["runs"].min() == 2 and table.loc[table["nodes.us-east.a1x1"] == 11, "runs"].iloc[0] > 2
    assert ada["max_seeds"] == 10 and table["runs"].sum() == ada["simulations_run"]
    # Re-running resumes every batch of seeds: nothing runs twice.
    again, _ = _plan(tmp_path, "ada", "--seeds", "2", "--max-seeds", "10")
    assert again["simulations_run"] == 0 and again["simulations_reused"] == ada["simulations_run"]
    assert again["recommended"]["nodes.us-east.a1x1"] == 11


def test_max_seeds_below_seeds_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "p"
    assert main(["plan", "scenarios/plan-mmc.yaml", "--slo", "job_wait_mean_s=3", "--seeds", "4",
                 "--max-seeds", "3", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--max-seeds" in err and not out.exists()
