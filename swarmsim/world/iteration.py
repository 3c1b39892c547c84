"""Services with ``replica.batching: iteration``: each serving replica runs a
:class:`~swarmsim.world.batching.Batcher` that admits from its site's FIFO queue at iteration
boundaries, bounded by KV memory and ``max_batch`` (docs/serving.md, "Iteration-level serving").

The world's side of it: one SimPy timeout per run of iterations (stale ones are skipped by a
generation count, since SimPy cannot cancel a timeout), waking a replica with room when a
request joins the queue, and the bookkeeping a request in service needs (the site's counters,
``in_flight``, the sampled rows, the requests a node failure retries).
"""

from __future__ import annotations

import math
from typing import Protocol

from simpy import Environment

from swarmsim.metrics.requests import RequestRecorder
from swarmsim.world.batching import Batcher, Job
from swarmsim.world.clock import After, Fired
from swarmsim.world.kv_series import KvSeries
from swarmsim.world.prefix_blocks import BlockCache
from swarmsim.world.sites import DRAINING, FAILED, SERVING, Replica, Request, Service, Site

#: Drop reason of a request whose prompt plus output exceeds the KV cache (metrics/requests.py).
NEVER_FITS = 6


class _Counts(Protocol):
    events: int  # events processed
    rtt: list[list[float]]  # s, rtt[origin][region]


class _Handoff(Protocol):
    def prefilled(self, site: Site, request: Request, start: float, first: float, ttft: float) -> None: ...

    def decoded(self, request: Request) -> tuple[float, float, float]: ...


class IterationHost(Protocol):
    """What :class:`IterationServing` needs of :class:`~swarmsim.world.service.Services`."""

    warmup: float
    services: list[Service]
    in_flight: list[int]
    sampled_in_flight: dict[int, tuple]
    track_requests: bool
    recorder: RequestRecorder

    @property  # read-only here, so that the host's own (wider) types satisfy these
    def world(self) -> _Counts: ...
    @property
    def handoff(self) -> _Handoff: ...  # disaggregated services (world/disagg_serving.py)

    def drop(self, site: Site, request: Request, reason: int) -> None: ...

    def release(self, replica: Replica) -> None: ...

    def record(self, site: Site, request: Request, start: float, now: float, ttft: float, tpot: float,
               batch: int) -> None:
        """Count a completed request (``ttft`` s from arrival, access and network included)."""
        ...


class _SiteSource:
    """A site's queue as the :class:`~swarmsim.world.batching.Source` of one replica."""

    __slots__ = ("host", "replica", "site")

    def __init__(self, host: IterationServing, site: Site) -> None:
        self.host = host
        self.site = site
        self.replica: Replica | None = None

    def head(self) -> tuple[int, ...] | None:
        queue = self.site.queue
        timeout = self.site.service.timeout
        now = self.host.env.now
        while queue:
            request = queue[0]
            if now - request[1] > timeout:
                queue.popleft()
                self.host.host.drop(self.site, request, 3)
                continue
            # a prefill pool serves a request up to its first token
            out = 1 if self.site.service.role == "prefill" else request[4]
            blocks = self.replica.blocks  # type: ignore[union-attr]  # a queued request's site has a replica bound when it is placed
            if blocks is not None and request[6]:
                hit = blocks.hit_tokens(request[6], request[3])
                return request[3] - hit, out, hit
            return request[3] - self._cached(request[3]), out
        return None

    def _cached(self, prompt: int) -> int:
        """Prompt tokens the replica has cached: the service's shared prefix, once the replica
        has prefilled it (its first request pays for it)."""
        prefix = self.site.service.prefix_tokens
        if not prefix or not self.replica.warm:  # type: ignore[union-attr]  # a queued request's site has a replica bound when it is placed
            return 0
        return min(prefix, prompt)

    def take(self) -> object:
        request = self.site.queue.popleft()
        replica: Replica = self.replica  # type: ignore[assignment]  # a queued request's site has a replica bound when it is placed
        host = self.host.host
        blocks = replica.blocks
        if blocks is not None:
            hashes = request[6] or ()
            if request[1] >= host.warmup:
                host.recorder.prefix_hit_tokens += blocks.hit_tokens(hashes, request[3]) if hashes else 0
                host.recorder.prompt_tokens += request[3]
            blocks.admit(hashes)
        elif self.site.service.prefix_tokens and request[1] >= host.warmup:
            rec = host.recorder
            rec.prefix_hit_tokens += self._cached(request[3])
            rec.prompt_tokens += request[3]
        replica.warm = True
        self.host.begin(self.site, replica, request)
        return request


