"""The SimPy model: build it from a scenario, run it, and hand back the recorder.

``World`` wires the parts of a run and owns the node lifecycle they share: provisioning,
readiness, draining, resizes, going down and coming back, release, with the billing of each.
The parts get narrow surfaces (``world/ports.py``), never the world: the scheduler
(``scheduler.py``: routing, queues, placement), the job path (``jobs.py``: arrivals, start,
finish, interruption, job records), the services (``service.py``), failures (``failures.py``)
and the policy loop (``controller.py``). Hot-path events are SimPy ``Timeout`` events with
one callback each, not a process per job.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

import numpy as np
import simpy
from simpy.events import Timeout

from swarmsim.metrics.recorder import PREEMPTED, Recorder
from swarmsim.metrics.stream import make_recorder
from swarmsim.pricing import rates_for
from swarmsim.rng import Streams
from swarmsim.scenario import JobsWorkloadSpec, Scenario
from swarmsim.world.clock import Fired
from swarmsim.world.job import Job, Plan
from swarmsim.world.jobs import Jobs
from swarmsim.world.network import rtt_matrix
from swarmsim.world.node import DOWN, DRAINING, GONE, PROVISIONING, READY, SPARE, Node, NodeType, Pool, Region
from swarmsim.world.scheduler import Scheduler

if TYPE_CHECKING:
    from swarmsim.world.sharing_fleet import SharingFleet

log = logging.getLogger(__name__)

#: Called with (simulated time s, horizon s) while a run progresses.
Progress = Callable[[float, float], None]


class World:
    """A running simulation: clock, regions, nodes, scheduler, arrivals and recorder."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.env = simpy.Environment()
        self.streams = Streams(scenario.seed)
        self.region_names, self.rtt_s = rtt_matrix(scenario)
        self.rtt: list[list[float]] = self.rtt_s.tolist()
        self.bandwidth_bps = scenario.network.bandwidth
        self.egress_usd_per_byte = scenario.network.egress_usd_per_gb / 1e9
        # A node type's price: its pricing model's (docs/pricing-power-carbon.md; reserved: the
        # amortized rate), the list price without a pricing: section.
        self.node_types = [
            NodeType(i, name, t.gpu, t.gpus, t.max_gpus or t.gpus, t.speed,
                     rates_for(scenario, name).effective_usd_per_gpu_hour, t.provision_time, t.multi_node,
                     t.gpu_sharing, round((t.cpus or 0) * 1000), round(t.memory_mib or 0),
                     lead_time_s=float(t.lead_time or 0.0))
            for i, (name, t) in enumerate(scenario.node_types.items())
        ]
        self.regions = [
            Region(i, name, spec.jurisdiction, spec.price_multiplier, spec.max_nodes, spec.active,
                   self.node_types)
            for i, (name, spec) in enumerate(scenario.regions.items())
        ]
        self.workload_names = [n for n, w in scenario.workloads.items() if isinstance(w, JobsWorkloadSpec)]
        self.recorder = make_recorder(scenario, self.workload_names, self.region_names,
                                      [t.name for t in self.node_types])
        #: A fleet with sharing node types (docs/sharing.md): their pools, and the distribution
        #: of task shapes their placement and fragmentation figures use.
        self.sharing: SharingFleet | None = None
        if any(t.gpu_sharing != "none" for t in self.node_types):
            from swarmsim.world.sharing_fleet import SharingFleet

            self.sharing = SharingFleet(scenario, self.regions, self.node_types, self.recorder)
        spec = scenario.scheduler
        self.scheduler = Scheduler(self.env, self.regions, self.rtt, self.bandwidth_bps, queue=spec.queue,
                                   placement=spec.placement, routing=spec.routing, gpu_priority=spec.gpu_priority)
        #: Policies may change the fleet, or failures take nodes down: keep the state their views
        #: need and the running jobs of each node.
        self.tracking = scenario.scaling or bool(scenario.failures)
        self.jobs = Jobs(env=self.env, scenario=scenario, streams=self.streams, regions=self.regions,
                         node_types=self.node_types, rtt=self.rtt, recorder=self.recorder, scheduler=self.scheduler,
                         tracking=self.tracking, on_drained=self._drained)
        if self.sharing is not None and self.sharing.online:
            self.jobs.learn = self.sharing.arrived
        self.running = self.jobs.running  # by region, job id
        self.moving = self.jobs.moving  # jobs whose input is in transit
        self.blocked = self.jobs.blocked  # jobs that only an inactive region could run (policies may open one)
        self.bad_rows = self.jobs.bad_rows  # tallies of skipped trace rows, by workload (services add theirs)
        self.nodes: dict[int, Node] = {}
        self.events = 0  # SimPy events processed by the other parts (the job path counts its own)
        self.cost_rate = 0.0  # USD per hour billed now, all regions
        self.committed_rate = 0.0  # USD per hour that resizes under way will add when they finish
        self._spent_usd = 0.0  # billed up to _spent_at, USD
        self._spent_at = 0.0
        self._next_node_id = 0
        self.on_node_ready: Callable[[Node], None] | None = None  # set by the controller
        self.on_node_gone: Callable[[Node], None] | None = None
        from swarmsim.world.failures import Failures

        self.failures = Failures(self, self._after, self._release) if scenario.failures else None
        self._build_fleet()
        from swarmsim.world.service import Services

        self.services = Services(self, self._after)
        self.scheduler.connect(self.jobs, self.services)
        self.jobs.connect(self.services)

    # --- nodes: provisioning, readiness, draining, resize, release ----------------------------

    def _build_fleet(self) -> None:
        for rname, counts in self.scenario.fleet.items():
            region = self.regions[self.region_names.index(rname)]
            for tname, count in counts.items():
                ntype = next(t for t in self.node_types if t.name == tname)
                for _ in range(count):
                    self.add_node(region, ntype, delay_s=0.0)
        if self.failures is not None:
            self.failures.add_spares()

    def add_node(self, region: Region, ntype: NodeType, delay_s: float | None = None,
                 action: int = -1, spare: bool = False) -> Node:
        """Request a node; billing starts now and it is ready after ``delay_s`` (default: drawn
        from the node type's provisioning-time distribution), or kept as a hot ``spare``. A node
        a policy orders (``delay_s`` None) of a type with a lead time arrives after it: it counts
        as provisioning from now, billing starts on arrival, then it provisions."""
        pool = region.pools[ntype.index]
        node = Node(self._next_node_id, pool, ntype.gpus, self.env.now)
        node.action = action
        self._next_node_id += 1
        self.nodes[node.id] = node
        region.nodes_alive += 1
        if delay_s is None and not spare and ntype.lead_time_s > 0:
            node.ordered = True
            node.state = PROVISIONING
            pool.provisioning[node.id] = node
            pool.version += 1
            self._after(ntype.lead_time_s, self._on_arrive, node)
            return node
        self._bill_start(node)
        if spare:
            self.make_spare(node)
        else:
            self._provision(node, delay_s)
        return node

    def _provision(self, node: Node, delay_s: float | None) -> None:
        pool = node.pool
        node.state = PROVISIONING
        pool.provisioning[node.id] = node
        pool.version += 1
        if delay_s is None:
            rng = self.streams.get(f"provision/{pool.region.name}/{pool.ntype.name}")
            delay_s = float(pool.ntype.provision_time.sample(rng, 1)[0])
        if delay_s <= 0:
            self._ready(node)
        else:
            self._after(delay_s, self._on_ready, node)

    def _on_arrive(self, event: Fired) -> None:
        """An ordered node arrives after its lead time (unless the order was cancelled by a
        drain): billed from now, then provisioned."""
        self.events += 1
        node: Node = event.value
        if node.state != PROVISIONING or not node.ordered:
            return
        node.ordered = False
        self._bill_start(node)
        self._provision(node, None)

    def _on_ready(self, event: Fired) -> None:
        self.events += 1
        node: Node = event.value
        if node.state == PROVISIONING:
            self._ready(node)
            self.scheduler.dispatch(node.pool.region)

    def _ready(self, node: Node) -> None:
        pool = node.pool
        pool.provisioning.pop(node.id, None)
        pool.version += 1
        node.state = READY
        pool.add(node)
        pool.region.ready_gpus += node.gpus
        if self.on_node_ready is not None:
            self.on_node_ready(node)
        if self.failures is not None:
            self.failures.on_up(node)

    def spent_usd(self) -> float:
        """Node cost billed from t = 0 to now, USD (kept as a running integral of the rate)."""
        return self._spent_usd + self.cost_rate * (self.env.now - self._spent_at) / 3600.0

    def _rate_change(self, delta_usd_per_hour: float) -> None:
        self._spent_usd = self.spent_usd()
        self._spent_at = self.env.now
        self.cost_rate += delta_usd_per_hour

    def _bill_start(self, node: Node) -> None:
        region = node.pool.region
        node.billed_since = self.env.now
        node.billing = True
        region.provisioned_gpus += node.gpus
        rate = node.gpus * node.pool.ntype.usd_per_gpu_hour * region.price_multiplier
        region.cost_rate += rate
        self._rate_change(rate)

    def _bill_stop(self, node: Node) -> None:
        region = node.pool.region
        ntype = node.pool.ntype
        price = ntype.usd_per_gpu_hour * region.price_multiplier
        node.billing = False
        region.provisioned_gpus -= node.gpus
        region.cost_rate -= node.gpus * price
        self._rate_change(-node.gpus * price)
        self.recorder.billing(node.id, region.index, ntype.index, node.gpus, price,
                              node.billed_since, self.env.now)

    def drain(self, node: Node, resize_to: tuple[Pool, int] | None = None, preempt: bool = False) -> None:
        """Stop placing work on a node. Once its jobs finish (or at once, stopping them, with
        ``preempt``) it is released, or with ``resize_to`` goes down and comes back in the new
        shape ``(pool, gpus)`` after the new type's provisioning time."""
        pool = node.pool
        pool.version += 1
        if node.state == PROVISIONING:
            del pool.provisioning[node.id]
            node.state = DRAINING
            pool.draining[node.id] = node
        elif node.state == READY:
            pool.remove(node)
            pool.region.ready_gpus -= node.gpus
            node.state = DRAINING
            pool.draining[node.id] = node
        elif node.state in (DOWN, SPARE):  # nothing runs there: released at once
            self._release(node)
            return
        else:
            if node.notice:  # about to go down: it will not come back
                node.going = True
            return
        node.resize_to = resize_to
        if resize_to is not None:
            self.committed_rate += self._resize_delta(node)
        if node.replicas:
            self.services.on_node_drain(node)  # replicas finish their requests, then free GPUs
            if node.state != DRAINING or node.id not in pool.draining:
                return  # the last replica's release completed the drain
        if preempt and node.jobs:
            # The last interruption empties the node, which then completes its drain.
            for job in sorted(node.jobs.values(), key=lambda j: j.id):  # type: ignore[attr-defined]  # node.jobs holds Jobs (typed object to keep node.py free of job.py)
                self.interrupt(job)  # type: ignore[arg-type]  # node.jobs holds Jobs (typed object to keep node.py free of job.py)
            self.scheduler.dispatch(pool.region)
        elif node.running == 0:
            self._drained(node)

    def _drained(self, node: Node) -> None:
        if node.notice:
            return  # empty before its announced failure: it waits, idle, to go down
        del node.pool.draining[node.id]
        node.pool.version += 1
        if node.resize_to is not None:
            self.committed_rate -= self._resize_delta(node)
        if node.resize_to is None or not node.pool.region.active:
            node.resize_to = None
            self._release(node)
            return
        new_pool, gpus = node.resize_to
        node.resize_to = None
        self._bill_stop(node)
        node.pool = new_pool
        node.gpus = node.free = gpus
        self._bill_start(node)
        rng = self.streams.get(f"resize/{new_pool.region.name}/{new_pool.ntype.name}")
        self._provision(node, float(new_pool.ntype.provision_time.sample(rng, 1)[0]))

    def _resize_delta(self, node: Node) -> float:
        """USD per hour a node's pending resize adds to the bill (0 when it lowers it)."""
        assert node.resize_to is not None
        pool, gpus = node.resize_to
        mult = pool.region.price_multiplier
        new = gpus * pool.ntype.usd_per_gpu_hour * mult
        old = node.gpus * node.pool.ntype.usd_per_gpu_hour * mult
        return max(new - old, 0.0)

    def _release(self, node: Node) -> None:
        """A node is gone for good: out of its pool (down or spare), billing stopped."""
        node.pool.down.pop(node.id, None)
        node.pool.spares.pop(node.id, None)
        node.life += 1  # a pending failure or return no longer applies
        node.state = GONE
        node.pool.region.nodes_alive -= 1
        if node.billing:
            self._bill_stop(node)
        del self.nodes[node.id]
        if self.on_node_gone is not None:
            self.on_node_gone(node)

    def take_down(self, node: Node, cause: int, bill_while_down: bool = False) -> tuple[int, int]:
        """A node goes down now (failure, churn, spot, outage): its jobs lose the work since
        their last checkpoint and queue again, its replicas stop (their requests are served
        again elsewhere or dropped), and billing stops unless ``bill_while_down``. A node a
        policy was removing will be released instead of coming back; a pending resize is
        cancelled. Returns (jobs interrupted, replicas lost)."""
        pool = node.pool
        region = pool.region
        state = node.state
        if state == READY:
            pool.remove(node)
            region.ready_gpus -= node.gpus
        elif state == PROVISIONING:
            del pool.provisioning[node.id]
        elif state == DRAINING:
            del pool.draining[node.id]
            if node.resize_to is not None:
                self.committed_rate -= self._resize_delta(node)
                node.resize_to = None
            elif not node.notice:
                node.going = True  # a policy was removing it
        elif state == SPARE:
            del pool.spares[node.id]
        else:
            return 0, 0
        node.life += 1
        node.notice = False
        node.action = -1
        node.state = DOWN
        pool.down[node.id] = node
        pool.version += 1
        replicas = self.services.on_node_fail(node) if node.replicas else 0
        jobs = sorted(node.jobs.values(), key=lambda j: j.id) if node.jobs else []  # type: ignore[attr-defined]  # node.jobs holds Jobs (typed object to keep node.py free of job.py)
        for job in jobs:
            self.interrupt(job, cause)  # type: ignore[arg-type]  # node.jobs holds Jobs (typed object to keep node.py free of job.py)
        if not bill_while_down and node.billing:
            self._bill_stop(node)
        if state == READY and pool.spares and not region.outage:  # a hot spare takes its place at once
            spare = pool.spares.pop(min(pool.spares))
            self._ready(spare)
        self.scheduler.dispatch(region)
        return len(jobs), replicas

    def bring_up(self, node: Node) -> None:
        """A down node comes back (repaired, back online, outage over): billed again, then
        ready, or a hot spare when its pool is short of spares."""
        pool = node.pool
        del pool.down[node.id]
        node.held = False
        if not node.billing:
            self._bill_start(node)
        if len(pool.spares) < pool.spare_target:
            self.make_spare(node)
            return
        self._ready(node)
        self.scheduler.dispatch(pool.region)

    def make_spare(self, node: Node) -> None:
        """Keep a node as a hot spare of its pool (billed, not scheduled)."""
        pool = node.pool
        pool.provisioning.pop(node.id, None)
        node.state = SPARE
        pool.spares[node.id] = node
        pool.version += 1
        if self.failures is not None:
            self.failures.on_up(node)

    def release_gpus(self, node: Node, gpus: int) -> None:
        """A replica freed ``gpus`` GPUs of ``node`` (the node may be draining)."""
        node.pool.give(node, gpus)
        node.running -= 1
        region = node.pool.region
        region.busy_gpus -= gpus
        if node.state == DRAINING and node.running == 0:
            self._drained(node)
        self.scheduler.dispatch(region)

    def unhold(self, node: Node, gpus: int) -> None:
        """Free ``gpus`` GPUs a replica held on a node that went down."""
        node.pool.give(node, gpus)
        node.running -= 1
        node.pool.region.busy_gpus -= gpus

    # --- the job path (``jobs.py``), as the other parts call it ----------------------------------

    def start_job(self, region: Region, job: Job, plan: Plan) -> None:
        """Start a queued job on ``plan`` now (see :meth:`Jobs.start_job`)."""
        self.jobs.start_job(region, job, plan)

    def run_time(self, job: Job, ntype: NodeType) -> float:
        """How long a job's next run lasts on a node type, s (see :meth:`Jobs.run_time`)."""
        return self.jobs.run_time(job, ntype)

    def interrupt(self, job: Job, cause: int = PREEMPTED) -> None:
        """Stop a running job now and queue it again (see :meth:`Jobs.interrupt`)."""
        self.jobs.interrupt(job, cause)

    def route(self, job: Job) -> None:
        """Send a job to a region, hold it, or reject it (see :meth:`Jobs.route`)."""
        self.jobs.route(job)

    def reroute_blocked(self) -> None:
        """Route again the jobs held for lack of an active region (after a region opens)."""
        self.jobs.reroute_blocked()

    def evacuate(self, region: Region) -> None:
        """Route the queued jobs of a region that closed to other regions."""
        self.jobs.evacuate(region)

    # --- sampling and running -----------------------------------------------------------------

    def _sample(self) -> Generator[simpy.Event, Any, None]:
        every = self.scenario.sample_every
        horizon = self.scenario.horizon
        while True:
            self.events += 1
            now = self.env.now
            self._sample_now(now)
            if now + every >= horizon - 1e-9:
                return  # a sample at the horizon itself is taken by _close
            yield self.env.timeout(every)

    def _sample_now(self, now: float) -> None:
        services = self.services.services
        for r in self.regions:
            sites = [s.sites[r.index] for s in services]
            self.recorder.sample(now, r.index, r.provisioned_gpus, r.ready_gpus, r.busy_gpus,
                                 r.queued_gpus, r.queued_jobs, r.running_jobs, r.cost_rate,
                                 sum(s.serving + s.loading for s in sites),
                                 sum(s.in_service for s in sites), sum(len(s.queue) for s in sites))
            if self.sharing is not None:
                self.sharing.sample(r)
        if services:
            self.services.sample(now)

    def _after(self, delay: float, callback: Callable[[Timeout], None], value: object) -> None:
        Timeout(self.env, delay, value).callbacks.append(callback)

    def run(self, progress: Progress | None = None) -> Recorder:
        """Run to the horizon and close every record (unfinished jobs, open bills)."""
        from swarmsim.world.controller import Controller

        horizon = self.scenario.horizon
        self.jobs.start()
        self.env.process(self._sample())
        if self.services:
            self.services.start()
        if self.scenario.policies:
            Controller(self).start()
        if self.failures is not None:
            self.failures.start()
        if progress is None:
            self.env.run(until=horizon)
        else:
            for t in np.linspace(0.0, horizon, 101)[1:]:
                self.env.run(until=float(t))
                progress(float(t), horizon)
        self._close()
        return self.recorder

    def _close(self) -> None:
        now = self.env.now
        every = self.scenario.sample_every
        steps = now / every
        if abs(steps - round(steps)) < 1e-9:  # the grid reaches the horizon: sample it too
            self._sample_now(now)
        elif self.services:
            self.services.sample(now)  # close the last, partial interval of the request counters
        self.services.close()
        self.events += self.jobs.events()
        self.jobs.close()
        for node in sorted(self.nodes.values(), key=lambda n: n.id):
            if not node.billing:
                continue
            region = node.pool.region
            price = node.pool.ntype.usd_per_gpu_hour * region.price_multiplier
            self.recorder.billing(node.id, region.index, node.pool.ntype.index, node.gpus, price,
                                  node.billed_since, now)


def build_world(scenario: Scenario) -> World:
    """A fresh world for one run of ``scenario`` (owns its clock, streams and recorder)."""
    return World(scenario)


def run_world(world: World, progress: Progress | None = None) -> tuple[Recorder, float]:
    """Run a world; return its recorder and the wall-clock time it took, s."""
    started = time.perf_counter()
    recorder = world.run(progress)
    return recorder, time.perf_counter() - started
