"""The cross-field checks of a scenario: every rule that relates one section to another.

Each section's model checks its own fields; what needs two sections (a fleet naming a region,
a replica shape fitting a node type, an RTT above the physical floor between two locations,
a policy's parameters against its class) is checked here, after the whole scenario has been
validated, by :func:`cross_checks`. Each check appends ``(path, message)`` to one list, in the
order of the file's sections, so a scenario with several problems reports them all at once.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, ValidationError

from swarmsim import catalog
from swarmsim.scenario.common import PROVIDERS, did_you_mean, unknown
from swarmsim.scenario.failures import FailuresSpec
from swarmsim.scenario.nodes import NodeTypeSpec
from swarmsim.scenario.policies import LimitsSpec, PolicySpec
from swarmsim.scenario.regions import NetworkSpec, RegionSpec
from swarmsim.scenario.services import InferenceWorkloadSpec
from swarmsim.scenario.sharing import check_sharing
from swarmsim.scenario.workloads import JobsWorkloadSpec, WorkloadSpec

Problems = list[tuple[str, str]]


class Scenario(Protocol):
    """What the checks read of a validated scenario (``swarmsim.scenario.model.Scenario``
    satisfies it; the model calls :func:`cross_checks`, so the checks cannot import it)."""

    @property
    def horizon(self) -> float: ...
    @property
    def warmup(self) -> float: ...
    @property
    def regions(self) -> dict[str, RegionSpec]: ...
    @property
    def network(self) -> NetworkSpec: ...
    @property
    def node_types(self) -> dict[str, NodeTypeSpec]: ...
    @property
    def fleet(self) -> dict[str, dict[str, int]]: ...
    @property
    def workloads(self) -> dict[str, WorkloadSpec]: ...
    @property
    def policies(self) -> list[PolicySpec]: ...
    @property
    def limits(self) -> LimitsSpec: ...
    @property
    def failures(self) -> FailuresSpec: ...
    @property
    def source(self) -> str | None: ...

    def node_types_for(self, work: JobsWorkloadSpec | InferenceWorkloadSpec) -> list[str]: ...

    def possible_gpus(self, region: str, work: JobsWorkloadSpec, any_state: bool = False) -> float: ...


def cross_checks(s: Scenario) -> Problems:
    """Every cross-field problem of a validated scenario, as ``(path, message)``; may resolve
    each policy's ``params`` in place (defaults included)."""
    problems: Problems = []
    if s.warmup >= s.horizon:
        problems.append(("warmup", "must be shorter than horizon"))
    check_bounds(s, problems)
    check_regions(s, problems)
    check_network(s, problems)
    check_fleet(s, problems)
    check_policies(s, problems)
    check_failures(s, problems)
    check_limits(s, problems)
    check_workloads(s, problems)
    check_sharing(s, problems)
    return problems


#: Physical upper bounds (docs/scenarios.md, "Upper bounds"), generous on purpose: a value above
#: one is a typo or a unit slip, never a cloud. Seconds in 100 years of 365.25 days.
MAX_HORIZON_S = 100 * 365.25 * 86400.0
#: Nodes of one type in one region, and a region's max_nodes: ten million 8-GPU servers would be
#: 80 million GPUs, over ten times every data-center GPU shipped through 2024.
MAX_NODES = 10_000_000
#: GPUs in one node: the largest single system announced (NVIDIA's NVL576 rack) has 576.
MAX_GPUS_PER_NODE = 1024


def check_bounds(s: Scenario, problems: Problems) -> None:
    """Counts and durations within the physical bounds above (the reason is in the message)."""
    if s.horizon > MAX_HORIZON_S:
        problems.append(("horizon", f"{s.horizon:g} s is more than 100 years ({MAX_HORIZON_S:.0f} s): no "
                         "fleet, price or demand lasts that long; a typo or a wrong unit?"))
    for name, t in s.node_types.items():
        for field in ("gpus", "max_gpus"):
            value = getattr(t, field)
            if value is not None and value > MAX_GPUS_PER_NODE and (field == "gpus" or value != t.gpus):
                problems.append((f"node_types.{name}.{field}", f"{value} GPUs in one node is more than "
                                 f"{MAX_GPUS_PER_NODE} (the largest single system, NVIDIA's NVL576, has 576); "
                                 "use more nodes"))
    for name, spec in s.regions.items():
        if spec.max_nodes is not None and spec.max_nodes > MAX_NODES:
            problems.append((f"regions.{name}.max_nodes", _too_many(spec.max_nodes)))
    for region, counts in s.fleet.items():
        for node_type, count in counts.items():
            if isinstance(count, int) and count > MAX_NODES:
                problems.append((f"fleet.{region}.{node_type}", _too_many(count)))


