"""The ``{dist: ...}`` forms of a random quantity (scenario contract, section 2).

Every model is frozen, forbids unknown keys and knows its own moments and support:
``expected()``, ``variance()``, ``lower()``, ``upper()`` (``inf`` when unbounded), plus
``sample(rng, n)`` (one vectorised numpy call) and ``describe()`` for reports.

Quantities (``mean``, ``median``, ``scale``, ``value``, ...) accept any unit family or a
bare number and are stored in base units (``1.5h`` -> 5400.0, ``20GB`` -> 2e10); the field
that holds the distribution gives the meaning. Shape parameters (``sigma``, ``cv``,
``shape``, ``weights``) are plain numbers.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from typing import Annotated, Literal, Self

import numpy as np
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from swarmsim.errors import did_you_mean
from swarmsim.units import Quantity, format_number

__all__ = [
    "DIST_NAMES",
    "ConstantDist",
    "DistOrValue",
    "Distribution",
    "EmpiricalDist",
    "ExponentialDist",
    "GammaDist",
    "LognormalDist",
    "UniformDist",
    "WeibullDist",
]

Formatter = Callable[[float], str]

PositiveQuantity = Annotated[Quantity, Field(gt=0)]
# A plain finite number: no unit strings, no booleans.
_Real = Annotated[float, Field(strict=True, allow_inf_nan=False)]


def _exp(x: float) -> float:
    """``exp(x)``, or ``inf`` where it overflows a float."""
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


def _count(n: int) -> int:
    n = operator.index(n)
    if n < 0:
        raise ValueError(f"sample size must be >= 0, got {n}")
    return n


class _Dist(BaseModel):
    """Shared configuration: frozen, unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ConstantDist(_Dist):
    """Always ``value``."""

    dist: Literal["constant"] = "constant"
    value: Quantity

    def expected(self) -> float:
        return self.value

    def variance(self) -> float:
        return 0.0

    def lower(self) -> float:
        return self.value

    def upper(self) -> float:
        return self.value

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return np.full(_count(n), self.value, dtype=np.float64)

    def describe(self, fmt: Formatter = format_number) -> str:
        return f"constant({fmt(self.value)})"


class ExponentialDist(_Dist):
    """Exponential with the given ``mean`` (> 0); support [0, inf)."""

    dist: Literal["exponential"] = "exponential"
    mean: PositiveQuantity

    def expected(self) -> float:
        return self.mean

    def variance(self) -> float:
        return self.mean**2

    def lower(self) -> float:
        return 0.0

    def upper(self) -> float:
        return math.inf

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.exponential(self.mean, _count(n))

    def describe(self, fmt: Formatter = format_number) -> str:
        return f"exponential(mean={fmt(self.mean)})"


class LognormalDist(_Dist):
    """``median * exp(sigma * Z)`` with Z standard normal; support (0, inf), or the median
    alone when ``sigma`` is 0."""

    dist: Literal["lognormal"] = "lognormal"
    median: PositiveQuantity
    sigma: Annotated[_Real, Field(ge=0)]

    def expected(self) -> float:
        return self.median * _exp(self.sigma**2 / 2)

    def variance(self) -> float:
        s2 = self.sigma**2
        return self.median**2 * _exp(s2) * math.expm1(s2) if s2 < 700 else math.inf

    def lower(self) -> float:
        return self.median if self.sigma == 0 else 0.0

    def upper(self) -> float:
        return self.median if self.sigma == 0 else math.inf

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return self.median * rng.lognormal(0.0, self.sigma, _count(n))  # exact when sigma = 0

    def describe(self, fmt: Formatter = format_number) -> str:
        return f"lognormal(median={fmt(self.median)}, sigma={format_number(self.sigma)})"


class GammaDist(_Dist):
    """Gamma with the given ``mean`` and ``cv`` = std / mean: shape 1/cv², scale mean·cv²."""

    dist: Literal["gamma"] = "gamma"
    mean: PositiveQuantity
    cv: Annotated[_Real, Field(gt=0)]

    def expected(self) -> float:
        return self.mean

    def variance(self) -> float:
        return (self.mean * self.cv) ** 2

    def lower(self) -> float:
        return 0.0

    def upper(self) -> float:
        return math.inf

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.gamma(1.0 / self.cv**2, self.mean * self.cv**2, _count(n))

    def describe(self, fmt: Formatter = format_number) -> str:
        return f"gamma(mean={fmt(self.mean)}, cv={format_number(self.cv)})"


class WeibullDist(_Dist):
    """Weibull with ``shape`` k (> 0) and ``scale`` λ (> 0); support [0, inf)."""

    dist: Literal["weibull"] = "weibull"
    shape: Annotated[_Real, Field(gt=0)]
    scale: PositiveQuantity

    def expected(self) -> float:
        return self.scale * _exp(math.lgamma(1 + 1 / self.shape))

    def variance(self) -> float:
        # λ²(Γ(1+2/k) - Γ(1+1/k)²), written to stay accurate for large k.
        lg1, lg2 = math.lgamma(1 + 1 / self.shape), math.lgamma(1 + 2 / self.shape)
        return self.scale**2 * _exp(lg2) * -math.expm1(2 * lg1 - lg2)

    def lower(self) -> float:
        return 0.0

    def upper(self) -> float:
        return math.inf

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return self.scale * rng.weibull(self.shape, _count(n))

    def describe(self, fmt: Formatter = format_number) -> str:
        return f"weibull(shape={format_number(self.shape)}, scale={fmt(self.scale)})"


