"""``workloads``: the union of workload kinds (tagged by ``kind``), and ``kind: jobs``, batch
training jobs; ``kind: inference`` is in :mod:`swarmsim.scenario.services`."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, SerializerFunctionWrapHandler, field_validator, model_serializer, model_validator

from swarmsim.distributions import ConstantDist, DistOrValue
from swarmsim.scenario.arrivals import ArrivalSpec, TraceSpec, one_source
from swarmsim.scenario.common import NonNegativeDuration, PositiveDuration, Shares, Spec, catalog_gpus
from swarmsim.scenario.services import InferenceWorkloadSpec


class JobsWorkloadSpec(Spec):
    """Batch training jobs: gang-scheduled, run to completion."""

    kind: Literal["jobs"]
    arrivals: ArrivalSpec | None = Field(None, description="synthetic arrivals (or trace)")
    trace: TraceSpec | None = Field(None, description="replay a trace (or arrivals)")
    origin: Shares = Field(description="share of arrivals per region")
    gpus: DistOrValue = Field(default_factory=lambda: ConstantDist(dist="constant", value=1))
    duration: DistOrValue | None = Field(None, description="run time on the reference GPU (speed 1.0), s")
    data: DistOrValue = Field(
        default_factory=lambda: ConstantDist(dist="constant", value=0.0),
        description="input data moved to the running region, bytes",
    )
    priority: DistOrValue = Field(
        default_factory=lambda: ConstantDist(dist="constant", value=0.0),
        description="higher runs first under queue: priority",
    )
    residency: Literal["origin", "any"] | list[str] = "any"
    gpu_types: list[str] | None = None
    checkpoint_every: PositiveDuration | None = Field(
        None, description="s of run time between checkpoints; a failure loses the work since the last one"
    )
    checkpoint_overhead: NonNegativeDuration = Field(0.0, description="s of run time to write one checkpoint")
    cpus: DistOrValue | None = Field(None, description="CPUs each job asks for (sharing fleets)")
    memory: DistOrValue | None = Field(None, description="host memory each job asks for, bytes "
                                       "(e.g. 16GiB; sharing fleets)")
    fractional_gpus: Literal["keep", "ceil"] | None = Field(
        None, description="a job of gpus < 1 on a sharing fleet: keep its share of one GPU (the default) "
        "or round it up to a whole GPU")
    stop_at_requested: float | None = Field(
        None, gt=0, description="stop arrivals once the GPUs asked for reach this fraction of the fleet's "
        "GPU capacity (workload inflation, sharing fleets)")
    mig_profile: str | dict[str, float] | None = Field(
        None, description="MIG fleets: the GPU-instance profile each job asks for (3g.40gb), or a mix "
        "{profile: share}")

    @model_serializer(mode="wrap")
    def _drop_sharing_defaults(self, handler: SerializerFunctionWrapHandler) -> Any:
        out = handler(self)
        if isinstance(out, dict):
            for key in ("stop_at_requested", "mig_profile", "cpus", "memory", "fractional_gpus"):
                if key in out and out[key] is None:
                    del out[key]
        return out

    def mig_mix(self) -> dict[str, float]:
        """``mig_profile`` as {profile: share} (shares sum to 1); {} when not given."""
        if self.mig_profile is None:
            return {}
        return {self.mig_profile: 1.0} if isinstance(self.mig_profile, str) else dict(self.mig_profile)

    @field_validator("gpu_types")
    @classmethod
    def _known_gpus(cls, value: list[str] | None) -> list[str] | None:
        return catalog_gpus(value)

    @model_validator(mode="after")
    def _positive(self) -> JobsWorkloadSpec:
        one_source(self.arrivals, self.trace)
        if self.trace is None and self.duration is None:
            raise ValueError("duration: required for synthetic arrivals (a trace brings its own)")
        if self.gpus.lower() <= 0:
            raise ValueError("gpus: every job needs at least 1 GPU (or, on a sharing fleet, a share of one "
                             "GPU such as 0.25, docs/sharing.md)")
        for key in ("cpus", "memory"):
            dist = getattr(self, key)
            if dist is not None and dist.lower() < 0:
                raise ValueError(f"{key}: a job cannot ask for less than nothing")
        if self.duration is not None and self.duration.lower() < 0:
            raise ValueError("duration: a duration cannot be negative")
        if self.data.lower() < 0:
            raise ValueError("data: a size cannot be negative")
        mix = self.mig_profile
        if isinstance(mix, dict) and (not mix or any(v < 0 for v in mix.values()) or abs(sum(mix.values()) - 1) > 1e-9):
            raise ValueError("mig_profile: a mix gives each profile a share >= 0, the shares summing to 1")
        return self


WorkloadSpec = Annotated[JobsWorkloadSpec | InferenceWorkloadSpec, Field(discriminator="kind")]
