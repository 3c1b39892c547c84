"""The report of one run: headline figures, capacity against demand, cost, waits and latency,
SLO attainment, scaling actions, failures and the world map, each a ``<section>``.

It reads a :class:`~swarmsim.plots.base.RunFrames` (a fresh ``Result`` or a run folder read back
by :meth:`swarmsim.result.Result.load`); time is in hours on every axis."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from swarmsim.atomic import write_atomic
from swarmsim.plots.base import RunFrames
from swarmsim.render import fmt
from swarmsim.report.headline import MEANINGS, card_value, shown_keys
from swarmsim.report.html import REPORT_FILE, Figure, Section, esc, page, table
from swarmsim.report.runmap import map_section
from swarmsim.report.series import cdf_points, downsample, thin

H = 3600.0


def _regions(result: RunFrames) -> list[str]:
    """Regions with any provisioned or queued GPU, in scenario order."""
    ts = result.timeseries
    if not len(ts):
        return []
    used = ts.groupby(ts["region"].astype(str))[["provisioned_gpus", "queued_gpus"]].sum().sum(axis=1)
    return [r for r in result.scenario.regions if used.get(r, 0) > 0]


def _warmup_shape(warmup_s: float) -> list[dict[str, Any]]:
    if warmup_s <= 0:
        return []
    return [{"type": "rect", "xref": "x", "yref": "paper", "x0": 0, "x1": warmup_s / H, "y0": 0, "y1": 1,
             "fillcolor": "#bbb", "opacity": 0.25, "line": {"width": 0}, "layer": "below"}]


def _time_layout(title: str, ytitle: str, warmup_s: float, **extra: Any) -> dict[str, Any]:
    return {"title": {"text": title, "font": {"size": 14}}, "xaxis": {"title": {"text": "simulated time (h)"}},
            "yaxis": {"title": {"text": ytitle}, "rangemode": "tozero"}, "shapes": _warmup_shape(warmup_s),
            "hovermode": "x unified", **extra}


def _bucket_note(size: int, step_s: float) -> str:
    if size <= 1:
        return ""
    return (f'<p class="note">Long run: each point is the mean of {size} samples '
            f"({fmt('x_s', size * step_s)} buckets; docs/report.md, Downsampling).</p>")


def _step(ts: pd.DataFrame) -> float:
    times = np.unique(ts["time_s"].to_numpy(dtype=float))
    return float(np.min(np.diff(times))) if len(times) > 1 else 0.0


def headline_section(result: RunFrames) -> Section:
    s = result.summary
    sc = result.scenario
    window_h = (sc.horizon - sc.warmup) / H
    found = []
    if s.get("jobs_arrived"):
        found.append(f"{s.get('jobs_completed', 0):,} of {s['jobs_arrived']:,} training jobs finished; "
                     f"95 % started within {fmt('job_wait_p95_s', s.get('job_wait_p95_s'))}")
    if s.get("requests_arrived"):
        found.append(f"{s.get('requests_completed', 0):,} of {s['requests_arrived']:,} requests completed, "
                     f"99 % within {fmt('request_latency_p99_s', s.get('request_latency_p99_s'))}, "
                     f"{fmt('slo_attainment', s.get('slo_attainment'))} met their SLO")
    found.append(f"the GPUs were {fmt('gpu_utilization', s.get('gpu_utilization'))} busy and cost "
                 f"{fmt('cost_usd', s.get('cost_usd'))} over {window_h:g} h "
                 f"({fmt('idle_cost_usd', s.get('idle_cost_usd'))} of it idle)")
    if s.get("node_failures") or s.get("outages"):
        found.append(f"node failures: {s.get('node_failures', 0):,}, region outages: {s.get('outages', 0):,}")
    sec = Section("headline", "What the run found",
                  esc("; ".join(found)) + ". Figures cover the measurement window "
                  f"({fmt('x_s', sc.warmup)} warm-up excluded, horizon {fmt('x_s', sc.horizon)}).")
    cards = []
    for k in shown_keys(s):
        label, unit, meaning = MEANINGS[k]
        unit = "duration" if unit == "time" else unit
        cards.append(f'<div class="card" title="{esc(k)}"><div class="v">{esc(card_value(k, s.get(k)))}</div>'
                     f"<div>{esc(label)} <span class=\"note\">({esc(unit)})</span></div>"
                     f'<div class="m">{esc(meaning)}</div><div class="k">{esc(k)}</div></div>')
    sec.add(f'<div class="cards">{"".join(cards)}</div>')
    bd = result.breakdown
    if len(bd):
        rows = [[esc(r["name"]), f"{r['gpu_hours_provisioned']:,.0f}", fmt("gpu_utilization", r["gpu_utilization"]),
                 fmt("cost_usd", r["cost_usd"]), f"{int(r['jobs_started']):,}",
                 fmt("job_wait_p95_s", r["job_wait_p95_s"])] for _, r in bd[bd["by"] == "region"].iterrows()]
        sec.add("<h3>Per region</h3>", table(["region", "GPU-h billed", "utilization", "cost", "jobs started",
                                              "job wait p95"], rows))
    return sec


def capacity_section(result: RunFrames) -> Section:
    warm = result.scenario.warmup
    sec = Section("capacity", "Capacity against demand, per region",
                  "Provisioned (billed) GPUs, busy GPUs and demand (busy + queued GPUs) over time. "
                  "Demand above the provisioned line is work waiting for GPUs. Grey: warm-up, excluded "
                  "from every figure. Drag to zoom on time, double-click to reset.")
    cols = ["provisioned_gpus", "busy_gpus", "queued_gpus"]
    ts, size = downsample(result.timeseries, "region", cols)
    regions = _regions(result)
    if not regions:
        return sec.add('<p class="note">No region held or wanted a GPU.</p>')
    sec.add(_bucket_note(size, _step(result.timeseries)))
    for region in regions:
        g = ts[ts["region"] == region]
        x = (g["time_s"] / H).to_numpy()
        traces = [
            {"type": "scatter", "x": x, "y": g["busy_gpus"].to_numpy(), "name": "busy GPUs", "fill": "tozeroy",
             "line": {"shape": "hv", "color": "#2ca02c", "width": 1}, "fillcolor": "rgba(44,160,44,0.3)"},
            {"type": "scatter", "x": x, "y": (g["busy_gpus"] + g["queued_gpus"]).to_numpy(),
             "name": "demand (busy + queued)", "line": {"shape": "hv", "color": "#d62728"}},
            {"type": "scatter", "x": x, "y": g["provisioned_gpus"].to_numpy(), "name": "provisioned GPUs",
             "line": {"shape": "hv", "color": "#1f77b4"}},
        ]
        sec.add(Figure(traces, _time_layout(f"{region}", "GPUs", warm), height=300))
    return sec


def cost_section(result: RunFrames) -> Section:
    warm = result.scenario.warmup
    sec = Section("cost", "Cost over time, by region and pricing",
                  "The billing rate (USD per hour) of each region's provisioned GPUs and their total; then the "
                  "window's cost by GPU type and the prices paid.")
    ts, size = downsample(result.timeseries, "region", ["cost_usd_per_hour"])
    traces = []
    for region in _regions(result):
        g = ts[ts["region"] == region]
        traces.append({"type": "scatter", "x": (g["time_s"] / H).to_numpy(), "y": g["cost_usd_per_hour"].to_numpy(),
                       "name": region, "line": {"shape": "hv"}, "hovertemplate": "%{y:$,.2f}/h"})
    total = ts.groupby("time_s", sort=True)["cost_usd_per_hour"].sum()
    traces.append({"type": "scatter", "x": total.index.to_numpy() / H, "y": total.to_numpy(), "name": "all regions",
                   "line": {"shape": "hv", "color": "#000", "dash": "dot"}, "hovertemplate": "%{y:$,.2f}/h"})
    sec.add(_bucket_note(size, _step(result.timeseries)),
            Figure(traces, _time_layout("Billing rate by region", "USD per hour", warm), height=340))
    bd = result.breakdown
    if len(bd):
        by_type = bd[(bd["by"] != "region") & (bd["cost_usd"] > 0)]
        if len(by_type):
            bars = {"type": "bar", "x": by_type["cost_usd"].to_numpy(), "y": by_type["name"].astype(str).tolist(),
                    "orientation": "h", "marker": {"color": "#ff7f0e"}, "hovertemplate": "%{x:$,.2f}"}
            sec.add(Figure([bars],
                           {"title": {"text": "Cost by GPU type (measurement window)", "font": {"size": 14}},
                            "xaxis": {"title": {"text": "USD"}},
                            "yaxis": {"autorange": "reversed", "automargin": True}},
                           height=80 + 32 * len(by_type)))
    bill = result.billing
    if len(bill):
        start = np.maximum(bill["start_s"].to_numpy(dtype=float), warm)
        end = np.minimum(np.nan_to_num(bill["end_s"].to_numpy(dtype=float), nan=result.scenario.horizon),
                         result.scenario.horizon)
        gpu_h = bill["gpus"].to_numpy(dtype=float) * np.maximum(end - start, 0.0) / H
        frame = pd.DataFrame({"region": bill["region"].astype(str), "node_type": bill["node_type"].astype(str),
                              "price": bill["usd_per_gpu_hour"].to_numpy(dtype=float), "gpu_h": gpu_h})
        frame["cost"] = frame["price"] * frame["gpu_h"]
        if "pricing" in bill.columns:  # a pricing: section: its costs (commitment rows, rounding)
            nodes = bill["node_id"].to_numpy() >= 0
            frame["gpu_h"] = np.where(nodes, frame["gpu_h"], 0.0)
            frame["cost"] = bill["cost_usd"].to_numpy(dtype=float)
            frame["node_type"] = frame["node_type"] + " (" + bill["pricing"].astype(str) + ")"
        agg = frame.groupby(["region", "node_type", "price"], sort=False)[["gpu_h", "cost"]].sum().reset_index()
        rows = [[esc(r["region"]), esc(r["node_type"]), f"${r['price']:,.3f}", f"{r['gpu_h']:,.0f}",
                 fmt("cost_usd", r["cost"])] for _, r in agg.iterrows()]
        sec.add("<h3>Pricing</h3>", table(["region", "node type", "USD per GPU-hour (billed)", "GPU-h in window",
                                            "GPU cost"], rows, numeric_from=2))
    return sec


def waits_section(result: RunFrames) -> Section:
    sc = result.scenario
    sec = Section("waits", "Wait and latency distributions",
                  "Cumulative distributions: how many jobs started within a given wait, and how many requests "
                  "finished within a given latency (log scales). Read the p95 where a curve crosses 0.95.")
    jobs = result.jobs
    if len(jobs):
        started = jobs[jobs["start_s"].notna() & (jobs["arrival_s"] >= sc.warmup)]
        traces = []
        for region, g in started.groupby(started["region"].astype(str), sort=False):
            x, y = cdf_points(g["wait_s"].to_numpy(dtype=float) / 60.0)
            traces.append({"type": "scatter", "x": np.maximum(x, 1e-3), "y": y, "name": f"{region} ({len(g):,} jobs)",
                           "line": {"shape": "hv"}, "hovertemplate": "%{x:.3g} min: %{y:.1%}"})
        sec.add(Figure(traces, {"title": {"text": "Job wait (arrival to start), started jobs", "font": {"size": 14}},
                                "xaxis": {"title": {"text": "wait (min, log; 0 drawn at 0.001)"}, "type": "log"},
                                "yaxis": {"title": {"text": "share of started jobs"}, "range": [0, 1.02]}}))
    if result.summary.get("requests_arrived"):
        sec.add(_latency_figure(result))
    return sec


def _latency_figure(result: RunFrames) -> Figure:
    from swarmsim.metrics.requests import latency_cdf
    from swarmsim.plots.run import _latency_slos

    traces: list[dict[str, Any]] = []
    rec = result.request_recorder
    if rec is not None:
        for o, name in enumerate(rec.region_names):
            if rec.completed[o]:
                x, y = latency_cdf(rec, name)
                traces.append({"type": "scatter", "x": x, "y": y, "name": f"users in {name} ({rec.completed[o]:,})",
                               "hovertemplate": "%{x:.3g} s: %{y:.1%}"})
        what = "every completed request (0.5 % bins)"
    else:
        rows = result.requests
        done = rows[(rows["status"].astype(str) == "completed") & (rows["arrival_s"] >= result.scenario.warmup)]
        for name, g in done.groupby(done["origin"].astype(str), sort=False):
            x, y = cdf_points(g["latency_s"].to_numpy(dtype=float))
            traces.append({"type": "scatter", "x": x, "y": y, "name": f"users in {name} ({len(g):,} sampled)",
                           "line": {"shape": "hv"}, "hovertemplate": "%{x:.3g} s: %{y:.1%}"})
        what = "the sampled completed requests"
    shapes = [{"type": "line", "xref": "x", "yref": "paper", "x0": v, "x1": v, "y0": 0, "y1": 1,
               "line": {"dash": "dash", "color": "#000", "width": 1.2}} for v in _latency_slos(result.scenario)]
    notes = [{"x": np.log10(v), "y": 1.0, "xref": "x", "yref": "paper", "text": f"SLO p99 {v:g} s ({', '.join(n)})",
              "showarrow": False, "xanchor": "left", "yanchor": "bottom", "font": {"size": 10}}
             for v, n in _latency_slos(result.scenario).items()]
    return Figure(traces, {"title": {"text": f"Request latency (arrival to last token), {what}", "font": {"size": 14}},
                           "xaxis": {"title": {"text": "latency (s, log)"}, "type": "log"},
                           "yaxis": {"title": {"text": "share of completed requests"}, "range": [0, 1.02]},
                           "shapes": shapes, "annotations": notes})


def slo_section(result: RunFrames) -> Section:
    sec = Section("slo", "SLO attainment",
                  "Share of requests that met every SLO of their service (dropped requests never do), per user "
                  "region over time; the table gives the window's figures per user region.")
    rts = result.request_timeseries
    if len(rts):
        frame, size = downsample(rts, "origin", ["slo_met", "completed", "dropped"], how="sum")
        traces = []
        for origin, g in frame.groupby("origin", sort=False):
            decided = (g["completed"] + g["dropped"]).to_numpy(dtype=float)
            share = np.divide(g["slo_met"].to_numpy(dtype=float), decided, out=np.full(len(g), np.nan),
                              where=decided > 0)
            traces.append({"type": "scatter", "x": (g["time_s"] / H).to_numpy(), "y": share, "name": str(origin),
                           "mode": "lines", "hovertemplate": "%{y:.1%}"})
        sec.add(_bucket_note(size, _step(rts)),
                Figure(traces, _time_layout("SLO attainment by user region", "share meeting the SLO",
                                            result.scenario.warmup, yaxis={"range": [0, 1.02], "tickformat": ".0%"})))
    bd = result.breakdown
    users = bd[bd["by"] == "origin"] if len(bd) else bd
    if len(users):
        rows = [[esc(r["name"]), f"{int(r['requests_arrived']):,}", f"{int(r['requests_dropped']):,}",
                 fmt("x_s", r["request_latency_p50_s"]), fmt("x_s", r["request_latency_p99_s"]),
                 fmt("slo_attainment", r["slo_attainment"])] for _, r in users.iterrows()]
        sec.add(table(["users in", "requests", "dropped", "latency p50", "latency p99", "SLO attainment"], rows))
    return sec


def scaling_section(result: RunFrames) -> Section:
    warm = result.scenario.warmup
    acts = result.actions
    applied = acts[acts["applied"].fillna(0) > 0] if len(acts) else acts
    sec = Section("scaling", "Scaling actions on the timeline",
                  "Every action a policy took that changed the fleet, on top of the total provisioned GPUs and "
                  "demand; hover a marker for the region, the nodes and the policy's reason.")
    ts, size = downsample(result.timeseries, "region", ["provisioned_gpus", "busy_gpus", "queued_gpus"])
    total = ts.groupby("time_s", sort=True)[["provisioned_gpus", "busy_gpus", "queued_gpus"]].sum()
    x = (total.index.to_numpy() / H)
    traces: list[dict[str, Any]] = [
        {"type": "scatter", "x": x, "y": total["provisioned_gpus"].to_numpy(), "name": "provisioned GPUs (all)",
         "line": {"shape": "hv", "color": "#1f77b4"}},
        {"type": "scatter", "x": x, "y": (total["busy_gpus"] + total["queued_gpus"]).to_numpy(),
         "name": "demand (all)", "line": {"shape": "hv", "color": "#d62728", "width": 1}}]
    if not len(applied):
        sec.add('<p class="note">No scaling action changed the fleet (a static fleet, or the policies never '
                "had to act).</p>")
    top = float(total["provisioned_gpus"].max()) if len(total) else 1.0
    for action, g in applied.groupby(applied["action"].astype(str), sort=True) if len(applied) else []:
        shown, n = thin(g)
        when = shown["time_effective_s"].fillna(shown["time_decided_s"]).to_numpy(dtype=float)
        text = [f"{esc(r.region)}: {esc(r.action)} {'' if pd.isna(r.count) else int(r.count)} × {esc(r.node_type)}"
                f" ({esc(r.policy)})<br>{esc(r.reason)}" for r in shown.itertuples()]
        traces.append({"type": "scatter", "mode": "markers", "x": when / H, "y": np.full(len(shown), top * 1.05),
                       "name": f"{action} ({n:,})", "text": text, "hovertemplate": "%{text}<extra></extra>",
                       "marker": {"size": 9, "symbol": "triangle-down"}})
    return sec.add(_bucket_note(size, _step(result.timeseries)),
                   Figure(traces, _time_layout("Fleet and scaling actions", "GPUs", warm, hovermode="closest")))


def failures_section(result: RunFrames) -> Section:
    warm = result.scenario.warmup
    sec = Section("failures", "Failures and outages",
                  "Ready GPUs per region; each node that went down is a marker at the moment it went (by cause), "
                  "each region outage a shaded band.")
    ts, size = downsample(result.timeseries, "region", ["ready_gpus"])
    traces: list[dict[str, Any]] = []
    for region in _regions(result):
        g = ts[ts["region"] == region]
        traces.append({"type": "scatter", "x": (g["time_s"] / H).to_numpy(), "y": g["ready_gpus"].to_numpy(),
                       "name": f"ready GPUs, {region}", "line": {"shape": "hv"}})
    fail = result.failures
    cause = fail["cause"].astype(str)
    shapes = _warmup_shape(warm)
    horizon = result.scenario.horizon
    for r in fail[cause == "outage"].itertuples():
        back = r.back_s if np.isfinite(r.back_s) else horizon
        shapes.append({"type": "rect", "xref": "x", "yref": "paper", "x0": r.time_s / H, "x1": back / H, "y0": 0,
                       "y1": 1, "fillcolor": "#d62728", "opacity": 0.12, "line": {"width": 0}})
    top = float(ts["ready_gpus"].max()) if len(ts) else 1.0
    nodes = fail[cause != "outage"]
    symbols = {"failure": "x", "churn": "triangle-up", "spot": "square"}
    for c, g in nodes.groupby(nodes["cause"].astype(str), sort=True):
        shown, n = thin(g)
        text = [f"{esc(r.region)} node {r.node_id} ({esc(r.node_type)}, {r.gpus} GPUs)" for r in shown.itertuples()]
        traces.append({"type": "scatter", "mode": "markers", "x": shown["time_s"].to_numpy(dtype=float) / H,
                       "y": np.full(len(shown), top * 1.05), "name": f"node down: {c} ({n:,})", "text": text,
                       "hovertemplate": "%{text}<extra></extra>", "marker": {"symbol": symbols.get(c, "circle")}})
    outages = fail[cause == "outage"]
    if len(outages):
        rows = [[esc(r.region), fmt("x_s", r.time_s), fmt("x_s", r.back_s) if np.isfinite(r.back_s) else "not back"]
                for r in outages.itertuples()]
        sec.add(table(["region out", "from", "back at"], rows))
    layout = _time_layout("Ready GPUs, failures and outages", "ready GPUs", 0.0, hovermode="closest")
    layout["shapes"] = shapes
    return sec.add(_bucket_note(size, _step(result.timeseries)), Figure(traces, layout))


def _sharing(summary: dict[str, Any]) -> bool:
    """Whether a run is a sharing fleet's workload inflation (``swarmsim/sharing_run.py``)."""
    return "requested_gpu_fraction" in summary


