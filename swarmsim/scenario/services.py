"""``kind: inference`` workloads: an online service, its replica shape and its latency SLO
(docs/serving.md has the serving model)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, SerializerFunctionWrapHandler, field_validator, model_serializer, model_validator

from swarmsim.distributions import ConstantDist, DistOrValue, LognormalDist
from swarmsim.scenario.arrivals import ArrivalSpec, TraceSpec, one_source
from swarmsim.scenario.common import Shares, Spec, catalog_gpu, catalog_gpus
from swarmsim.units import Bandwidth, Duration

#: Default model-load time of a replica on a ready node (image pull, weights, engine init):
#: lognormal, median 2.5 min, sigma 0.4 (scaling-and-cloud-facts.md §6.1: weights 100-300 s,
#: engine init 10-30 s; LLaMA-2-70B loads into GPU memory in about 84 s, ServerlessLLM).
DEFAULT_LOAD_TIME = {"dist": "lognormal", "median": 150.0, "sigma": 0.4}


#: Replica fields that only ``batching: iteration`` reads (docs/serving.md).
ITERATION_FIELDS = ("batching", "prefill", "chunk_tokens", "kv_cache", "gpu_memory_utilization", "prefix_caching")


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
    profile_uncertainty: bool = Field(  # left out of the resolved scenario when off: old run folders stay the same
        False, exclude_if=lambda on: not on,
        description="draw the serving profile from its fit's bootstrap samples, one draw per run and seed",
    )
    batching: Literal["admission", "iteration"] = Field(
        "admission", description="admission: a request is timed once, at admission (the original model); "
        "iteration: iteration-exact continuous batching with KV memory (docs/serving.md)")
    prefill: Literal["stall", "chunked"] = Field(
        "chunked", description="iteration batching: a prefill stalls the batch, or shares iterations in chunks")
    chunk_tokens: int = Field(512, ge=1, description="prefill tokens per iteration (prefill: chunked)")
    kv_cache: bool | None = Field(
        None, description="bound admission by KV-cache memory; default: when the model is in the model catalog")
    gpu_memory_utilization: float = Field(0.9, gt=0, le=1, description="share of GPU memory the engine uses")
    prefix_caching: bool = Field(
        False, description="reuse the cached KV of the service's shared prompt prefix (shared_prefix_tokens)")
    kv_series: bool = Field(  # left out of the resolved scenario when off: old run folders stay the same
        False, exclude_if=lambda on: not on,
        description="iteration batching: write kv_cache.csv, KV occupancy per replica per sample_every")

    @field_validator("gpu")
    @classmethod
    def _known_gpu(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return catalog_gpu(value)

    @field_validator("gpu_types")
    @classmethod
    def _known_gpus(cls, value: list[str] | None) -> list[str] | None:
        return catalog_gpus(value)

    @model_validator(mode="after")
    def _memory(self) -> ReplicaSpec:
        if self.kv_series and self.batching != "iteration":
            raise ValueError("kv_series: needs batching: iteration (only the iteration engine tracks KV memory)")
        if self.batching != "iteration" or self.kv_cache is False:
            return self
        from swarmsim.catalog.models import find_model

        if find_model(self.model) is None:
            if self.kv_cache:
                raise ValueError(f"kv_cache: model {self.model!r} is not in the model catalog "
                                 "(catalog/models.csv), so its KV bytes per token are unknown")
            return self
        from swarmsim.kvcache import kv_capacity_tokens

        for gpu in self.accepted or []:
            try:
                kv_capacity_tokens(self.model, gpu, self.gpus, self.gpu_memory_utilization)
            except ValueError as exc:
                raise ValueError(f"gpus: {exc}") from None
        return self

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict:
        """The resolved replica; with ``batching: admission`` the iteration fields, which play
        no part in the run, are left out (so the resolved scenarios and digests of runs that do
        not use them are as they were before the fields existed)."""
        data = handler(self)
        if self.batching == "admission":
            for key in ITERATION_FIELDS:
                data.pop(key, None)
        return data

    @property
    def accepted(self) -> list[str] | None:
        """GPU models the replica accepts (None = any)."""
        if self.gpu is not None:
            return [self.gpu, *(self.gpu_types or [])]
        return self.gpu_types


class PoolSpec(Spec):
    """One pool of a disaggregated service (``prefill_pool`` / ``decode_pool``): its replicas per
    region and the replica fields it sets over the service's ``replica`` (docs/serving.md,
    "Disaggregated prefill and decode")."""

    replicas: dict[str, int] = Field(description="replicas of this pool at t = 0 per region")
    gpu: str | None = Field(None, description="GPU model of the pool's replicas (default: replica.gpu)")
    gpu_types: list[str] | None = Field(None, description="GPU models the pool may run on (default: replica's)")
    gpus: int | None = Field(None, ge=1, description="GPUs per replica (default: replica.gpus)")
    max_batch: int | None = Field(None, ge=1, description="requests per replica (default: replica.max_batch)")
    prefill: Literal["stall", "chunked"] | None = Field(None, description="default: replica.prefill")
    chunk_tokens: int | None = Field(None, ge=1, description="default: replica.chunk_tokens")
    gpu_memory_utilization: float | None = Field(None, gt=0, le=1, description="default: replica's")
    kv_link_bandwidth: Annotated[Bandwidth, Field(gt=0)] | None = Field(
        None, description="decode pool: bit/s of the link the prompt's KV moves over (default: network.bandwidth)")

    @field_validator("gpu")
    @classmethod
    def _known_gpu(cls, value: str | None) -> str | None:
        return None if value is None else catalog_gpu(value)

    @field_validator("gpu_types")
    @classmethod
    def _known_gpus(cls, value: list[str] | None) -> list[str] | None:
        return catalog_gpus(value)

    def shape(self, replica: ReplicaSpec) -> ReplicaSpec:
        """The pool's replica: ``replica`` with the fields this pool sets (validated)."""
        data = replica.model_dump(exclude_none=True)
        if self.gpu is not None:
            data["gpu"] = self.gpu
            data.pop("gpu_types", None)
        for key in ("gpu_types", "gpus", "max_batch", "prefill", "chunk_tokens", "gpu_memory_utilization"):
            value = getattr(self, key)
            if value is not None:
                data[key] = value
        data.update(batching=replica.batching, kv_cache=replica.kv_cache, load_time=replica.load_time)
        return ReplicaSpec.model_validate(data)


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
    shared_prefix_tokens: int = Field(
        0, ge=0, description="tokens every prompt starts with (a system prompt), reused with replica.prefix_caching"
    )
    prefill_pool: PoolSpec | None = Field(
        None, exclude_if=lambda v: v is None,
        description="disaggregated serving: the replicas that prefill (a request ends there at its first token)")
    decode_pool: PoolSpec | None = Field(
        None, exclude_if=lambda v: v is None,
        description="disaggregated serving: the replicas that decode, after the prompt's KV moves to them")

    def pool(self, role: str) -> InferenceWorkloadSpec:
        """The workload as one pool of a disaggregated service sees it (``role``: prefill or
        decode): its replica shape and its replicas per region."""
        pool: PoolSpec = self.prefill_pool if role == "prefill" else self.decode_pool  # type: ignore[assignment]  # the caller asks for a role only of a disaggregated workload
        return self.model_copy(update={"replica": pool.shape(self.replica), "replicas": dict(pool.replicas)})

    @model_validator(mode="after")
    def _pools(self) -> InferenceWorkloadSpec:
        if self.prefill_pool is None and self.decode_pool is None:
            return self
        if self.prefill_pool is None or self.decode_pool is None:
            missing = "prefill_pool" if self.prefill_pool is None else "decode_pool"
            raise ValueError(f"{missing}: a disaggregated service sets both prefill_pool and decode_pool")
        for role in ("prefill", "decode"):
            if self.replica.batching != "iteration":
                raise ValueError(f"{role}_pool: disaggregated serving needs replica.batching: iteration "
                                 f"(the decode pool admits prefilled requests at iteration boundaries)")
            try:
                self.pool(role)
            except ValueError as exc:
                msg = exc.errors()[0]["msg"] if hasattr(exc, "errors") else str(exc)
                raise ValueError(f"{role}_pool.{msg.removeprefix('Value error, ')}") from None
        return self

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict:
        """The resolved workload; ``shared_prefix_tokens`` is left out while it is 0 (no prefix)."""
        data = handler(self)
        if not self.shared_prefix_tokens:
            data.pop("shared_prefix_tokens", None)
        return data

    @property
    def gpu_types(self) -> list[str] | None:
        """GPU models the replicas accept (for node-type matching, as for jobs)."""
        return self.replica.accepted

    @model_validator(mode="after")
    def _tokens(self) -> InferenceWorkloadSpec:
        one_source(self.arrivals, self.trace)
        if self.prompt_tokens.lower() < 0:
            raise ValueError("prompt_tokens: a token count cannot be negative")
        if self.output_tokens.lower() < 0:
            raise ValueError("output_tokens: a token count cannot be negative")
        if self.replica.load_time.lower() < 0:
            raise ValueError("replica.load_time: a duration cannot be negative")
        if self.replicas is not None and any(n < 0 for n in self.replicas.values()):
            raise ValueError("replicas: a replica count cannot be negative")
        return self
