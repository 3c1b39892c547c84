"""Placement policies for sharing fleets: pure functions of a view of node free capacities.

Every policy scores each distinct node state (:class:`~swarmsim.world.sharing.SharedNodes`
groups interchangeable nodes) for the task at hand, lower is better, and the task goes to the
lowest-id node of the best state; a policy also says which GPU of the node a fractional task
goes on. Scores are memoised per (task shape, state), since states never change. Definitions
follow the baselines of Weng et al. (ATC '23, §5.1) as their simulator
(hkust-adsl/kubernetes-scheduler-simulator) scores them; ``c``, ``m``, ``g`` are the task's
milli-CPU, MiB and milli-GPU, primes the node's free amounts, ``C``, ``M``, ``G`` its capacity:

- ``first-fit``: the lowest-id node where the task fits.
- ``random``: a node drawn uniformly among those where it fits (the paper's Random-fit).
- ``best-fit``: least remaining resources, ``0.5 (c' - c) / C_max + 0.5 (g' - g) / G_max``
  (``C_max``, ``G_max``: the largest node's CPU and GPU capacity); a share goes on the
  fullest GPU it fits.
- ``worst-fit`` (and ``spread``): the opposite, the most remaining; a share goes on the
  emptiest GPU.
- ``dot-product`` (Tetris, Grandl et al. SIGCOMM '14, as the paper uses it): the smallest
  ``(c/C)(c'/C) + (m/M)(m'/M) + (g/G)(g'/G)``, i.e. the node whose free capacity is least
  aligned with (least wasted by) the demand.
- ``gpu-packing``: shares go first on partly used GPUs (fullest first), then on fully free
  GPUs of a node already in use (fewest such GPUs), then on an idle node (smallest first).
- ``gpu-clustering``: tasks of the same GPU shape together: a node running only that shape,
  then one running it among others, then an idle node, then any other; ties by least free GPU.
- ``fgd``: Fragmentation Gradient Descent: the node and GPU where the node's expected
  fragmentation (:mod:`swarmsim.world.fragmentation`) grows least, ``F_n'(M) - F_n(M)``.
"""

from __future__ import annotations

import random

from swarmsim.world.fragmentation import Shapes
from swarmsim.world.sharing import MILLI, SharedNodes, State, Task, after, options

#: Placement names for sharing fleets (``scheduler.placement``).
POLICIES = ("first-fit", "random", "best-fit", "worst-fit", "spread", "dot-product", "gpu-packing",
            "gpu-clustering", "fgd")

Score = tuple[float, int] | None  # (score, option) or None when the task does not fit
_MISSING = object()


