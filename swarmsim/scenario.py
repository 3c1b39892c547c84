"""The validated, frozen scenario model and :func:`load_scenario`.

A scenario file (YAML) or dict becomes a :class:`Scenario` in which every quantity is in base
units (seconds, per second, bytes, bit/s, USD) and every default is resolved: region
coordinates, jurisdictions and UTC offsets from the built-in catalog, node prices from the GPU
catalog. Nothing downstream reads raw YAML or guesses a default.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import math
import os
import re
import types
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from swarmsim import catalog
from swarmsim.distributions import ConstantDist, DistOrValue, LognormalDist
from swarmsim.errors import ScenarioError
from swarmsim.units import Bandwidth, Duration, Fraction, Rate

__all__ = [
    "JobsWorkloadSpec",
    "NetworkSpec",
    "NodeTypeSpec",
    "RegionSpec",
    "Scenario",
    "SchedulerSpec",
    "load_scenario",
    "parse_overrides",
]

Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]
PositiveDuration = Annotated[Duration, Field(gt=0)]
NonNegativeDuration = Annotated[Duration, Field(ge=0)]
PositiveRate = Annotated[Rate, Field(gt=0)]
#: Kinds of GPU provider; failure defaults are per provider (docs/resilience.md).
PROVIDERS = ("datacenter", "gpu-cluster", "workstation", "gaming-pc", "individual", "edge")
Provider = Literal["datacenter", "gpu-cluster", "workstation", "gaming-pc", "individual", "edge"]
NonNegativeRate = Annotated[Rate, Field(ge=0)]

def _check_shares(value: dict[str, float]) -> dict[str, float]:
    if any(share < 0 for share in value.values()):
        raise ValueError("shares cannot be negative")
    total = sum(value.values())
    if abs(total - 1.0) > 1e-6:
        raise ValueError(f"shares must sum to 1, got {total:g}")
    return value


#: Shares of arrivals per user region: non-negative, summing to 1.
Shares = Annotated[dict[str, float], Field(min_length=1), AfterValidator(_check_shares)]

#: Default access latency (user to site) of a core region and of an edge site, seconds.
#: Core: FCC Measuring Broadband America, terrestrial average 34.9 ms RTT to the nearest test
#: server, rounded down to 20 ms for metro users (contract default); edge: 5 ms (contract example).
DEFAULT_ACCESS_LATENCY_S = {"core": 0.020, "edge": 0.005}

#: Default node provisioning time: lognormal, median 3.5 min, p95 ≈ 8 min
#: (scaling-and-cloud-facts.md §6.1: sigma = ln(8 / 3.5) / 1.645 ≈ 0.5).
DEFAULT_PROVISION_TIME = {"dist": "lognormal", "median": 210.0, "sigma": 0.5}


class Spec(BaseModel):
    """Base of every scenario model: unknown keys are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Location(Spec):
    """A point on Earth, degrees."""

    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class RegionSpec(Spec):
    """A region or edge site that can hold nodes; users may also originate here."""

    location: Location
    jurisdiction: str = Field(min_length=1)
    utc_offset: float = Field(ge=-12, le=14, description="hours; drives diurnal demand")
    kind: Literal["core", "edge"] = "core"
    access_latency: NonNegativeDuration | None = Field(
        None, description="user -> site latency, s; default 20ms core, 5ms edge"
    )
    price_multiplier: float = Field(1.0, gt=0)
    max_nodes: int | None = Field(None, ge=0, description="supply that providers can offer here")
    active: bool = True
    site: str | None = Field(
        None, description="built-in catalog site used for measured RTTs (default: by name)"
    )

    @property
    def access_latency_s(self) -> float:
        """Access latency in seconds, with the core/edge default applied."""
        if self.access_latency is not None:
            return self.access_latency
        return DEFAULT_ACCESS_LATENCY_S[self.kind]


class NetworkSpec(Spec):
    """Latency and bandwidth between regions."""

    rtt: Literal["builtin", "distance"] = "builtin"
    route_factor: float = Field(1.5, ge=1.0, description="distance RTT = factor * 2d / 200 km/ms")
    rtt_overrides: dict[str, dict[str, NonNegativeDuration]] = Field(default_factory=dict)
    intra_region_rtt: NonNegativeDuration = Field(0.001, description="s, between sites of a region")
    bandwidth: Annotated[Bandwidth, Field(gt=0)] = 10e9
    egress_usd_per_gb: float = Field(0.02, ge=0, description="USD per decimal GB moved out")


class NodeTypeSpec(Spec):
    """A kind of node: GPU model and count, price, provisioning time."""

    gpu: str
    gpus: int = Field(ge=1)
    max_gpus: int | None = Field(None, ge=1, description="vertical scaling limit, GPUs")
    usd_per_gpu_hour: float | None = Field(None, ge=0, description="default: GPU catalog price")
    provision_time: DistOrValue = Field(default_factory=lambda: LognormalDist(**DEFAULT_PROVISION_TIME))
    provider: Provider = "datacenter"
    multi_node: bool = Field(
        True, description="a job may span several nodes of this type (fast interconnect)"
    )

    @field_validator("gpu")
    @classmethod
    def _known_gpu(cls, value: str) -> str:
        found = catalog.find_gpu(value)
        if found is None:
            known = ", ".join(catalog.gpu_types())
            raise ValueError(f"unknown GPU {value!r}; the built-in catalog has: {known}")
        return found.name

    @model_validator(mode="after")
    def _resolve(self) -> NodeTypeSpec:
        if self.max_gpus is not None and self.max_gpus < self.gpus:
            raise ValueError(f"max_gpus ({self.max_gpus}) is below gpus ({self.gpus})")
        if self.provision_time.lower() < 0:
            raise ValueError("provision_time: a duration cannot be negative")
        if self.usd_per_gpu_hour is None:
            price = catalog.find_gpu(self.gpu).usd_per_gpu_hour  # type: ignore[union-attr]
            object.__setattr__(self, "usd_per_gpu_hour", price)
        if self.max_gpus is None:
            object.__setattr__(self, "max_gpus", self.gpus)
        return self

    @property
    def speed(self) -> float:
        """Training speed of this node's GPU relative to the reference GPU (A100-80GB = 1)."""
        return catalog.find_gpu(self.gpu).train_speed  # type: ignore[union-attr]


# --- arrival processes -------------------------------------------------------------------


class PoissonArrivals(Spec):
    """Homogeneous Poisson arrivals at ``rate`` (per second)."""

    process: Literal["poisson"]
    rate: PositiveRate

    def mean_rate(self) -> float:
        return self.rate


class DeterministicArrivals(Spec):
    """Evenly spaced arrivals: one every ``1 / rate`` seconds, the first at ``start``.

    Useful for D/M/c and D/D/c checks and for exact, hand-computable test scenarios."""

    process: Literal["deterministic"]
    rate: PositiveRate
    start: NonNegativeDuration = 0.0
    count: int | None = Field(None, ge=0, description="stop after this many arrivals")


class DiurnalArrivals(Spec):
    """A daily cycle in each origin's local time: a sinusoid around ``mean_rate``.

    rate(t) = mean_rate * (1 + a cos(2π (local_hour(t) - peak_hour) / 24)),
    a = (peak_to_trough - 1) / (peak_to_trough + 1).
    """

    process: Literal["diurnal"]
    mean_rate: PositiveRate
    peak_to_trough: float = Field(3.0, ge=1.0)
    peak_hour: float = Field(14.0, ge=0, lt=24, description="local time of the peak, hours")

    def mean_rate_value(self) -> float:
        return self.mean_rate


