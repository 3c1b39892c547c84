"""Cross-checks of GPU sharing (docs/sharing.md): what a sharing fleet needs, and what only a
sharing fleet may ask for.

A scenario *shares* when a node type of its fleet has ``gpu_sharing`` other than ``none``. It
runs one of two ways:

- *workload inflation* (:mod:`swarmsim.sharing_run`, a workload with ``stop_at_requested`` or
  ``replay: sample``): one region, fixed fleet, an alibaba-gpu-2023 pod list sampled without
  departures;
- otherwise the SimPy world (``world/shared_pool.py``): synthetic jobs workloads asking for
  ``gpus`` (a share below 1, or whole GPUs), ``cpus`` and ``memory``, that finish and free
  their shares, in any number of regions, with routing, queues, policies and billing.
"""

from __future__ import annotations

import re
from typing import Any

from swarmsim.catalog import COMPUTE_SLICES, mig_gpus, mig_profiles
from swarmsim.scenario.common import did_you_mean

#: A validated :class:`~swarmsim.scenario.model.Scenario` (not imported: model imports checks).
Scenario = Any

#: Placement names that only a sharing fleet has.
SHARING_ONLY = ("worst-fit", "random", "dot-product", "gpu-packing", "gpu-clustering", "fgd")

#: Placement names a MIG fleet accepts (as swarmsim.world.mig.MIG_POLICIES).
MIG_PLACEMENTS = ("first-fit", "random", "best-fit", "worst-fit", "spread", "fgd")


def _used(s: Scenario) -> list[str]:
    """The node types the fleet has nodes of, in fleet order."""
    out: list[str] = []
    for counts in s.fleet.values():
        out += [n for n, c in counts.items() if c > 0 and n in s.node_types and n not in out]
    return out


def shares(s: Scenario) -> bool:
    """Whether any node type shares GPUs (in the fleet or for a policy to add)."""
    return any(t.gpu_sharing != "none" for t in s.node_types.values())


def is_mig(s: Scenario) -> bool:
    """Whether the fleet shares GPUs by MIG."""
    return any(s.node_types[n].gpu_sharing == "mig" for n in _used(s))


def inflation(s: Scenario) -> bool:
    """Whether a scenario is a workload-inflation run (docs/sharing.md)."""
    return any(w.kind == "jobs" and (w.stop_at_requested is not None
                                     or (w.trace is not None and w.trace.replay == "sample"))
               for w in s.workloads.values())


def _check_profile(name: str, gpus: list[str]) -> str | None:
    """The problem with a profile name on a fleet of these MIG GPUs, or None."""
    have = {p.name: p for g in gpus for p in mig_profiles(g)}
    if name in have:
        return None
    listing = "; ".join(f"{g}: {', '.join(p.name for p in mig_profiles(g))}" for g in gpus)
    m = re.fullmatch(r"(\d+)g\.(\d+)gb", name)
    if m:
        g, mem = int(m.group(1)), float(m.group(2))
        same = [p for p in have.values() if p.compute_slices == g]
        if g > COMPUTE_SLICES or (same and all(p.memory_gb < mem for p in same)) or \
                (not same and mem > max(p.memory_gb for p in have.values())):
            return f"{name} is larger than the fleet's MIG GPUs ({listing})"
    return f"unknown MIG profile {name!r}{did_you_mean(name, have)}; the fleet's: {listing}"


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
            if w.mig_profile is not None:
                problems.append((f"workloads.{name}.mig_profile", "needs a node type with gpu_sharing: mig "
                                 f"(GPUs with MIG: {', '.join(mig_gpus())})"))
            _world_job_fields(s, name, w, problems)
        return
    if is_mig(s):
        _check_mig(s, jobs, problems)
        return
    for name, t in s.node_types.items():
        if t.gpu_sharing != "none" and (t.cpus is None or t.memory is None):
            problems.append((f"node_types.{name}.cpus", "a sharing node type needs cpus and memory"))
    if any(w.kind != "jobs" for w in s.workloads.values()):
        problems.append(("workloads", "a sharing fleet runs jobs workloads only for now"))
    if not jobs:
        problems.append(("workloads", "a sharing fleet needs a jobs workload"))
    if inflation(s):
        _check_inflation(s, jobs, problems)
        return
    if s.record is not None and s.record.mode != "full":
        problems.append(("record.mode", "a sharing fleet records in full for now (docs/sharing.md)"))
    for name, w in jobs.items():
        _world_job_fields(s, name, w, problems)


def _sharing_types(s: Scenario, w: Any) -> list[Any]:
    """The node types (specs) that share GPUs and that a workload may use."""
    return [s.node_types[n] for n in s.node_types_for(w) if s.node_types[n].gpu_sharing != "none"]


