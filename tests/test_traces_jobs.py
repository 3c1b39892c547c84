"""Readers of job traces and node lists (swarmsim.traces.jobs, swarmsim.traces.nodes).

Two kinds of test:

- on the real files in ``shared/data`` (skipped when that folder is absent): row counts and
  value ranges against the numbers each folder's SOURCE.md gives;
- on small hand-written fixtures in ``tests/data/jobs`` and ``tests/data/nodes``, each with
  malformed rows at known lines: ``on_bad_rows: error`` raises ``file:LINE: column: reason`` at
  the first bad line, ``skip`` counts every bad row by reason and yields exactly the good rows,
  and the result does not depend on the chunk size.
"""

from __future__ import annotations

import csv
import json
import shutil
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np
import pytest

from swarmsim.traces import CHUNK_ROWS, FORMATS, BadRows, JobRows, NodeRows, TraceError
from swarmsim.traces.jobs import (
    ALIBABA_2023_END_S,
    NOT_A_NUMBER,
    NOT_POSITIVE_RUN,
    read_csv_jobs,
    read_gavel_jobs,
)
from swarmsim.traces.nodes import read_nodes

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
FIXTURES = Path(__file__).resolve().parent / "data"
JOBS = FIXTURES / "jobs"
NODES = FIXTURES / "nodes"

Read = Callable[[str, BadRows, int], Iterator[JobRows | NodeRows]]


def shared(relative: str) -> Path:
    path = SHARED_DATA / relative
    if not path.is_file():
        pytest.skip(f"real trace {relative} not found under {SHARED_DATA} (shared data folder absent)")
    return path


def read_all(read: Read, path: Path, policy: str = "skip", chunk_rows: int = CHUNK_ROWS) -> tuple[dict, BadRows]:
    """Every chunk of a read, concatenated column by column, and the tally."""
    bad = BadRows(policy)
    chunks = list(read(str(path), bad, chunk_rows))
    assert all(len(c.line) <= chunk_rows for c in chunks)
    assert all(len(c.line) > 0 for c in chunks)
    if not chunks:
        return {}, bad
    columns = {f.name: np.concatenate([getattr(c, f.name) for c in chunks]) for f in fields(chunks[0])}
    return columns, bad


def fmt(name: str) -> Read:
    return FORMATS[name].read


def generic(mapping: dict[str, str], time_unit: float = 0.001) -> Read:
    def read(path: str, bad: BadRows, chunk_rows: int) -> Iterator[JobRows]:
        return read_csv_jobs(path, bad, chunk_rows, columns=mapping, time_unit=time_unit)

    return read


GENERIC_BY_DURATION = generic(
    {"submit": "t_ms", "gpus": "n_gpu", "duration": "runtime_ms", "gpu_model": "gpu", "group": "team"}
)
GENERIC_BY_END = generic({"submit": "t_ms", "gpus": "n_gpu", "end": "end_ms"})


# ----------------------------------------------------------------------------- fixtures


@dataclass(frozen=True)
class Case:
    """A fixture file, what its first bad line raises, the skip tally and the good rows."""

    id: str
    read: Read
    path: Path
    first_bad: tuple[int, str | None, str]
    skipped: dict[str, int]
    good: dict[str, list] = field(default_factory=dict)