class MmppArrivals(Spec):
    """Markov-modulated Poisson (bursty): state i emits at ``rates[i]`` for an exponential
    sojourn of mean ``mean_durations[i]``, then moves to the next state (cyclically)."""

    process: Literal["mmpp"]
    rates: list[NonNegativeRate] = Field(min_length=2)
    mean_durations: list[PositiveDuration] = Field(min_length=2)

    @model_validator(mode="after")
    def _same_length(self) -> MmppArrivals:
        if len(self.rates) != len(self.mean_durations):
            raise ValueError(
                f"rates has {len(self.rates)} states but mean_durations has "
                f"{len(self.mean_durations)}; give one mean duration per rate"
            )
        if max(self.rates) <= 0:
            raise ValueError("at least one state must have a positive rate")
        return self


class RampArrivals(Spec):
    """Demand growth: the rate moves from ``start_rate`` to ``end_rate`` over ``over``
    seconds (linearly or exponentially), starting at ``start``, then stays at ``end_rate``."""

    process: Literal["ramp"]
    start_rate: NonNegativeRate
    end_rate: NonNegativeRate
    over: PositiveDuration
    start: NonNegativeDuration = 0.0
    shape: Literal["linear", "exponential"] = "linear"

    @model_validator(mode="after")
    def _positive_somewhere(self) -> RampArrivals:
        if self.start_rate <= 0 and self.end_rate <= 0:
            raise ValueError("start_rate and end_rate cannot both be 0")
        if self.shape == "exponential" and min(self.start_rate, self.end_rate) <= 0:
            raise ValueError("an exponential ramp needs start_rate and end_rate above 0")
        return self


ArrivalSpec = Annotated[
    PoissonArrivals | DeterministicArrivals | DiurnalArrivals | MmppArrivals | RampArrivals,
    Field(discriminator="process"),
]


class TraceSpec(Spec):
    """Replay of a recorded trace instead of synthetic arrivals (docs/traces.md)."""

    format: str = Field(description="a trace format name (swarmsim trace formats)")
    path: str = Field(description="file; relative to the scenario's folder; ${VAR} expands")
    start: NonNegativeDuration | None = Field(None, description="window start, trace time, s")
    end: NonNegativeDuration | None = Field(None, description="window end, trace time, s")
    offset: NonNegativeDuration = Field(0.0, description="simulated time of the window start, s")
    time_scale: float = Field(1.0, gt=0, description="multiplies every gap between arrivals")
    sample: float = Field(1.0, gt=0, le=1, description="share of rows kept (by seed)")
    scale: float = Field(1.0, ge=1, description="load multiplier: rows repeated, copies jittered")
    jitter: NonNegativeDuration = Field(300.0, description="s; copies of a row move by up to this")
    region_by: Literal["weights", "column", "hash"] = Field(
        "weights", description="origin of each row: by the origin weights, by the group column "
        "naming a region, or by hashing the group id onto the weights")
    gpu_map: dict[str, str] = Field(default_factory=dict, description="trace GPU model -> catalog GPU")
    speed_scaling: bool = Field(
        False, description="scale traced durations by GPU speed (needs gpu_map); default: "
        "a job runs exactly its traced duration on any GPU")
    fractional_gpus: Literal["ceil", "round"] = Field(
        "ceil", description="how a job asking for part of a GPU is allocated whole GPUs")
    columns: dict[str, str] = Field(default_factory=dict, description="for format csv: canonical -> file column")
    time_unit: float = Field(1.0, gt=0, description="for format csv: seconds per unit of the time columns")
    on_bad_rows: Literal["error", "skip"] = "error"

    @field_validator("format")
    @classmethod
    def _known_format(cls, value: str) -> str:
        from swarmsim.traces.formats import FORMATS

        if value not in FORMATS:
            close = difflib.get_close_matches(value, list(FORMATS), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"unknown trace format {value!r}{hint}; known: {', '.join(sorted(FORMATS))}")
        return value

    @field_validator("gpu_map")
    @classmethod
    def _known_targets(cls, value: dict[str, str]) -> dict[str, str]:
        out = {}
        for model, gpu in value.items():
            found = catalog.find_gpu(gpu)
            if found is None:
                raise ValueError(f"{model!r} maps to unknown GPU {gpu!r}")
            out[model] = found.name
        return out

    @model_validator(mode="after")
    def _window(self) -> TraceSpec:
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ValueError(f"end ({self.end:g} s) must be after start ({self.start:g} s)")
        if self.format == "csv" and not self.columns:
            raise ValueError("format csv needs columns: {submit: ..., gpus: ..., duration: ...}")
        if self.speed_scaling and not self.gpu_map:
            raise ValueError("speed_scaling needs a gpu_map (the traced GPU of each job)")
        return self


