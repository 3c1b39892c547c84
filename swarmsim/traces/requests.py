"""Readers of inference traces: LLM requests, diffusion requests and long-running instances.

Formats registered here (docs/traces.md, "Request traces", gives every column and choice):

- ``azure-llm`` (requests): Azure LLM inference traces, 2023 (Splitwise) and 2024 (DynamoLLM)
  layouts, ``TIMESTAMP,ContextTokens,GeneratedTokens``; ``submit_s`` counts from the file's
  first timestamp, which :func:`azure_time_origin` returns (daily profiles need the time of day).
- ``mooncake`` (requests): Mooncake FAST'25 JSON lines, ``timestamp`` in ms.
- ``alibaba-genai-2026`` (requests): Stable-Diffusion requests of Alibaba GenTD26; no tokens:
  a request's ``output_tokens`` are its denoising steps, its ``prompt_tokens`` 0.
- ``alibaba-dlrm-2025`` (jobs): long-running DLRM inference instances of Alibaba's 2025 trace,
  each holding its GPUs from scheduling to deletion.

GenTD26's ``qps.csv`` holds aggregate, rescaled QPS samples, not rows of any canonical kind:
:func:`read_genai_qps` turns it into a relative rate profile; it is not in ``FORMATS``.

Every reader streams its file (pandas chunks, or line by line for JSON lines) and reports each
bad row by its exact line: the CSV header is line 1, the first JSON line is line 1.
"""

from __future__ import annotations

import gzip
import logging
import math
from collections.abc import Iterator
from datetime import datetime
from typing import TextIO

import numpy as np
import pandas as pd

from swarmsim.traces import (
    CHUNK_ROWS,
    BadRows,
    JobRows,
    RequestRows,
    TraceError,
    TraceFormat,
    register,
)

log = logging.getLogger(__name__)

#: Largest token count, GPU count or time accepted (floats are exact integers up to here).
_LARGEST = float(2**53)

#: What :func:`_timestamps` gives for a field that is no date-time.
_NAT = np.iinfo(np.int64).min

#: End of the Alibaba DLRM 2025 trace, s after its start: 31 days. The README gives no window;
#: its events span 75 s .. 2,677,541 s (30.99 days) after the start.
DLRM_END_S = 31 * 86_400.0

#: Sampling period of GenTD26 ``qps.csv``, s: every gap between its distinct timestamps is a
#: multiple of 57 s, so each sample stands for 57 s of one container's traffic.
QPS_SAMPLE_PERIOD_S = 57.0


# --- reporting --------------------------------------------------------------------------------


def _file(path: str, bad_rows: BadRows) -> str:
    """The file name of every message: ``bad_rows.file``, set to ``path`` when it is empty."""
    if not bad_rows.file:
        bad_rows.file = str(path)
    return bad_rows.file


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _report(bad_rows: BadRows, line: int, column: str | None, reason: str, value: object = None) -> None:
    """One bad row; under ``error`` the message also shows the offending value (under ``skip``
    the tally is keyed by the reason alone, so it stays a short list)."""
    if bad_rows.policy == "error" and value is not None:
        reason = f"{reason}, got {_shown(value)}"
    bad_rows.bad(line, column, reason)


class _Problems:
    """The bad rows of one chunk. Each row is flagged at most once, by its first failing check;
    :meth:`report` then hands them to :class:`BadRows` in line order, so under ``error`` the
    first bad line of the file is the one that raises."""

    def __init__(self, n: int) -> None:
        self.ok = np.ones(n, dtype=bool)
        self._found: list[tuple[int, str | None, str, object]] = []

    def flag(
        self, mask: np.ndarray, column: str | None, reason: str, values: pd.Series | np.ndarray | None = None
    ) -> None:
        """Flag the rows of ``mask`` not flagged yet; ``values`` (by position) shows each one's
        offending field in an ``error`` message."""
        hit = mask & self.ok
        if hit.any():
            for i in np.flatnonzero(hit):
                value = values.iloc[i] if isinstance(values, pd.Series) else None if values is None else values[i]
                self._found.append((int(i), column, reason, value))
            self.ok &= ~hit

    def report(self, lines: np.ndarray, bad_rows: BadRows) -> None:
        for i, column, reason, value in sorted(self._found, key=lambda found: found[0]):
            _report(bad_rows, int(lines[i]), column, reason, value)


# --- CSV chunks and column checks ---------------------------------------------------------------