CASES = [
    Case(
        "alibaba-gpu-2023",
        fmt("alibaba-gpu-2023"),
        JOBS / "alibaba2023_pods.csv",
        (6, "num_gpu", NOT_A_NUMBER),
        {
            "num_gpu: not a number": 1,
            "num_gpu: negative": 1,
            "deletion_time: before creation_time": 1,
            "scheduled_time: missing for a pod that was scheduled": 1,
            "gpu_milli: outside 0..1000": 1,
            "expected 11 fields, found 10": 1,
            "deletion_time: missing": 1,
            "pod_phase: not Running, Succeeded, Failed or Pending": 1,
            f"deletion_time: {NOT_POSITIVE_RUN}": 1,
        },
        {
            "line": [2, 3, 4, 10, 16, 17],
            "submit_s": [0, 10, 20, 80, 140, 150],
            "gpus": [1.0, 0.46, 2.0, 0.0, 8.0, 0.23],
            "duration_s": [np.nan, 90, 270, 100, 990, 240],
            "gpu_model": ["", "", "V100M16|V100M32", "", "G2", "A10|T4"],
            "group": ["LS", "BE", "LS", "Burstable", "Guaranteed", "BE"],
        },
    ),
    Case(
        "alibaba-gpu-2020",
        fmt("alibaba-gpu-2020"),
        JOBS / "pai" / "pai_task_table.csv",
        (5, "end_time", "before start_time"),
        {
            "end_time: before start_time": 1,
            "inst_num: not a number": 1,
            "end_time: missing for a task that is not Running": 1,
            "plan_gpu: negative": 1,
            "status: not Terminated, Failed, Running or Waiting": 1,
            f"end_time: {NOT_POSITIVE_RUN}": 1,
            "expected 10 fields, found 9": 1,
        },
        {
            "line": [1, 2, 3, 10, 13],
            "submit_s": [1000, 1000, 2000, 3400, 3700],
            "gpus": [1.0, 0.0, 1.0, 1.0, 64.0],
            "duration_s": [600, 600, np.nan, 1000, 3600],
            "gpu_model": ["T4", "", "V100", "MISC", "V100M32"],
            "group": ["", "", "", "", ""],
        },
    ),
    Case(
        "philly",
        fmt("philly"),
        JOBS / "philly_runtime.csv",
        (3, "runtime", NOT_POSITIVE_RUN),
        {f"runtime: {NOT_POSITIVE_RUN}": 2, "runtime: not a number": 1},
        {
            "line": [2, 4, 8],
            "submit_s": [np.nan] * 3,
            "gpus": [np.nan] * 3,
            "duration_s": [12.0, 3600.0, 86400.5],
        },
    ),
    Case(
        "gavel",
        fmt("gavel"),
        JOBS / "gavel" / "small.trace",
        (5, "job_type", "no measured V100 throughput"),
        {
            "job_type: no measured V100 throughput": 1,
            "total_steps: not a number": 1,
            "expected 7 fields, found 6": 1,
            "total_steps: not a positive number of steps": 1,
            "scale_factor: 0 GPUs": 1,
        },
        {
            "line": [1, 2, 3, 4, 10],
            "submit_s": [0, 10, 20, 30, 90],
            "gpus": [1, 1, 2, 4, 4],
            # steps / V100 steps-per-s; lines 4 and 10 extrapolate linearly from sf 1 and sf 2
            "duration_s": [4000 / 4.0, 1000 / 5.0, 7000 / 7.0, 4000 / (5.0 * 4), 8000 / (7.0 * 4 / 2)],
            "gpu_model": [""] * 5,
        },
    ),
    Case(
        "tiresias-jobs",
        fmt("tiresias"),
        JOBS / "tiresias_jobs.csv",
        (5, "num_gpu", NOT_A_NUMBER),
        {
            "num_gpu: not a number": 1,
            "submit_time: earlier than a previous row (the file is in submission order)": 1,
            "num_gpu: negative": 1,
            f"duration: {NOT_POSITIVE_RUN}": 1,
            "duration: missing": 1,
        },
        {"line": [2, 3, 4, 10], "submit_s": [0, 30, 53, 140], "gpus": [1, 8, 2, 4], "duration_s": [164, 147, 127, 500]},
    ),
    Case(
        "tiresias-yarn",
        fmt("tiresias"),
        JOBS / "tiresias_yarn.csv",
        (3, "duration", NOT_POSITIVE_RUN),
        {f"duration: {NOT_POSITIVE_RUN}": 1, "duration: not a number": 1},
        {"line": [2, 4], "submit_s": [np.nan] * 2, "gpus": [np.nan] * 2, "duration_s": [121, 860]},
    ),
    Case(
        "helios",
        fmt("helios"),
        JOBS / "helios_cluster_log.csv",
        (6, "submit_time", "not a time like 2020-06-09 18:41:01"),
        {
            "submit_time: not a time like 2020-06-09 18:41:01": 1,
            "gpu_num: negative": 1,
            f"duration: {NOT_POSITIVE_RUN}": 1,
            "submit_time: missing": 1,
        },
        {
            "line": [2, 3, 4, 10],
            "submit_s": [10, 86_400, 86_405, 180 * 86_400 + 23 * 3600],
            "gpus": [1, 8, 0, 16],
            "duration_s": [3600, 240, 2, 86_400],
            "group": ["vcA", "vcB", "vcA", "vcC"],
        },
    ),
    Case(
        "csv-duration",
        GENERIC_BY_DURATION,
        JOBS / "generic_jobs.csv",
        (5, "t_ms", NOT_A_NUMBER),
        {"t_ms: not a number": 1, "n_gpu: negative": 1, f"runtime_ms: {NOT_POSITIVE_RUN}": 1},
        {
            "line": [2, 3, 4, 8, 9],
            "submit_s": [0, 1, 2, 6, 7],
            "gpus": [1, 0.5, 4, 2, 1],
            "duration_s": [60, 30, np.nan, 120, 1],
            "gpu_model": ["A100", "", "H100", "A100", ""],
            "group": ["research", "prod", "research", "", "prod"],
        },
    ),
    Case(
        "csv-end",
        GENERIC_BY_END,
        JOBS / "generic_jobs.csv",
        (5, "t_ms", NOT_A_NUMBER),
        {"t_ms: not a number": 1, "n_gpu: negative": 1, f"end_ms: {NOT_POSITIVE_RUN}": 1, "end_ms: before t_ms": 1},
        {"line": [2, 3, 4, 8], "submit_s": [0, 1, 2, 6], "duration_s": [60, 30, np.nan, 120]},
    ),
    Case(
        "alibaba-gpu-2023-nodes",
        fmt("alibaba-gpu-2023-nodes"),
        NODES / "alibaba2023_nodes.csv",
        (6, "gpu", NOT_A_NUMBER),
        {
            "gpu: not a number": 1,
            "model: missing for a node with GPUs": 1,
            "gpu: negative": 1,
            "gpu: not a whole number": 1,
            "expected 5 fields, found 3": 1,
        },
        {"line": [3, 4, 11], "gpu_model": ["P100", "G2", "T4"], "gpus": [2, 8, 2], "count": [3, 2, 1]},
    ),
    Case(
        "alibaba-gpu-2020-nodes",
        fmt("alibaba-gpu-2020-nodes"),
        NODES / "pai" / "pai_machine_spec.csv",
        (5, "gpu_type", "a CPU machine type for a node with GPUs"),
        {"gpu_type: a CPU machine type for a node with GPUs": 1, "cap_gpu: not a number": 1},
        {
            "line": [2, 3, 6, 8],
            "gpu_model": ["P100", "T4", "V100M32", "MISC"],
            "gpus": [2, 2, 8, 8],
            "count": [2, 1, 1, 1],
        },
    ),
    Case(
        "alibaba-spot-gpu-2026-nodes",
        fmt("alibaba-spot-gpu-2026-nodes"),
        NODES / "alibaba_spot_nodes.csv",
        (6, "gpu_model", "missing for a node with GPUs"),
        {"gpu_model: missing for a node with GPUs": 1, "gpu_capacity_num: not a number": 1},
        {"line": [2, 3, 5], "gpu_model": ["A10", "A100-SXM4-80GB", "H800"], "gpus": [1, 8, 8], "count": [2, 1, 1]},
    ),
]


