"""A purchase schedule as a policy: order given nodes at given times (docs/pricing-power-carbon.md).

``strategy: schedule`` places each of its ``orders`` (region, node type, count) at its time
``at``; with ``ahead: true`` each order is placed early by its node type's lead time and mean
provisioning time (both from the view's :class:`~swarmsim.policies.views.NodeTypeView`), so that
the nodes are ready at ``at`` (an order that would fall before t = 0 is placed at once). It is
the form a capacity plan's purchase schedule takes in a scenario, and the simplest policy that
orders ahead of a lead time.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from swarmsim.policies.actions import Action, AddNodes
from swarmsim.policies.base import Policy, PolicyParams
from swarmsim.policies.views import ClusterView
from swarmsim.units import Duration

__all__ = ["Order", "Schedule", "ScheduleParams"]


class Order(BaseModel):
    """``count`` nodes of ``node_type`` in ``region``, ordered (or needed, with ``ahead``) at ``at``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    at: Duration = Field(ge=0, description="s from the start: when to order (ahead: when the nodes must be ready)")
    region: str
    node_type: str
    count: int = Field(ge=1)


class ScheduleParams(PolicyParams):
    """A list of orders, placed at their time or ahead of it by the lead time."""

    orders: list[Order] = Field(default_factory=list, description="the purchase schedule (none: no orders)")
    ahead: bool = Field(False, description="place each order its node type's lead time + mean provisioning "
                                           "time before at, so that the nodes are ready at at")


class Schedule(Policy[ScheduleParams]):
    """Orders nodes at scheduled times; with ``ahead``, early by each node type's lead time."""

    Params = ScheduleParams
    default_interval_s = 60.0
    reads = frozenset[str]()  # region fields read: none (docs/policies.md)

    def reset(self) -> None:
        """Forget which orders were placed (called by the constructor)."""
        self._placed = [False] * len(self.params.orders)

    def when(self, order: Order, view: ClusterView) -> float:
        """When ``order`` is placed, s (``at``, or earlier by the lead and provisioning time)."""
        if not self.params.ahead:
            return order.at
        t = view.node_types.get(order.node_type)
        early = 0.0 if t is None else t.lead_time_s + t.provision_time_s
        return max(order.at - early, 0.0)

    def decide(self, view: ClusterView) -> list[Action]:
        actions: list[Action] = []
        for i, order in enumerate(self.params.orders):
            if self._placed[i] or view.time_s < self.when(order, view):
                continue
            self._placed[i] = True
            why = (f"scheduled: ready by {order.at:.0f} s, ordered ahead by the lead time" if self.params.ahead
                   else f"scheduled order at {order.at:.0f} s")
            actions.append(AddNodes(order.region, order.node_type, order.count, reason=why))
        return actions
