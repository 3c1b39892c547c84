"""The root :class:`Scenario`: the top-level fields (name, seed, horizon, warmup, sampling),
one field per section, the facts derived from several sections that the world and the checks
use, and the JSON Schema of the whole (``swarmsim schema``).

Validation runs in three steps: before the fields, regions named after catalog sites get their
defaults (:func:`~swarmsim.scenario.regions.fill_regions_from_catalog`) and a fleet read from a
trace becomes node types and counts (:func:`~swarmsim.scenario.nodes.fleet_from_trace`); then
each section's model checks itself; then :func:`~swarmsim.scenario.checks.cross_checks` relates
the sections to each other.
"""

from __future__ import annotations

import hashlib
from typing import Any

import yaml
from pydantic import Field, model_validator

from swarmsim.errors import ScenarioError
from swarmsim.levels import parse_level
from swarmsim.scenario.checks import cross_checks
from swarmsim.scenario.common import Name, NonNegativeDuration, PositiveDuration, Spec
from swarmsim.scenario.failures import FailuresSpec
from swarmsim.scenario.nodes import NodeTypeSpec, fleet_from_trace
from swarmsim.scenario.policies import LimitsSpec, PolicySpec
from swarmsim.scenario.pricing import PricingSpec, check_pricing, spot_from_pricing
from swarmsim.scenario.record import RecordSpec
from swarmsim.scenario.regions import NetworkSpec, RegionSpec, fill_regions_from_catalog
from swarmsim.scenario.report import ReportSpec, check_level_names
from swarmsim.scenario.scheduler import SchedulerSpec
from swarmsim.scenario.services import InferenceWorkloadSpec
from swarmsim.scenario.workloads import JobsWorkloadSpec, WorkloadSpec