#: Every bad line of each fixture (blank lines count as lines but are not rows).
BAD_LINES = {
    "alibaba-gpu-2023": [6, 7, 8, 9, 11, 12, 13, 14, 15],
    "alibaba-gpu-2020": [5, 6, 7, 8, 9, 11, 12],
    "philly": [3, 5, 7],
    "gavel": [5, 6, 7, 8, 9],
    "tiresias-jobs": [5, 6, 7, 8, 9],
    "tiresias-yarn": [3, 5],
    "helios": [6, 7, 8, 9],
    "csv-duration": [5, 6, 7],
    "csv-end": [5, 6, 7, 9],
    "alibaba-gpu-2023-nodes": [6, 7, 8, 9, 12],
    "alibaba-gpu-2020-nodes": [5, 7],
    "alibaba-spot-gpu-2026-nodes": [6, 7],
}


@dataclass
class RecordingBadRows(BadRows):
    """A skip tally that also keeps every report, in order."""

    reports: list[tuple[int, str | None, str]] = field(default_factory=list)

    def bad(self, line: int, column: str | None, reason: str) -> None:
        self.reports.append((line, column, reason))
        super().bad(line, column, reason)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
@pytest.mark.parametrize("chunk_rows", [2, CHUNK_ROWS])
def test_every_bad_row_is_reported_once_at_its_line_in_file_order(case: Case, chunk_rows: int) -> None:
    bad = RecordingBadRows("skip")
    for _ in case.read(str(case.path), bad, chunk_rows):
        pass
    assert [line for line, _, _ in bad.reports] == BAD_LINES[case.id]
    assert bad.reports[0] == case.first_bad


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_error_policy_raises_at_the_first_bad_line(case: Case) -> None:
    bad = BadRows("error")
    with pytest.raises(TraceError) as caught:
        for _ in case.read(str(case.path), bad, CHUNK_ROWS):
            pass
    line, column, reason = case.first_bad
    err = caught.value
    assert (err.line, err.column, err.message) == (line, column, reason)
    where = f"{case.path}:{line}"
    assert err.format() == (f"{where}: {column}: {reason}" if column else f"{where}: {reason}")
    assert str(err) == err.format()


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_skip_policy_counts_bad_rows_by_reason_and_keeps_the_rest(case: Case) -> None:
    got, bad = read_all(case.read, case.path, "skip")
    assert dict(bad.skipped) == case.skipped
    first_key = f"{case.first_bad[1]}: {case.first_bad[2]}" if case.first_bad[1] else case.first_bad[2]
    assert bad.first_line[first_key] == case.first_bad[0]
    for name, expected in case.good.items():
        if got[name].dtype == object:
            assert got[name].tolist() == expected, name
        else:
            np.testing.assert_allclose(got[name], np.asarray(expected, dtype=float), rtol=1e-12, err_msg=name)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
