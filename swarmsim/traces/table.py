"""Reading trace tables: the rules every reader shares (``docs/traces.md``).

- the file is read with the ``csv`` module, ``chunk_rows`` rows at a time, so memory does not grow
  with the file; ``.gz`` files are decompressed on the fly;
- each row keeps the 1-based line of the file it starts on (a header is line 1, so the first data
  row is line 2; a file without a header line starts its data on line 1);
- every row is checked (:class:`Checks`: missing or non-numeric fields, negative GPUs, an end
  before the start, a finished job that ran for 0 s or less) and a bad row goes to
  ``bad_rows.bad(line, column, reason)``: it raises under ``on_bad_rows: error`` and is counted
  and left out under ``skip``. Reasons are short and do not repeat the row's values, so the skip
  tally groups them;
- a row that is valid but not a job that ran is left out without being a bad row; how many is
  logged at INFO (:func:`log_left_out`).

Used by the job readers (:mod:`swarmsim.traces.jobs`, :mod:`~swarmsim.traces.alibaba`,
:mod:`~swarmsim.traces.philly`) and :mod:`swarmsim.traces.nodes`.
"""

from __future__ import annotations

import csv
import gzip
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TextIO

import numpy as np
import pandas as pd

from swarmsim.traces import BadRows, JobRows, TraceError

log = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]

#: The reasons used by more than one reader (a skip tally groups rows by reason).
MISSING = "missing"
NOT_A_NUMBER = "not a number"
NEGATIVE = "negative"
NOT_WHOLE = "not a whole number"
NOT_POSITIVE_RUN = "<= 0 s for a finished job"


@dataclass(frozen=True)
class RawChunk:
    """Up to ``chunk_rows`` rows of one file as stripped text columns.

    ``issues`` holds the rows already found bad while splitting the file (a wrong number of
    fields), as ``(line, column, reason)``; :class:`Checks` adds the others.
    """

    line: np.ndarray  # int64, the line each row starts on
    text: dict[str, np.ndarray]  # column -> str array; only the columns the file has
    issues: list[tuple[int, str | None, str]]


def require_file(path: PathLike, expected: str) -> Path:
    """The path, or a :class:`TraceError` naming the columns the reader expected."""
    p = Path(path)
    if not p.is_file():
        what = "not a file" if p.exists() else "no such file"
        raise TraceError(str(path), None, None, f"{what} (expected a table with columns {expected})")
    return p


def open_trace(path: PathLike, expected: str) -> TextIO:
    """Open a trace file for the ``csv`` module (``.gz`` decompressed)."""
    p = require_file(path, expected)
    if p.name.endswith(".gz"):
        return gzip.open(p, "rt", encoding="utf-8-sig", newline="")
    return p.open(encoding="utf-8-sig", newline="")


def sidecar_header(path: PathLike) -> list[str] | None:
    """Column names from ``NAME.header`` next to ``NAME.csv`` (the Alibaba PAI 2020 layout)."""
    p = Path(path)
    stem = p.name
    for suffix in (".gz", ".csv", ".tsv", ".txt"):
        stem = stem.removesuffix(suffix)
    header = p.with_name(stem + ".header")
    if not header.is_file():
        return None
    first = header.read_text(encoding="utf-8-sig").splitlines()[:1]
    return [name.strip() for name in next(csv.reader(first), [])] if first else None


def numbered(reader: Iterator[list[str]]) -> Iterator[tuple[int, list[str]]]:
    """``(line, row)`` with the line each row starts on (a quoted field may span lines)."""
    previous = 0
    for row in reader:
        yield previous + 1, row
        previous = reader.line_num  # type: ignore[attr-defined]  # csv readers have line_num; the Iterator annotation does not say so


def read_table(
    path: PathLike,
    bad_rows: BadRows,
    chunk_rows: int,
    *,
    required: Sequence[str],
    optional: Sequence[str] = (),
    names: Sequence[str] | None = None,
    sidecar: bool = False,
    delimiter: str = ",",
    quoting: Literal[0, 1, 2, 3] = csv.QUOTE_MINIMAL,  # csv.QUOTE_*
) -> Iterator[RawChunk]:
    """Stream a delimited file as :class:`RawChunk` s of at most ``chunk_rows`` rows.

    The first line is the header when it holds every ``required`` column. Otherwise the file has
    no header line: its columns come from ``NAME.header`` next to it (when ``sidecar``), else from
    ``names`` (the format's documented order), and its first line is data (line 1). A file that
    does not exist, is empty or lacks a required column raises :class:`TraceError` without a
    line. Blank lines are not rows.
    """
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be at least 1, got {chunk_rows}")
    file = str(path)
    if not bad_rows.file:
        bad_rows.file = file
    expected = ", ".join(required)
    with open_trace(path, expected) as f:
        rows = numbered(csv.reader(f, delimiter=delimiter, quoting=quoting))
        first = next(rows, None)
        if first is None:
            raise TraceError(file, None, None, f"empty file (expected columns {expected})")
        head = [name.strip() for name in first[1]]
        columns: list[str] | None
        if set(required) <= set(head):
            columns, data = head, rows
        else:
            columns = (sidecar_header(path) if sidecar else None) or (list(names) if names else None)
            if columns is None or not set(required) <= set(columns):
                found = ", ".join(head[:12]) + (", ..." if len(head) > 12 else "")
                missing = ", ".join(c for c in required if c not in head)
                raise TraceError(
                    file, None, None, f"expected columns {expected}; missing {missing} (the header is: {found})"
                )
            data = _chain(first, rows)
        wanted = [c for c in (*required, *optional) if c in columns]
        index = {c: columns.index(c) for c in wanted}
        width = len(columns)
        lines: list[int] = []
        values: dict[str, list[str]] = {c: [] for c in wanted}
        issues: list[tuple[int, str | None, str]] = []
        for line, row in data:
            if not row or (len(row) == 1 and not row[0].strip() and width > 1):
                continue
            if len(row) != width:
                issues.append((line, None, f"expected {width} fields, found {len(row)}"))
            else:
                lines.append(line)
                for c, i in index.items():
                    values[c].append(row[i])
            if len(lines) + len(issues) >= chunk_rows:
                yield _raw_chunk(lines, values, issues)
                lines, values, issues = [], {c: [] for c in wanted}, []
        if lines or issues:
            yield _raw_chunk(lines, values, issues)