def _too_many(count: int) -> str:
    return (f"{count:,} nodes is more than {MAX_NODES:,} (of 8 GPUs, over ten times every data-center "
            "GPU ever shipped); a typo?")


def check_regions(s: Scenario, problems: Problems) -> None:
    """A region's ``site`` is a built-in catalog site."""
    for name, spec in s.regions.items():
        if spec.site is not None and catalog.find_region(spec.site) is None:
            problems.append((f"regions.{name}.site", f"unknown built-in site {spec.site!r}"))


def check_network(s: Scenario, problems: Problems) -> None:
    """RTT overrides name regions and are not below light in fibre between their locations."""
    regions = s.regions
    for a, row in s.network.rtt_overrides.items():
        for b in [a, *row]:
            if b not in regions:
                problems.append((f"network.rtt_overrides.{a}", unknown("region", b, regions)))
        for b, rtt_s in row.items():
            if a in regions and b in regions:
                la, lb = regions[a].location, regions[b].location
                km = catalog.great_circle_km(la.lat, la.lon, lb.lat, lb.lon)
                floor_s = 2.0 * km / 200_000.0  # light in fibre, there and back
                if rtt_s < floor_s:
                    problems.append((f"network.rtt_overrides.{a}.{b}", (
                        f"{rtt_s * 1000:g} ms is below the physical floor of {floor_s * 1000:.1f} ms "
                        f"for {km:,.0f} km of fibre (light at 200,000 km/s, there and back)")))


def check_fleet(s: Scenario, problems: Problems) -> None:
    """The fleet names regions and node types, with counts >= 0 that fit each region (active,
    within ``max_nodes`` with hot spares counted)."""
    regions = s.regions
    for region, counts in s.fleet.items():
        if region not in regions:
            problems.append((f"fleet.{region}", unknown("region", region, regions)))
            continue
        total = 0
        for node_type, count in counts.items():
            if node_type not in s.node_types:
                problems.append(
                    (f"fleet.{region}.{node_type}", unknown("node type", node_type, s.node_types))
                )
            if not isinstance(count, int) or count < 0:
                problems.append((f"fleet.{region}.{node_type}", "expected a node count >= 0"))
            else:
                total += count + math.ceil(s.failures.spare * count - 1e-9)  # hot spares are nodes too
        spec = regions[region]
        if total and not spec.active:
            problems.append((f"fleet.{region}", "the region is inactive (active: false): no nodes"))
        if spec.max_nodes is not None and total > spec.max_nodes:
            spares = " (hot spares included)" if s.failures.spare else ""
            problems.append(
                (f"fleet.{region}", f"{total} nodes{spares} exceed the region's max_nodes ({spec.max_nodes})")
            )


def check_policies(s: Scenario, problems: Problems) -> None:
    """Resolve each policy's class and validate its parameters with its own ``Params``."""
    folder = str(Path(s.source).parent) if s.source else None
    for i, spec in enumerate(s.policies):
        base = f"policies.{i}"
        spec._folder = folder  # relative file.py class paths start at the scenario's folder
        try:
            cls = spec.policy_class()
        except ValueError as err:
            where = "class" if spec.kind == "custom" else "strategy"
            problems.append((f"{base}.{where}", str(err)))
            continue
        params_model = getattr(cls, "Params", None)
        if not (isinstance(params_model, type) and issubclass(params_model, BaseModel)):
            problems.append((base, f"{cls.__name__} has no pydantic Params model"))
            continue
        raw = {**spec.params, **(spec.model_extra or {})}
        try:
            params = params_model.model_validate(raw)
        except ValidationError as err:
            for e in err.errors(include_url=False):
                path = ".".join(str(p) for p in e["loc"])
                message = e["msg"].removeprefix("Value error, ")
                if e["type"] == "extra_forbidden":
                    key = str(e["loc"][-1])
                    message = f"unknown parameter {key!r} of {spec.kind} {spec.strategy or cls.__name__}"
                    message += did_you_mean(key, params_model.model_fields) or (
                        f"; parameters: {', '.join(params_model.model_fields)}")
                problems.append((f"{base}.{path}" if path else base, message))
            continue
        # The resolved scenario keeps every parameter, defaults included, under params.
        object.__setattr__(spec, "params", params.model_dump(mode="json", by_alias=False))
        if spec.model_extra:
            spec.model_extra.clear()