@pytest.mark.parametrize("chunk_rows", [1, 2, 7])
def test_chunking_gives_the_same_rows_and_tally(case: Case, chunk_rows: int) -> None:
    whole, whole_bad = read_all(case.read, case.path, "skip")
    small, small_bad = read_all(case.read, case.path, "skip", chunk_rows)
    assert small_bad.skipped == whole_bad.skipped
    assert small_bad.first_line == whole_bad.first_line
    assert whole.keys() == small.keys()
    for name in whole:
        np.testing.assert_array_equal(whole[name], small[name], err_msg=name)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
@pytest.mark.parametrize("chunk_rows", [1, 3])
def test_the_first_bad_line_raises_whatever_the_chunk_size(case: Case, chunk_rows: int) -> None:
    with pytest.raises(TraceError) as caught:
        for _ in case.read(str(case.path), BadRows("error"), chunk_rows):
            pass
    assert caught.value.line == case.first_bad[0]


@pytest.mark.parametrize("case", [c for c in CASES if "nodes" not in c.id], ids=lambda c: c.id)
def test_job_readers_stream_rows_before_reaching_a_bad_line(case: Case) -> None:
    """With small chunks, the rows above the first bad line arrive before the error does."""
    seen: list[int] = []
    with pytest.raises(TraceError):
        for chunk in case.read(str(case.path), BadRows("error"), 1):
            assert len(chunk.line) == 1
            seen.extend(chunk.line.tolist())
    assert seen and max(seen) < case.first_bad[0]
    assert seen == [line for line in case.good["line"] if line < case.first_bad[0]]


def test_the_file_name_in_messages_is_the_callers_when_given() -> None:
    bad = BadRows("error", file="pods.csv")
    with pytest.raises(TraceError) as caught:
        list(FORMATS["alibaba-gpu-2023"].read(str(JOBS / "alibaba2023_pods.csv"), bad, CHUNK_ROWS))
    assert caught.value.format() == "pods.csv:6: num_gpu: not a number"


