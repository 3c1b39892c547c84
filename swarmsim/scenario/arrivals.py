"""Where a workload's arrivals come from: a synthetic arrival process (``arrivals:``, one model
per ``process``) or the replay of a recorded trace (``trace:``, docs/traces.md)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, SerializerFunctionWrapHandler, field_validator, model_serializer, model_validator

from swarmsim import catalog
from swarmsim.scenario.common import (
    NonNegativeDuration,
    NonNegativeRate,
    PositiveDuration,
    PositiveRate,
    Spec,
    did_you_mean,
)


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
    fractional_gpus: Literal["ceil", "round", "keep"] = Field(
        "ceil", description="how a job asking for part of a GPU is allocated whole GPUs; keep: the "
        "share itself (a sharing fleet's default)")
    replay: Literal["ordered", "sample"] = Field(
        "ordered", description="ordered: the rows at their times; sample: rows drawn with replacement, "
        "one every 1 / sample_rate s (sharing fleets)")
    sample_rate: PositiveRate = Field(1.0, description="arrivals per s under replay: sample")
    departures: bool = Field(True, description="false: a job never ends (workload inflation)")
    columns: dict[str, str] = Field(default_factory=dict, description="for format csv: canonical -> file column")
    time_unit: float = Field(1.0, gt=0, description="for format csv: seconds per unit of the time columns")
    on_bad_rows: Literal["error", "skip"] = "error"

    @model_serializer(mode="wrap")
    def _drop_sharing_defaults(self, handler: SerializerFunctionWrapHandler) -> Any:
        # Shown in a resolved scenario only when set: other scenarios' resolved files stay as they were.
        out = handler(self)
        if isinstance(out, dict):
            for key, default in (("replay", "ordered"), ("sample_rate", 1.0), ("departures", True)):
                if key in out and out[key] == default:
                    del out[key]
        return out

    @field_validator("format")
    @classmethod
    def _known_format(cls, value: str) -> str:
        from swarmsim.traces.formats import FORMATS

        if value not in FORMATS:
            hint = did_you_mean(value, FORMATS)
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


def one_source(arrivals: object, trace: object) -> None:
    """ValueError unless exactly one of ``arrivals`` and ``trace`` is given."""
    if (arrivals is None) == (trace is None):
        raise ValueError("give either arrivals (synthetic) or trace (replay), not both or neither")
