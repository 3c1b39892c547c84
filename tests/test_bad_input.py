"""Bad input through the real CLI: one clear line per problem on stderr, exit status 2.

Contract (scenario-format.md §3, §5): a malformed scenario or an impossible request prints
one message per problem naming the file, the path (``workloads.training.arrivals.rate``) and
what was expected (with an example for units); the status is 2; there is never a traceback;
no run folder, complete or half-written, is left behind. Unknown keys name the likely
intended key, and the tags pydantic puts into error locations (``poisson``, ``jobs``,
``function-before[...]``) never reach the displayed path.

Every case is a small variation of the minimal valid scenario below, written to a YAML file
in ``tmp_path`` and run with ``swarmsim run FILE --out tmp/results/run`` in a subprocess.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from swarmsim.cli import main
from swarmsim.errors import ScenarioError
from swarmsim.scenario import load_scenario

# A minimal valid scenario: two catalog regions with one 8-GPU node each (16 GPUs in the
# whole static fleet, at most 8 for one job since a job never spans regions), one workload.
MINIMAL: dict[str, Any] = {
    "name": "mini",
    "seed": 3,
    "horizon": "6h",
    "warmup": "1h",
    "sample_every": "30m",
    "regions": {"us-east": {}, "eu-west": {}},
    "node_types": {"a100x8": {"gpu": "A100-80GB", "gpus": 8}},
    "fleet": {"us-east": {"a100x8": 1}, "eu-west": {"a100x8": 1}},
    "workloads": {
        "training": {
            "kind": "jobs",
            "arrivals": {"process": "poisson", "rate": "4/h"},
            "origin": {"us-east": 0.5, "eu-west": 0.5},
            "gpus": {"dist": "empirical", "values": [1, 2, 4, 8], "weights": [4, 3, 2, 1]},
            "duration": {"dist": "lognormal", "median": "1h", "sigma": 1.0},
        }
    },
}

UNSET_VAR = "SWARMSIM_TEST_SURELY_UNSET_RATE"

# Labels pydantic uses in error locations; none may show up as a segment of a displayed path.
UNION_TAGS = {
    "poisson", "deterministic", "diurnal", "mmpp", "ramp", "jobs", "inference", "constant",
    "exponential", "lognormal", "gamma", "weibull", "uniform", "empirical", "static",
}


def put(data: dict[str, Any], path: str, value: Any) -> None:
    """Set ``a.b.c`` in nested dicts, creating mappings on the way."""
    *parents, last = path.split(".")
    for key in parents:
        data = data.setdefault(key, {})
    data[last] = value


def edit(*changes: tuple[str, Any]) -> Callable[[dict[str, Any]], None]:
    def apply(data: dict[str, Any]) -> None:
        for path, value in changes:
            put(data, path, value)

    return apply


@dataclass(frozen=True)
class Case:
    id: str
    path: str  # the path the message must name ("" for a problem with the whole file)
    phrases: tuple[str, ...]  # what the message must say (the expectation, the suggestion)
    change: Callable[[dict[str, Any]], None] | None = None
    text: str | None = None  # the whole file instead of a change to MINIMAL
    args: tuple[str, ...] = ()  # extra command-line arguments
    no_file: bool = False  # the scenario file does not exist
    names_file: bool = True
    env: dict[str, str] = field(default_factory=dict)


CASES = [
    Case("unit-not-parsable", "workloads.training.arrivals.rate",
         ("expected a rate", "20/h", "'fast'"),
         edit(("workloads.training.arrivals.rate", "fast"))),
    Case("unknown-key-near-miss", "workloads.training.arrivals.mean_rat",
         ("unknown key 'mean_rat'", "did you mean 'mean_rate'?"),
         edit(("workloads.training.arrivals", {"process": "diurnal", "mean_rat": "4/h"}))),
    Case("negative-rate", "workloads.training.arrivals.rate",
         ("expected a rate > 0", "20/h", "'-4/h'"),
         edit(("workloads.training.arrivals.rate", "-4/h"))),
    Case("origin-shares-not-1", "workloads.training.origin",
         ("shares must sum to 1", "0.9"),
         edit(("workloads.training.origin", {"us-east": 0.5, "eu-west": 0.4}))),
    Case("fleet-region-undefined", "fleet.us-west",
         ("region 'us-west' is not defined", "us-east, eu-west"),
         edit(("fleet.us-west", {"a100x8": 1}))),
    Case("origin-region-undefined", "workloads.training.origin.eu-wst",
         ("region 'eu-wst' is not defined", "did you mean 'eu-west'?"),
         edit(("workloads.training.origin", {"us-east": 0.5, "eu-wst": 0.5}))),
    Case("fleet-node-type-undefined", "fleet.us-east.h100x8",
         ("node type 'h100x8' is not defined", "a100x8"),
         edit(("fleet.us-east.h100x8", 2))),
    Case("job-larger-than-any-region", "workloads.training.gpus",
         ("can ever run", "64 GPUs", "8 GPUs"),
         edit(("workloads.training.gpus", 64))),
    Case("unknown-gpu-model", "node_types.a100x8.gpu",
         ("unknown GPU 'A1000'", "A100-80GB"),
         edit(("node_types.a100x8.gpu", "A1000"))),
    Case("max-gpus-below-gpus", "node_types.a100x8.max_gpus",
         ("max_gpus (4) is below gpus (8)",),
         edit(("node_types.a100x8.max_gpus", 4))),
    Case("warmup-not-below-horizon", "warmup",
         ("must be shorter than horizon",),
         edit(("warmup", "6h"))),
    Case("unknown-dist", "workloads.training.duration",
         ("unknown dist 'lognormla'", "did you mean 'lognormal'?", "exponential"),
         edit(("workloads.training.duration.dist", "lognormla"))),
    Case("uniform-low-above-high", "workloads.training.duration",
         ("low must not exceed high",),
         edit(("workloads.training.duration", {"dist": "uniform", "low": "2h", "high": "1h"}))),
    Case("unknown-dist-parameter", "workloads.training.duration.sigmaa",
         ("unknown key 'sigmaa'", "did you mean 'sigma'?"),
         edit(("workloads.training.duration", {"dist": "lognormal", "median": "1h", "sigmaa": 1}))),
    Case("residency-unknown-jurisdiction", "workloads.training.residency",
         ("no region has jurisdiction 'JP'", "EU, US"),
         edit(("workloads.training.residency", ["JP"]))),
    Case("fleet-above-max-nodes", "fleet.us-east",
         ("2 nodes exceed the region's max_nodes (1)",),
         edit(("regions.us-east.max_nodes", 1), ("fleet.us-east.a100x8", 2))),
    Case("fleet-in-inactive-region", "fleet.eu-west",
         ("inactive",),
         edit(("regions.eu-west.active", False))),
    Case("unknown-process-tag", "workloads.training.arrivals.process",
         ("unknown process 'poison'", "did you mean 'poisson'?"),
         edit(("workloads.training.arrivals.process", "poison"))),
    Case("invalid-yaml", "", ("line 3", "not valid YAML"),
         text="name: broken\nhorizon: 6h\n  regions: {us-east: {}}\n"),
    Case("duplicate-yaml-key", "", ("line 3", "duplicate key 'horizon'"),
         text="name: twice\nhorizon: 6h\nhorizon: 7h\n"),
    Case("file-does-not-exist", "", ("no such file",), no_file=True),
    Case("env-var-not-set", "workloads.training.arrivals.rate",
         (f"environment variable {UNSET_VAR} is not set",),
         edit(("workloads.training.arrivals.rate", f"${{{UNSET_VAR}}}"))),
    # A command-line problem, not a file problem: the message names the option, not the file.
    Case("set-without-equals", "--set", ("expected path=value", "'seed'"),
         args=("--set", "seed"), names_file=False),
    Case("set-list-index-out-of-range", "workloads.training.gpus.values.9",
         ("values has 4 entries", "index 9 is out of range"),
         args=("--set", "workloads.training.gpus.values.9=3")),
]


def write_case(case: Case, folder: Path) -> Path:
    path = folder / f"{case.id}.yaml"
    if case.no_file:
        return path
    if case.text is not None:
        path.write_text(case.text)
    else:
        data = copy.deepcopy(MINIMAL)
        if case.change is not None:
            case.change(data)
        path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def assert_clean_failure(stderr: str, case: Case, file: Path) -> list[str]:
    """The shared checks: no traceback, the file, the path and the phrases; return the lines."""
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one message for one problem, got:\n{stderr}"
    line = lines[0]
    if case.names_file:
        assert line.startswith(f"{file}: "), line
    if case.path:
        assert f": {case.path}: " in f": {line}", line
    for phrase in case.phrases:
        assert phrase in line, f"{phrase!r} not in {line!r}"
    return lines


def test_cases_are_derived_from_a_valid_scenario() -> None:
    """The baseline must load, or every case below would prove nothing."""
    sc = load_scenario(copy.deepcopy(MINIMAL))
    assert sc.name == "mini"
    assert len(CASES) >= 14


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_exits_2_with_one_clear_line(case: Case, tmp_path: Path) -> None:
    file = write_case(case, tmp_path)
    results = tmp_path / "results"
    results.mkdir()
    out = results / "run"
    env = {k: v for k, v in os.environ.items() if k != UNSET_VAR}
    proc = subprocess.run(
        [sys.executable, "-m", "swarmsim.cli", "run", str(file), "--out", str(out), "--no-plots",
         *case.args],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert_clean_failure(proc.stderr, case, file)
    assert proc.stdout == ""
    # Complete or absent: nothing at all was written, not even a temporary sibling.
    assert not out.exists()
    assert list(results.iterdir()) == []
    assert not (tmp_path / "results" / "mini").exists()


def test_validate_reports_every_bad_file_and_only_those(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(MINIMAL, sort_keys=False))
    bad = [write_case(c, tmp_path) for c in CASES[:3]]
    proc = subprocess.run(
        [sys.executable, "-m", "swarmsim.cli", "validate", str(bad[0]), str(good), *map(str, bad[1:])],
        capture_output=True, text=True, cwd=tmp_path, timeout=60,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert f"{good}: ok" in proc.stdout
    assert str(good) not in proc.stderr
    lines = proc.stderr.splitlines()
    assert [line.split(": ", 1)[0] for line in lines] == [str(p) for p in bad]


# --- more messages, in process (fast): the same CLI entry point, no subprocess -------------

MORE = [
    Case("unknown-workload-kind", "workloads.training.kind",
         ("unknown kind 'job'", "'jobs' or 'inference'", "did you mean 'jobs'?"),
         edit(("workloads.training.kind", "job"))),
    Case("missing-process", "workloads.training.arrivals.process",
         ("required field is missing", "'poisson'"),
         edit(("workloads.training.arrivals", {"rate": "4/h"}))),
    Case("unknown-top-level-key", "horizn",
         ("unknown key 'horizn'", "did you mean 'horizon'?"),
         edit(("horizn", "6h"))),
    Case("unknown-region-key", "regions.us-east.jurisdicton",
         ("unknown key 'jurisdicton'", "did you mean 'jurisdiction'?"),
         edit(("regions.us-east.jurisdicton", "US"))),
    Case("unknown-key-in-constant-shorthand", "workloads.training.gpus.valu",
         ("unknown key 'valu'", "did you mean 'value'?"),
         edit(("workloads.training.gpus", {"dist": "constant", "value": 1, "valu": 2}))),
    Case("scheduler-typo", "scheduler.queue",
         ("'fifo', 'backfill'", "got 'fifoo'", "did you mean 'fifo'?"),
         edit(("scheduler.queue", "fifoo"))),
    Case("data-unit", "workloads.training.data",
         ("expected a data size such as 20GB", "'20 gigs'"),
         edit(("workloads.training.data", "20 gigs"))),
    Case("duration-parameter-unit", "workloads.training.duration.median",
         ("expected a duration such as 1.5h", "'1 hour'"),
         edit(("workloads.training.duration.median", "1 hour"))),
    Case("bandwidth-unit", "network.bandwidth",
         ("expected a bandwidth such as 10Gbps", "'5GB'"),
         edit(("network.bandwidth", "5GB"))),
    Case("negative-duration", "regions.us-east.access_latency",
         ("expected a duration >= 0", "15m", "'-5ms'"),
         edit(("regions.us-east.access_latency", "-5ms"))),
    Case("node-count-not-a-number", "fleet.us-east.a100x8",
         ("expected a whole number", "'many'"),
         edit(("fleet.us-east.a100x8", "many"))),
    Case("residency-wrong-shape", "workloads.training.residency",
         ("'origin', 'any' or a list such as [EU, US]", "got 'EU'"),
         edit(("workloads.training.residency", "EU"))),
    Case("every-job-needs-a-gpu", "workloads.training.gpus",
         ("at least 1 GPU",),
         edit(("workloads.training.gpus", 0))),
    Case("region-not-in-catalog", "regions.mars",
         ("required fields are missing: location, jurisdiction, utc_offset",
          "not a region of the built-in catalog"),
         edit(("regions.mars", {}))),
    Case("missing-required-with-example", "horizon",
         ("required field is missing", "a duration such as 15m"),
         lambda d: d.pop("horizon")),
    Case("bad-name", "name",
         ("expected a name", "'a b'"),
         edit(("name", "a b"))),
    Case("empty-file", "", ("the file is empty",), text=""),
    Case("set-into-plain-value", "seed.x",
         ("cannot set 'x'", "plain value"),
         args=("--set", "seed.x=3")),
    Case("set-bad-value", "workloads.training.arrivals.rate",
         ("expected a rate", "'soon'"),
         args=("--set", "workloads.training.arrivals.rate=soon")),
    Case("failures-unknown-provider", "failures.nodes.gamingpc",
         ("provider or node type 'gamingpc' is not defined", "did you mean 'gaming-pc'?"),
         edit(("failures", {"nodes": {"gamingpc": {}}}))),
    Case("failures-outage-unknown-region", "failures.outages.0.region",
         ("region 'eu-wst' is not defined", "did you mean 'eu-west'?"),
         edit(("failures", {"outages": [{"region": "eu-wst", "at": "2h", "for": "1h"}]}))),
    Case("failures-outage-at-and-every", "failures.outages.0",
         ("give at (a scheduled outage) or every",),
         edit(("failures", {"outages": [{"region": "eu-west", "at": "2h", "every": "5d", "for": "1h"}]}))),
    Case("failures-bad-window", "failures.churn.gaming-pc.online",
         ('expected a daily window such as "18:00-02:00"', "'6pm-2am'"),
         edit(("failures", {"churn": {"gaming-pc": {"online": "6pm-2am"}}}))),
    Case("failures-two-rates", "failures.nodes.datacenter",
         ("give one of time_to_failure, mtbf, gpu_mtbf, not mtbf and gpu_mtbf",),
         edit(("failures", {"nodes": {"datacenter": {"mtbf": "10d", "gpu_mtbf": "80d"}}}))),
    Case("outage-without-for", "failures.outages.0.for",
         ("required field is missing",),
         edit(("failures", {"outages": [{"region": "eu-west", "at": "2h"}]}))),
    Case("checkpoint-negative", "workloads.training.checkpoint_every",
         ("expected a duration",),
         edit(("workloads.training.checkpoint_every", "-1h"))),
    Case("latency-negative-cycle", "scheduler.latency.cycle",
         ("expected a duration > 0",),
         edit(("scheduler.latency", {"cycle": "-1s"}))),
    Case("latency-backoff-max-below-initial", "scheduler.latency.backoff.max",
         ("max (1 s) is below initial (10 s)",),
         edit(("scheduler.latency", {"backoff": {"initial": "10s", "max": "1s"}}))),
    Case("latency-unknown-preset", "scheduler.latency",
         ("unknown latency preset 'kube'", "'kubernetes'"),
         edit(("scheduler.latency", "kube"))),
    Case("latency-negative-delay", "scheduler.latency",
         ("delay can be -5 s", ">= 0"),
         edit(("scheduler.latency", {"delay": {"dist": "uniform", "low": "-5s", "high": "3s"}}))),
    Case("latency-misspelt-key", "scheduler.latency.cycles",
         ("did you mean 'cycle'?",),
         edit(("scheduler.latency", {"cycles": "1s"}))),
]


@pytest.mark.parametrize("case", MORE, ids=[c.id for c in MORE])
def test_more_bad_input_in_process(case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    file = write_case(case, tmp_path)
    out = tmp_path / "results" / "run"
    status = main(["run", str(file), "--out", str(out), "--no-plots", *case.args])
    captured = capsys.readouterr()
    assert status == 2
    assert_clean_failure(captured.err, case, file)
    assert not out.exists() and not out.parent.exists()


def test_no_half_written_folder_when_out_already_exists(tmp_path: Path) -> None:
    """Bad input leaves an existing run folder exactly as it was."""
    out = tmp_path / "run"
    out.mkdir()
    (out / "summary.json").write_text("{}\n")
    file = write_case(CASES[0], tmp_path)
    assert main(["run", str(file), "--out", str(out), "--no-plots"]) == 2
    assert [p.name for p in out.iterdir()] == ["summary.json"]
    assert {p.name for p in tmp_path.iterdir()} == {file.name, "run"}


# --- any single broken field: a ScenarioError whose paths are the user's own keys ----------

BROKEN_VALUES = st.sampled_from([
    "fast", -1, 0, None, [], {}, [1, "x"], "-5m", True, 3.5, "EU", ["EU"], {"foo": 1},
    {"dist": "nope"}, {"dist": "uniform", "low": 5, "high": 1}, {"process": "ramp"},
    {"kind": "jobs"}, "constant", "poisson", "jobs", float("inf"),
])


def _all_paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += _all_paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _all_paths(v, (*prefix, i))
    return out


PATHS = _all_paths(MINIMAL)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(where=st.sampled_from(PATHS), value=BROKEN_VALUES, as_new_key=st.booleans())
def test_any_broken_field_gives_readable_paths(where: tuple[Any, ...], value: Any, as_new_key: bool) -> None:
    data = copy.deepcopy(MINIMAL)
    node: Any = data
    for key in where[:-1]:
        node = node[key]
    last = where[-1]
    if as_new_key and isinstance(node, dict):
        last = f"{last}x"  # an unknown key next to a known one
    node[last] = copy.deepcopy(value)
    try:
        load_scenario(data)
    except ScenarioError as err:
        assert err.problems
        for path, message in err.problems:
            segments = path.split(".") if path else []
            assert not UNION_TAGS & set(segments) or _is_users_key(data, segments), path
            assert "[" not in path and "function" not in path, path
            assert message and "Input should" not in message and "Value error" not in message
        assert len(set(err.problems)) == len(err.problems)


def _is_users_key(data: Any, segments: list[str]) -> bool:
    """True when every tag-like segment of the path really is a key the user wrote."""
    node = data
    for seg in segments:
        if isinstance(node, dict) and seg in node:
            node = node[seg]
        elif isinstance(node, list) and seg.isdigit() and int(seg) < len(node):
            node = node[int(seg)]
        elif seg in UNION_TAGS:
            return False
        else:
            node = None
    return True