# ----------------------------------------------------------------------------- files and columns


MY_FORMATS = {
    "alibaba-gpu-2023": "jobs",
    "alibaba-gpu-2020": "jobs",
    "philly": "jobs",
    "gavel": "jobs",
    "tiresias": "jobs",
    "helios": "jobs",
    "csv": "jobs",
    "alibaba-gpu-2023-nodes": "nodes",
    "alibaba-gpu-2020-nodes": "nodes",
    "alibaba-spot-gpu-2026-nodes": "nodes",
}


@pytest.mark.parametrize("name", [n for n in MY_FORMATS if n != "csv"])
def test_a_missing_file_names_the_expected_columns(name: str, tmp_path: Path) -> None:
    with pytest.raises(TraceError) as caught:
        list(FORMATS[name].read(str(tmp_path / "absent.csv"), BadRows(), CHUNK_ROWS))
    assert caught.value.line is None
    assert "no such file" in caught.value.format()
    assert "expected" in caught.value.format()


def test_every_format_is_registered_with_its_kind() -> None:
    for name, kind in MY_FORMATS.items():
        assert FORMATS[name].name == name
        assert FORMATS[name].kind == kind
        assert FORMATS[name].description
    assert FORMATS["alibaba-gpu-2023"].time_end_s == ALIBABA_2023_END_S


@pytest.mark.parametrize(
    ("name", "header"),
    [
        ("alibaba-gpu-2023", "name,cpu_milli,memory_mib,num_gpu,gpu_milli\n"),
        ("tiresias", "job_id,num_gpu,submit_time\n"),
        ("helios", "time,submit_job_all,start_job_all\n"),
        ("philly", "runtime_s\n"),
        ("alibaba-gpu-2023-nodes", "sn,cpu_milli,memory_mib\n"),
    ],
)
def test_a_file_without_the_required_columns_says_which_it_expected(name: str, header: str, tmp_path: Path) -> None:
    path = tmp_path / "trace.csv"
    path.write_text(header + "1,2,3\n")
    with pytest.raises(TraceError) as caught:
        list(FORMATS[name].read(str(path), BadRows(), CHUNK_ROWS))
    assert caught.value.line is None
    assert "expected columns" in caught.value.format()


def test_an_empty_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("")
    with pytest.raises(TraceError, match="empty file"):
        list(FORMATS["philly"].read(str(path), BadRows(), CHUNK_ROWS))


def test_the_csv_format_needs_a_column_mapping() -> None:
    with pytest.raises(TraceError, match="columns mapping"):
        FORMATS["csv"].read(str(JOBS / "generic_jobs.csv"), BadRows(), CHUNK_ROWS)


@pytest.mark.parametrize(
    ("columns", "match"),
    [
        ({"submit": "t_ms", "gpus": "n_gpu"}, "exactly one of 'duration' and 'end'"),
        ({"submit": "t_ms", "gpus": "n_gpu", "duration": "runtime_ms", "end": "end_ms"}, "exactly one"),
        ({"submit": "t_ms", "duration": "runtime_ms"}, "'gpus' is required"),
        ({"submit": "t_ms", "gpus": "n_gpu", "duration": "runtime_ms", "user": "team"}, "unknown field 'user'"),
        ({"submit": "t_ms", "gpus": "n_gpus", "duration": "runtime_ms"}, "expected columns t_ms, n_gpus"),
    ],
)
def test_read_csv_jobs_checks_its_mapping(columns: dict[str, str], match: str) -> None:
    with pytest.raises(TraceError, match=match):
        list(read_csv_jobs(str(JOBS / "generic_jobs.csv"), BadRows(), CHUNK_ROWS, columns=columns))


def test_read_csv_jobs_rejects_a_bad_time_unit() -> None:
    columns = {"submit": "t_ms", "gpus": "n_gpu", "duration": "runtime_ms"}
    with pytest.raises(TraceError, match="time_unit"):
        list(read_csv_jobs(str(JOBS / "generic_jobs.csv"), BadRows(), CHUNK_ROWS, columns=columns, time_unit=0))