def _one_source(arrivals: object, trace: object) -> None:
    if (arrivals is None) == (trace is None):
        raise ValueError("give either arrivals (synthetic) or trace (replay), not both or neither")


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

    @field_validator("gpu_types")
    @classmethod
    def _known_gpus(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        names = []
        for name in value:
            found = catalog.find_gpu(name)
            if found is None:
                raise ValueError(f"unknown GPU {name!r}")
            names.append(found.name)
        return names

    @model_validator(mode="after")
    def _positive(self) -> JobsWorkloadSpec:
        _one_source(self.arrivals, self.trace)
        if self.trace is None and self.duration is None:
            raise ValueError("duration: required for synthetic arrivals (a trace brings its own)")
        if self.gpus.lower() < 1:
            raise ValueError("gpus: every job needs at least 1 GPU")
        if self.duration is not None and self.duration.lower() < 0:
            raise ValueError("duration: a duration cannot be negative")
        if self.data.lower() < 0:
            raise ValueError("data: a size cannot be negative")
        return self


#: Default model-load time of a replica on a ready node (image pull, weights, engine init):
#: lognormal, median 2.5 min, sigma 0.4 (scaling-and-cloud-facts.md §6.1: weights 100-300 s,
#: engine init 10-30 s; LLaMA-2-70B loads into GPU memory in about 84 s, ServerlessLLM).
DEFAULT_LOAD_TIME = {"dist": "lognormal", "median": 150.0, "sigma": 0.4}


class ReplicaSpec(Spec):
    """The shape of one model replica: GPUs it holds, requests it batches, how it is timed."""

    gpu: str | None = Field(None, description="GPU model of the replica (or gpu_types)")
    gpu_types: list[str] | None = Field(None, description="GPU models the replica may run on")
    gpus: int = Field(1, ge=1, description="GPUs per replica (tensor parallelism)")
    max_batch: int = Field(16, ge=1, description="requests served at once (continuous batching)")
    model: str = Field("llama2-7b", description="built-in serving profile (docs/serving.md)")
    prefill_fixed_s: float | None = Field(None, ge=0, description="s per request, overrides the profile")
    prefill_s_per_token: float | None = Field(None, ge=0, description="s per prompt token on this GPU")
    decode_s_per_token: float | None = Field(None, gt=0, description="s per output token at batch 1")
    batch_slowdown: float | None = Field(None, ge=0, description="tpot grows by this per extra request")
    load_time: DistOrValue = Field(
        default_factory=lambda: LognormalDist(**DEFAULT_LOAD_TIME),
        description="s from placement to serving (model load)",
    )

    @field_validator("gpu")
    @classmethod
    def _known_gpu(cls, value: str | None) -> str | None:
        if value is None:
            return None
        found = catalog.find_gpu(value)
        if found is None:
            known = ", ".join(catalog.gpu_types())
            raise ValueError(f"unknown GPU {value!r}; the built-in catalog has: {known}")
        return found.name

    @field_validator("gpu_types")
    @classmethod
    def _known_gpus(cls, value: list[str] | None) -> list[str] | None:
        return JobsWorkloadSpec._known_gpus(value)

    @property
    def accepted(self) -> list[str] | None:
        """GPU models the replica accepts (None = any)."""
        if self.gpu is not None:
            return [self.gpu, *(self.gpu_types or [])]
        return self.gpu_types


class SloSpec(Spec):
    """Per-request latency objectives; a request meets the SLO when it meets every one given."""

    latency_p99: Annotated[Duration, Field(gt=0)] | None = Field(None, description="end-to-end, s")
    ttft_p99: Annotated[Duration, Field(gt=0)] | None = Field(None, description="time to first token, s")
    tpot_p99: Annotated[Duration, Field(gt=0)] | None = Field(None, description="time per output token, s")


class InferenceWorkloadSpec(Spec):
    """An online service: requests from user regions, served by model replicas."""

    kind: Literal["inference"]
    arrivals: ArrivalSpec | None = Field(None, description="synthetic arrivals (or trace)")
    trace: TraceSpec | None = Field(None, description="replay a request trace (or arrivals)")
    origin: Shares = Field(description="share of requests per user region")
    prompt_tokens: DistOrValue = Field(default_factory=lambda: ConstantDist(dist="constant", value=512))
    output_tokens: DistOrValue = Field(default_factory=lambda: ConstantDist(dist="constant", value=128))
    replica: ReplicaSpec = Field(default_factory=ReplicaSpec)
    replicas: dict[str, int] | None = Field(
        None, description="replicas at t = 0 per region; default one per active region that can hold one"
    )
    residency: Literal["origin", "any"] | list[str] = "any"
    slo: SloSpec = Field(default_factory=SloSpec)
    max_queue: int | None = Field(None, ge=0, description="requests waiting per region; more are dropped")
    timeout: Annotated[Duration, Field(gt=0)] | None = Field(None, description="s a request may wait")
    routing: Literal["nearest", "least-loaded", "latency-aware"] | None = Field(
        None, description="default: scheduler.routing"
    )
    sample_requests: int | None = Field(
        100_000, ge=0, description="about this many rows kept in requests.csv (Bernoulli sample); null = all"
    )
    on_failure: Literal["retry", "drop"] = Field(
        "retry", description="requests in service on a replica whose node fails: served again elsewhere, or dropped"
    )
    min_regions: int | None = Field(
        None, ge=1, description="replicas spread over at least this many regions (redundancy)"
    )

    @property
    def gpu_types(self) -> list[str] | None:
        """GPU models the replicas accept (for node-type matching, as for jobs)."""
        return self.replica.accepted

    @model_validator(mode="after")
    def _tokens(self) -> InferenceWorkloadSpec:
        _one_source(self.arrivals, self.trace)
        if self.prompt_tokens.lower() < 0:
            raise ValueError("prompt_tokens: a token count cannot be negative")
        if self.output_tokens.lower() < 0:
            raise ValueError("output_tokens: a token count cannot be negative")
        if self.replica.load_time.lower() < 0:
            raise ValueError("replica.load_time: a duration cannot be negative")
        if self.replicas is not None and any(n < 0 for n in self.replicas.values()):
            raise ValueError("replicas: a replica count cannot be negative")
        return self


WorkloadSpec = Annotated[JobsWorkloadSpec | InferenceWorkloadSpec, Field(discriminator="kind")]


class SchedulerSpec(Spec):
    """How each region's queue is ordered, where jobs are placed and routed."""

    queue: Literal["fifo", "backfill", "shortest-first", "priority"] = "fifo"
    placement: Literal["first-fit", "best-fit", "spread"] = "best-fit"
    routing: Literal["nearest", "least-loaded", "latency-aware"] = "nearest"
    gpu_priority: Literal["inference-first", "training-first"] = Field(
        "inference-first", description="who gets GPUs first when replicas and jobs both wait"
    )


class PolicySpec(Spec):
    """One scaling policy: a built-in (``kind`` + ``strategy``) or a user's class.

    Parameters may be given inline (``target_utilization: 0.7``) or under ``params``; they are
    validated by the policy class's own ``Params`` model, and the resolved scenario holds them
    all, defaults included, under ``params``."""

    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)

    kind: Literal["static", "horizontal", "vertical", "geographic", "custom"]
    strategy: str | None = None
    class_path: str | None = Field(None, alias="class", description="module:Class, for kind: custom")
    interval: PositiveDuration | None = Field(None, description="s between decisions; default per policy")
    params: dict[str, Any] = Field(default_factory=dict)

    def policy_class(self) -> type:
        """The class this spec names (built-in table or ``module:Class``)."""
        from swarmsim.policies.registry import resolve

        return resolve(self.kind, self.strategy, self.class_path)

    def interval_s(self) -> float:
        """Seconds between two decisions of this policy."""
        return self.interval if self.interval is not None else float(self.policy_class().default_interval_s)


class PoolLimitSpec(Spec):
    """Bounds on the nodes of one type in one region that the world enforces on every action."""

    min: int = Field(0, ge=0)
    max: int | None = Field(None, ge=0)


class LimitsSpec(Spec):
    """Limits the world enforces whatever the policies ask."""

    budget_usd_per_hour: float | None = Field(
        None, gt=0, description="cap on the billed rate, USD/h; adds and resizes beyond it are refused"
    )
    pools: dict[str, dict[str, PoolLimitSpec]] = Field(
        default_factory=dict, description="region -> node type -> {min, max} nodes"
    )


