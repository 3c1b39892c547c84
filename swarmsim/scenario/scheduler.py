"""``scheduler``: how each region's queue is ordered, where jobs are placed, where requests go."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, SerializerFunctionWrapHandler, model_serializer

from swarmsim.scenario.common import Spec


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
    task_shapes: Literal["trace", "online"] = Field(
        "trace", description="FGD's distribution of task shapes: the replayed trace's rows, or learned "
        "online from the arrivals so far (sharing fleets)")

    @model_serializer(mode="wrap")
    def _drop_sharing_defaults(self, handler: SerializerFunctionWrapHandler) -> Any:
        out = handler(self)
        if isinstance(out, dict) and out.get("task_shapes") == "trace":
            del out["task_shapes"]
        return out
