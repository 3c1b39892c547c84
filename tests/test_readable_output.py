"""Issue #20 item 6: output that reads well (through the real command line where it is printed)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from swarmsim.cli import main


def _run_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["run", "--out", str(tmp_path / "run"), "--no-plots"]) == 0
    return capsys.readouterr().out


def test_run_summary_says_the_period_it_covers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The built-in quickstart: horizon 48 h, warm-up 6 h, so its figures cover 42 h."""
    text = _run_text(tmp_path, capsys)
    assert "48 h simulated, the first 6 h warm-up excluded: figures cover 42 h" in text.splitlines()[1]


def test_durations_print_with_a_spaced_unambiguous_unit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from swarmsim.render import duration_text, period_text

    text = _run_text(tmp_path, capsys)
    for line in text.splitlines():
        m = re.match(r"\s+(\w+_s)\s+(\S+)(?:\s(\S+))?$", line)
        if m and m.group(1) != "wall_time_s" and m.group(2) != "-":
            assert m.group(3) in ("ms", "s", "min", "h", "d"), line
    assert duration_text(127.26) == "2.121 min" and duration_text(7639) == "2.122 h"
    assert duration_text(0.25) == "250 ms" and duration_text(0) == "0 s"
    assert period_text(172800, 0) == "48 h simulated, no warm-up: figures cover all of it"


def test_region_table_columns_never_run_together(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A cost in the tens of millions still leaves spaces between the cells of the region table."""
    import pandas as pd

    from swarmsim.render import render_summary

    breakdown = pd.DataFrame([{"by": "region", "name": "us-east", "gpu_hours_provisioned": 9e6,
                               "gpu_utilization": 0.004, "cost_usd": 15_453_271.68, "jobs_started": 123456,
                               "job_wait_p95_s": 7639.0}])
    line = render_summary({"jobs_arrived": 1}, breakdown).splitlines()[-1]
    assert "0.4 %  " in line and "  $15,453,271.68  " in line
    assert len(line.split()) == 8  # name, GPU-h, util (2 words), cost, jobs, wait (2 words)


def test_from_trace_unknown_key_carries_did_you_mean(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = yaml.safe_load(Path("scenarios/trace-alibaba-2023.yaml").read_text())
    node_list = data["fleet"]["us-east"]["from_trace"]
    node_list["path"] = str(Path(__file__).parent / "data" / "nodes" / "alibaba2023_nodes.csv")  # no SWARMSIM_DATA
    node_list["gpu_mpa"] = node_list.pop("gpu_map")
    data["workloads"]["openb"]["trace"]["path"] = str(Path(__file__).parent / "data" / "jobs" / "alibaba2023_pods.csv")
    path = tmp_path / "typo.yaml"
    path.write_text(yaml.safe_dump(data))
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "unknown key 'gpu_mpa' (did you mean 'gpu_map'?)" in err


def test_plan_says_why_it_stopped_early(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """plan-mmc at a 3 s mean wait: the analytic start (12 nodes) meets; the trims (10, 11) miss."""
    assert main(["plan", "scenarios/plan-mmc.yaml", "--slo", "job_wait_mean_s=3", "--seeds", "2", "--jobs", "2",
                 "--out", str(tmp_path / "p")]) == 0
    err = capsys.readouterr().err
    done = [line for line in err.splitlines() if line.startswith("search done after 3 candidates")]
    assert done and "until one node fewer missed the SLOs" in done[0]


def test_one_point_cost_plot_holds_the_slo_line_and_dollar_ticks() -> None:
    import matplotlib

    matplotlib.use("Agg")
    from types import SimpleNamespace

    import matplotlib.pyplot as plt
    import pandas as pd

    from swarmsim.planning.plots import plot_cost_vs_slo
    from swarmsim.planning.slo import Slo
    from swarmsim.scenario import load_scenario

    table = pd.DataFrame([{"candidate": 0, "cost_usd_per_month": 17520.0, "meets": True,
                           "job_wait_mean_s_mean": 2.0, "job_wait_mean_s_ci_low": 1.9,
                           "job_wait_mean_s_ci_high": 2.1}])
    one = SimpleNamespace(slos=[Slo("job_wait_mean_s", 3.0)], table=table, recommended=table.iloc[0].to_dict(),
                          base=load_scenario("scenarios/plan-mmc.yaml"), fleet=None)
    ax = plot_cost_vs_slo(one)
    ax.figure.canvas.draw()
    low, high = ax.get_ylim()
    assert low < 0.7 < 1.0 < high  # the point and the SLO line
    left, right = ax.get_xlim()
    labels = [t.get_text() for t in ax.get_xticklabels() if t.get_text() and left <= t.get_position()[0] <= right]
    assert labels and all(t.startswith("$") for t in labels) and len(labels) <= 6
    plt.close(ax.figure)


def test_capacity_legend_leaves_the_warmup_band_free() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    from swarmsim.plots.run import plot_capacity

    ts = pd.DataFrame({"time_s": [0, 3600, 7200, 10800], "region": "r", "provisioned_gpus": 8,
                       "busy_gpus": [0, 4, 6, 7], "queued_gpus": 0})
    ax = plot_capacity(ts, warmup_s=3600)
    ax.figure.canvas.draw()
    legend = ax.get_legend().get_window_extent()
    band = ax.transData.transform([(0, 0), (1, 8)])
    assert legend.x0 > max(band[:, 0]) or legend.y1 < min(band[:, 1])  # no overlap with the band
    plt.close(ax.figure)