# --- failures -----------------------------------------------------------------------------

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

    # Where the scenario came from: the folder relative paths resolve against (not hashed).
    source: str | None = Field(None, exclude=True, description="file the scenario was read from")

    @model_validator(mode="before")
    @classmethod
    def _fleet_from_trace(cls, data: Any) -> Any:
        """``fleet: {region: {from_trace: {format, path, gpu_map, scale}}}`` becomes node types
        (one per traced GPU model and node size, named like ``v100x8``) and node counts."""
        if not isinstance(data, dict) or not isinstance(data.get("fleet"), dict):
            return data
        fleet = dict(data["fleet"])
        if "from_trace" in fleet:  # fleet: {from_trace: {..., region: r}}: the same, for one region
            spec = fleet.pop("from_trace")
            regions = list(data.get("regions") or {})
            region = spec.pop("region", None) if isinstance(spec, dict) else None
            if region is None and len(regions) == 1:
                region = regions[0]
            if region is None:
                raise ScenarioError(None, [("fleet.from_trace.region", "required when the scenario has several "
                                            f"regions: one of {', '.join(regions)}")])
            per_region = dict(fleet.get(region) or {})
            per_region["from_trace"] = spec
            fleet[region] = per_region
        if not any(isinstance(c, dict) and "from_trace" in c for c in fleet.values()):
            return data
        data = dict(data)
        fleet = {k: dict(v) if isinstance(v, dict) else v for k, v in fleet.items()}
        node_types = dict(data.get("node_types") or {})
        problems: list[tuple[str, str]] = []
        for region, counts in fleet.items():
            if not isinstance(counts, dict) or "from_trace" not in counts:
                continue
            spec = counts.pop("from_trace")
            where = f"fleet.{region}.from_trace"
            try:
                for name, node_type, count in _nodes_from_trace(spec, data.get("source")):
                    existing = node_types.get(name)
                    if existing is not None and existing != node_type:
                        problems.append((where, f"node type {name!r} is already defined differently"))
                        continue
                    node_types[name] = node_type
                    counts[name] = counts.get(name, 0) + count
            except ScenarioError as err:
                problems += [(f"{where}{'.' + p if p else ''}", m) for p, m in err.problems]
        if problems:
            raise ScenarioError(None, problems)
        data["fleet"], data["node_types"] = fleet, node_types
        return data

    @model_validator(mode="before")
    @classmethod
    def _fill_regions_from_catalog(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not isinstance(data.get("regions"), dict):
            return data
        data = dict(data)
        regions = {}
        for name, spec in data["regions"].items():
            if spec is None:
                spec = {}
            if isinstance(spec, dict):
                spec = dict(spec)
                site = catalog.find_region(str(spec.get("site") or name))
                if site is None and isinstance(spec.get("location"), dict):
                    loc = spec["location"]
                    try:
                        site = catalog.nearest_site(float(loc["lat"]), float(loc["lon"]))
                    except (KeyError, TypeError, ValueError):
                        site = None
                if site is not None:
                    spec["site"] = site.name  # canonical, even when given as an alias
                    spec.setdefault("location", {"lat": site.lat, "lon": site.lon})
                    spec.setdefault("jurisdiction", site.jurisdiction)
                    spec.setdefault("utc_offset", site.utc_offset)
            regions[name] = spec
        data["regions"] = regions
        return data

    @model_validator(mode="after")
    def _cross_checks(self) -> Scenario:
        problems: list[tuple[str, str]] = []
        if self.warmup >= self.horizon:
            problems.append(("warmup", "must be shorter than horizon"))
        regions = self.regions
        jurisdictions = {r.jurisdiction for r in regions.values()}
        for name, spec in regions.items():
            if spec.site is not None and catalog.find_region(spec.site) is None:
                problems.append((f"regions.{name}.site", f"unknown built-in site {spec.site!r}"))
        for a, row in self.network.rtt_overrides.items():
            for b in [a, *row]:
                if b not in regions:
                    problems.append((f"network.rtt_overrides.{a}", _unknown("region", b, regions)))
            for b, rtt_s in row.items():
                if a in regions and b in regions:
                    la, lb = regions[a].location, regions[b].location
                    km = catalog.great_circle_km(la.lat, la.lon, lb.lat, lb.lon)
                    floor_s = 2.0 * km / 200_000.0  # light in fibre, there and back
                    if rtt_s < floor_s:
                        problems.append((f"network.rtt_overrides.{a}.{b}", (
                            f"{rtt_s * 1000:g} ms is below the physical floor of {floor_s * 1000:.1f} ms "
                            f"for {km:,.0f} km of fibre (light at 200,000 km/s, there and back)")))
        for region, counts in self.fleet.items():
            if region not in regions:
                problems.append((f"fleet.{region}", _unknown("region", region, regions)))
                continue
            total = 0
            for node_type, count in counts.items():
                if node_type not in self.node_types:
                    problems.append(
                        (f"fleet.{region}.{node_type}", _unknown("node type", node_type, self.node_types))
                    )
                if not isinstance(count, int) or count < 0:
                    problems.append((f"fleet.{region}.{node_type}", "expected a node count >= 0"))
                else:
                    total += count + math.ceil(self.failures.spare * count - 1e-9)  # hot spares are nodes too
            spec = regions[region]
            if total and not spec.active:
                problems.append((f"fleet.{region}", "the region is inactive (active: false): no nodes"))
            if spec.max_nodes is not None and total > spec.max_nodes:
                spares = " (hot spares included)" if self.failures.spare else ""
                problems.append(
                    (f"fleet.{region}", f"{total} nodes{spares} exceed the region's max_nodes ({spec.max_nodes})")
                )
        problems += self._check_policies()
        problems += self._check_failures()
        for region, pools in self.limits.pools.items():
            if region not in regions:
                problems.append((f"limits.pools.{region}", _unknown("region", region, regions)))
                continue
            for node_type, bound in pools.items():
                where = f"limits.pools.{region}.{node_type}"
                if node_type not in self.node_types:
                    problems.append((where, _unknown("node type", node_type, self.node_types)))
                elif bound.max is not None and bound.max < bound.min:
                    problems.append((where, f"max ({bound.max}) is below min ({bound.min})"))
                else:
                    count = self.fleet.get(region, {}).get(node_type, 0)
                    if count < bound.min or (bound.max is not None and count > bound.max):
                        problems.append((where, f"the fleet has {count} nodes, outside [{bound.min}, "
                                         f"{bound.max if bound.max is not None else 'inf'}]"))
        for wname, work in self.workloads.items():
            base = f"workloads.{wname}"
            if isinstance(work, InferenceWorkloadSpec):
                problems += self._check_service(base, work)
            for origin in work.origin:
                if origin not in regions:
                    problems.append((f"{base}.origin.{origin}", _unknown("region", origin, regions)))
            if isinstance(work.residency, list):
                for j in work.residency:
                    if j not in jurisdictions:
                        problems.append(
                            (f"{base}.residency", f"no region has jurisdiction {j!r}; known: "
                             f"{', '.join(sorted(jurisdictions))}")
                        )
            if isinstance(work, JobsWorkloadSpec) and work.gpu_types is not None:
                have = {t.gpu for t in self.node_types.values()}
                if not set(work.gpu_types) & have:
                    problems.append(
                        (f"{base}.gpu_types", f"no node type has any of {work.gpu_types}; "
                         f"node types have {sorted(have)}")
                    )
            if not problems and isinstance(work, JobsWorkloadSpec):
                smallest = work.gpus.lower()
                # Residency and inactive regions only cause rejections at run time (with a
                # warning); a job larger than anything any region could ever hold is an error.
                largest = max((self.possible_gpus(r, work, any_state=True) for r in regions), default=0)
                if smallest > largest:
                    problems.append(
                        (f"{base}.gpus", f"no job of this workload can ever run: the smallest asks "
                         f"for {smallest:g} GPUs but the largest allocation any region can "
                         f"offer is {largest:g} GPUs")
                    )
        if problems:
            raise ScenarioError(None, problems)
        return self

    def _check_failures(self) -> list[tuple[str, str]]:
        """Keys of the failure tables name providers or node types; outages name regions."""
        problems: list[tuple[str, str]] = []
        f = self.failures
        known = [*PROVIDERS, *self.node_types]
        for table in ("nodes", "churn", "spot"):
            for key in getattr(f, table):
                if key not in known:
                    problems.append((f"failures.{table}.{key}", _unknown("provider or node type", key, known)))
        for i, outage in enumerate(f.outages):
            if outage.region not in self.regions:
                problems.append((f"failures.outages.{i}.region", _unknown("region", outage.region, self.regions)))
        return problems

    def _check_service(self, base: str, work: InferenceWorkloadSpec) -> list[tuple[str, str]]:
        """An inference service: its replica shape fits some node type, its serving profile
        exists for those GPUs, its initial replicas name regions."""
        from swarmsim.serving import profile_for_replica

        problems: list[tuple[str, str]] = []
        r = work.replica
        fits = [t for t in self.node_types_for(work) if (self.node_types[t].max_gpus or 0) >= r.gpus]
        if not fits:
            problems.append((f"{base}.replica", f"no node type can hold a replica of {r.gpus} "
                             f"{'/'.join(r.accepted or ['any'])} GPUs"))
        for t in fits:
            try:
                profile_for_replica(r, self.node_types[t].gpu)
            except ValueError as err:
                problems.append((f"{base}.replica.model", str(err)))
                break
        for region in work.replicas or {}:
            if region not in self.regions:
                problems.append((f"{base}.replicas.{region}", _unknown("region", region, self.regions)))
        if work.min_regions is not None and fits:
            if work.replicas is not None:
                spread = [reg for reg, n in work.replicas.items() if n > 0]
            else:  # the default: one replica per active region with a node type that can hold one
                spread = [reg for reg, spec in self.regions.items()
                          if spec.active and any(self.fleet.get(reg, {}).get(t, 0) for t in fits)]
            if len(spread) < work.min_regions:
                problems.append((f"{base}.min_regions", f"the initial replicas are in {len(spread)} region(s) "
                                 f"({', '.join(spread) or 'none'}); min_regions asks for at least "
                                 f"{work.min_regions}"))
        return problems

    def _check_policies(self) -> list[tuple[str, str]]:
        """Resolve each policy's class and validate its parameters with its own ``Params``."""
        problems: list[tuple[str, str]] = []
        for i, spec in enumerate(self.policies):
            base = f"policies.{i}"
            try:
                cls = spec.policy_class()
            except ValueError as err:
                where = "class" if spec.kind == "custom" else "strategy"
                problems.append((f"{base}.{where}", str(err)))
                continue
            params_model = getattr(cls, "Params", None)
            if not (isinstance(params_model, type) and issubclass(params_model, BaseModel)):
                problems.append((base, f"{cls.__name__} has no pydantic Params model"))
                continue
            raw = {**spec.params, **(spec.model_extra or {})}
            try:
                params = params_model.model_validate(raw)
            except ValidationError as err:
                for e in err.errors(include_url=False):
                    path = ".".join(str(p) for p in e["loc"])
                    message = e["msg"].removeprefix("Value error, ")
                    if e["type"] == "extra_forbidden":
                        key = str(e["loc"][-1])
                        close = difflib.get_close_matches(key, list(params_model.model_fields), n=1)
                        message = f"unknown parameter {key!r} of {spec.kind} {spec.strategy or cls.__name__}"
                        message += f" (did you mean {close[0]!r}?)" if close else (
                            f"; parameters: {', '.join(params_model.model_fields)}")
                    problems.append((f"{base}.{path}" if path else base, message))
                continue
            # The resolved scenario keeps every parameter, defaults included, under params.
            object.__setattr__(spec, "params", params.model_dump(mode="json", by_alias=False))
            if spec.model_extra:
                spec.model_extra.clear()
        return problems

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
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False, allow_unicode=True)


