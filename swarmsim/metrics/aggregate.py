"""Exact counters, sums and histograms of the jobs of a run, folded in chunk by chunk
(``record: aggregate`` and ``stream``; docs/metrics.md).

Everything the summary and the breakdown take from the jobs frame is a sum over jobs, so it is
kept per (workload, region, node type) cell as the chunks of :class:`~swarmsim.metrics.chunked.ChunkedRecorder`
arrive: busy GPU-seconds inside the window (the overlap of each run with ``[warmup, horizon]``,
computed per job as the chunk arrives), counts per status, sums of waits and completion times,
egress, residency violations, restarts, moves, checkpoint GPU-seconds; and histograms of wait
and run time (:mod:`swarmsim.metrics.histogram`) for the percentiles. Cell 0 of region and node
type is "none" (a rejected job). Every ``sample_every``-th job by id is kept as a row.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from swarmsim.metrics import histogram
from swarmsim.metrics.resilience import checkpoint_gpu_seconds
from swarmsim.metrics.summary import busy_gpu_seconds, residency_violations
from swarmsim.scenario import JobsWorkloadSpec, Scenario


class JobAggregate:
    """The job figures of a run, folded in one chunk of the jobs frame at a time."""

    def __init__(self, scenario: Scenario, workloads: list[str], regions: list[str], node_types: list[str],
                 sample_every: int, lost: Callable[[], pd.DataFrame]) -> None:
        self.scenario = scenario
        self.workloads, self.regions, self.node_types = workloads, regions, node_types
        self.shape = (len(workloads), len(regions) + 1, len(node_types) + 1)
        cells = int(np.prod(self.shape))
        self.cells = cells
        self.sample_every = sample_every
        self.lost = lost  # the interrupted runs so far (every one of a job is recorded before it ends)
        self._checkpointing = any(isinstance(w, JobsWorkloadSpec) and w.checkpoint_every is not None
                                  and w.checkpoint_overhead > 0 for w in scenario.workloads.values())
        self.busy_s = np.zeros(cells)  # GPU-seconds inside the window, every job
        self.busy_total_s = 0.0
        self.arrived = np.zeros(cells, dtype=np.int64)  # window jobs from here on
        self.completed = np.zeros(cells, dtype=np.int64)
        self.unfinished = np.zeros(cells, dtype=np.int64)
        self.rejected = np.zeros(cells, dtype=np.int64)
        self.started = np.zeros(cells, dtype=np.int64)
        self.wait_sum_s = np.zeros(cells)
        self.wait_total_s = 0.0
        self.completion_total_s = 0.0
        self.egress_usd = np.zeros(cells)
        self.egress_total_usd = 0.0
        self.restarted = 0
        self.moved = 0
        self.residency_violations = 0
        self.checkpoint_gpu_s = 0.0
        self.wait_hist = np.zeros((cells, histogram.BINS), dtype=np.int64)
        self.run_hist = np.zeros((cells, histogram.BINS), dtype=np.int64)  # completed jobs' run time
        self.rows = 0
        self.samples: list[pd.DataFrame] = []

    def add(self, jobs: pd.DataFrame) -> None:
        """Fold in a chunk of jobs frame rows (any jobs, each exactly once over the run)."""
        sc = self.scenario
        _, nr, nt = self.shape
        cell = ((jobs["workload"].cat.codes.to_numpy().astype(np.int64) * nr
                 + jobs["region"].cat.codes.to_numpy() + 1) * nt + jobs["node_type"].cat.codes.to_numpy() + 1)
        busy = busy_gpu_seconds(jobs, sc)
        self.busy_s += np.bincount(cell, busy, self.cells)
        self.busy_total_s += float(busy.sum())
        self.rows += len(jobs)
        if self._checkpointing:
            lost = self.lost()
            self.checkpoint_gpu_s += checkpoint_gpu_seconds(sc, jobs, lost[lost["job_id"].isin(jobs["job_id"])])
        win = (jobs["arrival_s"] >= sc.warmup).to_numpy()
        c = cell[win]
        w = jobs[win]
        status = w["status"].cat.codes.to_numpy()
        self.arrived += np.bincount(c, minlength=self.cells)
        self.completed += np.bincount(c[status == 0], minlength=self.cells)
        self.unfinished += np.bincount(c[status == 1], minlength=self.cells)
        self.rejected += np.bincount(c[status == 2], minlength=self.cells)
        wait = w["wait_s"].to_numpy()
        ran = ~np.isnan(wait)
        self.started += np.bincount(c[ran], minlength=self.cells)
        self.wait_sum_s += np.bincount(c[ran], wait[ran], self.cells)
        self.wait_total_s += float(wait[ran].sum())
        self.wait_hist += np.bincount(c[ran] * histogram.BINS + histogram.bins_of(wait[ran]),
                                      minlength=self.cells * histogram.BINS).reshape(self.cells, -1)
        done = status == 0
        self.completion_total_s += float((w["finish_s"].to_numpy() - w["arrival_s"].to_numpy())[done].sum())
        self.run_hist += np.bincount(c[done] * histogram.BINS + histogram.bins_of(w["run_time_s"].to_numpy()[done]),
                                     minlength=self.cells * histogram.BINS).reshape(self.cells, -1)
        egress = w["egress_usd"].to_numpy()
        self.egress_usd += np.bincount(c, egress, self.cells)
        self.egress_total_usd += float(egress.sum())
        self.restarted += int((w["restarts"] > 0).sum())
        self.moved += int((w["network_delay_s"] > 0).sum())
        self.residency_violations += residency_violations(w, sc)
        picked = jobs[(jobs["job_id"] % self.sample_every == 0).to_numpy()]
        if len(picked):
            self.samples.append(picked)

    def cube(self, values: np.ndarray) -> np.ndarray:
        """A per-cell array as (workload, region + 1, node type + 1[, ...])."""
        return values.reshape(*self.shape, *values.shape[1:])

    def sampled_rows(self, empty: pd.DataFrame) -> pd.DataFrame:
        """The kept rows in job-id order (``empty``'s columns when none were kept)."""
        if not self.samples:
            return empty
        return pd.concat(self.samples, ignore_index=True).sort_values("job_id", kind="stable").reset_index(drop=True)

