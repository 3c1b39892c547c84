"""``record``: how a run keeps its job rows (docs/scenarios.md, docs/metrics.md).

``record: {mode: full}`` (the default, and what a scenario without the section does) keeps one
row per job in memory and writes them all to ``jobs.csv``. ``mode: stream`` writes the job rows to
``jobs.parquet`` in chunks of ``chunk_jobs`` while the run goes on; ``mode: aggregate`` keeps
exact counters and sums and histograms of wait and run time per workload, region and node type
instead. Under both, memory does not grow with the number of jobs that have ended, the summary
figures are computed from the exact sums (percentiles from the histograms, within 0.5 % + 1 ms
of ``full``), and ``jobs.csv`` holds the sampled rows (every ``sample_every``-th job by id).
Without a ``record`` section the resolved scenario (``scenario.yaml``, the digest) is what it was
before the section existed.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from swarmsim.scenario.common import Spec

RecordMode = Literal["full", "stream", "aggregate"]


class RecordSpec(Spec):
    """How a run keeps its job rows."""

    mode: RecordMode = Field("full", description=(
        "full: every job row in memory and in jobs.csv; stream: every row written to jobs.parquet in chunks "
        "during the run; aggregate: exact counters, sums and histograms, plus sampled rows"))
    chunk_jobs: int = Field(1_000_000, ge=1, description=(
        "stream and aggregate: ended jobs held before they are written or folded in (a Parquet row group), jobs"))
    sample_every: int = Field(1000, ge=1, description=(
        "stream and aggregate: jobs.csv keeps the jobs whose id is a multiple of this, jobs"))
