"""What a run records of inference requests, in bounded memory.

Every request that arrives inside the measurement window is counted, per user region (origin),
and its latency, time to first token and time per output token go into log-spaced histograms
(relative bin width 0.5 %), so the summary's percentiles are computed over *all* requests while
memory stays fixed however many requests a run has. Exact means come from running sums. A
Bernoulli sample of whole rows (about ``sample_requests`` of them, chosen by the run's seed) feeds
``requests.csv``; per-interval counters feed ``request_timeseries.csv``.
"""

from __future__ import annotations

import math
from array import array

import numpy as np

#: Histogram range and resolution: 1 ms to about 1e6 s in bins 0.5 % wide.
HIST_MIN_S = 1e-3
HIST_STEP = math.log(1.005)
HIST_BINS = int(math.log(1e6 / HIST_MIN_S) / HIST_STEP) + 2

#: Request status codes.
R_COMPLETED, R_DROPPED, R_UNFINISHED = 0, 1, 2
R_STATUS = ("completed", "dropped", "unfinished")
#: Why a request was dropped.
DROP_REASONS = ("", "no-replica", "queue-full", "timeout", "replica-lost", "node-failed", "never-fits")
#: Drop reasons that count as failed requests: no replica within reach, or their replica or its
#: node went away (the others, queue-full and timeout, are overload).
FAILED_REASONS = (1, 4, 5)


def bin_of(seconds: float) -> int:
    """Histogram bin of a duration (clamped to the range)."""
    if seconds <= HIST_MIN_S:
        return 0
    return min(int(math.log(seconds / HIST_MIN_S) / HIST_STEP) + 1, HIST_BINS - 1)


def bin_value(index: np.ndarray | int) -> np.ndarray | float:
    """A representative duration (geometric middle) of histogram bins, seconds."""
    idx = np.asarray(index, dtype=float)
    return np.where(idx == 0, HIST_MIN_S, HIST_MIN_S * np.exp((idx - 0.5) * HIST_STEP))


def quantile_from_hist(counts: np.ndarray, q: float) -> float:
    """The ``q`` quantile of the durations a histogram counted (NaN when empty)."""
    total = counts.sum()
    if total == 0:
        return math.nan
    cum = np.cumsum(counts)
    index = int(np.searchsorted(cum, q * total, side="left"))
    return float(bin_value(min(index, len(counts) - 1)))


def share_within_hist(counts: np.ndarray, seconds: float) -> float:
    """Share of the durations a histogram counted that are at most ``seconds`` (0..1, NaN when
    empty): the bins whose middle (:func:`bin_value`) is at most ``seconds``, so that
    ``share_within_hist(c, t) >= q`` exactly when ``quantile_from_hist(c, q) <= t``."""
    total = counts.sum()
    if total == 0:
        return math.nan
    middles = np.asarray(bin_value(np.arange(len(counts))))
    return float(counts[middles <= seconds].sum() / total)


class ServiceCounts:
    """One service's window counts per user region: completed, dropped, and the latency, TTFT
    and TPOT histograms (the bins of :func:`bin_of`)."""

    __slots__ = ("completed", "dropped", "hist_latency", "hist_tpot", "hist_ttft")

    def __init__(self, regions: int) -> None:
        self.completed = [0] * regions
        self.dropped = [0] * regions
        self.hist_latency = [[0] * HIST_BINS for _ in range(regions)]
        self.hist_ttft = [[0] * HIST_BINS for _ in range(regions)]
        self.hist_tpot = [[0] * HIST_BINS for _ in range(regions)]

    def completed_one(self, origin: int, latency_s: float, ttft_s: float, tpot_s: float) -> None:
        """Count one completed window request of users in region ``origin``."""
        self.completed[origin] += 1
        self.hist_latency[origin][bin_of(latency_s)] += 1
        self.hist_ttft[origin][bin_of(ttft_s)] += 1
        self.hist_tpot[origin][bin_of(tpot_s)] += 1


