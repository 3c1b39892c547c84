"""A test-only policy that kills the process running it once: the Ray backend's retry test.

Loaded by a scenario as ``kind: custom, class: ray_crash_policy:DieOnce``. At its first decision
it removes the marker file named by ``params.marker``; the one process whose removal succeeds
exits at once with ``os._exit(1)`` (no exception, no cleanup: as if the worker were killed), so
the run is lost with its process. Once the marker is gone every run, that one's retry included,
goes through normally.
"""

from __future__ import annotations

import os

import numpy as np
from pydantic import BaseModel, ConfigDict

from swarmsim.policies.actions import Action
from swarmsim.policies.views import ClusterView


class DieOnceParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    marker: str


class DieOnce:
    """Does nothing, except that the first process to see the marker file dies."""

    Params = DieOnceParams
    default_interval_s = 600.0

    def __init__(self, params: DieOnceParams, *, rng: np.random.Generator) -> None:
        self.params = params

    def decide(self, view: ClusterView) -> list[Action]:
        try:
            os.remove(self.params.marker)  # atomic: exactly one process wins
        except FileNotFoundError:
            return []
        os._exit(1)
