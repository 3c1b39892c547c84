"""The policy protocol, and ``check_policy``: a conformance check any policy class can run.

A policy is a plain class::

    class MyPolicy:
        '''One line: what it scales and on what signal.'''
        Params = MyParams                 # a pydantic model; every field has a default
        default_interval_s = 15.0         # how often the world calls decide() by default

        def __init__(self, params: MyParams, *, rng: numpy.random.Generator) -> None:
            self.params, self.rng = params, rng      # store only: no logic, no I/O

        def decide(self, view: ClusterView) -> list[Action]:
            ...                                       # a pure function of the view (and own history)

It never imports SimPy and never touches the world: delays, supply limits, budgets and billing
are the world's job. A user's class is named in a scenario as ``kind: custom, class: module:Class``.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import sys
from typing import Any, Protocol, runtime_checkable

import numpy as np
from pydantic import BaseModel

from swarmsim.policies.actions import (
    AddNodes,
    AddReplicas,
    CloseRegion,
    OpenRegion,
    RemoveNodes,
    RemoveReplicas,
    ResizeNodes,
)
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

ACTION_TYPES = (AddNodes, RemoveNodes, ResizeNodes, OpenRegion, CloseRegion, AddReplicas, RemoveReplicas)

#: What a policy may list in its optional ``reads``: the fields of a region's view it reads.
#: ``RegionView.supply_left`` reads ``max_nodes`` and ``nodes``; ``utilization`` reads
#: ``gpus_busy`` and ``gpus_ready``. ``name`` is always there.
SIGNALS = frozenset(RegionView._fields)


def declared_reads(cls: type) -> frozenset[str] | None:
    """The region fields a policy class declares it reads (``reads``), or None when it declares
    nothing (it may read anything). Raises ``ValueError`` for a name that is not a field."""
    reads = getattr(cls, "reads", None)
    if reads is None:
        return None
    unknown = sorted(set(reads) - SIGNALS)
    if unknown or isinstance(reads, str):
        raise ValueError(f"{cls.__name__}.reads names {unknown or reads!r}, not fields of RegionView "
                         f"({', '.join(RegionView._fields)})")
    return frozenset(reads) | {"name"}


def _strict(view: ClusterView, allowed: frozenset[str], owner: str) -> ClusterView:
    """``view`` with region views that fail on a read of a field outside ``allowed``."""
    def get(self: RegionView, name: str) -> object:
        if name in SIGNALS and name not in allowed:
            raise AssertionError(f"{owner}.decide reads RegionView.{name}, not in {owner}.reads")
        return tuple.__getattribute__(self, name)

    strict = type("RegionView", (RegionView,), {"__slots__": (), "__getattribute__": get})
    regions = {name: strict(*r) for name, r in view.regions.items()}
    return dataclasses.replace(view, regions=regions)


@runtime_checkable
class Policy(Protocol):
    """What the world needs of a policy."""

    Params: type[BaseModel]
    default_interval_s: float

    def decide(self, view: ClusterView) -> list[Any]: ...


def example_views() -> list[ClusterView]:
    """Hand-built views for conformance checks: idle, overloaded with an unfit job, and a
    world with an inactive region. Policies must return valid actions on each."""
    types = {
        "a100x8": NodeTypeView("a100x8", "A100-80GB", 8, 16, 1.0, 3.43, 210.0),
        "h100x8": NodeTypeView("h100x8", "H100-SXM", 8, 8, 1.676, 6.88, 210.0),
    }

    def pool(name: str, ready: int, busy: int, size: int = 8, max_gpus: int = 16) -> PoolView:
        free = ready * size - busy
        by_free = [0] * (max_gpus + 1)
        full, rest = divmod(busy, size)
        idle_nodes = ready - full - (1 if rest else 0)
        by_free[0] += full
        if rest:
            by_free[size - rest] += 1
        by_free[size] += idle_nodes
        by_gpus = [0] * (max_gpus + 1)
        by_gpus[size] = ready
        return PoolView(name, 0, ready, 0, 0, ready * size, busy, free, tuple(by_free), size if ready else 0,
                        tuple(by_gpus))

    def region(name: str, juris: str, lat: float, lon: float, off: float, active: bool,
               ready: int, busy: int, pending: tuple[tuple[int, tuple[str, ...], int], ...] = ()
               ) -> RegionView:
        pools = {"a100x8": pool("a100x8", ready, busy), "h100x8": pool("h100x8", 0, 0, max_gpus=8)}
        waiting = tuple(PendingView(gpus, gpu_types, jobs) for gpus, gpu_types, jobs in pending)
        queued_gpus = sum(p.gpus * p.jobs for p in waiting)
        return RegionView(
            name=name, jurisdiction=juris, kind="core", active=active, lat=lat, lon=lon,
            utc_offset=off, price_multiplier=1.0, max_nodes=50, nodes=ready, pools=pools,
            gpus_provisioned=ready * 8, gpus_ready=ready * 8, gpus_busy=busy,
            queued_jobs=sum(p.jobs for p in waiting), queued_gpus=queued_gpus,
            queued_work_gpu_s=queued_gpus * 3600.0, pending=waiting,
            cost_usd_per_hour=ready * 8 * 3.43, origin_arrivals=100, origin_gpu_s=1.0e6,
            wait_p95_s=1800.0 if waiting else 0.0, origin_start_delay_p95_s=1800.0 if waiting else 0.0,
            origin_jobs_blocked=0,
        )

    rtt = {"us-east": {"us-east": 0.0, "eu-west": 0.07, "ap-northeast": 0.15},
           "eu-west": {"us-east": 0.07, "eu-west": 0.0, "ap-northeast": 0.22},
           "ap-northeast": {"us-east": 0.15, "eu-west": 0.22, "ap-northeast": 0.0}}
    work = {"w": WorkloadView("w", {"us-east": 0.5, "ap-northeast": 0.5},
                              {"us-east": None, "ap-northeast": ("JP",)}, None)}
    def service(sites: dict[str, tuple[int, int, int, int, int]]) -> dict[str, ServiceView]:
        return {"chat": ServiceView("chat", 1, ("A100-80GB",), 8, {
            name: SiteView(name, serving, loading, waiting, in_service, queued, 0)
            for name, (serving, loading, waiting, in_service, queued) in sites.items()
        })}

    idle = ClusterView(0.0, 300.0, {
        "us-east": region("us-east", "US", 38.9, -77.4, -5, True, 4, 0),
        "eu-west": region("eu-west", "EU", 53.3, -6.3, 0, True, 2, 0),
    }, types, work, rtt, 0.0, None, services=service({"us-east": (2, 0, 0, 0, 0), "eu-west": (1, 0, 0, 0, 0)}))
    busy = ClusterView(3600.0, 300.0, {
        "us-east": region("us-east", "US", 38.9, -77.4, -5, True, 4, 32,
                          ((16, ("A100-80GB",), 1), (8, ("A100-80GB", "H100-SXM"), 4))),
        "eu-west": region("eu-west", "EU", 53.3, -6.3, 0, True, 2, 16, ((8, ("A100-80GB",), 1),)),
        "ap-northeast": region("ap-northeast", "JP", 35.7, 139.7, 9, False, 0, 0),
    }, types, work, rtt, 1000.0, 500.0,
        services=service({"us-east": (2, 1, 0, 16, 40), "eu-west": (1, 0, 1, 8, 3), "ap-northeast": (0, 0, 0, 0, 0)}))
    return [idle, busy]


def check_policy(cls: type, params: dict[str, Any] | None = None) -> None:
    """Raise ``AssertionError`` unless ``cls`` behaves as a swarmsim policy.

    Checks: a pydantic ``Params`` whose defaults validate (or ``params`` given); a positive
    ``default_interval_s``; a constructor that only stores (same result when built twice); a
    ``decide`` that returns a list of actions on every example view, leaves the view unchanged,
    and is reproducible for the same random seed; and a module that does not import SimPy.
    A class that declares ``reads`` must read no other field of a region's view (each view is
    checked once more with regions that fail on any other field).
    """
    assert isinstance(getattr(cls, "Params", None), type) and issubclass(cls.Params, BaseModel), \
        f"{cls.__name__}.Params must be a pydantic model"
    interval = getattr(cls, "default_interval_s", None)
    assert isinstance(interval, (int, float)) and interval > 0, \
        f"{cls.__name__}.default_interval_s must be a positive number of seconds"
    p = cls.Params.model_validate(params or {})
    sig = inspect.signature(cls.__init__)
    assert "rng" in sig.parameters and sig.parameters["rng"].kind is inspect.Parameter.KEYWORD_ONLY, \
        f"{cls.__name__}.__init__ must take rng as a keyword-only argument"
    module = sys.modules.get(cls.__module__)
    source = inspect.getsource(module) if module is not None else ""
    assert "import simpy" not in source and "from simpy" not in source, \
        f"{cls.__module__} imports simpy; policies decide on views only"
    for runs in range(2):
        outputs = []
        for _ in range(2):
            policy = cls(p, rng=np.random.default_rng(runs))
            out = []
            for view in example_views():
                before = copy.deepcopy(view)
                actions = policy.decide(view)
                assert isinstance(actions, list), f"{cls.__name__}.decide must return a list"
                for a in actions:
                    assert isinstance(a, ACTION_TYPES), f"{cls.__name__}.decide returned {a!r}"
                    _check_action(a, view)
                assert view == before or _nan_equal(view, before), \
                    f"{cls.__name__}.decide changed the view"
                out.append(actions)
            outputs.append(out)
        assert outputs[0] == outputs[1], f"{cls.__name__}.decide is not reproducible for one seed"
    try:
        reads = declared_reads(cls)
    except ValueError as err:
        raise AssertionError(str(err)) from None
    if reads is not None:
        plain, checked = cls(p, rng=np.random.default_rng(0)), cls(p, rng=np.random.default_rng(0))
        for view in example_views():
            assert plain.decide(view) == checked.decide(_strict(view, reads, cls.__name__)), \
                f"{cls.__name__}.decide differs on a view restricted to its reads"


def _check_action(action: Any, view: ClusterView) -> None:
    assert action.region in view.regions, f"action names unknown region {action.region!r}"
    if isinstance(action, (AddReplicas, RemoveReplicas)):
        assert action.service in view.services, f"action names unknown service {action.service!r}"
        assert isinstance(action.count, int) and action.count > 0, f"count must be > 0: {action!r}"
    if isinstance(action, (AddNodes, RemoveNodes, ResizeNodes)):
        assert action.node_type in view.node_types, f"unknown node type {action.node_type!r}"
        assert isinstance(action.count, int) and action.count > 0, f"count must be > 0: {action!r}"
    if isinstance(action, ResizeNodes):
        assert action.gpus is not None or action.to_type is not None, "a resize changes something"


def _nan_equal(a: Any, b: Any) -> bool:
    return repr(a) == repr(b)
