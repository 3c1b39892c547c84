"""Readers of inference traces (swarmsim.traces.requests): Azure LLM, Mooncake, Alibaba GenAI
2026 requests and QPS, Alibaba DLRM 2025 instances.

Real files come from ``shared/data`` beside the repository (each test skips, saying why, when
they are absent); counts and medians are checked against their SOURCE.md and against a direct
pandas reading. Hand-written fixtures in ``tests/data/requests`` hold malformed rows: each one's
line, column and reason is pinned under ``error`` and ``skip``, at several chunk sizes.
"""

from __future__ import annotations

import dataclasses
import gzip
import logging
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from swarmsim.traces import CHUNK_ROWS, BadRows, JobRows, RequestRows, TraceError
from swarmsim.traces.formats import FORMATS
from swarmsim.traces.requests import (
    DLRM_END_S,
    QPS_SAMPLE_PERIOD_S,
    azure_time_origin,
    genai_time_origin,
    read_genai_qps,
)

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
FIXTURES = Path(__file__).parent / "data" / "requests"

AZURE_CODE = DATA / "azure-llm-2023" / "AzureLLMInferenceTrace_code.csv"
AZURE_CONV = DATA / "azure-llm-2023" / "AzureLLMInferenceTrace_conv.csv"
MOONCAKE_CONV = DATA / "mooncake" / "conversation_trace.jsonl"
MOONCAKE_SYNTH = DATA / "mooncake" / "synthetic_trace.jsonl"
GENAI = DATA / "alibaba-genai-v2026" / "lora_request_trace.csv"
GENAI_QPS = DATA / "alibaba-genai-v2026" / "qps.csv"
DLRM = DATA / "alibaba-dlrm-v2025" / "disaggregated_DLRM_trace.csv"


def real(path: Path) -> Path:
    if not path.is_file():
        pytest.skip(f"real trace {path} absent (shared/data is not beside this checkout)")
    return path


def read(fmt: str, path: Path, policy: str = "error", chunk_rows: int = CHUNK_ROWS):
    """All rows of a file as one rows object, the tally, and the chunk lengths."""
    bad = BadRows(policy, file=path.name)
    chunks = list(FORMATS[fmt].read(str(path), bad, chunk_rows))
    assert chunks, f"{path.name}: no rows"
    kind = type(chunks[0])
    assert all(type(chunk) is kind for chunk in chunks)
    parts = {f.name: [getattr(c, f.name) for c in chunks] for f in dataclasses.fields(kind)}
    joined = kind(**{k: None if v[0] is None else np.concatenate(v) for k, v in parts.items()})
    return joined, bad, [len(chunk.line) for chunk in chunks]


def assert_same_rows(a, b) -> None:
    assert type(a) is type(b)
    for f in dataclasses.fields(a):
        left, right = getattr(a, f.name), getattr(b, f.name)
        if left is None or right is None:  # an optional column (RequestRows.blocks)
            assert left is right, f.name
            continue
        assert left.dtype == right.dtype, f.name
        np.testing.assert_array_equal(left, right, err_msg=f.name)


def assert_request_dtypes(rows: RequestRows) -> None:
    assert rows.line.dtype == np.int64 and rows.submit_s.dtype == np.float64
    assert rows.prompt_tokens.dtype == np.int64 and rows.output_tokens.dtype == np.int64
    assert rows.group.dtype == object


# --- the table ------------------------------------------------------------------------------------


def test_formats_are_registered_with_their_kind():
    kinds = {name: FORMATS[name].kind for name in ("azure-llm", "mooncake", "alibaba-genai-2026", "alibaba-dlrm-2025")}
    assert kinds == {
        "azure-llm": "requests",
        "mooncake": "requests",
        "alibaba-genai-2026": "requests",
        "alibaba-dlrm-2025": "jobs",
    }
    assert FORMATS["alibaba-dlrm-2025"].time_end_s == DLRM_END_S == 31 * 86_400
    assert "alibaba-genai-2026-qps" not in FORMATS  # a rate profile, not rows: read_genai_qps
    assert all(FORMATS[name].description for name in kinds)


