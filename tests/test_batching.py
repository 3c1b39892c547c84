"""The event-level continuous-batching engine (world/batching.py) against a plain
token-by-token loop that runs every iteration: every request's first token and finish agree
within one iteration, on random mixes of prompts, outputs, arrivals, KV capacities, batch caps
and both prefill modes. The reference loop lives here only (the issue: never in the package)."""

from __future__ import annotations

import math
from collections import deque

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swarmsim.serving import ServiceProfile
from swarmsim.world.batching import Batcher, iteration_s


def reference(profile: ServiceProfile, cap: float, max_batch: int, chunk: int | None,
              reqs: list[tuple[float, int, int]]) -> tuple[dict, dict, float, int, int]:
    """Run the iterations one by one. ``reqs`` = (arrival s, prompt, output) in arrival order.
    Returns (first token s by request, finish s by request, longest iteration s, preemptions,
    iterations)."""
    t = 0.0
    i = 0
    waiting: deque[int] = deque()
    resume: deque[dict] = deque()
    running: list[dict] = []  # decoding, admission order
    prefilling: list[dict] = []
    first: dict[int, float] = {}
    finish: dict[int, float] = {}
    longest = 0.0
    preempted = 0
    seq = 0
    iterations = 0
    while len(finish) < len(reqs):
        while i < len(reqs) and reqs[i][0] <= t:
            waiting.append(i)
            i += 1
        if not (running or prefilling or resume or waiting):
            t = reqs[i][0]
            continue
        used = sum(r["kv"] for r in running) + sum(r["kv"] for r in prefilling)
        while len(running) + len(prefilling) < max_batch:
            if resume:
                r = resume[0]
                tokens = r["prompt"] + r["gen"]
            elif waiting:
                k = waiting[0]
                r = {"id": k, "prompt": reqs[k][1], "output": reqs[k][2], "gen": 0}
                tokens = r["prompt"]
            else:
                break
            if used + tokens + 1 + len(running) > cap:
                break
            if resume:
                resume.popleft()
            else:
                waiting.popleft()
            seq += 1
            r["seq"], r["left"], r["kv"] = seq, tokens, tokens + 1
            used += tokens + 1
            prefilling.append(r)
        if not (chunk is None and prefilling):
            while running and used + len(running) > cap:  # preempt the newest admitted
                newest = max(running + prefilling, key=lambda r: r["seq"])
                (running if newest in running else prefilling).remove(newest)
                used -= newest["kv"]
                newest["kv"] = 0
                resume.appendleft(newest)
                preempted += 1
        if prefilling and chunk is None:  # a stall prefill: the batch waits
            dt = iteration_s(profile, 0, sum(r["left"] for r in prefilling), False)
            chunks = [(r, r["left"]) for r in prefilling]
            decoders: list[dict] = []
        elif prefilling:
            budget, chunks = chunk, []
            for r in prefilling:
                take = min(r["left"], budget)
                if take <= 0 and r["left"] > 0:
                    break
                chunks.append((r, take))
                budget -= take
            dt = iteration_s(profile, len(running), sum(c for _, c in chunks), True)
            decoders = list(running)
        else:
            dt = iteration_s(profile, len(running), None, False)
            decoders = list(running)
        t += dt
        iterations += 1
        longest = max(longest, dt)
        for r in decoders:  # one token each
            r["gen"] += 1
            r["kv"] += 1
            if r["gen"] == r["output"]:
                running.remove(r)
                finish[r["id"]] = t
        for r, c in chunks:
            r["left"] -= c
        while prefilling and prefilling[0]["left"] == 0:
            r = prefilling.pop(0)
            r["gen"] += 1
            first.setdefault(r["id"], t)
            if r["gen"] == r["output"]:
                finish[r["id"]] = t
            else:
                r["kv"] = r["prompt"] + r["gen"]
                running.append(r)
    return first, finish, longest, preempted, iterations


class _Queue:
    def __init__(self, reqs: list[tuple[float, int, int]]) -> None:
        self.reqs = reqs
        self.q: deque[int] = deque()

    def head(self) -> tuple[int, int] | None:
        return (self.reqs[self.q[0]][1], self.reqs[self.q[0]][2]) if self.q else None

    def take(self) -> int:
        return self.q.popleft()


