"""``failures``: node failures, churn of part-time providers, spot preemption, region outages
and hot spares, with the published failure defaults per provider type (docs/resilience.md)."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from swarmsim.distributions import DistOrValue, LognormalDist
from swarmsim.scenario.common import PROVIDERS, NonNegativeDuration, PositiveDuration, Spec
from swarmsim.units import Fraction

_HOUR, _DAY = 3600.0, 86400.0

#: Published failure defaults per provider type (docs/resilience.md has the sources), filled
#: into every ``failures.nodes`` entry that does not set them when the scenario loads.
#: Data centers and GPU clusters: Llama 3 405B pre-training, 419 unexpected interruptions over
#: 54 days on 16,384 H100s = 0.17 per GPU-year, an all-cause MTBF of 50,700 GPU-hours
#: (scaling-and-cloud-facts.md §6.2; an 8-GPU node fails every 264 days). Repair: lognormal
#: (Schroeder & Gibson, CMU-PDL-05-112), median 1 h (assumption: detect 1-5 min, cordon,
#: replace, §6.3). Edge sites: the same hardware rate, a 4 h median (assumption: remote hands).
#: Workstations, gaming PCs, individuals: marketplace hosts fail far more often than data
#: centers (§6.4, assumption): MTBF 30 and 7 days, repairs 8 h and 12 h.
PUBLISHED_FAILURES: dict[str, dict[str, float]] = {
    "datacenter": {"gpu_mtbf": 50_700 * _HOUR, "repair_median": 1 * _HOUR},
    "gpu-cluster": {"gpu_mtbf": 50_700 * _HOUR, "repair_median": 1 * _HOUR},
    "edge": {"gpu_mtbf": 50_700 * _HOUR, "repair_median": 4 * _HOUR},
    "workstation": {"mtbf": 30 * _DAY, "repair_median": 8 * _HOUR},
    "gaming-pc": {"mtbf": 7 * _DAY, "repair_median": 12 * _HOUR},
    "individual": {"mtbf": 7 * _DAY, "repair_median": 12 * _HOUR},
}
#: Spread of the default lognormal repair time (the median x e is about its 84th percentile).
REPAIR_SIGMA = 1.0


class NodeFailureSpec(Spec):
    """How the nodes of one provider type (or one node type) fail and come back.

    Time to failure is ``time_to_failure`` (any distribution, e.g. Weibull), or exponential
    with mean ``mtbf`` per node, or ``gpu_mtbf`` per GPU (a node of g GPUs fails g times as
    often). Nothing given: the provider's published default (docs/resilience.md)."""

    time_to_failure: DistOrValue | None = Field(None, description="s from (re)start to failure, per node")
    mtbf: PositiveDuration | None = Field(None, description="mean s between failures of one node")
    gpu_mtbf: PositiveDuration | None = Field(None, description="mean s between failures of one GPU")
    repair: DistOrValue | None = Field(None, description="s a failed node stays down")
    notice: NonNegativeDuration = Field(0.0, description="s of warning before the node goes down")
    after: Literal["repair", "release"] = Field(
        "repair", description="repair: the node comes back; release: it is gone (a policy must replace it)"
    )
    bill_while_down: bool = Field(False, description="the provider bills a node while it is down")

    @model_validator(mode="after")
    def _one_rate(self) -> NodeFailureSpec:
        given = [k for k in ("time_to_failure", "mtbf", "gpu_mtbf") if getattr(self, k) is not None]
        if len(given) > 1:
            raise ValueError(f"give one of time_to_failure, mtbf, gpu_mtbf, not {' and '.join(given)}")
        if self.time_to_failure is not None and self.time_to_failure.lower() < 0:
            raise ValueError("time_to_failure: a duration cannot be negative")
        if self.repair is not None and self.repair.lower() < 0:
            raise ValueError("repair: a duration cannot be negative")
        return self


class SpotSpec(Spec):
    """Spot-style preemption: the provider takes the node back, after a notice, for good."""

    mean_lifetime: PositiveDuration = Field(description="mean s from start to preemption (exponential)")
    notice: NonNegativeDuration = Field(120.0, description="s of warning (AWS: 2 min; GCP: 30 s)")


_WINDOW_RE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


