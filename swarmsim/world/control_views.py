"""The views the control loop hands to policies, built lazily from the world's counters.

A policy's :class:`~swarmsim.policies.views.ClusterView` is the same frozen dataclass as ever;
what is lazy is each region in it. :class:`LiveRegionView` is a
:class:`~swarmsim.policies.views.RegionView` (a subclass: ``isinstance`` holds, the fields have
their names and types, it compares, hashes, iterates, prints, copies and pickles as the named
tuple it stands for) whose fields are computed when first read, from the world as it stands at
the tick, and then kept. A policy pays for the fields it reads: a view of 5 regions is a few
objects, and a field nobody reads (a percentile, the pending shapes, a pool histogram) is never
computed.

A snapshot still: the world cannot change while a policy decides (SimPy runs nothing else, and
actions apply after ``decide`` returns), so a field read late in a decision has the value it had
at the start. Before the world changes (an action applies, or time moves on), the controller
calls :meth:`ViewBuilder.seal` on the view a policy decided on: a view (or region view, or
regions mapping) that the policy kept a reference to is filled in then, so a kept view never
shows later values. Who kept what is read from reference counts (CPython); elsewhere every
view is sealed.

Pool views are built per pool only when the pool's ``version`` changed; pending shapes only when
they changed; a region's ``pools`` mapping is reused while none of its pools changed.

Units: times in s, GPU counts in GPUs, money in USD, rates per hour as the field says.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Mapping
from operator import attrgetter, mul
from typing import TYPE_CHECKING, Any, cast

from swarmsim.policies.views import (
    ClusterView,
    NodeTypeView,
    PendingView,
    PoolView,
    RegionView,
    ServiceView,
    SiteView,
    WorkloadView,
)
from swarmsim.scenario import JobsWorkloadSpec

if TYPE_CHECKING:
    from swarmsim.world.control_port import ControlledWorld
    from swarmsim.world.node import Pool, Region

#: How far back the views' recent percentiles look, s.
VIEW_WINDOW_S = 1800.0

#: Views built between two expiries of a region's recent waits when no policy reads them.
_TRIM_EVERY = 8

_FIELDS = RegionView._fields
#: Fields :meth:`ViewBuilder.build` fills in at once: (name, getter of the world's region) and
#: (name, method of the builder taking the region).
Prefetch = tuple[tuple[tuple[str, Callable[[Any], Any]], ...], tuple[tuple[str, Callable[..., Any]], ...]]
_BLANK = (None,) * len(_FIELDS)
_new_tuple = tuple.__new__
#: Region fields that are scenario constants, set when a region view is made.
_EAGER = ("name", "jurisdiction", "kind", "lat", "lon", "utc_offset")
_getrefcount: Callable[[object], int] | None = getattr(sys, "getrefcount", None)


class _Lazy:
    """A field computed on first read and stored in the instance (a non-data descriptor: later
    reads find the value in the instance dict and never come here). ``fn(view)`` computes it."""

    __slots__ = ("fn", "name")

    def __init__(self, name: str, fn: Callable[[LiveRegionView], Any]) -> None:
        self.name, self.fn = name, fn

    def __get__(self, obj: LiveRegionView | None, cls: type | None = None) -> Any:
        if obj is None:
            return self
        value = obj.__dict__[self.name] = self.fn(obj)
        return value


class _Counter(_Lazy):
    """A field that is an attribute of the world's region (``attr``), read on first use."""

    __slots__ = ("attr",)

    def __init__(self, name: str, attr: str) -> None:
        super().__init__(name, _unset)
        self.attr = attr

    def __get__(self, obj: LiveRegionView | None, cls: type | None = None) -> Any:
        if obj is None:
            return self
        d = obj.__dict__
        value = d[self.name] = getattr(d["_r"], self.attr)
        return value


class _Derived(_Lazy):
    """A field the builder derives: ``method(region)`` of the view's :class:`ViewBuilder`."""

    __slots__ = ("method",)

    def __init__(self, name: str, method: Callable[[ViewBuilder, Region], Any]) -> None:
        super().__init__(name, _unset)
        self.method = method

    def __get__(self, obj: LiveRegionView | None, cls: type | None = None) -> Any:
        if obj is None:
            return self
        d = obj.__dict__
        value = d[self.name] = self.method(d["_b"], d["_r"])
        return value


def _unset(view: LiveRegionView) -> Any:
    raise AttributeError("a region view's constant field was not set")


