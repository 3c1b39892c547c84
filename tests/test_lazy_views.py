"""Lazy views: a region view computed field by field still behaves as the frozen RegionView it
stands for; a view a policy keeps never shows later values; ``reads`` declarations are checked;
target tracking's reuse of unchanged inputs decides as a fresh computation does."""

from __future__ import annotations

import ast
import copy
import itertools
import pickle
import sys
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from builders import poisson_jobs, scenario
from pydantic import BaseModel

from swarmsim.policies import PolicyError, check_policy, declared_reads
from swarmsim.policies.actions import Action, AddNodes, RemoveNodes
from swarmsim.policies.horizontal import TargetTracking, TargetTrackingParams
from swarmsim.policies.testing import example_views
from swarmsim.policies.views import ClusterView, RegionView
from swarmsim.scenario import load_scenario
from swarmsim.world import control_views
from swarmsim.world.control_port import ControlledWorld, ServicesPort
from swarmsim.world.control_views import LiveRegionView
from swarmsim.world.world import build_world, run_world


class _NoParams(BaseModel):
    pass


class Keeper:
    """Keeps every view it is given, reads only ``time_s``, and changes the fleet at each call
    (so the world moves on under the kept views)."""

    Params = _NoParams
    default_interval_s = 600.0
    kept: ClassVar[list[ClusterView]] = []

    def __init__(self, params: _NoParams, *, rng: np.random.Generator) -> None:
        self.calls = 0

    def decide(self, view: ClusterView) -> list[Action]:
        type(self).kept.append(view)
        self.calls += 1
        if self.calls % 2:
            return [AddNodes("us-east", "a1", 1, reason="test")]
        return [RemoveNodes("us-east", "a1", 1, reason="test")]


def world_dict(**policy: Any) -> dict[str, Any]:
    return scenario(
        regions={"us-east": {}, "eu-west": {}},
        fleet={"us-east": {"a1": 2}, "eu-west": {"a1": 1}},
        workloads={"w": poisson_jobs("4/h", "30min", origin={"us-east": 0.7, "eu-west": 0.3})},
        policies=[policy],
    )


def test_a_kept_view_shows_the_world_as_it_was_at_its_tick(monkeypatch: pytest.MonkeyPatch) -> None:
    truth: list[ClusterView] = []
    build = control_views.ViewBuilder.build

    def build_twice(self: control_views.ViewBuilder, *args: Any) -> ClusterView:
        truth.append(copy.deepcopy(build(self, *args)))  # every field, computed now
        return build(self, *args)  # the view handed out: nothing computed yet

    monkeypatch.setattr(control_views.ViewBuilder, "build", build_twice)
    world = build_world(load_scenario(world_dict(kind="custom", **{"class": "test_lazy_views:Keeper"})))
    run_world(world)
    kept = sys.modules["test_lazy_views"].Keeper.kept  # the copy the scenario loaded
    assert len(kept) == len(truth) > 10
    assert any(a != b for a, b in itertools.pairwise(truth))  # the world did move
    for live, then in zip(kept, truth, strict=True):
        assert all(isinstance(r, LiveRegionView) for r in live.regions.values())
        assert live == then and repr(live) == repr(then)


def live_view() -> ClusterView:
    world = build_world(load_scenario(world_dict(kind="static")))
    world.env.run(until=7200.0)
    return control_views.ViewBuilder(world, None).build()


def test_a_live_region_view_behaves_as_the_named_tuple() -> None:
    view = live_view()
    live = view.regions["us-east"]
    assert isinstance(live, RegionView) and isinstance(live, tuple)
    plain = RegionView(*live)
    assert live == plain and plain == live and (live != plain) is False
    with pytest.raises(TypeError):  # as the named tuple: its pools are a dict
        hash(live)
    assert repr(live) == repr(plain) and live._asdict() == plain._asdict() and len(live) == len(plain)
    assert live[3] == plain.active and list(live) == list(plain) and live.supply_left == plain.supply_left
    assert live._replace(nodes=99) == plain._replace(nodes=99)
    for other in (copy.copy(live), copy.deepcopy(live), pickle.loads(pickle.dumps(live))):
        assert type(other) is RegionView and repr(other) == repr(plain)  # (NaN != NaN after pickling)
    with pytest.raises(AttributeError):
        live.nodes = 3  # type: ignore[misc]
    assert copy.deepcopy(view) == view


def test_a_field_is_computed_only_when_read() -> None:
    live = live_view().regions["us-east"]
    assert "wait_p95_s" not in live.__dict__ and "pools" not in live.__dict__
    assert live.pools["a1"].nodes_ready >= 1 and "pools" in live.__dict__
    live.seal()
    assert all(name in live.__dict__ for name in RegionView._fields)


class ReadsTooLittle:
    """Declares it reads ``active`` only, but reads ``pools`` too."""

    Params = _NoParams
    default_interval_s = 60.0
    reads = frozenset({"active"})

    def __init__(self, params: _NoParams, *, rng: np.random.Generator) -> None:
        pass

    def decide(self, view: ClusterView) -> list[Action]:
        return [RemoveNodes(r.name, t, 1, reason="x") for r in view.regions.values() if r.active
                for t, pool in r.pools.items() if pool.nodes_ready > 100]


def test_check_policy_holds_a_policy_to_its_reads() -> None:
    with pytest.raises(PolicyError, match=r"reads RegionView\.pools"):
        check_policy(ReadsTooLittle)
    ReadsTooLittle.reads = frozenset({"active", "pools"})
    try:
        check_policy(ReadsTooLittle)
    finally:
        ReadsTooLittle.reads = frozenset({"active"})


def test_reads_must_name_region_fields() -> None:
    class Bad(ReadsTooLittle):
        reads = frozenset({"active", "queue_length"})

    with pytest.raises(ValueError, match="queue_length"):
        declared_reads(Bad)
    assert declared_reads(ReadsTooLittle) == {"active", "name"}
    assert declared_reads(Keeper) is None


def test_target_tracking_reuse_decides_as_a_fresh_computation() -> None:
    """The same view objects again and again (reused inputs) against deep copies of them (no
    object reused): the same actions at every call, through scale-ups, holds and scale-downs."""
    base = example_views()[1]
    params = TargetTrackingParams(scale_down_stabilization=60.0, min_nodes=1)
    reusing = TargetTracking(params, rng=np.random.default_rng(0))
    fresh = TargetTracking(params, rng=np.random.default_rng(0))
    idle = example_views()[0]
    for i in range(80):
        view = base if (i // 10) % 2 == 0 else idle
        view = ClusterView(15.0 * i, *[getattr(view, f) for f in ("window_s", "regions", "node_types", "workloads",
                                                                   "rtt_s", "cost_usd", "budget_usd_per_hour")])
        assert reusing.decide(view) == fresh.decide(copy.deepcopy(view)), f"call {i}"


def test_the_controller_knows_the_world_only_through_its_protocol() -> None:
    world_dir = Path(__file__).resolve().parents[1] / "swarmsim" / "world"
    for path in [world_dir / "controller.py", *sorted(world_dir.glob("control_*.py"))]:
        names = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                names |= {node.module, *(f"{node.module}.{a.name}" for a in node.names)}
            elif isinstance(node, ast.Import):
                names |= {a.name for a in node.names}
        assert not any(n.startswith("swarmsim.world.world") for n in names), f"{path.name} imports the World"
    world = build_world(load_scenario(world_dict(kind="static")))
    assert isinstance(world, ControlledWorld) and isinstance(world.services, ServicesPort)
