"""NVIDIA Multi-Instance GPU (MIG): per-GPU partition state, the placement rule and the
free-capacity view, as pure functions and small classes (docs/sharing.md, "MIG").

A MIG GPU (A100, H100) has 7 compute and 8 memory slices. Its *layout* is the set of GPU
instances created on it, each a profile (:mod:`swarmsim.catalog.mig`) at a valid start memory
slice, no two sharing a memory slice; an instance is *busy* (a job holds it) or *free*. The
rule for giving a job an instance of profile ``p`` on a GPU, best tier first:

0. an existing free instance of ``p`` (``TIER_INSTANCE``);
1. a new instance of ``p`` on memory slices no instance occupies, at one of ``p``'s valid
   starts (``TIER_CREATE``; NVIDIA creates a GPU instance without disturbing running ones,
   taken here as instant);
2. only when no instance is busy (the GPU is empty): a new layout holding just ``p``
   (``TIER_RECONFIGURE``), which takes the node type's ``mig_reconfigure`` seconds before the
   job starts. A layout never changes otherwise: a free instance on a busy GPU stays.

A layout is a sorted tuple of ``(start, profile index, busy)``; a node's *state* is
``(GPU model, free milli-CPU, free MiB, sorted layouts)``, so interchangeable nodes are scored
once, as :class:`~swarmsim.world.sharing.SharedNodes` does. :class:`MigNodes` holds the fleet,
:class:`MigPlacement` chooses a node (tier first, then the policy), :class:`MigShapes` is the
fragmentation measure. Nothing here depends on SimPy or on the inflation loop: both
:mod:`swarmsim.world.inflation` and the SimPy world's placement can call it.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

from swarmsim import catalog
from swarmsim.catalog.mig import COMPUTE_SLICES, MigProfile, mig_profiles
from swarmsim.world.sharing import MILLI

DEFAULT_RECONFIGURE_S = 30.0
"""Seconds to change a GPU's MIG layout (assumption, docs/catalog.md: no measured figure found)."""

TIER_INSTANCE, TIER_CREATE, TIER_RECONFIGURE = 0, 1, 2

#: The placement names a MIG fleet accepts (``scheduler.placement``).
MIG_POLICIES = ("first-fit", "random", "best-fit", "worst-fit", "spread", "fgd")

Instance = tuple[int, int, int]  # (start memory slice, profile index, busy 0/1)
Layout = tuple[Instance, ...]  # sorted by start
NodeState = tuple[str, int, int, tuple[Layout, ...]]  # (GPU model, milli-CPU, MiB, sorted layouts)
Step = tuple[Layout, Layout, int]  # one GPU of a plan: (layout before, layout after, tier)
Plan = tuple[Step, ...]


@dataclass(frozen=True, slots=True)
class MigTask:
    """What one MIG job asks for: milli-CPU, MiB and ``count`` instances (each on its own GPU
    of one node) of a profile, named (``profile``, which only GPUs with that profile have) or
    given by its compute slices (``slices``, resolved per GPU model: traces)."""

    cpu: int
    mem: int
    count: int
    slices: int
    profile: str = ""

    @property
    def num_gpu(self) -> int:
        """Instances asked for (0: a CPU-only task)."""
        return self.count

    @property
    def gpu_milli(self) -> float:
        """GPU asked for, milli-GPU: ``count * slices / 7`` of a GPU."""
        return self.count * self.slices * MILLI / COMPUTE_SLICES


def resolve(profiles: tuple[MigProfile, ...], task: MigTask) -> int | None:
    """Index of the task's profile among a GPU model's profiles, None when it has none."""
    for k, p in enumerate(profiles):
        if (p.name == task.profile) if task.profile else (p.compute_slices == task.slices):
            return k
    return None


def slices_for_share(milli: int) -> int:
    """Compute slices of the smallest A100/H100 profile holding a share of ``milli`` milli-GPU
    (1, 2, 3, 4 or 7 slices of 7: the share of a task from a trace)."""
    for g in (1, 2, 3, 4, 7):
        if g * MILLI >= milli * COMPUTE_SLICES:
            return g
    return COMPUTE_SLICES


