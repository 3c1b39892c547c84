"""When the scheduler decides (``scheduler.latency``, docs/scheduling-latency.md).

Built only when a scenario asks for it; without it nothing here runs and the job path is as
before. It adds, in simulated seconds:

- a *decision delay* before a new job's first placement attempt (``delay``, a distribution),
  then rounded up to the next multiple of ``cycle`` when one is given;
- *scheduling cycles*: with ``cycle``, a dispatch that an event (a job finishing, a node
  becoming ready) asks for runs at the next multiple of ``cycle`` instead of at once;
- a *retry backoff* for a job that was tried and did not fit: it is not tried again before
  ``initial`` x 2^(failures - 1) s (at most ``max``) have passed, as kube-scheduler's backoff
  queue; an event during the backoff makes it try when the backoff ends.

There is no unschedulable flush (kube-scheduler's podMaxInUnschedulablePodsDuration, 5 min): it
is the safety net for cluster events the scheduler missed, and here every change of capacity is
an event that tries the waiting jobs again (after their backoff), so it would change nothing.

Under ``backfill`` the backoff holds the head of the queue only; jobs backfilled past it are
placed when they fit, as today.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import simpy
from simpy.events import Timeout

from swarmsim.scenario.scheduler import LatencySpec
from swarmsim.world.clock import Fired
from swarmsim.world.job import Job
from swarmsim.world.node import Region
from swarmsim.world.ports import ReplicaPlacer
from swarmsim.world.scheduler import Scheduler

_EPS = 1e-9
_BATCH = 4096  # decision delays drawn per numpy call


class SchedulingLatency:
    """The latency model of one run. It takes over the scheduler's ``dispatch`` (replaced on that
    instance only: without a latency model the scheduler is untouched) and delays first decisions
    through :meth:`deferred`. ``services`` gives the run's services once they exist."""

    def __init__(self, env: simpy.Environment, spec: LatencySpec, rng: np.random.Generator,
                 scheduler: Scheduler,
                 services: Callable[[], ReplicaPlacer | None]) -> None:
        self.env = env
        self.cycle = spec.cycle
        self.delay = spec.delay
        self.initial = spec.backoff.initial if spec.backoff is not None else 0.0
        self.max_backoff = spec.backoff.max if spec.backoff is not None else 0.0
        self.rng = rng
        self.dispatch_now = scheduler.dispatch  # the scheduler's own, bound before it is replaced
        self.blocking = scheduler.blocking
        self.services = services
        scheduler.dispatch = self.dispatch  # type: ignore[method-assign]  # deadlines wrap the scheduler's dispatch on purpose
        self.failures: dict[int, int] = {}  # job id -> failed attempts so far
        self.not_before: dict[int, float] = {}  # job id -> end of its backoff, s
        self.failed_attempts = 0  # attempts that found no room, all jobs
        self.decision_delay_s = 0.0  # sum over jobs of arrival -> first decision, s
        self.decisions = 0  # first decisions made
        self.events = 0  # SimPy events this model processed (delayed decisions, wakes)
        self._wakes: set[tuple[int, float]] = set()
        self._draws: list[float] = []

    # --- first decisions -------------------------------------------------------------------

    def decision_time(self, now: float) -> float:
        """When a job arriving at ``now`` s is first considered, s."""
        t = now
        if self.delay is not None:
            if not self._draws:
                self._draws = self.delay.sample(self.rng, _BATCH).tolist()[::-1]
            t += self._draws.pop()
        if self.cycle is not None:
            t = self._boundary(t)
        return t

    def deferred(self, route: Callable[[Job], None]) -> Callable[[Job], None]:
        """``route`` called at each job's decision time instead of at its arrival."""
        env = self.env

        def on_decision(event: Fired) -> None:
            self.events += 1
            route(event.value)

        def route_later(job: Job) -> None:
            now = env.now
            t = self.decision_time(now)
            self.decisions += 1
            self.decision_delay_s += t - now
            if t <= now:
                route(job)
            else:
                Timeout(env, t - now, job).callbacks.append(on_decision)

        return route_later

    # --- dispatch --------------------------------------------------------------------------

    def _boundary(self, t: float) -> float:
        cycle = self.cycle
        assert cycle is not None
        return math.ceil(t / cycle - _EPS) * cycle

    def _wake(self, region: Region, t: float) -> None:
        """Dispatch ``region`` again at ``t`` s (once per region and time)."""
        key = (region.index, t)
        if key in self._wakes:
            return
        self._wakes.add(key)

        def wake(_: Timeout) -> None:
            self.events += 1
            self._wakes.discard(key)
            self.dispatch(region)

        Timeout(self.env, max(t - self.env.now, 0.0)).callbacks.append(wake)

    def _fail(self, job: Job, now: float) -> None:
        """A job was tried at ``now`` and did not fit: back it off."""
        k = self.failures.get(job.id, 0) + 1
        self.failures[job.id] = k
        self.failed_attempts += 1
        if self.initial > 0:
            self.not_before[job.id] = now + min(self.initial * 2.0 ** min(k - 1, 64), self.max_backoff)

    def dispatch(self, region: Region) -> None:
        """The scheduler's dispatch at the model's times: at cycle boundaries, and without the
        jobs whose backoff has not ended (each one that is tried and does not fit backs off)."""
        now = self.env.now
        if self.cycle is not None:
            at = self._boundary(now)
            if at > now + _EPS:
                self._wake(region, at)
                return
        queue = region.queue
        if not queue:
            self.dispatch_now(region)
            return
        not_before = self.not_before
        if self.blocking:
            head: Job = queue[0]
            nb = not_before.get(head.id)
            if nb is not None and nb > now + _EPS:
                self._wake(region, nb)
                services = self.services()
                if services:
                    services.place(region)
                return
            self.dispatch_now(region)
            if queue:
                self._fail(queue[0], now)
            return
        eligible: list[tuple[float, int, Job]] = []
        held: list[tuple[float, int, Job]] = []
        for entry in queue:
            nb = not_before.get(entry[2].id)
            (held if nb is not None and nb > now + _EPS else eligible).append(entry)
        if held:
            self._wake(region, min(not_before[e[2].id] for e in held))
        region.queue = eligible
        self.dispatch_now(region)
        left = region.queue
        for entry in left:
            self._fail(entry[2], now)
        region.queue = sorted([*left, *held], key=lambda e: (e[0], e[1])) if held else left
