"""A recorder that hands its ended jobs on in chunks (``record: stream`` and ``aggregate``).

The hot path is :class:`~swarmsim.metrics.recorder.Recorder`'s, untouched: outcome rows are
packed into ``job_outcome`` and arrival fields arrive in blocks per batch. At a sample time
(:meth:`ChunkedRecorder.sample`, region 0) once ``chunk_jobs`` outcome rows are buffered, or at
:meth:`ChunkedRecorder.flush`, the buffered rows become one jobs frame (the columns of
``metrics.frames.jobs_frame``, in job-id order within the chunk) handed to ``sink`` and the
buffers are emptied in place (the jobs path holds their bound methods). The arrival fields of
jobs that arrived but have not ended wait in a table of their own; the batch blocks and the
per-id workload column are dropped as soon as every job in them has been moved out, so memory
is the jobs in flight plus one chunk, however long the run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from swarmsim.metrics.frames import jobs_table
from swarmsim.metrics.recorder import JOB_OUTCOME, STREAM, Recorder

#: Rows of the table of arrived, not yet ended jobs: the workload, then ``STREAM``.
PENDING = ("workload", *STREAM)


class ChunkedRecorder(Recorder):
    """A :class:`Recorder` whose job rows leave memory in chunks of ``chunk_jobs``, s."""

    def __init__(self, workloads: list[str], regions: list[str], node_types: list[str], chunk_jobs: int,
                 sink: Callable[[pd.DataFrame], None]) -> None:
        super().__init__(workloads, regions, node_types)
        self.chunk_values = chunk_jobs * JOB_OUTCOME
        self.sink = sink
        self.flushed = 0  # outcome rows handed on so far
        self._converted = 0  # ids below this have their arrival fields in the pending table
        self._consumed = [0] * len(workloads)  # per workload: arrivals moved to the pending table
        self._block_base = [0] * len(workloads)  # per workload: stream position of streams[w][0][:, 0]
        self._id_base = 0  # the job id of job_workload[0]
        self._pending_ids = np.empty(0, dtype=np.int64)
        self._pending = np.empty((len(PENDING), 0))
        self.aggregate: Any = None  # the JobAggregate the sink folds into (metrics.stream)
        self.writer: Any = None  # the Parquet writer of record: stream, or None

    def job_rows(self) -> int:
        """Outcome rows recorded so far (handed on and buffered)."""
        return self.flushed + len(self.job_outcome) // JOB_OUTCOME

    def sample(self, time: float, region: int, *args: float, **kwargs: float) -> None:
        """:meth:`Recorder.sample`, then a flush when a chunk of ended jobs is buffered."""
        super().sample(time, region, *args, **kwargs)  # type: ignore[arg-type]  # forwards Recorder.sample's own arguments unchanged
        if region == 0 and len(self.job_outcome) >= self.chunk_values:
            self.flush()

    def flush(self) -> None:
        """Hand the buffered ended jobs to the sink as one frame and empty the buffers."""
        out = np.frombuffer(self.job_outcome, dtype=np.float64).reshape(-1, JOB_OUTCOME).copy()
        extras = np.frombuffer(self.job_extras, dtype=np.float64).reshape(-1, 4).copy()
        del self.job_outcome[:]
        del self.job_extras[:]
        if not len(out):
            return
        self.flushed += len(out)
        ids = out[:, 0].astype(np.int64)
        self._convert(int(ids.max()) + 1)
        at = np.searchsorted(self._pending_ids, ids)
        fields = self._pending[:, at]
        keep = np.ones(len(self._pending_ids), dtype=bool)
        keep[at] = False
        self._pending_ids, self._pending = self._pending_ids[keep], self._pending[:, keep]
        self.sink(chunk_frame(self, out, extras, fields))

    def _convert(self, upto: int) -> None:
        """Move the arrival fields of jobs ``_converted`` .. ``upto - 1`` into the pending table."""
        start = self._converted
        if upto <= start:
            return
        n = upto - start
        if len(self.workload_names) > 1:
            workload = np.frombuffer(self.job_workload, dtype=np.int32)[:n].copy()
            del self.job_workload[:n]
        else:
            workload = np.zeros(n, dtype=np.int32)
        self._id_base = upto
        new = np.empty((len(PENDING), n))
        new[0] = workload
        for w in range(len(self.workload_names)):
            at = np.flatnonzero(workload == w)
            if len(at):
                new[1:, at] = self._take(w, len(at))
        self._pending_ids = np.concatenate([self._pending_ids, np.arange(start, upto, dtype=np.int64)])
        self._pending = np.concatenate([self._pending, new], axis=1)
        self._converted = upto

    def _take(self, w: int, count: int) -> np.ndarray:
        """The next ``count`` arrivals of workload ``w`` (``STREAM`` rows); drops spent blocks."""
        lo = self._consumed[w] - self._block_base[w]
        hi = lo + count
        parts, base = [], 0
        for block in self.streams[w]:
            width = block.shape[1]
            if base + width > lo and base < hi:
                parts.append(block[:, max(lo - base, 0):min(hi - base, width)])
            base += width
            if base >= hi:
                break
        self._consumed[w] += count
        blocks = self.streams[w]
        while blocks and self._block_base[w] + blocks[0].shape[1] <= self._consumed[w]:
            self._block_base[w] += blocks[0].shape[1]
            del blocks[0]
        return np.concatenate(parts, axis=1)


def chunk_frame(rec: Recorder, out: np.ndarray, extras: np.ndarray, fields: np.ndarray) -> pd.DataFrame:
    """Jobs frame rows (``jobs_frame``'s columns and dtypes) of outcome rows ``out``, their
    ``job_extras`` rows (indexed by row of ``out``) and arrival ``fields`` (``PENDING`` rows,
    aligned with ``out``), sorted by job id."""
    n = len(out)
    network_delay, egress_usd, restarts = np.zeros(n), np.zeros(n), np.zeros(n, dtype=np.int32)
    if len(extras):
        at = extras[:, 0].astype(np.int64)
        network_delay[at], egress_usd[at], restarts[at] = extras[:, 1], extras[:, 2], extras[:, 3]
    order = np.argsort(out[:, 0], kind="stable")
    out, fields = out[order], fields[:, order]
    network_delay, egress_usd, restarts = network_delay[order], egress_usd[order], restarts[order]
    cols = {"job_id": out[:, 0], "region": out[:, 1], "node_type": out[:, 2], "nodes": out[:, 3], "status": out[:, 4],
            "start": out[:, 5], "run_time": out[:, 6], "network_delay": network_delay, "egress_usd": egress_usd,
            "restarts": restarts}
    cols.update({name: fields[i] for i, name in enumerate(PENDING)})
    return jobs_table(rec, cols)
