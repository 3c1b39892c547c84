"""The SimPy model: build it from a scenario, run it, and hand back the recorder.

Hot-path events (an arrival, a job's input arriving in its region, a node becoming ready, a
job finishing) are SimPy ``Timeout`` events with one callback each, not a process per job;
their handlers touch only counters, the free-capacity index and the columnar recorder.
Scaling policies run in :mod:`swarmsim.world.controller`; the node lifecycle they drive
(provision, drain, resize, preempt, release) lives here, with its billing.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator

import numpy as np
import simpy
from simpy.events import Timeout

from swarmsim.metrics.recorder import COMPLETED, PREEMPTED, REJECTED, UNFINISHED, Recorder
from swarmsim.rng import Streams
from swarmsim.scenario import JobsWorkloadSpec, Scenario
from swarmsim.traces import BadRows
from swarmsim.workloads.jobs import JobBatch, job_batches
from swarmsim.workloads.replay import mapped_gpu
from swarmsim.world.job import Job
from swarmsim.world.network import rtt_matrix, transfer_time_s
from swarmsim.world.node import DOWN, DRAINING, GONE, PROVISIONING, READY, SPARE, Node, NodeType, Pool, Region
from swarmsim.world.scheduler import Plan, Scheduler

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
        self.node_types = [
            NodeType(i, name, t.gpu, t.gpus, t.max_gpus or t.gpus, t.speed,
                     float(t.usd_per_gpu_hour or 0.0), t.provision_time, t.multi_node)
            for i, (name, t) in enumerate(scenario.node_types.items())
        ]
        self.regions = [
            Region(i, name, spec.jurisdiction, spec.price_multiplier, spec.max_nodes, spec.active,
                   self.node_types)
            for i, (name, spec) in enumerate(scenario.regions.items())
        ]
        self.workload_names = [n for n, w in scenario.workloads.items() if isinstance(w, JobsWorkloadSpec)]
        self.recorder = Recorder(self.workload_names, self.region_names, [t.name for t in self.node_types])
        self.scheduler = Scheduler(self, scenario.scheduler.queue, scenario.scheduler.placement,
                                   scenario.scheduler.routing)
        #: Policies may change the fleet, or failures take nodes down: keep the state their views
        #: need and the running jobs of each node.
        self.tracking = scenario.scaling or bool(scenario.failures)
        self.running: list[dict[int, Job]] = [{} for _ in self.regions]  # by region, job id
        self.moving: dict[int, Job] = {}  # jobs whose input is in transit
        self.blocked: list[Job] = []  # jobs that only an inactive region could run (policies may open one)
        self.nodes: dict[int, Node] = {}
        self.events = 0
        self.cost_rate = 0.0  # USD per hour billed now, all regions
        self.committed_rate = 0.0  # USD per hour that resizes under way will add when they finish
        self._spent_usd = 0.0  # billed up to _spent_at, USD
        self._spent_at = 0.0
        self.rejected_by_workload = [0] * len(self.workload_names)
        self._next_job_id = 0
        self._next_node_id = 0
        self._routes: list[tuple[list[list[int]], list[float]]] = []
        self.on_node_ready: Callable[[Node], None] | None = None  # set by the controller
        self.on_node_gone: Callable[[Node], None] | None = None
        #: Per workload: (s of run time between checkpoints or None, s to write one).
        self.checkpoint = [
            (spec.checkpoint_every, spec.checkpoint_overhead)
            for spec in (scenario.workloads[n] for n in self.workload_names)
            if isinstance(spec, JobsWorkloadSpec)
        ]
        from swarmsim.world.failures import Failures

        self.failures = Failures(self, self._after, self._release) if scenario.failures else None
        self._build_fleet()
        self.bad_rows: dict[str, BadRows] = {}  # tallies of skipped trace rows, by workload
        #: Per workload: True when jobs run their traced duration on any GPU (no speed scaling).
        self.fixed_runtime = [
            (t := getattr(scenario.workloads[n], "trace", None)) is not None and not t.speed_scaling
            for n in self.workload_names
        ]
        self._workloads = [self._workload_feed(i, n) for i, n in enumerate(self.workload_names)]
        from swarmsim.world.service import Services

        self.services = Services(self, self._after)

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
        from the node type's provisioning-time distribution), or kept as a hot ``spare``."""
        pool = region.pools[ntype.index]
        node = Node(self._next_node_id, pool, ntype.gpus, self.env.now)
        node.action = action
        self._next_node_id += 1
        self.nodes[node.id] = node
        region.nodes_alive += 1
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

    def _on_ready(self, event: Timeout) -> None:
        self.events += 1
        node: Node = event._value
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
            for job in sorted(node.jobs.values(), key=lambda j: j.id):  # type: ignore[attr-defined]
                self.interrupt(job)  # type: ignore[arg-type]
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
        jobs = sorted(node.jobs.values(), key=lambda j: j.id) if node.jobs else []  # type: ignore[attr-defined]
        for job in jobs:
            self.interrupt(job, cause)  # type: ignore[arg-type]
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

    def unhold(self, node: Node, gpus: int) -> None:
        """Free ``gpus`` GPUs a replica held on a node that went down."""
        node.pool.give(node, gpus)
        node.running -= 1
        node.pool.region.busy_gpus -= gpus

    # --- jobs: arrival, routing, queueing -------------------------------------------------------

    def _workload_feed(self, w: int, name: str) -> Iterator[None]:
        """Schedules one workload's arrivals one event at a time (a generator we step by hand)."""
        spec = self.scenario.workloads[name]
        assert isinstance(spec, JobsWorkloadSpec)
        allowed = set(self.scenario.node_types_for(spec))
        types = tuple(t.index for t in self.node_types if t.name in allowed)
        possible = [self.scenario.possible_gpus(r, spec) for r in self.region_names]
        candidates = self._candidates(spec)
        self._routes.append((candidates, possible))
        bad = None
        if spec.trace is not None:
            bad = self.bad_rows[name] = BadRows(spec.trace.on_bad_rows)
        by_model: dict[str, tuple[int, ...]] = {"": types}
        batch: JobBatch
        for batch in job_batches(name, spec, self.scenario, self.streams, bad):
            models = batch.gpu_model
            for i in range(len(batch.time)):
                job_types = types if models is None else self._types_for(models[i], spec, types, by_model)
                job = Job(-1, w, batch.origin[i], batch.time[i], batch.gpus[i],
                          batch.duration[i], batch.data[i], batch.priority[i], job_types)
                self._after(job.arrival - self.env.now, self._on_arrival, job)
                yield None

    def _types_for(self, model: str, spec: JobsWorkloadSpec, default: tuple[int, ...],
                   cache: dict[str, tuple[int, ...]]) -> tuple[int, ...]:
        """Node types a replayed job may use: those with the GPU its traced model maps to
        (``trace.gpu_map``), within the workload's own; all of the workload's when unmapped."""
        found = cache.get(model)
        if found is None:
            gpu = mapped_gpu(model, spec.trace) if spec.trace is not None else None
            found = tuple(t for t in default if gpu is None or self.node_types[t].gpu == gpu) or default
            cache[model] = found
        return found

    def _candidates(self, spec: JobsWorkloadSpec) -> list[list[int]]:
        """Per origin region: the regions residency allows, origin first, then by RTT."""
        out = []
        for o, oname in enumerate(self.region_names):
            if oname not in spec.origin:
                out.append([])
                continue
            allowed = self.scenario.allowed_jurisdictions(spec, oname)
            regs = [r for r in self.regions if allowed is None or r.jurisdiction in allowed]
            regs.sort(key=lambda r, o=o: (r.index != o, self.rtt[o][r.index], r.index))
            out.append([r.index for r in regs])
        return out

    def _on_arrival(self, event: Timeout) -> None:
        self.events += 1
        job: Job = event._value
        job.id = job.seq = self._next_job_id  # ids follow arrival order across workloads
        self._next_job_id += 1
        next(self._workloads[job.workload], None)  # schedule this workload's next arrival
        if self.tracking:
            origin = self.regions[job.origin]
            origin.origin_arrivals += 1
            origin.origin_gpu_s += job.gpus * job.duration_ref
        self.route(job)

    def route(self, job: Job) -> None:
        """Send a job to a region (moving its input if needed), hold it, or reject it."""
        candidates, possible = self._routes[job.workload]
        r = self.scheduler.route(job, candidates[job.origin], possible)
        if r < 0:
            if self.tracking and any(possible[c] >= job.gpus for c in candidates[job.origin]):
                self.blocked.append(job)  # an allowed region could run it once a policy opens it
            else:
                self._reject(job)
            return
        region = self.regions[r]
        job.region = r
        self._join(region, job)
        if r == job.origin:
            found, self.scheduler.plan = self.scheduler.plan, None
            if (found is not None and found[0] is job and not region.queue
                    and not (self.services and self.services.waiting(region))):
                self.start_job(region, job, found[1])  # the placement routing just found
            else:
                self.scheduler.enqueue(region, job)
            return
        delay = transfer_time_s(self.rtt[job.origin][r], job.data, self.bandwidth_bps)
        job.network_delay += delay
        job.egress_usd += job.data * self.egress_usd_per_byte
        self.moving[job.id] = job
        self._after(delay, self._on_moved, job)

    def _join(self, region: Region, job: Job) -> None:
        """Count a job as waiting for ``region`` (queued there or moving to it)."""
        if not region.queued_jobs:
            region.backlog_since = self.env.now
        region.queued_gpus += job.gpus
        region.queued_jobs += 1
        region.queued_work += job.work
        if self.tracking:
            key = (job.gpus, job.types)
            region.pending[key] = region.pending.get(key, 0) + 1

    def _leave(self, region: Region, job: Job) -> None:
        region.queued_gpus -= job.gpus
        region.queued_jobs -= 1
        region.queued_work -= job.work
        if not region.queued_jobs:
            region.backlog_since = math.nan
        if self.tracking:
            key = (job.gpus, job.types)
            left = region.pending[key] - 1
            if left:
                region.pending[key] = left
            else:
                del region.pending[key]

    def _on_moved(self, event: Timeout) -> None:
        self.events += 1
        job: Job = event._value
        del self.moving[job.id]
        region = self.regions[job.region]
        if not region.active:  # closed while the data was moving: route again
            self._leave(region, job)
            self.route(job)
            return
        self.scheduler.enqueue(region, job)

    def _reject(self, job: Job) -> None:
        w = job.workload
        if self.rejected_by_workload[w] == 0:
            log.warning("workload %s: a job asking for %d GPUs fits no allowed region; "
                        "rejecting it (further rejections are counted, not logged)",
                        self.workload_names[w], job.gpus)
        self.rejected_by_workload[w] += 1
        self.recorder.job(job.id, w, job.origin, -1, -1, job.gpus, 0, REJECTED, job.arrival,
                          math.nan, math.nan, 0.0, job.duration_ref, math.nan, job.priority,
                          job.data, 0.0)

    def reroute_blocked(self) -> None:
        """Route again the jobs held for lack of an active region (after a region opens)."""
        blocked, self.blocked = self.blocked, []
        for job in blocked:
            self.route(job)

    def evacuate(self, region: Region) -> None:
        """Route the queued jobs of a region that closed to other regions."""
        queue = region.queue
        jobs = list(queue) if self.scheduler.blocking else [e[2] for e in queue]  # type: ignore[union-attr]
        queue.clear()  # type: ignore[union-attr]
        for job in jobs:
            self._leave(region, job)
            self.route(job)

    # --- jobs: start, finish, interruption --------------------------------------------------------

    def start_job(self, region: Region, job: Job, plan: Plan) -> None:
        """Allocate the planned GPUs and schedule the job's finish."""
        ntype, allocation = plan
        pool = region.pools[ntype.index]
        tracking = self.tracking
        for node, k in allocation:
            pool.take(node, k)
            node.running += 1
            if tracking:
                if node.jobs is None:
                    node.jobs = {}
                node.jobs[job.id] = job
        now = self.env.now
        job.ntype = ntype
        job.allocation = allocation
        job.start = now
        run_time = self.run_time(job, ntype)
        job.end = now + run_time
        region.busy_gpus += job.gpus
        region.running_jobs += 1
        self._leave(region, job)
        if tracking:
            region.recent_waits.add(now, now - job.arrival)
            self.regions[job.origin].origin_delays.add(now, now - job.arrival)
        self.running[region.index][job.id] = job
        self._after(run_time, self._on_finish, (job, job.epoch))

    def run_time(self, job: Job, ntype: NodeType) -> float:
        """How long a job's next run lasts on a node type, s: the reference duration it has not
        checkpointed yet over the GPU's speed (or, for a replay without speed scaling, as is),
        plus the time to write its checkpoints on the way (none after the last stretch)."""
        left = job.duration_ref - job.done_ref
        compute = left if self.fixed_runtime[job.workload] else left / ntype.speed
        every, overhead = self.checkpoint[job.workload]
        if every is not None and overhead > 0 and compute > every:
            compute += (math.ceil(compute / every) - 1) * overhead
        return compute

    def _on_finish(self, event: Timeout) -> None:
        self.events += 1
        job, epoch = event._value
        if epoch != job.epoch:
            return  # this run was interrupted
        region = self.regions[job.region]
        self._free(region, job)
        self._record(job, COMPLETED)
        self.scheduler.dispatch(region)

    def release_gpus(self, node: Node, gpus: int) -> None:
        """A replica freed ``gpus`` GPUs of ``node`` (the node may be draining)."""
        node.pool.give(node, gpus)
        node.running -= 1
        region = node.pool.region
        region.busy_gpus -= gpus
        if node.state == DRAINING and node.running == 0:
            self._drained(node)
        self.scheduler.dispatch(region)

    def _free(self, region: Region, job: Job) -> None:
        for node, k in job.allocation:
            node.pool.give(node, k)
            node.running -= 1
            if node.jobs is not None:
                node.jobs.pop(job.id, None)
            if node.state == DRAINING and node.running == 0:
                self._drained(node)
        region.busy_gpus -= job.gpus
        region.running_jobs -= 1
        del self.running[region.index][job.id]

    def interrupt(self, job: Job, cause: int = PREEMPTED) -> None:
        """Stop a running job now and queue it again. With ``checkpoint_every`` C (and
        ``checkpoint_overhead`` o), the k = floor(elapsed / (C + o)) checkpoints it wrote keep
        k x C s of compute; the rest of the run's GPU-seconds are lost (all of it without
        checkpoints)."""
        region = self.regions[job.region]
        ntype = job.ntype
        now = self.env.now
        kept = 0.0
        every, overhead = self.checkpoint[job.workload]
        if every is not None and ntype is not None:
            period = every + overhead
            k = math.floor((now - job.start) / period)
            if k > 0:
                kept = k * period
                saved = k * every
                job.done_ref += saved if self.fixed_runtime[job.workload] else saved * ntype.speed
        self.recorder.lost(job.id, region.index, ntype.index if ntype is not None else -1, job.gpus, job.start,
                           now, job.start + kept, cause)
        job.epoch += 1
        job.restarts += 1
        self._free(region, job)
        job.start = job.end = math.nan
        job.ntype = None
        job.allocation = []
        self._join(region, job)
        if self.scheduler.blocking:
            region.queue.appendleft(job)  # type: ignore[union-attr]
        else:
            self.scheduler.enqueue(region, job)

    def _record(self, job: Job, status: int) -> None:
        ntype = job.ntype
        self.recorder.job(
            job.id, job.workload, job.origin, job.region, ntype.index if ntype else -1, job.gpus,
            len(job.allocation), status, job.arrival, job.start,
            job.end if status == COMPLETED else math.nan, job.network_delay, job.duration_ref,
            self.run_time(job, ntype) if ntype else math.nan, job.priority, job.data,
            job.egress_usd, job.restarts,
        )

    # --- sampling and running -----------------------------------------------------------------

    def _sample(self) -> Iterator[simpy.Event]:
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
        if services:
            self.services.sample(now)

    def _after(self, delay: float, callback: Callable[[Timeout], None], value: object) -> None:
        Timeout(self.env, delay, value).callbacks.append(callback)

    def run(self, progress: Progress | None = None) -> Recorder:
        """Run to the horizon and close every record (unfinished jobs, open bills)."""
        from swarmsim.world.controller import Controller

        horizon = self.scenario.horizon
        for feed in self._workloads:
            next(feed, None)
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
        unfinished = [*self.moving.values(), *self.blocked]
        for region in self.regions:
            unfinished.extend(region.queue if self.scheduler.blocking else (e[2] for e in region.queue))
            unfinished.extend(self.running[region.index].values())
        for job in sorted(unfinished, key=lambda j: j.id):
            self._record(job, UNFINISHED)
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
