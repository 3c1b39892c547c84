"""Node failures, churn of part-time providers, spot preemption and region outages.

Each node type gets up to three *down models* from the scenario's ``failures`` section: a
failure model (random time to failure, random repair), a churn model (a daily online window in
the node's local time, or random on/off) and a spot model (random lifetime, then gone). Every
time a node comes up, each model schedules when it next takes the node down (and, with a
notice, when it warns first); the first to fire wins and the others are ignored, because
``node.life`` has moved on. Going down, coming back and billing are the world's
(``take_down``, ``bring_up`` of :class:`FailuresHost`); this module decides *when*, keeps the
failure log and tracks recovery: a failure that took g ready GPUs away is owed g GPUs, and the
GPUs of every node that becomes ready in its region (repaired, a spare swapped in, a policy's
new node) pay the oldest debts first; a failure is recovered when its debt is paid.

Draws come from one stream per node (``failure/<node id>``) and per outage
(``outage/<index>``), so that two configurations on one seed see the same failure times for
the same nodes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, cast

import numpy as np

from swarmsim.distributions import Distribution, ExponentialDist
from swarmsim.metrics.recorder import CHURN, FAILURE, OUTAGE, SPOT
from swarmsim.world.clock import After, Clock, Fired
from swarmsim.world.node import DOWN, DRAINING, READY, SPARE, Node, NodeType, Pool, Region

if TYPE_CHECKING:
    from swarmsim.scenario import ChurnSpec, NodeFailureSpec, Scenario, SpotSpec

HOUR = 3600.0

class Dispatcher(Protocol):
    """The scheduler, as failures use it: start what waits in a region that has capacity again."""

    def dispatch(self, region: Region) -> None: ...


class Reach(Protocol):
    """The services, as failures use them: recompute availability after a region went dark or came back."""

    def reach_all(self) -> None: ...


class FailuresHost(Clock, Protocol):
    """What :class:`Failures` needs of the world (``World`` has it): the clock and streams, the
    regions, and the node lifecycle it drives (drain, take down, bring up, evacuate a region)."""

    scenario: Scenario
    node_types: list[NodeType]
    regions: list[Region]
    region_names: list[str]

    @property
    def scheduler(self) -> Dispatcher: ...

    @property
    def services(self) -> Reach: ...

    def add_node(self, region: Region, ntype: NodeType, delay_s: float | None = None,
                 action: int = -1, spare: bool = False) -> Node: ...

    def drain(self, node: Node, resize_to: tuple[Pool, int] | None = None, preempt: bool = False) -> None: ...

    def take_down(self, node: Node, cause: int, bill_while_down: bool = False) -> tuple[int, int]: ...

    def bring_up(self, node: Node) -> None: ...

    def evacuate(self, region: Region) -> None: ...

    def reroute_blocked(self) -> None: ...


@dataclass(frozen=True)
class DownModel:
    """One way a node type goes down, resolved from the scenario."""

    cause: int  # FAILURE, CHURN or SPOT
    up: Distribution | None = None  # s from coming up to going down (None: per-GPU or daily)
    gpu_mtbf: float | None = None  # s, per GPU: a node of g GPUs fails at rate g / gpu_mtbf
    down: Distribution | None = None  # s down before coming back (None: released, or daily)
    notice: float = 0.0  # s of warning
    release: bool = False  # gone for good after going down
    bill_while_down: bool = False
    daily: tuple[float, float, float] | None = None  # (window start h, end h, jitter s), local time


def failure_model(spec: NodeFailureSpec) -> DownModel:
    """The failure model of a ``failures.nodes`` entry whose defaults are filled in
    (``FailuresSpec.failure_model``)."""
    up: Distribution | None = spec.time_to_failure
    if spec.mtbf is not None:
        up = ExponentialDist(mean=spec.mtbf)
    return DownModel(FAILURE, up=up, gpu_mtbf=spec.gpu_mtbf, down=spec.repair, notice=spec.notice,
                     release=spec.after == "release", bill_while_down=spec.bill_while_down)


def churn_model(spec: ChurnSpec) -> DownModel:
    """The churn model of a ``failures.churn`` entry (daily window or random on/off)."""
    if spec.online is not None:
        start, end = spec.window_hours()
        return DownModel(CHURN, notice=spec.notice, daily=(start, end, spec.jitter))
    assert spec.mean_online is not None and spec.mean_offline is not None
    return DownModel(CHURN, up=ExponentialDist(mean=spec.mean_online),
                     down=ExponentialDist(mean=spec.mean_offline), notice=spec.notice)


def spot_model(spec: SpotSpec) -> DownModel:
    """Spot preemption: an exponential lifetime, a notice, then the node is gone."""
    return DownModel(SPOT, up=ExponentialDist(mean=spec.mean_lifetime), notice=spec.notice, release=True)


def in_window(t: float, offset_h: float, start_h: float, end_h: float) -> bool:
    """Whether time ``t`` (s) falls in a daily window of local hours [start_h, end_h)."""
    h = (t / HOUR + offset_h) % 24.0
    return start_h <= h < end_h if start_h < end_h else (h >= start_h or h < end_h)


def next_hour(t: float, offset_h: float, hour: float) -> float:
    """The first time >= ``t`` (s) at which the local clock shows ``hour``."""
    h = (t / HOUR + offset_h) % 24.0
    return t + ((hour - h) % 24.0) * HOUR


class Failures:
    """Schedules node downs and returns, region outages and spares; keeps the failure log."""

    def __init__(self, world: FailuresHost, after: After, release: Callable[[Node], None]) -> None:
        """``after`` schedules a callback on the world's clock; ``release`` lets a node go for good
        (billing stops)."""
        self.world = world
        self._after = after
        self._release = release
        sc = world.scenario
        spec = sc.failures
        self.spec = spec
        self.models: list[list[DownModel]] = []
        for t in world.node_types:
            provider = sc.node_types[t.name].provider
            models = []
            if (f := spec.failure_model(t.name, provider)) is not None:
                models.append(failure_model(f))
            if (c := spec.entry(spec.churn, t.name, provider)) is not None:
                models.append(churn_model(c))
            if (s := spec.entry(spec.spot, t.name, provider)) is not None:
                models.append(spot_model(s))
            self.models.append(models)
        self.offsets = [sc.regions[r].utc_offset for r in world.region_names]
        self.horizon = sc.horizon
        #: The failure log, one row per node going down (or announced) and per outage.
        self.rows: list[list[float]] = []
        self._outage_active: dict[int, bool] = {}  # region -> active flag before its outage

    # --- set-up -----------------------------------------------------------------------------

    def add_spares(self) -> None:
        """Hot spares: ceil(spare x nodes) extra nodes in each pool of the initial fleet."""
        share = self.spec.spare
        if not share:
            return
        w = self.world
        for region in w.regions:
            for pool in region.pools:
                n = len(pool.nodes)
                pool.spare_target = math.ceil(share * n - 1e-9) if n else 0
                for _ in range(pool.spare_target):
                    w.add_node(region, pool.ntype, spare=True)

    def start(self) -> None:
        """Schedule the outages (the nodes' own downs are scheduled as they come up)."""
        w = self.world
        for i, outage in enumerate(self.spec.outages):
            region = w.regions[w.region_names.index(outage.region)]
            rng = w.streams.get(f"outage/{i}")
            # OutageSpec holds exactly one of at and every
            at = outage.at if outage.at is not None else float(rng.exponential(cast(float, outage.every)))
            if at < self.horizon:
                self._after(at, self._on_outage, (region, outage, rng))

    # --- nodes ------------------------------------------------------------------------------

    def on_up(self, node: Node) -> None:
        """A node came up (ready or spare): schedule each of its models' next down, and check
        whether its region's capacity has recovered."""
        w = self.world
        node.life += 1
        now = w.env.now
        offset = self.offsets[node.pool.region.index]
        for model in self.models[node.pool.ntype.index]:
            at = self._next_down(model, node, now, offset)
            if at >= self.horizon:
                continue
            warn = max(at - model.notice, now)
            if model.notice > 0 and warn < at:
                self._after(warn - now, self._on_notice, (node, node.life, model, at))
            else:
                self._after(at - now, self._on_down, (node, node.life, model, -1))
        if node.state == READY:
            self._repay(node.pool.region, node.gpus)

    def _rng(self, node: Node) -> np.random.Generator:
        return self.world.streams.get(f"failure/{node.id}")

    def _next_down(self, model: DownModel, node: Node, now: float, offset: float) -> float:
        """When ``model`` next takes the node down, s (inf: never)."""
        rng = self._rng(node)
        if model.daily is not None:
            start, end, jitter = model.daily
            if not in_window(now, offset, start, end):
                return now  # outside its hours: it leaves at once
            at = next_hour(now, offset, end)
            if jitter:
                at += float(rng.uniform(-jitter, jitter))
            return max(at, now)
        if model.gpu_mtbf is not None:
            return now + float(rng.exponential(model.gpu_mtbf / node.gpus))
        assert model.up is not None
        return now + float(model.up.sample(rng, 1)[0])

    def _on_notice(self, event: Fired) -> None:
        """A node is warned that it will go down at ``at``: it stops taking work (its jobs keep
        running, its replicas hand over) and waits."""
        w = self.world
        w.events += 1
        node, life, model, at = event.value
        if node.life != life or node.state not in (READY, SPARE, DRAINING):
            return
        row = -1
        if node.state == READY:
            region = node.pool.region
            row = self._log(node, model.cause, lost=node.gpus)
            region.recoveries.append([row, node.gpus])
            node.notice = True  # so that the drain waits for the down instead of releasing the node
            w.drain(node)
        self._after(at - w.env.now, self._on_down, (node, life, model, row))

    def _on_down(self, event: Fired) -> None:
        w = self.world
        w.events += 1
        node, life, model, row = event.value
        if node.life != life or node.state not in (READY, SPARE, DRAINING):
            return
        region = node.pool.region
        if row < 0:
            lost = node.gpus if node.state == READY else 0
            row = self._log(node, model.cause, lost=lost)
            if lost:
                region.recoveries.append([row, lost])
        self.rows[row][1] = w.env.now
        jobs, replicas = w.take_down(node, model.cause, model.bill_while_down)
        self.rows[row][8] += jobs
        self.rows[row][9] += replicas
        if model.release or node.going:
            self._release(node)
            return
        back = self._back_at(model, node, w.env.now)
        if back < self.horizon:
            self._after(back - w.env.now, self._on_back, (node, node.life, row))

    def _back_at(self, model: DownModel, node: Node, now: float) -> float:
        """When a node that went down now comes back, s."""
        if model.daily is not None:
            start, _, jitter = model.daily
            at = next_hour(now, self.offsets[node.pool.region.index], start)
            if jitter:
                at += float(self._rng(node).uniform(-jitter, jitter))
            return max(at, now)
        assert model.down is not None
        return now + float(model.down.sample(self._rng(node), 1)[0])

    def _on_back(self, event: Fired) -> None:
        w = self.world
        w.events += 1
        node, life, row = event.value
        if node.life != life or node.state != DOWN:
            return
        self._return(node, row)

    def _return(self, node: Node, row: int) -> None:
        """Bring a node back, unless its region is dark or it is outside its online hours."""
        w = self.world
        now = w.env.now
        region = node.pool.region
        if node.going:  # a policy closed its region meanwhile
            self._release(node)
            return
        if region.outage:
            node.held = True  # back when the outage ends
            return
        for model in self.models[node.pool.ntype.index]:
            if model.daily is not None and not in_window(now, self.offsets[region.index], *model.daily[:2]):
                back = self._back_at(model, node, now)
                if back < self.horizon:
                    self._after(back - now, self._on_back, (node, node.life, row))
                return
        if row >= 0:
            self.rows[row][10] = now
        w.bring_up(node)

    def _repay(self, region: Region, gpus: int) -> None:
        """``gpus`` GPUs became ready in a region: they pay the oldest failures' debts first."""
        debts = region.recoveries
        now = self.world.env.now
        while debts and gpus > 0:
            pay = min(gpus, debts[0][1])
            debts[0][1] -= pay
            gpus -= pay
            if debts[0][1] == 0:
                self.rows[debts.pop(0)[0]][11] = now

    # --- outages ----------------------------------------------------------------------------

    def _on_outage(self, event: Fired) -> None:
        """A region goes dark: every node in it goes down, its queues fail over."""
        w = self.world
        w.events += 1
        region, outage, rng = event.value
        now = w.env.now
        duration = float(outage.duration.sample(rng, 1)[0])
        if region.outage:
            return  # already dark: overlapping outages do not stack
        row = len(self.rows)
        self.rows.append([now, now, -1, region.index, -1, 0, OUTAGE, region.ready_gpus, 0, 0, math.nan, math.nan])
        if region.ready_gpus:
            region.recoveries.append([row, region.ready_gpus])
        region.outage = True
        self._outage_active[region.index] = region.active
        region.active = False
        for pool in region.pools:
            alive = [*pool.provisioning.values(), *pool.nodes.values(), *pool.draining.values(),
                     *pool.spares.values()]
            self.rows[row][5] += sum(n.gpus for n in alive)
            for node in sorted(alive, key=lambda n: n.id):
                jobs, replicas = w.take_down(node, OUTAGE)
                self.rows[row][8] += jobs
                self.rows[row][9] += replicas
                node.held = True
        w.evacuate(region)
        w.services.reach_all()
        end = now + duration
        if end < self.horizon:
            self._after(duration, self._on_outage_end, (region, outage, rng, row))

    def close_after_outage(self, region: Region) -> None:
        """A policy closed a region while it was dark: it stays inactive when the outage ends,
        and its nodes, a policy's no longer, are released instead of coming back."""
        self._outage_active[region.index] = False
        for pool in region.pools:
            for node in pool.down.values():
                node.going = True

    def _on_outage_end(self, event: Fired) -> None:
        w = self.world
        w.events += 1
        region, outage, rng, row = event.value
        now = w.env.now
        self.rows[row][10] = now
        region.outage = False
        region.active = self._outage_active.pop(region.index)
        for pool in region.pools:
            for node in sorted(pool.down.values(), key=lambda n: n.id):
                if not node.held:
                    continue
                node.held = False
                if node.going:
                    self._release(node)
                else:
                    self._return(node, -1)
        w.reroute_blocked()
        w.scheduler.dispatch(region)
        w.services.reach_all()
        if outage.every is not None:
            gap = float(rng.exponential(outage.every))
            if now + gap < self.horizon:
                self._after(gap, self._on_outage, (region, outage, rng))

    # --- the log ----------------------------------------------------------------------------

    def _log(self, node: Node, cause: int, lost: int) -> int:
        """A new row: [time, down, node, region, node type, GPUs, cause, ready GPUs lost, jobs
        interrupted, replicas lost, back, recovered]."""
        now = self.world.env.now
        self.rows.append([now, math.nan, node.id, node.pool.region.index, node.pool.ntype.index, node.gpus,
                          cause, lost, 0, 0, math.nan, math.nan])
        return len(self.rows) - 1


__all__ = ["DownModel", "Failures", "FailuresHost", "in_window", "next_hour"]
