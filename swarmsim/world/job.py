"""A training job while it is alive in the world (queued, moving, or running)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from swarmsim.world.node import Node, NodeType

if TYPE_CHECKING:
    from swarmsim.world.sharing import Task

#: Where a job runs: its node type and (node, GPUs taken) for each node of its gang.
Plan = tuple[NodeType, list[tuple[Node, int]]]


class Job:
    """One job. Times in s from the scenario start; ``duration_ref`` in s at speed 1.0.

    ``id`` is handed out at arrival (arrival order across workloads, -1 before); it is also the
    queue tie-break. ``run_s`` is the length of the current run (NaN when not running).
    ``task`` (set only for a job of a workload on a sharing fleet) is what it asks of a
    sharing node: milli-CPU, MiB, GPUs and milli-GPU per GPU (``world/sharing.py``); its
    ``gpus`` is then the GPUs it holds, a share counted by its share (0.25)."""

    __slots__ = (
        "allocation", "arrival", "data", "done_ref", "duration_ref", "egress_usd", "epoch", "gpus", "id",
        "network_delay", "ntype", "origin", "priority", "region", "restarts", "run_s", "start",
        "task", "types", "work", "workload",
    )
    task: Task  # a slot set only on a sharing fleet

    def __init__(self, workload: int, origin: int, arrival: float, gpus: int, duration_ref: float, data: float,
                 priority: float, types: tuple[int, ...]) -> None:
        self.id = -1
        self.workload = workload
        self.origin = origin
        self.arrival = arrival
        self.gpus = gpus
        self.duration_ref = duration_ref
        self.data = data
        self.priority = priority
        self.types = types  # node-type indices this job may run on
        # GPU-seconds of work at reference speed, for queue estimates (finite even for a job
        # that runs to the horizon, so sums of it can be taken apart again).
        self.work = gpus * duration_ref if duration_ref < 1e12 else gpus * 1e12
        self.region = -1
        self.network_delay = 0.0
        self.egress_usd = 0.0
        self.start = math.nan
        self.run_s = math.nan
        self.ntype: NodeType | None = None
        self.allocation: list[tuple[Node, int]] = []
        self.epoch = 0  # bumped when a run is interrupted, so its stale finish event is ignored
        self.restarts = 0
        self.done_ref = 0.0  # reference s of work saved by checkpoints of interrupted runs
