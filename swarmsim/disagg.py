"""Disaggregated prefill and decode (Splitwise, DistServe) on the iteration-exact engine.

A request is prefilled on a *prefill pool* replica (its request ends there, at its first output
token), its prompt's KV cache moves to a *decode pool* replica over a link, and the decode
replica admits it straight into decoding, holding the prompt's KV (``prompt + 1`` tokens) from
admission (:class:`~swarmsim.world.batching.Batcher` with ``prefilled=True``). The hand-off
takes :func:`handoff_s`::

    handoff_s = rtt_s + prompt_tokens x KV bytes per token x 8 / bandwidth_bps

(:func:`swarmsim.world.network.transfer_time_s`, one RTT plus size over bandwidth).

:func:`simulate_pools` runs the two pools (or one colocated pool, for the comparison at equal
GPUs) on their own event loop, without SimPy: every replica is a ``Batcher``, each pool has
one FIFO queue, and a request that joins a queue wakes the replica with the fewest requests
that has room for it (the rule of ``world/iteration.py``). TTFT is measured from arrival to the
first token (the prefill); TPOT from the first token to the last, so the hand-off delays the
decode start and counts in TPOT. The world's services do not run it yet (docs/serving.md,
"Disaggregated prefill and decode").
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from dataclasses import dataclass

from swarmsim.serving import ServiceProfile
from swarmsim.world.batching import Batcher, Job
from swarmsim.world.network import transfer_time_s

#: An offered request: (arrival s, prompt tokens, output tokens).
Offered = tuple[float, int, int]


def handoff_s(prompt_tokens: int, kv_bytes_per_token: float, bandwidth_bps: float, rtt_s: float) -> float:
    """Time to move a prefilled prompt's KV cache to the decode replica, s (bandwidth in bit/s)."""
    return transfer_time_s(rtt_s, prompt_tokens * kv_bytes_per_token, bandwidth_bps)


@dataclass
class PoolSpec:
    """One pool: ``replicas`` engines of one shape.

    Args:
        replicas: engines in the pool.
        profile: their service profile (s).
        kv_tokens: KV-cache capacity of one engine, tokens (``math.inf``: no memory bound).
        max_batch: most requests admitted at once per engine.
        chunk_tokens: prefill tokens per iteration (``prefill: chunked``), or None (``stall``).
    """

    replicas: int
    profile: ServiceProfile
    kv_tokens: float
    max_batch: int = 64
    chunk_tokens: int | None = 512


@dataclass
class PoolResult:
    """What :func:`simulate_pools` measured, per request in arrival order (NaN: not served)."""

    ttft_s: list[float]
    tpot_s: list[float]
    finish_s: list[float]
    decode_wait_s: list[float]  # s from the hand-off's end to the decode admission (last one)
    prefilled: int = 0  # requests whose prefill completed (their first token came)
    handed_off: int = 0  # requests whose KV moved to the decode pool
    finished: int = 0  # requests whose last token came
    preempted: int = 0  # preemptions (both pools)


class _Queue:
    """A pool's FIFO queue as a :class:`~swarmsim.world.batching.Source`."""

    __slots__ = ("items",)

    def __init__(self) -> None:
        self.items: deque[tuple[int, int, int]] = deque()  # (request index, prompt, output)

    def head(self) -> tuple[int, int] | None:
        if not self.items:
            return None
        _, prompt, output = self.items[0]
        return prompt, output

    def take(self) -> object:
        return self.items.popleft()[0]


class _Pool:
    def __init__(self, spec: PoolSpec, prefilled: bool, ends_at_first: bool) -> None:
        self.engines = [Batcher(spec.profile, spec.kv_tokens, spec.max_batch, spec.chunk_tokens, prefilled=prefilled)
                        for _ in range(spec.replicas)]
        self.gen = [0] * spec.replicas
        self.queue = _Queue()
        self.ends_at_first = ends_at_first  # a prefill pool: a request's output there is its first token