# --- real files ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "rows", "prompt_median", "output_median"),
    [
        (AZURE_CODE, 8_819, 1469, 13),
        (AZURE_CONV, 19_366, 1020, 129),
    ],
)
def test_azure_real(path, rows, prompt_median, output_median):
    got, bad, _ = read("azure-llm", real(path))
    direct = pd.read_csv(path)
    assert len(got.line) == len(direct) == rows  # SOURCE.md
    assert bad.total == 0
    assert_request_dtypes(got)
    np.testing.assert_array_equal(got.line, np.arange(2, rows + 2))
    assert np.median(got.prompt_tokens) == direct["ContextTokens"].median() == prompt_median
    assert np.median(got.output_tokens) == direct["GeneratedTokens"].median() == output_median
    assert 100 <= prompt_median <= 5_000 and 1 <= output_median <= 1_000
    assert got.submit_s[0] == 0.0 and np.all(np.diff(got.submit_s) >= 0)
    stamps = pd.to_datetime(direct["TIMESTAMP"])
    np.testing.assert_allclose(got.submit_s, (stamps - stamps.iloc[0]).dt.total_seconds(), atol=1e-6)
    assert 55 * 60 < got.submit_s[-1] < 60 * 60  # ~57-58 min (SOURCE.md)
    assert set(got.group) == {""}


def test_azure_time_origin_real():
    assert azure_time_origin(str(real(AZURE_CODE))) == datetime(2023, 11, 16, 18, 17, 3, 979960)
    assert azure_time_origin(str(real(AZURE_CONV))) == datetime(2023, 11, 16, 18, 15, 46, 680590)


@pytest.mark.parametrize(
    ("path", "rows", "mean_in", "mean_out"),
    [
        (MOONCAKE_CONV, 12_031, 12_035, 343),
        (MOONCAKE_SYNTH, 3_993, 15_325, 149),
    ],
)
def test_mooncake_real(path, rows, mean_in, mean_out):
    got, bad, _ = read("mooncake", real(path))
    direct = pd.read_json(path, lines=True)
    assert len(got.line) == len(direct) == rows and bad.total == 0  # SOURCE.md / README
    assert_request_dtypes(got)
    np.testing.assert_array_equal(got.line, np.arange(1, rows + 1))
    assert np.median(got.prompt_tokens) == direct["input_length"].median()
    assert np.median(got.output_tokens) == direct["output_length"].median()
    assert 1_000 <= np.median(got.prompt_tokens) <= 50_000 and 10 <= np.median(got.output_tokens) <= 2_000
    assert abs(got.prompt_tokens.mean() - mean_in) < 1 and abs(got.output_tokens.mean() - mean_out) < 1
    assert got.submit_s[0] == 0.0 and np.all(np.diff(got.submit_s) >= 0)
    np.testing.assert_allclose(got.submit_s, direct["timestamp"] / 1000.0)


def test_genai_requests_real():
    got, bad, _ = read("alibaba-genai-2026", real(GENAI))
    direct = pd.read_csv(GENAI)
    assert len(got.line) == len(direct) == 26_823 and bad.total == 0  # SOURCE.md: every row
    assert_request_dtypes(got)
    steps = direct["num_inference_steps"].fillna(1).astype(np.int64)
    assert (direct.loc[direct["num_inference_steps"].isna(), "predict_status"] == "PENDING").all()
    np.testing.assert_array_equal(got.output_tokens, steps)
    assert np.median(got.output_tokens) == steps.median() == 30
    assert np.all(got.prompt_tokens == 0) and np.all(got.output_tokens >= 1)
    np.testing.assert_array_equal(got.group, direct["groupId"])
    assert got.submit_s[0] == 0.0 and np.all(np.diff(got.submit_s) >= 0)
    span = pd.Timestamp("2024-12-08 17:33:57") - pd.Timestamp("2024-11-15 16:57:50")  # SOURCE.md
    assert got.submit_s[-1] == span.total_seconds()
    assert genai_time_origin(str(GENAI)) == datetime(2024, 11, 15, 16, 57, 50)


