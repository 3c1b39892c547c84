"""``swarmsim trace fit`` for the scheduler: the ``scheduler.latency`` block fitted to a trace
that records when each job was created and when it was scheduled (Alibaba GPU 2023).

The delay of a pod is scheduled_time - creation_time, s, over the pods a replay keeps (scheduled,
asking for a GPU). The fit is the distribution of those delays as an ``empirical`` decision
delay: ``QUANTILES`` equal-weight values at the mid-points of as many quantile bins, so shares
(e.g. at 0 s) are kept to 1 / ``QUANTILES`` and every percentile to the nearest bin. The trace's
timestamps are whole seconds, so no ``cycle`` shorter than 1 s can be told apart and none is
written; the steps the delays come in (retries) are measured and reported in a comment.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from swarmsim.traces import CHUNK_ROWS, BadRows
from swarmsim.traces.table import Checks, PathLike, read_table

#: Trace formats whose rows record a scheduling time beside the creation time.
LATENCY_FORMATS = ("alibaba-gpu-2023",)
QUANTILES = 1000


def alibaba_2023_delays(path: PathLike, bad_rows: BadRows, chunk_rows: int = CHUNK_ROWS) -> np.ndarray:
    """scheduled_time - creation_time, s, of the pods of an Alibaba 2023 pod list that were
    scheduled (not Pending) and ask for a GPU (num_gpu x gpu_milli > 0), in file order."""
    out = []
    required = ("creation_time", "scheduled_time", "num_gpu", "gpu_milli", "pod_phase")
    for raw in read_table(path, bad_rows, chunk_rows, required=required):
        c = Checks(raw)
        created = c.number("creation_time")
        scheduled = c.number("scheduled_time", required=False)
        gpus = c.number("num_gpu") * c.number("gpu_milli")
        ran = c.text("pod_phase") != "Pending"
        c.flag(ran & (scheduled < created), "scheduled_time", "before creation_time")
        c.report(bad_rows)
        keep = c.good & ran & (gpus > 0) & ~np.isnan(scheduled)
        out.append((scheduled - created)[keep])
    return np.concatenate(out) if out else np.zeros(0)


@dataclass(frozen=True)
class DelayFigures:
    """The figures a delay distribution is compared by: share at 0 s (0..1), p50/p90/p99 (s)."""

    n: int
    share_zero: float
    p50: float
    p90: float
    p99: float

    @classmethod
    def of(cls, delays: np.ndarray) -> DelayFigures:
        d = np.asarray(delays, dtype=np.float64)
        p50, p90, p99 = np.percentile(d, [50, 90, 99]) if len(d) else (np.nan,) * 3
        return cls(len(d), float((d <= 0).mean()) if len(d) else np.nan, float(p50), float(p90), float(p99))

    def text(self) -> str:
        return (f"{self.share_zero:.1%} at 0 s, p50 {self.p50:g} s, p90 {self.p90:g} s, p99 {self.p99:g} s "
                f"({self.n:,} jobs)")


def retry_step_s(delays: np.ndarray, low: float = 20.0, high: float = 400.0) -> float | None:
    """The spacing of the peaks of the delay histogram between ``low`` and ``high`` s (1-s bins;
    a peak is a bin holding at least 0.2 % of the delays and the most of the 21 bins around it),
    s, the median gap between peaks; None with fewer than two peaks."""
    d = np.asarray(delays, dtype=np.float64)
    counts = np.bincount(np.clip(np.round(d), 0, high + 11).astype(np.int64), minlength=int(high) + 12)
    floor = max(2, int(0.002 * len(d)))
    peaks = [t for t in range(int(low), int(high)) if counts[t] >= floor
             and counts[t] == counts[max(t - 10, 0):t + 11].max() and counts[t] > counts[t - 1]]
    if len(peaks) < 2:
        return None
    return float(np.median(np.diff(peaks)))


def fit_latency(delays: np.ndarray) -> dict[str, Any]:
    """The ``scheduler.latency`` mapping that replays ``delays`` (s) as decision delays: the
    distinct values of ``QUANTILES`` quantiles, weighted by how many quantiles each one is."""
    d = np.sort(np.asarray(delays, dtype=np.float64))
    if len(d) == 0:
        raise ValueError("no scheduled GPU pods to fit a scheduling delay to")
    probs = (np.arange(QUANTILES) + 0.5) / QUANTILES
    values, weights = np.unique(np.quantile(d, probs, method="inverted_cdf"), return_counts=True)
    return {"delay": {"dist": "empirical", "values": [_num(v) for v in values],
                      "weights": [int(w) for w in weights]}}


def _num(v: float) -> float | int:
    return int(v) if float(v).is_integer() else round(float(v), 2)


def latency_yaml(delays: np.ndarray) -> str:
    """The ``scheduler:`` block of the fit, with comments on what it was fitted to."""
    fig = DelayFigures.of(delays)
    step = retry_step_s(delays)
    delay = fit_latency(delays)["delay"]
    lines = [
        f"# scheduling delay (scheduled - created) of the trace: {fig.text()}",
        f"# as a decision delay: its distribution in {QUANTILES} equal-weight quantiles, s (weights: quantiles per"
        " value)" + (f"; the delays come in steps of {step:g} s (retries)" if step is not None else ""),
        "# merge into the scenario's scheduler: block (docs/scheduling-latency.md)",
        "scheduler:",
        "  latency:",
        "    delay:",
        "      dist: empirical",
        "      values: [" + ", ".join(str(v) for v in delay["values"]) + "]",
        "      weights: [" + ", ".join(str(w) for w in delay["weights"]) + "]",
    ]
    return "\n".join(lines) + "\n"
