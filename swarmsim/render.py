"""Plain text for people: the headline figures and per-region table of a run, a sweep's
intervals, what a trace holds, and the progress lines a long run or sweep writes on stderr.
Functions from data to ``str``; the CLI prints them."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any

from swarmsim.units import format_duration


def render_trace(s: Any) -> str:
    """A :class:`~swarmsim.traces.inspect.TraceSummary` as plain text."""
    from swarmsim.traces.inspect import QUANTILES

    rows = f"{s.rows:,}" + (" (kinds of node)" if s.kind == "nodes" else "")
    lines = [f"{Path(s.path).name}  ({s.format}, {s.kind})", f"  rows                {rows}"]
    if s.kind == "nodes":
        lines += ["", f"  {'GPU model':<24}{'GPUs/node':>10}{'nodes':>10}{'GPUs':>10}"]
        for (model, gpus), count in sorted(s.nodes.items(), key=lambda kv: (-kv[1] * kv[0][1], kv[0])):
            lines.append(f"  {model:<24}{gpus:>10}{count:>10,}{count * gpus:>10,}")
        total_nodes = sum(s.nodes.values())
        total_gpus = sum(c * g for (_, g), c in s.nodes.items())
        lines.append(f"  {'total':<24}{'':>10}{total_nodes:>10,}{total_gpus:>10,}")
    elif s.arrivals:
        def at(t: float) -> str:
            when = f" ({(s.clock + timedelta(seconds=t)).isoformat(sep=' ', timespec='seconds')})" if s.clock else ""
            return f"{format_duration(t)}{when}"

        lines += [
            f"  arrivals            {s.arrivals:,}",
            f"  first submit        {at(s.first_s)}",
            f"  last submit         {at(s.last_s)}",
            f"  span                {format_duration(s.span_s)}",
            f"  mean arrival rate   {_per_hour(s.mean_rate_per_s * 3600)}/h ({s.mean_rate_per_s:.4g}/s)",
            "",
            "  arrivals by hour of day " + ("(trace clock)" if s.clock else "(hours from the trace's time 0)"),
            f"  {'hour':>4}{'covered':>10}{'arrivals':>10}{'rate/h':>10}",
        ]
        rates = s.hourly_rate_per_h()
        top = max((r for r in rates if math.isfinite(r)), default=0.0) or 1.0
        for h in range(24):
            if s.hour_exposure_s[h] > 0:
                bar = "#" * round(20 * rates[h] / top)
                lines.append(f"  {h:>4}{format_duration(s.hour_exposure_s[h]):>10}{s.hour_counts[h]:>10,}"
                             f"{_per_hour(rates[h]):>10}  {bar}")
    else:
        lines.append("  arrivals            none with a submit time")
    heads = "".join(f"{'p' + format(100 * q, 'g'):>9}" for q in QUANTILES)
    if s.kind == "jobs":
        if s.gpus:
            total = sum(s.gpus.values())
            lines += ["", f"  GPUs per job ({total:,} GPU jobs)", f"  {'GPUs':>8}{'jobs':>10}{'share':>8}"]
            shown = sorted(s.gpus.items(), key=lambda kv: -kv[1])[:12]
            for value, count in sorted(shown):
                lines.append(f"  {value:>8g}{count:>10,}{count / total:>8.3f}")
            rest = total - sum(c for _, c in shown)
            if rest:
                lines.append(f"  {'other':>8}{rest:>10,}{rest / total:>8.3f}")
        if s.gpu_models and set(s.gpu_models) != {""}:
            lines += ["", "  GPU models asked for"]
            lines += [f"  {model or '(any)':<20}{count:>10,}" for model, count in s.gpu_models.most_common(12)]
        d = s.durations
        lines += ["", f"  duration ({d.seen:,} finished, {s.running:,} still running)" + (
            f", quantiles from a sample of {len(d.values):,}" if d.seen > len(d.values) else "")]
        if d.seen:
            q = d.quantiles()
            lines += [f"  {heads}{'max':>9}", "  " + "".join(f"{format_duration(q[p]):>9}" for p in QUANTILES)
                      + f"{format_duration(float(d.values.max())) if d.seen == len(d.values) else '-':>9}"]
    if s.kind == "requests":
        lines += ["", f"  tokens per request{'':<6}{heads}{'mean':>9}"]
        for label, r in (("prompt", s.prompt_tokens), ("output", s.output_tokens)):
            q = r.quantiles()
            if q:
                lines.append(f"  {label:<24}" + "".join(f"{q[p]:>9,.0f}" for p in QUANTILES)
                             + f"{r.values.mean():>9,.0f}")
    flags = s.warnings()
    if flags:
        lines += ["", "  check:"] + [f"  - {flag}" for flag in flags]
    return "\n".join(lines)


def _per_hour(rate: float) -> str:
    return f"{rate:,.0f}" if rate >= 100 else f"{rate:.3g}"


def render_intervals(summary: Any) -> str:
    """A :func:`~swarmsim.experiments.stats.summarize` table as text: one line per point, one
    column per metric, ``mean [ci_low, ci_high]`` (the interval may be asymmetric: ``log-t`` and
    ``logit-t`` keep it inside the figure's support)."""
    cols = list(summary.columns)
    params = cols[1: cols.index("metric")]
    metrics = list(dict.fromkeys(summary["metric"]))
    cells: list[list[str]] = [["point", *params, *metrics]]
    for point, group in summary.groupby("point", sort=True):
        first = group.iloc[0]
        line = [str(point), *(str(first[p]) for p in params)]
        for m in metrics:
            r = group[group["metric"] == m].iloc[0]
            line.append(f"{fmt(m, r['mean'])} [{fmt(m, r['ci_low'])}, {fmt(m, r['ci_high'])}]")
        cells.append(line)
    return text_table(cells, right=range(1 + len(params), len(cells[0])))


def text_table(rows: list[list[str]], right: Iterable[int] = (), indent: str = "  ") -> str:
    """Rows of cells (the first row the header) as aligned plain text: every column as wide as
    its widest cell, two spaces between columns, the columns numbered in ``right`` right-aligned
    (numbers), the others left-aligned; trailing spaces stripped. The one table layout of the
    CLI's output (sweep intervals, plans, comparisons, trace formats)."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    shift = set(right)
    return "\n".join(indent + "  ".join(c.rjust(w) if i in shift else c.ljust(w)
                                        for i, (c, w) in enumerate(zip(row, widths, strict=True))).rstrip()
                     for row in rows)


def render_comparison(comparison: Any, a: int, b: int) -> str:
    """A :func:`~swarmsim.experiments.stats.compare` table as text: per metric, the paired
    difference point ``b`` - point ``a``, its interval, method, p-value, pairs and verdict."""
    rows = [["metric", "diff", "95 % CI", "method", "p", "n", "verdict"]]
    for _, r in comparison.iterrows():
        m = r["metric"]
        rows.append([m, fmt(m, r["mean_diff"]), f"[{fmt(m, r['ci_low'])}, {fmt(m, r['ci_high'])}]", r["ci_method"],
                     f"{r['p_value']:.3g}", str(r["n"]), r["verdict"]])
    return f"point {b} - point {a} (paired over common seeds)\n" + text_table(rows, right=(1, 2, 4, 5))


def render_formats(formats: dict[str, Any]) -> str:
    """The trace formats swarmsim reads: name, kind (jobs, requests, nodes) and what each is."""
    return text_table([[name, f.kind, f.description] for name, f in sorted(formats.items())], indent="")


def interval_note(summary: Any) -> str:
    """One line naming the interval methods of a summary table (swarmsim.experiments.stats)."""
    what = {"t": "Student t", "log-t": "t on the log of the mean (non-negative figures)",
            "logit-t": "t on the logit of the mean (shares)"}
    used = list(dict.fromkeys(summary["ci_method"])) if "ci_method" in summary.columns else ["t"]
    return "  intervals: " + "; ".join(f"{m} = {what.get(m, m)}" for m in used) + " (docs/experiments.md)"


#: The unit words :func:`duration_text` prints for the suffixes of ``format_duration``.
UNIT_WORDS = {"ms": "ms", "s": "s", "m": "min", "h": "h", "d": "d"}


def duration_text(seconds: float) -> str:
    """A duration for a table: ``format_duration``'s figure, a space and an unambiguous unit
    (``250 ms``, ``90 s``, ``2.121 min``, ``2.122 h``, ``3 d``), so minutes never read as metres
    or get mistaken for hours beside them."""
    text = format_duration(seconds)
    for suffix in ("ms", "s", "m", "h", "d"):
        if text.endswith(suffix) and text[: -len(suffix)].lstrip("-").replace(".", "", 1).isdigit():
            return f"{text[: -len(suffix)]} {UNIT_WORDS[suffix]}"
    return text


def period_text(horizon_s: float, warmup_s: float) -> str:
    """What time the figures cover: ``48 h simulated, the first 6 h warm-up excluded: figures
    cover 42 h`` (durations in seconds)."""
    from swarmsim.units import format_number

    def span(seconds: float) -> str:  # hours from an hour up, so that 48 h reads as 48 h
        return f"{format_number(seconds / 3600)} h" if seconds >= 3600 else duration_text(seconds)

    if warmup_s <= 0:
        return f"{span(horizon_s)} simulated, no warm-up: figures cover all of it"
    return (f"{span(horizon_s)} simulated, the first {span(warmup_s)} warm-up excluded: "
            f"figures cover {span(horizon_s - warmup_s)}")


def fmt(key: str, value: Any) -> str:
    """A headline figure as text, in the unit its name says (``*_s`` a duration, ``*usd*`` dollars,
    shares in %); NaN or None is ``-``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if key.split("[")[0].endswith("_s") and key != "wall_time_s":  # job_wait_p80_s[training] too
        return duration_text(float(value))
    if "_within_" in key:  # a service level (swarmsim.levels): a share
        return f"{100 * value:.1f} %"
    if key == "wall_time_s":
        return f"{value:.2f} s"
    if "usd" in key:
        return f"${value:,.2f}"
    if key == "availability":
        return f"{100 * value:.3f} %"
    if key in ("gpu_utilization", "slo_attainment", "replica_slot_utilization", "gpu_allocation_ratio",
               "requested_gpu_fraction"):
        return f"{100 * value:.1f} %"
    if isinstance(value, float):
        return f"{value:,.1f}"
    if isinstance(value, str):
        return value
    return f"{value:,}"


#: The figures of a sharing fleet's run (workload inflation), in the order shown.
SHARING_KEYS = ("placement", "jobs_arrived", "jobs_started", "jobs_dropped", "gpus_total", "requested_gpu_fraction",
                "gpu_allocation_ratio", "gpus_unallocated_final", "gpus_fragmented_final", "task_shapes",
                "wall_time_s")
#: What a sharing fleet's run in the SimPy world adds to the headline figures.
SHARING_WORLD_KEYS = ("gpu_allocation_ratio", "gpus_unallocated_final", "gpus_fragmented_final", "task_shapes")


def render_summary(summary: dict[str, Any], breakdown: Any = None, title: str = "",
                   period: tuple[float, float] | None = None) -> str:
    """The headline figures (and the per-region breakdown) as a plain-text table; ``period`` =
    ``(horizon_s, warmup_s)`` adds the line that says what time the figures cover."""
    from swarmsim.levels import is_level
    from swarmsim.metrics.resilience import NO_FAILURES
    from swarmsim.metrics.summary import HEADLINE_KEYS, NO_REQUESTS

    lines = [f"swarmsim — {title}" if title else "swarmsim"]
    if period is not None:
        lines.append(f"  {period_text(*period)}")
    requests = bool(summary.get("requests_arrived"))
    jobs = bool(summary.get("jobs_arrived")) or not requests
    failing = bool(summary.get("node_failures") or summary.get("outages"))
    resilience = {*NO_FAILURES, "requests_failed"}

    def shown(k: str) -> bool:
        if k == "gpu_hours_checkpointing":
            return bool(summary.get(k))
        if k in resilience:  # only when something failed; the request ones only with requests
            return failing and (requests or k not in ("availability", "requests_failed"))
        if k.startswith(("request", "replica")) or k == "slo_attainment":
            return requests
        return jobs if k.startswith("job") else True

    show = [k for k in HEADLINE_KEYS if shown(k)]
    show += [k for k in summary if k not in HEADLINE_KEYS and k not in NO_REQUESTS and is_level(k)]  # report
    if "requested_gpu_fraction" in summary:  # workload inflation: its own figures (docs/sharing.md)
        show = [k for k in SHARING_KEYS if k in summary]
    elif "gpus_fragmented_final" in summary:  # a sharing fleet in the world: its figures too
        show += [k for k in SHARING_WORLD_KEYS if k in summary]
    width = max(len(k) for k in show)
    lines += [f"  {k:<{width}}  {fmt(k, summary.get(k))}" for k in show]
    if breakdown is not None and len(breakdown):
        regions = breakdown[breakdown["by"] == "region"]
        lines.append("")
        lines.append(f"  {'region':<16}{'GPU-h prov':>12}  {'util':>7}  {'cost':>16}  {'jobs':>9}  {'wait p95':>10}")
        for _, r in regions.iterrows():
            lines.append(
                f"  {r['name']:<16}{r['gpu_hours_provisioned']:>12,.0f}"
                f"  {fmt('gpu_utilization', r['gpu_utilization']):>7}  {fmt('cost_usd', r['cost_usd']):>16}"
                f"  {int(r['jobs_started']):>9,}  {fmt('job_wait_p95_s', r['job_wait_p95_s']):>10}"
            )
        users = breakdown[breakdown["by"] == "origin"]
        if len(users):
            lines.append("")
            lines.append(f"  {'users in':<16}{'requests':>12}  {'dropped':>9}  {'p50':>10}  {'p95':>10}  {'p99':>10}"
                         f"  {'SLO':>7}")
            for _, r in users.iterrows():
                lines.append(
                    f"  {r['name']:<16}{int(r['requests_arrived']):>12,}  {int(r['requests_dropped']):>9,}"
                    f"  {fmt('x_s', r['request_latency_p50_s']):>10}  {fmt('x_s', r['request_latency_p95_s']):>10}"
                    f"  {fmt('x_s', r['request_latency_p99_s']):>10}  {fmt('slo_attainment', r['slo_attainment']):>7}"
                )
    return "\n".join(lines)


def progress_wanted(stream: Any) -> bool:
    """Whether to draw progress bars on ``stream``: ``SWARMSIM_PROGRESS=1`` forces them on (a
    notebook, a log file), ``=0`` off; otherwise only on a terminal, and never under ``CI``."""
    asked = os.environ.get("SWARMSIM_PROGRESS", "").strip().lower()
    if asked in ("0", "off", "no", "false"):
        return False
    if asked in ("1", "on", "yes", "true"):
        return True
    return bool(getattr(stream, "isatty", lambda: False)()) and not os.environ.get("CI")


class StatusLine:
    """The one place that draws progress: a ``tqdm`` bar on ``stream`` with the time left,
    started once the work has taken over ``after_s`` seconds, and only when
    :func:`progress_wanted` (or ``force``) says so; quiet otherwise (a pipe, CI, a notebook)."""

    unit = "it"

    def __init__(self, stream: Any, after_s: float = 2.0, force: bool | None = None) -> None:
        self.stream = stream
        self.after_s = after_s
        self.started = time.perf_counter()
        self.on = progress_wanted(stream) if force is None else force
        self.bar: Any = None

    def _advance(self, n: float, total: float, **postfix: Any) -> None:
        """Move the bar to ``n`` of ``total`` (creating it once it is due)."""
        if not self.on:
            return
        if self.bar is None:
            if time.perf_counter() - self.started < self.after_s:
                return
            from tqdm import tqdm

            # smoothing=0: the rate (and the time left) is the average since the bar appeared,
            # from the work done since then (initial is not counted in the rate).
            self.bar = tqdm(total=total, initial=n, unit=self.unit, file=self.stream, smoothing=0,
                            dynamic_ncols=True, leave=True, bar_format=self.bar_format)
        else:
            self.bar.update(n - self.bar.n)
        if postfix:
            self.bar.set_postfix(postfix, refresh=False)

    bar_format = "{l_bar}{bar}| {n:.3g}/{total:.3g} {unit} [{elapsed}<{remaining} left]"

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class ProgressBar(StatusLine):
    """Simulated-time progress of one run (simulated hours, with the wall-clock time left)."""

    unit = "simulated h"

    def __call__(self, now_s: float, horizon_s: float) -> None:
        self._advance(now_s / 3600.0, horizon_s / 3600.0)


class SweepProgress(StatusLine):
    """Runs done (failed ones counted), of a sweep, with the time left."""

    unit = "runs"
    bar_format = "{l_bar}{bar}| {n:.0f}/{total:.0f} {unit}{postfix} [{elapsed}<{remaining} left]"

    def __call__(self, done: int, failed: int, total: int) -> None:
        if total:
            self._advance(done, total, failed=failed)


__all__ = [
    "ProgressBar",
    "StatusLine",
    "SweepProgress",
    "fmt",
    "interval_note",
    "progress_wanted",
    "render_comparison",
    "render_formats",
    "render_intervals",
    "render_summary",
    "render_trace",
    "text_table",
]