def _open_text(path: str) -> TextIO:
    """A text file, decompressed on the fly when its name ends in ``.gz``."""
    if str(path).endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8-sig", newline="")
    return open(path, encoding="utf-8-sig", newline="")


def _header(path: str, bad_rows: BadRows, columns: tuple[str, ...]) -> list[int]:
    """Position of each wanted column in the file's header (names match case-insensitively)."""
    file = _file(path, bad_rows)
    expected = f"expected columns {', '.join(columns)}"
    try:
        with _open_text(path) as stream:
            first = stream.readline()
    except FileNotFoundError:
        raise TraceError(file, None, None, f"no such file; {expected}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise TraceError(file, None, None, f"cannot read the file ({error}); {expected}") from None
    found = [name.strip().strip('"').strip() for name in first.rstrip("\r\n").split(",")]
    where = {name.lower(): i for i, name in reversed(list(enumerate(found)))}
    missing = [name for name in columns if name.lower() not in where]
    if missing:
        raise TraceError(
            file, None, None, f"{expected}; missing {', '.join(missing)} (header: {', '.join(found) or 'empty'})"
        )
    return [where[name.lower()] for name in columns]


def _csv_chunks(
    path: str, bad_rows: BadRows, columns: tuple[str, ...], chunk_rows: int, text: tuple[str, ...] = ()
) -> Iterator[tuple[np.ndarray, pd.DataFrame]]:
    """``(lines, frame)`` per chunk: the wanted columns, named as in ``columns``, and the file
    line of each row. Columns in ``text`` are read as strings; the others are numbers when every
    field of the chunk parses (the fast path), else strings. Extra fields at the end of a row are
    ignored; blank lines are kept (as rows of empty fields), so line numbers stay exact."""
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows: expected at least 1, got {chunk_rows}")
    file = _file(path, bad_rows)
    positions = _header(path, bad_rows, columns)
    by_position = sorted(zip(positions, columns, strict=True))
    names = [name for _, name in by_position]
    line = 2
    try:
        with pd.read_csv(
            path,
            header=0,
            usecols=[position for position, _ in by_position],
            dtype={position: str for position, name in by_position if name in text},
            keep_default_na=False,
            na_filter=False,
            skip_blank_lines=False,
            encoding="utf-8-sig",
            chunksize=chunk_rows,
        ) as reader:
            for chunk in reader:
                chunk.columns = names
                lines = np.arange(line, line + len(chunk), dtype=np.int64)
                line += len(chunk)
                yield lines, chunk
    except (pd.errors.ParserError, UnicodeDecodeError) as error:
        raise TraceError(file, None, None, f"not a readable CSV after line {line - 1} ({error})") from None


def _is_number(column: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)


def _stripped(column: pd.Series) -> pd.Series:
    return column.astype(str).str.strip()


def _blank_rows(problems: _Problems, frame: pd.DataFrame) -> None:
    """Leave out, without reporting them, the rows whose fields read are all empty: a blank line
    (which pandas keeps as such a row, so that line numbers stay exact) or ``,,``."""
    if any(_is_number(frame[name]) for name in frame.columns):
        return  # a column that parsed as numbers has no empty field
    blank = np.ones(len(frame), dtype=bool)
    for name in frame.columns:
        blank &= (_stripped(frame[name]) == "").to_numpy()
    problems.ok &= ~blank


def _numbers(problems: _Problems, column: pd.Series, name: str, *, empty_ok: bool = False) -> np.ndarray:
    """Float values of a column; flags empty fields (unless ``empty_ok``: they and ``NaN`` read
    as NaN), non-numbers, negatives and numbers too large to be exact."""
    raw = column
    if _is_number(column):
        values = column.to_numpy(dtype=float, copy=True)
        given = np.ones(len(values), dtype=bool)
    else:
        text = _stripped(column)
        empty = (text == "").to_numpy()
        values = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float, na_value=np.nan, copy=True)
        if empty_ok:
            empty = empty | (text.str.lower() == "nan").to_numpy()
            values[empty] = np.nan
            given = ~empty
        else:
            problems.flag(empty, name, "missing")
            given = np.ones(len(values), dtype=bool)
    problems.flag(given & ~np.isfinite(values), name, "not a number", raw)
    problems.flag(given & (values < 0), name, "negative", raw)
    problems.flag(given & (values > _LARGEST), name, "too large", raw)
    return values


