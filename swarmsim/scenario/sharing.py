"""Cross-checks of GPU sharing (docs/sharing.md): what a sharing fleet needs, and what only a
sharing fleet may ask for.

A scenario *shares* when a node type of its fleet has ``gpu_sharing`` other than ``none``. The
sharing engine (:mod:`swarmsim.sharing_run`) runs workload inflation: one region, fixed fleet
(no scaling policies, no failures), jobs workloads replaying a trace by ``replay: sample``
without departures, stopped by ``stop_at_requested``.
"""

from __future__ import annotations

from typing import Any

#: A validated :class:`~swarmsim.scenario.model.Scenario` (not imported: model imports checks).
Scenario = Any

#: Placement names that only a sharing fleet has.
SHARING_ONLY = ("worst-fit", "random", "dot-product", "gpu-packing", "gpu-clustering", "fgd")


def shares(s: Scenario) -> bool:
    """Whether any node type in the fleet shares GPUs."""
    used = {name for counts in s.fleet.values() for name, n in counts.items() if n > 0}
    return any(s.node_types[n].gpu_sharing != "none" for n in used if n in s.node_types)


def check_sharing(s: Scenario, problems: list[tuple[str, str]]) -> None:
    """The problems of a scenario's sharing settings, as ``(path, message)``."""
    sharing = shares(s)
    jobs = {name: w for name, w in s.workloads.items() if w.kind == "jobs"}
    if not sharing:
        if s.scheduler.placement in SHARING_ONLY:
            problems.append(("scheduler.placement", f"{s.scheduler.placement} places shares of GPUs: it needs a "
                             "node type with gpu_sharing: fractional"))
        for name, w in jobs.items():
            t = w.trace
            if t is not None and t.fractional_gpus == "keep":
                problems.append((f"workloads.{name}.trace.fractional_gpus", "keep (a share of one GPU) needs a "
                                 "node type with gpu_sharing: fractional; use ceil or round"))
            if t is not None and (t.replay == "sample" or not t.departures):
                problems.append((f"workloads.{name}.trace.replay", "replay: sample and departures: false are "
                                 "for sharing fleets (workload inflation)"))
            if w.stop_at_requested is not None:
                problems.append((f"workloads.{name}.stop_at_requested", "needs a sharing fleet"))
        return
    where = "fleet"
    if len(s.fleet) != 1:
        problems.append((where, "a sharing fleet is simulated in one region for now (docs/sharing.md)"))
    if s.policies:
        problems.append(("policies", "scaling policies do not act on a sharing fleet yet (docs/sharing.md)"))
    for name, t in s.node_types.items():
        if t.gpu_sharing != "none" and (t.cpus is None or t.memory is None):
            problems.append((f"node_types.{name}.cpus", "a sharing node type needs cpus and memory"))
    if any(w.kind != "jobs" for w in s.workloads.values()):
        problems.append(("workloads", "a sharing fleet runs jobs workloads only for now"))
    if not jobs:
        problems.append(("workloads", "a sharing fleet needs a jobs workload"))
    for name, w in jobs.items():
        base = f"workloads.{name}"
        t = w.trace
        if t is None or t.format != "alibaba-gpu-2023" or t.replay != "sample":
            problems.append((f"{base}.trace", "a sharing fleet replays an alibaba-gpu-2023 pod list by "
                             "replay: sample (the only sharing workload so far)"))
        elif t.departures:
            problems.append((f"{base}.trace.departures", "false is required: workload inflation keeps jobs"))
        if w.stop_at_requested is None:
            problems.append((f"{base}.stop_at_requested", "required on a sharing fleet, e.g. 1.3"))
    if s.scheduler.placement not in (*SHARING_ONLY, "first-fit", "best-fit", "spread"):
        problems.append(("scheduler.placement", "unknown"))  # pragma: no cover - the Literal stops it
