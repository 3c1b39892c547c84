"""Sharing node pools in the SimPy world: a node type with ``gpu_sharing: fractional`` runs
jobs that ask for a share of one GPU (or whole GPUs) plus CPU and memory (docs/sharing.md).

:class:`FractionalPool` is a :class:`~swarmsim.world.node.Pool` whose nodes keep per-GPU free
shares, free milli-CPU and free MiB in a :class:`~swarmsim.world.sharing.SharedNodes`, and
whose placement is one of the policies of :mod:`swarmsim.world.placement` (first-fit ... FGD:
the same scoring functions the workload-inflation loop uses). What the rest of the world reads
keeps its meaning, in GPUs:

- ``pool.free_gpus`` / ``region.free_gpus``: free GPU capacity, a share counted by its share;
- ``pool.busy_gpus``: allocated GPU capacity (so ``gpu_utilization`` counts a shared GPU by the
  share in use);
- ``node.free`` and the histogram ``pool.counts``: each node's *fully free* GPUs, so scaling
  policies see which nodes are idle (``free == gpus``) exactly as on a whole-GPU pool.

A job's allocation on such a pool is ``[(node, share)]`` where ``share`` is a :class:`Share`:
a float (the GPUs it holds, 0.25 for a quarter) that also carries the task and, once taken,
the GPUs it sits on, so the job path (``jobs.py``) starts and frees it without knowing sharing.

:data:`POOLS` maps a node type's ``gpu_sharing`` to its pool class: the world builds a sharing
pool through it, so another sharing model (MIG) plugs in beside ``fractional``.
"""

from __future__ import annotations

from typing import Any

from swarmsim.world.fragmentation import Shapes
from swarmsim.world.job import Job, Plan
from swarmsim.world.node import Node, NodeType, Pool, Region
from swarmsim.world.placement import Placement
from swarmsim.world.sharing import MILLI, SharedNodes, Task


class Share(float):
    """GPUs one job holds on one node of a sharing pool (a float, in GPUs), with the task it
    is for, the placement ``option`` chosen and, after :meth:`FractionalPool.take`, the GPUs
    it took."""

    task: Task
    option: int
    taken: list[int]

    def __new__(cls, task: Task, option: int) -> Share:
        self = super().__new__(cls, task.gpu_milli / MILLI)
        self.task = task
        self.option = option
        self.taken = []
        return self