def event_level(profile: ServiceProfile, cap: float, max_batch: int, chunk: int | None,
                reqs: list[tuple[float, int, int]]) -> tuple[dict, dict, int, int]:
    """Drive :class:`Batcher` as the world does: arrivals interrupt a run of decode
    iterations; (first token s, finish s, engine calls, preemptions)."""
    b = Batcher(profile, cap, max_batch, chunk)
    src = _Queue(reqs)
    first: dict[int, float] = {}
    finish: dict[int, float] = {}
    i = 0
    calls = 0
    while True:
        arr = reqs[i][0] if i < len(reqs) else math.inf
        if arr < math.inf and arr <= b.end_t:
            while i < len(reqs) and reqs[i][0] == arr:
                src.q.append(i)
                i += 1
            if b.busy:
                b.interrupt(arr)
            else:
                b.plan(arr, src)
        elif b.end_t < math.inf:
            now = b.end_t
            firsts, done = b.end(now)
            for job in firsts:
                first[job.payload] = now
            for job in done:
                finish[job.payload] = now
            b.plan(now, src)
        else:
            break
        calls += 1
    return first, finish, calls, b.preemptions


def _profile(fixed: float, per_token: float, decode: float, slow: float) -> ServiceProfile:
    return ServiceProfile(prefill_fixed_s=fixed, prefill_s_per_token=per_token, decode_s_per_token=decode,
                          batch_slowdown=slow)


cases = st.fixed_dictionaries({
    "profile": st.builds(_profile, st.floats(0.0, 0.05), st.floats(1e-5, 1e-3), st.floats(0.005, 0.08),
                         st.floats(0.0, 0.05)),
    "max_batch": st.integers(1, 12),
    "chunk": st.one_of(st.none(), st.integers(1, 300)),
    "cap": st.one_of(st.just(math.inf), st.integers(40, 800)),
    "reqs": st.lists(st.tuples(st.floats(0.0, 30.0), st.integers(1, 300), st.integers(1, 60)),
                     min_size=1, max_size=40),
})


@settings(max_examples=1_200, deadline=None)
@given(cases)
def test_every_request_agrees_with_the_token_loop_within_one_iteration(case: dict) -> None:
    cap = case["cap"]
    reqs = sorted(r for r in case["reqs"] if r[1] + r[2] <= cap)  # the world rejects the others
    if not reqs:
        return
    args = (case["profile"], cap, case["max_batch"], case["chunk"], reqs)
    ref_first, ref_finish, longest, ref_pre, _ = reference(*args)
    first, finish, _, pre = event_level(*args)
    assert set(finish) == set(ref_finish) == set(range(len(reqs)))
    tol = longest * (1 + 1e-9) + 1e-9
    for k in range(len(reqs)):
        assert abs(first[k] - ref_first[k]) <= tol, (k, first[k], ref_first[k])
        assert abs(finish[k] - ref_finish[k]) <= tol, (k, finish[k], ref_finish[k])
    assert pre == ref_pre


def test_a_lone_request_takes_prefill_then_output_minus_one_decode_steps() -> None:
    p = _profile(0.02, 1e-4, 0.05, 0.01)
    first, finish, _, _ = event_level(p, math.inf, 4, None, [(1.0, 500, 10)])
    assert first[0] == pytest.approx(1.0 + 0.02 + 500 * 1e-4)
    assert finish[0] == pytest.approx(first[0] + 9 * 0.05)


def test_a_saturated_replica_costs_events_per_request_not_per_token() -> None:
    """300 requests of 200 output tokens: 60,000 decode iterations in the reference, a few
    engine calls per request in the event-level model."""
    p = _profile(0.02, 1e-4, 0.05, 0.01)
    reqs = [(0.1 * k, 100, 200) for k in range(300)]
    _, finish, calls, _ = event_level(p, math.inf, 8, 64, reqs)
    assert len(finish) == 300
    assert calls < 10 * len(reqs)


def test_memory_preempts_and_every_request_still_finishes() -> None:
    """A cache of 1,000 tokens and ten 100 + 200 token requests arriving together: they are
    admitted by their prompts (at most 9 x 101 + running tokens), then the cache fills as they
    decode and the newest are preempted; all finish, as in the reference."""
    p = _profile(0.02, 1e-4, 0.05, 0.01)
    reqs = [(0.0, 100, 200)] * 10
    _, finish, _, pre = event_level(p, 1_000, 16, None, reqs)
    _, ref_finish, _, ref_pre, _ = reference(p, 1_000, 16, None, reqs)
    assert pre == ref_pre > 0
    assert len(finish) == 10
    assert max(finish.values()) == pytest.approx(max(ref_finish.values()))
