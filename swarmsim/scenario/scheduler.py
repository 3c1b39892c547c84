"""``scheduler``: how each region's queue is ordered, where jobs are placed, where requests go,
and (``scheduler.latency``) when the scheduler makes its decisions."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import (
    BeforeValidator,
    Field,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)

from swarmsim.distributions import DistOrValue
from swarmsim.scenario.common import PositiveDuration, Spec

#: kube-scheduler's defaults (kubernetes/kubernetes pkg/scheduler/internal/queue/scheduling_queue.go:
#: DefaultPodInitialBackoffDuration 1 s, DefaultPodMaxBackoffDuration 10 s), the
#: ``latency: kubernetes`` preset.
KUBERNETES_PRESET: dict[str, Any] = {"backoff": {"initial": 1.0, "max": 10.0}}


class BackoffSpec(Spec):
    """Retry backoff of a job that did not fit: ``initial`` s after its first failed attempt,
    doubling with each further failure up to ``max`` s (kube-scheduler's podInitialBackoffSeconds
    and podMaxBackoffSeconds)."""

    initial: PositiveDuration = 1.0
    max: PositiveDuration = 10.0

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.max < self.initial:
            raise ValueError(f"max ({self.max:g} s) is below initial ({self.initial:g} s)")
        return self


class LatencySpec(Spec):
    """When the scheduler decides (docs/scheduling-latency.md). All parts are optional:

    - ``cycle``: decisions happen only at multiples of ``cycle`` s (a periodic scheduling loop);
    - ``delay``: a new job's first decision comes this long (s, a ``{dist: ...}``) after it arrives;
    - ``backoff``: a job that did not fit is tried again only after its backoff has passed.
    """

    cycle: PositiveDuration | None = None
    delay: DistOrValue | None = None
    backoff: BackoffSpec | None = None

    @model_validator(mode="after")
    def _delay_non_negative(self) -> Self:
        if self.delay is not None and self.delay.lower() < 0:
            raise ValueError(f"delay can be {self.delay.lower():g} s: a scheduling delay must be >= 0")
        return self


def _latency_input(value: Any) -> Any:
    """``none`` -> None, ``kubernetes`` -> its preset; any other string is refused."""
    if value == "none":
        return None
    if value == "kubernetes":
        return dict(KUBERNETES_PRESET)
    if isinstance(value, str):
        raise ValueError(f"unknown latency preset {value!r}: expected 'kubernetes', 'none' or a mapping "
                         "with cycle, delay, backoff")
    return value


class TaskShapesTable(Spec):
    """FGD's distribution of task shapes from a table (docs/sharing.md)."""

    table: str = Field(description="CSV with columns cpu_milli, memory_mib, num_gpu, gpu_milli and an optional "
                       "weight, one task shape a row; relative to the scenario's folder; ${VAR} expands")


class SchedulerSpec(Spec):
    """How each region's queue is ordered, where jobs are placed and routed."""

    queue: Literal["fifo", "backfill", "shortest-first", "priority"] = "fifo"
    placement: Literal["first-fit", "best-fit", "spread", "worst-fit", "random", "dot-product", "gpu-packing",
                       "gpu-clustering", "fgd"] = Field(
        "best-fit", description="where a job goes; the policies beyond first-fit, best-fit and spread "
        "need a sharing fleet (docs/sharing.md)")
    routing: Literal["nearest", "least-loaded", "latency-aware"] = "nearest"
    gpu_priority: Literal["inference-first", "training-first"] = Field(
        "inference-first", description="who gets GPUs first when replicas and jobs both wait"
    )
    latency: Annotated[
        LatencySpec | None,
        BeforeValidator(_latency_input, json_schema_input_type=Literal["none", "kubernetes"] | LatencySpec | None),
    ] = Field(None, description="when decisions are made: none (at once, the default), 'kubernetes' or a mapping")
    task_shapes: Literal["trace", "online"] | TaskShapesTable = Field(
        "trace", description="FGD's distribution of task shapes (sharing fleets): the replayed trace's rows "
        "(in the SimPy world: the workloads' own jobs), learned online from the arrivals so far, or "
        "{table: shapes.csv}")

    @model_serializer(mode="wrap")
    def _drop_defaults(self, handler: SerializerFunctionWrapHandler, info: SerializationInfo) -> dict[str, Any]:
        # Without a latency model, and with the default task shapes, the resolved scenario reads
        # as it did before those fields existed.
        out = handler(self)
        if out.get("latency", 0) is None:
            del out["latency"]
        if out.get("task_shapes") == "trace":
            del out["task_shapes"]
        return out
