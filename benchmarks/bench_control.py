"""The cost of the control loop: the 5-region, 2,000-node benchmark of bench_core.py, run with
a static fleet and with combined-all's three policies (target tracking, upgrade-on-demand,
expand-on-latency) deciding every 15 s.

Issue target: the policy run stays within 1.5x of the static run's time. Each run builds the
world and times ``World.run`` (what ``summary["wall_time_s"]`` reports), in wall-clock and in
this process's CPU time (less sensitive to other work on a shared machine). Runs alternate
(static, replay, least, policies, static, ...) so that machine noise hits all alike, and ratios of the
medians are reported.

The policies change the fleet (target tracking adds and removes thousands of nodes), so the
policy run's world does more work than the static one: more node events, different queues.
To tell that work from the control loop's own cost, a third run, the *replay*, applies the
policy run's actions (same instants, same order, through the same ``Controller.apply``) to a
world without policies: no ticks, no views, no decisions, no view bookkeeping. The replay is
checked to reproduce the policy run's jobs exactly, and three ratios are printed:

- ``policies / static``: the issue's figure, all included;
- ``policies / replay``: the control loop's own overhead (ticks, views and the incremental
  counters behind them, decisions), on the same world work;
- ``replay / static``: the extra world work that the policies' fleet changes cause;
- ``least / static``: a fourth run, the replay plus ``least_loop`` (a tick every 15 s that does
  only the HPA formula on each region's managed pool): the least any implementation of the
  loop can cost in this engine, so the room the 1.5x target leaves for everything else.

    python benchmarks/bench_control.py                 # 1,000,000 jobs, 2 rounds
    python benchmarks/bench_control.py --jobs 250000 --pairs 3
    python benchmarks/bench_control.py --jobs 250000 --breakdown   # per-tick cost of each part
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import simpy

from swarmsim.metrics.frames import jobs_frame
from swarmsim.policies.protocol import declared_reads
from swarmsim.scenario import load_scenario
from swarmsim.world.controller import Controller
from swarmsim.world.world import World, build_world, run_world

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_core import regions_scenario

POLICIES = [
    {"kind": "horizontal", "strategy": "target-tracking", "interval": "15s", "min_nodes": 10},
    {"kind": "vertical", "strategy": "upgrade-on-demand", "interval": "15s"},
    {"kind": "geographic", "strategy": "expand-on-latency", "interval": "15s"},
]

#: One applied action: (simulated time s, policy label, action object).
Step = tuple[float, str, Any]


class Timed(NamedTuple):
    """One timed run of ``World.run``."""

    wall_s: float  # wall-clock time, s (as ``summary["wall_time_s"]``)
    cpu_s: float  # CPU time of this process over the same span, s (less sensitive to a busy machine)
    events: int  # SimPy events the world counted
    actions: int  # rows of the actions table
    jobs: Any  # the jobs frame, built after the timing (None unless asked for)


def least_loop(world: World, interval_s: float = 15.0, target: float = 0.7) -> Iterator[simpy.Event]:
    """The least a target-tracking loop at ``interval_s`` must do, as combined-all's runs it:
    wake every interval and, per region, pick the managed pool (the node type with the most
    billed nodes) and put its utilization into the HPA formula, desired = ceil(nodes x
    utilization / target), with the tolerance test. No view, no stabilization window, no rate
    limit, no action, no other policy, no world bookkeeping for views: a lower bound on the
    cost of any implementation of the loop in this engine."""
    regions = [list(region.pools) for region in world.regions]
    env = world.env
    ceil = math.ceil
    wanted = 0  # the desired counts, summed only so that each is computed and kept
    while True:
        yield env.timeout(interval_s)
        for pools in regions:
            managed, most = pools[0], -1
            for pool in pools:
                nodes = len(pool.provisioning) + len(pool.nodes) + len(pool.draining)
                if nodes > most:
                    managed, most = pool, nodes
            ready = managed.free_gpus + managed.busy_gpus
            if ready:
                ratio = managed.busy_gpus / ready / target
                if abs(ratio - 1.0) > 0.1:
                    wanted += ceil(most * ratio)


def timed(jobs: int, policies: list[dict[str, Any]], steps: list[Step] | None = None,
          frame: bool = False, least: bool = False) -> Timed:
    """Build the benchmark's world with ``policies`` and run it, timed. With ``steps`` (and no
    policies), a replay: one SimPy timeout per instant that has actions, each applied through
    ``Controller.apply`` as the policy run did. With ``least`` as well, the replay plus
    ``least_loop``."""
    world = build_world(load_scenario(dict(regions_scenario(jobs), policies=policies)))
    if least:
        world.env.process(least_loop(world))
    if steps is not None:
        controller = Controller(world)  # no policies: only the bookkeeping of actions

        def feed() -> Iterator[simpy.Event]:
            env = world.env
            for time_s, policy, action in steps:
                if time_s > env.now:
                    yield env.timeout(time_s - env.now)
                controller.apply(policy, action)

        world.env.process(feed())
    cpu = time.process_time()
    recorder, wall_s = run_world(world)
    cpu_s = time.process_time() - cpu
    return Timed(wall_s, cpu_s, world.events, len(recorder.actions), jobs_frame(recorder) if frame else None)


def record(jobs: int) -> list[Step]:
    """Run with the policies once (not timed), capturing every action as it is applied."""
    steps: list[Step] = []
    apply = Controller.apply

    def recording(self: Controller, policy: str, action: Any) -> None:
        steps.append((self.world.env.now, policy, action))
        apply(self, policy, action)

    Controller.apply = recording  # type: ignore[method-assign]
    try:
        timed(jobs, POLICIES)
    finally:
        Controller.apply = apply  # type: ignore[method-assign]
    return steps


def breakdown(jobs: int) -> None:
    """Run with the policies once more, timing each part of every tick with ``perf_counter``:
    getting the view (with the fields the policies declare in ``reads``; the others cost where
    they are read), each policy's ``decide`` (including the undeclared view fields it reads),
    sealing kept views and applying actions.
    The timers add about 1 us per part and tick; compare parts, not the total, with the runs."""
    parts: dict[str, float] = {"view": 0.0, "seal": 0.0, "apply": 0.0}
    ticks = [0]
    clock = time.perf_counter

    def loop(self: Controller, interval: float, members: list[int]) -> Iterator[simpy.Event]:
        group = [(label, policy) for label, policy, _ in (self.policies[i] for i in members)]
        env = self.world.env
        declared = [declared_reads(type(policy)) for _, policy in group]  # as Controller._loop
        prefetch = self.views.plan(frozenset().union(*(r for r in declared if r is not None)))
        for label, _ in group:
            parts.setdefault(label, 0.0)
        while True:
            yield env.timeout(interval)
            ticks[0] += 1
            self.world.events += len(group)
            for label, policy in group:
                t0 = clock()
                view = self.view(prefetch)
                t1 = clock()
                actions = policy.decide(view)
                t2 = clock()
                self.views.seal(view, 2)
                del view
                t3 = clock()
                for action in actions:
                    self.apply(label, action)
                t4 = clock()
                parts["view"] += t1 - t0
                parts[label] += t2 - t1
                parts["seal"] += t3 - t2
                parts["apply"] += t4 - t3

    original = Controller._loop
    Controller._loop = loop  # type: ignore[method-assign]
    try:
        run = timed(jobs, POLICIES)
    finally:
        Controller._loop = original  # type: ignore[method-assign]
    n = max(ticks[0], 1)
    print(f"breakdown at {jobs:,} jobs: World.run {run.wall_s:.2f} s, {ticks[0]:,} ticks of 15 s (per tick, "
          "all three policies): " + ", ".join(f"{k} {v / n * 1e6:.1f} us" for k, v in parts.items())
          + f"; loop total {sum(parts.values()) / n * 1e6:.1f} us")


def ratios(kind: str, t: dict[str, float]) -> str:
    """The ratios of one measure (wall or CPU) between the runs."""
    return (f"{kind} policies/static {t['policies'] / t['static']:.2f}, policies/replay "
            f"{t['policies'] / t['replay']:.2f}, replay/static {t['replay'] / t['static']:.2f}, "
            f"least/static {t['least'] / t['static']:.2f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--pairs", type=int, default=2, help="rounds of (static, replay, least, policies)")
    parser.add_argument("--breakdown", action="store_true",
                        help="only time the parts of each tick of the policy run (view, each decide, seal, apply)")
    args = parser.parse_args(argv)
    if args.breakdown:
        breakdown(args.jobs)
        return 0
    steps = record(args.jobs)
    runs: dict[str, list[Timed]] = {"static": [], "replay": [], "least": [], "policies": []}
    same = True
    for i in range(args.pairs):
        got = {
            "static": timed(args.jobs, []),
            "replay": timed(args.jobs, [], steps, frame=i == 0),
            "least": timed(args.jobs, [], steps, least=True),
            "policies": timed(args.jobs, POLICIES, frame=i == 0),
        }
        if i == 0:
            scaled = got["policies"]
            same = got["replay"].jobs.equals(scaled.jobs)
            print(f"replay of {len(steps)} actions reproduces the policy run's {len(scaled.jobs):,} jobs: "
                  f"{'yes' if same else 'NO'}; events: static {got['static'].events:,}, replay "
                  f"{got['replay'].events:,}, policies {scaled.events:,} (a tick per policy and interval), "
                  f"{scaled.actions} actions")
        for name, run in got.items():
            runs[name].append(run._replace(jobs=None))
        wall = {k: r.wall_s for k, r in got.items()}
        cpu = {k: r.cpu_s for k, r in got.items()}
        print(f"round {i + 1}: wall " + ", ".join(f"{k} {v:.2f} s" for k, v in wall.items())
              + f" ({ratios('wall', wall)}); cpu " + " / ".join(f"{v:.2f}" for v in cpu.values())
              + f" s ({ratios('cpu', cpu)})", flush=True)
    for kind in ("wall", "cpu"):
        med = {k: statistics.median(getattr(r, f"{kind}_s") for r in v) for k, v in runs.items()}
        print(f"median {kind}: " + ", ".join(f"{k} {v:.2f} s" for k, v in med.items()) + f": {ratios(kind, med)}")
    print("target: policies/static <= 1.5 (the issue); policies/replay is the control loop's own share; "
          "least/static the least any 15 s target-tracking loop over these pools costs")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
