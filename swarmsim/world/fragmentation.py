"""The fragmentation measure of Weng et al., "Beware of Fragmentation" (USENIX ATC '23), §3.

For a node ``n`` and a task shape ``m`` (milli-CPU, MiB, GPUs, milli-GPU per GPU), the GPU
capacity of ``n`` that ``m`` cannot use, in milli-GPU:

- if ``m`` cannot run on ``n`` at all (too little free CPU or memory, or no GPU with enough
  free share, or too few fully free GPUs): every free share on ``n`` is a fragment;
- otherwise, the free shares of the GPUs that hold less than ``m`` asks per GPU (for a task of
  whole GPUs, every partly used GPU's free share).

The node's fragmentation for a workload is the expectation over its distribution of task
shapes ``M`` (probabilities ``p_m``): ``F_n(M) = sum_m p_m F_n(m)``; the cluster's is the sum
over nodes. Tasks without GPUs are left out of ``M`` (for them every idle GPU would be a
fragment on every node: a constant that changes no decision). FGD places a task where
``F_n(M)`` grows least (:mod:`swarmsim.world.placement`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import numpy as np

from swarmsim.world.sharing import MILLI, State, Task


class Shapes:
    """A distribution of task shapes: ``tasks[k]`` with probability ``p[k]`` (sums to 1).

    ``source`` says where it came from (written into the run folder)."""

    def __init__(self, tasks: list[Task], weights: list[float], source: str) -> None:
        keep = [(t, w) for t, w in zip(tasks, weights, strict=True) if t.num_gpu > 0 and w > 0]
        if not keep:
            raise ValueError("a distribution of task shapes needs at least one task with GPUs")
        total = float(sum(w for _, w in keep))
        self.tasks = [t for t, _ in keep]
        self.p = np.array([w / total for _, w in keep])
        self.source = source
        self.cpu = np.array([t.cpu for t in self.tasks], dtype=np.int64)
        self.mem = np.array([t.mem for t in self.tasks], dtype=np.int64)
        self.num = np.array([t.num_gpu for t in self.tasks], dtype=np.int64)
        self.milli = np.array([t.milli for t in self.tasks], dtype=np.int64)
        self.frac = (self.num == 1) & (self.milli < MILLI)
        self._memo: dict[State, float] = {}

    @classmethod
    def of(cls, tasks: Iterable[Task], source: str) -> Shapes:
        """The empirical distribution of a list of tasks (each distinct shape by its count)."""
        counts = Counter(tasks)
        return cls(list(counts), [float(c) for c in counts.values()], source)

    def __len__(self) -> int:
        return len(self.tasks)

    def node(self, state: State) -> float:
        """``F_n(M)`` of a node in ``state``, milli-GPU (memoised: states repeat)."""
        got = self._memo.get(state)
        if got is None:
            got = self._memo[state] = self._compute(state)
        return got

    def _compute(self, state: State) -> float:
        cpu, mem, gpus = state
        g = np.asarray(gpus, dtype=np.int64)
        total = float(g.sum())
        if total == 0:
            return 0.0
        full = int((g == MILLI).sum())
        need = np.where(self.frac, self.milli, MILLI)  # milli per GPU each shape needs
        gpu_ok = np.where(self.frac, g.max() >= self.milli, full >= self.num)
        fits = (self.cpu <= cpu) & (self.mem <= mem) & gpu_ok
        small = (g[None, :] < need[:, None]) * g[None, :]  # free shares too small for the shape
        frag = np.where(fits, small.sum(axis=1), total)
        return float(self.p @ frag)


def cluster_fragmentation(states: Iterable[State], shapes: Shapes) -> float:
    """Sum of ``F_n(M)`` over the nodes, in GPUs (milli-GPU / 1000)."""
    return sum(shapes.node(s) for s in states) / MILLI


def node_fragment(state: State, task: Task) -> int:
    """``F_n(m)`` for one task shape, milli-GPU (the definition above, without numpy)."""
    cpu, mem, gpus = state
    total = sum(gpus)
    if task.num_gpu == 0:
        return total
    need = task.milli if task.fractional else MILLI
    full = sum(1 for v in gpus if v == MILLI)
    ok = max(gpus, default=0) >= task.milli if task.fractional else full >= task.num_gpu
    if task.cpu > cpu or task.mem > mem or not ok:
        return total
    return sum(v for v in gpus if v < need)