def run_page(result: RunFrames) -> str:
    """The HTML report of one run."""
    sc = result.scenario
    if _sharing(result.summary):  # a GPU-sharing inflation run: no time axis, its own figures
        note = Section("sharing", "GPU sharing: allocation against arrived work",
                       "This run places tasks one after another without departures until the requested GPUs "
                       "reach the stated share of the cluster (docs/sharing.md); timeseries.csv holds "
                       "allocated, idle and fragmented GPUs per 1 % of capacity arrived.")
        return page(f"swarmsim run: {sc.name}", esc(f"seed {sc.seed}, scenario hash {sc.digest()[:8]}"),
                    [headline_section(result), note])
    sections = [headline_section(result), capacity_section(result), cost_section(result), waits_section(result)]
    if result.summary.get("requests_arrived"):
        sections.append(slo_section(result))
    sections.append(scaling_section(result))
    if len(result.failures):
        sections.append(failures_section(result))
    sections.append(map_section(result))
    subtitle = esc(f"{len(sc.regions)} regions, horizon {fmt('x_s', sc.horizon)}, seed {sc.seed}, "
                   f"scenario hash {sc.digest()[:8]}")
    return page(f"swarmsim run: {sc.name}", subtitle, sections)


def expected_sections(summary: dict[str, Any], failures: bool) -> list[str]:
    """The section ids a run's report has (tests check them)."""
    if _sharing(summary):
        return ["headline", "sharing"]
    ids = ["headline", "capacity", "cost", "waits"]
    if summary.get("requests_arrived"):
        ids.append("slo")
    ids.append("scaling")
    if failures:
        ids.append("failures")
    return [*ids, "map"]


__all__ = ["expected_sections", "run_page"]


def run_report(result: RunFrames, folder: str | os.PathLike[str]) -> Path:
    """Write ``report.html`` of a run (a ``Result``, fresh or :meth:`~swarmsim.result.Result.load`-ed)
    into ``folder``, atomically."""
    return write_atomic(Path(folder) / REPORT_FILE, run_page(result))
