"""The ``swarmsim`` command: thin, it parses arguments and calls the public API.

Bad input (``ScenarioError``) prints one message per problem on stderr and exits with status 2;
never a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
from importlib import resources
from pathlib import Path
from typing import Any

from swarmsim.errors import ArgumentError, ScenarioError
from swarmsim.jsonvalues import json_scalar
from swarmsim.render import (
    ProgressBar,
    SweepProgress,
    interval_note,
    render_comparison,
    render_formats,
    render_intervals,
    render_summary,
    render_trace,
)
from swarmsim.scenario import Scenario, load_scenario, parse_overrides, scenario_json_schema

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
        print(in_flags(err, args).format(), file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted; no run folder was written", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


#: Library parameters whose flag is not ``--`` and the name with dashes.
FLAG_OF = {"fmt": "--format", "overrides": "--set"}


def in_flags(err: ScenarioError, args: argparse.Namespace) -> ScenarioError:
    """An :class:`~swarmsim.errors.ArgumentError` in the command line's words: a parameter of
    this command named as its flag, as the path (``max_runs`` -> ``--max-runs``) and in the message
    (``vary=fleet`` -> ``--vary fleet``, ``resume=True`` -> ``--resume``); other errors unchanged."""
    if not isinstance(err, ArgumentError):
        return err
    known = set(vars(args)) | set(FLAG_OF)

    def flag(name: str) -> str:
        return FLAG_OF.get(name, "--" + name.replace("_", "-"))

    def spoken(m: re.Match[str]) -> str:
        name, value = m.group(1), m.group(2)
        if name not in known:
            return m.group(0)
        return flag(name) + ("" if value in ("", "True") else f" {value}")

    return ScenarioError(err.file, [(flag(p) if p in known else p, re.sub(r"\b([a-z][a-z_]*)=([\w.-]*)", spoken, m))
                                    for p, m in err.problems])


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
    run.add_argument("--format", choices=("csv", "parquet"), default="csv", dest="table_format",
                     help="large tables (jobs, requests, timeseries, billing) as csv (default) or parquet")
    run.add_argument("--json", action="store_true", help="print the summary as JSON")
    run.add_argument("--no-report", action="store_true", help="skip report.html (the interactive report)")
    run.set_defaults(func=_run)

    rep = sub.add_parser("report", help="write report.html, the interactive report of a run, sweep or plan folder")
    rep.add_argument("folder", help="a run folder, a sweep folder or a plan folder")
    rep.set_defaults(func=_report)

    val = sub.add_parser("validate", help="check scenario files without running them")
    val.add_argument("scenarios", nargs="+")
    val.set_defaults(func=_validate)

    schema = sub.add_parser("schema", help="print the JSON Schema of the scenario format")
    schema.set_defaults(func=_schema)

    trace = sub.add_parser("trace", help="what a trace holds, and the synthetic workload that reproduces it")
    trace_sub = trace.add_subparsers(dest="trace_command", required=True)
    formats = trace_sub.add_parser("formats", help="list the trace formats swarmsim reads")
    formats.set_defaults(func=_trace_formats)
    inspect = trace_sub.add_parser("inspect", help="stream a trace once and summarise it")
    fit = trace_sub.add_parser("fit", help="print a workloads: block fitted to a trace")
    for cmd in (inspect, fit):
        cmd.add_argument("file", help="the trace file")
        cmd.add_argument("--format", required=True, dest="trace_format",
                         help="a trace format (docs/traces.md), e.g. azure-llm, alibaba-gpu-2023, csv")
        cmd.add_argument("--on-bad-rows", choices=("error", "skip"), default="error",
                         help="stop at the first bad row (default) or skip and count bad rows")
        cmd.add_argument("--columns", metavar="FIELD=COLUMN,...",
                         help="for --format csv: e.g. submit=t,gpus=n_gpu,duration=runtime")
        cmd.add_argument("--time-unit", type=float, default=1.0,
                         help="for --format csv: seconds per unit of the time columns (default 1)")
    inspect.set_defaults(func=_trace_inspect)
    fit.add_argument("--origin", default="us-east", help="region the users are in (default us-east)")
    fit.add_argument("--name", help="workload name (default: from the file name)")
    fit.set_defaults(func=_trace_fit)

    data = sub.add_parser("data", help="public traces: download into a cache, checked by SHA-256")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    fetch = data_sub.add_parser("fetch", help="download a known dataset and verify its checksums")
    fetch.add_argument("name", help="dataset name (an unknown name lists the known ones)")
    fetch.add_argument("--cache", help="cache folder (default $SWARMSIM_DATA, else ~/.cache/swarmsim/traces)")
    fetch.add_argument("--base-url", help="a mirror laid out as BASE_URL/NAME/FILE, instead of the published URLs")
    fetch.set_defaults(func=_data_fetch)

    sw = sub.add_parser("sweep", help="run a scenario over a grid of settings and seeds, with confidence intervals")
    sw.add_argument("scenario", help="scenario file")
    sw.add_argument("--grid", action="append", default=[], metavar="PATH=V1,V2,...",
                    help="a field and its values (parsed as YAML), e.g. scheduler.placement=best-fit,spread; "
                         "repeat for a cartesian product")
    sw.add_argument("--seeds", type=int, default=10, help="seeds 0..N-1 for every grid point (default 10)")
    sw.add_argument("--backend", choices=("local", "ray"), default="local", help="where the runs execute")
    sw.add_argument("--address", help="Ray cluster address (e.g. auto); --backend ray only")
    sw.add_argument("--jobs", type=int, help="worker processes (default: all cores; 1 runs in this process)")
    sw.add_argument("--out", help="sweep folder (default: results/<name>/sweep-<hash>)")
    sw.add_argument("--resume", action="store_true",
                    help="continue the sweep in --out: run only the missing or failed runs")
    sw.add_argument("--save-runs", action="store_true", help="also keep every run's full folder (CSVs)")
    sw.add_argument("--no-report", action="store_true", help="skip report.html (the interactive report)")
    sw.set_defaults(func=_sweep)

    pl = sub.add_parser("plan", help="the cheapest fleet per region and node type that meets the SLOs "
                                     "(or the most demand a fleet carries, or a policy parameter)")
    pl.add_argument("scenario", help="scenario file: its workloads are the demand to plan for")
    pl.add_argument("--slo", action="append", default=[], metavar="METRIC=VALUE",
                    help="a headline figure and its bound, e.g. request_latency_p99_s=2.0; repeatable")
    pl.add_argument("--vary", default="fleet", metavar="fleet|demand|pd[:NAME]|policies.N.PARAM",
                    help="fleet (default): nodes per region and type; demand: the most demand the scenario's "
                         "fleet carries; pd: the cheapest prefill:decode replica split of a disaggregated "
                         "workload; policies.N.PARAM: the cheapest value of a numeric policy parameter, "
                         "such as policies.0.target_utilization")
    pl.add_argument("--node-types", metavar="T1,T2", help="node types the fleet may use (default: all); --vary fleet")
    pl.add_argument("--regions", metavar="R1,R2",
                    help="regions that may hold nodes (default: all active); --vary fleet")
    pl.add_argument("--seeds", type=int, default=10, metavar="N",
                    help="seeds 0..N-1 for every candidate (default 10); the starting count with --max-seeds")
    pl.add_argument("--max-seeds", type=int, metavar="N",
                    help="adaptive replication: a candidate whose interval straddles an SLO bound gets more "
                         "seeds (doubling) up to N (default: --seeds, fixed)")
    pl.add_argument("--backend", choices=("local", "ray"), default="local", help="where the runs execute")
    pl.add_argument("--address", help="Ray cluster address (e.g. auto); --backend ray only")
    pl.add_argument("--jobs", type=int, metavar="N",
                    help="worker processes or Ray CPUs (default: all cores; 1 runs in this process)")
    pl.add_argument("--max-runs", type=int, metavar="N",
                    help="most simulations to run (finished runs in --out are free)")
    pl.add_argument("--confidence", type=float, default=0.95, metavar="P",
                    help="of the intervals kept within the SLOs (default 0.95; log-t / logit-t, docs/experiments.md)")
    pl.add_argument("--set", action="append", default=[], metavar="PATH=VALUE", help="change a scenario field")
    pl.add_argument("--out", metavar="FOLDER",
                    help="plan folder (default: results/<name>/plan-<hash>); re-running resumes it")
    pl.add_argument("--no-report", action="store_true", help="skip the plan's report.html (the interactive report)")
    pl.set_defaults(func=_plan)

    cmp = sub.add_parser("compare", help="paired comparisons between the points of a finished sweep")
    cmp.add_argument("folder", help="a sweep folder (holding results.csv)")
    cmp.add_argument("--metric", action="append", required=True,
                     help="a summary figure, e.g. job_wait_p95_s; repeatable")
    cmp.add_argument("--a", type=int, help="baseline point (default 0)")
    cmp.add_argument("--b", type=int, help="point compared with the baseline (default: every other point)")
    cmp.set_defaults(func=_compare)

    srv = sub.add_parser("serving", help="LLM serving profiles (docs/serving.md)")
    srv_sub = srv.add_subparsers(dest="serving_command", required=True)
    srv_fit = srv_sub.add_parser("fit", help="fit a serving profile to a vLLM or SGLang benchmark result "
                                 "and print its error table")
    srv_fit.add_argument("file", help="vLLM benchmark_serving.py --save-result JSON or SGLang bench_serving JSONL")
    srv_fit.set_defaults(func=_serving_fit)
    return p


def _serving_fit(args: argparse.Namespace) -> int:
    from swarmsim.serving_bench import fit_benchmark, render_fit

    print(render_fit(fit_benchmark(args.file)))
    return 0


def _load(path: str | None, seed: int | None, sets: list[str]) -> Scenario:
    try:
        overrides = parse_overrides(sets)
    except ScenarioError as err:
        raise err.moved(str(path or builtin_scenario())) from None
    if seed is not None:
        overrides["seed"] = seed
    return load_scenario(path or builtin_scenario(), overrides)


def _run(args: argparse.Namespace) -> int:
    from swarmsim.simulation import simulate


    scenario = _load(args.scenario, args.seed, args.set)
    _warn_if_long(scenario, _estimate(scenario))
    bar = ProgressBar(sys.stderr)
    result = simulate(scenario, progress=bar)
    bar.close()
    folder = result.save(args.out, plots=not args.no_plots, report=not args.no_report,
                         format=args.table_format)
    report = "" if args.no_report else f"report:  {Path(folder) / 'report.html'}  (open it in a browser)\n"
    if args.json:
        print(json.dumps({k: json_scalar(v) for k, v in result.summary.items()}, indent=2))
        print(f"{report}results: {folder}", file=sys.stderr)
    else:
        title = f"{scenario.name} (seed {scenario.seed})"
        print(render_summary(result.summary, result.breakdown, title=title,
                             period=(scenario.horizon, scenario.warmup)))
        print(f"\n{report}results: {folder}")
    return 0


def _report(args: argparse.Namespace) -> int:
    from swarmsim.report import write_report

    print(f"report: {write_report(args.folder)}")
    return 0


def _report_line(folder: str, skip: bool) -> str:
    """Write the report of a finished sweep or plan folder; the line that tells where it is."""
    if skip:
        return ""
    from swarmsim.report import write_report

    return f"report:  {write_report(folder)}  (open it in a browser)\n"


def _validate(args: argparse.Namespace) -> int:
    problems: list[ScenarioError] = []
    for path in args.scenarios:
        try:
            sc = load_scenario(path)
            est = _estimate(sc)
            print(f"{path}: ok ({sc.name}: {len(sc.regions)} regions, {len(sc.workloads)} workloads; "
                  f"{est.describe()})")
            _warn_if_long(sc, est, path)
        except ScenarioError as err:
            problems.append(err)
    for problem in problems:
        print(problem.format(), file=sys.stderr)
    return EXIT_BAD_INPUT if problems else 0


def _estimate(sc: Scenario) -> Any:
    from swarmsim.estimate import check

    return check(sc)


def _warn_if_long(sc: Scenario, est: Any, path: str | None = None) -> None:
    from swarmsim.estimate import WARN_S, seconds

    if est.time_s > WARN_S:
        print(f"warning: {path or sc.source or sc.name}: this run may take ~{seconds(est.time_s)} "
              f"({est.describe()}); a shorter horizon or lower rates run faster", file=sys.stderr)


def _schema(args: argparse.Namespace) -> int:
    print(json.dumps(scenario_json_schema(), indent=2))
    return 0


def _csv_columns(text: str | None) -> dict[str, str] | None:
    if not text:
        return None
    pairs = [part.partition("=") for part in text.split(",") if part.strip()]
    if not pairs or any(not sep or not k.strip() or not v.strip() for k, sep, v in pairs):
        raise ScenarioError(None, [("--columns", f"expected FIELD=COLUMN pairs such as "
                                    f"submit=t,gpus=n_gpu,duration=runtime, got {text!r}")])
    return {k.strip(): v.strip() for k, _, v in pairs}


def _trace_summary(args: argparse.Namespace) -> Any:
    from swarmsim.traces.fetch import check_trace_path
    from swarmsim.traces.inspect import inspect_trace

    check_trace_path(args.file)
    return inspect_trace(args.file, args.trace_format, on_bad_rows=args.on_bad_rows,
                         columns=_csv_columns(args.columns), time_unit=args.time_unit)


def _trace_formats(args: argparse.Namespace) -> int:
    from swarmsim.traces.formats import FORMATS

    print(render_formats(FORMATS))
    return 0


def _trace_inspect(args: argparse.Namespace) -> int:
    print(render_trace(_trace_summary(args)))
    return 0


def _trace_fit(args: argparse.Namespace) -> int:
    from swarmsim.traces.fit import fit_workload, fit_yaml

    summary = _trace_summary(args)
    print(fit_yaml(fit_workload(summary, origin=args.origin, name=args.name)), end="")
    from swarmsim.traces.latency_fit import LATENCY_FORMATS, alibaba_2023_delays, latency_yaml

    if summary.format in LATENCY_FORMATS:  # the trace records when each job was scheduled
        print(latency_yaml(alibaba_2023_delays(args.file, summary.bad)), end="")
    return 0


SWEEP_METRICS = ("job_wait_p95_s", "cost_usd", "gpu_utilization", "request_latency_p95_s")


def parse_grid(pairs: list[str]) -> dict[str, list[Any]]:
    """``["a.b=1,2", "c=x,y"]`` -> ``{"a.b": [1, 2], "c": ["x", "y"]}`` (values parsed as YAML;
    commas inside brackets or quotes do not split)."""
    import yaml

    grid: dict[str, list[Any]] = {}
    for pair in pairs:
        path, sep, text = pair.partition("=")
        parts = _split_values(text)
        if not sep or not path.strip() or not parts or any(not v.strip() for v in parts):
            raise ScenarioError(None, [("--grid", f"expected path=value1,value2,... such as "
                                                  f"scheduler.placement=best-fit,spread, got {pair!r}")])
        if path.strip() in grid:
            raise ScenarioError(None, [("--grid", f"{path.strip()} is given twice; list all its values once")])
        values = []
        for v in parts:
            try:
                values.append(yaml.safe_load(v))
            except yaml.YAMLError:
                values.append(v.strip())
        grid[path.strip()] = values
    return grid


def _split_values(text: str) -> list[str]:
    cur: list[str]
    parts, depth, quote, cur = [], 0, "", []
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
            continue
        cur.append(ch)
    parts.append("".join(cur))
    return [] if parts == [""] else parts


def _sweep(args: argparse.Namespace) -> int:
    from swarmsim.experiments.stats import summarize
    from swarmsim.experiments.sweep import default_folder, sweep

    grid = parse_grid(args.grid)
    out = args.out if args.out is not None else str(default_folder(args.scenario, grid, args.seeds))
    bar = SweepProgress(sys.stderr)
    try:
        table = sweep(args.scenario, grid, args.seeds, backend=args.backend, jobs=args.jobs, address=args.address,
                      out=out, resume=args.resume, save_runs=args.save_runs, progress=bar)
    except KeyboardInterrupt:
        bar.close()
        print(f"interrupted; finished runs are kept in {out}; add --resume to continue", file=sys.stderr)
        return 130
    bar.close()
    metrics = [m for m in SWEEP_METRICS if m in table.columns
               and (not m.startswith("request") or table.get("requests_arrived", 0).fillna(0).gt(0).any())]
    failed = int((table["status"] == "failed").sum())
    points = int(table["point"].nunique())
    print(f"swarmsim sweep — {Path(args.scenario).name}: {points} points x {args.seeds} seeds = "
          f"{len(table)} runs, {failed} failed; mean [95 % interval]")
    summary = summarize(table, metrics)
    print(render_intervals(summary))
    print(interval_note(summary))
    if failed:
        first = table[table["status"] == "failed"].iloc[0]
        print(f"\nfailed: {failed} runs, e.g. point {first['point']} seed {first['seed']}: {first['error']}")
    print(f"\n{_report_line(out, args.no_report)}results: {Path(out) / 'results.csv'}")
    return 0


def _names(option: str, text: str | None) -> list[str] | None:
    if text is None:
        return None
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise ScenarioError(None, [(option, f"expected a comma-separated list of names, got {text!r}")])
    return names


def _plan(args: argparse.Namespace) -> int:
    import hashlib

    from swarmsim.planning.search import parse_slo, plan

    scenario = _load(args.scenario, None, args.set)
    slos = [parse_slo(text) for text in args.slo]
    if not slos:
        raise ScenarioError(None, [("--slo", "expected at least one, e.g. --slo request_latency_p99_s=2.0")])
    out = args.out
    if out is None:
        key = json.dumps([scenario.digest(), [str(s) for s in slos], args.vary, args.node_types, args.regions,
                          args.seeds] + ([args.max_seeds] if args.max_seeds else []))
        out = str(Path("results") / scenario.name / f"plan-{hashlib.sha256(key.encode()).hexdigest()[:8]}")

    def say(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    try:
        result = plan(scenario, slos, args.vary, node_types=_names("--node-types", args.node_types),
                      regions=_names("--regions", args.regions), seeds=args.seeds, backend=args.backend,
                      jobs=args.jobs, address=args.address, out=out, max_runs=args.max_runs,
                      confidence=args.confidence, max_seeds=args.max_seeds, progress=say,
                      report=not args.no_report)
    except KeyboardInterrupt:
        print(f"interrupted; finished runs are kept in {out}; run the same command to resume", file=sys.stderr)
        return 130
    print(f"swarmsim plan — {scenario.name}: vary {args.vary}, {', '.join(str(s) for s in slos)}, "
          f"{args.seeds} seeds{f' (up to {args.max_seeds} where undecided)' if args.max_seeds else ''}, "
          f"{int(args.confidence * 100)} % intervals")
    print(result.render())
    print(f"\n{_report_line(out, args.no_report)}results: {out}")
    return 0


def _compare(args: argparse.Namespace) -> int:
    import pandas as pd

    from swarmsim.experiments.stats import compare, summarize

    path = Path(args.folder) / "results.csv"
    if not path.is_file():
        raise ScenarioError(str(path), [("", "no such file; give a sweep folder (swarmsim sweep --out DIR)")])
    table = pd.read_csv(path)
    a = 0 if args.a is None else args.a
    others = [args.b] if args.b is not None else [int(p) for p in sorted(table["point"].unique()) if p != a]
    summary = summarize(table, args.metric)
    print(render_intervals(summary))
    print(interval_note(summary))
    for b in others:
        print("\n" + render_comparison(compare(table, a, b, args.metric), a, b))
    return 0


def _data_fetch(args: argparse.Namespace) -> int:
    from swarmsim.traces.fetch import fetch

    for f in fetch(args.name, cache=args.cache, base_url=args.base_url):
        verb = "already cached, checksum ok" if f.status == "cached" else f"downloaded from {f.url}, checksum ok"
        print(f"{f.path}: {verb}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