def _nodes_from_trace(spec: Any, source: str | None) -> list[tuple[str, dict[str, Any], int]]:
    """(node type name, node type spec, count) for each kind of node in a traced inventory."""
    from swarmsim.traces import BadRows, TraceError
    from swarmsim.traces.formats import FORMATS

    if not isinstance(spec, dict) or "format" not in spec or "path" not in spec:
        raise ScenarioError(None, [("", "expected {format: ..., path: ..., gpu_map: {...}, scale: 1.0}")])
    unknown = set(spec) - {"format", "path", "gpu_map", "scale", "usd_per_gpu_hour"}
    if unknown:
        raise ScenarioError(None, [(sorted(unknown)[0], "unknown key; allowed: format, path, gpu_map, scale, "
                                                       "usd_per_gpu_hour")])
    fmt = FORMATS.get(str(spec["format"]))
    if fmt is None or fmt.kind != "nodes":
        nodes = sorted(n for n, f in FORMATS.items() if f.kind == "nodes")
        raise ScenarioError(None, [("format", f"expected a node-list format ({', '.join(nodes)}), "
                                              f"got {spec['format']!r}")])
    path = Path(str(spec["path"]))
    if not path.is_absolute() and source:
        path = Path(source).parent / path
    gpu_map = dict(spec.get("gpu_map") or {})
    scale = float(spec.get("scale", 1.0))
    totals: dict[tuple[str, int], int] = {}
    try:
        for rows in fmt.read(str(path), BadRows("error", str(path)), 100_000):
            for model, gpus, count in zip(rows.gpu_model, rows.gpus, rows.count, strict=True):
                key = (str(model), int(gpus))
                totals[key] = totals.get(key, 0) + int(count)
    except TraceError as err:
        raise ScenarioError(None, [("path", err.format())]) from None
    out, unmapped = [], set()
    for (model, gpus), count in totals.items():
        found = catalog.find_gpu(gpu_map.get(model, model))
        if found is None:
            unmapped.add(model)
            continue
        name = re.sub(r"[^a-z0-9]+", "", found.name.lower()) + f"x{gpus}"
        node_type: dict[str, Any] = {"gpu": found.name, "gpus": gpus}
        if "usd_per_gpu_hour" in spec:
            node_type["usd_per_gpu_hour"] = spec["usd_per_gpu_hour"]
        out.append((name, node_type, round(count * scale)))
    if unmapped:
        raise ScenarioError(None, [("gpu_map", f"GPU models {sorted(unmapped)} are not in the catalog; map "
                                               "each to a catalog GPU, e.g. gpu_map: {G2: A100-80GB}")])
    merged: dict[str, tuple[dict[str, Any], int]] = {}
    for name, node_type, count in out:
        merged[name] = (node_type, merged.get(name, (node_type, 0))[1] + count)
    return [(name, nt, c) for name, (nt, c) in merged.items() if c > 0]


def scenario_json_schema() -> dict[str, Any]:
    """JSON Schema of the scenario file, for editors (``swarmsim schema``).

    A region named after a built-in catalog site may omit ``location``, ``jurisdiction`` and
    ``utc_offset`` (they are filled from the catalog), so the schema does not require them; the
    loader reports a missing one for other regions."""
    schema = Scenario.model_json_schema(by_alias=True)
    schema["properties"].pop("source", None)
    region = schema.get("$defs", {}).get("RegionSpec", {})
    region["required"] = [
        r for r in region.get("required", []) if r not in ("location", "jurisdiction", "utc_offset")
    ]
    return schema


def _unknown(what: str, name: str, known: typing.Iterable[str]) -> str:
    known = list(known)
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"{what} {name!r} is not defined{hint}; defined: {', '.join(known)}"


# --- loading --------------------------------------------------------------------------

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def load_scenario(
    source: str | os.PathLike[str] | dict[str, Any] | Scenario,
    overrides: dict[str, Any] | None = None,
) -> Scenario:
    """Read, override and validate a scenario.

    Args:
        source: a YAML file path, a dict with the same content, or a :class:`Scenario`.
        overrides: ``{"path.to.field": value}`` applied before validation, as ``--set`` does.
            String values are parsed as YAML (never evaluated).

    Raises:
        ScenarioError: with the file, the path of every problem and what was expected.
    """
    file: str | None = None
    if isinstance(source, Scenario):
        if not overrides:
            return source
        raw = source.model_dump(mode="json")
        file = source.source
    elif isinstance(source, dict):
        raw = copy.deepcopy(source)
    elif isinstance(source, str | os.PathLike):
        file = os.fspath(source)
        raw = _read_yaml(Path(file))
    else:
        raise TypeError(f"expected a scenario file path, a dict or a Scenario, got {type(source).__name__}")
    if not isinstance(raw, dict):
        got = "the file is empty" if raw is None else f"got {_show(raw)}"
        raise ScenarioError(
            file, [("", f"expected a mapping of scenario fields (name, horizon, regions, ...); {got}")]
        )
    try:
        raw = _expand_vars(raw, "")
        for path, value in (overrides or {}).items():
            _set_path(raw, str(path), _parse_override_value(copy.deepcopy(value)))
    except ScenarioError as err:
        raise ScenarioError(file, err.problems) from None
    named_by_file = False
    if file is not None:
        named_by_file = "name" not in raw
        raw.setdefault("name", Path(file).stem)
        raw["source"] = str(Path(file).resolve())
    try:
        return Scenario.model_validate(raw)
    except ScenarioError as err:
        raise ScenarioError(file, err.problems) from None
    except ValidationError as err:
        try:
            problems = _explain(err, raw)
        except Exception:  # never let the explainer turn bad input into a traceback
            problems = [(".".join(map(str, e["loc"])), e["msg"]) for e in err.errors(include_url=False)]
        if named_by_file:
            problems = [
                (p, f"{m} (the name is taken from the file name; give name: in the file)")
                if p == "name" else (p, m)
                for p, m in problems
            ]
        raise ScenarioError(file, problems) from None