def test_genai_qps_real():
    start_s, rate = read_genai_qps(str(real(GENAI_QPS)), BadRows(file="qps.csv"), window_s=600.0)
    direct = pd.read_csv(GENAI_QPS)
    generative = direct[direct["request_type"] == "Generative Requests"]
    assert len(direct) == 24_627 and len(generative) == 23_513  # SOURCE.md
    # every sample counted once, for one sampling period
    assert rate.sum() * 600.0 == pytest.approx(generative["value"].sum() * QPS_SAMPLE_PERIOD_S)
    origin = direct["timestamp_anon"].iloc[0]  # windows start at the first sample, of any type
    last = generative["timestamp_anon"].iloc[-1] - origin
    assert start_s[0] == 0.0 and np.all(np.diff(start_s) == 600.0)
    assert start_s[-1] <= last < start_s[-1] + 600.0
    assert 0.9 * 86_400 < direct["timestamp_anon"].iloc[-1] - origin < 0.95 * 86_400  # ~0.93 days
    assert np.all(rate >= 0) and rate.max() > 0


def test_dlrm_real():
    got, bad, _ = read("alibaba-dlrm-2025", real(DLRM))
    direct = pd.read_csv(DLRM)
    hn = direct[direct["gpu_request"] > 0]
    assert (direct["role"] == "HN").sum() == len(hn) == len(got.line) == 7_386 and bad.total == 0  # SOURCE.md
    assert isinstance(got, JobRows)
    np.testing.assert_array_equal(got.line, hn.index.to_numpy() + 2)
    np.testing.assert_array_equal(got.gpus, hn["gpu_request"].astype(float))
    np.testing.assert_array_equal(got.group, hn["app_name"])
    assert set(got.gpu_model) == {""}
    np.testing.assert_array_equal(got.submit_s, hn["creation_time"].fillna(0.0))
    expected = hn["deletion_time"] - hn["scheduled_time"].fillna(0.0)
    np.testing.assert_array_equal(got.duration_s, expected)
    assert np.isnan(got.duration_s).sum() == hn["deletion_time"].isna().sum() > 0
    assert np.nanmin(got.duration_s) >= 0 and np.nanmax(got.submit_s + got.duration_s) <= DLRM_END_S
    assert np.median(got.submit_s + np.nan_to_num(got.duration_s)) > 0


@pytest.mark.parametrize(
    ("fmt", "path"),
    [
        ("azure-llm", AZURE_CONV),
        ("mooncake", MOONCAKE_CONV),
        ("alibaba-genai-2026", GENAI),
        ("alibaba-dlrm-2025", DLRM),
    ],
)
def test_real_chunked_equals_whole(fmt, path):
    whole, _, sizes = read(fmt, real(path))
    chunked, _, chunk_sizes = read(fmt, path, chunk_rows=1_000)
    assert len(sizes) == 1 and max(chunk_sizes) <= 1_000 and len(chunk_sizes) > 1
    assert_same_rows(whole, chunked)


# --- well-formed fixtures -------------------------------------------------------------------------


GOOD = [
    ("azure-llm", "azure_2023.csv", 16),
    ("azure-llm", "azure_2024.csv", 10),
    ("mooncake", "mooncake.jsonl", 16),
    ("alibaba-genai-2026", "genai.csv", 16),
    ("alibaba-dlrm-2025", "dlrm.csv", 13),
]


@pytest.mark.parametrize(("fmt", "name", "rows"), GOOD)
def test_chunk_rows_7_equals_one_chunk(fmt, name, rows):
    whole, bad, sizes = read(fmt, FIXTURES / name)
    chunked, bad7, sizes7 = read(fmt, FIXTURES / name, chunk_rows=7)
    assert len(whole.line) == rows and bad.total == bad7.total == 0
    assert sizes == [rows] and all(size <= 7 for size in sizes7) and len(sizes7) > 1
    assert_same_rows(whole, chunked)