# --- one GPU ------------------------------------------------------------------------------

def layout_mask(layout: Layout, profiles: tuple[MigProfile, ...]) -> int:
    """Bit mask of the memory slices the layout's instances occupy."""
    m = 0
    for start, k, _ in layout:
        m |= profiles[k].mask(start)
    return m


def is_valid(layout: Layout, profiles: tuple[MigProfile, ...]) -> bool:
    """Whether every instance starts at one of its profile's valid starts and no two share a
    memory slice (the NVIDIA placement rule)."""
    m = 0
    for start, k, busy in layout:
        p = profiles[k]
        if start not in p.starts or busy not in (0, 1) or m & p.mask(start):
            return False
        m |= p.mask(start)
    return list(layout) == sorted(layout)


def busy_slices(layout: Layout, profiles: tuple[MigProfile, ...]) -> int:
    """Compute slices held by busy instances."""
    return sum(profiles[k].compute_slices for _, k, busy in layout if busy)


def idle_slices(layout: Layout, profiles: tuple[MigProfile, ...]) -> int:
    """Compute slices no job holds (free instances and unpartitioned slices)."""
    return COMPUTE_SLICES - busy_slices(layout, profiles)


def is_empty(layout: Layout) -> bool:
    """No instance is busy: the layout may be changed."""
    return not any(busy for _, _, busy in layout)


def gpu_options(layout: Layout, k: int, profiles: tuple[MigProfile, ...]) -> list[tuple[int, Layout]]:
    """The ways to give profile ``k`` an instance on this GPU, all of the best tier available:
    ``(tier, layout after)``; [] when it cannot have one."""
    for inst in layout:
        if inst[1] == k and not inst[2]:
            return [(TIER_INSTANCE, tuple(sorted([i for i in layout if i is not inst] + [(inst[0], k, 1)])))]
    p = profiles[k]
    mask = layout_mask(layout, profiles)
    out = [(TIER_CREATE, tuple(sorted((*layout, (s, k, 1))))) for s in p.starts if not mask & p.mask(s)]
    if out:
        return out
    if layout and is_empty(layout):
        return [(TIER_RECONFIGURE, ((p.starts[0], k, 1),))]
    return []


def release(layout: Layout, start: int, k: int) -> Layout:
    """The layout after the busy instance of profile ``k`` at ``start`` is freed (it stays)."""
    if (start, k, 1) not in layout:
        raise ValueError(f"no busy instance of profile {k} at memory slice {start}: {layout}")
    return tuple(sorted([i for i in layout if i != (start, k, 1)] + [(start, k, 0)]))


@cache
def _fits(model: str, layout: Layout, k: int) -> bool:
    return bool(gpu_options(layout, k, mig_profiles(model)))


def free_view(model: str, layout: Layout) -> dict[str, int]:
    """The free-capacity view of one GPU: per profile name, the best tier at which it can have
    an instance now (``TIER_*``), or -1 when it cannot."""
    profiles = mig_profiles(model)
    out = {}
    for k, p in enumerate(profiles):
        opts = gpu_options(layout, k, profiles)
        out[p.name] = opts[0][0] if opts else -1
    return out


# --- nodes --------------------------------------------------------------------------------

def after(state: NodeState, plan: Plan) -> NodeState:
    """The node state once every step of the plan is applied."""
    model, cpu, mem, layouts = state
    rest = list(layouts)
    for old, new, _ in plan:
        rest.remove(old)
        rest.append(new)
    return (model, cpu, mem, tuple(sorted(rest)))


def node_fragment(state: NodeState, task: MigTask) -> int:
    """Idle compute slices of a node the task cannot use (Weng et al.'s measure, for MIG): all of
    them when the task does not fit the node at all (CPU, memory, no such profile, too few GPUs
    that can give it an instance); else those of the GPUs that cannot."""
    model, cpu, mem, layouts = state
    profiles = mig_profiles(model)
    idle = [idle_slices(lay, profiles) for lay in layouts]
    k = resolve(profiles, task) if task.count else None
    if k is None or task.cpu > cpu or task.mem > mem:
        return sum(idle)
    fits = [_fits(model, lay, k) for lay in layouts]
    if sum(fits) < task.count:
        return sum(idle)
    return sum(i for i, f in zip(idle, fits, strict=True) if not f)