def simulate_pools(requests: list[Offered], prefill: PoolSpec, decode: PoolSpec | None,
                   kv_bytes_per_token: float = 0.0, bandwidth_bps: float = math.inf,
                   rtt_s: float = 0.0) -> PoolResult:
    """Serve ``requests`` on a prefill pool and a decode pool (``decode`` None: ``prefill`` is one
    colocated pool that does both); see the module docstring."""
    n = len(requests)
    nan = math.nan
    res = PoolResult([nan] * n, [nan] * n, [nan] * n, [nan] * n)
    handed = [nan] * n  # s, when each hand-off ended
    pools = [_Pool(prefill, False, decode is not None)]
    if decode is not None:
        pools.append(_Pool(decode, True, False))
    first = [nan] * n
    events: list[tuple[float, int, int, int, int, int]] = []  # (t, order, kind, pool, engine/request, gen)
    order = 0

    def push(t: float, kind: int, pool: int, who: int, gen: int = 0) -> None:
        nonlocal order
        order += 1
        heapq.heappush(events, (t, order, kind, pool, who, gen))

    def schedule(p: int, e: int, end: float) -> None:
        pools[p].gen[e] += 1
        push(end, 1, p, e, pools[p].gen[e])

    def plan(p: int, e: int, now: float) -> None:
        engine = pools[p].engines[e]
        end = engine.plan(now, pools[p].queue)
        if end < math.inf:
            schedule(p, e, end)

    def wake(p: int, now: float) -> None:
        pool = pools[p]
        if not pool.queue.items:
            return
        prompt = pool.queue.items[0][1]
        order_ = sorted(range(len(pool.engines)), key=lambda i: (pool.engines[i].admitted, i))
        for e in order_:
            engine = pool.engines[e]
            if engine.room(prompt):
                if not engine.busy:
                    plan(p, e, now)
                else:
                    old = engine.end_t
                    new = engine.interrupt(now)
                    if new != old:
                        schedule(p, e, new)
                return

    def finish(i: int, job: Job, now: float) -> None:
        output = requests[i][2]
        res.finish_s[i] = now
        res.ttft_s[i] = first[i] - requests[i][0]
        res.tpot_s[i] = (now - first[i]) / (output - 1) if output > 1 else 0.0
        res.finished += 1
        if handed[i] == handed[i]:
            res.decode_wait_s[i] = job.start - handed[i]

    for i, (t, _, _) in enumerate(requests):
        push(t, 0, 0, i)
    while events:
        now, _, kind, p, who, gen = heapq.heappop(events)
        if kind == 0:  # arrival at the first pool (prefill, or colocated)
            _, prompt, output = requests[who]
            out = 1 if pools[0].ends_at_first else output
            pools[0].queue.items.append((who, prompt, out))
            wake(0, now)
        elif kind == 2:  # hand-off done: the request joins the decode queue
            _, prompt, output = requests[who]
            handed[who] = now
            pools[1].queue.items.append((who, prompt, output))
            wake(1, now)
        else:  # an engine's boundary
            pool = pools[p]
            if gen != pool.gen[who]:
                continue
            engine = pool.engines[who]
            before = engine.preemptions
            firsts, done = engine.end(now)
            for job in firsts:
                i = job.payload  # type: ignore[assignment]  # this scenario's job payloads are request indices
                first[i] = now
                res.prefilled += 1
            for job in done:
                i: int = job.payload  # type: ignore[no-redef]  # this scenario's job payloads are request indices
                if pool.ends_at_first and requests[i][2] > 1:
                    res.handed_off += 1
                    push(now + handoff_s(requests[i][1], kv_bytes_per_token, bandwidth_bps, rtt_s), 2, 1, i)
                else:
                    finish(i, job, now)
            plan(p, who, now)
            res.preempted += engine.preemptions - before
            wake(p, now)
    for pool in pools:
        for engine in pool.engines:
            for job in engine.jobs():
                raise AssertionError(f"request {job.payload} left on an engine at the end")  # pragma: no cover
    return res


def size_split(requests: list[Offered], replicas: int, prefill: PoolSpec, decode: PoolSpec,
               kv_bytes_per_token: float, bandwidth_bps: float, rtt_s: float,
               ttft_p99_s: float, tpot_p99_s: float) -> list[tuple[int, int, float, float, bool]]:
    """Every prefill:decode split of ``replicas`` engines (at least one of each), served on
    ``requests``: ``[(prefill replicas, decode replicas, TTFT p99 s, TPOT p99 s, meets both)]``,
    best first (meeting both SLOs, then the larger of the two p99s over its SLO). The pools'
    ``replicas`` fields are overridden."""
    rows = []
    for p in range(1, replicas):
        pre = PoolSpec(p, prefill.profile, prefill.kv_tokens, prefill.max_batch, prefill.chunk_tokens)
        dec = PoolSpec(replicas - p, decode.profile, decode.kv_tokens, decode.max_batch, decode.chunk_tokens)
        res = simulate_pools(requests, pre, dec, kv_bytes_per_token, bandwidth_bps, rtt_s)
        ttft = _p99(res.ttft_s)
        tpot = _p99(res.tpot_s)
        rows.append((p, replicas - p, ttft, tpot, ttft <= ttft_p99_s and tpot <= tpot_p99_s))
    rows.sort(key=lambda r: (not r[4], max(r[2] / ttft_p99_s, r[3] / tpot_p99_s), r[0]))
    return rows


