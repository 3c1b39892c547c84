"""The job path: arrivals, routing, queueing, start, finish, interruption and the job records.

Every step is a SimPy ``Timeout`` with one callback (an arrival, a job's input arriving in
its region, a job finishing), not a process per job. The handlers touch only counters, the
free-capacity index of the pools and the columnar recorder: the fields a job has from its
arrival are recorded in bulk from each batch (:meth:`Recorder.job_stream`), its outcome in one
call when it ends (:meth:`Recorder.job_end`).

The node lifecycle (provisioning, draining, billing) is the world's (``world.py``); this
module only tells it when a draining node has emptied (``on_drained``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Generator

import simpy
from simpy.events import Timeout

from swarmsim.metrics.recorder import COMPLETED, OUTCOME_ROW, PREEMPTED, REJECTED, UNFINISHED, Recorder
from swarmsim.rng import Streams
from swarmsim.scenario import JobsWorkloadSpec, Scenario
from swarmsim.traces import BadRows
from swarmsim.workloads.jobs import JobBatch, job_batches
from swarmsim.workloads.replay import mapped_gpu
from swarmsim.world.clock import Fired
from swarmsim.world.job import Job, Plan
from swarmsim.world.latency import SchedulingLatency
from swarmsim.world.network import transfer_time_s
from swarmsim.world.node import DRAINING, Node, NodeType, Region
from swarmsim.world.ports import ReplicaPlacer
from swarmsim.world.scheduler import Scheduler
from swarmsim.world.sharing import Task

log = logging.getLogger(__name__)


class Jobs:
    """The jobs of one run from arrival to their last record.

    ``tracking`` keeps what policies and failures need (each node's running jobs, queued shapes,
    recent waits); without it no job can be interrupted."""

    def __init__(self, *, env: simpy.Environment, scenario: Scenario, streams: Streams, regions: list[Region],
                 node_types: list[NodeType], rtt: list[list[float]], recorder: Recorder, scheduler: Scheduler,
                 tracking: bool, on_drained: Callable[[Node], None]) -> None:
        self.env = env
        self.scenario = scenario
        self.streams = streams
        self.regions = regions
        self.region_names = [r.name for r in regions]
        self.node_types = node_types
        self.rtt = rtt
        self.bandwidth_bps = scenario.network.bandwidth
        self.egress_usd_per_byte = scenario.network.egress_usd_per_gb / 1e9
        self.recorder = recorder
        self.scheduler = scheduler
        self.tracking = tracking
        self.on_drained = on_drained
        self.services: ReplicaPlacer | None = None  # set by the world once the services exist
        self.workload_names = [n for n, w in scenario.workloads.items() if isinstance(w, JobsWorkloadSpec)]
        self.running: list[dict[int, Job]] = [{} for _ in regions]  # by region, job id
        self.moving: dict[int, Job] = {}  # jobs whose input is in transit
        self.blocked: list[Job] = []  # jobs that only an inactive region could run (policies may open one)
        self.rejected_by_workload = [0] * len(self.workload_names)
        self.bad_rows: dict[str, BadRows] = {}  # tallies of skipped trace rows, by workload
        #: Per workload: (s of run time between checkpoints or None, s to write one).
        self.checkpoint = [
            (spec.checkpoint_every, spec.checkpoint_overhead)
            for spec in (scenario.workloads[n] for n in self.workload_names)
            if isinstance(spec, JobsWorkloadSpec)
        ]
        #: Per workload: True when jobs run their traced duration on any GPU (no speed scaling).
        self.fixed_runtime = [
            (t := getattr(scenario.workloads[n], "trace", None)) is not None and not t.speed_scaling
            for n in self.workload_names
        ]
        #: Per workload: True when a run lasts duration / speed (no checkpoints to write, no replay as is).
        self._plain = [not fixed and (every is None or not overhead > 0)
                       for fixed, (every, overhead) in zip(self.fixed_runtime, self.checkpoint, strict=True)]
        self._next_job_id = 0
        self._moved = 0  # move events processed
        self._stale = 0  # finish events of interrupted runs
        self._routes: list[tuple[list[list[int]], list[float]]] = []
        # Recorder.job_end written out, for the hot path:
        self._outcome, self._row = recorder.job_outcome.frombytes, OUTCOME_ROW.pack
        # With several workloads, the workload of each arrival, in id order (one workload: all 0).
        self._arrived_in = recorder.job_workload.append if len(self.workload_names) > 1 else None
        self._replicas = False  # the run has services (their waiting replicas keep GPUs first)
        self._feeds = [self._feed(i, n) for i, n in enumerate(self.workload_names)]
        #: Sharing fleets with ``task_shapes: online``: told each arriving job's task.
        self.learn: Callable[[Task], None] | None = None
        #: ``scheduler.latency``: when decisions are made (None: at once, as events happen).
        self.latency: SchedulingLatency | None = None
        if scenario.scheduler.latency is not None:
            self.latency = SchedulingLatency(env, scenario.scheduler.latency, streams.get("scheduler-latency"),
                                             scheduler, lambda: self.services)

    def connect(self, services: ReplicaPlacer) -> None:
        """Hand over the services, whose waiting replicas a job must not jump."""
        self.services = services
        self._replicas = bool(services)

    def start(self) -> None:
        """Schedule the first arrival of every workload."""
        for feed in self._feeds:
            next(feed)
            feed.send(feed.send)

    def events(self) -> int:
        """SimPy events this path has processed so far (arrivals, moves, finishes)."""
        rows = self.recorder.job_rows()
        extra = self.latency.events if self.latency is not None else 0
        return self._next_job_id + (rows - sum(self.rejected_by_workload)) + self._stale + self._moved + extra

    # --- arrival, routing, queueing -------------------------------------------------------

    def _feed(self, w: int, name: str) -> Generator[None, object, None]:
        """One workload's arrivals, as a generator that is its own arrival callback: primed, it is
        sent its own ``send``; then each ``send(event)`` is the arrival of the job it scheduled
        last, which gets its id, schedules the workload's next arrival and is routed."""
        me = yield
        sc = self.scenario
        spec = sc.workloads[name]
        assert isinstance(spec, JobsWorkloadSpec)
        allowed = set(sc.node_types_for(spec))
        types = tuple(t.index for t in self.node_types if t.name in allowed)
        possible = [sc.possible_gpus(r, spec) for r in self.region_names]
        self._routes.append((self._candidates(spec), possible))
        bad = None
        if spec.trace is not None:
            bad = self.bad_rows[name] = BadRows(spec.trace.on_bad_rows)
        by_model: dict[str, tuple[int, ...]] = {"": types}
        env = self.env
        stream = self.recorder.job_stream
        arrived_in = self._arrived_in
        route = self.route if self.latency is None else self.latency.deferred(self.route)
        learn = self.learn
        if learn is not None:
            routed = route

            def route(job: Job) -> None:  # an arrival is counted, then routed
                if hasattr(job, "task"):
                    learn(job.task)
                routed(job)
        tracking = self.tracking
        arrived: Job | None = None  # the job that arrived at the last send, to route
        shapes: dict[tuple[int, int, int, int], Task] = {}  # one Task per shape (placement memoises by task)
        batch: JobBatch
        for batch in job_batches(name, spec, sc, self.streams, bad):
            times, origin, gpus, duration = batch.time, batch.origin, batch.gpus, batch.duration
            data, priority, models = batch.data, batch.priority, batch.gpu_model
            tasks = None if batch.task is None else [shapes.setdefault(t, Task(*t)) for t in batch.task]
            stream(w, origin, times, gpus, duration, data, priority)
            for i, (home, arrival, k, dur, size, prio) in enumerate(zip(origin, times, gpus, duration, data, priority,
                                                                         strict=True)):
                job_types = types if models is None else self._types_for(models[i], spec, types, by_model)
                job = Job(w, home, arrival, k, dur, size, prio, job_types)
                if tasks is not None:  # a sharing fleet: what the job asks of a sharing node
                    job.task = tasks[i]
                Timeout(env, arrival - env.now, job).callbacks.append(me)  # type: ignore[arg-type]  # me: this generator's own send, sent in by the priming send()
                if arrived is not None:
                    route(arrived)
                yield None
                job.id = self._next_job_id  # ids follow arrival order across workloads
                self._next_job_id += 1
                if arrived_in is not None:
                    arrived_in(w)
                if tracking:
                    region = self.regions[home]
                    region.origin_arrivals += 1
                    region.origin_gpu_s += k * dur
                arrived = job
        if arrived is not None:
            route(arrived)
        yield None  # the last arrival's send returns here; nothing sends again

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
        out: list[list[int]] = []
        for o, oname in enumerate(self.region_names):
            if oname not in spec.origin:
                out.append([])
                continue
            allowed = self.scenario.allowed_jurisdictions(spec, oname)
            regs = [r for r in self.regions if allowed is None or r.jurisdiction in allowed]
            out.append([r for _, _, r in sorted((r.index != o, self.rtt[o][r.index], r.index) for r in regs)])
        return out

    def route(self, job: Job) -> None:
        """Send a job to a region (moving its input if needed), hold it, or reject it."""
        candidates, possible = self._routes[job.workload]
        r, plan = self.scheduler.route(job, candidates[job.origin], possible)
        if r < 0:
            if self.tracking and any(possible[c] >= job.gpus for c in candidates[job.origin]):
                self.blocked.append(job)  # an allowed region could run it once a policy opens it
            else:
                self._reject(job)
            return
        region = self.regions[r]
        job.region = r
        if r == job.origin:
            if (plan is not None and not region.queue
                    and not (self._replicas and self.services.waiting(region))):  # type: ignore[union-attr]  # _replicas is true only with services
                self.start_job(region, job, plan, queued=False)  # the placement routing just found
            else:
                self._join(region, job)
                self.scheduler.enqueue(region, job)
            return
        self._join(region, job)
        delay = transfer_time_s(self.rtt[job.origin][r], job.data, self.bandwidth_bps)
        job.network_delay += delay
        job.egress_usd += job.data * self.egress_usd_per_byte
        self.moving[job.id] = job
        Timeout(self.env, delay, job).callbacks.append(self._on_moved)

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

    def _on_moved(self, event: Fired) -> None:
        self._moved += 1
        job: Job = event.value
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
            log.warning("workload %s: a job asking for %g GPUs fits no allowed region; "
                        "rejecting it (further rejections are counted, not logged)",
                        self.workload_names[w], job.gpus)
        self.rejected_by_workload[w] += 1
        self.recorder.job_end(job.id, -1, -1, 0, REJECTED, math.nan, math.nan)

    def reroute_blocked(self) -> None:
        """Route again the jobs held for lack of an active region (after a region opens)."""
        blocked = self.blocked[:]
        self.blocked.clear()
        for job in blocked:
            self.route(job)

    def evacuate(self, region: Region) -> None:
        """Route the queued jobs of a region that closed to other regions."""
        queue = region.queue
        jobs = list(queue) if self.scheduler.blocking else [e[2] for e in queue]
        queue.clear()
        for job in jobs:
            self._leave(region, job)
            self.route(job)

    # --- start, finish, interruption ------------------------------------------------------

    def start_job(self, region: Region, job: Job, plan: Plan, queued: bool = True) -> None:
        """Allocate the planned GPUs and schedule the job's finish. A ``queued`` job leaves the
        region's queue counters; one that starts as it arrives never joined them (joining and
        leaving at once would leave them as they were but for the rounding of the work sum)."""
        tracking = self.tracking
        if not queued:
            region.queued_work = region.queued_work + job.work - job.work
        elif tracking:
            self._leave(region, job)
        else:  # _leave without the queued shapes
            region.queued_gpus -= job.gpus
            region.queued_jobs -= 1
            region.queued_work -= job.work
            if not region.queued_jobs:
                region.backlog_since = math.nan
        ntype, allocation = plan
        pool = region.pools[ntype.index]
        env = self.env
        now = env.now
        if tracking:
            for node, k in allocation:
                pool.take(node, k)
                node.running += 1
                if node.jobs is None:
                    node.jobs = {}
                node.jobs[job.id] = job
            region.recent_waits.add(now, now - job.arrival)
            self.regions[job.origin].origin_delays.add(now, now - job.arrival)
        else:
            for node, k in allocation:
                pool.take(node, k)
                node.running += 1
        job.ntype = ntype
        job.allocation = allocation
        job.start = now
        if self._plain[job.workload]:
            run_time = (job.duration_ref - job.done_ref) / ntype.speed
        else:
            run_time = self.run_time(job, ntype)
        job.run_s = run_time
        region.busy_gpus += job.gpus
        region.running_jobs += 1
        self.running[region.index][job.id] = job
        if tracking:  # a run may be interrupted: its finish event carries the run's epoch
            Timeout(env, run_time, (job, job.epoch)).callbacks.append(self._on_finish_run)
        else:
            Timeout(env, run_time, job).callbacks.append(self._on_finish)

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

    def _on_finish_run(self, event: Fired) -> None:
        job, epoch = event.value
        if epoch != job.epoch:
            self._stale += 1
            return  # this run was interrupted
        region = self.regions[job.region]
        self._free(region, job)
        self._record(job, COMPLETED)
        self.scheduler.dispatch(region)

    def _on_finish(self, event: Fired) -> None:
        """A job that cannot have been interrupted finishes (``_on_finish_run`` with ``_free``
        and ``_record`` written out: the hot path of a run without policies or failures)."""
        job: Job = event.value
        region = self.regions[job.region]
        allocation = job.allocation
        for node, k in allocation:
            node.pool.give(node, k)
            node.running -= 1
            if node.state == DRAINING and node.running == 0:
                self.on_drained(node)
        region.busy_gpus -= job.gpus
        region.running_jobs -= 1
        del self.running[region.index][job.id]
        self._outcome(self._row(job.id, job.region, job.ntype.index, len(allocation),  # type: ignore[union-attr]  # a running job has a node type
                                COMPLETED, job.start, job.run_s))
        if job.network_delay or job.egress_usd:
            self.recorder.job_extra(job.network_delay, job.egress_usd, job.restarts)
        if region.queue or self._replicas:
            self.scheduler.dispatch(region)

    def _free(self, region: Region, job: Job) -> None:
        for node, k in job.allocation:
            node.pool.give(node, k)
            node.running -= 1
            if node.jobs is not None:
                node.jobs.pop(job.id, None)
            if node.state == DRAINING and node.running == 0:
                self.on_drained(node)
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
        job.start = job.run_s = math.nan
        job.ntype = None
        job.allocation = []
        self._join(region, job)
        if self.scheduler.blocking:
            region.queue.appendleft(job)
        else:
            self.scheduler.enqueue(region, job)

    def _record(self, job: Job, status: int) -> None:
        ntype = job.ntype
        rec = self.recorder
        rec.job_end(job.id, job.region, ntype.index if ntype else -1, len(job.allocation), status, job.start,
                    job.run_s)
        if job.network_delay or job.egress_usd or job.restarts:
            rec.job_extra(job.network_delay, job.egress_usd, job.restarts)

    def close(self) -> None:
        """Record every job still alive at the horizon as unfinished, in id order."""
        unfinished = [*self.moving.values(), *self.blocked]
        blocking = self.scheduler.blocking
        for region in self.regions:
            unfinished.extend(region.queue if blocking else (e[2] for e in region.queue))
            unfinished.extend(self.running[region.index].values())
        for job in sorted(unfinished, key=lambda j: j.id):
            self._record(job, UNFINISHED)
