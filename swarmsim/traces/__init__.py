"""Readers of public GPU-cluster and LLM-inference traces, into canonical chunks.

Every reader streams its file in chunks (bounded memory, whatever the file size) and yields
one of three canonical row types, all numpy columns of one length:

- :class:`JobRows` (training jobs): submit time, GPUs (possibly fractional), duration (NaN when
  the job was still running when the trace ends), GPU model, user/team group;
- :class:`RequestRows` (inference requests): submit time, prompt and output tokens, group;
- :class:`NodeRows` (a node inventory, to build a fleet): GPU model, GPUs per node, node count.

Times are seconds since the trace's own time origin (the first row need not be at 0). Each
row carries its source line number, so an error or a skipped row names ``file:line``. A bad row
either stops the read with a :class:`TraceError` (``on_bad_rows: error``, the default) or is
skipped and counted by reason in a :class:`BadRows` tally (``on_bad_rows: skip``).

``FORMATS`` is the one table of readers: ``FORMATS[name].read(path, bad_rows, chunk_rows)``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from swarmsim.errors import ScenarioError

#: Rows per chunk a reader yields by default.
CHUNK_ROWS = 100_000


class TraceError(ScenarioError):
    """A trace row that cannot be used: ``file:line: column: what is wrong``."""

    def __init__(self, file: str, line: int | None, column: str | None, message: str) -> None:
        self.line, self.column, self.message = line, column, message
        super().__init__(file, [(f"line {line}" if line is not None else "", message)])

    def format(self) -> str:
        """``openb_pod_list.csv:1042: deletion_time: before creation_time``."""
        head = f"{self.file}:{self.line}" if self.line is not None else f"{self.file}"
        return f"{head}: {self.column}: {self.message}" if self.column else f"{head}: {self.message}"


@dataclass
class BadRows:
    """What to do with bad rows, and the tally of those skipped (reason -> count)."""

    policy: Literal["error", "skip"] = "error"
    file: str = ""
    skipped: Counter[str] = field(default_factory=Counter)
    first_line: dict[str, int] = field(default_factory=dict)

    def bad(self, line: int, column: str | None, reason: str) -> None:
        """Report one bad row: raise under ``error``, count it under ``skip``."""
        if self.policy == "error":
            raise TraceError(self.file, line, column, reason)
        key = f"{column}: {reason}" if column else reason
        self.skipped[key] += 1
        self.first_line.setdefault(key, line)

    @property
    def total(self) -> int:
        return sum(self.skipped.values())


@dataclass(frozen=True)
class JobRows:
    """Training jobs. ``gpus`` may be fractional; ``duration_s`` is NaN for a job still running
    when the trace ends; ``gpu_model`` is "" when the job does not ask for one."""

    line: np.ndarray  # int64, 1-based line of the row in its file (the header is line 1)
    submit_s: np.ndarray  # float64, s since the trace's time origin
    gpus: np.ndarray  # float64
    duration_s: np.ndarray  # float64
    gpu_model: np.ndarray  # object (str)
    group: np.ndarray  # object (str): user, team or virtual cluster; "" when unknown


@dataclass(frozen=True)
class RequestRows:
    """Inference requests with their token counts."""

    line: np.ndarray  # int64
    submit_s: np.ndarray  # float64
    prompt_tokens: np.ndarray  # int64
    output_tokens: np.ndarray  # int64
    group: np.ndarray  # object (str)
    #: Prompt block hashes per row (object: tuple of int; Mooncake's ``hash_ids``), or None.
    blocks: np.ndarray | None = None


@dataclass(frozen=True)
class NodeRows:
    """A node inventory: ``count`` nodes with ``gpus`` GPUs of ``gpu_model`` each."""

    line: np.ndarray  # int64
    gpu_model: np.ndarray  # object (str)
    gpus: np.ndarray  # int64
    count: np.ndarray  # int64


Rows = JobRows | RequestRows | NodeRows
Reader = Callable[[str, BadRows, int], Iterator[Rows]]


@dataclass(frozen=True)
class TraceFormat:
    """One trace format: what it drives and how to read it."""

    name: str
    kind: Literal["jobs", "requests", "nodes"]
    read: Reader
    description: str
    time_end_s: float | None = None  # the trace's end, when the format knows it (for censoring)


FORMATS: dict[str, TraceFormat] = {}


def register(fmt: TraceFormat) -> TraceFormat:
    """Add a format to :data:`FORMATS` (called by each reader module at import)."""
    FORMATS[fmt.name] = fmt
    return fmt
