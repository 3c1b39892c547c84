"""The {dist: ...} models: contract examples, moments against samples and scipy, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, TypeAdapter, ValidationError
from scipy import stats

from swarmsim.distributions import (
    DIST_NAMES,
    ConstantDist,
    DistOrValue,
    Distribution,
    EmpiricalDist,
    ExponentialDist,
    GammaDist,
    LognormalDist,
    UniformDist,
    WeibullDist,
)
from swarmsim.units import format_duration

DIST = TypeAdapter(Distribution)
DIST_OR_VALUE = TypeAdapter(DistOrValue)

# Contract section 2, verbatim.
CONTRACT_EXAMPLES = """\
{dist: constant, value: 2h}
{dist: exponential, mean: 2h}
{dist: lognormal, median: 1.5h, sigma: 1.2}
{dist: gamma, mean: 30m, cv: 2.0}          # cv = std / mean
{dist: weibull, shape: 0.7, scale: 3h}
{dist: uniform, low: 10m, high: 1h}
{dist: empirical, values: [1, 2, 4, 8], weights: [5, 3, 1, 1]}
"""


def _contract(i: int) -> object:
    return yaml.safe_load(CONTRACT_EXAMPLES.splitlines()[i])


def test_contract_examples_validate_to_base_units() -> None:
    parsed = [DIST_OR_VALUE.validate_python(_contract(i)) for i in range(7)]
    assert parsed == [
        ConstantDist(value=7200),
        ExponentialDist(mean=7200),
        LognormalDist(median=5400, sigma=1.2),
        GammaDist(mean=1800, cv=2.0),
        WeibullDist(shape=0.7, scale=10800),
        UniformDist(low=600, high=3600),
        EmpiricalDist(values=[1, 2, 4, 8], weights=[5, 3, 1, 1]),
    ]
    assert [d.dist for d in parsed] == list(DIST_NAMES)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{dist: lognormal, median: 4m, sigma: 0.5}", LognormalDist(median=240, sigma=0.5)),
        (
            "{dist: empirical, values: [1, 2, 4, 8, 16, 32], weights: [30, 20, 20, 20, 7, 3]}",
            EmpiricalDist(values=[1, 2, 4, 8, 16, 32], weights=[30, 20, 20, 20, 7, 3]),
        ),
        ("{dist: lognormal, median: 1000, sigma: 0.8}", LognormalDist(median=1000, sigma=0.8)),
        ("20GB", ConstantDist(value=20e9)),
        ("8", ConstantDist(value=8)),
        ("2h", ConstantDist(value=7200)),
        ("0.5", ConstantDist(value=0.5)),
    ],
)
def test_contract_section3_forms(text: str, expected: object) -> None:
    assert DIST_OR_VALUE.validate_python(yaml.safe_load(text)) == expected


def test_a_model_instance_passes_through() -> None:
    dist = ExponentialDist(mean=3.0)
    assert DIST_OR_VALUE.validate_python(dist) == dist


def test_plain_distribution_does_not_take_scalars() -> None:
    with pytest.raises(ValidationError):
        DIST.validate_python("20GB")


# name, distribution, scipy equivalent (None for discrete ones)
CASES = [
    ("constant", ConstantDist(value="2h"), None),
    ("exponential", ExponentialDist(mean="2h"), stats.expon(scale=7200)),
    ("lognormal", LognormalDist(median="1.5h", sigma=1.2), stats.lognorm(s=1.2, scale=5400)),
    ("lognormal-0", LognormalDist(median=3.0, sigma=0), None),
    ("gamma", GammaDist(mean="30m", cv=2.0), stats.gamma(a=0.25, scale=1800 * 4)),
    ("gamma-low-cv", GammaDist(mean=10, cv=0.5), stats.gamma(a=4, scale=2.5)),
    ("weibull", WeibullDist(shape=0.7, scale="3h"), stats.weibull_min(c=0.7, scale=10800)),
    ("weibull-peaked", WeibullDist(shape=3, scale=100), stats.weibull_min(c=3, scale=100)),
    ("uniform", UniformDist(low="10m", high="1h"), stats.uniform(loc=600, scale=3000)),
    ("uniform-negative", UniformDist(low=-2, high=5), stats.uniform(loc=-2, scale=7)),
    ("uniform-point", UniformDist(low=4, high=4), None),
    ("empirical", EmpiricalDist(values=[1, 2, 4, 8], weights=[5, 3, 1, 1]), None),
    ("empirical-equal", EmpiricalDist(values=[1, 10, 100]), None),
    ("empirical-zero", EmpiricalDist(values=[7, 1, 2, 50], weights=[0, 1, 1, 0]), None),
    ("data", ExponentialDist(mean="20GB"), stats.expon(scale=20e9)),
]
IDS = [name for name, _, _ in CASES]
N = 400_000


def _draw(dist, n: int = N, seed: int = 20240601) -> np.ndarray:
    return dist.sample(np.random.Generator(np.random.PCG64(seed)), n)


@pytest.mark.parametrize(("name", "dist", "ref"), CASES, ids=IDS)
def test_sample_mean_within_four_standard_errors(name, dist, ref) -> None:
    x = _draw(dist)
    se = math.sqrt(dist.variance() / N)
    assert abs(x.mean() - dist.expected()) <= 4 * se + 1e-12 * abs(dist.expected())


@pytest.mark.parametrize(("name", "dist", "ref"), CASES, ids=IDS)
def test_sample_variance_within_its_standard_error(name, dist, ref) -> None:
    # About the known mean, (x - mean)² is an unbiased estimate of the variance whose own
    # standard error the sample gives directly (also for two-point distributions).
    squares = (_draw(dist) - dist.expected()) ** 2
    se = squares.std(ddof=1) / math.sqrt(N)
    assert abs(squares.mean() - dist.variance()) <= 5 * se + 1e-9 * max(dist.variance(), 1.0)


@pytest.mark.parametrize(("name", "dist", "ref"), CASES, ids=IDS)
def test_samples_lie_within_lower_and_upper(name, dist, ref) -> None:
    x = _draw(dist)
    assert x.dtype == np.float64
    assert x.shape == (N,)
    assert dist.lower() <= x.min()
    assert x.max() <= dist.upper()


CONTINUOUS = [case for case in CASES if case[2] is not None]


@pytest.mark.parametrize(
    ("name", "dist", "ref"), CONTINUOUS, ids=[name for name, _, _ in CONTINUOUS]
)
def test_matches_scipy(name, dist, ref) -> None:
    assert dist.expected() == pytest.approx(ref.mean(), rel=1e-9)
    assert dist.variance() == pytest.approx(ref.var(), rel=1e-9)
    lo, hi = ref.support()
    assert (dist.lower(), dist.upper()) == (lo, hi)
    assert stats.kstest(_draw(dist, 50_000), ref.cdf).pvalue > 1e-3


def test_closed_form_moments() -> None:
    empirical = DIST.validate_python(_contract(6))
    assert empirical.expected() == pytest.approx(2.3)  # (5·1 + 3·2 + 1·4 + 1·8) / 10
    assert empirical.variance() == pytest.approx(9.7 - 2.3**2)
    assert (empirical.lower(), empirical.upper()) == (1, 8)
    gamma = GammaDist(mean=30, cv=2)
    assert (gamma.expected(), gamma.variance()) == (30, 3600)
    point = LognormalDist(median=3, sigma=0)
    assert (point.lower(), point.upper(), point.variance()) == (3, 3, 0)
    assert WeibullDist(shape=1, scale=5).expected() == pytest.approx(5)  # exponential
    assert WeibullDist(shape=1, scale=5).variance() == pytest.approx(25)
    assert WeibullDist(shape=1000, scale=5).variance() == pytest.approx(
        stats.weibull_min(c=1000, scale=5).var(), rel=1e-6
    )


def test_constant_is_constant() -> None:
    dist = ConstantDist(value="20GB")
    x = _draw(dist, 1000)
    assert np.all(x == 20e9)
    assert dist.variance() == 0
    assert dist.lower() == dist.upper() == dist.expected() == 20e9


def test_empirical_frequencies_follow_the_weights() -> None:
    dist = EmpiricalDist(values=[1, 2, 4, 8, 16, 32], weights=[30, 20, 20, 20, 7, 3])
    x = _draw(dist, 100_000)
    counts = np.array([(x == v).sum() for v in dist.values])
    assert counts.sum() == len(x)  # nothing outside the values
    expected = len(x) * np.array([0.30, 0.20, 0.20, 0.20, 0.07, 0.03])
    assert stats.chisquare(counts, expected).pvalue > 1e-3


def test_empirical_weights_are_normalised() -> None:
    raw = EmpiricalDist(values=[1, 2, 4, 8], weights=[5, 3, 1, 1])
    unit = EmpiricalDist(values=[1, 2, 4, 8], weights=[0.5, 0.3, 0.1, 0.1])
    np.testing.assert_allclose(raw.probabilities(), [0.5, 0.3, 0.1, 0.1])
    np.testing.assert_array_equal(_draw(raw, 1000), _draw(unit, 1000))


def test_zero_weight_values_are_outside_the_support() -> None:
    dist = EmpiricalDist(values=[7, 1, 2, 50], weights=[0, 1, 1, 0])
    assert set(np.unique(_draw(dist, 10_000))) == {1.0, 2.0}
    assert (dist.lower(), dist.upper()) == (1, 2)


def test_empirical_values_take_units() -> None:
    dist = DIST.validate_python({"dist": "empirical", "values": ["30m", "1h"]})
    assert dist.values == [1800, 3600]
    np.testing.assert_allclose(dist.probabilities(), [0.5, 0.5])


def test_same_generator_state_gives_same_samples() -> None:
    dist = LognormalDist(median=10, sigma=1)
    np.testing.assert_array_equal(_draw(dist, 100, seed=3), _draw(dist, 100, seed=3))
    assert not np.array_equal(_draw(dist, 100, seed=3), _draw(dist, 100, seed=4))


def test_sample_size_is_checked() -> None:
    rng = np.random.default_rng(0)
    assert ExponentialDist(mean=1).sample(rng, 0).shape == (0,)
    with pytest.raises(ValueError, match=">= 0"):
        ExponentialDist(mean=1).sample(rng, -1)
    with pytest.raises(TypeError):
        ExponentialDist(mean=1).sample(rng, 2.5)


def test_describe() -> None:
    lognormal = LognormalDist(median="1.5h", sigma=1.2)
    assert lognormal.describe() == "lognormal(median=5400, sigma=1.2)"
    assert lognormal.describe(format_duration) == "lognormal(median=1.5h, sigma=1.2)"
    assert GammaDist(mean="30m", cv=2).describe(format_duration) == "gamma(mean=30m, cv=2)"
    assert UniformDist(low="10m", high="1h").describe(format_duration) == (
        "uniform(low=10m, high=1h)"
    )
    assert EmpiricalDist(values=[1, 2], weights=[3, 1]).describe() == (
        "empirical(values=[1, 2], weights=[3, 1])"
    )
    assert EmpiricalDist(values=list(range(1, 21))).describe() == "empirical(20 values in [1, 20])"


def test_models_are_frozen() -> None:
    dist = ExponentialDist(mean=1)
    with pytest.raises(ValidationError):
        dist.mean = 2  # type: ignore[misc]


BAD = [
    ({"dist": "exponential", "mean": -1}, "greater than 0"),
    ({"dist": "exponential", "mean": "0s"}, "greater than 0"),
    ({"dist": "exponential", "mean": "fast"}, "such as 15m"),
    ({"dist": "lognormal", "median": 1, "sigma": -0.1}, "greater than or equal to 0"),
    ({"dist": "lognormal", "median": 0, "sigma": 1}, "greater than 0"),
    ({"dist": "lognormal", "median": 1, "sigma": True}, "valid number"),
    ({"dist": "lognormal", "median": 1, "sigma": float("nan")}, "finite"),
    ({"dist": "gamma", "mean": 1, "cv": 0}, "greater than 0"),
    ({"dist": "weibull", "shape": 0, "scale": 1}, "greater than 0"),
    ({"dist": "weibull", "shape": 1, "scale": -3}, "greater than 0"),
    ({"dist": "uniform", "low": "1h", "high": "10m"}, "low must not exceed high"),
    ({"dist": "empirical", "values": [1, 2], "weights": [1]}, "one entry per value"),
    ({"dist": "empirical", "values": [1, 2], "weights": [1, -1]}, "greater than or equal to 0"),
    ({"dist": "empirical", "values": [1, 2], "weights": [0, 0]}, "positive sum"),
    ({"dist": "empirical", "values": []}, "at least 1"),
    ({"dist": "exponential", "mean": 1, "median": 2}, "Extra inputs are not permitted"),
    ({"dist": "constant"}, "Field required"),
    ({"dist": "lognorml", "median": 1, "sigma": 1}, "did you mean 'lognormal'"),
    ({"dist": "poisson", "mean": 1}, "expected one of constant, exponential, lognormal"),
    ({"dist": 3}, "expected one of constant"),
    ({"mean": "2h"}, "missing 'dist': expected one of constant, exponential"),
    ([1, 2], "such as 15m"),
    (True, "such as 15m"),
]


@pytest.mark.parametrize(("value", "message"), BAD)
def test_bad_input_raises_a_readable_validation_error(value: object, message: str) -> None:
    with pytest.raises(ValidationError) as info:
        DIST_OR_VALUE.validate_python(value)
    assert message in str(info.value)


def test_unknown_dist_error_lists_every_name() -> None:
    with pytest.raises(ValidationError) as info:
        DIST.validate_python({"dist": "beta", "a": 1})
    assert all(name in str(info.value) for name in DIST_NAMES)


def test_errors_point_at_the_field_in_a_model() -> None:
    class Job(BaseModel):
        duration: DistOrValue

    with pytest.raises(ValidationError) as info:
        Job(duration={"dist": "lognormal", "median": "fast", "sigma": 1})
    assert info.value.errors()[0]["loc"] == ("duration", "lognormal", "median")


def test_json_schema_offers_value_or_distribution() -> None:
    schema = DIST_OR_VALUE.json_schema()
    value, union = schema["anyOf"]
    assert value["anyOf"] == [{"type": "number"}, {"type": "string"}]
    assert set(union["discriminator"]["mapping"]) == set(DIST_NAMES)


_positive = st.floats(min_value=1e-3, max_value=1e6)
_any_value = st.floats(min_value=-1e6, max_value=1e6)
DISTRIBUTIONS = st.one_of(
    st.builds(ConstantDist, value=_any_value),
    st.builds(ExponentialDist, mean=_positive),
    st.builds(LognormalDist, median=_positive, sigma=st.floats(0, 3)),
    st.builds(GammaDist, mean=_positive, cv=st.floats(0.05, 5)),
    st.builds(WeibullDist, shape=st.floats(0.2, 10), scale=_positive),
    st.tuples(_any_value, _any_value).map(
        lambda pair: UniformDist(low=min(pair), high=max(pair))
    ),
    st.builds(
        lambda pairs: EmpiricalDist(values=[v for v, _ in pairs], weights=[w for _, w in pairs]),
        st.lists(st.tuples(_any_value, st.floats(0.01, 100)), min_size=1, max_size=10),
    ),
)


@settings(max_examples=300, deadline=None)
@given(DISTRIBUTIONS, st.integers(0, 2**32 - 1))
def test_property_samples_within_support_and_moments_consistent(dist, seed: int) -> None:
    x = dist.sample(np.random.default_rng(seed), 200)
    assert x.shape == (200,)
    assert np.all((dist.lower() <= x) & (x <= dist.upper()))
    assert dist.lower() <= dist.expected() <= dist.upper()
    assert dist.variance() >= 0
    if dist.lower() == dist.upper():
        assert dist.variance() == 0
