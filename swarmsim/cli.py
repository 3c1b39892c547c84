"""The ``swarmsim`` command: thin, it parses arguments and calls the public API.

Bad input (``ScenarioError``) prints one message per problem on stderr and exits with status 2;
never a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
from importlib import resources
from pathlib import Path
from typing import Any

from swarmsim.errors import ScenarioError
from swarmsim.scenario import Scenario, load_scenario, parse_overrides, scenario_json_schema
from swarmsim.units import format_duration

EXIT_BAD_INPUT = 2


def builtin_scenario(name: str = "quickstart") -> Path:
    """Path of a scenario shipped inside the package."""
    return Path(str(resources.files("swarmsim") / "scenarios" / f"{name}.yaml"))


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="warning: %(message)s", stream=sys.stderr)
    try:
        return int(args.func(args) or 0)
    except ScenarioError as err:
        print(err.format(), file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted; no run folder was written", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="swarmsim", description="Capacity simulator of a multi-region GPU cloud."
    )
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run one scenario and write its results folder")
    run.add_argument("scenario", nargs="?", help="scenario file (default: the built-in quickstart)")
    run.add_argument("--seed", type=int, help="random seed (overrides the scenario's)")
    run.add_argument("--set", action="append", default=[], metavar="PATH=VALUE",
                     help="change a field before validation, e.g. workloads.training.arrivals.rate=40/h")
    run.add_argument("--out", help="run folder (default: results/<name>/seed-<seed>-<hash>)")
    run.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    run.add_argument("--json", action="store_true", help="print the summary as JSON")
    run.set_defaults(func=_run)

    val = sub.add_parser("validate", help="check scenario files without running them")
    val.add_argument("scenarios", nargs="+")
    val.set_defaults(func=_validate)

    schema = sub.add_parser("schema", help="print the JSON Schema of the scenario format")
    schema.set_defaults(func=_schema)
    return p


def _load(path: str | None, seed: int | None, sets: list[str]) -> Scenario:
    try:
        overrides = parse_overrides(sets)
    except ScenarioError as err:
        raise ScenarioError(str(path or builtin_scenario()), err.problems) from None
    if seed is not None:
        overrides["seed"] = seed
    return load_scenario(path or builtin_scenario(), overrides)


def _run(args: argparse.Namespace) -> int:
    from swarmsim.simulation import simulate


    scenario = _load(args.scenario, args.seed, args.set)
    bar = _ProgressBar(sys.stderr)
    result = simulate(scenario, progress=bar)
    bar.close()
    folder = result.save(args.out, plots=not args.no_plots)
    if args.json:
        print(json.dumps({k: _json(v) for k, v in result.summary.items()}, indent=2))
        print(f"results: {folder}", file=sys.stderr)
    else:
        title = f"{scenario.name} (seed {scenario.seed})"
        print(render_summary(result.summary, result.breakdown, title=title))
        print(f"\nresults: {folder}")
    return 0


def _validate(args: argparse.Namespace) -> int:
    problems: list[ScenarioError] = []
    for path in args.scenarios:
        try:
            sc = load_scenario(path)
            print(f"{path}: ok ({sc.name}: {len(sc.regions)} regions, {len(sc.workloads)} workloads)")
        except ScenarioError as err:
            problems.append(err)
    for err in problems:
        print(err.format(), file=sys.stderr)
    return EXIT_BAD_INPUT if problems else 0


def _schema(args: argparse.Namespace) -> int:
    print(json.dumps(scenario_json_schema(), indent=2))
    return 0


def _json(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _fmt(key: str, value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if key.endswith("_s") and key != "wall_time_s":
        return format_duration(float(value))
    if key == "wall_time_s":
        return f"{value:.2f} s"
    if "usd" in key:
        return f"${value:,.2f}"
    if key in ("gpu_utilization", "slo_attainment"):
        return f"{100 * value:.1f} %"
    if isinstance(value, float):
        return f"{value:,.1f}"
    return f"{value:,}"


def render_summary(summary: dict[str, Any], breakdown: Any = None, title: str = "") -> str:
    """The headline figures (and the per-region breakdown) as a plain-text table."""
    from swarmsim.metrics.summary import HEADLINE_KEYS

    lines = [f"swarmsim — {title}" if title else "swarmsim"]
    show = [k for k in HEADLINE_KEYS if not (k.startswith("request") or k == "slo_attainment")
            or summary.get("requests_arrived")]
    width = max(len(k) for k in show)
    lines += [f"  {k:<{width}}  {_fmt(k, summary.get(k))}" for k in show]
    if breakdown is not None and len(breakdown):
        regions = breakdown[breakdown["by"] == "region"]
        lines.append("")
        lines.append(f"  {'region':<16}{'GPU-h prov':>12}{'util':>8}{'cost':>14}{'jobs':>9}{'wait p95':>10}")
        for _, r in regions.iterrows():
            lines.append(
                f"  {r['name']:<16}{r['gpu_hours_provisioned']:>12,.0f}"
                f"{_fmt('gpu_utilization', r['gpu_utilization']):>8}{_fmt('cost_usd', r['cost_usd']):>14}"
                f"{r['jobs_started']:>9,}{_fmt('job_wait_p95_s', r['job_wait_p95_s']):>10}"
            )
    return "\n".join(lines)


class _ProgressBar:
    """Simulated-time progress on stderr, shown only once a run has taken over 2 s."""

    def __init__(self, stream: Any, after_s: float = 2.0) -> None:
        self.stream = stream
        self.after_s = after_s
        self.started = time.perf_counter()
        self.shown = False
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.last_pct = -10

    def __call__(self, now_s: float, horizon_s: float) -> None:
        elapsed = time.perf_counter() - self.started
        if elapsed < self.after_s:
            return
        pct = int(100 * now_s / horizon_s)
        if not self.tty and pct - self.last_pct < 10:
            return
        self.last_pct = pct
        filled = pct // 4
        eta = elapsed * (horizon_s - now_s) / max(now_s, 1e-9)
        text = (f"[{'#' * filled}{'.' * (25 - filled)}] {pct:3d}%  simulated "
                f"{format_duration(now_s)} of {format_duration(horizon_s)}  ~{eta:.0f}s left")
        self.stream.write(("\r" + text) if self.tty else text + "\n")
        self.stream.flush()
        self.shown = True

    def close(self) -> None:
        if self.shown and self.tty:
            self.stream.write("\n")
            self.stream.flush()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
