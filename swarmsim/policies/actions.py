"""Commands a policy returns. The world applies them with their real delays and costs, and
records each one (applied or refused, with the reason) in ``Result.actions``."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AddNodes:
    """Request ``count`` new nodes of ``node_type`` in ``region``; billing starts now, they are
    ready after the type's provisioning time. Refused in part beyond supply caps, the pool's
    ``max_nodes`` limit or the budget cap."""

    region: str
    node_type: str
    count: int
    reason: str = ""


@dataclass(frozen=True, slots=True)
class RemoveNodes:
    """Release ``count`` nodes of ``node_type`` in ``region``: provisioning nodes first, then
    the ready nodes with the most free GPUs. They drain (running jobs finish, no new ones) and
    are released when empty; with ``preempt`` their jobs are stopped now, go back to the queue,
    and the lost GPU-hours are counted."""

    region: str
    node_type: str
    count: int
    preempt: bool = False
    reason: str = ""


@dataclass(frozen=True, slots=True)
class ResizeNodes:
    """Vertical scaling of ``count`` nodes of ``node_type`` in ``region``: to ``gpus`` GPUs per
    node (within the type's ``max_gpus``) and/or to another node type ``to_type`` (a newer GPU).
    A resize drains the node, takes it down for the new type's provisioning time, then brings it
    back in its new shape at its new price. The emptiest ready nodes are chosen first: with a
    new type, any of them; to a size above the type's base ``gpus``, only smaller nodes (a grow);
    otherwise only bigger nodes (a shrink)."""

    region: str
    node_type: str
    count: int
    gpus: int | None = None
    to_type: str | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class OpenRegion:
    """Make an inactive region or edge site able to hold capacity (nodes come by AddNodes)."""

    region: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class CloseRegion:
    """Stop routing new work to a region and drain all its nodes."""

    region: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class AddReplicas:
    """Start ``count`` more replicas of an inference service in a region: each is placed on a
    node with free GPUs of an accepted type (waiting for GPUs if none are free, when it shows as
    pending demand that node policies can answer), then loads its model before serving."""

    service: str
    region: str
    count: int
    reason: str = ""


@dataclass(frozen=True, slots=True)
class RemoveReplicas:
    """Stop ``count`` replicas of a service in a region: replicas still waiting for GPUs first,
    then loading ones, then the least busy; each finishes its requests in flight."""

    service: str
    region: str
    count: int
    reason: str = ""


Action = AddNodes | RemoveNodes | ResizeNodes | OpenRegion | CloseRegion | AddReplicas | RemoveReplicas
