"""The headline figures of a run as the report shows them: a label, the unit and one line that
says what the figure means (the names, units and definitions of docs/metrics.md)."""

from __future__ import annotations

from typing import Any

from swarmsim.render import fmt

#: key -> (label, unit, what it means). The order is the order of the cards.
MEANINGS: dict[str, tuple[str, str, str]] = {
    "gpu_utilization": ("GPU utilization", "%", "share of the billed GPU-hours that held a job or a model replica"),
    "cost_usd": ("Cost", "USD", "what the provisioned GPUs (and data egress) cost over the measurement window"),
    "idle_cost_usd": ("Idle cost", "USD", "the part of the cost paid for GPUs that held no work"),
    "gpu_hours_provisioned": ("GPU-hours billed", "GPU-h", "GPU time paid for, busy or idle"),
    "gpu_hours_busy": ("GPU-hours busy", "GPU-h", "GPU time that held jobs or model replicas"),
    "jobs_arrived": ("Jobs arrived", "jobs", "training jobs that arrived in the measurement window"),
    "jobs_completed": ("Jobs completed", "jobs", "of those, finished before the end of the run"),
    "jobs_unfinished": ("Jobs unfinished", "jobs", "still moving, queued or running at the end"),
    "jobs_rejected": ("Jobs rejected", "jobs", "jobs that no allowed region could ever hold"),
    "job_wait_mean_s": ("Job wait, mean", "time", "arrival to start, averaged over started jobs"),
    "job_wait_p50_s": ("Job wait, median", "time", "half the started jobs waited less than this"),
    "job_wait_p95_s": ("Job wait, p95", "time", "95 % of the started jobs waited less than this"),
    "job_wait_p99_s": ("Job wait, p99", "time", "99 % of the started jobs waited less than this"),
    "job_completion_mean_s": ("Job completion, mean", "time", "arrival to finish (transfer, wait, run)"),
    "requests_arrived": ("Requests arrived", "requests", "inference requests in the measurement window"),
    "requests_completed": ("Requests completed", "requests", "requests whose last token came before the end"),
    "requests_dropped": ("Requests dropped", "requests", "no replica, a full queue or a timeout"),
    "request_latency_p50_s": ("Request latency, median", "time", "arrival to last token, every completed request"),
    "request_latency_p95_s": ("Request latency, p95", "time", "95 % of completed requests were faster"),
    "request_latency_p99_s": ("Request latency, p99", "time", "99 % of completed requests were faster"),
    "slo_attainment": ("SLO attainment", "%", "requests that met their service's SLO, of completed + dropped"),
    "replica_slot_utilization": ("Replica slot use", "%", "share of the replicas' batch slots holding a request"),
    "residency_violations": ("Residency violations", "jobs", "work served where its residency forbids (0 expected)"),
    "scale_actions": ("Scaling actions", "actions", "policy actions that changed a node or a region"),
    "scale_up_response_s": ("Scale-up response", "time", "from a queue forming to the added capacity being ready"),
    "gpu_hours_lost": ("GPU-hours lost", "GPU-h", "work of interrupted runs after their last checkpoint"),
    "jobs_restarted": ("Jobs restarted", "jobs", "jobs interrupted at least once"),
    "availability": ("Availability", "%", "share of requests not failed by a failure or outage"),
    "requests_failed": ("Requests failed", "requests", "requests dropped because of failures"),
    "node_failures": ("Node failures", "nodes", "nodes that went down (failure, churn, spot)"),
    "outages": ("Region outages", "outages", "whole-region outages"),
    "mean_time_to_recover_s": ("Time to recover, mean", "time", "from a failure to its capacity back"),
    "failures_unrecovered": ("Unrecovered failures", "nodes", "failures still down at the end"),
    "gpu_hours_checkpointing": ("GPU-hours checkpointing", "GPU-h", "GPU time spent writing checkpoints"),
    "sim_events": ("Simulated events", "events", "event handlers the simulation ran"),
}


def shown_keys(summary: dict[str, Any]) -> list[str]:
    """The headline keys worth a card for this run: job figures only with jobs, request figures
    only with requests, resilience figures only when something failed."""
    requests = bool(summary.get("requests_arrived"))
    jobs = bool(summary.get("jobs_arrived")) or not requests
    failing = bool(summary.get("node_failures") or summary.get("outages"))
    resilience = {"gpu_hours_lost", "jobs_restarted", "availability", "requests_failed", "node_failures",
                  "outages", "mean_time_to_recover_s", "failures_unrecovered"}
    out = []
    for k in MEANINGS:
        if k not in summary:
            continue
        if k == "gpu_hours_checkpointing" and not summary.get(k):
            continue
        if k in resilience and not failing:
            continue
        if (k.startswith(("request", "replica")) or k in ("slo_attainment", "availability")) and not requests:
            continue
        if k.startswith("job") and not jobs:
            continue
        out.append(k)
    return out


def card_value(key: str, value: Any) -> str:
    """The figure as text in its unit (``render.fmt``: durations, dollars, shares in %)."""
    return fmt(key, value)


__all__ = ["MEANINGS", "card_value", "shown_keys"]