class RequestRecorder:
    """Counters, histograms and sampled rows of the requests of one run."""

    def __init__(self, services: list[str], regions: list[str]) -> None:
        self.service_names = services
        self.region_names = regions
        n = len(regions)
        # Per origin (user region), window only.
        self.arrived = [0] * n
        self.completed = [0] * n
        self.dropped = [0] * n
        self.failed = [0] * n  # dropped for want of a replica (no-replica, replica-lost, node-failed)
        self.slo_met = [0] * n
        self.unfinished = [0] * n
        self.latency_sum = [0.0] * n
        self.hist_latency = [[0] * HIST_BINS for _ in range(n)]
        self.hist_ttft = [[0] * HIST_BINS for _ in range(n)]
        self.hist_tpot = [[0] * HIST_BINS for _ in range(n)]
        # Per service and origin (window only), kept when a run has two or more services, for the
        # service-level figures of one workload (metrics/levels.py): [latency, ttft, tpot] histograms,
        # completed and dropped counts. None with one service (its per-origin figures are the same).
        self.by_service: list[ServiceCounts] | None = (
            [ServiceCounts(n) for _ in services] if len(services) > 1 else None)
        # Per serving region (window only): completed requests and their latency histogram.
        self.served = [0] * n
        self.hist_served = [[0] * HIST_BINS for _ in range(n)]
        # Traffic matrix: completed requests by (origin, serving region).
        self.traffic = [[0] * n for _ in range(n)]
        self.residency_violations = 0  # completed requests served outside their allowed jurisdictions
        self.slots_busy = 0  # summed over samples in the window: requests in service ...
        self.slots_offered = 0  # ... and batch slots of serving replicas
        # replica.batching: iteration (world/iteration.py), window only.
        self.iteration = False  # some service runs iteration-level engines: report the figures below
        self.never_fit = 0  # rejected: prompt + output over the KV cache (drop reason never-fits)
        self.preempted = 0  # preemptions (a request preempted twice counts twice)
        self.batch_area = 0.0  # requests decoding x s, summed over replicas
        self.serving_s = 0.0  # replica-s serving
        self.kv_area = 0.0  # KV tokens held x s, replicas with a KV bound
        self.kv_capacity_s = 0.0  # KV capacity tokens x s, the same replicas
        self.prefix_hit_tokens = 0  # prompt tokens served from a replica's prefix cache
        self.prompt_tokens = 0  # prompt tokens admitted (services with prefix caching)
        self.prefix_caching = False  # some service caches its shared prefix: report the hit rate
        # Sampled rows.
        self.row_id = array("q")
        self.row_service = array("i")
        self.row_origin = array("i")
        self.row_region = array("i")
        self.row_status = array("b")
        self.row_reason = array("b")
        self.row_arrival = array("d")
        self.row_start = array("d")
        self.row_finish = array("d")
        self.row_access = array("d")
        self.row_network = array("d")
        self.row_queue = array("d")
        self.row_service_time = array("d")
        self.row_ttft = array("d")
        self.row_tpot = array("d")
        self.row_latency = array("d")
        self.row_prompt = array("i")
        self.row_output = array("i")
        self.row_batch = array("i")
        # Per interval and origin: counts since the previous sample.
        self.ts_time = array("d")
        self.ts_origin = array("i")
        self.ts_arrived = array("q")
        self.ts_completed = array("q")
        self.ts_slo_met = array("q")
        self.ts_dropped = array("q")
        self.ts_latency_sum = array("d")
        self._last = [(0, 0, 0, 0, 0.0)] * n

    def service_completed(self, service: int, origin: int, latency_s: float, ttft_s: float, tpot_s: float) -> None:
        """Count one completed window request in its service's own figures (two or more services)."""
        if self.by_service is not None:
            self.by_service[service].completed_one(origin, latency_s, ttft_s, tpot_s)

    def dropped_one(self, service: int, origin: int) -> None:
        """Count one dropped window request of service index ``service`` from region ``origin``."""
        self.dropped[origin] += 1
        if self.by_service is not None:
            self.by_service[service].dropped[origin] += 1

    def row(self, req_id: int, service: int, origin: int, region: int, status: int, reason: int,
            arrival: float, start: float, finish: float, access: float, network: float,
            queue: float, service_time: float, ttft: float, tpot: float, latency: float,
            prompt: int, output: int, batch: int) -> None:
        """Append one sampled request (times in s; NaN where a phase never happened)."""
        self.row_id.append(req_id)
        self.row_service.append(service)
        self.row_origin.append(origin)
        self.row_region.append(region)
        self.row_status.append(status)
        self.row_reason.append(reason)
        self.row_arrival.append(arrival)
        self.row_start.append(start)
        self.row_finish.append(finish)
        self.row_access.append(access)
        self.row_network.append(network)
        self.row_queue.append(queue)
        self.row_service_time.append(service_time)
        self.row_ttft.append(ttft)
        self.row_tpot.append(tpot)
        self.row_latency.append(latency)
        self.row_prompt.append(prompt)
        self.row_output.append(output)
        self.row_batch.append(batch)

    def interval(self, time: float) -> None:
        """Close a sampling interval: per origin, the counts since the previous one."""
        for o in range(len(self.region_names)):
            now = (self.arrived[o], self.completed[o], self.slo_met[o], self.dropped[o],
                   self.latency_sum[o])
            last = self._last[o]
            if now != last:
                self.ts_time.append(time)
                self.ts_origin.append(o)
                self.ts_arrived.append(now[0] - last[0])
                self.ts_completed.append(now[1] - last[1])
                self.ts_slo_met.append(now[2] - last[2])
                self.ts_dropped.append(now[3] - last[3])
                self.ts_latency_sum.append(now[4] - last[4])
                self._last[o] = now