def _chain(first: tuple[int, list[str]], rest: Iterator[tuple[int, list[str]]]) -> Iterator[tuple[int, list[str]]]:
    yield first
    yield from rest


def _raw_chunk(lines: list[int], values: dict[str, list[str]], issues: list) -> RawChunk:
    text = {c: np.char.strip(np.array(v, dtype=str)) for c, v in values.items()}
    return RawChunk(np.array(lines, dtype=np.int64), text, issues)


def peek_header(path: PathLike, expected: str, delimiter: str = ",") -> list[str]:
    """The names on the first line of a file (to choose between two layouts of one format)."""
    with open_trace(path, expected) as f:
        first = next(csv.reader(f, delimiter=delimiter), None)
    if first is None:
        raise TraceError(str(path), None, None, f"empty file (expected columns {expected})")
    return [name.strip() for name in first]


class Checks:
    """The bad rows of one chunk: each row is reported once, under its first problem.

    ``flag(mask, column, reason)`` marks rows; ``report(bad_rows)`` hands them to ``bad_rows`` in
    line order (so under ``error`` the first bad line of the file raises, whatever the chunk
    size); ``good`` is the mask of rows with no problem.
    """

    def __init__(self, raw: RawChunk) -> None:
        self.raw = raw
        self.line = raw.line
        self.n = len(raw.line)
        self.bad = np.zeros(self.n, dtype=bool)
        self.issues = list(raw.issues)

    @property
    def good(self) -> np.ndarray:
        return ~self.bad

    def flag(self, mask: np.ndarray, column: str | None, reason: str) -> None:
        new = np.asarray(mask, dtype=bool) & ~self.bad
        if new.any():
            self.issues.extend((int(line), column, reason) for line in self.line[new])
            self.bad |= new

    def has(self, column: str) -> bool:
        return column in self.raw.text

    def text(self, column: str) -> np.ndarray:
        """The column's stripped text ("" where the file leaves it empty or lacks the column)."""
        if column in self.raw.text:
            return self.raw.text[column]
        return np.full(self.n, "", dtype=str)

    def number(self, column: str, *, required: bool = True) -> np.ndarray:
        """The column as float64: NaN where empty (a bad row when ``required``); a value that is
        not a finite number is a bad row."""
        text = self.text(column)
        missing = text == ""
        x = np.asarray(pd.to_numeric(text, errors="coerce"), dtype=np.float64) if self.n else np.zeros(0)
        if required:
            self.flag(missing, column, MISSING)
        self.flag(~missing & ~np.isfinite(x), column, NOT_A_NUMBER)
        return np.where(np.isfinite(x), x, np.nan)

    def count(self, column: str, *, required: bool = True) -> np.ndarray:
        """A whole, non-negative number (GPUs, instances), as float64 (NaN where empty)."""
        x = self.number(column, required=required)
        self.flag(x < 0, column, NEGATIVE)
        self.flag(np.isfinite(x) & (x != np.floor(x)), column, NOT_WHOLE)
        return x

    def report(self, bad_rows: BadRows) -> None:
        for line, column, reason in sorted(self.issues, key=lambda issue: issue[0]):
            bad_rows.bad(line, column, reason)


def job_rows(
    line: np.ndarray,
    submit_s: np.ndarray,
    gpus: np.ndarray,
    duration_s: np.ndarray,
    gpu_model: np.ndarray | None = None,
    group: np.ndarray | None = None,
) -> JobRows:
    """A :class:`JobRows` with the canonical dtypes (``""`` for an absent model or group)."""
    n = len(line)
    return JobRows(
        line=np.asarray(line, dtype=np.int64),
        submit_s=np.asarray(submit_s, dtype=np.float64),
        gpus=np.asarray(gpus, dtype=np.float64),
        duration_s=np.asarray(duration_s, dtype=np.float64),
        gpu_model=np.full(n, "", dtype=object) if gpu_model is None else np.asarray(gpu_model).astype(object),
        group=np.full(n, "", dtype=object) if group is None else np.asarray(group).astype(object),
    )


def log_left_out(path: PathLike, count: int, what: str) -> None:
    if count:
        log.info("%s: left out %d %s", path, count, what)
