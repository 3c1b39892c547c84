"""The static baseline: the fleet stays as the scenario gives it."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict

from swarmsim.policies.actions import Action
from swarmsim.policies.views import ClusterView


class StaticParams(BaseModel):
    """No parameters."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Static:
    """No scaling: the baseline every comparison needs."""

    Params = StaticParams
    default_interval_s = 3600.0
    reads: frozenset[str] = frozenset()  # region fields read (docs/policies.md, "What a policy reads")

    def __init__(self, params: StaticParams, *, rng: np.random.Generator) -> None:
        self.params, self.rng = params, rng

    def decide(self, view: ClusterView) -> list[Action]:
        return []