class MigShapes:
    """A distribution of MIG task shapes (``tasks[k]`` with probability ``p[k]``) and the expected
    fragmentation of a node under it, ``F_n(M) = sum_m p_m F_n(m)``, in milli-GPU."""

    def __init__(self, tasks: list[MigTask], weights: list[float], source: str) -> None:
        keep = [(t, w) for t, w in zip(tasks, weights, strict=True) if t.count > 0 and w > 0]
        if not keep:
            raise ValueError("a distribution of task shapes needs at least one task with GPUs")
        total = float(sum(w for _, w in keep))
        self.tasks = [t for t, _ in keep]
        self.p = [w / total for _, w in keep]
        self.source = source
        self._memo: dict[NodeState, float] = {}

    @classmethod
    def of(cls, tasks: Iterable[MigTask], source: str) -> MigShapes:
        """The empirical distribution of a list of tasks."""
        counts = Counter(tasks)
        return cls(list(counts), [float(c) for c in counts.values()], source)

    def __len__(self) -> int:
        return len(self.tasks)

    def node(self, state: NodeState) -> float:
        """``F_n(M)`` of a node in ``state``, milli-GPU (memoised)."""
        got = self._memo.get(state)
        if got is None:
            slices = sum(p * node_fragment(state, t) for t, p in zip(self.tasks, self.p, strict=True))
            got = self._memo[state] = slices * MILLI / COMPUTE_SLICES
        return got


@dataclass(frozen=True, slots=True)
class Grant:
    """What a placed task holds: its node, ``(GPU, start, profile index)`` per instance, the
    seconds of reconfiguration before it can start, and its speed relative to the reference
    GPU (the GPU's ``train_speed`` times the profile's fraction of the GPU)."""

    node: int
    task: MigTask
    instances: tuple[tuple[int, int, int], ...]
    delay_s: float
    speed: float
    profile: str = ""