def test_pai_tables_read_a_header_line_or_the_documented_order(tmp_path: Path) -> None:
    """pai_task_table.csv has no header: its columns come from the .header next to it; without
    one, from the documented order; a copy with the header inline shifts every line by one."""
    sidecar, _ = read_all(fmt("alibaba-gpu-2020"), JOBS / "pai" / "pai_task_table.csv")
    alone = tmp_path / "tasks.csv"
    shutil.copy(JOBS / "pai" / "pai_task_table.csv", alone)
    documented, _ = read_all(fmt("alibaba-gpu-2020"), alone)
    inline = tmp_path / "with_header.csv"
    header = (JOBS / "pai" / "pai_task_table.header").read_text()
    inline.write_text(header + (JOBS / "pai" / "pai_task_table.csv").read_text())
    headed, _ = read_all(fmt("alibaba-gpu-2020"), inline)
    np.testing.assert_array_equal(sidecar["line"], documented["line"])
    np.testing.assert_array_equal(headed["line"], sidecar["line"] + 1)
    np.testing.assert_array_equal(headed["gpus"], sidecar["gpus"])


def test_gavel_needs_its_throughputs(tmp_path: Path) -> None:
    trace = tmp_path / "a" / "b" / "c" / "d" / "small.trace"
    trace.parent.mkdir(parents=True)
    shutil.copy(JOBS / "gavel" / "small.trace", trace)
    with pytest.raises(TraceError, match=r"simulation_throughputs\.json"):
        list(read_gavel_jobs(str(trace), BadRows("skip"), CHUNK_ROWS))
    # ... found in a parent folder, as in Gavel's own layout, or given explicitly
    shutil.copy(JOBS / "gavel" / "simulation_throughputs.json", tmp_path / "a" / "b")
    found, _ = read_all(fmt("gavel"), trace)
    given = list(
        read_gavel_jobs(str(trace), BadRows("skip"), CHUNK_ROWS, JOBS / "gavel" / "simulation_throughputs.json")
    )
    np.testing.assert_array_equal(found["duration_s"], given[0].duration_s)


def test_a_quoted_field_spanning_lines_keeps_later_lines_exact(tmp_path: Path) -> None:
    path = tmp_path / "jobs.csv"
    path.write_text('job,t,g,d\n"one\ntwo",0,1,10\nx,5,1,-3\n')
    bad = BadRows("error")
    with pytest.raises(TraceError) as caught:
        list(read_csv_jobs(str(path), bad, CHUNK_ROWS, columns={"submit": "t", "gpus": "g", "duration": "d"}))
    assert caught.value.line == 4


def test_gzip_files_are_read_as_they_are(tmp_path: Path) -> None:
    import gzip

    path = tmp_path / "philly_runtime.csv.gz"
    with gzip.open(path, "wt") as f:
        f.write((JOBS / "philly_runtime.csv").read_text())
    plain, _ = read_all(fmt("philly"), JOBS / "philly_runtime.csv")
    packed, _ = read_all(fmt("philly"), path)
    np.testing.assert_array_equal(plain["duration_s"], packed["duration_s"])
    np.testing.assert_array_equal(plain["line"], packed["line"])


def test_node_groups_keep_the_first_line_and_count_across_chunks() -> None:
    for chunk_rows in (1, 2, 100):
        got, _ = read_all(
            lambda p, b, n: read_nodes(p, b, n, model="model", gpus="gpu"),
            NODES / "alibaba2023_nodes.csv",
            chunk_rows=chunk_rows,
        )
        assert got["count"].tolist() == [3, 2, 1]
        assert got["line"].tolist() == [3, 4, 11]


# ----------------------------------------------------------------------------- real data