class Placement:
    """One policy. ``shapes`` is the workload's task-shape distribution (FGD uses it)."""

    def __init__(self, name: str, nodes: SharedNodes, shapes: Shapes, seed: int = 0, *,
                 max_cpu: int | None = None, max_gpus: int | None = None) -> None:
        """``max_cpu`` (milli-CPU) and ``max_gpus``: the largest node's, for best-fit's
        normalisation (default: the largest of ``nodes``; give them for a fleet that grows)."""
        if name not in POLICIES:
            raise ValueError(f"unknown placement {name!r}; known: {', '.join(POLICIES)}")
        self.name = name
        self.shapes = shapes
        self.rng = random.Random(seed)
        self.max_cpu = max_cpu or max(nodes.cpu_cap, default=1) or 1
        self.max_gpu = MILLI * (max_gpus or max(nodes.gpus, default=1) or 1)
        self._memo: dict[Task, dict[int, Score]] = {}
        self._entries = 0
        self._score = getattr(self, "_" + name.replace("-", "_"), self._first_fit)
        self.lowest_id = name == "first-fit"  # first-fit takes the lowest id; the others break ties at random

    def relearn(self, shapes: Shapes) -> None:
        """Use a new distribution of task shapes (FGD's scores change: the memo is dropped)."""
        self.shapes = shapes
        if self.name == "fgd":
            self._memo.clear()
            self._entries = 0

    def choose(self, nodes: SharedNodes, task: Task) -> tuple[int, int] | None:
        """(node, option) for the task, or None when it fits no node."""
        memo = self._memo.get(task)
        if memo is None:
            memo = self._memo[task] = {}
        best_s = 0.0
        tied: list[int] = []  # states with the best score so far
        states, tags, caps, groups = nodes.states, nodes.tags, nodes.caps, nodes.groups
        score = self._score
        for sid in groups:
            r = memo.get(sid, _MISSING)
            if r is _MISSING:
                r = memo[sid] = score(states[sid], caps[sid], tags[sid], task)
                self._entries += 1
            if r is None:
                continue
            s = r[0]  # type: ignore[index]  # r is a (score, option) here: _MISSING and None are handled above
            if not tied or s < best_s:
                best_s = s
                tied = [sid]
            elif s == best_s:
                tied.append(sid)
        if self._entries > 4_000_000:  # bound memory: drop the memo, it refills
            self._memo.clear()
            self._entries = 0
            memo = self._memo[task] = {sid: memo[sid] for sid in tied}
        if not tied:
            return None
        if self.lowest_id:
            best = min(tied, key=lambda sid: min(groups[sid]))
            return min(groups[best]), memo[best][1]  # type: ignore[index]  # the memo holds a score for every tied state, none of them None
        sid, node = self._draw(groups, tied)
        return node, memo[sid][1]  # type: ignore[index]  # the memo holds a score for every tied state, none of them None

    def _draw(self, groups: dict[int, set[int]], tied: list[int]) -> tuple[int, int]:
        """A node drawn uniformly among the nodes of the tied states (as kube-scheduler breaks
        ties between equal scores at random): (its state, the node)."""
        if len(tied) == 1 and len(groups[tied[0]]) == 1:
            sid = tied[0]
            return sid, next(iter(groups[sid]))
        pick = self.rng.randrange(sum(len(groups[sid]) for sid in tied))
        for sid in tied:
            group = groups[sid]
            if pick < len(group):
                return sid, sorted(group)[pick]
            pick -= len(group)
        raise AssertionError("unreachable")  # pragma: no cover

    # --- scores (lower is better) ----------------------------------------------------------

    def _random(self, state: State, cap: tuple[int, int, int], tag: frozenset, task: Task) -> Score:
        # Every node that fits ties: choose() draws one uniformly.
        return self._first_fit(state, cap, tag, task)

    def _first_fit(self, state: State, cap: tuple[int, int, int], tag: frozenset, task: Task) -> Score:
        opts = options(state, task)
        return (0.0, opts[0]) if opts else None

    def _best_fit(self, state: State, cap: tuple[int, int, int], tag: frozenset, task: Task) -> Score:
        opts = options(state, task)
        if not opts:
            return None
        cpu, _, gpus = state
        s = 0.5 * (cpu - task.cpu) / self.max_cpu + 0.5 * (sum(gpus) - task.gpu_milli) / self.max_gpu
        return s, opts[0]

    def _worst_fit(self, state: State, cap: tuple[int, int, int], tag: frozenset, task: Task) -> Score:
        r = self._best_fit(state, cap, tag, task)
        return None if r is None else (-r[0], options(state, task)[-1])

    _spread = _worst_fit

    def _dot_product(self, state: State, cap: tuple[int, int, int], tag: frozenset, task: Task) -> Score:
        opts = options(state, task)
        if not opts:
            return None
        cpu, mem, gpus = state
        ccap, mcap, g = cap
        gcap = MILLI * g if g else 1
        s = (task.cpu / ccap) * (cpu / ccap) + (task.mem / mcap) * (mem / mcap) \
            + (task.gpu_milli / gcap) * (sum(gpus) / gcap)
        return s, opts[0]

    def _gpu_packing(self, state: State, cap: tuple[int, int, int], tag: frozenset, task: Task) -> Score:
        opts = options(state, task)
        if not opts:
            return None
        if task.num_gpu == 0:
            return 0.0, opts[0]
        gpus = state[2]
        if task.fractional and opts[0] < MILLI:  # a partly used GPU: fullest first
            return opts[0] / MILLI / 10, opts[0]
        if sum(gpus) < MILLI * len(gpus):  # fully free GPUs of a node in use
            return 1.0 + task.num_gpu / 100, opts[0]
        return 2.0 + len(gpus) / 100, opts[0]  # an idle node, smallest first

    def _gpu_clustering(self, state: State, cap: tuple[int, int, int], tag: frozenset, task: Task) -> Score:
        opts = options(state, task)
        if not opts:
            return None
        if task.num_gpu == 0:
            return 0.0, opts[0]
        shape = (task.num_gpu, task.milli)
        alone, among, idle = 0.0, 1.0, 2.0
        tier = (alone if len(tag) == 1 else among) if shape in tag else (idle if not tag else 3.0)
        return tier + 0.99 * sum(state[2]) / self.max_gpu, opts[0]

    def _fgd(self, state: State, cap: tuple[int, int, int], tag: frozenset, task: Task) -> Score:
        opts = options(state, task)
        if not opts:
            return None
        node = self.shapes.node
        before = node(state)
        best: Score = None
        for opt in opts:
            d = node(after(state, task, opt)) - before
            if best is None or d < best[0]:
                best = (d, opt)
        return best
