"""A training job while it is alive in the world (queued, moving, or running)."""

from __future__ import annotations

import math

from swarmsim.world.node import Node, NodeType


class Job:
    """One job. Times in s from the scenario start; ``duration_ref`` in s at speed 1.0."""

    __slots__ = (
        "allocation", "arrival", "data", "done_ref", "duration_ref", "egress_usd", "end", "epoch", "gpus", "id",
        "network_delay", "ntype", "origin", "priority", "region", "restarts", "seq", "start",
        "types", "work", "workload",
    )

    def __init__(self, job_id: int, workload: int, origin: int, arrival: float, gpus: int,
                 duration_ref: float, data: float, priority: float, types: tuple[int, ...]) -> None:
        self.id = job_id
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
        self.seq = job_id  # queue tie-break: arrival order
        self.network_delay = 0.0
        self.egress_usd = 0.0
        self.start = math.nan
        self.end = math.nan
        self.ntype: NodeType | None = None
        self.allocation: list[tuple[Node, int]] = []
        self.epoch = 0  # bumped when a run is interrupted, so its stale finish event is ignored
        self.restarts = 0
        self.done_ref = 0.0  # reference s of work saved by checkpoints of interrupted runs
