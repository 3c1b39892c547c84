"""Online inference: model replicas on the fleet's nodes, and requests routed to them.

A replica holds ``gpus`` GPUs of one node (allocated like a job that never ends) and serves up
to ``max_batch`` requests at once. Each (service, region) has one FIFO queue shared by its
replicas, so c replicas with ``max_batch: 1`` form an M/G/c queue. A request admitted when its
replica then holds b requests takes ``prefill + output_tokens x tpot(b)`` (docs/serving.md).

User-perceived latency = access latency of the serving site + RTT between the user's region and
the serving region + queueing + service. Network time is added to the latency but does not
delay the request's arrival at the queue (a constant shift per region pair).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Protocol

from swarmsim.metrics.requests import (
    FAILED_REASONS,
    R_COMPLETED,
    R_DROPPED,
    R_UNFINISHED,
    RequestRecorder,
    bin_of,
)
from swarmsim.scenario import InferenceWorkloadSpec
from swarmsim.traces import BadRows
from swarmsim.workloads.requests import RequestBatch, request_batches, sample_share
from swarmsim.world.clock import After, Clock, Fired
from swarmsim.world.disagg_serving import disaggregate
from swarmsim.world.iteration import NEVER_FITS, IterationServing, never_fits
from swarmsim.world.sites import (
    DRAINING,
    FAILED,
    LOADING,
    NODE_FAILED,
    SERVING,
    STOPPED,
    Geography,
    Replica,
    Request,
    Service,
    Site,
)

if TYPE_CHECKING:
    from swarmsim.world.node import Node, Region

class ServicesHost(Geography, Clock, Protocol):
    """What :class:`Services` needs of the world (``World`` has it): the clock and streams, the
    tallies of skipped trace rows, and giving back the GPUs of a replica that stopped or failed."""

    bad_rows: dict[str, BadRows]

    def release_gpus(self, node: Node, gpus: int) -> None: ...

    def unhold(self, node: Node, gpus: int) -> None: ...

class Services:
    """All services of a run: replica placement, request routing, service and recording."""

    def __init__(self, world: ServicesHost, after: After) -> None:
        """``after`` schedules a callback on the world's clock."""
        self.world = world
        self._after = after
        sc = world.scenario
        names = [n for n, w in sc.workloads.items() if isinstance(w, InferenceWorkloadSpec)]
        self.services = [Service(i, n, sc.workloads[n], world) for i, n in enumerate(names)]  # type: ignore[arg-type]  # names holds the inference workloads only (filtered above)
        self.handoff = disaggregate(self.services, world, self, after)  # disaggregated services: two pools
        self.recorder = RequestRecorder(names, world.region_names)
        self.warmup = sc.warmup
        # (service, region, node type, GPUs, start s, end s) of every replica that held GPUs.
        self.replica_log: list[tuple[int, int, int, int, float, float]] = []
        self._next_replica = 0
        self._next_request = 0
        self._feeds: list[Iterator[None]] = []
        self._sample_p = [self._sample_share(s) for s in self.services]
        self.in_flight = [0] * len(world.regions)  # window requests in service, per origin
        self.on_replica_ready: Callable[[int], None] | None = None  # set by the controller
        #: Keep each replica's requests in service, so that a node failure can retry or drop them.
        self.track_requests = bool(sc.failures)
        self.sampled_in_flight: dict[int, tuple[Service, Request, int, float]] = {}
        #: Replicas of ``batching: iteration`` services run an engine (world/iteration.py).
        self.iteration = IterationServing(self, after, world.env)
        self.recorder.iteration = any(s.iteration for s in self.services)
        self.recorder.prefix_caching = any(s.prefix_tokens or s.block_tokens for s in self.services)

    def __bool__(self) -> bool:
        return bool(self.services)

    # --- set-up ---------------------------------------------------------------------------

    def start(self) -> None:
        """Place the initial replicas (ready at once) and start the request feeds."""
        w = self.world
        for service in self.services:
            wanted = service.spec.replicas
            for region in w.regions:
                if wanted is None:
                    n = 1 if region.active and any(
                        region.pools[t.index].largest() >= service.gpus for t in service.types) else 0
                else:
                    n = wanted.get(region.name, 0)
                site = service.sites[region.index]
                site.wanted += n
            for region in w.regions:
                self.place(region, initial=True)
        for service in (s for s in self.services if s.role != "decode"):  # decode pools: fed by prefill ones
            feed = self._feed(service)
            self._feeds.append(feed)
            next(feed, None)

    def _sample_share(self, service: Service) -> float:
        """Probability that a request becomes a row of requests.csv."""
        return sample_share(service.spec, self.world.scenario)

    # --- replicas ---------------------------------------------------------------------------

    def place(self, region: Region, initial: bool = False) -> None:
        """Place the replicas that wait for GPUs in this region, while GPUs allow."""
        for service in self.services:
            site = service.sites[region.index]
            while site.wanted > 0 and region.active:
                if not self._place_one(service, site, initial):
                    break
                site.wanted -= 1

    def _place_one(self, service: Service, site: Site, initial: bool) -> bool:
        region = site.region
        best = None
        for t in service.types:
            pool = region.pools[t.index]
            if pool.free_gpus < service.gpus:
                continue
            node = pool.best_fit(service.gpus)
            if node is not None and (best is None or node.free < best[1].free):
                best = (t, node)
        if best is None:
            return False
        ntype, node = best
        w = self.world
        node.pool.take(node, service.gpus)
        node.running += 1
        region.busy_gpus += service.gpus
        replica = Replica(self._next_replica, site, node, service.gpus, service.profiles[ntype.index], w.env.now)
        self._next_replica += 1
        site.replicas[replica.id] = replica
        if node.replicas is None:
            node.replicas = {}
        node.replicas[replica.id] = replica
        replica.action = site.actions.popleft() if site.actions else -1
        if initial:
            self._serve_ready(replica)
        else:
            site.loading += 1
            rng = w.streams.get(f"load/{service.name}/{region.name}")
            delay = float(service.spec.replica.load_time.sample(rng, 1)[0])
            self._after(delay, self._on_loaded, replica)
        return True

    def _on_loaded(self, event: Fired) -> None:
        self.world.events += 1
        replica: Replica = event.value
        if replica.state == FAILED:
            return  # its node went down while it loaded
        replica.site.loading -= 1
        if replica.state == LOADING:
            self._serve_ready(replica)
            self._drain_queue(replica.site)

    def _serve_ready(self, replica: Replica) -> None:
        site = replica.site
        replica.state = SERVING
        if site.service.iteration:
            self.iteration.attach(replica)
        site.serving += 1
        site.by_active[0][replica.id] = replica
        if site.serving == 1:
            self._reach(site.service)
        if replica.action >= 0 and self.on_replica_ready is not None:
            self.on_replica_ready(replica.action)

    def waiting(self, region: Region) -> bool:
        """Whether replicas wait for GPUs in this region."""
        return any(s.sites[region.index].wanted for s in self.services)

    def add_replicas(self, service: Service, region: Region, count: int, action: int = -1) -> None:
        """Ask for ``count`` more replicas; they are placed as GPUs allow, then load."""
        site = service.sites[region.index]
        site.wanted += count
        site.actions.extend([action] * count)
        self.place(region)

    def remove_replicas(self, service: Service, region: Region, count: int) -> int:
        """Stop ``count`` replicas (waiting ones first, then the least busy); each finishes its
        requests in flight, then frees its GPUs. Returns how many were removed."""
        site = service.sites[region.index]
        done = min(count, site.wanted)
        site.wanted -= done
        for _ in range(done):
            if site.actions:
                site.actions.pop()
        candidates = sorted((r for r in site.replicas.values() if r.state in (LOADING, SERVING)),
                            key=lambda r: (r.state == SERVING, r.active, -r.id))
        for replica in candidates[: count - done]:
            self.stop(replica)
            done += 1
        return done

    def stop(self, replica: Replica) -> None:
        """Take a replica out of service; it frees its GPUs once its requests finish."""
        site = replica.site
        if replica.state == SERVING:
            del site.by_active[replica.active][replica.id]
            site.serving -= 1
            if not site.serving:
                self._reach(site.service)
        elif replica.state == LOADING:
            site.loading -= 1
        replica.state = DRAINING
        if replica.active == 0:
            self.release(replica)
        if not (site.serving or site.loading) and site.queue:
            self._evacuate(site)

    def release(self, replica: Replica) -> None:
        """Free the GPUs of a replica that stopped and has drained."""
        site = replica.site
        replica.state = STOPPED
        self.iteration.retire(replica)
        del site.replicas[replica.id]
        node = replica.node
        del node.replicas[replica.id]  # type: ignore[union-attr]  # a node that holds a replica keeps a replicas dict
        now = self.world.env.now
        self.replica_log.append((site.service.index, site.region.index, node.pool.ntype.index,
                                 replica.gpus, replica.since, now))
        self.world.release_gpus(node, replica.gpus)

    def _evacuate(self, site: Site) -> None:
        """A site with no replica serving or loading: its queued requests go to another allowed
        region with replicas (failover; their latency then counts that region's RTT), or wait
        for a replacement the site has asked for, or are dropped (reason replica-lost)."""
        queue, site.queue = site.queue, deque()
        for request in queue:
            r = self._route(site.service, request[2])
            if r >= 0:
                self._admit(site.service, site.service.sites[r], request)
            elif site.wanted and site.region.active:
                site.queue.append(request)
            else:
                self._drop(site.service, request, site.region.index, 4, request[1] >= self.warmup)

    def on_node_fail(self, node: Node) -> int:
        """A node went down: its replicas are lost at once (those that were serving or loading
        are asked for again), and their requests in service are served again (``on_failure:
        retry``: back at the head of their site's queue, or failed over) or dropped. Returns the
        number of replicas lost."""
        w = self.world
        now = w.env.now
        lost = sorted(node.replicas.values(), key=lambda r: r.id)  # type: ignore[union-attr]  # a node that holds a replica keeps a replicas dict
        for replica in lost:
            site = replica.site
            service = site.service
            if replica.state == SERVING:
                del site.by_active[replica.active][replica.id]
                site.serving -= 1
            elif replica.state == LOADING:
                site.loading -= 1
            if replica.state in (LOADING, SERVING):
                site.wanted += 1  # keep the service's replica count: a replacement is placed when GPUs allow
            replica.state = FAILED
            self.iteration.retire(replica)
            retry = []
            for rid in sorted(replica.requests):
                request = replica.requests[rid]
                site.in_service -= 1
                if request[1] >= self.warmup:
                    self.in_flight[request[2]] -= 1
                if request[5]:
                    del self.sampled_in_flight[rid]
                if service.spec.on_failure == "retry":
                    retry.append(request)
                else:
                    self._drop(service, request, site.region.index, NODE_FAILED, request[1] >= self.warmup)
            replica.requests.clear()
            replica.active = 0
            del site.replicas[replica.id]
            del node.replicas[replica.id]  # type: ignore[union-attr]  # a node that holds a replica keeps a replicas dict
            self.replica_log.append((service.index, site.region.index, node.pool.ntype.index, replica.gpus,
                                     replica.since, now))
            w.unhold(node, replica.gpus)
            site.queue.extendleft(reversed(retry))  # first in line, in the order they arrived
            if not site.serving:
                self._reach(service)
            if not (site.serving or site.loading) and site.queue:
                self._evacuate(site)
            else:
                self._drain_queue(site)
        return len(lost)

    def on_node_drain(self, node: Node) -> None:
        """A node drains: its replicas stop taking requests and are asked for elsewhere."""
        for replica in sorted(node.replicas.values(), key=lambda r: r.id):  # type: ignore[union-attr]  # a node that holds a replica keeps a replicas dict
            if replica.state in (LOADING, SERVING):
                replica.site.wanted += 1  # keep the service's replica count
                self.stop(replica)

    # --- requests ---------------------------------------------------------------------------

    def _feed(self, service: Service) -> Iterator[None]:
        w = self.world
        rng = w.streams.get(f"sample/{service.name}")
        p = self._sample_p[service.index]
        batch: RequestBatch
        bad = None
        if service.spec.trace is not None:
            bad = w.bad_rows[service.name] = BadRows(service.spec.trace.on_bad_rows)
        for batch in request_batches(service.name, service.spec, w.scenario, w.streams, bad):
            keep = (rng.random(len(batch.time)) < p).tolist() if p < 1.0 else [True] * len(batch.time)
            rows = zip([-1] * len(keep), batch.time, batch.origin, batch.prompt, batch.output, keep, batch.blocks,
                       strict=True)
            for request in rows:  # (-1, arrival s, origin, prompt, output, sampled, block hashes): Request
                self._after(request[1] - w.env.now, self._on_request, (service, request))
                yield None

    def _on_request(self, event: Fired) -> None:
        w = self.world
        w.events += 1
        service, request = event.value
        next(self._feeds[service.index], None)
        rid = self._next_request
        self._next_request += 1
        request = (rid, *request[1:])
        origin = request[2]
        counted = request[1] >= self.warmup
        rec = self.recorder
        if counted:
            rec.arrived[origin] += 1
        if service.iteration and never_fits(service.kv_floor, request) \
                if service.partner is None else self.handoff.never_fits(service, request):
            self._drop(service, request, -1, NEVER_FITS, counted)
            return
        r = self._route(service, origin)
        if r < 0:
            self._drop(service, request, -1, 1, counted)
            return
        self._admit(service, service.sites[r], request)

    def _admit(self, service: Service, site: Site, request: Request) -> None:
        """Serve a request at a site now, queue it, or drop it when the queue is full."""
        if service.iteration:
            self.iteration.arrive(site, request)
            return
        replica = site.free_replica() if not site.queue else None
        if replica is not None:
            self._begin(site, replica, request)
        elif len(site.queue) >= service.max_queue:
            self._drop(service, request, site.region.index, 2, request[1] >= self.warmup)
        else:
            site.queue.append(request)

    def _route(self, service: Service, origin: int) -> int:
        """The serving region of a request from ``origin``, or -1 (no replica within residency)."""
        sites = service.sites
        cands = [r for r in service.candidates[origin] if sites[r].serving and sites[r].region.active]
        if not cands:
            return -1
        if service.routing == "nearest" or len(cands) == 1:
            return cands[0]
        if service.routing == "least-loaded":
            return min(cands, key=lambda r: (sites[r].in_service + len(sites[r].queue))
                       / (sites[r].serving * service.max_batch))
        # latency-aware: RTT plus the expected wait for a slot (queue / slots x mean service).
        rtt = self.world.rtt[origin]
        mean_s = self._mean_service_s(service)

        def expected(r: int) -> float:
            s = sites[r]
            slots = s.serving * service.max_batch
            wait = 0.0 if s.in_service < slots and not s.queue else (len(s.queue) + 1) * mean_s / slots
            return rtt[r] + service.access_s[r] + wait

        return min(cands, key=expected)

    def _mean_service_s(self, service: Service) -> float:
        spec = service.spec
        profile = next(iter(service.profiles.values()))
        return profile.service_s(spec.prompt_tokens.expected(), spec.output_tokens.expected(), 1)

    def _begin(self, site: Site, replica: Replica, request: Request) -> None:
        a = replica.active
        del site.by_active[a][replica.id]
        replica.active = a + 1
        site.by_active[a + 1][replica.id] = replica
        site.in_service += 1
        if request[1] >= self.warmup:
            self.in_flight[request[2]] += 1
        if request[5]:
            self.sampled_in_flight[request[0]] = (site.service, request, site.region.index, self.world.env.now)
        if self.track_requests:
            replica.requests[request[0]] = request
        profile = replica.profile
        prefill = profile.prefill_s(request[3])
        tpot = profile.tpot_s(a + 1)
        service_s = prefill + request[4] * tpot
        w = self.world
        self._after(service_s, self._on_done, (replica, request, w.env.now, prefill, tpot, a + 1))

    def _on_done(self, event: Fired) -> None:
        w = self.world
        w.events += 1
        replica, request, start, prefill, tpot, batch = event.value
        if replica.state == FAILED:
            return  # its node went down: the request was served again elsewhere, or dropped
        if self.track_requests:
            del replica.requests[request[0]]
        site = replica.site
        service = site.service
        now = w.env.now
        access = service.access_s[site.region.index]
        network = w.rtt[request[2]][site.region.index]
        ttft = access + network + (start - request[1]) + prefill + tpot
        self.record(site, request, start, now, ttft, tpot, batch)
        site.one_done(replica)
        if replica.state != SERVING and replica.active == 0:
            self.release(replica)
        self._drain_queue(site)

    def record(self, site: Site, request: Request, start: float, now: float, ttft: float, tpot: float,
               batch: int) -> None:
        """Count a completed request (``ttft`` s from arrival, with access and network)."""
        service = site.service
        w = self.world
        rid, arrival, origin, prompt, output, keep = request[:6]
        r = site.region.index
        access = service.access_s[r]
        network = w.rtt[origin][r]
        queue = start - arrival
        latency = access + network + queue + (now - start)
        site.served += 1
        if arrival >= self.warmup:
            self.in_flight[origin] -= 1
            rec = self.recorder
            rec.completed[origin] += 1
            rec.latency_sum[origin] += latency
            rec.hist_latency[origin][bin_of(latency)] += 1
            rec.hist_ttft[origin][bin_of(ttft)] += 1
            rec.hist_tpot[origin][bin_of(tpot)] += 1
            rec.service_completed(service.index, origin, latency, ttft, tpot)
            rec.served[r] += 1
            rec.hist_served[r][bin_of(latency)] += 1
            rec.traffic[origin][r] += 1
            if (allowed := service.allowed[origin]) is not None and site.region.jurisdiction not in allowed:
                rec.residency_violations += 1
            slo = service.slo
            if ((slo.latency_p99 is None or latency <= slo.latency_p99)
                    and (slo.ttft_p99 is None or ttft <= slo.ttft_p99)
                    and (slo.tpot_p99 is None or tpot <= slo.tpot_p99)):
                rec.slo_met[origin] += 1
        if keep:
            del self.sampled_in_flight[rid]
            self.recorder.row(rid, service.index, origin, r, R_COMPLETED, 0, arrival, start, now, access,
                              network, queue, now - start, ttft, tpot, latency, prompt, output, batch)

    # --- what world/iteration.py asks of the services (IterationHost) ---------------------------

    def drop(self, site: Site, request: Request, reason: int) -> None:
        """Drop a request at a site, for a reason of ``DROP_REASONS``."""
        self._drop(site.service, request, site.region.index, reason, request[1] >= self.warmup)

    def arrive_prefilled(self, site: Site, request: Request) -> None:
        """A prefilled request's KV reached a decode pool site (world/disagg_serving.py)."""
        self.world.events += 1
        self.iteration.arrive(site, request)

    def _drain_queue(self, site: Site) -> None:
        """Start queued requests while replicas have room (dropping those past their timeout)."""
        queue = site.queue
        service = site.service
        if service.iteration:
            self.iteration.wake(site)
            return
        now = self.world.env.now
        while queue:
            replica = site.free_replica()
            if replica is None:
                return
            request = queue.popleft()
            if now - request[1] > service.timeout:
                self._drop(service, request, site.region.index, 3, request[1] >= self.warmup)
                continue
            self._begin(site, replica, request)

    def _drop(self, service: Service, request: Request, region: int, reason: int, counted: bool) -> None:
        origin = request[2]
        if counted:
            self.recorder.dropped_one(service.index, origin)
            if reason in FAILED_REASONS:
                self.recorder.failed[origin] += 1
            if reason == NEVER_FITS:
                self.recorder.never_fit += 1
        if request[5]:
            nan = math.nan
            self.recorder.row(request[0], service.index, origin, region, R_DROPPED, reason, request[1],
                              nan, nan, nan, nan, nan, nan, nan, nan, nan, request[3], request[4], 0)

    # --- availability -------------------------------------------------------------------------

    def _reach(self, service: Service) -> None:
        """Update, for each user region of a service, whether some serving replica is within
        its residency reach (an active region), and add the reachable time of the window."""
        now = self.world.env.now
        sites = service.sites
        reach, since, up = service.reach, service.reach_since, service.reach_up_s
        for o, _ in service.origins:
            ok = any(sites[r].serving and sites[r].region.active for r in service.candidates[o])
            if ok != reach[o]:
                if reach[o]:
                    up[o] += self._window_s(since[o], now)
                reach[o] = ok
                since[o] = now

    def reach_all(self) -> None:
        """Update the availability of every service (after a region opened, closed or went dark)."""
        for service in self.services:
            self._reach(service)

    def _window_s(self, start: float, end: float) -> float:
        """s of [start, end) inside the statistics window [warmup, horizon]."""
        return max(0.0, min(end, self.world.scenario.horizon) - max(start, self.warmup))

    def availability(self) -> list[tuple[str, str, float, float]]:
        """(service, user region, share of the service's requests, availability) per pair: the
        share of the window in which a serving replica was within residency reach."""
        now = self.world.env.now
        span = self.world.scenario.horizon - self.warmup
        names = self.world.region_names
        out = []
        for service in self.services:
            for o, share in service.origins:
                up = service.reach_up_s[o] + (self._window_s(service.reach_since[o], now) if service.reach[o] else 0.0)
                out.append((service.name, names[o], share, up / span))
        return out

    # --- the end ------------------------------------------------------------------------------

    def close(self) -> None:
        """Count what is still queued or in service as unfinished; close replica records."""
        now = self.world.env.now
        rec = self.recorder
        for service in self.services:
            for site in service.sites:
                for request in site.queue:
                    if request[1] >= self.warmup:
                        rec.unfinished[request[2]] += 1
                    if request[5]:
                        nan = math.nan
                        rec.row(request[0], service.index, request[2], site.region.index, R_UNFINISHED, 0,
                                request[1], nan, nan, nan, nan, nan, nan, nan, nan, nan, request[3],
                                request[4], 0)
                for replica in sorted(site.replicas.values(), key=lambda x: x.id):
                    self.iteration.retire(replica)
                    self.replica_log.append((service.index, site.region.index, replica.node.pool.ntype.index,
                                             replica.gpus, replica.since, now))
        for o, n in enumerate(self.in_flight):
            rec.unfinished[o] += n
        nan = math.nan
        for rid in sorted(self.sampled_in_flight):
            service, request, region, start = self.sampled_in_flight[rid]
            rec.row(rid, service.index, request[2], region, R_UNFINISHED, 0, request[1], start, nan, nan,
                    nan, start - request[1], nan, nan, nan, nan, request[3], request[4], 0)

    def sample(self, time: float) -> None:
        """Close a sampling interval of the per-origin request counters, after dropping the
        queued requests whose timeout has passed (a queue is otherwise checked only when one of
        its site's slots frees, which may never happen at a site without replicas)."""
        for service in self.services:
            if service.timeout == math.inf:
                continue
            for site in service.sites:
                while site.queue and time - site.queue[0][1] > service.timeout:
                    request = site.queue.popleft()
                    self._drop(service, request, site.region.index, 3, request[1] >= self.warmup)
        if time >= self.warmup:  # batch slots of serving replicas, in use and offered, at this sample
            rec = self.recorder
            for service in self.services:
                for site in service.sites:
                    rec.slots_busy += site.in_service
                    rec.slots_offered += site.serving * service.max_batch
        self.recorder.interval(time)
        if self.iteration.series is not None:
            self.iteration.sample(time, self.services)