def _whole(problems: _Problems, column: pd.Series, name: str, *, least: int = 0) -> np.ndarray:
    """Whole numbers >= ``least`` (``374`` and ``374.0`` both read as 374), as float64."""
    values = _numbers(problems, column, name)
    problems.flag(np.isfinite(values) & (values != np.floor(values)), name, "not a whole number", column)
    if least > 0:
        problems.flag(values < least, name, f"less than {least}", column)
    return values


def _parse_times(text: pd.Series) -> pd.Series:
    return pd.to_datetime(text, format="ISO8601", errors="coerce", utc=True)


def _timestamps(problems: _Problems, column: pd.Series, name: str) -> np.ndarray:
    """ISO 8601 date-times (any number of fractional digits, optional UTC offset; without an
    offset taken as UTC) as int64 ns since the epoch, :data:`_NAT` where none parses."""
    stamps = _parse_times(column)
    failed = stamps.isna().to_numpy()
    if failed.any():  # the slow path, for what did not parse as it stands
        text = _stripped(column[failed])
        stamps = stamps.copy()
        stamps[failed] = _parse_times(text)
        problems.flag(failed & (_stripped(column) == "").to_numpy(), name, "missing")
        problems.flag(stamps.isna().to_numpy(), name, "not a date-time", column)
    return stamps.dt.tz_convert(None).to_numpy(dtype="datetime64[ns]").astype(np.int64)


def _in_order(problems: _Problems, times: np.ndarray, last: float, column: str, text: pd.Series) -> float:
    """Flag rows earlier than the latest good row before them; return the new latest time. A
    flagged row never raises the running maximum, so skipping it leaves the rest unchanged."""
    good = np.where(problems.ok, times, -np.inf)
    before = np.maximum.accumulate(np.concatenate(([last], good)))[:-1]
    problems.flag(times < before, column, "before the previous row", text)
    return float(max(last, good.max(initial=-np.inf)))


def _first_timestamp(path: str, column: str) -> datetime:
    """The first date-time of ``column`` that parses, with its own UTC offset if it has one
    (converted to UTC), naive otherwise; truncated to microseconds."""
    quiet = BadRows("skip", file=str(path))
    for _, frame in _csv_chunks(path, quiet, (column,), 10_000, text=(column,)):
        stamps = _parse_times(_stripped(frame[column]))
        parsed = np.flatnonzero(stamps.notna().to_numpy())
        if len(parsed):
            first = pd.Timestamp(frame[column].iloc[parsed[0]].strip()).floor("us")
            return (first.tz_convert("UTC") if first.tzinfo is not None else first).to_pydatetime()
    raise TraceError(str(path), None, column, "no row with a date-time")


def _no_group(n: int) -> np.ndarray:
    return np.full(n, "", dtype=object)


def _kept_rows(problems: _Problems, lines: np.ndarray, bad_rows: BadRows, submit_s: np.ndarray,
               prompt: np.ndarray, output: np.ndarray, group: np.ndarray) -> RequestRows | None:
    """Report a chunk's bad rows and return its good ones as ``RequestRows`` (None if none is left)."""
    problems.report(lines, bad_rows)
    keep = problems.ok
    if not keep.any():
        return None
    return RequestRows(lines[keep], submit_s[keep], prompt[keep].astype(np.int64), output[keep].astype(np.int64),
                       group[keep])


class _Clock:
    """Submit times of a timestamped file, chunk after chunk: seconds since its first good
    timestamp, with rows that go back in time reported as bad."""

    def __init__(self) -> None:
        self.origin: int | None = None  # ns
        self.last = -math.inf

    def seconds(self, problems: _Problems, stamps: np.ndarray, column: str, raw: pd.Series) -> np.ndarray:
        if self.origin is None and (stamps != _NAT).any():
            self.origin = int(stamps[stamps != _NAT][0])
        submit_s = (stamps - (self.origin or 0)) / 1e9
        self.last = _in_order(problems, submit_s, self.last, column, raw)
        return submit_s


# --- Azure LLM inference 2023 / 2024 ------------------------------------------------------------

_AZURE = ("TIMESTAMP", "ContextTokens", "GeneratedTokens")


def azure_time_origin(path: str) -> datetime:
    """The first timestamp of an Azure LLM trace, which ``submit_s`` 0 stands for: naive for the
    2023 layout (no offset in the file), UTC-aware for the 2024 layout (``+00:00``)."""
    return _first_timestamp(path, "TIMESTAMP")


