"""The static baseline: the fleet stays as the scenario gives it."""

from __future__ import annotations

from swarmsim.policies.actions import Action
from swarmsim.policies.base import Policy, PolicyParams
from swarmsim.policies.views import ClusterView


class StaticParams(PolicyParams):
    """No parameters."""


class Static(Policy[StaticParams]):
    """No scaling: the baseline every comparison needs."""

    Params = StaticParams
    default_interval_s = 3600.0
    reads = frozenset[str]()  # region fields read (docs/policies.md, "What a policy reads")

    def decide(self, view: ClusterView) -> list[Action]:
        return []
