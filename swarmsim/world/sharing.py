"""Shared GPUs: per-GPU free shares, CPU and memory per node, and the tasks that ask for them.

A GPU's capacity is 1000 milli-GPU (the Alibaba 2023 trace's unit). A *task* asks for
``cpu`` milli-CPU, ``mem`` MiB and either no GPU, a fraction of one GPU (``num_gpu == 1`` and
``milli < 1000``) or ``num_gpu`` whole GPUs (``milli == 1000``), as in Weng et al. (ATC '23).
A fractional task occupies part of one GPU; a whole-GPU task takes fully free GPUs.

:class:`SharedNodes` holds every node's free capacity and groups nodes by *state*: two nodes
with the same free CPU, free memory and multiset of free GPU shares (and, when tracked, the same
set of task shapes running) on nodes of the same capacity are interchangeable to every placement
policy, so a policy scores
each distinct state once (:mod:`swarmsim.world.placement`). States are interned to small ints.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

MILLI = 1000  # milli-GPU in one GPU

#: A node state: (free milli-CPU, free MiB, free milli-GPU of each GPU sorted ascending).
State = tuple[int, int, tuple[int, ...]]


@dataclass(frozen=True, slots=True)
class Task:
    """What one task asks for: milli-CPU, MiB, GPUs and milli-GPU per GPU."""

    cpu: int
    mem: int
    num_gpu: int
    milli: int

    @property
    def gpu_milli(self) -> int:
        """Total milli-GPU asked for (a share counts by its share)."""
        return self.num_gpu * self.milli

    @property
    def fractional(self) -> bool:
        return self.num_gpu == 1 and self.milli < MILLI


def options(state: State, task: Task) -> list[int]:
    """The ways the task fits a node in ``state``: for a fractional task, each distinct free
    share (milli) of a GPU it can go on; ``[MILLI]`` for a task of whole GPUs (it takes fully
    free GPUs); ``[0]`` for a task without GPUs; ``[]`` when it does not fit."""
    cpu, mem, gpus = state
    if task.cpu > cpu or task.mem > mem:
        return []
    if task.num_gpu == 0:
        return [0]
    if task.fractional:
        out = []
        last = -1
        for v in gpus:
            if v >= task.milli and v != last:
                out.append(v)
                last = v
        return out
    full = len(gpus) - _first_full(gpus)
    return [MILLI] if full >= task.num_gpu else []


def _first_full(gpus: tuple[int, ...]) -> int:
    """Index of the first fully free GPU in a sorted tuple (len when none)."""
    n = len(gpus)
    i = n
    while i > 0 and gpus[i - 1] == MILLI:
        i -= 1
    return i


def after(state: State, task: Task, option: int) -> State:
    """The state of a node after the task goes on it by ``option`` (see :func:`options`)."""
    cpu, mem, gpus = state
    if task.num_gpu == 0:
        return (cpu - task.cpu, mem - task.mem, gpus)
    g = list(gpus)
    if task.fractional:
        g[g.index(option)] = option - task.milli
    else:
        start = len(g) - task.num_gpu
        for i in range(start, len(g)):
            g[i] = 0
    g.sort()
    return (cpu - task.cpu, mem - task.mem, tuple(g))


class SharedNodes:
    """Free capacity of every node of a sharing fleet, grouped by state.

    ``cpu_cap[i]`` milli-CPU, ``mem_cap[i]`` MiB, ``gpus[i]`` GPUs of node ``i``; ``free[i]``
    is the list of free milli-GPU per GPU (index = GPU number on the node). With
    ``track_shapes`` (GPU-clustering), a node's state also carries the set of task shapes
    running on it."""

    def __init__(self, cpu_cap: list[int], mem_cap: list[int], gpus: list[int], *, track_shapes: bool = False) -> None:
        self.cpu_cap = list(cpu_cap)
        self.mem_cap = list(mem_cap)
        self.gpus = list(gpus)
        self.cpu = list(cpu_cap)
        self.mem = list(mem_cap)
        self.free = [[MILLI] * g for g in gpus]
        self.track_shapes = track_shapes
        self.shapes: list[Counter[tuple[int, int]]] = [Counter() for _ in gpus]
        self.total_milli = MILLI * sum(gpus)
        self.allocated_milli = 0
        self._ids: dict[tuple, int] = {}
        self.states: list[State] = []  # interned state id -> state
        self.tags: list[frozenset[tuple[int, int]]] = []  # interned id -> task shapes running
        self.caps: list[tuple[int, int, int]] = []  # interned id -> (milli-CPU, MiB, GPUs) of the node
        self.of: list[int] = []  # node -> state id
        self.groups: dict[int, set[int]] = {}  # state id -> nodes in it
        for i in range(len(gpus)):
            sid = self._intern(i, frozenset())
            self.of.append(sid)
            self.groups.setdefault(sid, set()).add(i)

    def __len__(self) -> int:
        return len(self.gpus)

    # --- a fleet that changes (the SimPy world: nodes come, go, and free their shares) ---------

    def add(self, cpu: int, mem: int, gpus: int) -> int:
        """A new, empty node of ``cpu`` milli-CPU, ``mem`` MiB and ``gpus`` GPUs; its index."""
        i = len(self.gpus)
        self.cpu_cap.append(cpu)
        self.mem_cap.append(mem)
        self.gpus.append(gpus)
        self.cpu.append(cpu)
        self.mem.append(mem)
        self.free.append([MILLI] * gpus)
        self.shapes.append(Counter())
        self.total_milli += MILLI * gpus
        sid = self._intern(i, frozenset())
        self.of.append(sid)
        self.groups.setdefault(sid, set()).add(i)
        return i

    def leave(self, i: int) -> None:
        """Node ``i`` takes no more tasks (draining, down): out of its group, so no policy sees
        it; what runs there keeps its shares until :meth:`give` frees them."""
        group = self.groups.get(self.of[i])
        if group is not None and i in group:
            group.discard(i)
            if not group:
                del self.groups[self.of[i]]

    def join(self, i: int) -> None:
        """Node ``i`` takes tasks again (after :meth:`leave`)."""
        self.groups.setdefault(self.of[i], set()).add(i)

    def give(self, i: int, task: Task, taken: list[int]) -> None:
        """A task that :meth:`take` put on node ``i`` (on GPUs ``taken``) ends: its shares,
        CPU and memory are free again."""
        free = self.free[i]
        share = task.milli if task.fractional else MILLI
        for j in taken:
            free[j] += share
            if free[j] > MILLI:
                raise ValueError(f"node {i}: GPU {j} would have {free[j]} milli free, more than one GPU")
        self.cpu[i] += task.cpu
        self.mem[i] += task.mem
        self.allocated_milli -= task.gpu_milli
        tag = self.tags[self.of[i]]
        if self.track_shapes and task.num_gpu:
            shape = (task.num_gpu, task.milli)
            self.shapes[i][shape] -= 1
            if not self.shapes[i][shape]:
                del self.shapes[i][shape]
            tag = frozenset(self.shapes[i])
        self._move(i, tag)

    def _move(self, i: int, tag: frozenset[tuple[int, int]]) -> None:
        """Node ``i``'s free capacity changed: into the group of its new state (if it was in one)."""
        sid = self.of[i]
        group = self.groups.get(sid)
        listed = group is not None and i in group
        if listed:
            group.discard(i)  # type: ignore[union-attr]  # listed implies group is not None
            if not group:
                del self.groups[sid]
        new = self._intern(i, tag)
        self.of[i] = new
        if listed:
            self.groups.setdefault(new, set()).add(i)

    def _state(self, i: int) -> State:
        return (self.cpu[i], self.mem[i], tuple(sorted(self.free[i])))

    def _intern(self, i: int, tag: frozenset[tuple[int, int]]) -> int:
        state = self._state(i)
        cap = (self.cpu_cap[i], self.mem_cap[i], self.gpus[i])
        key = (state, cap, tag)
        sid = self._ids.get(key)
        if sid is None:
            sid = self._ids[key] = len(self.states)
            self.states.append(state)
            self.tags.append(tag)
            self.caps.append(cap)
        return sid

    def take(self, i: int, task: Task, option: int) -> list[int]:
        """Put the task on node ``i`` by ``option``; returns the GPU numbers it took.

        Raises ValueError when it does not fit (so no policy can overcommit a node)."""
        if task.cpu > self.cpu[i] or task.mem > self.mem[i]:
            raise ValueError(f"node {i}: the task's CPU or memory does not fit")
        free = self.free[i]
        taken: list[int] = []
        if task.fractional:
            j = free.index(option)  # the lowest-numbered GPU with that free share
            if free[j] < task.milli:
                raise ValueError(f"node {i}: GPU {j} has {free[j]} milli free, the task asks {task.milli}")
            free[j] -= task.milli
            taken = [j]
        elif task.num_gpu:
            taken = [j for j, v in enumerate(free) if v == MILLI][: task.num_gpu]
            if len(taken) < task.num_gpu:
                raise ValueError(f"node {i}: {len(taken)} fully free GPUs, the task asks {task.num_gpu}")
            for j in taken:
                free[j] = 0
        self.cpu[i] -= task.cpu
        self.mem[i] -= task.mem
        self.allocated_milli += task.gpu_milli
        sid = self.of[i]
        tag = self.tags[sid]
        if self.track_shapes and task.num_gpu:
            self.shapes[i][(task.num_gpu, task.milli)] += 1
            tag = frozenset(self.shapes[i])
        self._move(i, tag)
        return taken

    def check(self) -> None:
        """AssertionError unless every GPU's allocated share is within 0..1 and CPU and memory
        within 0..the node's capacity (the conservation laws)."""
        for i, free in enumerate(self.free):
            assert all(0 <= v <= MILLI for v in free), (i, free)
            assert 0 <= self.cpu[i] <= self.cpu_cap[i], (i, self.cpu[i])
            assert 0 <= self.mem[i] <= self.mem_cap[i], (i, self.mem[i])
        assert self.allocated_milli == self.total_milli - sum(sum(f) for f in self.free)
        for sid, group in self.groups.items():
            for i in group:
                assert self.of[i] == sid and self.states[sid] == self._state(i), (i, sid)
