"""The recorder a scenario's ``record`` section asks for, and the Parquet writer of ``stream``.

``full`` (or no section): the plain :class:`~swarmsim.metrics.recorder.Recorder`. ``aggregate``:
a :class:`~swarmsim.metrics.chunked.ChunkedRecorder` whose chunks fold into a
:class:`~swarmsim.metrics.aggregate.JobAggregate`. ``stream``: the same, and every chunk is also
appended to a Parquet file (one row group per chunk, rows in job-id order within a row group,
row groups in the order the chunks were handed on) in a temporary folder, which
:meth:`~swarmsim.result.Result.save` copies into the run folder as ``jobs.parquet``.
"""

from __future__ import annotations

import shutil
import tempfile
import weakref
from pathlib import Path
from typing import Any

import pandas as pd

from swarmsim.metrics.aggregate import JobAggregate
from swarmsim.metrics.chunked import ChunkedRecorder
from swarmsim.metrics.frames import jobs_frame, lost_frame
from swarmsim.metrics.recorder import Recorder
from swarmsim.scenario import Scenario


class ParquetJobs:
    """Job rows appended to one Parquet file, a row group per call (pyarrow), in a temporary folder
    of its own that is deleted when this writer is garbage collected (or at interpreter exit), or,
    after :meth:`keep_until`, with the object that holds the file then (the run's ``Result``)."""

    def __init__(self) -> None:
        folder = Path(tempfile.mkdtemp(prefix="swarmsim-jobs-"))
        self.path = folder / "jobs.parquet"
        self.rows = 0
        self._writer: Any = None
        self._cleanup: weakref.finalize[..., object] = weakref.finalize(self, shutil.rmtree, folder, True)

    def keep_until(self, owner: object) -> None:
        """Delete the temporary folder when ``owner`` is garbage collected instead (or at exit)."""
        detached = self._cleanup.detach()
        if detached is not None:
            _, func, args, _ = detached
            self._cleanup = weakref.finalize(owner, func, *args)

    def write(self, frame: pd.DataFrame) -> None:
        """Append ``frame`` as one row group."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(frame, preserve_index=False)
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.path, table.schema)
        self._writer.write_table(table)
        self.rows += len(frame)

    def close(self, empty: pd.DataFrame) -> Path:
        """Finish the file (with ``empty``'s schema when no row was written) and return its path."""
        if self._writer is None:
            self.write(empty)
        self._writer.close()
        return self.path


#: More time-series rows than this draw a warning (issue #18).
TIMESERIES_WARN_ROWS = 10_000_000


def timeseries_rows(scenario: Scenario) -> int:
    """Rows ``timeseries.csv`` will have: one per region per sample, every ``sample_every`` s
    from 0 to the horizon."""
    return (int(scenario.horizon // scenario.sample_every) + 1) * len(scenario.regions)


def sampling_warning(scenario: Scenario) -> str | None:
    """A warning when the time series would exceed ``TIMESERIES_WARN_ROWS`` rows (None when not)."""
    rows = timeseries_rows(scenario)
    if rows <= TIMESERIES_WARN_ROWS:
        return None
    every = scenario.horizon * len(scenario.regions) / TIMESERIES_WARN_ROWS
    return (f"sample_every {scenario.sample_every:g}s over a {scenario.horizon:g}s horizon and "
            f"{len(scenario.regions)} regions gives {rows:,} time-series rows (more than "
            f"{TIMESERIES_WARN_ROWS:,}); a sample_every of {every:g}s or more keeps it under")


def make_recorder(scenario: Scenario, workloads: list[str], regions: list[str], node_types: list[str]) -> Recorder:
    """The recorder of one run of ``scenario`` (its ``record`` section; docs/scenarios.md)."""
    spec = scenario.record
    if spec is None or spec.mode == "full":
        return Recorder(workloads, regions, node_types)
    rec = ChunkedRecorder(workloads, regions, node_types, spec.chunk_jobs, lambda frame: None)
    agg = JobAggregate(scenario, workloads, regions, node_types, spec.sample_every, lambda: lost_frame(rec))
    writer = None
    if spec.mode == "stream":
        writer = ParquetJobs()

    def sink(frame: pd.DataFrame) -> None:
        agg.add(frame)
        if writer is not None:
            writer.write(frame)

    rec.sink = sink
    rec.aggregate = agg
    rec.writer = writer
    return rec


def finish_chunks(rec: ChunkedRecorder) -> tuple[pd.DataFrame, Path | None]:
    """After the run: hand on the last chunk; return the sampled job rows (``jobs.csv``) and
    the Parquet file of every row (``stream``; None for ``aggregate``)."""
    rec.flush()
    empty = jobs_frame(Recorder(rec.workload_names, rec.region_names, rec.node_type_names))
    path = rec.writer.close(empty) if rec.writer is not None else None
    return rec.aggregate.sampled_rows(empty), path