@pytest.mark.parametrize(("fmt", "name", "rows"), [g for g in GOOD if g[0] != "alibaba-dlrm-2025"])
def test_fixture_requests_are_in_time_order_from_zero(fmt, name, rows):
    got, _, _ = read(fmt, FIXTURES / name)
    assert_request_dtypes(got)
    assert got.submit_s[0] == 0.0 and np.all(np.diff(got.submit_s) >= 0)


def test_azure_2024_layout():
    got, _, _ = read("azure-llm", FIXTURES / "azure_2024.csv")
    np.testing.assert_allclose(got.submit_s[:3], [0.0, 0.041683, 0.157988])
    assert got.submit_s[5] == 1.0 and got.submit_s[7] == 1.5  # no fraction; one digit
    assert azure_time_origin(str(FIXTURES / "azure_2024.csv")) == datetime(2024, 5, 12, tzinfo=UTC)
    origin = azure_time_origin(str(FIXTURES / "azure_2023.csv"))
    assert origin == datetime(2023, 11, 16, 18, 15, 46, 680590) and origin.tzinfo is None
    got, _, _ = read("azure-llm", FIXTURES / "azure_2023.csv")
    assert got.submit_s[-1] == pytest.approx(58.8194100)  # 18:16:45.5 - 18:15:46.68059
    assert got.submit_s[4] == got.submit_s[5]  # equal timestamps are in order


def test_genai_mapping():
    got, _, _ = read("alibaba-genai-2026", FIXTURES / "genai.csv")
    # denoising steps, whatever the number of images; the PENDING row without any (line 9) counts 1
    assert got.output_tokens.tolist() == [30, 40, 40, 40, 40, 30, 25, 1, 30, 30, 30, 20, 50, 100, 28, 30]
    assert set(got.prompt_tokens) == {0}
    assert got.group[:3].tolist() == ["G0000", "G0001", "G0001"] and got.submit_s[-1] == 2 * 86_400


def test_dlrm_mapping(caplog):
    with caplog.at_level(logging.INFO, logger="swarmsim.traces.requests"):
        got, _, _ = read("alibaba-dlrm-2025", FIXTURES / "dlrm.csv")
    assert "left out 4 instances without a GPU" in caplog.text
    assert got.line.tolist() == [2, 3, 5, 6, 8, 9, 10, 12, 13, 14, 15, 17, 18]  # CN rows (0 GPUs) left out
    assert got.submit_s.tolist() == [0, 0, 475, 1000, 200, 0, 2676636, 50, 40, 0, 300, 900, 0]
    np.testing.assert_array_equal(
        got.duration_s, [np.nan, 86400, np.nan, 3989, 0, 3600, np.nan, 2677480, 60, 1200, np.nan, 950, np.nan]
    )
    assert got.gpus.tolist()[3:5] == [2.0, 2.0] and got.group[-1] == "app_7"


def test_genai_qps_profile():
    start_s, rate = read_genai_qps(str(FIXTURES / "qps.csv"), BadRows(file="qps.csv"), window_s=114.0)
    assert start_s.tolist() == [0.0, 114.0, 228.0, 342.0, 456.0, 570.0]  # from the first sample (API)
    np.testing.assert_allclose(rate, [0, 0, 0.36 / 2, 0.27 / 2, 0, 0.63 / 2])  # sum x 57 s / 114 s
    _, both = read_genai_qps(str(FIXTURES / "qps.csv"), BadRows(), window_s=114.0, request_type=None)
    np.testing.assert_allclose(both, [0.18 / 2, 0, 0.45 / 2, 0.27 / 2, 0, 0.63 / 2])
    _, per_sample = read_genai_qps(str(FIXTURES / "qps.csv"), BadRows(), window_s=57.0)
    assert per_sample.sum() == pytest.approx(0.09 + 0.09 + 0.18 + 0.27 + 0.54 + 0.09)


# --- malformed fixtures ---------------------------------------------------------------------------

