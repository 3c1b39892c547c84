"""Disaggregated serving in the world (Splitwise, DistServe): a service with ``prefill_pool``
and ``decode_pool`` runs as two services of one name and index, the prefill pool (named as the
workload; its requests end at their first token) and the decode pool (``<name>/decode``, whose
engines admit prefilled requests straight into decoding). This module builds them and moves a
prefilled request's KV from one to the other (docs/serving.md, "Disaggregated prefill and
decode")::

    hand-off s = RTT(prefill region, decode region) + prompt x KV bytes per token x 8 / bandwidth

over :func:`~swarmsim.world.network.transfer_time_s`; within a region the RTT is the scenario's
``network.intra_region_rtt`` and the bandwidth ``decode_pool.kv_link_bandwidth`` (default
``network.bandwidth``). The decode site is the prefill site's region when the decode pool serves
there, else the serving decode site nearest by RTT.
"""

from __future__ import annotations

import math
from typing import Protocol

from swarmsim.catalog.models import find_model
from swarmsim.world.clock import After, Fired
from swarmsim.world.network import transfer_time_s
from swarmsim.world.sites import Geography, Request, Service, Site


class _Host(Protocol):
    """What the hand-off needs of :class:`~swarmsim.world.service.Services`."""

    warmup: float
    in_flight: list[int]
    sampled_in_flight: dict[int, tuple]

    def drop(self, site: Site, request: Request, reason: int) -> None: ...

    def arrive_prefilled(self, site: Site, request: Request) -> None: ...


class Handoff:
    """The prefilled requests on their way to (or decoding on) a decode pool."""

    def __init__(self, host: _Host, world: Geography, after: After) -> None:
        self.host = host
        self.world = world
        self._after = after
        self.handed: dict[int, tuple[float, float, float]] = {}  # request id: (start s, first token s, ttft s)
        self.handoffs = 0  # hand-offs begun, cumulative

    @staticmethod
    def never_fits(service: Service, request: Request) -> bool:
        """Whether a request of a prefill pool can never be served: its prompt (and first token)
        over the prefill pool's KV cache, or prompt plus output over the decode pool's."""
        partner: Service = service.partner  # type: ignore[assignment]  # a prefill pool always has its decode partner
        return request[3] + 1 > service.kv_floor or request[3] + request[4] > partner.kv_floor

    def prefilled(self, site: Site, request: Request, start: float, first: float, ttft: float) -> None:
        """A request got its first token on the prefill pool at ``site``: move its KV to the
        decode pool (``start``: its admission s, ``first``: its first token s, ``ttft`` s)."""
        dec: Service = site.service.partner  # type: ignore[assignment]  # a prefill pool always has its decode partner
        host = self.host
        # Out of the prefill pool: the decode pool counts it in flight again when it admits it.
        if request[1] >= host.warmup:
            host.in_flight[request[2]] -= 1
        if request[5]:
            del host.sampled_in_flight[request[0]]
        r = site.region.index
        rtt = self.world.rtt[r]
        cands = [s for s in dec.sites if s.serving] or [s for s in dec.sites if s.loading or s.replicas]
        if not cands:
            self.host.drop(site, request, 1)
            return
        target = min(cands, key=lambda s: (s.region.index != r, rtt[s.region.index], s.region.index))
        d = target.region.index
        link = self.world.scenario.network.intra_region_rtt if d == r else rtt[d]
        delay = transfer_time_s(link, request[3] * dec.kv_bytes_per_token, dec.link_bps)
        self.handed[request[0]] = (start, first, ttft)
        self.handoffs += 1
        self._after(delay, self._on_arrival, (target, request))

    def _on_arrival(self, event: Fired) -> None:
        site, request = event.value
        self.host.arrive_prefilled(site, request)

    def decoded(self, request: Request) -> tuple[float, float, float]:
        """(admission s on the prefill pool, first token s, ttft s) of a request the decode pool
        finished."""
        return self.handed.pop(request[0])


def disaggregate(services: list[Service], world: Geography, host: _Host, after: After) -> Handoff:
    """Replace each disaggregated service of ``services`` by its prefill pool and append its
    decode pool (so the feeds, one per workload, keep their order); returns the hand-off."""
    for i, service in enumerate(list(services)):
        spec = service.spec
        if spec.prefill_pool is None:
            continue
        pre = services[i] = Service(service.index, service.name, spec.pool("prefill"), world)
        dec = Service(service.index, f"{service.name}/decode", spec.pool("decode"), world)
        pre.role, dec.role = "prefill", "decode"
        pre.partner, dec.partner = dec, pre
        arch = find_model(spec.replica.model)
        dec.kv_bytes_per_token = arch.kv_bytes_per_token("fp16") if arch is not None else 0.0
        dec.link_bps = spec.decode_pool.kv_link_bandwidth or world.scenario.network.bandwidth  # type: ignore[union-attr]  # a disaggregated workload has a decode pool
        dec.timeout = math.inf  # the request has its first token: it waits for a decode slot
        dec.max_queue = math.inf
        services.append(dec)
    return Handoff(host, world, after)


__all__ = ["Handoff", "disaggregate"]