class MigNodes:
    """Every node of a MIG fleet: GPU model, per-GPU layouts, free CPU and memory, grouped by
    state (see :class:`~swarmsim.world.sharing.SharedNodes`). ``reconfigure_s[i]``: seconds a
    layout change takes on node ``i``."""

    def __init__(self, models: list[str], gpus: list[int], cpu_cap: list[int], mem_cap: list[int],
                 reconfigure_s: list[float]) -> None:
        for m in set(models):
            if not mig_profiles(m):
                raise ValueError(f"{m} has no MIG profiles in the catalog")
        self.models, self.gpus = list(models), list(gpus)
        self.cpu_cap, self.mem_cap = list(cpu_cap), list(mem_cap)
        self.reconfigure_s = list(reconfigure_s)
        self.cpu, self.mem = list(cpu_cap), list(mem_cap)
        self.layouts: list[list[Layout]] = [[()] * g for g in gpus]
        self.total_milli = MILLI * sum(gpus)
        self.busy = 0  # compute slices held by jobs, fleet-wide
        self.reconfigurations = 0
        self.reconfigure_total_s = 0.0
        self._ids: dict[tuple, int] = {}
        self.states: list[NodeState] = []
        self.caps: list[tuple[int, int, int]] = []
        self.of: list[int] = []
        self.groups: dict[int, set[int]] = {}
        for i in range(len(gpus)):
            sid = self._intern(i)
            self.of.append(sid)
            self.groups.setdefault(sid, set()).add(i)

    def __len__(self) -> int:
        return len(self.gpus)

    @property
    def allocated_milli(self) -> float:
        """GPU held by jobs, milli-GPU (a busy instance counts by its compute slices / 7)."""
        return self.busy * MILLI / COMPUTE_SLICES

    def state(self, i: int) -> NodeState:
        return (self.models[i], self.cpu[i], self.mem[i], tuple(sorted(self.layouts[i])))

    def _intern(self, i: int) -> int:
        key = (self.state(i), (self.cpu_cap[i], self.mem_cap[i], self.gpus[i]))
        sid = self._ids.get(key)
        if sid is None:
            sid = self._ids[key] = len(self.states)
            self.states.append(key[0])
            self.caps.append(key[1])
        return sid

    def _moved(self, i: int) -> None:
        sid = self.of[i]
        group = self.groups[sid]
        group.discard(i)
        if not group:
            del self.groups[sid]
        new = self._intern(i)
        self.of[i] = new
        self.groups.setdefault(new, set()).add(i)

    def take(self, i: int, task: MigTask, plan: Plan) -> Grant:
        """Apply a plan (from :class:`MigPlacement`) to node ``i``; ValueError if it breaks a rule
        (CPU, memory, a layout change on a busy GPU, an invalid placement)."""
        if task.cpu > self.cpu[i] or task.mem > self.mem[i]:
            raise ValueError(f"node {i}: the task's CPU or memory does not fit")
        if len(plan) != task.count:
            raise ValueError(f"node {i}: the plan gives {len(plan)} instances, the task asks {task.count}")
        profiles = mig_profiles(self.models[i])
        lays = self.layouts[i]
        used: set[int] = set()
        instances = []
        delay = 0.0
        for old, new, tier in plan:
            j = next((j for j, lay in enumerate(lays) if lay == old and j not in used), None)
            if j is None:
                raise ValueError(f"node {i}: no GPU with layout {old}")
            added = [x for x in new if x not in old]
            if len(added) != 1 or added[0][2] != 1 or not is_valid(new, profiles):
                raise ValueError(f"node {i}: {old} -> {new} does not start one instance validly")
            if tier == TIER_RECONFIGURE:
                if not is_empty(old):
                    raise ValueError(f"node {i}, GPU {j}: a layout changes only when the GPU is empty")
                delay = max(delay, self.reconfigure_s[i])
                self.reconfigurations += 1
                self.reconfigure_total_s += self.reconfigure_s[i]
            elif [x for x in old if x not in new] not in ([], [(added[0][0], added[0][1], 0)]):
                raise ValueError(f"node {i}, GPU {j}: {old} -> {new} removes instances")
            lays[j] = new
            used.add(j)
            instances.append((j, added[0][0], added[0][1]))
            self.busy += profiles[added[0][1]].compute_slices
        self.cpu[i] -= task.cpu
        self.mem[i] -= task.mem
        self._moved(i)
        speed = catalog.find_gpu(self.models[i]).train_speed  # type: ignore[union-attr]  # a node's GPU model is a validated catalog GPU
        name = ""
        if instances:
            speed *= min(profiles[k].speed for _, _, k in instances)
            name = profiles[instances[0][2]].name
        return Grant(i, task, tuple(instances), delay, speed, name)

    def release(self, grant: Grant) -> None:
        """Free what a grant holds (its instances stay in their layouts, free)."""
        i = grant.node
        profiles = mig_profiles(self.models[i])
        for j, start, k in grant.instances:
            self.layouts[i][j] = release(self.layouts[i][j], start, k)
            self.busy -= profiles[k].compute_slices
        self.cpu[i] += grant.task.cpu
        self.mem[i] += grant.task.mem
        self._moved(i)

    def figures(self) -> dict[str, float | int]:
        """Extra timeseries columns of a MIG run."""
        return {"mig_reconfigurations": self.reconfigurations}

    def check(self) -> None:
        """AssertionError unless every layout is valid (no memory slice used twice, valid starts),
        CPU and memory within the node's and the busy slices add up."""
        busy = 0
        for i, lays in enumerate(self.layouts):
            profiles = mig_profiles(self.models[i])
            for lay in lays:
                assert is_valid(lay, profiles), (i, lay)
                busy += busy_slices(lay, profiles)
            assert 0 <= self.cpu[i] <= self.cpu_cap[i], (i, self.cpu[i])
            assert 0 <= self.mem[i] <= self.mem_cap[i], (i, self.mem[i])
        assert busy == self.busy, (busy, self.busy)


Key = tuple[float, ...]


