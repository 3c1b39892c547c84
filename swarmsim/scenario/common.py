"""What every section of the scenario shares: the frozen base model, field types with units and
bounds, provider kinds, origin shares, and the "did you mean" hint for a misspelt name."""

from __future__ import annotations

import typing
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from swarmsim import catalog
from swarmsim.errors import did_you_mean
from swarmsim.units import Duration, Rate

#: The pattern of a name (scenario, region, node type, workload).
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"

Name = Annotated[str, Field(pattern=NAME_PATTERN)]
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


class Spec(BaseModel):
    """Base of every scenario model: unknown keys are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def unknown(what: str, name: str, known: typing.Iterable[str]) -> str:
    """The message for a name that nothing defines: ``region 'us-est' is not defined (did you
    mean 'us-east'?); defined: us-east, eu-west``."""
    known = list(known)
    return f"{what} {name!r} is not defined{did_you_mean(name, known)}; defined: {', '.join(known)}"


def catalog_gpu(value: str) -> str:
    """The catalog's name of a GPU model (aliases accepted); ValueError listing the known ones."""
    found = catalog.find_gpu(value)
    if found is None:
        known = ", ".join(catalog.gpu_types())
        raise ValueError(f"unknown GPU {value!r}; the built-in catalog has: {known}")
    return found.name


def catalog_gpus(value: list[str] | None) -> list[str] | None:
    """The catalog's names of a list of GPU models (None stays None)."""
    if value is None:
        return None
    names = []
    for name in value:
        found = catalog.find_gpu(name)
        if found is None:
            raise ValueError(f"unknown GPU {name!r}")
        names.append(found.name)
    return names