class ChurnSpec(Spec):
    """Part-time providers: online on a daily window of the node's local time (``online:
    "18:00-02:00"``, each transition shifted by up to ``jitter``), or at random (exponential
    ``mean_online`` and ``mean_offline``)."""

    online: str | None = Field(None, description='daily window in local time, "HH:MM-HH:MM"')
    jitter: NonNegativeDuration = Field(0.0, description="each transition moves by uniform(-jitter, +jitter), s")
    mean_online: PositiveDuration | None = Field(None, description="s online, on average (random churn)")
    mean_offline: PositiveDuration | None = Field(None, description="s offline, on average (random churn)")
    notice: NonNegativeDuration = Field(0.0, description="s of warning before leaving")

    @field_validator("online")
    @classmethod
    def _window(cls, value: str | None) -> str | None:
        if value is None:
            return None
        m = _WINDOW_RE.match(value)
        if m is None or int(m[1]) > 24 or int(m[3]) > 24 or int(m[2]) > 59 or int(m[4]) > 59:
            raise ValueError(f'expected a daily window such as "18:00-02:00", got {value!r}')
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> ChurnSpec:
        daily = self.online is not None
        random_ = self.mean_online is not None or self.mean_offline is not None
        if daily == random_:
            raise ValueError("give either online (a daily window) or mean_online and mean_offline")
        if random_ and (self.mean_online is None or self.mean_offline is None):
            raise ValueError("random churn needs both mean_online and mean_offline")
        if daily and self.window_hours()[0] == self.window_hours()[1]:
            raise ValueError("online: the window is empty (start equals end)")
        return self

    def window_hours(self) -> tuple[float, float]:
        """(start, end) of the daily online window, local hours in [0, 24)."""
        m = _WINDOW_RE.match(self.online or "")
        assert m is not None
        return ((int(m[1]) + int(m[2]) / 60) % 24, (int(m[3]) + int(m[4]) / 60) % 24)


class OutageSpec(Spec):
    """A region or edge site goes dark: every node in it is down for ``for``; at ``at`` (once),
    or at random with mean ``every`` between outages."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    region: str
    at: NonNegativeDuration | None = Field(None, description="s from the start")
    every: PositiveDuration | None = Field(None, description="mean s between random outages")
    duration: DistOrValue = Field(alias="for", description="s the outage lasts")

    @model_validator(mode="after")
    def _when(self) -> OutageSpec:
        if (self.at is None) == (self.every is None):
            raise ValueError("give at (a scheduled outage) or every (random outages), one of the two")
        if self.duration.lower() < 0:
            raise ValueError("for: a duration cannot be negative")
        return self


class FailuresSpec(Spec):
    """Node failures, churn, spot preemption, region outages and spare capacity.

    Keys of ``nodes``, ``churn`` and ``spot`` are provider types (``datacenter``, ``gaming-pc``,
    ...) or node type names; a node type's own entry wins over its provider's.
    ``nodes: published`` gives every provider type its published default."""

    nodes: dict[str, NodeFailureSpec] = Field(default_factory=dict)
    churn: dict[str, ChurnSpec] = Field(default_factory=dict)
    spot: dict[str, SpotSpec] = Field(default_factory=dict)
    outages: list[OutageSpec] = Field(default_factory=list)
    spare: Fraction = Field(0.0, ge=0, le=1, description="hot spares per pool, as a share of its initial nodes")

    @field_validator("nodes", mode="before")
    @classmethod
    def _published(cls, value: Any) -> Any:
        if value == "published":
            return {p: {} for p in PROVIDERS}
        return value

    def __bool__(self) -> bool:
        return bool(self.nodes or self.churn or self.spot or self.outages or self.spare)

    def entry(self, table: dict[str, Any], node_type: str, provider: str) -> Any:
        """The entry of a table for a node type: its own, else its provider's, else None."""
        return table.get(node_type, table.get(provider))

    def failure_model(self, node_type: str, provider: str) -> NodeFailureSpec | None:
        """The failure model that applies to a node type (its own ``nodes`` entry, else its
        provider's), with the provider's published defaults filled in where the entry is
        silent; None when its nodes do not fail. The scenario itself keeps what the user wrote,
        so that ``--set failures.nodes.X.mtbf=...`` works on a loaded scenario too."""
        spec = self.entry(self.nodes, node_type, provider)
        if spec is None:
            return None
        base = PUBLISHED_FAILURES[provider]
        update: dict[str, Any] = {}
        if spec.time_to_failure is None and spec.mtbf is None and spec.gpu_mtbf is None:
            field = "gpu_mtbf" if "gpu_mtbf" in base else "mtbf"
            update[field] = base[field]
        if spec.repair is None:
            update["repair"] = LognormalDist(median=base["repair_median"], sigma=REPAIR_SIGMA)
        return spec.model_copy(update=update) if update else spec