class LiveRegionView(RegionView):
    """A :class:`RegionView` whose fields are computed on first read (see the module text).

    Read-only like the named tuple: fields cannot be set. ``_src`` holds the builder, the
    world's region and its index; sealing (:meth:`seal`) computes every field left."""

    def __new__(cls, builder: ViewBuilder, region: Region, row: Mapping[str, Any]) -> LiveRegionView:
        """A region view of ``region``, nothing computed yet: ``row`` holds its scenario
        constants (the fields of ``_EAGER``, known without work)."""
        self = _new_tuple(cls, _BLANK)
        d = self.__dict__
        d.update(row)
        d["_b"], d["_r"] = builder, region
        return self

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"RegionView is read-only: cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"RegionView is read-only: cannot delete {name!r}")

    def seal(self) -> None:
        """Compute every field not read yet, from the world as it stands now."""
        d = self.__dict__
        for name in _FIELDS:
            if name not in d:
                getattr(self, name)

    def _values(self) -> tuple[Any, ...]:
        self.seal()
        d = self.__dict__
        return tuple(d[name] for name in _FIELDS)

    def __iter__(self) -> Any:
        return iter(self._values())

    def __getitem__(self, index: Any) -> Any:
        return self._values()[index]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, tuple):
            return self._values() == tuple(other)
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        if isinstance(other, tuple):
            return self._values() != tuple(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        return "RegionView(" + ", ".join(f"{n}={v!r}" for n, v in zip(_FIELDS, self._values(), strict=True)) + ")"

    def __reduce__(self) -> tuple[type, tuple[Any, ...]]:
        return (RegionView, self._values())  # copies and pickles are plain RegionViews

    def __copy__(self) -> RegionView:
        return RegionView(*self._values())

    def __deepcopy__(self, memo: dict[int, Any]) -> RegionView:
        import copy
        return RegionView(*copy.deepcopy(self._values(), memo))

    def count(self, value: Any) -> int:
        return self._values().count(value)

    def index(self, value: Any, *args: Any) -> int:
        return self._values().index(value, *args)

    def _asdict(self) -> dict[str, Any]:
        return dict(zip(_FIELDS, self._values(), strict=True))

    def _replace(self, **changes: Any) -> RegionView:  # type: ignore[override]  # takes RegionView's fields
        return RegionView(*self._values())._replace(**changes)


class ViewBuilder:
    """Builds the views of one run from a world (:class:`ControlledWorld`) and keeps what they
    reuse: scenario constants, pool snapshots by version, pending tuples, ``pools`` mappings."""

    def __init__(self, world: ControlledWorld, budget_usd_per_hour: float | None) -> None:
        self.world = world
        self.budget = budget_usd_per_hour
        self.since = -math.inf  # start of the percentiles' window for the view being built
        self._blocked: dict[int, int] | None = None  # per origin region, for the view being built
        self._builds = 0
        self._static = _static_views(world)
        sc = world.scenario
        #: Per region: its constant fields, its pools' names, per pool the (version, view) last
        #: built, the ``pools`` mapping last built, and the pending shapes last seen and their view.
        self._rows: list[dict[str, Any]] = [
            dict(zip(_EAGER, (name, region.jurisdiction, spec.kind, spec.location.lat, spec.location.lon,
                              spec.utc_offset), strict=True))
            for region, (name, spec) in zip(world.regions, sc.regions.items(), strict=True)
        ]
        self._constants = [  # per region: (its name, the instance dict of a new view of it)
            (row["name"], {**row, "_b": self, "_r": region}) for region, row in zip(world.regions, self._rows,
                                                                                     strict=True)
        ]
        self._names = [[p.ntype.name for p in region.pools] for region in world.regions]
        self._pool_cache: list[list[tuple[int, PoolView | None]]] = [
            [(-1, None)] * len(region.pools) for region in world.regions
        ]
        self._pools_map: list[dict[str, PoolView] | None] = [None] * len(world.regions)
        self._pending: list[tuple[dict[tuple[int, tuple[int, ...]], int], tuple[PendingView, ...]]] = [
            ({}, ()) for _ in world.regions
        ]
        self._gpu_names: dict[tuple[int, ...], tuple[str, ...]] = {}  # node type indices -> GPU models

    # --- the view -----------------------------------------------------------------------------

    def plan(self, reads: frozenset[str] | None) -> Prefetch:
        """What :meth:`build` fills in at once for policies that declared ``reads`` (the region
        fields they read): the world's counters among them, then the derived fields. Fields
        outside it stay lazy, so a declaration that misses one costs time, never a value."""
        if not reads:
            return ((), ())
        counters = tuple((name, attrgetter(d.attr)) for name in _FIELDS
                         if name in reads and isinstance(d := LiveRegionView.__dict__[name], _Counter))
        derived = tuple((name, d.method) for name in _FIELDS
                        if name in reads and isinstance(d := LiveRegionView.__dict__[name], _Derived))
        return counters, derived

    def build(self, prefetch: Prefetch = ((), ())) -> ClusterView:
        """A view of the world now: regions lazy but for the fields of ``prefetch``
        (:meth:`plan`), the rest eager (cost: a few objects per region, the fields prefetched;
        the services' views when the scenario has services)."""
        w = self.world
        now = w.env.now
        self.since = now - VIEW_WINDOW_S
        self._blocked = None
        self._builds += 1
        counters, derived = prefetch
        regions: dict[str, LiveRegionView] = {}
        for name, constants in self._constants:  # LiveRegionView(self, region, row), written out
            view = regions[name] = _new_tuple(LiveRegionView, _BLANK)
            d = view.__dict__
            d.update(constants)
            if counters or derived:
                region = constants["_r"]
                for field, get in counters:
                    d[field] = get(region)
                for field, method in derived:
                    d[field] = method(self, region)
        if self._builds % _TRIM_EVERY == 0:  # expire recent values that no policy read
            for region in w.regions:
                region.recent_waits.p95(self.since)
                region.origin_delays.p95(self.since)
        static = self._static
        return ClusterView(  # positional, in field order: time, window, regions, node types,
            # workloads, RTTs, cost so far, budget, extra, services
            now, VIEW_WINDOW_S, regions, static["types"], static["workloads"], static["rtt"],
            w.spent_usd(), self.budget, {}, self._service_views() if w.services.services else {},
        )

    def seal(self, view: ClusterView, held: int) -> None:
        """Fill in the regions of ``view`` that someone other than the controller still holds
        (``held``: the references the caller itself holds to ``view``), before the world
        changes. Without reference counts (not CPython), every region is filled in."""
        # Baselines: ``held`` + this call's argument + getrefcount's own; for the mapping, the
        # view's field + ``regions`` + getrefcount's; for a region, the mapping + ``region`` + its.
        regions = view.regions
        if _getrefcount is None or _getrefcount(view) > held + 2 or _getrefcount(regions) > 3:
            for region in regions.values():
                region.seal()  # type: ignore[attr-defined]  # the controller's views hold LiveRegionViews
            return
        for region in regions.values():
            if _getrefcount(region) > 3:
                region.seal()  # type: ignore[attr-defined]  # the controller's views hold LiveRegionViews

    # --- the lazy fields ------------------------------------------------------------------------

    def pools(self, region: Region) -> dict[str, PoolView]:
        """The region's pool snapshots by type name (cost: a version check per pool; a snapshot
        per changed pool; the previous mapping when none changed)."""
        i = region.index
        cache = self._pool_cache[i]
        changed = False
        for j, p in enumerate(region.pools):
            if cache[j][0] != p.version:
                cache[j] = (p.version, pool_view(p))
                changed = True
        pools = self._pools_map[i]
        if changed or pools is None:
            # the loop above filled in every entry: no snapshot is None
            pools = self._pools_map[i] = {name: cast(PoolView, snap)
                                          for name, (_, snap) in zip(self._names[i], cache, strict=True)}
        return pools

    def pending(self, region: Region) -> tuple[PendingView, ...]:
        """The region's queued shapes, and replicas waiting for GPUs as pending demand too, as
        views sorted by (GPUs, types); the previous tuple while the shapes are unchanged."""
        shapes = region.pending
        services = self.world.services.services
        if services:
            shapes = dict(shapes)
            for service in services:
                waiting = service.sites[region.index].wanted
                if waiting:
                    key = (service.gpus, tuple(t.index for t in service.types))
                    shapes[key] = shapes.get(key, 0) + waiting
        last, views = self._pending[region.index]
        if shapes == last:
            return views
        gpus_of = self._static["gpus_of"]
        names = self._gpu_names
        out = []
        for (gpus, types), count in sorted(shapes.items()):
            gpu_types = names.get(types)
            if gpu_types is None:
                gpu_types = names[types] = tuple(sorted({gpus_of[t] for t in types}))
            if type(gpus) is float and gpus < 1:  # shares of one GPU (docs/sharing.md): n jobs of
                out.append(PendingView(1, gpu_types, math.ceil(count * gpus - 1e-9)))  # s need ceil(n s) GPUs
            else:
                out.append(PendingView(gpus, gpu_types, count))
        views = tuple(out)
        self._pending[region.index] = (dict(shapes), views)
        return views

    def wait_p95(self, region: Region) -> float:
        """P95 wait of the jobs that started in the region over the view's window, s."""
        return region.recent_waits.p95(self.since)

    def delay_p95(self, region: Region) -> float:
        """P95 start delay (network + wait) of the jobs of users in the region, s."""
        return region.origin_delays.p95(self.since)

    def blocked(self, region: Region) -> int:
        """Jobs from the region held for lack of an active region (one pass over the held jobs
        per view, on the first read)."""
        counts = self._blocked
        if counts is None:
            counts = self._blocked = {}
            for job in self.world.blocked:
                counts[job.origin] = counts.get(job.origin, 0) + 1
        return counts.get(region.index, 0)

    def _service_views(self) -> dict[str, ServiceView]:
        out = {}
        iteration = self.world.services.iteration
        for service in self.world.services.services:
            accepted = service.spec.replica.accepted
            sites = {
                site.region.name: SiteView(
                    site.region.name, site.serving, site.loading, site.wanted, site.in_service,
                    len(site.queue), site.served,
                    iteration.occupancy(site) if service.iteration else math.nan,
                )
                for site in service.sites
            }
            out[service.name] = ServiceView(service.name, service.gpus, tuple(accepted) if accepted else None,
                                            service.max_batch, sites)
        return out


# Counters of the world's region, read when the field is.
for _name, _attr in (("active", "active"), ("price_multiplier", "price_multiplier"), ("max_nodes", "max_nodes"),
                     ("nodes", "nodes_alive"), ("gpus_provisioned", "provisioned_gpus"),
                     ("gpus_ready", "ready_gpus"), ("gpus_busy", "busy_gpus"), ("queued_jobs", "queued_jobs"),
                     ("queued_gpus", "queued_gpus"), ("queued_work_gpu_s", "queued_work"),
                     ("cost_usd_per_hour", "cost_rate"), ("origin_arrivals", "origin_arrivals"),
                     ("origin_gpu_s", "origin_gpu_s")):
    setattr(LiveRegionView, _name, _Counter(_name, _attr))
# What the builder derives: pool snapshots, pending shapes, percentiles, blocked jobs.
for _name, _method in (("pools", "pools"), ("pending", "pending"), ("wait_p95_s", "wait_p95"),
                       ("origin_start_delay_p95_s", "delay_p95"), ("origin_jobs_blocked", "blocked")):
    setattr(LiveRegionView, _name, _Derived(_name, getattr(ViewBuilder, _method)))
# Set at construction (``LiveRegionView.__new__``); a descriptor here all the same, so that the
# instance's value is found before the named tuple's own (data) descriptor of the field.
for _name in _EAGER:
    setattr(LiveRegionView, _name, _Lazy(_name, _unset))
assert all(isinstance(LiveRegionView.__dict__.get(n), _Lazy) for n in _FIELDS), "a region field is not lazy"


def _static_views(w: ControlledWorld) -> dict[str, Any]:
    """What views take from the scenario: node types, workloads' residency, RTTs."""
    sc = w.scenario
    types = {
        t.name: NodeTypeView(t.name, t.gpu, t.gpus, t.max_gpus, t.speed, t.usd_per_gpu_hour,
                             float(t.provision_time.expected()), t.multi_node, t.lead_time_s)
        for t in w.node_types
    }
    workloads = {}
    for name, spec in sc.workloads.items():
        if not isinstance(spec, JobsWorkloadSpec):
            continue
        allowed = {}
        for origin in spec.origin:
            js = sc.allowed_jurisdictions(spec, origin)
            allowed[origin] = None if js is None else tuple(sorted(js))
        workloads[name] = WorkloadView(name, dict(spec.origin), allowed,
                                       tuple(spec.gpu_types) if spec.gpu_types else None)
    rtt = {a: {b: float(w.rtt_s[i, j]) for j, b in enumerate(w.region_names)}
           for i, a in enumerate(w.region_names)}
    gpus_of = {t.index: t.gpu for t in w.node_types}
    return {"types": types, "workloads": workloads, "rtt": rtt, "gpus_of": gpus_of}


def pool_view(pool: Pool) -> PoolView:
    """A snapshot of one pool (cost: its histograms and its provisioning/draining nodes)."""
    sizes = pool.sizes
    # Ready nodes through the size histogram; provisioning and draining nodes are few.
    largest = pool.largest()
    prov_gpus = on_order = order_gpus = 0
    if pool.provisioning:
        prov_gpus = sum(n.gpus for n in pool.provisioning.values())
        largest = max(largest, max(n.gpus for n in pool.provisioning.values()))
        if pool.ntype.lead_time_s > 0:
            on_order = sum(1 for n in pool.provisioning.values() if n.ordered)
            order_gpus = sum(n.gpus for n in pool.provisioning.values() if n.ordered)
    if pool.draining:
        largest = max(largest, max(n.gpus for n in pool.draining.values()))
    return _new_tuple(PoolView, (  # PoolView(...) without its Python-level __new__: the same tuple
        pool.ntype.name, len(pool.provisioning), len(pool.nodes), len(pool.draining), prov_gpus,
        sum(map(mul, range(len(sizes)), sizes)), pool.busy_gpus, pool.free_gpus,
        tuple(pool.counts), largest, tuple(sizes), on_order, order_gpus,
    ))