# --- to DataFrames and figures (once, at the end) ----------------------------------------------


def request_figures(rec: RequestRecorder) -> dict[str, float | int]:
    """The request headline figures over every request of the window."""
    arrived, completed, dropped = sum(rec.arrived), sum(rec.completed), sum(rec.dropped)
    hist = np.sum(np.asarray(rec.hist_latency, dtype=np.int64), axis=0)
    ttft = np.sum(np.asarray(rec.hist_ttft, dtype=np.int64), axis=0)
    tpot = np.sum(np.asarray(rec.hist_tpot, dtype=np.int64), axis=0)
    decided = completed + dropped
    figures = {
        "requests_arrived": arrived,
        "requests_completed": completed,
        "requests_dropped": dropped,
        "requests_unfinished": sum(rec.unfinished),
        "requests_failed": sum(rec.failed),
        "request_latency_mean_s": sum(rec.latency_sum) / completed if completed else math.nan,
        "request_latency_p50_s": quantile_from_hist(hist, 0.50),
        "request_latency_p95_s": quantile_from_hist(hist, 0.95),
        "request_latency_p99_s": quantile_from_hist(hist, 0.99),
        "request_ttft_p99_s": quantile_from_hist(ttft, 0.99),
        "request_tpot_p99_s": quantile_from_hist(tpot, 0.99),
        "slo_attainment": sum(rec.slo_met) / decided if decided else math.nan,
        "request_residency_violations": rec.residency_violations,
        "replica_slot_utilization": rec.slots_busy / rec.slots_offered if rec.slots_offered else math.nan,
    }
    if rec.iteration:  # only runs with iteration-level serving carry these (docs/metrics.md)
        figures["replica_batch_mean"] = rec.batch_area / rec.serving_s if rec.serving_s else math.nan
        figures["kv_cache_utilization"] = rec.kv_area / rec.kv_capacity_s if rec.kv_capacity_s else math.nan
        figures["requests_preempted"] = rec.preempted
        figures["requests_never_fit"] = rec.never_fit
    if rec.prefix_caching:
        figures["prefix_cache_hit_rate"] = rec.prefix_hit_tokens / rec.prompt_tokens if rec.prompt_tokens else math.nan
    return figures


def request_breakdown(rec: RequestRecorder) -> list[dict[str, object]]:
    """Rows per user region (``by = "origin"``) with requests, latency percentiles, SLO
    attainment; and per serving region (``by = "serving"``) with requests served and latency."""
    rows: list[dict[str, object]] = []
    for o, name in enumerate(rec.region_names):
        if not rec.arrived[o]:
            continue
        hist = np.asarray(rec.hist_latency[o], dtype=np.int64)
        decided = rec.completed[o] + rec.dropped[o]
        rows.append({
            "by": "origin", "name": name, "requests_arrived": rec.arrived[o],
            "requests_completed": rec.completed[o], "requests_dropped": rec.dropped[o],
            "request_latency_mean_s": rec.latency_sum[o] / rec.completed[o] if rec.completed[o] else math.nan,
            "request_latency_p50_s": quantile_from_hist(hist, 0.5),
            "request_latency_p95_s": quantile_from_hist(hist, 0.95),
            "request_latency_p99_s": quantile_from_hist(hist, 0.99),
            "slo_attainment": rec.slo_met[o] / decided if decided else math.nan,
        })
    for r, name in enumerate(rec.region_names):
        if not rec.served[r]:
            continue
        hist = np.asarray(rec.hist_served[r], dtype=np.int64)
        rows.append({
            "by": "serving", "name": name, "requests_completed": rec.served[r],
            "request_latency_p50_s": quantile_from_hist(hist, 0.5),
            "request_latency_p95_s": quantile_from_hist(hist, 0.95),
            "request_latency_p99_s": quantile_from_hist(hist, 0.99),
        })
    return rows


def latency_cdf(rec: RequestRecorder, origin: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The latency CDF of the window's completed requests (of one user region, or all):
    (latency s at bin middles, cumulative share)."""
    if origin is None:
        counts = np.sum(np.asarray(rec.hist_latency, dtype=np.int64), axis=0)
    else:
        counts = np.asarray(rec.hist_latency[rec.region_names.index(origin)], dtype=np.int64)
    nonzero = np.nonzero(counts)[0]
    if len(nonzero) == 0:
        return np.array([]), np.array([])
    idx = np.arange(nonzero[0], nonzero[-1] + 1)
    cum = np.cumsum(counts[idx]) / counts.sum()
    return np.asarray(bin_value(idx)), cum
