"""The narrow surfaces the parts of the world see of one another (structural protocols).

The world (``world.py``) wires its parts at construction; each part is handed only what it
uses: the scheduler gets the regions, the RTT matrix and a :class:`JobStarter`; the job path
gets the scheduler and a :class:`ReplicaPlacer`. No part imports ``World``.
"""

from __future__ import annotations

from typing import Protocol

from swarmsim.world.job import Job, Plan
from swarmsim.world.node import NodeType, Region


class JobStarter(Protocol):
    """What the scheduler needs of the job path: start a job, a run's length, the running jobs."""

    #: Per region index: the jobs running there, by job id, in start order.
    running: list[dict[int, Job]]

    def start_job(self, region: Region, job: Job, plan: Plan, queued: bool = True) -> None:
        """Start a job on ``plan`` now (a ``queued`` one leaves the region's queue counters)."""

    def run_time(self, job: Job, ntype: NodeType) -> float:
        """How long the job's next run lasts on ``ntype``, s."""


class ReplicaPlacer(Protocol):
    """What the scheduler and the job path need of the inference side (``world/service.py``)."""

    def __bool__(self) -> bool:
        """Whether the run has any service (it never changes during a run)."""

    def place(self, region: Region) -> None:
        """Give free GPUs of ``region`` to the replicas that wait for them."""

    def waiting(self, region: Region) -> bool:
        """Whether replicas wait for GPUs in ``region``."""