def _p99(values: list[float]) -> float:
    """99th percentile (linear interpolation, numpy's default) of the finite values, s."""
    finite = sorted(v for v in values if v == v)
    if not finite:
        return math.inf
    pos = 0.99 * (len(finite) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(finite) - 1)
    return finite[lo] + (finite[hi] - finite[lo]) * (pos - lo)


__all__ = ["Offered", "PoolResult", "PoolSpec", "handoff_s", "simulate_pools", "size_split"]


def compare(rate: float = 4.0, n: int = 4000, seed: int = 1, bandwidth_bps: float = 100e9,
            rtt_s: float = 0.001) -> str:
    """The comparison at equal GPUs of docs/serving.md ("Disaggregated prefill and decode"):
    llama2-70b on 4 x A100-80GB replicas, 4 colocated vs 2 prefill + 2 decode, Poisson arrivals
    at ``rate`` requests/s, prompts uniform in [500, 2500) tokens, outputs in [2, 400); then the
    P:D split of 4 replicas against a TTFT p99 of 2 s and a TPOT p99 of 0.07 s. Returns the table."""
    import numpy as np

    from swarmsim.catalog.models import find_model
    from swarmsim.kvcache import kv_capacity_tokens
    from swarmsim.scenario.services import ReplicaSpec
    from swarmsim.serving import profile_for_replica

    spec = ReplicaSpec(model="llama2-70b", gpu="A100-80GB", gpus=4, batching="iteration")
    profile = profile_for_replica(spec, "A100-80GB")
    kv = float(kv_capacity_tokens("llama2-70b", "A100-80GB", 4) or math.inf)
    kvb = find_model("llama2-70b").kv_bytes_per_token()  # type: ignore[union-attr]  # llama2-70b is in the built-in model catalog
    rng = np.random.default_rng(seed)
    t = np.cumsum(rng.exponential(1.0 / rate, n))
    reqs = [(float(a), int(p), int(o))
            for a, p, o in zip(t, rng.integers(500, 2500, n), rng.integers(2, 400, n), strict=True)]
    pool = PoolSpec(4, profile, kv)
    lines = [f"llama2-70b, 4 x A100-80GB per replica, {rate:g} req/s, {n} requests, seed {seed}, "
             f"hand-off at {bandwidth_bps / 1e9:g} Gbit/s + {rtt_s * 1e3:g} ms",
             f"{'serving':<24} {'TTFT p50':>9} {'TTFT p99':>9} {'TPOT p50':>9} {'TPOT p99':>9}"]
    col = simulate_pools(reqs, pool, None)
    dis = simulate_pools(reqs, PoolSpec(2, profile, kv), PoolSpec(2, profile, kv), kvb, bandwidth_bps, rtt_s)
    for name, res in (("colocated 4", col), ("prefill 2 + decode 2", dis)):
        a, b = np.percentile(res.ttft_s, [50, 99])
        c, d = np.percentile(res.tpot_s, [50, 99])
        lines.append(f"{name:<24} {a:9.3f} {b:9.3f} {c:9.4f} {d:9.4f}")
    lines.append("P:D split of 4 replicas (TTFT p99 <= 2 s, TPOT p99 <= 0.07 s), best first:")
    for p, d_, ttft, tpot, ok in size_split(reqs, 4, pool, pool, kvb, bandwidth_bps, rtt_s, 2.0, 0.07):
        lines.append(f"  {p}:{d_}  TTFT p99 {ttft:8.3f} s  TPOT p99 {tpot:7.4f} s  {'meets' if ok else 'misses'}")
    return "\n".join(lines)


if __name__ == "__main__":  # python -m swarmsim.disagg [rate]
    import sys

    print(compare(float(sys.argv[1]) if len(sys.argv) > 1 else 4.0))