def test_alibaba_2023_default_pod_list() -> None:
    """SOURCE.md: 8152 pods (Running 5193, Failed 1870, Pending 897, Succeeded 192), num_gpu
    0..8, creation_time 0 .. 12,901,761 s, the trace ends at 12,902,960 s."""
    got, bad = read_all(fmt("alibaba-gpu-2023"), shared("alibaba-gpu-v2023/openb_pod_list_default.csv"), "error")
    assert bad.total == 0
    assert len(got["line"]) == 8152 - 897  # Pending pods never ran
    assert got["line"][0] == 2 and got["line"][-1] == 8153
    assert got["submit_s"].min() == 0 and got["submit_s"].max() <= 12_901_761
    running_at_end = np.isnan(got["duration_s"])
    assert running_at_end.sum() == 34  # the Running pods whose deletion_time is the trace's end
    assert (got["duration_s"][~running_at_end] > 0).all()
    assert (got["submit_s"][~running_at_end] + got["duration_s"][~running_at_end] <= ALIBABA_2023_END_S).all()
    fractional = (got["gpus"] > 0) & (got["gpus"] < 1)
    assert fractional.sum() > 2000  # GPU-sharing pods ask for a share of one GPU
    assert set(np.unique(got["gpus"][got["gpus"] >= 1])) == {1.0, 2.0, 4.0, 8.0}
    assert got["gpus"].min() == 0 and got["gpus"].max() == 8
    assert set(got["group"]) == {"LS", "BE", "Burstable", "Guaranteed"}
    assert set(got["gpu_model"]) == {""}  # no GPU-type constraint in the default list


def test_alibaba_2023_gpu_type_constraints() -> None:
    got, _ = read_all(fmt("alibaba-gpu-2023"), shared("alibaba-gpu-v2023/openb_pod_list_gpuspec33.csv"), "error")
    models = Counter(got["gpu_model"].tolist())
    assert len(got["line"]) == 8152 - 897
    assert {"T4", "G2", "P100", "V100M16|V100M32"} <= set(models)
    assert 0.2 < 1 - models[""] / len(got["line"]) < 0.4  # ~33% of GPU pods are constrained
    for spec in models:
        parts = spec.split("|")
        assert parts == sorted(set(parts))  # "V100M16|V100M32|V100M32" is tidied


def test_alibaba_2023_pod_list_without_times_is_refused() -> None:
    """multigpu50 has no timestamps (SOURCE.md: a size distribution only)."""
    with pytest.raises(TraceError, match="missing creation_time"):
        list(fmt("alibaba-gpu-2023")(str(shared("alibaba-gpu-v2023/openb_pod_list_multigpu50.csv")), BadRows(), 100))


def test_alibaba_2023_node_lists() -> None:
    """SOURCE.md: 1213 GPU nodes, 6212 GPUs; all_node adds 310 CPU nodes and nothing else."""
    gpu, _ = read_all(fmt("alibaba-gpu-2023-nodes"), shared("alibaba-gpu-v2023/openb_node_list_gpu_node.csv"), "error")
    every, _ = read_all(
        fmt("alibaba-gpu-2023-nodes"), shared("alibaba-gpu-v2023/openb_node_list_all_node.csv"), "error"
    )
    assert gpu["count"].sum() == 1213
    assert (gpu["count"] * gpu["gpus"]).sum() == 6212
    by_model = Counter()
    for model, count in zip(gpu["gpu_model"], gpu["count"], strict=True):
        by_model[model] += int(count)
    assert by_model == {"G2": 549, "T4": 404, "P100": 134, "V100M16": 55, "G3": 39, "V100M32": 30, "A10": 2}

    def groups(got: dict) -> dict:
        return dict(zip(zip(got["gpu_model"], got["gpus"], strict=True), got["count"], strict=True))

    assert groups(gpu) == groups(every)


def test_alibaba_2020_machine_spec() -> None:
    """SOURCE.md: 1897 machines, P100 798, T4 497, MISC 280, V100M32 135, V100 104, CPU 83."""
    got, _ = read_all(fmt("alibaba-gpu-2020-nodes"), shared("alibaba-gpu-v2020/pai_machine_spec.csv"), "error")
    counts = dict(zip(got["gpu_model"], got["count"], strict=True))
    assert counts == {"P100": 798, "T4": 497, "MISC": 280, "V100M32": 135, "V100": 104}
    assert got["line"].min() == 84  # no header line: the first 83 lines are the CPU machines


