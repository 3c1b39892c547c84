"""Routing (which region), queueing (which job next) and placement (which nodes).

Queue disciplines (``scheduler.queue``):

- ``fifo``: strict arrival order with head-of-line blocking, as in a batch system.
- ``backfill``: EASY backfilling (Lifka 1995). The head of the queue gets a reservation at the
  earliest time enough GPUs of its allowed types will be free (the *shadow time*); a later job
  starts now if it fits now and either ends by the shadow time or uses only GPUs the head will
  not need then. Runtimes are known exactly (no user over-estimates). The reservation is counted
  in GPUs over the region's pools, as EASY counts processors, so node fragmentation can still
  delay the head a little.
- ``shortest-first``: shortest expected run time first (on the reference GPU), no blocking.
- ``priority``: highest ``priority`` first, then arrival order, no blocking.

Placement (``scheduler.placement``) of a job that fits one node of an allowed type:
``best-fit`` (fewest free GPUs left), ``spread`` (most free GPUs), ``first-fit`` (lowest node id).
A job larger than every ready node of a type spans several nodes of that one type in one region
(most-free nodes first), if the type allows multi-node jobs (``multi_node``); never several
regions or GPU types.
"""

from __future__ import annotations

import bisect
import math
from collections import deque

import simpy

from swarmsim.world.job import Job, Plan
from swarmsim.world.network import transfer_time_s
from swarmsim.world.node import Node, Region
from swarmsim.world.ports import JobStarter, ReplicaPlacer

__all__ = ["Plan", "Scheduler"]