class Scenario(Spec):
    """A complete, validated scenario. Every quantity is in base units."""

    name: Name
    description: str = ""
    seed: int = Field(0, ge=0)
    horizon: PositiveDuration
    warmup: NonNegativeDuration = 0.0
    sample_every: PositiveDuration = 300.0
    regions: dict[Name, RegionSpec] = Field(min_length=1)
    network: NetworkSpec = Field(default_factory=NetworkSpec)
    node_types: dict[Name, NodeTypeSpec] = Field(min_length=1)
    fleet: dict[str, dict[str, int]] = Field(default_factory=dict)
    workloads: dict[Name, WorkloadSpec] = Field(default_factory=dict)
    scheduler: SchedulerSpec = Field(default_factory=SchedulerSpec)
    policies: list[PolicySpec] = Field(default_factory=list)
    limits: LimitsSpec = Field(default_factory=LimitsSpec)
    failures: FailuresSpec = Field(default_factory=FailuresSpec)
    # Figures the summary adds on request; None (the default) is left out of to_yaml and the digest.
    report: ReportSpec | None = None
    # How job rows are kept (full, stream, aggregate); None (= full) is left out of to_yaml and the digest.
    record: RecordSpec | None = None
    # How each node type is paid for (docs/pricing-power-carbon.md); None is left out of to_yaml.
    pricing: dict[Name, PricingSpec] | None = None

    # Where the scenario came from: the folder relative paths resolve against (not hashed).
    source: str | None = Field(None, exclude=True, description="file the scenario was read from")

    # pydantic runs "before" model validators last-defined first: regions, then the fleet, then spot prices.
    @model_validator(mode="before")
    @classmethod
    def _spot_from_pricing(cls, data: Any) -> Any:
        return spot_from_pricing(data)

    @model_validator(mode="before")
    @classmethod
    def _fleet_from_trace(cls, data: Any) -> Any:
        return fleet_from_trace(data)

    @model_validator(mode="before")
    @classmethod
    def _fill_regions_from_catalog(cls, data: Any) -> Any:
        return fill_regions_from_catalog(data)

    @model_validator(mode="after")
    def _cross_checks(self) -> Scenario:
        problems = cross_checks(self)
        check_pricing(self, problems)
        for i, text in enumerate(self.report.figures if self.report else []):
            why = check_level_names(text, self.workloads, list(self.regions))
            if why:
                problems.append((f"report.figures.{i}", why))
        if self.record is not None and self.record.mode != "full" and self.report is not None:
            for i, text in enumerate(self.report.figures):
                if parse_level(text).kind == "jobs":
                    problems.append((f"report.figures.{i}", f"{text}: job figures need record.mode full "
                                     f"(this scenario has {self.record.mode}); request figures work in every mode"))
        if problems:
            raise ScenarioError(None, problems)
        return self

    # --- derived facts used by the world and the checks ---------------------------------

    @property
    def scaling(self) -> bool:
        """True when some policy may change the fleet (so supply caps, not the fleet, bound it)."""
        return any(p.kind != "static" for p in self.policies)

    def node_types_for(self, work: JobsWorkloadSpec | InferenceWorkloadSpec) -> list[str]:
        """Names of the node types whose GPU a workload accepts."""
        return [
            name for name, t in self.node_types.items()
            if work.gpu_types is None or t.gpu in work.gpu_types
        ]

    def possible_gpus(self, region: str, work: JobsWorkloadSpec, any_state: bool = False) -> float:
        """Largest single-job allocation a region can ever offer a workload, GPUs.

        A job fits on one node, or spans nodes of one type in one region. Without scaling
        policies the fleet is fixed; with them, the region's ``max_nodes`` bounds it (inf when
        unset). ``any_state`` counts an inactive region as if it were active."""
        spec = self.regions[region]
        if not spec.active and not self.scaling and not any_state:
            return 0.0
        best = 0.0
        for name in self.node_types_for(work):
            t = self.node_types[name]
            if self.scaling:
                nodes = spec.max_nodes if spec.max_nodes is not None else float("inf")
                bound = self.limits.pools.get(region, {}).get(name)
                if bound is not None and bound.max is not None:
                    nodes = min(nodes, bound.max)
                size = t.max_gpus or t.gpus
            else:
                nodes = self.fleet.get(region, {}).get(name, 0)
                size = t.gpus
            best = max(best, (nodes * size if t.multi_node else (size if nodes > 0 else 0)))
        return best

    def allowed_jurisdictions(
        self, work: JobsWorkloadSpec | InferenceWorkloadSpec, origin: str
    ) -> set[str] | None:
        """Jurisdictions a job from ``origin`` may run in; ``None`` means anywhere."""
        if work.residency == "any":
            return None
        if work.residency == "origin":
            return {self.regions[origin].jurisdiction}
        return set(work.residency)

    def digest(self) -> str:
        """SHA-256 of the resolved scenario (canonical YAML), for provenance."""
        return hashlib.sha256(self.to_yaml().encode()).hexdigest()

    def to_yaml(self) -> str:
        """The resolved scenario as YAML (every default filled in, base units)."""
        data = self.model_dump(mode="json")
        if data.get("report") is None:  # scenarios without one resolve as they did before it existed
            data.pop("report", None)
        if data.get("record") is None:
            data.pop("record", None)
        if data.get("pricing") is None:
            data.pop("pricing", None)
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def scenario_json_schema() -> dict[str, Any]:
    """JSON Schema of the scenario file, for editors (``swarmsim schema``).

    A region named after a built-in catalog site may omit ``location``, ``jurisdiction`` and
    ``utc_offset`` (they are filled from the catalog), so the schema does not require them; the
    loader reports a missing one for other regions."""
    schema = Scenario.model_json_schema(by_alias=True)
    schema["properties"].pop("source", None)
    schema["properties"].get("report", {}).pop("default", None)
    schema["properties"].get("record", {}).pop("default", None)
    schema["properties"].get("pricing", {}).pop("default", None)
    region = schema.get("$defs", {}).get("RegionSpec", {})
    region["required"] = [
        r for r in region.get("required", []) if r not in ("location", "jurisdiction", "utc_offset")
    ]
    return schema