def read_azure_llm(path: str, bad_rows: BadRows, chunk_rows: int = CHUNK_ROWS) -> Iterator[RequestRows]:
    """Azure LLM inference requests: ``submit_s`` in s since the file's first timestamp,
    ``prompt_tokens`` = ContextTokens, ``output_tokens`` = GeneratedTokens, no group. The files
    are in time order; a row earlier than the latest good row before it is a bad row."""
    clock = _Clock()
    for lines, frame in _csv_chunks(path, bad_rows, _AZURE, chunk_rows, text=("TIMESTAMP",)):
        problems = _Problems(len(frame))
        _blank_rows(problems, frame)
        stamps = _timestamps(problems, frame["TIMESTAMP"], "TIMESTAMP")
        prompt = _whole(problems, frame["ContextTokens"], "ContextTokens")
        output = _whole(problems, frame["GeneratedTokens"], "GeneratedTokens")
        submit_s = clock.seconds(problems, stamps, "TIMESTAMP", frame["TIMESTAMP"])
        rows = _kept_rows(problems, lines, bad_rows, submit_s, prompt, output, _no_group(len(frame)))
        if rows is not None:
            yield rows


# --- Alibaba GenAI 2026 (GenTD26): diffusion requests and QPS ------------------------------------

_GENAI = ("gmt_create", "predict_status", "groupId", "num_inference_steps")


def genai_time_origin(path: str) -> datetime:
    """The first ``gmt_create`` of a GenTD26 request trace (``submit_s`` 0). The source shifts
    every timestamp by an undisclosed offset, so its time of day need not be the real one."""
    return _first_timestamp(path, "gmt_create")


def read_genai_requests(path: str, bad_rows: BadRows, chunk_rows: int = CHUNK_ROWS) -> Iterator[RequestRows]:
    """GenTD26 text/image-to-image requests (``lora_request_trace.csv``), every row whatever its
    status: ``submit_s`` in s since the first ``gmt_create``; ``output_tokens`` =
    num_inference_steps, a denoising step being, like a decode step, one sequential forward pass
    (over all the request's images at once), so a service's ``decode_s_per_token`` reads as
    seconds per step; ``prompt_tokens`` 0 (the prompt's length does not drive the time);
    ``group`` = groupId. A PENDING request (never run) may have no steps: it counts 1. In time
    order."""
    clock = _Clock()
    for lines, frame in _csv_chunks(path, bad_rows, _GENAI, chunk_rows, text=_GENAI[:3]):
        problems = _Problems(len(frame))
        _blank_rows(problems, frame)
        stamps = _timestamps(problems, frame["gmt_create"], "gmt_create")
        pending = (_stripped(frame["predict_status"]).str.upper() == "PENDING").to_numpy()
        unknown = pending & (_stripped(frame["num_inference_steps"]) == "").to_numpy()
        steps = _whole(problems, frame["num_inference_steps"].where(~unknown, "1"), "num_inference_steps", least=1)
        submit_s = clock.seconds(problems, stamps, "gmt_create", frame["gmt_create"])
        rows = _kept_rows(problems, lines, bad_rows, submit_s, np.zeros(len(frame)), steps,
                          _stripped(frame["groupId"]).to_numpy(dtype=object))
        if rows is not None:
            yield rows