def parse_overrides(pairs: typing.Iterable[str]) -> dict[str, Any]:
    """``["a.b=3", "c=20/h"]`` -> ``{"a.b": "3", "c": "20/h"}`` (values stay text; YAML later)."""
    out: dict[str, Any] = {}
    for pair in pairs:
        path, sep, value = pair.partition("=")
        if not sep or not path.strip():
            raise ScenarioError(None, [("--set", f"expected path=value, got {pair!r}")])
        out[path.strip()] = value
    return out


class _UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key given twice in one mapping: plain PyYAML keeps the
    last one and silently drops the other, which the contract forbids (a typo is never ignored)."""


def _construct_unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *anchor` may be overridden
            continue
        key = loader.construct_object(key_node, deep=True)
        try:
            first = seen.get(key)
        except TypeError:  # an unhashable key: let PyYAML report it
            continue
        if first is not None:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (first given on line {first + 1})", key_node.start_mark
            )
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping)


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError(str(path), [("", "no such file")]) from None
    except IsADirectoryError:
        raise ScenarioError(str(path), [("", "is a folder; expected a scenario file (.yaml)")]) from None
    except (OSError, UnicodeDecodeError) as err:
        raise ScenarioError(str(path), [("", f"cannot read: {err}")]) from None
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader: never constructs objects
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(err, "problem", None) or str(err)
        raise ScenarioError(str(path), [("", f"{where}not valid YAML ({problem})")]) from None


def _parse_override_value(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return yaml.safe_load(value) if value.strip() else value
        except yaml.YAMLError:
            return value
    return value


def _expand_vars(node: Any, path: str) -> Any:
    if isinstance(node, dict):
        return {k: _expand_vars(v, f"{path}.{k}" if path else str(k)) for k, v in node.items()}
    if isinstance(node, list):
        return [_expand_vars(v, f"{path}.{i}") for i, v in enumerate(node)]
    if isinstance(node, str) and "${" in node:
        def sub(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in os.environ:
                raise ScenarioError(
                    None, [(path, f"environment variable {name} is not set (used as ${{{name}}})")]
                )
            return os.environ[name]

        return _VAR.sub(sub, node)
    return node


def _set_path(raw: Any, path: str, value: Any) -> None:
    parts = path.split(".")
    if not all(part.strip() for part in parts):
        raise ScenarioError(
            None, [("--set", "expected a dotted path such as workloads.training.arrivals.rate, "
                             f"got {path!r}")]
        )
    parts = [part.strip() for part in parts]
    node = raw
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        where = ".".join(parts[: i + 1])
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ScenarioError(
                    None, [(where, f"no list item {part} (the list has {len(node)}: 0 to {len(node) - 1})")]
                )
            if last:
                node[int(part)] = value
            else:
                node = node[int(part)]
        elif isinstance(node, dict):
            if last:
                node[part] = value
            else:
                if node.get(part) is None:
                    node[part] = {}
                node = node[part]
        else:
            parent = ".".join(parts[:i])
            raise ScenarioError(
                None, [(where, f"cannot set {part!r} inside {parent} = {node!r} "
                               "(a plain value, not a mapping)")]
            )


# --- readable validation errors -----------------------------------------------------------
#
# pydantic reports a ``loc`` such as ("workloads", "training", "jobs", "arrivals", "poisson",
# "rate"): the user's keys mixed with the tags of discriminated unions ("jobs", "poisson"),
# the member labels of plain unions ("list[str]", "function-before[...]") and markers such as
# "[key]". ``_walk`` follows the loc through the user's own input and the model annotations at
# the same time, keeps only the user's keys, and learns what the value should have been, so
# ``_explain`` can say it in the scenario's own words: one line per problem, path and
# expectation, with an example wherever a unit is involved.

#: What a field holding a ``{dist: ...}`` or a bare quantity means, by field name: the value
#: with an example, and an example of a distribution.
_QUANTITY_MEANING = {
    "duration": ("a duration such as 1.5h", "{dist: lognormal, median: 1.5h, sigma: 1.0}"),
    "data": ("a data size such as 20GB", "{dist: uniform, low: 1GB, high: 50GB}"),
    "gpus": ("a number of GPUs such as 8", "{dist: empirical, values: [1, 2, 4, 8]}"),
    "priority": ("a number such as 1", "{dist: empirical, values: [0, 1], weights: [9, 1]}"),
    "provision_time": ("a duration such as 4m", "{dist: lognormal, median: 4m, sigma: 0.5}"),
}
_ANY_QUANTITY = "expected a number or a value with a unit"

#: Examples for fields whose value has a shape (a list or a mapping), by field name.
_SHAPE_EXAMPLES = {
    "residency": "[EU, US]",
    "gpu_types": "[A100-80GB, H100-SXM]",
    "origin": "{us-east: 0.6, eu-west: 0.4}",
    "regions": "{us-east: {}, eu-west: {}}",
    "node_types": "{a100x8: {gpu: A100-80GB, gpus: 8}}",
    "fleet": "{us-east: {a100x8: 4}}",
    "workloads": "{training: {kind: jobs, ...}}",
    "policies": "[{kind: static}]",
    "values": "[1, 2, 4, 8]",
    "weights": "[5, 3, 1, 1]",
    "rates": "[10/h, 60/h]",
    "mean_durations": "[4h, 30m]",
    "location": "{lat: 50.1, lon: 8.7}",
    "arrivals": "{process: poisson, rate: 20/h}",
    "network": "{bandwidth: 10Gbps}",
    "scheduler": "{queue: fifo, placement: best-fit}",
    "rtt_overrides": "{us-east: {eu-west: 76ms}}",
}

#: Words for a unit type, by the base unit its JSON-schema marker names.
_UNIT_NOUNS = {
    "seconds": "a duration",
    "per second": "a rate",
    "bytes": "a data size",
    "bits per second": "a bandwidth",
    "fraction": "a fraction",
}

_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"

_BOUNDS = {
    "greater_than": (">", "gt"),
    "greater_than_equal": (">=", "ge"),
    "less_than": ("<", "lt"),
    "less_than_equal": ("<=", "le"),
}

_TYPE_WORDS = {
    "int_parsing": "a whole number",
    "int_type": "a whole number",
    "int_from_float": "a whole number",
    "float_parsing": "a number",
    "float_type": "a number",
    "finite_number": "a finite number",
    "bool_parsing": "true or false",
    "bool_type": "true or false",
    "string_type": "text",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "list_type": "a list",
}


class _Tagged(typing.NamedTuple):
    """Marks an annotation as a discriminated union with this tag field (kept from a Field)."""

    discriminator: str


class _Where(typing.NamedTuple):
    """Where a pydantic error is, in the user's terms."""

    path: str  # dotted path of the user's keys, e.g. "workloads.training.arrivals.rate"
    node: Any  # the user's value there (None when the key is absent)
    holder: type[BaseModel] | None  # the model that holds the last key
    annotation: Any  # what the value there should be
    union: tuple[str, Any, Any] | None  # (path, annotation, value) of a plain union passed through


