"""``pricing``: how the nodes of each node type are paid for (docs/pricing-power-carbon.md).

One entry per node type, one pricing model each:

- ``on-demand``: ``usd_per_gpu_hour`` (default: the node type's price) for every billing
  segment of a node, rounded up to the billing ``increment`` with a ``minimum`` per segment
  (``billing: aws`` and the other presets in :data:`BILLING_PRESETS`, sources there).
- ``reserved``: a commitment for a ``term`` (1 or 3 years) of ``count`` nodes per region from
  t = 0 (more when nodes beyond it run), paid whether used or not: ``upfront_usd_per_gpu`` once and ``usd_per_gpu_hour``
  for every hour of the term, as ``payment`` (all-upfront, partial-upfront, no-upfront) says.
- ``spot``: ``usd_per_gpu_hour`` billed like on-demand; the interruptions are the spot
  preemption of ``failures.spot`` (``mean_lifetime`` here fills that entry: one mechanism).
- ``community``: decentralized supply paid a reward ``usd_per_gpu_hour`` per online GPU-second
  (while the node is up and offered, used or not; churn and failures stop it).

The arithmetic lives in :mod:`swarmsim.pricing`; this module only reads and checks the section.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from swarmsim.scenario.common import NonNegativeDuration, PositiveDuration, Spec

#: Billing increment and minimum per billing segment, s, as each cloud publishes them:
#: aws: EC2 Linux on-demand and spot are billed per second with a 60 s minimum (AWS EC2 pricing
#: page, "Per-second billing", since 2017-10-02); gcp: Compute Engine bills in one-second
#: increments with a 1-minute minimum (cloud.google.com/compute/vm-instance-pricing); azure:
#: per-minute billing (docs.azure.cn "Explanation of Billing for Azure Core Services", which adds
#: that a VM run for under a minute is not charged: not modelled, such a segment is billed 60 s;
#: a Microsoft Q&A answer of 2025-04 announces per-second billing with a 300 s minimum from
#: 2025-06-01, not verified on a pricing page: give ``increment: 1s, minimum: 5m`` to model it);
#: per-hour: the pre-2017 EC2 rule; per-second: 1 s, no minimum; exact: the seconds as
#: simulated (swarmsim's behaviour without a ``pricing:`` section).
BILLING_PRESETS: dict[str, tuple[float, float]] = {
    "aws": (1.0, 60.0),
    "gcp": (1.0, 60.0),
    "azure": (60.0, 0.0),
    "per-hour": (3600.0, 3600.0),
    "per-second": (1.0, 0.0),
    "exact": (0.0, 0.0),
}

#: Commitment terms, s: 365 and 3 x 365 days (AWS RI durations 31,536,000 and 94,608,000 s).
TERMS_S: dict[str, float] = {"1y": 365 * 86400.0, "3y": 3 * 365 * 86400.0}

PricingModel = Literal["on-demand", "reserved", "spot", "community"]


class PricingSpec(Spec):
    """How the nodes of one node type are paid for (one model per node type)."""

    model: PricingModel = "on-demand"
    usd_per_gpu_hour: float | None = Field(
        None, ge=0, description="on-demand, spot: price; community: reward; reserved: the recurring hourly "
        "fee per GPU (0 when all-upfront). Default (on-demand only): the node type's price")
    billing: Literal["aws", "gcp", "azure", "per-hour", "per-second", "exact"] | None = Field(
        None, description="billing increment and minimum of a cloud (default: exact seconds)")
    increment: NonNegativeDuration | None = Field(None, description="s; billed time rounds up to a multiple")
    minimum: NonNegativeDuration | None = Field(None, description="s billed at least per billing segment")
    term: Literal["1y", "3y"] | None = Field(None, description="reserved: commitment term")
    payment: Literal["all-upfront", "partial-upfront", "no-upfront"] | None = Field(
        None, description="reserved: how the commitment is paid")
    upfront_usd_per_gpu: float | None = Field(
        None, ge=0, description="reserved: USD paid once per GPU when a term starts")
    count: dict[str, int] = Field(default_factory=dict, description="reserved: nodes committed per region")
    mean_lifetime: PositiveDuration | None = Field(
        None, description="spot: mean s to an interruption (fills failures.spot for this node type)")

    @model_validator(mode="after")
    def _consistent(self) -> PricingSpec:
        reserved_only = ("term", "payment", "upfront_usd_per_gpu")
        if self.model != "reserved":
            given = [k for k in reserved_only if getattr(self, k) is not None] + (["count"] if self.count else [])
            if given:
                raise ValueError(f"{', '.join(given)}: only a reserved commitment has them (model is {self.model})")
        if self.model != "spot" and self.mean_lifetime is not None:
            raise ValueError(f"mean_lifetime: only spot capacity is interrupted by its provider "
                             f"(model is {self.model})")
        if self.billing is not None and (self.increment is not None or self.minimum is not None):
            raise ValueError("give billing (a preset) or increment and minimum, not both")
        if self.model in ("spot", "community") and self.usd_per_gpu_hour is None:
            raise ValueError(f"usd_per_gpu_hour: a {self.model} node type needs its price")
        if self.model == "reserved":
            self._check_commitment()
        if any(n < 0 for n in self.count.values()):
            raise ValueError("count: nodes committed cannot be negative")
        return self

    def _check_commitment(self) -> None:
        if self.term is None or self.payment is None:
            missing = [k for k in ("term", "payment") if getattr(self, k) is None]
            raise ValueError(f"{' and '.join(missing)}: a reserved commitment needs term (1y or 3y) and payment "
                             "(all-upfront, partial-upfront or no-upfront)")
        upfront = self.upfront_usd_per_gpu or 0.0
        hourly = self.usd_per_gpu_hour or 0.0
        if self.payment == "all-upfront" and (hourly > 0 or upfront <= 0):
            raise ValueError("payment all-upfront: give upfront_usd_per_gpu > 0 and no usd_per_gpu_hour")
        if self.payment == "no-upfront" and (upfront > 0 or hourly <= 0):
            raise ValueError("payment no-upfront: give usd_per_gpu_hour > 0 and no upfront_usd_per_gpu")
        if self.payment == "partial-upfront" and (upfront <= 0 or hourly <= 0):
            raise ValueError("payment partial-upfront: give both upfront_usd_per_gpu and usd_per_gpu_hour > 0")

    @property
    def increments(self) -> tuple[float, float]:
        """(billing increment, minimum per segment), s (0 = none)."""
        if self.billing is not None:
            return BILLING_PRESETS[self.billing]
        return (self.increment or 0.0, self.minimum or 0.0)

    @property
    def term_s(self) -> float:
        """The commitment term, s (0 for models without one)."""
        return TERMS_S[self.term] if self.term is not None else 0.0


def spot_from_pricing(data: Any) -> Any:
    """The raw scenario with each spot pricing entry's ``mean_lifetime`` written into
    ``failures.spot`` under its node type (run before validation; a ``failures.spot`` entry
    of the node type already there wins, and a different ``mean_lifetime`` there is an error
    reported by the checks)."""
    if not isinstance(data, dict) or not isinstance(data.get("pricing"), dict):
        return data
    spot = {name: e["mean_lifetime"] for name, e in data["pricing"].items()
            if isinstance(e, dict) and e.get("model") == "spot" and e.get("mean_lifetime") is not None}
    if not spot:
        return data
    data = dict(data)
    failures = dict(data.get("failures") or {})
    table = dict(failures.get("spot") or {})
    for name, life in spot.items():
        table.setdefault(name, {"mean_lifetime": life})
    failures["spot"] = table
    data["failures"] = failures
    return data


def check_pricing(s: Any, problems: list[tuple[str, str]]) -> None:
    """Cross-checks of ``pricing``: entries name node types, commitments name regions and do not
    exceed the most nodes the pool can ever hold, a spot entry's interruptions are the same as
    ``failures.spot``'s. ``s`` is a validated :class:`~swarmsim.scenario.model.Scenario`."""
    from swarmsim.scenario.common import unknown

    for name, entry in (s.pricing or {}).items():
        where = f"pricing.{name}"
        if name not in s.node_types:
            problems.append((where, unknown("node type", name, s.node_types)))
            continue
        for region, count in entry.count.items():
            if region not in s.regions:
                problems.append((f"{where}.count.{region}", unknown("region", region, s.regions)))
                continue
            most = _most_nodes(s, region, name)
            if count > most:
                problems.append((f"{where}.count.{region}", f"{count} nodes committed, above the most this pool can "
                                 f"hold ({most:g}: {_why_most(s, region, name)}); commit at most {most:g}"))
        if entry.model == "spot":
            spec = s.failures.entry(s.failures.spot, name, s.node_types[name].provider)
            if spec is None:
                problems.append((where, "a spot node type needs its interruptions: give mean_lifetime here "
                                 f"(or failures.spot.{name}.mean_lifetime)"))
            elif entry.mean_lifetime is not None and abs(spec.mean_lifetime - entry.mean_lifetime) > 1e-9:
                problems.append((f"{where}.mean_lifetime", f"{entry.mean_lifetime:g} s differs from "
                                 f"failures.spot.{name}.mean_lifetime ({spec.mean_lifetime:g} s): give it once"))


def _most_nodes(s: Any, region: str, node_type: str) -> float:
    """The most nodes of a type a region can hold: its fleet without scaling policies, else the
    smaller of the pool's ``limits.pools`` max and the region's ``max_nodes`` (inf when unset)."""
    if not s.scaling:
        return float(s.fleet.get(region, {}).get(node_type, 0))
    most = float("inf")
    bound = s.limits.pools.get(region, {}).get(node_type)
    if bound is not None and bound.max is not None:
        most = float(bound.max)
    cap = s.regions[region].max_nodes
    return min(most, float(cap)) if cap is not None else most


def _why_most(s: Any, region: str, node_type: str) -> str:
    if not s.scaling:
        return f"fleet.{region}.{node_type}, and no policy scales it"
    return f"limits.pools.{region}.{node_type}.max or regions.{region}.max_nodes"