class IterationServing:
    """The iteration-level engines of a run's replicas (see the module docstring)."""

    def __init__(self, host: IterationHost, after: After, env: Environment) -> None:
        self.host = host
        self._after = after
        self.env = env  # the world's clock (``env.now``, s)
        self._sources: dict[int, _SiteSource] = {}
        #: KV occupancy over time of the replicas of services with ``replica.kv_series`` (or None).
        self.series: KvSeries | None = KvSeries(host.warmup) if any(s.kv_series for s in host.services) else None

    def _source(self, site: Site) -> _SiteSource:
        src = self._sources.get(id(site))
        if src is None:
            src = self._sources[id(site)] = _SiteSource(self, site)
        return src

    # --- replicas -------------------------------------------------------------------------------

    def attach(self, replica: Replica) -> None:
        """Give a replica that starts serving its engine."""
        service = replica.site.service
        cap = service.kv_tokens[replica.node.pool.ntype.index] - service.prefix_tokens  # the prefix: once
        spec = service.spec.replica
        chunk = spec.chunk_tokens if spec.prefill == "chunked" else None
        replica.engine = Batcher(replica.profile, cap, service.max_batch, chunk, window=self.host.warmup,
                                 prefilled=service.role == "decode")
        if service.block_tokens and service.role != "decode":  # a decode pool gets its KV from the prefill pool
            replica.blocks = BlockCache(cap // service.block_tokens, service.block_tokens)
        replica.born = self.env.now

    def retire(self, replica: Replica) -> None:
        """Add a replica's occupancy to the run's figures (it stopped, failed, or the run ended)."""
        engine = replica.engine
        if engine is None:
            return
        now = self.env.now
        engine.settle(now)
        rec = self.host.recorder
        life = max(0.0, now - max(replica.born, self.host.warmup))
        rec.batch_area += engine.batch_area
        rec.serving_s += life
        if engine.cap != math.inf:
            rec.kv_area += engine.kv_area
            rec.kv_capacity_s += engine.cap * life
            if self.series is not None and replica.site.service.kv_series:
                self.series.retire(replica, now)
        replica.engine = None

    def sample(self, now: float, services: list[Service]) -> None:
        """A sample time: the rows of ``kv_cache.csv`` for the interval that ends at ``now``."""
        replicas = []
        for service in services:
            if not service.kv_series:
                continue
            for site in service.sites:
                for replica in site.replicas.values():
                    engine = replica.engine
                    if engine is not None and engine.cap != math.inf:
                        engine.settle(now)
                        replicas.append(replica)
        self.series.sample(now, replicas)  # type: ignore[union-attr]  # called only when the KV series is recorded

    def occupancy(self, site: Site) -> float:
        """Mean KV utilization (held / capacity, 0-1) of the site's serving replicas with a KV
        bound, now (NaN: none)."""
        now = self.env.now
        shares = [r.engine.kv_now(now) / r.engine.cap for r in site.replicas.values()
                  if r.state == SERVING and r.engine is not None and r.engine.cap != math.inf]
        return sum(shares) / len(shares) if shares else math.nan

    # --- requests -------------------------------------------------------------------------------

    def arrive(self, site: Site, request: Request) -> None:
        """A request reaches a site: queue it (or drop it when the queue is full), wake a replica."""
        if len(site.queue) >= site.service.max_queue:
            self.host.drop(site, request, 2)
            return
        site.queue.append(request)
        self.wake(site)

    def wake(self, site: Site) -> None:
        """Have the serving replica with the fewest requests that has room for the head of the
        queue look at it at its next iteration boundary."""
        if not site.queue:
            return
        prompt = site.queue[0][3]
        prefix = min(site.service.prefix_tokens, prompt)
        best: Replica | None = None
        by_active = site.by_active  # serving replicas by requests held, fewest first
        for a in range(len(by_active) - 1):
            for replica in by_active[a].values():
                if replica.engine.room(prompt - prefix if replica.warm else prompt):  # type: ignore[union-attr]  # replicas of an iteration service run an engine
                    best = replica
                    break
            if best is not None:
                break
        else:
            return
        engine = best.engine
        now = self.env.now
        if not engine.busy:  # type: ignore[union-attr]  # replicas of an iteration service run an engine
            self._plan(best, now)
        else:
            old = engine.end_t  # type: ignore[union-attr]  # replicas of an iteration service run an engine
            new = engine.interrupt(now)  # type: ignore[union-attr]  # replicas of an iteration service run an engine
            if new != old:
                self._schedule(best, new - now)

    def begin(self, site: Site, replica: Replica, request: Request) -> None:
        """Bookkeeping of a request the replica's engine admits from the queue."""
        a = replica.active
        if replica.state == SERVING:
            del site.by_active[a][replica.id]
            site.by_active[a + 1][replica.id] = replica
        replica.active = a + 1
        site.in_service += 1
        host = self.host
        if request[1] >= host.warmup:
            host.in_flight[request[2]] += 1
        if request[5]:
            host.sampled_in_flight[request[0]] = (site.service, request, site.region.index, self.env.now)
        if host.track_requests:
            replica.requests[request[0]] = request

    def _plan(self, replica: Replica, now: float) -> None:
        engine: Batcher = replica.engine  # type: ignore[assignment]  # replicas of an iteration service run an engine
        src = None
        if replica.state == SERVING:
            src = self._source(replica.site)
            src.replica = replica
        before = engine.preemptions
        end = engine.plan(now, src)
        if now >= self.host.warmup and engine.preemptions != before:
            self.host.recorder.preempted += engine.preemptions - before
        if end < math.inf:
            self._schedule(replica, end - now)
        elif replica.state == DRAINING and replica.active == 0:
            self.host.release(replica)

    def _schedule(self, replica: Replica, delay: float) -> None:
        replica.gen += 1
        self._after(delay, self._on_boundary, (replica, replica.gen))

    def _on_boundary(self, event: Fired) -> None:
        self.host.world.events += 1
        replica, gen = event.value
        if replica.state == FAILED or gen != replica.gen or replica.engine is None:
            return
        now = self.env.now
        _, done = replica.engine.end(now)
        site = replica.site
        for job in done:
            self._complete(site, replica, job, now)
        self._plan(replica, now)
        if site.queue:
            self.wake(site)

    def _complete(self, site: Site, replica: Replica, job: Job, now: float) -> None:
        request: Request = job.payload  # type: ignore[assignment]  # an engine job's payload is the request
        host = self.host
        if host.track_requests:
            del replica.requests[request[0]]
        role = site.service.role
        if role == "decode":  # TTFT came on the prefill pool; TPOT runs across the hand-off
            start, first, ttft = host.handoff.decoded(request)
            host.record(site, request, start, now, ttft, (now - first) / (request[4] - 1), job.batch)
        else:
            r = site.region.index
            ttft = site.service.access_s[r] + host.world.rtt[request[2]][r] + (job.start - request[1]) \
                + (job.first - job.start)
            if role == "prefill" and request[4] > 1:
                host.handoff.prefilled(site, request, job.start, job.first, ttft)
            else:
                tpot = (now - job.first) / (job.output - 1) if job.output > 1 else 0.0
                host.record(site, request, job.start, now, ttft, tpot, job.batch)
        site.one_done(replica)


def never_fits(kv_floor: float, request: Request) -> bool:
    """Whether a request's prompt plus output exceeds the smallest KV cache of its service."""
    return request[3] + request[4] > kv_floor


__all__ = ["NEVER_FITS", "IterationHost", "IterationServing", "never_fits"]