def _field_of_alias(model: type[BaseModel], alias: str) -> str:
    """The field a model reads from key ``alias`` (``for`` -> ``duration``), or ``alias``."""
    if alias in model.model_fields:
        return alias
    return next((name for name, f in model.model_fields.items() if f.alias == alias), alias)


def _explain(err: ValidationError, raw: Any) -> list[tuple[str, str]]:
    """One ``(path, message)`` per problem, in the order pydantic found them."""
    out: list[tuple[str, str] | tuple[str, None]] = []  # (path, None): a group filled in below
    missing: dict[str, list[tuple[str, Any]]] = {}  # parent path -> [(field, annotation)]
    unions: set[str] = set()
    suggested: set[str] = set()  # paths of fields a misspelt key probably meant
    for e in err.errors(include_url=False):
        where = _walk(raw, e["loc"])
        if where.union is not None:
            upath, annotation, value = where.union
            if upath not in unions:
                unions.add(upath)
                key = upath.rsplit(".", 1)[-1]
                out.append((upath, f"expected {_describe(annotation, key)}, got {_show(value)}"))
            continue
        if e["type"] == "missing":
            parent, _, field = where.path.rpartition(".")
            if parent not in missing:
                missing[parent] = []
                out.append((parent, None))
            missing[parent].append((field, where.annotation))
            continue
        path, message = _message(e, where)
        if e["type"] == "extra_forbidden" and "did you mean" in message:
            parent = where.path.rpartition(".")[0]
            intended = message.split("did you mean ", 1)[1].split("?", 1)[0].strip("'\"")
            suggested.add(f"{parent}.{intended}" if parent else intended)
        out.append((path, message))

    problems: list[tuple[str, str]] = []
    for path, message in out:
        if message is not None:
            if (path, message) not in problems:
                problems.append((path, message))
            continue
        fields = [(f, a) for f, a in missing[path] if (f"{path}.{f}" if path else f) not in suggested]
        if not fields:
            continue
        hint = _region_hint(path)
        if len(fields) == 1:
            field, annotation = fields[0]
            noun, example = _expected(annotation)
            full = f"{path}.{field}" if path else field
            meaning = _quantity_meaning(full, missing=True)
            text = "required field is missing"
            if meaning:
                text += f"; expected {meaning}"
            elif example:
                text += f"; expected {noun} such as {example}"
            if hint:
                text += f" ({hint})"
            problems.append((f"{path}.{field}" if path else field, text))
        else:
            text = f"required fields are missing: {', '.join(f for f, _ in fields)}"
            problems.append((path, f"{text} ({hint})" if hint else text))
    return problems


