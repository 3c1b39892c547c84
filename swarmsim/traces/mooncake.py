"""Mooncake FAST'25 request traces (Kimi / Moonshot AI), JSON lines: format ``mooncake``
(docs/traces.md, "Request traces"). Each row is a request's arrival (``timestamp``, ms), its
token counts and ``hash_ids``, the hashes of its prompt's blocks of
:data:`MOONCAKE_BLOCK_TOKENS` tokens, which prefix caching by block hash reads
(:mod:`swarmsim.world.prefix_blocks`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator

import numpy as np

from swarmsim.traces import CHUNK_ROWS, BadRows, RequestRows, TraceError, TraceFormat, register
from swarmsim.traces.requests import _LARGEST, _file, _no_group, _open_text, _report

# --- Mooncake FAST'25 JSON lines ----------------------------------------------------------------

_MOONCAKE = ("timestamp", "input_length", "output_length")
#: Tokens per block of Mooncake's ``hash_ids`` (FAST'25 traces, shared/data/mooncake/SOURCE.md).
MOONCAKE_BLOCK_TOKENS = 512
#: Request formats whose rows carry prompt block hashes, and the tokens per block.
BLOCK_TOKENS = {"mooncake": MOONCAKE_BLOCK_TOKENS}


def _json_number(record: dict, key: str, *, whole: bool) -> tuple[float | None, str | None]:
    """``(value, None)`` or ``(None, reason)`` for one field of a JSON record."""
    value = record.get(key)
    if value is None:
        return None, "missing"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None, "not a number"
    if value < 0:
        return None, "negative"
    if value > _LARGEST:
        return None, "too large"
    if whole and value != math.floor(value):
        return None, "not a whole number"
    return float(value), None


def read_mooncake(path: str, bad_rows: BadRows, chunk_rows: int = CHUNK_ROWS) -> Iterator[RequestRows]:
    """Mooncake requests, one JSON object a line: ``submit_s`` = ``timestamp`` / 1000 (ms since
    the trace's start), ``prompt_tokens`` = ``input_length``, ``output_tokens`` =
    ``output_length``; ``blocks`` = ``hash_ids`` (the prompt's block hashes, one per
    :data:`MOONCAKE_BLOCK_TOKENS` tokens, for prefix caching; optional, a row whose ``hash_ids``
    is not a list of whole numbers is bad). In time order. The first JSON object plays the CSV
    header's part: without every key, the file is not this format."""
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows: expected at least 1, got {chunk_rows}")
    file = _file(path, bad_rows)
    expected = f"expected JSON lines with keys {', '.join(_MOONCAKE)}"
    last = -math.inf
    rows: list[tuple[int, float, int, int, tuple[int, ...] | None]] = []
    line = 0
    keys_checked = False
    try:
        with _open_text(path) as stream:
            for text in stream:
                line += 1
                record = _json_record(bad_rows, line, text)
                if record is None:
                    continue
                if not keys_checked:
                    missing = [key for key in _MOONCAKE if key not in record]
                    if missing:
                        raise TraceError(
                            file,
                            None,
                            None,
                            f"{expected}; missing {', '.join(missing)} "
                            f"(keys of line {line}: {', '.join(record) or 'none'})",
                        )
                    keys_checked = True
                row = _mooncake_row(bad_rows, line, record, last)
                if row is None:
                    continue
                rows.append(row)
                last = row[1]
                if len(rows) == chunk_rows:
                    yield _request_rows(rows)
                    rows = []
    except FileNotFoundError:
        raise TraceError(file, None, None, f"no such file; {expected}") from None
    except UnicodeDecodeError:
        raise TraceError(file, line + 1, None, "not UTF-8 text") from None
    except OSError as error:
        raise TraceError(file, None, None, f"cannot read the file ({error}); {expected}") from None
    if rows:
        yield _request_rows(rows)


def _json_record(bad_rows: BadRows, line: int, text: str) -> dict | None:
    """The JSON object of one line, or None for a blank line or after reporting the line as bad."""
    if not text.strip():
        return None  # a blank line is not a row
    try:
        record = json.loads(text)
    except json.JSONDecodeError:
        _report(bad_rows, line, None, "not JSON", text.strip())
        return None
    if not isinstance(record, dict):
        _report(bad_rows, line, None, "not a JSON object", record)
        return None
    return record


def _mooncake_row(bad_rows: BadRows, line: int, record: dict,
                  last: float) -> tuple[int, float, int, int, tuple[int, ...] | None] | None:
    """``(line, submit_s, prompt, output, block hashes or None)``, or None after reporting the row as bad."""
    values: list[float] = []
    for key in _MOONCAKE:
        value, reason = _json_number(record, key, whole=key != "timestamp")
        if reason is not None:
            _report(bad_rows, line, key, reason, None if reason == "missing" else record.get(key))
            return None
        values.append(value)  # type: ignore[arg-type]  # not None once reason is None
    submit_s = values[0] / 1000.0
    if submit_s < last:
        _report(bad_rows, line, "timestamp", "before the previous row", record["timestamp"])
        return None
    hashes = record.get("hash_ids")
    if hashes is not None:
        if not isinstance(hashes, list) or not all(isinstance(h, int) and not isinstance(h, bool) for h in hashes):
            _report(bad_rows, line, "hash_ids", "not a list of whole numbers", hashes)
            return None
        hashes = tuple(hashes)
    return line, submit_s, int(values[1]), int(values[2]), hashes


def _request_rows(rows: list[tuple[int, float, int, int, tuple[int, ...] | None]]) -> RequestRows:
    lines, submit_s, prompt, output, hashes = zip(*rows, strict=True)
    blocks = np.empty(len(rows), dtype=object)  # a row without hash_ids: no blocks, ()
    blocks[:] = [h if h is not None else () for h in hashes]
    return RequestRows(
        np.array(lines, dtype=np.int64),
        np.array(submit_s, dtype=np.float64),
        np.array(prompt, dtype=np.int64),
        np.array(output, dtype=np.int64),
        _no_group(len(rows)),
        blocks,
    )


register(
    TraceFormat(
        "mooncake",
        "requests",
        read_mooncake,
        "Mooncake FAST'25 request trace, JSON lines (timestamp ms, input_length, output_length, hash_ids)",
    )
)

__all__ = ["BLOCK_TOKENS", "MOONCAKE_BLOCK_TOKENS", "read_mooncake"]