BAD = {
    "azure_bad.csv": (
        "azure-llm",
        [2, 3, 12, 13],
        {
            4: "ContextTokens: missing",
            5: "GeneratedTokens: not a number",
            6: "ContextTokens: negative",
            7: "ContextTokens: not a whole number",
            8: "TIMESTAMP: not a date-time",  # hour 25
            9: "TIMESTAMP: not a date-time",  # "yesterday"
            10: "TIMESTAMP: before the previous row",
            14: "TIMESTAMP: missing",
        },
    ),
    "mooncake_bad.jsonl": (
        "mooncake",
        [1, 2, 13, 14],
        {
            3: "output_length: missing",
            4: "input_length: not a number",
            5: "output_length: negative",
            6: "input_length: not a whole number",
            7: "not JSON",
            9: "not a JSON object",
            10: "timestamp: before the previous row",
            11: "timestamp: missing",  # null
            12: "timestamp: not a number",  # true
        },
    ),
    "genai_bad.csv": (
        "alibaba-genai-2026",
        [2, 3, 9, 11],
        {
            4: "gmt_create: not a date-time",
            5: "num_inference_steps: missing",
            6: "num_inference_steps: less than 1",
            7: "num_inference_steps: not a whole number",
            8: "gmt_create: before the previous row",
            10: "num_inference_steps: negative",
        },
    ),
    "dlrm_bad.csv": (
        "alibaba-dlrm-2025",
        [2, 11, 12],
        {
            4: "gpu_request: missing",
            5: "gpu_request: not a number",
            6: "creation_time: negative",
            7: "scheduled_time: before creation_time",
            8: "deletion_time: before scheduled_time",
            9: "scheduled_time: empty (scheduled before the trace) but creation_time is in it",
            10: "creation_time: not a number",
        },
    ),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_error_names_the_first_bad_line(name):
    fmt, _, problems = BAD[name]
    line = min(problems)
    with pytest.raises(TraceError) as caught:
        read(fmt, FIXTURES / name)
    assert caught.value.line == line
    assert caught.value.format().startswith(f"{name}:{line}: {problems[line]}")


@pytest.mark.parametrize("chunk_rows", [1, 3, 7, CHUNK_ROWS])
@pytest.mark.parametrize("name", sorted(BAD))
def test_skip_counts_by_reason(name, chunk_rows):
    fmt, kept, problems = BAD[name]
    got, bad, sizes = read(fmt, FIXTURES / name, "skip", chunk_rows)
    assert got.line.tolist() == kept and max(sizes) <= chunk_rows
    assert bad.skipped == Counter(problems.values())
    first = {}
    for line, key in sorted(problems.items()):
        first.setdefault(key, line)
    assert bad.first_line == first


class ErrorFrom(BadRows):
    """``error`` from line ``start`` on, rows before it skipped: reaches a later row's message."""

    def __init__(self, start: int, file: str) -> None:
        super().__init__("error", file=file)
        self.start = start

    def bad(self, line: int, column: str | None, reason: str) -> None:
        if line >= self.start:
            super().bad(line, column, reason)


@pytest.mark.parametrize(
    ("name", "line", "text"),
    [
        ("azure_bad.csv", 6, "ContextTokens: negative, got '-91'"),
        ("azure_bad.csv", 10, "TIMESTAMP: before the previous row, got '2023-11-16 18:15:40.0000000'"),
        ("mooncake_bad.jsonl", 4, "input_length: not a number, got 'many'"),
        ("mooncake_bad.jsonl", 9, "not a JSON object, got [1, 2, 3]"),
        ("genai_bad.csv", 6, "num_inference_steps: less than 1, got '0.0'"),
        ("dlrm_bad.csv", 7, "scheduled_time: before creation_time, got '90.0'"),
    ],
)
def test_error_shows_the_value(name, line, text):
    fmt = BAD[name][0]
    with pytest.raises(TraceError) as caught:
        for _ in FORMATS[fmt].read(str(FIXTURES / name), ErrorFrom(line, name), CHUNK_ROWS):
            pass
    assert caught.value.format() == f"{name}:{line}: {text}"


@pytest.mark.parametrize(
    ("fmt", "name", "missing"),
    [
        ("azure-llm", "azure_columns.csv", "missing GeneratedTokens"),
        ("mooncake", "mooncake_keys.jsonl", "missing output_length"),
        ("alibaba-genai-2026", "genai_columns.csv", "missing num_inference_steps"),
        ("alibaba-dlrm-2025", "dlrm_columns.csv", "missing gpu_request, scheduled_time"),
    ],
)
@pytest.mark.parametrize("policy", ["error", "skip"])
def test_missing_columns(fmt, name, missing, policy):
    with pytest.raises(TraceError) as caught:
        read(fmt, FIXTURES / name, policy)
    assert caught.value.line is None and caught.value.column is None
    text = caught.value.format()
    assert text.startswith(f"{name}: expected ") and missing in text


@pytest.mark.parametrize("fmt", ["azure-llm", "mooncake", "alibaba-genai-2026", "alibaba-dlrm-2025"])
def test_missing_file(fmt, tmp_path):
    with pytest.raises(TraceError) as caught:
        read(fmt, tmp_path / "absent.csv")
    assert caught.value.line is None
    assert caught.value.format().startswith("absent.csv: no such file; expected ")


def test_qps_bad_rows():
    path = str(FIXTURES / "qps_bad.csv")
    with pytest.raises(TraceError) as caught:
        read_genai_qps(path, BadRows(file="qps_bad.csv"))
    assert caught.value.format() == "qps_bad.csv:3: value: not a number, got 'lots'"
    bad = BadRows("skip", file="qps_bad.csv")
    _, rate = read_genai_qps(path, bad, window_s=114.0)
    assert bad.skipped == Counter(
        {"value: not a number": 1, "timestamp_anon: before the previous row": 1, "value: negative": 1}
    )
    np.testing.assert_allclose(rate, [0, 0, 0, 0.27 / 2])


@pytest.mark.parametrize(("fmt", "name"), [("azure-llm", "azure_2023.csv"), ("mooncake", "mooncake.jsonl")])
def test_gzip_reads_like_the_plain_file(fmt, name, tmp_path):
    packed = tmp_path / f"{name}.gz"
    packed.write_bytes(gzip.compress((FIXTURES / name).read_bytes()))
    assert_same_rows(read(fmt, FIXTURES / name)[0], read(fmt, packed)[0])


def test_blank_lines_are_not_rows_but_count(tmp_path):
    path = tmp_path / "gaps.jsonl"
    path.write_text(
        '\n{"timestamp": 5, "input_length": 1, "output_length": 2}\n\n  \n'
        '{"timestamp": 6, "input_length": 3, "output_length": 4}\n'
    )
    got, bad, _ = read("mooncake", path, "skip")
    assert got.line.tolist() == [2, 5] and bad.total == 0
    csv_path = tmp_path / "gaps.csv"
    csv_path.write_text(
        "TIMESTAMP,ContextTokens,GeneratedTokens\n\n2024-05-12 00:00:00,1,2\n,,\n\n2024-05-12 00:00:01,3,4\n"
    )
    got, bad, _ = read("azure-llm", csv_path, "skip")
    assert got.line.tolist() == [3, 6] and got.submit_s.tolist() == [0.0, 1.0] and bad.total == 0


def test_messages_name_the_path_when_bad_rows_has_no_file():
    bad = BadRows()
    path = str(FIXTURES / "azure_bad.csv")
    with pytest.raises(TraceError) as caught:
        list(FORMATS["azure-llm"].read(path, bad, CHUNK_ROWS))
    assert caught.value.format().startswith(f"{path}:4: ContextTokens: missing")


def test_unterminated_quote_is_a_trace_error(tmp_path):
    path = tmp_path / "quote.csv"
    path.write_text('TIMESTAMP,ContextTokens,GeneratedTokens\n2024-05-12 00:00:00,1,2\n"2024-05-12 00:00:01,1,2\n')
    with pytest.raises(TraceError, match="not a readable CSV"):
        read("azure-llm", path)