def _message(e: Any, where: _Where) -> tuple[str, str]:
    """The user's path and a readable message for one pydantic error."""
    kind, ctx, value = e["type"], e.get("ctx") or {}, e.get("input")
    path, annotation = where.path, where.annotation
    message = e["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    key = path.rsplit(".", 1)[-1]
    noun, example = _expected(annotation)
    such_as = f" such as {example}" if example else ""
    add_got = True
    if kind == "extra_forbidden":
        allowed = [a for a in (where.holder.model_fields if where.holder else []) if a != "source"]
        close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
        message = f"unknown key {key!r}"
        if close:
            message += f" (did you mean {close[0]!r}?)"
        elif allowed:
            message += f"; allowed: {', '.join(allowed)}"
        return path, message
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        field = str(ctx.get("discriminator", "kind")).strip("'\"")
        tags = _tag_values(annotation, field)
        path = f"{path}.{field}" if path else field
        choices = _one_of(tags) if tags else str(ctx.get("expected_tags", ""))
        if kind == "union_tag_not_found":
            return path, f"required field is missing; expected {choices}"
        tag = ctx.get("tag", value)
        return path, f"unknown {field} {tag!r}: expected {choices}{_did_you_mean(str(tag), tags)}"
    if kind == "literal_error":
        choices = [c for m in _members(annotation) if typing.get_origin(m) is Literal
                   for c in typing.get_args(m)]
        expected = _one_of(choices) if choices else str(ctx.get("expected", ""))
        hint = _did_you_mean(str(value), [str(c) for c in choices])
        return path, f"expected {expected}, got {_show(value)}{hint}"
    if kind in _BOUNDS:
        op, name = _BOUNDS[kind]
        message = f"expected {noun} {op} {ctx.get(name)}{such_as}"
    elif kind in _TYPE_WORDS:
        message = f"expected {_TYPE_WORDS[kind]}"
        if kind in ("dict_type", "model_type", "model_attributes_type", "list_type"):
            if key in _SHAPE_EXAMPLES:
                message += f" such as {_SHAPE_EXAMPLES[key]}"
        elif example:
            message = f"expected {noun}{such_as}"
    elif kind in ("too_short", "too_long"):
        n = ctx.get("min_length" if kind == "too_short" else "max_length")
        word = "at least" if kind == "too_short" else "at most"
        message = f"expected {word} {n} entr{'y' if n == 1 else 'ies'}"
        if kind == "too_short" and key in _SHAPE_EXAMPLES:
            message += f" such as {_SHAPE_EXAMPLES[key]}"
        message += f", got {ctx.get('actual_length')}"
        add_got = False
    elif kind == "string_pattern_mismatch" and ctx.get("pattern") == _NAME_PATTERN:
        message = "expected a name of letters, digits, '.', '_' and '-' that starts with a letter or digit"
    elif kind == "string_too_short":
        message = "expected non-empty text"
    elif kind in ("value_error", "assertion_error"):
        path, message = _relocate(path, message, where)
        add_got = not isinstance(value, dict | list)
    else:
        message = message.replace("Input should be", "expected")
    meaning = _quantity_meaning(path)
    if message.startswith(_ANY_QUANTITY) and meaning:
        rest = message[message.find(", got"):] if ", got" in message else ""
        message = f"expected {meaning}{rest}"
    if add_got and "got" not in message and repr(value) not in message:
        message += f", got {_show(value)}"
    return path, message


def _quantity_meaning(path: str, missing: bool = False) -> str:
    """``"a duration such as 1.5h or {dist: ...}"`` for a quantity field (by its name), the
    unit part alone for a parameter of its distribution (``duration.median``), else ``""``."""
    parts = path.split(".")
    if parts[-1] in _QUANTITY_MEANING:
        value, dist = _QUANTITY_MEANING[parts[-1]]
        return f"{value} or {dist}"
    if missing:
        return ""
    for up in (2, 3):  # duration.median, gpus.values.1
        if len(parts) > up and parts[-up] in _QUANTITY_MEANING:
            return _QUANTITY_MEANING[parts[-up]][0]
    return ""


def _relocate(path: str, message: str, where: _Where) -> tuple[str, str]:
    """A model-level check that starts with a field's name (``gpus: ...``, ``max_gpus (4) ...``)
    is about that field: put the field in the path."""
    model = _as_model(where.annotation, where.node) if isinstance(where.node, dict) else None
    match = re.match(r"([A-Za-z_]\w*)(: | \()", message)
    if model is None or match is None or match.group(1) not in model.model_fields:
        return path, message
    field = match.group(1)
    if match.group(2) == ": ":
        message = message[match.end():]
    return (f"{path}.{field}" if path else field), message


def _show(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, dict):
        return "a mapping" if value else "an empty mapping"
    if isinstance(value, list):
        return f"a list {value!r}" if len(repr(value)) <= 40 else "a list"
    return repr(value)


def _one_of(choices: typing.Sequence[Any]) -> str:
    shown = [repr(c) for c in choices]
    if len(shown) <= 1:
        return "".join(shown)
    return f"{', '.join(shown[:-1])} or {shown[-1]}"


def _did_you_mean(word: str, choices: typing.Iterable[Any]) -> str:
    close = difflib.get_close_matches(word, [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _region_hint(path: str) -> str:
    """For a region that is missing fields: say that its name is not a built-in region."""
    parts = path.split(".")
    if len(parts) != 2 or parts[0] != "regions" or catalog.find_region(parts[1]) is not None:
        return ""
    hint = _did_you_mean(parts[1], catalog.region_sites())
    return (f"{parts[1]!r} is not a region of the built-in catalog{hint}, so give location, "
            "jurisdiction and utc_offset, or site: <a built-in region>")


def _expected(annotation: Any) -> tuple[str, str | None]:
    """``("a rate", "20/h")`` for a rate field, ``("a whole number", None)`` for an int, ..."""
    for member in _members(annotation):
        for meta in getattr(member, "__metadata__", ()):
            base = getattr(meta, "base_unit", None)
            if isinstance(base, str) and hasattr(meta, "example"):
                noun = _UNIT_NOUNS.get(base)
                return (noun, meta.example) if noun else ("a value", None)
    bare = [t for t in _unwrap(annotation) if t is not type(None)]
    if len(bare) == 1:
        words = {int: "a whole number", float: "a number", str: "text", bool: "true or false"}
        if bare[0] in words:
            return words[bare[0]], None
    return "a value", None


def _describe(annotation: Any, key: str) -> str:
    """What a plain union accepts, in words: ``'origin', 'any' or a list such as [EU, US]``."""
    words: list[str] = []
    for member in _members(annotation):
        bare = _unwrap(member)[0]
        origin = typing.get_origin(bare)
        if bare is type(None):
            continue
        if origin is Literal:
            words.extend(repr(c) for c in typing.get_args(bare))
        elif origin in (list, dict):
            word = "a list" if origin is list else "a mapping"
            words.append(f"{word} such as {_SHAPE_EXAMPLES[key]}" if key in _SHAPE_EXAMPLES else word)
        elif isinstance(bare, type) and issubclass(bare, BaseModel):
            words.append("a mapping of fields")
        else:
            noun, example = _expected(member)
            words.append(f"{noun} such as {example}" if example else noun)
    words = list(dict.fromkeys(words))
    if len(words) <= 1:
        return "".join(words) or "another value"
    return f"{', '.join(words[:-1])} or {words[-1]}"


def _walk(raw: Any, loc: tuple[Any, ...]) -> _Where:
    """Turn a pydantic ``loc`` into the user's path (dropping union tags, union member labels
    and markers), and find what the value there should be."""
    node: Any = raw
    annotation: Any = Scenario
    holder: type[BaseModel] | None = None
    parts: list[str] = []
    union: tuple[str, Any, Any] | None = None
    for part in loc:
        tagged = _tagged_model(annotation, node, part)
        if tagged is not None:  # the tag of a discriminated union: not one of the user's keys
            annotation = tagged
            continue
        model = _as_model(annotation, node)
        if isinstance(node, dict) and part in node:
            holder = model
            annotation = _child_annotation(annotation, node, part)
            node = node[part]
            parts.append(str(part))
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            holder = None
            annotation = _child_annotation(annotation, node, part)
            node = node[part]
            parts.append(str(part))
        elif model is not None and isinstance(part, str) and _field_of_alias(model, part) in model.model_fields:
            annotation = _field_annotation(model, _field_of_alias(model, part))
            if node is None or isinstance(node, dict):  # a field the user did not give
                holder = model
                node = None
                parts.append(part)  # as the user writes it (an alias such as ``for``)
            # else: a bare value standing for a model ("8" for {dist: constant, value: 8})
        elif isinstance(part, str) and part != "[key]" and union is None and len(_members(annotation)) > 1:
            # the label of one member of a plain union, e.g. "list[str]"
            union = (".".join(parts), annotation, node)
        # anything else ("[key]", a validator's name) is not part of the user's path
    return _Where(".".join(parts), node, holder, annotation, union)


def _unwrap(annotation: Any) -> list[Any]:
    """Flatten Annotated / Optional / Union into candidate types."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin is typing.Union or origin is types.UnionType:
        out = []
        for arg in typing.get_args(annotation):
            out.extend(_unwrap(arg))
        return out
    return [annotation]


def _members(annotation: Any) -> list[Any]:
    """Like :func:`_unwrap`, but a member keeps its own ``Annotated`` metadata (its unit), and
    ``None`` is left out."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        inner = typing.get_args(annotation)[0]
        if typing.get_origin(inner) in (typing.Union, types.UnionType):
            return _members(inner)
        return [annotation]
    if origin is typing.Union or origin is types.UnionType:
        out = []
        for arg in typing.get_args(annotation):
            out.extend(_members(arg))
        return out
    return [] if annotation is type(None) else [annotation]


def _models(annotation: Any) -> list[type[BaseModel]]:
    return [t for t in _unwrap(annotation) if isinstance(t, type) and issubclass(t, BaseModel)]


def _discriminator(annotation: Any) -> str | None:
    """The tag field of a discriminated union (``Field(discriminator="kind")``), or None; an
    optional one (``ArrivalSpec | None``) counts too."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(members) == 1:
            return _discriminator(members[0])
    if typing.get_origin(annotation) is not Annotated:
        return None
    for meta in annotation.__metadata__:
        name = getattr(meta, "discriminator", None)
        if isinstance(name, str):
            return name
    return None


def _tag_values(annotation: Any, field: str) -> list[Any]:
    """Every accepted value of a union's tag field, in declaration order."""
    values: list[Any] = []
    for model in _models(annotation):
        info = model.model_fields.get(field)
        if info is not None and typing.get_origin(info.annotation) is Literal:
            values.extend(typing.get_args(info.annotation))
    return values


def _tagged_model(annotation: Any, node: Any, part: Any) -> type[BaseModel] | None:
    """The union member a loc element names, when that element is a discriminated union's tag
    (pydantic puts "poisson" in ``loc`` for ``{process: poisson, ...}``), else None."""
    field = _discriminator(annotation)
    if field is None or not isinstance(part, str):
        return None
    if isinstance(node, dict) and field in node and node[field] != part:
        return None  # a user's key that happens to spell another member's tag
    for model in _models(annotation):
        info = model.model_fields.get(field)
        if info is not None and part in typing.get_args(info.annotation):
            return model
    return None


def _as_model(annotation: Any, node: Any) -> type[BaseModel] | None:
    models = _models(annotation)
    if len(models) <= 1:
        return models[0] if models else None
    if isinstance(node, dict):
        tags = [t for t in (_discriminator(annotation), "kind", "process", "dist", "strategy") if t]
        for tag in tags:
            for m in models:
                field = m.model_fields.get(tag)
                if field is not None and node.get(tag) in typing.get_args(field.annotation):
                    return m
    return None


def _field_annotation(model: type[BaseModel], name: str) -> Any:
    """A model field's annotation with its metadata (unit, bounds, discriminator) put back."""
    info = model.model_fields[name]
    extras: list[Any] = list(info.metadata)
    if isinstance(info.discriminator, str):
        extras.append(_Tagged(info.discriminator))
    return Annotated[(info.annotation, *extras)] if extras else info.annotation


def _child_annotation(annotation: Any, node: Any, key: Any) -> Any:
    model = _as_model(annotation, node)
    if model is not None:
        return _field_annotation(model, key) if isinstance(key, str) and key in model.model_fields else None
    for t in _unwrap(annotation):
        origin = typing.get_origin(t)
        if origin is dict and isinstance(node, dict):
            return typing.get_args(t)[1]
        if origin is list and isinstance(node, list):
            return typing.get_args(t)[0]
    return None