def _world_job_fields(s: Scenario, name: str, w: Any, problems: list[tuple[str, str]]) -> None:
    """A jobs workload in the SimPy world: shares, CPU and memory only on sharing types, and a
    job no larger than the largest such node."""
    base = f"workloads.{name}"
    types = _sharing_types(s, w)
    if not types:
        if w.gpus.lower() < 1:
            problems.append((f"{base}.gpus", f"{w.gpus.lower():g} GPUs is a share of one GPU: it needs a node "
                             "type with gpu_sharing: fractional that the workload may use"))
        for key in ("cpus", "memory", "fractional_gpus"):
            if getattr(w, key) is not None:
                problems.append((f"{base}.{key}", "is for jobs on a sharing fleet (a node type with "
                                 "gpu_sharing: fractional)"))
        return
    if w.trace is not None:
        problems.append((f"{base}.trace", "a trace on a sharing node type is replayed by workload inflation "
                         "only (replay: sample, stop_at_requested); use synthetic arrivals with gpus, cpus "
                         "and memory for jobs that depart"))
        return
    gpus = w.gpus.upper()
    asks = (("gpus", gpus, lambda t: t.gpus, ""),
            ("cpus", w.cpus.upper() if w.cpus is not None else 0.0, lambda t: t.cpus or 0.0, " CPUs"),
            ("memory", (w.memory.upper() if w.memory is not None else 0.0) / 2**20,
             lambda t: t.memory_mib or 0.0, " MiB"))
    for key, need, have, unit in asks:
        if need == float("inf"):
            problems.append((f"{base}.{key}", "needs a bounded distribution on a sharing fleet (a job must fit "
                             "one node)"))
        elif not any(need <= have(t) + 1e-9 for t in types):
            big = max(have(t) for t in types)
            problems.append((f"{base}.{key}", f"a job can ask for {need:g}{unit}: larger than every node "
                             f"(the largest sharing node type has {big:g}{unit}; a job on a sharing fleet "
                             "runs on one node)"))


def _check_inflation(s: Scenario, jobs: dict[str, Any], problems: list[tuple[str, str]]) -> None:
    """Workload inflation's limits (one region, fixed fleet, a sampled pod list)."""
    where = "fleet"
    if len(s.fleet) != 1:
        problems.append((where, "workload inflation runs in one region (docs/sharing.md)"))
    if s.policies:
        problems.append(("policies", "workload inflation keeps the fleet fixed: no scaling policies"))
    for name, w in jobs.items():
        base = f"workloads.{name}"
        if w.mig_profile is not None:
            problems.append((f"{base}.mig_profile", "needs a node type with gpu_sharing: mig, not fractional"))
        t = w.trace
        if t is None or t.format != "alibaba-gpu-2023" or t.replay != "sample":
            problems.append((f"{base}.trace", "workload inflation replays an alibaba-gpu-2023 pod list by "
                             "replay: sample"))
        elif t.departures:
            problems.append((f"{base}.trace.departures", "false is required: workload inflation keeps jobs"))
        if w.stop_at_requested is None:
            problems.append((f"{base}.stop_at_requested", "required for workload inflation, e.g. 1.3"))
    if s.scheduler.placement not in (*SHARING_ONLY, "first-fit", "best-fit", "spread"):
        problems.append(("scheduler.placement", "unknown"))  # pragma: no cover - the Literal stops it


def _check_mig(s: Scenario, jobs: dict[str, Any], problems: list[tuple[str, str]]) -> None:
    """The problems of a MIG fleet: every node type MIG, jobs asking for profiles the fleet has,
    arrivals the inflation engine runs (docs/sharing.md, "MIG")."""
    used = _used(s)
    other = [n for n in used if s.node_types[n].gpu_sharing != "mig"]
    if other:
        problems.append((f"node_types.{other[0]}.gpu_sharing", "a MIG fleet has only gpu_sharing: mig node types "
                         "(one kind of sharing per fleet)"))
    gpus = list(dict.fromkeys(s.node_types[n].gpu for n in used if s.node_types[n].gpu_sharing == "mig"))
    if len(s.fleet) != 1:
        problems.append(("fleet", "a sharing fleet is simulated in one region for now (docs/sharing.md)"))
    if s.policies:
        problems.append(("policies", "scaling policies do not act on a sharing fleet yet (docs/sharing.md)"))
    for n in used:
        t = s.node_types[n]
        if t.cpus is None or t.memory is None:
            problems.append((f"node_types.{n}.cpus", "a sharing node type needs cpus and memory"))
    if any(w.kind != "jobs" for w in s.workloads.values()):
        problems.append(("workloads", "a sharing fleet runs jobs workloads only for now"))
    if not jobs:
        problems.append(("workloads", "a sharing fleet needs a jobs workload"))
    if s.scheduler.placement not in MIG_PLACEMENTS:
        problems.append(("scheduler.placement", f"{s.scheduler.placement} is not defined for MIG fleets; use "
                         f"one of {', '.join(MIG_PLACEMENTS)}"))
    for name, w in jobs.items():
        base = f"workloads.{name}"
        if w.stop_at_requested is None:
            problems.append((f"{base}.stop_at_requested", "required on a sharing fleet, e.g. 1.3"))
        t = w.trace
        if t is not None:
            if w.mig_profile is not None:
                problems.append((f"{base}.mig_profile", "a trace brings its own task shapes (each share maps to "
                                 "the smallest profile holding it): give mig_profile or trace, not both"))
            if t.format != "alibaba-gpu-2023" or t.replay != "sample":
                problems.append((f"{base}.trace", "a sharing fleet replays an alibaba-gpu-2023 pod list by "
                                 "replay: sample"))
            elif t.departures:
                problems.append((f"{base}.trace.departures", "false is required: workload inflation keeps jobs"))
            continue
        if w.mig_profile is None:
            problems.append((f"{base}.mig_profile", "required for synthetic jobs on a MIG fleet, e.g. 3g.40gb or "
                             "a mix {1g.10gb: 0.5, 3g.40gb: 0.5}"))
        if w.arrivals is not None and w.arrivals.process != "poisson":
            problems.append((f"{base}.arrivals.process", "poisson on a MIG fleet (for now)"))
        if w.gpus.lower() != 1 or getattr(w.gpus, "value", None) != 1:
            problems.append((f"{base}.gpus", "1 on a MIG fleet: a job asks for one instance of mig_profile"))
        for profile in w.mig_mix():
            problem = _check_profile(profile, gpus)
            if problem:
                problems.append((f"{base}.mig_profile", problem))