class Scheduler:
    """Routes arriving jobs, keeps each region's queue and starts jobs when they fit.

    Built from the regions, the RTT matrix (s) and the bandwidth (bit/s) it routes over; the
    job path it starts jobs with and the services it hands free GPUs to are connected after
    (:meth:`connect`), since they are built from it."""

    def __init__(self, env: simpy.Environment, regions: list[Region], rtt: list[list[float]],
                 bandwidth_bps: float, *, queue: str, placement: str, routing: str, gpu_priority: str) -> None:
        self.env = env
        self.regions = regions
        self.rtt = rtt
        self.bandwidth_bps = bandwidth_bps
        self.discipline = queue
        self.blocking = queue in ("fifo", "backfill")
        self.placement = placement
        self.routing = routing
        self.inference_first = gpu_priority == "inference-first"
        self.jobs: JobStarter | None = None
        self.services: ReplicaPlacer | None = None
        self._replicas_first = self._replicas_after = False
        for region in regions:
            region.queue = deque() if self.blocking else []
        if any(pool.shares for region in regions for pool in region.pools):
            self.place = self._place_shared  # type: ignore[method-assign]  # a sharing fleet places jobs by shares: chosen once per run

    def connect(self, jobs: JobStarter, services: ReplicaPlacer) -> None:
        """Hand over the job path (to start jobs with) and the services (to give GPUs to)."""
        self.jobs = jobs
        self.services = services
        self._replicas_first = bool(services) and self.inference_first
        self._replicas_after = bool(services) and not self.inference_first

    # --- routing ---------------------------------------------------------------------------

    def route(self, job: Job, candidates: list[int], possible: list[float]) -> tuple[int, Plan | None]:
        """The region index a new job goes to (-1 when no region can ever run it), and under
        ``nearest`` routing the placement it would start with there at once (or None).

        ``candidates`` are the regions the job's residency allows, origin first then by RTT;
        ``possible`` is the largest allocation each region can ever offer this workload."""
        regions = self.regions
        gpus = job.gpus
        if self.routing == "nearest":
            first = -1
            blocking = self.blocking
            for r in candidates:
                region = regions[r]
                if possible[r] >= gpus and region.active:
                    if first < 0:
                        first = r
                    if not (blocking and region.queue):
                        plan = self.place(region, job)
                        if plan is not None:
                            return r, plan
            return first, None
        fits = [r for r in candidates if possible[r] >= gpus and regions[r].active]
        if not fits:
            return -1, None
        if self.routing == "least-loaded":
            def load(r: int) -> float:
                reg = regions[r]
                return (reg.busy_gpus + reg.queued_gpus + job.gpus) / max(reg.provisioned_gpus, 1)

            return min(fits, key=load), None  # ties: the nearer region (min keeps the first)
        # latency-aware: transfer time plus a rough expected wait.
        rtt = self.rtt[job.origin]
        bandwidth = self.bandwidth_bps

        def expected_delay(r: int) -> float:
            reg = regions[r]
            move = 0.0 if r == job.origin else transfer_time_s(rtt[r], job.data, bandwidth)
            if self.can_start_now(reg, job):
                return move
            return move + (reg.queued_work + job.gpus * job.duration_ref) / max(reg.ready_gpus, 1)

        return min(fits, key=expected_delay), None

    def can_start_now(self, region: Region, job: Job) -> bool:
        """Whether the job would start at once if it joined this region's queue now."""
        return self.startable(region, job) is not None

    def startable(self, region: Region, job: Job) -> Plan | None:
        """The placement the job would get at once if it joined this region's queue now."""
        if self.blocking and region.queue:
            return None
        return self.place(region, job)

    # --- queueing --------------------------------------------------------------------------

    def enqueue(self, region: Region, job: Job) -> None:
        """Add a job to a region's queue (its counters already include it) and dispatch."""
        if self.blocking:
            region.queue.append(job)
        else:
            key = -job.priority if self.discipline == "priority" else job.duration_ref
            bisect.insort(region.queue, (key, job.id, job))
        self.dispatch(region)

    def dispatch(self, region: Region) -> None:
        """Give free GPUs out: to replicas that wait for them and to queued jobs, in the order of
        ``scheduler.gpu_priority`` (inference first by default). Starts every queued job that the
        discipline allows and that fits now."""
        if self._replicas_first:
            self.services.place(region)  # type: ignore[union-attr]  # _replicas_first is true only with services
        queue = region.queue
        if queue and region.free_gpus:  # no queued job can start without a free GPU
            start = self.jobs.start_job  # type: ignore[union-attr]  # the job layer is attached before the first dispatch
            place = self.place
            if self.blocking:
                while queue and region.free_gpus:
                    job = queue[0]
                    plan = place(region, job)
                    if plan is None:
                        break
                    queue.popleft()
                    start(region, job, plan)
                if queue and region.free_gpus and self.discipline == "backfill":
                    self._backfill(region)
            else:
                kept = []
                pools = region.pools
                for entry in queue:
                    if not any(p.free_gpus for p in pools):
                        kept.append(entry)
                        continue
                    plan = place(region, entry[2])
                    if plan is None:
                        kept.append(entry)
                    else:
                        start(region, entry[2], plan)
                if len(kept) != len(queue):
                    region.queue = kept
        if self._replicas_after:
            self.services.place(region)  # type: ignore[union-attr]  # _replicas_first is true only with services

    def _backfill(self, region: Region) -> None:
        jobs = self.jobs
        assert jobs is not None
        queue: deque[Job] = region.queue
        head = queue[0]
        types = set(head.types)
        now = self.env.now
        avail = sum(region.pools[t].free_gpus for t in types)
        shadow, extra = math.inf, 0
        ends = sorted(
            (job.start + job.run_s, sum(k for _, k in job.allocation))
            for job in jobs.running[region.index].values()
            if job.ntype is not None and job.ntype.index in types
        )
        for end, gpus in ends:
            avail += gpus
            if avail >= head.gpus:
                shadow, extra = end, avail - head.gpus
                break
        started = []
        for i in range(1, len(queue)):
            job = queue[i]
            plan = self.place(region, job)
            if plan is None:
                continue
            ntype = plan[0]
            ends_at = now + jobs.run_time(job, ntype)
            shares_gpus = ntype.index in types
            if not shares_gpus or ends_at <= shadow or job.gpus <= extra:
                if shares_gpus and ends_at > shadow:
                    extra -= job.gpus
                started.append(i)
                jobs.start_job(region, job, plan)
        for i in reversed(started):
            del queue[i]

    # --- placement -------------------------------------------------------------------------

    def place(self, region: Region, job: Job) -> Plan | None:
        """Where the job would run now in this region, or None; changes nothing."""
        k = job.gpus
        best: Plan | None = None
        mode = self.placement
        for t in job.types:
            pool = region.pools[t]
            if pool.free_gpus < k:
                continue
            ntype = pool.ntype
            if k > pool.largest():  # no node of this pool is big enough: a multi-node gang
                if best is None and ntype.multi_node:
                    gang = pool.gang(k)
                    if gang is not None:
                        best = (ntype, gang)
                continue
            if mode == "best-fit":
                node = pool.best_fit(k)
                if node is not None and node.free == k:
                    return (ntype, [(node, k)])  # an exact fit: no other node does better
            elif mode == "spread":
                node = pool.spread(k)
            else:
                node = pool.first_fit(k)
            if node is None:
                continue
            if best is None or len(best[1]) > 1 or _better(mode, node, best[1][0][0]):
                best = (ntype, [(node, k)])
        return best

    def _place_shared(self, region: Region, job: Job) -> Plan | None:
        """:meth:`place` on a fleet with sharing pools: a job with a task (``job.task``) goes to
        the sharing pool whose placement policy scores its best node lowest (ties: the first
        type); a job of whole GPUs that no sharing pool can take now tries the whole-GPU pools
        (where sharing pools find nothing)."""
        task = getattr(job, "task", None)
        if task is not None:
            best: tuple[float, Plan] | None = None
            pools = region.pools
            for t in job.types:
                pool = pools[t]
                if pool.shares:
                    got = pool.place(job)  # type: ignore[attr-defined]  # a pool with shares is a SharedPool
                    if got is not None and (best is None or got[0] < best[0]):
                        best = got
            if best is not None:
                return best[1]
            if task.fractional:
                return None
        return Scheduler.place(self, region, job)


def _better(mode: str, node: Node, incumbent: Node) -> bool:
    if mode == "best-fit":
        return node.free < incumbent.free
    if mode == "spread":
        return node.free > incumbent.free
    return node.id < incumbent.id
