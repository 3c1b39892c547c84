"""The SimPy model: build it from a scenario, run it, and hand back the recorder.

Hot-path events (an arrival, a job's input arriving in its region, a node becoming ready, a
job finishing) are SimPy ``Timeout`` events with one callback each, not a process per job;
their handlers touch only counters, the free-capacity index and the columnar recorder.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator

import numpy as np
import simpy
from simpy.events import Timeout

from swarmsim.metrics.recorder import COMPLETED, REJECTED, UNFINISHED, Recorder
from swarmsim.rng import Streams
from swarmsim.scenario import JobsWorkloadSpec, Scenario
from swarmsim.workloads.jobs import JobBatch, job_batches
from swarmsim.world.job import Job
from swarmsim.world.network import rtt_matrix, transfer_time_s
from swarmsim.world.node import DRAINING, GONE, PROVISIONING, READY, Node, NodeType, Region
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
                     float(t.usd_per_gpu_hour or 0.0), t.provision_time)
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
        self.running: list[dict[int, Job]] = [{} for _ in self.regions]  # by region, job id
        self.moving: dict[int, Job] = {}  # jobs whose input is in transit
        self.nodes: dict[int, Node] = {}
        self.events = 0
        self.rejected_by_workload = [0] * len(self.workload_names)
        self._next_job_id = 0
        self._next_node_id = 0
        self._build_fleet()
        self._workloads = [self._workload_feed(i, n) for i, n in enumerate(self.workload_names)]

    # --- nodes: provisioning, readiness, draining, release ----------------------------------

    def _build_fleet(self) -> None:
        for rname, counts in self.scenario.fleet.items():
            region = self.regions[self.region_names.index(rname)]
            for tname, count in counts.items():
                ntype = next(t for t in self.node_types if t.name == tname)
                for _ in range(count):
                    self.add_node(region, ntype, delay_s=0.0)

    def add_node(self, region: Region, ntype: NodeType, delay_s: float | None = None) -> Node:
        """Request a node; billing starts now and it is ready after ``delay_s`` (default: drawn
        from the node type's provisioning-time distribution)."""
        now = self.env.now
        pool = region.pools[ntype.index]
        node = Node(self._next_node_id, pool, ntype.gpus, now)
        self._next_node_id += 1
        self.nodes[node.id] = node
        region.nodes_alive += 1
        region.provisioned_gpus += node.gpus
        region.cost_rate += node.gpus * ntype.usd_per_gpu_hour * region.price_multiplier
        if delay_s is None:
            rng = self.streams.get(f"provision/{region.name}/{ntype.name}")
            delay_s = float(ntype.provision_time.sample(rng, 1)[0])
        if delay_s <= 0:
            self._ready(node)
        else:
            self._after(delay_s, self._on_ready, node)
        return node

    def _on_ready(self, event: Timeout) -> None:
        self.events += 1
        node: Node = event._value
        if node.state == PROVISIONING:
            self._ready(node)
            self.scheduler.dispatch(node.pool.region)

    def _ready(self, node: Node) -> None:
        node.state = READY
        node.pool.add(node)
        node.pool.region.ready_gpus += node.gpus

    def drain(self, node: Node) -> None:
        """Stop placing work on a node; release it once its running jobs finish."""
        region = node.pool.region
        if node.state == READY:
            node.pool.remove(node)
            region.ready_gpus -= node.gpus
        if node.state in (READY, PROVISIONING):
            node.state = DRAINING
            if node.running == 0:
                self._release(node)

    def _release(self, node: Node) -> None:
        region = node.pool.region
        ntype = node.pool.ntype
        node.state = GONE
        region.nodes_alive -= 1
        region.provisioned_gpus -= node.gpus
        price = ntype.usd_per_gpu_hour * region.price_multiplier
        region.cost_rate -= node.gpus * price
        self.recorder.billing(node.id, region.index, ntype.index, node.gpus, price,
                              node.billed_since, self.env.now)
        del self.nodes[node.id]

    # --- jobs -----------------------------------------------------------------------------

    def _workload_feed(self, w: int, name: str) -> Iterator[None]:
        """Schedules one workload's arrivals one event at a time (a generator we step by hand)."""
        spec = self.scenario.workloads[name]
        assert isinstance(spec, JobsWorkloadSpec)
        types = tuple(self.node_types[i].index for i, t in enumerate(self.scenario.node_types)
                      if t in self.scenario.node_types_for(spec))
        possible = [self.scenario.possible_gpus(r, spec) for r in self.region_names]
        candidates = self._candidates(spec)
        batch: JobBatch
        for batch in job_batches(name, spec, self.scenario, self.streams):
            for i in range(len(batch.time)):
                origin = batch.origin[i]
                job = Job(self._next_job_id, w, origin, batch.time[i], batch.gpus[i],
                          batch.duration[i], batch.data[i], batch.priority[i], types)
                self._next_job_id += 1
                self._after(job.arrival - self.env.now, self._on_arrival, (job, candidates[origin], possible))
                yield None

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
        job, candidates, possible = event._value
        next(self._workloads[job.workload], None)  # schedule this workload's next arrival
        r = self.scheduler.route(job, candidates, possible)
        if r < 0:
            self._reject(job)
            return
        region = self.regions[r]
        job.region = r
        region.queued_gpus += job.gpus
        region.queued_jobs += 1
        region.queued_work += job.gpus * job.duration_ref
        if r == job.origin:
            self.scheduler.enqueue(region, job)
            return
        job.network_delay = transfer_time_s(self.rtt[job.origin][r], job.data, self.bandwidth_bps)
        job.egress_usd = job.data * self.egress_usd_per_byte
        self.moving[job.id] = job
        self._after(job.network_delay, self._on_moved, job)

    def _on_moved(self, event: Timeout) -> None:
        self.events += 1
        job: Job = event._value
        del self.moving[job.id]
        self.scheduler.enqueue(self.regions[job.region], job)

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

    def start_job(self, region: Region, job: Job, plan: Plan) -> None:
        """Allocate the planned GPUs and schedule the job's finish."""
        ntype, allocation = plan
        pool = region.pools[ntype.index]
        for node, k in allocation:
            pool.take(node, k)
            node.running += 1
        now = self.env.now
        job.ntype = ntype
        job.allocation = allocation
        job.start = now
        run_time = job.duration_ref / ntype.speed
        job.end = now + run_time
        region.busy_gpus += job.gpus
        region.running_jobs += 1
        region.queued_gpus -= job.gpus
        region.queued_jobs -= 1
        region.queued_work -= job.gpus * job.duration_ref
        self.running[region.index][job.id] = job
        self._after(run_time, self._on_finish, job)

    def _on_finish(self, event: Timeout) -> None:
        self.events += 1
        job: Job = event._value
        region = self.regions[job.region]
        pool = region.pools[job.ntype.index]  # type: ignore[union-attr]
        for node, k in job.allocation:
            pool.give(node, k)
            node.running -= 1
            if node.state == DRAINING and node.running == 0:
                self._release(node)
        region.busy_gpus -= job.gpus
        region.running_jobs -= 1
        del self.running[region.index][job.id]
        self._record(job, COMPLETED)
        self.scheduler.dispatch(region)

    def _record(self, job: Job, status: int) -> None:
        ntype = job.ntype
        self.recorder.job(
            job.id, job.workload, job.origin, job.region, ntype.index if ntype else -1, job.gpus,
            len(job.allocation), status, job.arrival, job.start,
            job.end if status == COMPLETED else math.nan, job.network_delay, job.duration_ref,
            job.duration_ref / ntype.speed if ntype else math.nan, job.priority, job.data,
            job.egress_usd,
        )

    # --- sampling and running -----------------------------------------------------------

    def _sample(self) -> Iterator[simpy.Event]:
        every = self.scenario.sample_every
        horizon = self.scenario.horizon
        while True:
            self.events += 1
            now = self.env.now
            for r in self.regions:
                self.recorder.sample(now, r.index, r.provisioned_gpus, r.ready_gpus, r.busy_gpus,
                                     r.queued_gpus, r.queued_jobs, r.running_jobs, r.cost_rate)
            if now + every > horizon + 1e-9:
                return
            yield self.env.timeout(every)

    def _after(self, delay: float, callback: Callable[[Timeout], None], value: object) -> None:
        Timeout(self.env, delay, value).callbacks.append(callback)

    def run(self, progress: Progress | None = None) -> Recorder:
        """Run to the horizon and close every record (unfinished jobs, open bills)."""
        horizon = self.scenario.horizon
        for feed in self._workloads:
            next(feed, None)
        self.env.process(self._sample())
        if progress is None:
            self.env.run(until=horizon)
        else:
            steps = np.linspace(0.0, horizon, 101)[1:]
            for t in steps:
                self.env.run(until=float(t))
                progress(float(t), horizon)
        self._close()
        return self.recorder

    def _close(self) -> None:
        now = self.env.now
        unfinished = [*self.moving.values()]
        for region in self.regions:
            unfinished.extend(region.queue if self.scheduler.blocking else (e[2] for e in region.queue))
            unfinished.extend(self.running[region.index].values())
        for job in sorted(unfinished, key=lambda j: j.id):
            self._record(job, UNFINISHED)
        for node in sorted(self.nodes.values(), key=lambda n: n.id):
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