def test_alibaba_spot_2026_nodes() -> None:
    """SOURCE.md: 4278 nodes, 10,412 GPUs, A10 2494, H800 219."""
    got, _ = read_all(fmt("alibaba-spot-gpu-2026-nodes"), shared("alibaba-spot-gpu-v2026/node_info_df.csv"), "error")
    assert got["count"].sum() == 4278
    assert (got["count"] * got["gpus"]).sum() == 10_412
    counts = Counter()
    for model, count in zip(got["gpu_model"], got["count"], strict=True):
        counts[model] += int(count)
    assert counts["A10"] == 2494 and counts["H800"] == 219


def test_philly_runtimes() -> None:
    """SOURCE.md: 83,154 run times; two are 0 s (lines 2 and 3), which a finished job cannot be."""
    path = shared("alibaba-gpu-v2020/philly_runtime.csv")
    got, bad = read_all(fmt("philly"), path, "skip")
    assert len(got["line"]) == 83_154 - 2
    assert dict(bad.skipped) == {f"runtime: {NOT_POSITIVE_RUN}": 2}
    assert np.isnan(got["submit_s"]).all() and np.isnan(got["gpus"]).all()
    assert got["duration_s"].min() > 0 and got["duration_s"].max() == pytest.approx(4_628_239)
    with pytest.raises(TraceError) as caught:
        list(fmt("philly")(str(path), BadRows("error"), CHUNK_ROWS))
    assert caught.value.format() == f"{path}:2: runtime: {NOT_POSITIVE_RUN}"


def test_gavel_philly_vc_trace() -> None:
    """SOURCE.md: 2000 jobs, arrivals 0 .. ~4.51e6 s, GPUs 1:975 8:543 4:321 16:106 2:47 32:5
    7:2 20:1; durations are steps over the V100 throughput of the job type at its scale."""
    path = shared("gavel/ee9e8c.trace")
    got, bad = read_all(fmt("gavel"), path, "error")
    assert len(got["line"]) == 2000 and bad.total == 0
    assert got["line"].tolist() == list(range(1, 2001))
    assert dict(Counter(got["gpus"].astype(int).tolist())) == {
        1: 975, 8: 543, 4: 321, 16: 106, 2: 47, 32: 5, 7: 2, 20: 1,
    }  # fmt: skip
    assert got["submit_s"][0] == 0 and 4.4e6 < got["submit_s"].max() < 4.6e6
    assert (np.diff(got["submit_s"]) >= 0).all()
    assert (got["duration_s"] > 0).all() and np.isfinite(got["duration_s"]).all()
    with open(path.parent / "simulation_throughputs.json") as f:
        v100 = json.load(f)["v100"]
    with open(path, newline="") as f:
        first = next(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    rate = v100[str((first[0], int(first[6])))]["null"]
    assert got["duration_s"][0] == pytest.approx(int(first[4]) / rate)


def test_tiresias_files() -> None:
    """SOURCE.md: 60 jobs (submit 0 .. 1779 s, GPUs 1..8); 9,999 YARN GPU-time samples >= 121."""
    jobs, _ = read_all(fmt("tiresias"), shared("tiresias/60_job.csv"), "error")
    assert len(jobs["line"]) == 60
    assert jobs["submit_s"][0] == 0 and jobs["submit_s"][-1] == 1779
    assert set(jobs["gpus"].tolist()) <= {1, 2, 4, 8}
    assert jobs["duration_s"].min() >= 121
    samples, _ = read_all(fmt("tiresias"), shared("tiresias/yarn-gput10000.csv"), "error")
    assert len(samples["line"]) == 9999
    assert samples["duration_s"].min() == 121 and np.isnan(samples["submit_s"]).all()


def test_helios_shipped_files_are_not_job_tables() -> None:
    """Only summaries and arrival counts are shipped; the per-job cluster_log.csv is not."""
    path = shared("helios/cluster_throughput.csv")
    with pytest.raises(TraceError, match="expected columns submit_time, gpu_num, duration"):
        list(fmt("helios")(str(path), BadRows(), CHUNK_ROWS))