def check_failures(s: Scenario, problems: Problems) -> None:
    """Keys of the failure tables name providers or node types; outages name regions."""
    f = s.failures
    known = [*PROVIDERS, *s.node_types]
    for table in ("nodes", "churn", "spot"):
        for key in getattr(f, table):
            if key not in known:
                problems.append((f"failures.{table}.{key}", unknown("provider or node type", key, known)))
    for i, outage in enumerate(f.outages):
        if outage.region not in s.regions:
            problems.append((f"failures.outages.{i}.region", unknown("region", outage.region, s.regions)))


def check_limits(s: Scenario, problems: Problems) -> None:
    """Pool limits name regions and node types, with ``min <= max`` around the fleet's count."""
    for region, pools in s.limits.pools.items():
        if region not in s.regions:
            problems.append((f"limits.pools.{region}", unknown("region", region, s.regions)))
            continue
        for node_type, bound in pools.items():
            where = f"limits.pools.{region}.{node_type}"
            if node_type not in s.node_types:
                problems.append((where, unknown("node type", node_type, s.node_types)))
            elif bound.max is not None and bound.max < bound.min:
                problems.append((where, f"max ({bound.max}) is below min ({bound.min})"))
            else:
                count = s.fleet.get(region, {}).get(node_type, 0)
                if count < bound.min or (bound.max is not None and count > bound.max):
                    problems.append((where, f"the fleet has {count} nodes, outside [{bound.min}, "
                                     f"{bound.max if bound.max is not None else 'inf'}]"))


def check_workloads(s: Scenario, problems: Problems) -> None:
    """Each workload: its service fits (:func:`check_service`), its origins are regions, its
    residency names jurisdictions, its GPU types exist; and, when nothing else is wrong, some
    region can hold its smallest job."""
    regions = s.regions
    jurisdictions = {r.jurisdiction for r in regions.values()}
    for wname, work in s.workloads.items():
        base = f"workloads.{wname}"
        if isinstance(work, InferenceWorkloadSpec):
            check_service(s, base, work, problems)
        for origin in work.origin:
            if origin not in regions:
                problems.append((f"{base}.origin.{origin}", unknown("region", origin, regions)))
        if isinstance(work.residency, list):
            for j in work.residency:
                if j not in jurisdictions:
                    problems.append(
                        (f"{base}.residency", f"no region has jurisdiction {j!r}; known: "
                         f"{', '.join(sorted(jurisdictions))}")
                    )
        if isinstance(work, JobsWorkloadSpec) and work.gpu_types is not None:
            have = {t.gpu for t in s.node_types.values()}
            if not set(work.gpu_types) & have:
                problems.append(
                    (f"{base}.gpu_types", f"no node type has any of {work.gpu_types}; "
                     f"node types have {sorted(have)}")
                )
        if not problems and isinstance(work, JobsWorkloadSpec):
            smallest = work.gpus.lower()
            # Residency and inactive regions only cause rejections at run time (with a
            # warning); a job larger than anything any region could ever hold is an error.
            largest = max((s.possible_gpus(r, work, any_state=True) for r in regions), default=0)
            if smallest > largest:
                problems.append(
                    (f"{base}.gpus", f"no job of this workload can ever run: the smallest asks "
                     f"for {smallest:g} GPUs but the largest allocation any region can "
                     f"offer is {largest:g} GPUs")
                )


def check_service(s: Scenario, base: str, work: InferenceWorkloadSpec, problems: Problems) -> None:
    """An inference service: its replica shape fits some node type, its serving profile
    exists for those GPUs, its initial replicas name regions."""
    from swarmsim.serving import profile_for_replica

    r = work.replica
    fits = [t for t in s.node_types_for(work) if (s.node_types[t].max_gpus or 0) >= r.gpus]
    if not fits:
        problems.append((f"{base}.replica", f"no node type can hold a replica of {r.gpus} "
                         f"{'/'.join(r.accepted or ['any'])} GPUs"))
    for t in fits:
        try:
            profile_for_replica(r, s.node_types[t].gpu)
        except ValueError as err:
            problems.append((f"{base}.replica.model", str(err)))
            break
    for region in work.replicas or {}:
        if region not in s.regions:
            problems.append((f"{base}.replicas.{region}", unknown("region", region, s.regions)))
    if work.min_regions is not None and fits:
        if work.replicas is not None:
            spread = [reg for reg, n in work.replicas.items() if n > 0]
        else:  # the default: one replica per active region with a node type that can hold one
            spread = [reg for reg, spec in s.regions.items()
                      if spec.active and any(s.fleet.get(reg, {}).get(t, 0) for t in fits)]
        if len(spread) < work.min_regions:
            problems.append((f"{base}.min_regions", f"the initial replicas are in {len(spread)} region(s) "
                             f"({', '.join(spread) or 'none'}); min_regions asks for at least "
                             f"{work.min_regions}"))