def read_genai_qps(
    path: str,
    bad_rows: BadRows,
    *,
    window_s: float = 600.0,
    request_type: str | None = "Generative Requests",
    chunk_rows: int = CHUNK_ROWS,
) -> tuple[np.ndarray, np.ndarray]:
    """GenTD26 ``qps.csv`` as a rate profile: ``(start_s, rate)``, the start of each window of
    ``window_s`` s (since the first sample) and the system's mean rate in it, each sample
    counting for :data:`QPS_SAMPLE_PERIOD_S` s of one container's traffic (so with
    ``window_s=57`` the rate is the per-window sum the source's README recommends). The source
    rescales the values, keeping proportions: the profile's shape is real, its level is not
    (normalise it before use). ``request_type`` keeps one type (``None``: both). Windows with no
    sample have rate 0. The file is in time order."""
    if window_s <= 0:
        raise ValueError(f"window_s: expected a positive window, got {window_s}")
    origin: float | None = None
    last = -math.inf
    totals = np.zeros(0)
    for lines, frame in _csv_chunks(
        path, bad_rows, ("timestamp_anon", "value", "request_type"), chunk_rows, text=("request_type",)
    ):
        problems = _Problems(len(frame))
        _blank_rows(problems, frame)
        stamps = _numbers(problems, frame["timestamp_anon"], "timestamp_anon")
        values = _numbers(problems, frame["value"], "value")
        last = _in_order(problems, stamps, last, "timestamp_anon", frame["timestamp_anon"])
        problems.report(lines, bad_rows)
        if origin is None and problems.ok.any():
            origin = float(stamps[problems.ok][0])
        keep = problems.ok
        if request_type is not None:
            keep = keep & (_stripped(frame["request_type"]) == request_type).to_numpy()
        if origin is None or not keep.any():
            continue
        window = ((stamps[keep] - origin) // window_s).astype(np.int64)
        counts = np.bincount(window, weights=values[keep] * QPS_SAMPLE_PERIOD_S)
        if len(counts) > len(totals):
            totals = np.concatenate((totals, np.zeros(len(counts) - len(totals))))
        totals[: len(counts)] += counts
    return np.arange(len(totals), dtype=np.float64) * window_s, totals / window_s


# --- Alibaba DLRM 2025: long-running inference instances -------------------------------------------

_DLRM = ("app_name", "gpu_request", "creation_time", "scheduled_time", "deletion_time")


def read_dlrm_instances(path: str, bad_rows: BadRows, chunk_rows: int = CHUNK_ROWS) -> Iterator[JobRows]:
    """GPU-holding DLRM inference instances as jobs, in file order (not time order): only rows
    with gpu_request > 0 (the HN instances; CN instances hold no GPU and are left out, not
    counted as bad). ``submit_s`` = creation_time, 0 for an instance created before the trace;
    ``gpus`` = gpu_request; ``duration_s`` = deletion_time - scheduled_time (scheduled_time 0
    when scheduled before the trace), NaN when deleted after the trace's end
    (:data:`DLRM_END_S`); ``gpu_model`` ""; ``group`` = app_name. An empty time means outside
    the trace, as the source documents."""
    without_gpu = 0
    for lines, frame in _csv_chunks(path, bad_rows, _DLRM, chunk_rows, text=("app_name",)):
        problems = _Problems(len(frame))
        _blank_rows(problems, frame)
        gpus = _numbers(problems, frame["gpu_request"], "gpu_request")
        created = _numbers(problems, frame["creation_time"], "creation_time", empty_ok=True)
        scheduled = _numbers(problems, frame["scheduled_time"], "scheduled_time", empty_ok=True)
        deleted = _numbers(problems, frame["deletion_time"], "deletion_time", empty_ok=True)
        problems.flag(
            ~np.isnan(created) & np.isnan(scheduled),
            "scheduled_time",
            "empty (scheduled before the trace) but creation_time is in it",
        )
        problems.flag(scheduled < created, "scheduled_time", "before creation_time", frame["scheduled_time"])
        start = np.where(np.isnan(scheduled), 0.0, scheduled)
        problems.flag(deleted < start, "deletion_time", "before scheduled_time", frame["deletion_time"])
        problems.report(lines, bad_rows)
        without_gpu += int((problems.ok & (gpus == 0)).sum())
        keep = problems.ok & (gpus > 0)
        if keep.any():
            n = int(keep.sum())
            yield JobRows(
                lines[keep],
                np.where(np.isnan(created), 0.0, created)[keep],
                gpus[keep],
                (deleted - start)[keep],
                np.full(n, "", dtype=object),
                _stripped(frame["app_name"]).to_numpy(dtype=object)[keep],
            )
    if without_gpu:
        log.info("%s: left out %d instances without a GPU (CPU nodes)", path, without_gpu)


register(
    TraceFormat(
        "azure-llm",
        "requests",
        read_azure_llm,
        "Azure LLM inference trace, 2023 or 2024 layout (TIMESTAMP, ContextTokens, GeneratedTokens)",
    )
)
register(
    TraceFormat(
        "alibaba-genai-2026",
        "requests",
        read_genai_requests,
        "Alibaba GenTD26 diffusion requests (lora_request_trace.csv); output tokens = denoising steps",
    )
)
register(
    TraceFormat(
        "alibaba-dlrm-2025",
        "jobs",
        read_dlrm_instances,
        "Alibaba GPU-disaggregated DLRM 2025 inference instances holding GPUs (HN rows)",
        time_end_s=DLRM_END_S,
    )
)