class FractionalPool(Pool):
    """The ready nodes of one ``gpu_sharing: fractional`` type in one region (see the module)."""

    __slots__ = ("node_of", "placement", "shared", "slot", "total_milli")

    def __init__(self, region: Region, ntype: NodeType, placement: str, shapes: Shapes, seed: int) -> None:
        super().__init__(region, ntype)
        self.shared = SharedNodes([], [], [], track_shapes=placement == "gpu-clustering")
        self.placement = Placement(placement, self.shared, shapes, seed, max_cpu=ntype.cpus_milli,
                                   max_gpus=ntype.max_gpus)
        self.slot: dict[int, int] = {}  # node id -> its index in ``shared``
        self.node_of: list[Node] = []  # index in ``shared`` -> the node
        self.total_milli = 0  # GPU capacity of the ready nodes, milli-GPU

    # --- membership ----------------------------------------------------------------------

    def add(self, node: Node) -> None:
        """A node becomes ready (new, repaired or resized into this pool): it is empty."""
        i = self.slot.get(node.id)
        shared = self.shared
        if i is None or shared.gpus[i] != node.gpus:
            i = self.slot[node.id] = shared.add(self.ntype.cpus_milli, self.ntype.memory_mib, node.gpus)
            self.node_of.append(node)
        else:
            shared.join(i)
        node.free = sum(1 for v in shared.free[i] if v == MILLI)
        self.total_milli += MILLI * node.gpus
        self.nodes[node.id] = node
        self.sizes[node.gpus] += 1
        if node.gpus > self._largest:
            self._largest = node.gpus
        self._enter(node)
        self._capacity(sum(shared.free[i]))

    def remove(self, node: Node) -> None:
        """A node stops taking work: out of the index and out of the placement's view."""
        i = self.slot[node.id]
        self.shared.leave(i)
        self.version += 1
        del self.nodes[node.id]
        self.sizes[node.gpus] -= 1
        if node.gpus == self._largest and not self.sizes[node.gpus]:
            self._resize_index()
        self.counts[node.free] -= 1
        self.total_milli -= MILLI * node.gpus
        self._capacity(-sum(self.shared.free[i]))

    def _capacity(self, delta_milli: int) -> None:
        """Free GPU capacity of the ready nodes changed by ``delta_milli``."""
        old = self.free_gpus
        self.free_gpus = (self.free_milli + delta_milli) / MILLI  # type: ignore[assignment]  # GPUs, a float here
        self.region.free_gpus += self.free_gpus - old

    @property
    def free_milli(self) -> int:
        """Free GPU capacity of the ready nodes, milli-GPU (exact)."""
        return round(self.free_gpus * MILLI)

    # --- allocation ------------------------------------------------------------------------

    def take(self, node: Node, gpus: Any) -> None:
        """Allocate the :class:`Share` ``gpus`` on ``node`` (it must fit: SharedNodes refuses
        anything else)."""
        share: Share = gpus
        i = self.slot[node.id]
        share.taken = self.shared.take(i, share.task, share.option)
        self.busy_gpus += share  # type: ignore[assignment]  # a Share is a float; busy_gpus is a float on a sharing fleet
        self._reindex(node, i)
        self._capacity(-share.task.gpu_milli)

    def give(self, node: Node, gpus: Any) -> None:
        """Free the :class:`Share` ``gpus`` on ``node`` (which may have left the index)."""
        share: Share = gpus
        i = self.slot[node.id]
        self.shared.give(i, share.task, share.taken)
        self.busy_gpus -= share  # type: ignore[assignment]  # a Share is a float; busy_gpus is a float on a sharing fleet
        if node.id in self.nodes:
            self._reindex(node, i)
            self._capacity(share.task.gpu_milli)
        else:
            self.version += 1
            node.free = sum(1 for v in self.shared.free[i] if v == MILLI)

    def _reindex(self, node: Node, i: int) -> None:
        """Node ``node``'s fully free GPUs may have changed: move it between buckets."""
        self.version += 1
        f = sum(1 for v in self.shared.free[i] if v == MILLI)
        if f != node.free:
            self.counts[node.free] -= 1
            node.free = f
            self._enter(node)

    # --- placement -------------------------------------------------------------------------

    shares = True

    def best_fit(self, gpus: int) -> Node | None:
        """Whole-GPU lookups find nothing here: a sharing pool places by :meth:`place`."""
        return None

    spread = first_fit = best_fit

    def gang(self, gpus: int) -> list[tuple[Node, int]] | None:
        """A job on a sharing pool runs on one node: no gangs."""
        return None

    def place(self, job: Job) -> tuple[float, Plan] | None:
        """(score, plan) of the best node of this pool for the job under the placement policy,
        or None when it fits no ready node; changes nothing."""
        task: Task = job.task
        where = self.placement.choose(self.shared, task)
        if where is None:
            return None
        i, option = where
        memo = self.placement._memo[task]
        score = memo[self.shared.of[i]]
        node = self.node_of[i]
        plan: Plan = (self.ntype, [(node, Share(task, option))])  # type: ignore[list-item]  # a Share is a float
        return (score[0] if score is not None else 0.0), plan

    def fragmentation_milli(self, shapes: Shapes) -> float:
        """Sum of ``F_n(M)`` over the ready nodes, milli-GPU (docs/sharing.md)."""
        shared = self.shared
        return sum(len(group) * shapes.node(shared.states[sid]) for sid, group in shared.groups.items())


#: A node type's ``gpu_sharing`` -> the pool class that simulates it.
POOLS: dict[str, type[FractionalPool]] = {"fractional": FractionalPool}