class MigPlacement:
    """Choose a node and a plan for a MIG task: the best tier fleet-wide first (an existing free
    instance, then a new instance on free slices, then a reconfigured empty GPU), then the
    policy: ``first-fit`` (lowest node id), ``random``, ``best-fit`` (fewest idle slices left on
    the node), ``worst-fit``/``spread`` (most), ``fgd`` (least growth of :class:`MigShapes`)."""

    def __init__(self, name: str, nodes: MigNodes, shapes: MigShapes, seed: int = 0) -> None:
        if name not in MIG_POLICIES:
            raise ValueError(f"placement {name!r} is not defined for MIG fleets; use one of "
                             f"{', '.join(MIG_POLICIES)}")
        self.name = name
        self.shapes = shapes
        self.rng = random.Random(seed)
        self._memo: dict[MigTask, dict[int, tuple[Key, Plan] | None]] = {}

    def relearn(self, shapes: MigShapes) -> None:
        """Use a new distribution of task shapes (FGD's scores change: the memo is dropped)."""
        self.shapes = shapes
        if self.name == "fgd":
            self._memo.clear()

    def choose(self, nodes: MigNodes, task: MigTask) -> tuple[int, Plan] | None:
        """(node, plan) for the task, or None when no node can take it now."""
        memo = self._memo.setdefault(task, {})
        best: Key | None = None
        tied: list[int] = []
        for sid in nodes.groups:
            if sid not in memo:
                memo[sid] = self._score(nodes.states[sid], task)
            r = memo[sid]
            if r is None:
                continue
            if best is None or r[0] < best:
                best, tied = r[0], [sid]
            elif r[0] == best:
                tied.append(sid)
        if not tied:
            return None
        groups = nodes.groups
        if self.name == "first-fit":
            sid = min(tied, key=lambda s: min(groups[s]))
            return min(groups[sid]), memo[sid][1]  # type: ignore[index]  # the memo holds a score for every tied state, none of them None
        pick = self.rng.randrange(sum(len(groups[s]) for s in tied))
        for sid in tied:
            if pick < len(groups[sid]):
                return sorted(groups[sid])[pick], memo[sid][1]  # type: ignore[index]  # the memo holds a score for every tied state, none of them None
            pick -= len(groups[sid])
        raise AssertionError("unreachable")  # pragma: no cover

    def _score(self, state: NodeState, task: MigTask) -> tuple[Key, Plan] | None:
        model, cpu, mem, layouts = state
        if task.cpu > cpu or task.mem > mem:
            return None
        if task.count == 0:
            return (0.0, 0.0), ()
        profiles = mig_profiles(model)
        k = resolve(profiles, task)
        if k is None:
            return None
        # Candidate steps per GPU (each distinct layout once, with how many GPUs have it).
        distinct: list[list[Step]] = []
        per_gpu: list[list[Step]] = []
        for lay, n in Counter(layouts).items():
            steps = [(lay, new, tier) for tier, new in gpu_options(lay, k, profiles)]
            if steps:
                distinct.append(steps)
                per_gpu += [steps] * n
        if len(per_gpu) < task.count:
            return None
        sign = -1.0 if self.name in ("worst-fit", "spread") else 1.0
        fgd = self.name == "fgd"
        before = self.shapes.node(state) if fgd else 0.0

        def key(plan: Plan) -> Key:
            tier = float(max(t for _, _, t in plan))
            if fgd:
                return tier, self.shapes.node(after(state, plan)) - before
            if self.name in ("best-fit", "worst-fit", "spread"):
                idle = sum(idle_slices(lay, profiles) for lay in after(state, plan)[3])
                return tier, sign * idle
            return tier, 0.0

        plans: list[Plan]
        if task.count == 1:
            plans = [(s,) for steps in distinct for s in steps]
        else:  # each GPU's first option, the GPUs of the best tiers
            firsts = sorted(per_gpu, key=lambda steps: steps[0][2])
            plans = [tuple(steps[0] for steps in firsts[: task.count])]
        scored = [(key(p), p) for p in plans]
        return min(scored, key=lambda kp: kp[0])
