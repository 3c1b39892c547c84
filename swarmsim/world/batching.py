"""Continuous batching on a token clock: one replica's iteration-exact engine at event cost.

A serving engine (vLLM, TensorRT-LLM, SGLang) runs iteration by iteration. Each iteration
decodes one token for every request in the batch; a new prompt's prefill either stalls the
batch (``prefill: stall``) or rides along with at most ``chunk_tokens`` prompt tokens
(``prefill: chunked``, Sarathi-Serve). Admission is bounded by KV-cache memory and by
``max_batch``. Between two changes of the batch every request decodes one token per
``tpot_s(b)``, so :class:`Batcher` keeps one virtual token clock ``V`` (decode iterations done)
and a heap of the clock value at which each running request finishes, and it moves only at
admissions, prefills, completions and KV overflows: the same iterations a token-by-token loop
runs (``tests/test_batching.py`` holds that loop and checks every request against it), with a
handful of events per request instead of one per token.

The rules (docs/serving.md, "Iteration-level serving"):

- **Iteration time** is :func:`iteration_s`, the one place the profile is turned into time.
- **Admission** happens at iteration boundaries, first in line first: the requests preempted
  on this replica, then the site's queue. A request is admitted when the replica holds fewer
  than ``max_batch`` requests and the KV cache has room for its prefill tokens, its first output
  token and the next token of every request decoding now; otherwise admission stops (head of
  line).
- **KV** held by a request = the tokens it has prefilled and produced (the first output token's
  slot is reserved at admission), and the prompt tokens it found in the replica's prefix cache
  (block hashes, :mod:`swarmsim.world.prefix_blocks`), which it does not prefill. Each decode
  iteration adds one token per decoding request.
- **Preemption** (vLLM's recompute): when the next decode iteration would not fit, the newest
  admitted request gives back all its KV and waits first in line; when admitted again it
  prefills its prompt plus the tokens it had produced, then carries on.
- **Prefill** produces the request's first (or next, after a preemption) output token at the end
  of the iteration that completes it. A request with one output token finishes there.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from typing import Protocol, cast

from swarmsim.serving import ServiceProfile


def iteration_s(profile: ServiceProfile, decodes: int, prefill_tokens: int | None, chunked: bool,
                quad_s: float | None = None) -> float:
    """Duration of one iteration, s: ``decodes`` requests decode one token each and, when
    ``prefill_tokens`` is not None, that many prompt tokens are prefilled.

    - decode only: ``tpot_s(decodes)``;
    - a stall prefill (no decodes run), or a chunked iteration with nothing decoding:
      ``prefill_fixed_s + prefill_s_per_token x prefill_tokens + quad_s``;
    - a chunked iteration with decodes: ``tpot_s(decodes) + prefill_s_per_token x prefill_tokens
      + quad_s`` (the fixed cost of a step is already in the decode time).

    ``quad_s`` is the attention (quadratic) part of the chunks, s: for a chunk of ``c`` tokens of
    a prompt with ``d`` tokens already prefilled, ``prefill_s_per_token_sq x ((d + c)^2 - d^2)``,
    so that a prompt prefilled in chunks costs what ``prefill_s`` of the whole prompt costs
    (:func:`chunk_quad_s`). None: the tokens are one prompt from scratch (``prefill_tokens^2``).
    """
    if prefill_tokens is None:
        return profile.tpot_s(decodes)
    if quad_s is None:
        quad_s = prefill_tokens * prefill_tokens * profile.prefill_s_per_token_sq
    if not chunked or decodes == 0:
        return profile.prefill_fixed_s + prefill_tokens * profile.prefill_s_per_token + quad_s
    return profile.tpot_s(decodes) + prefill_tokens * profile.prefill_s_per_token + quad_s


def chunk_quad_s(profile: ServiceProfile, chunks: list[tuple[int, int]]) -> float:
    """Attention time of prefill chunks ``[(done, tokens)]``, s: ``sq x sum((d + c)^2 - d^2)``,
    where ``done`` is the prompt tokens already prefilled before the chunk."""
    sq = profile.prefill_s_per_token_sq
    if not sq:
        return 0.0
    return sq * sum((d + c) * (d + c) - d * d for d, c in chunks)


class Source(Protocol):
    """The queue a replica admits from (its site's FIFO queue)."""

    def head(self) -> tuple[int, ...] | None:
        """(prompt tokens to prefill, output tokens) of the first waiting request, or None; a
        third number, when there is one, is prompt tokens it finds in the replica's prefix cache
        (not prefilled, but held in KV while it runs)."""
        ...

    def take(self) -> object:
        """Remove the first waiting request and return it (the engine's ``payload``)."""
        ...


class Job:
    """One request on a replica."""

    __slots__ = ("batch", "fin", "first", "gen", "kv", "left", "need", "output", "payload", "preempted", "prompt",
                 "seq", "start")

    def __init__(self, payload: object, prompt: int, output: int, start: float) -> None:
        self.payload = payload
        self.prompt = prompt
        self.output = output
        self.start = start  # s, first admission
        self.gen = 0  # output tokens produced
        self.kv = 0  # KV tokens held
        self.left = 0  # prefill tokens still to process
        self.need = 0  # prefill tokens at admission (left counts down from it)
        self.seq = 0  # admission order on this replica
        self.fin = -1  # token-clock value at which it finishes (-1: not decoding)
        self.first = math.nan  # s, first output token
        self.preempted = 0
        self.batch = 0  # requests on the replica when it was first admitted, itself included


class Batcher:
    """One replica's continuous batching engine (see the module docstring for the rules).

    The caller drives it: :meth:`plan` at a boundary picks the next iteration (or run of
    identical decode iterations) and returns when it ends; :meth:`end` applies it at that time
    and returns the requests that got their first token and those that finished;
    :meth:`interrupt` cuts a run of decode iterations at the first boundary after ``now`` (a new
    request may be admitted there).

    Args:
        profile: the replica's service profile (s).
        kv_tokens: KV-cache capacity, tokens (``math.inf``: no memory bound).
        max_batch: most requests admitted at once.
        chunk_tokens: prefill tokens per iteration (``prefill: chunked``), or None (``stall``).
        window: s from which occupancy is integrated (the statistics window's start).
        prefilled: a decode-pool engine (disaggregated serving): every request it admits from the
            source arrives prefilled, with its first output token made and the prompt's KV moved
            in, and goes straight into decoding, holding ``prompt + 1`` KV tokens.
    """

    def __init__(self, profile: ServiceProfile, kv_tokens: float, max_batch: int, chunk_tokens: int | None,
                 window: float = 0.0, prefilled: bool = False) -> None:
        self.prefilled = prefilled
        self.profile = profile
        self.cap = kv_tokens
        self.max_batch = max_batch
        self.chunk = chunk_tokens
        self.window = window
        self.running: dict[int, Job] = {}  # decoding, by seq (admission order)
        self.prefilling: deque[Job] = deque()  # admitted, prefill not complete
        self.resume: deque[Job] = deque()  # preempted, first in line
        self.heap: list[tuple[int, int, Job]] = []  # (fin, seq, job), stale entries skipped
        self.V = 0  # decode iterations done: the token clock
        self.used = 0  # KV tokens held
        self.seq = 0
        self.busy = False  # an iteration (or a run of them) is in progress
        self.end_t = math.inf  # when it ends
        # The iteration in progress: start s, duration of one iteration s, iterations, decodes,
        # and the prefill chunks it carries [(job, tokens)] (None: no prefill).
        self.t0 = 0.0
        self.tau = 0.0
        self.k = 0
        self.b = 0
        self.chunks: list[tuple[Job, int]] | None = None
        self.preemptions = 0
        self.batch_area = 0.0  # requests decoding x s, inside the window
        self.kv_area = 0.0  # KV tokens held x s, inside the window
        self.kv_peak = 0  # most KV tokens held at an iteration boundary since :meth:`mark_peak`

    @property
    def admitted(self) -> int:
        """Requests on the replica (decoding or prefilling)."""
        return len(self.running) + len(self.prefilling)

    def room(self, prompt: int) -> bool:
        """Whether a request with ``prompt`` tokens would be admitted now by the count and KV rules."""
        return self.admitted < self.max_batch and not self.resume and \
            self.used + prompt + 1 + len(self.running) <= self.cap

    # --- the two steps of a boundary --------------------------------------------------------

    def plan(self, now: float, source: Source | None) -> float:
        """At a boundary (nothing in progress): admit, preempt, pick the next iteration.
        Returns when it ends (``math.inf``: idle)."""
        running, prefilling = self.running, self.prefilling
        cap = self.cap
        while len(running) + len(prefilling) < self.max_batch:
            if self.resume:
                job = self.resume[0]
                tokens = held = job.prompt + job.gen
                if self.used + tokens + 1 + len(running) > cap:
                    break
                self.resume.popleft()
            else:
                head = source.head() if source is not None else None
                if head is None:
                    break
                tokens = head[0]
                held = tokens + head[2] if len(head) > 2 else tokens  # the cached prompt tokens' KV too
                if self.used + held + 1 + len(running) > cap:
                    break
                job = Job(source.take(), held, head[1], now)  # type: ignore[union-attr]  # head is not None, so source is not None
                job.batch = len(running) + len(prefilling) + 1
                if self.prefilled and job.output > 1:
                    self.seq += 1
                    job.seq = self.seq
                    job.gen = 1
                    job.first = now  # made on the prefill pool: not a first token of this engine
                    job.kv = tokens + 1
                    self.used += tokens + 1
                    job.fin = self.V + job.output - 1
                    running[job.seq] = job
                    heapq.heappush(self.heap, (job.fin, job.seq, job))
                    continue
            self.seq += 1
            job.seq = self.seq
            job.left = tokens
            job.need = tokens
            job.kv = held + 1
            self.used += held + 1
            prefilling.append(job)
        stall = self.chunk is None
        if not (stall and prefilling):
            while running and self.used + len(running) > cap:
                self._preempt_newest()
        b = len(running)
        if self.used > self.kv_peak:
            self.kv_peak = self.used
        self.t0 = now
        self.b = b
        if prefilling:
            if stall:
                chunks = [(job, job.left) for job in prefilling]
                tokens = sum(job.left for job in prefilling)
                quad = chunk_quad_s(self.profile, [(j.need - j.left, j.left) for j in prefilling])
                self.tau = iteration_s(self.profile, 0, tokens, False, quad)
                self.k = 1
            else:
                budget = cast(int, self.chunk)  # not None: stall is False
                first = prefilling[0]
                # Full chunks of the head prompt that do not complete it: identical iterations
                # (same decodes, same chunk, no prefill completes), run as one, cut short by the
                # first decode to finish or the KV overflow.
                k = (first.left - 1) // budget
                if self.profile.prefill_s_per_token_sq:
                    k = 1  # attention: each chunk of a prompt costs more than the one before
                if k >= 2 and b:
                    self._next_finish()
                    k = min(k, self.heap[0][0] - self.V)
                    if cap != math.inf:
                        k = min(k, int((cap - self.used) // b))
                if k >= 2:
                    chunks = [(first, budget)]
                    tokens = budget
                else:
                    k = 1
                    chunks = []
                    tokens = 0
                    for job in prefilling:
                        take = min(job.left, budget - tokens)
                        if take <= 0 and job.left > 0:
                            break
                        chunks.append((job, take))
                        tokens += take
                quad = chunk_quad_s(self.profile, [(j.need - j.left, c) for j, c in chunks])
                self.tau = iteration_s(self.profile, b, tokens, True, quad)
                self.k = k
            self.chunks = chunks
        elif b:
            self.chunks = None
            self.tau = iteration_s(self.profile, b, None, False)
            self._next_finish()
            k = self.heap[0][0] - self.V
            if cap != math.inf:
                k = min(k, int((cap - self.used) // b))
            self.k = k
        else:
            self.busy = False
            self.end_t = math.inf
            return math.inf
        self.busy = True
        self.end_t = now + self.k * self.tau
        return self.end_t

    def interrupt(self, now: float) -> float:
        """Cut a run of decode iterations at the first boundary at or after ``now``; returns
        the (possibly earlier) end of what is in progress."""
        if self.busy and self.k > 1:
            j = max(1, math.ceil((now - self.t0) / self.tau))
            if j < self.k:
                self.k = j
                self.end_t = self.t0 + j * self.tau
        return self.end_t

    def end(self, now: float) -> tuple[list[Job], list[Job]]:
        """Apply the iteration(s) that end at ``now``: (jobs whose first output token came now,
        jobs that finished now)."""
        self.busy = False
        self._integrate(now)
        firsts: list[Job] = []
        done: list[Job] = []
        stall_prefill = self.chunks is not None and self.chunk is None
        if not stall_prefill and self.b:
            self.V += self.k
            self.used += self.b * self.k
            if self.used > self.kv_peak:  # the most a run of decodes holds: at its end
                self.kv_peak = self.used
            heap = self.heap
            clock = self.V
            while heap and heap[0][0] <= clock:
                fin, seq, job = heapq.heappop(heap)
                if job.fin != fin or job.seq != seq:
                    continue
                del self.running[seq]
                self.used -= job.prompt + job.output
                job.gen = job.output
                job.fin = -1
                done.append(job)
        if self.chunks is not None:
            for job, tokens in self.chunks:
                job.left -= tokens * self.k
            prefilling = self.prefilling
            while prefilling and prefilling[0].left == 0:
                job = prefilling.popleft()
                job.gen += 1
                if job.first != job.first:  # NaN: the first output token
                    job.first = now
                    firsts.append(job)
                if job.gen >= job.output:
                    self.used -= job.kv
                    done.append(job)
                else:
                    job.kv = job.prompt + job.gen
                    job.fin = self.V + job.output - job.gen
                    self.running[job.seq] = job
                    heapq.heappush(self.heap, (job.fin, job.seq, job))
            self.chunks = None
        return firsts, done

    # --- internals ---------------------------------------------------------------------------

    def _next_finish(self) -> None:
        """Drop stale heap entries, so that ``heap[0]`` is the next running request to finish."""
        heap = self.heap
        while heap[0][2].fin != heap[0][0] or heap[0][2].seq != heap[0][1]:
            heapq.heappop(heap)

    def _preempt_newest(self) -> None:
        """Give back the KV of the newest admitted request and put it first in line."""
        newest_run = next(reversed(self.running)) if self.running else -1
        newest_pre = self.prefilling[-1].seq if self.prefilling else -1
        if newest_pre > newest_run:
            job = self.prefilling.pop()
            self.used -= job.kv
        else:
            job = self.running.pop(newest_run)
            # the tokens it produced so far: fin - V are still to come
            job.gen = job.output - (job.fin - self.V)
            job.fin = -1
            self.used -= job.prompt + job.gen
        job.kv = 0
        job.left = 0
        job.preempted += 1
        self.preemptions += 1
        self.resume.appendleft(job)

    def held_kv(self, job: Job) -> int:
        """KV tokens a decoding job holds at the last boundary."""
        return job.prompt + job.output - (job.fin - self.V)

    def _integrate(self, now: float) -> None:
        """Add the requests decoding and the KV held over [t0, now] inside the window."""
        a = max(self.t0, self.window)
        if now <= a:
            return
        span = now - a
        self.batch_area += len(self.running) * span
        if not (self.chunks is not None and self.chunk is None) and self.b and self.tau > 0:
            u0 = self.used + self.b * (a - self.t0) / self.tau
            u1 = self.used + self.b * (now - self.t0) / self.tau
            self.kv_area += 0.5 * (u0 + u1) * span
        else:
            self.kv_area += self.used * span

    def kv_now(self, now: float) -> float:
        """KV tokens held at ``now`` (inside the iteration in progress: growing linearly with
        the decodes it runs, as :meth:`_integrate` counts it)."""
        if self.busy and self.b and not (self.chunks is not None and self.chunk is None) and self.tau > 0:
            return self.used + self.b * min(self.k, (now - self.t0) / self.tau)
        return float(self.used)

    def mark_peak(self, now: float) -> int:
        """The peak KV tokens since the last mark (at iteration boundaries, and at the two
        ends of the span), and start a new span at ``now``."""
        level = self.kv_now(now)
        peak = max(self.kv_peak, math.ceil(level))
        self.kv_peak = math.ceil(level)
        return peak

    def settle(self, now: float) -> None:
        """Integrate occupancy up to ``now`` without ending what is in progress (end of run)."""
        if self.busy and now > self.t0:
            self._integrate(now)
            self.window = max(self.window, now)

    def jobs(self) -> list[Job]:
        """Every request on the replica (decoding, prefilling, preempted), oldest first."""
        return sorted([*self.running.values(), *self.prefilling, *self.resume], key=lambda j: j.start)


__all__ = ["Batcher", "Job", "Source", "chunk_quad_s", "iteration_s"]
