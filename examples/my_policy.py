"""A researcher's own scaling policy, the example of docs/policies.md ("Writing a policy").

``BacklogScaler`` sizes one node type per region by its queue: when the queued jobs ask for
more GPUs than the pool has free or on the way, it adds the nodes that cover the gap (at most
``max_step`` per decision); when nothing has been queued for ``idle_after`` seconds, it removes
idle nodes, down to ``min_nodes``. It reads the view only; the world applies the actions with
their provisioning delays, supply caps and budget.

Named in a scenario as ``class: ../examples/my_policy.py:BacklogScaler`` (a path relative to
the scenario file): scenarios/custom-backlog-policy.yaml.
"""

from __future__ import annotations

import math

from pydantic import Field

from swarmsim.policies import Action, AddNodes, Policy, PolicyParams, RemoveNodes, View
from swarmsim.units import Duration


class BacklogScaler(Policy):
    """Add nodes for queued GPUs that no free or provisioning GPU covers; remove idle nodes
    once the queue has been empty for ``idle_after`` seconds."""

    class Params(PolicyParams):
        node_type: str = Field(default="a100x8", description="the node type added and removed")
        max_step: int = Field(default=4, ge=1, description="nodes added (or removed) per region per decision")
        idle_after: Duration = Field(default=900.0, ge=0, description="s without a queue before removing")
        min_nodes: int = Field(default=1, ge=0, description="ready nodes never removed, per region")

    default_interval_s = 60.0  # s between two decisions unless the scenario gives interval
    reads = frozenset({"active", "pools", "queued_gpus", "max_nodes", "nodes"})  # region fields read

    def reset(self) -> None:
        self.quiet_since: dict[str, float] = {}  # region -> time_s its queue was last seen empty since

    def decide(self, view: View) -> list[Action]:
        p = self.params
        gpus = view.node_types[p.node_type].gpus  # GPUs of a new node
        actions: list[Action] = []
        for name, region in view.regions.items():
            pool = region.pools.get(p.node_type)
            if not region.active or pool is None:
                continue
            missing = region.queued_gpus - pool.gpus_free - pool.gpus_provisioning
            if missing > 0:
                self.quiet_since.pop(name, None)
                add = min(p.max_step, math.ceil(missing / gpus), region.supply_left)
                if add >= 1:
                    actions.append(AddNodes(name, p.node_type, int(add), reason=(
                        f"{region.queued_gpus} GPUs queued, {pool.gpus_free} free, "
                        f"{pool.gpus_provisioning} provisioning")))
                continue
            if region.queued_gpus > 0:  # the queue is covered: wait for it, remove nothing
                self.quiet_since.pop(name, None)
                continue
            since = self.quiet_since.setdefault(name, view.time_s)
            idle = pool.nodes_by_free[gpus] if gpus < len(pool.nodes_by_free) else 0  # nodes with no job
            remove = min(p.max_step, idle, pool.nodes_ready - p.min_nodes)
            if view.time_s - since >= p.idle_after and remove >= 1:
                actions.append(RemoveNodes(name, p.node_type, remove, reason=(
                    f"no queue for {view.time_s - since:.0f} s, {idle} idle nodes")))
        return actions