class UniformDist(_Dist):
    """Uniform on [``low``, ``high``]; ``low == high`` is a constant."""

    dist: Literal["uniform"] = "uniform"
    low: Quantity
    high: Quantity

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.low > self.high:
            raise ValueError(
                f"low must not exceed high, got low={format_number(self.low)} > "
                f"high={format_number(self.high)} (in base units)"
            )
        return self

    def expected(self) -> float:
        return (self.low + self.high) / 2

    def variance(self) -> float:
        return (self.high - self.low) ** 2 / 12

    def lower(self) -> float:
        return self.low

    def upper(self) -> float:
        return self.high

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.uniform(self.low, self.high, _count(n))

    def describe(self, fmt: Formatter = format_number) -> str:
        return f"uniform(low={fmt(self.low)}, high={fmt(self.high)})"


class EmpiricalDist(_Dist):
    """One of ``values``, drawn with probability proportional to ``weights`` (equal if absent).

    Weights are non-negative with a positive sum; they are normalised, so ``[5, 3, 1, 1]``
    and ``[0.5, 0.3, 0.1, 0.1]`` are the same distribution. A value of weight 0 is outside
    the support (never drawn, not counted by ``lower``/``upper``).
    """

    dist: Literal["empirical"] = "empirical"
    values: Annotated[list[Quantity], Field(min_length=1)]
    weights: list[Annotated[_Real, Field(ge=0)]] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.weights is not None:
            if len(self.weights) != len(self.values):
                raise ValueError(
                    f"weights must have one entry per value: {len(self.weights)} weights "
                    f"for {len(self.values)} values"
                )
            if not sum(self.weights) > 0:
                raise ValueError("weights must have a positive sum")
        return self

    def probabilities(self) -> np.ndarray:
        """The normalised weights, one per value (sum 1)."""
        if self.weights is None:
            return np.full(len(self.values), 1.0 / len(self.values))
        w = np.asarray(self.weights, dtype=np.float64)
        return w / w.sum()

    def _support(self) -> np.ndarray:
        return np.asarray(self.values, dtype=np.float64)[self.probabilities() > 0]

    def expected(self) -> float:
        # Clipped so rounding never puts the mean outside the support: [1, 1] has mean 1.
        mean = float(np.dot(self.probabilities(), self.values))
        return min(max(mean, self.lower()), self.upper())

    def variance(self) -> float:
        x = np.asarray(self.values, dtype=np.float64)
        return float(np.dot(self.probabilities(), (x - self.expected()) ** 2))

    def lower(self) -> float:
        return float(self._support().min())

    def upper(self) -> float:
        return float(self._support().max())

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        values = np.asarray(self.values, dtype=np.float64)
        return rng.choice(values, size=_count(n), p=self.probabilities())

    def describe(self, fmt: Formatter = format_number) -> str:
        if len(self.values) > 8:
            return (
                f"empirical({len(self.values)} values in "
                f"[{fmt(self.lower())}, {fmt(self.upper())}])"
            )
        values = ", ".join(fmt(v) for v in self.values)
        if self.weights is None:
            return f"empirical(values=[{values}])"
        weights = ", ".join(format_number(w) for w in self.weights)
        return f"empirical(values=[{values}], weights=[{weights}])"


_MODELS = (
    ConstantDist,
    ExponentialDist,
    LognormalDist,
    GammaDist,
    WeibullDist,
    UniformDist,
    EmpiricalDist,
)
DIST_NAMES: tuple[str, ...] = tuple(m.model_fields["dist"].default for m in _MODELS)
"""The accepted values of ``dist``, in the order of the contract."""


def _check_dist_name(value: object) -> object:
    """Turn a missing or misspelt ``dist`` into one readable message naming the choices."""
    if not isinstance(value, Mapping):
        return value
    allowed = ", ".join(DIST_NAMES)
    if "dist" not in value:
        raise ValueError(
            f"missing 'dist': expected one of {allowed}, e.g. {{dist: exponential, mean: 2h}}"
        )
    name = value["dist"]
    if not isinstance(name, str) or name not in DIST_NAMES:
        raise ValueError(f"unknown dist {name!r}: expected one of {allowed}{did_you_mean(str(name), DIST_NAMES)}")
    return value


def _wrap_scalar(value: object) -> object:
    """A plain number or unit string (``8``, ``20GB``) means a constant distribution."""
    if isinstance(value, Mapping | BaseModel):
        return value
    return {"dist": "constant", "value": value}


Distribution = Annotated[
    ConstantDist
    | ExponentialDist
    | LognormalDist
    | GammaDist
    | WeibullDist
    | UniformDist
    | EmpiricalDist,
    Field(discriminator="dist"),
    BeforeValidator(_check_dist_name),
]
"""Any ``{dist: ...}`` form, chosen by its ``dist`` field."""

DistOrValue = Annotated[
    Distribution,
    BeforeValidator(_wrap_scalar, json_schema_input_type=Quantity | Distribution),
]
"""A ``{dist: ...}`` form, or a number or unit string read as ``{dist: constant, value: v}``."""
