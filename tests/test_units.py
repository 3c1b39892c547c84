"""Unit parsing: the contract's examples, bad values, pydantic composition, formatting."""

from __future__ import annotations

import math
from typing import Annotated

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, Field, ValidationError

from swarmsim.units import (
    Bandwidth,
    DataSize,
    Duration,
    Fraction,
    Quantity,
    Rate,
    format_duration,
    parse_bandwidth,
    parse_data,
    parse_duration,
    parse_fraction,
    parse_quantity,
    parse_rate,
)

FAMILIES = {
    "duration": parse_duration,
    "rate": parse_rate,
    "data": parse_data,
    "bandwidth": parse_bandwidth,
    "fraction": parse_fraction,
}

# Every example of contract section 1 (latency is a duration), then the other spellings
# this module promises, then the unit strings of the contract's annotated scenario.
EXAMPLES = [
    ("duration", "90s", 90.0),
    ("duration", "15m", 900.0),
    ("duration", "2h", 7200.0),
    ("duration", "7d", 604800.0),
    ("duration", "250ms", 0.25),
    ("rate", "20/h", 20 / 3600),
    ("rate", "50/s", 50.0),
    ("rate", "1200/d", 1200 / 86400),
    ("duration", "75ms", 0.075),
    ("duration", "0.2s", 0.2),
    ("data", "50GB", 50e9),
    ("data", "1.5TB", 1.5e12),
    ("data", "800MB", 800e6),
    ("bandwidth", "10Gbps", 10e9),
    ("bandwidth", "400Mbps", 400e6),
    # more spellings
    ("duration", "1w", 604800.0),
    ("duration", "1.5h", 5400.0),
    ("duration", "1h30m", 5400.0),
    ("duration", "1h 30m 15s", 5415.0),
    ("duration", "-1h30m", -5400.0),
    ("duration", "15 m", 900.0),
    ("duration", " 2h ", 7200.0),
    ("duration", "15min", 900.0),
    ("duration", "2hr", 7200.0),
    ("duration", "90sec", 90.0),
    ("duration", "1e3s", 1000.0),
    ("duration", ".5h", 1800.0),
    ("rate", "3/m", 0.05),
    ("rate", "3/min", 0.05),
    ("rate", "100/ms", 100000.0),
    ("rate", "20 / h", 20 / 3600),
    ("rate", "7/w", 7 / 604800),
    ("data", "10KiB", 10240.0),
    ("data", "1MiB", 1048576.0),
    ("data", "2GiB", 2 * 1024**3),
    ("data", "1TiB", 1024**4),
    ("data", "3kB", 3000.0),
    ("data", "3KB", 3000.0),
    ("data", "512B", 512.0),
    ("data", "2PB", 2e15),
    ("bandwidth", "1Tbps", 1e12),
    ("bandwidth", "100kbps", 1e5),
    ("bandwidth", "100Kbps", 1e5),
    ("bandwidth", "9600bps", 9600.0),
    ("fraction", "5%", 0.05),
    ("fraction", "12.5 %", 0.125),
    # contract section 3
    ("duration", "3d", 259200.0),
    ("duration", "6h", 21600.0),
    ("duration", "5m", 300.0),
    ("duration", "76ms", 0.076),
    ("duration", "5ms", 0.005),
    ("duration", "4m", 240.0),
    ("duration", "15s", 15.0),
    ("duration", "2s", 2.0),
    ("bandwidth", "5Gbps", 5e9),
    ("data", "20GB", 20e9),
]


@pytest.mark.parametrize(("family", "text", "expected"), EXAMPLES)
def test_examples_parse_to_base_units(family: str, text: str, expected: float) -> None:
    assert FAMILIES[family](text) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(("family", "text", "expected"), EXAMPLES)
def test_quantity_reads_every_family(family: str, text: str, expected: float) -> None:
    assert parse_quantity(text) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(("family", "text", "expected"), EXAMPLES)
def test_unit_families_are_disjoint(family: str, text: str, expected: float) -> None:
    for other, parse in FAMILIES.items():
        if other != family:
            with pytest.raises(ValueError, match="such as"):
                parse(text)


@pytest.mark.parametrize("parse", [*FAMILIES.values(), parse_quantity])
@pytest.mark.parametrize(
    ("value", "expected"),
    [(90, 90.0), (2.5, 2.5), ("90", 90.0), (" -3.5 ", -3.5), (np.float64(4.0), 4.0), (0, 0.0)],
)
def test_bare_numbers_are_base_units(parse, value: object, expected: float) -> None:
    result = parse(value)
    assert result == expected
    assert type(result) is float


def test_fraction_number_is_unchanged() -> None:
    assert parse_fraction(0.05) == 0.05
    assert parse_fraction("5") == 5.0  # five, not five percent: only % divides by 100


def test_bad_duration_message_shows_an_example() -> None:
    with pytest.raises(ValueError) as info:
        parse_duration("fast")
    assert str(info.value) == "expected a duration such as 15m, 2h or 90s, got 'fast'"


def test_bad_rate_message_matches_the_style_guide() -> None:
    with pytest.raises(ValueError, match=r"^expected a rate such as 20/h.*, got 'fast'$"):
        parse_rate("fast")


@pytest.mark.parametrize(
    ("parse", "example"),
    [
        (parse_duration, "15m"),
        (parse_rate, "20/h"),
        (parse_data, "50GB"),
        (parse_bandwidth, "10Gbps"),
        (parse_fraction, "5%"),
        (parse_quantity, "15m"),
    ],
)
@pytest.mark.parametrize(
    "value",
    [
        "fast",
        "",
        "   ",
        True,
        False,
        None,
        [1],
        {"h": 1},
        float("nan"),
        float("inf"),
        -float("inf"),
        "nan",
        "inf",
        "1e999",
        "1_000",
        "1.5.3h",
        "--5m",
        "15 furlongs",
        "h",
        "1h30",
    ],
)
def test_bad_values_raise_with_an_example(parse, example: str, value: object) -> None:
    with pytest.raises(ValueError) as info:
        parse(value)
    message = str(info.value)
    assert example in message
    assert repr(value) in message


@pytest.mark.parametrize(
    ("parse", "text"),
    [
        (parse_duration, "15M"),  # minutes are lowercase
        (parse_duration, "2H"),
        (parse_duration, "1mb"),
        (parse_duration, "20/h"),
        (parse_rate, "20/H"),
        (parse_rate, "20h"),
        (parse_data, "10mb"),
        (parse_data, "10Gb"),  # bits are a bandwidth thing
        (parse_data, "10GBps"),
        (parse_bandwidth, "10GB"),
        (parse_bandwidth, "10gbps"),
    ],
)
def test_unit_spellings_are_case_sensitive(parse, text: str) -> None:
    with pytest.raises(ValueError, match="such as"):
        parse(text)


class _Limits(BaseModel):
    wait: Annotated[Duration, Field(gt=0)]
    rate: Annotated[Rate, Field(ge=0)]
    share: Annotated[Fraction, Field(ge=0, le=1)] = 0.0


@pytest.mark.parametrize("bad", ["0s", "-5m", 0, -1])
def test_constraints_apply_after_parsing(bad: object) -> None:
    with pytest.raises(ValidationError) as info:
        _Limits(wait=bad, rate="1/s")
    assert info.value.errors()[0]["type"] == "greater_than"
    assert info.value.errors()[0]["loc"] == ("wait",)


def test_constrained_types_parse_units() -> None:
    limits = _Limits(wait="15m", rate="20/h", share="50%")
    assert (limits.wait, limits.rate, limits.share) == (900.0, pytest.approx(20 / 3600), 0.5)
    with pytest.raises(ValidationError, match="less than or equal to 1"):
        _Limits(wait=1, rate=0, share="150%")


def test_model_error_names_the_field_and_an_example() -> None:
    with pytest.raises(ValidationError) as info:
        _Limits(wait="fast", rate=0)
    error = info.value.errors()[0]
    assert error["loc"] == ("wait",)
    assert "expected a duration such as 15m" in error["msg"]


class _Everything(BaseModel):
    horizon: Annotated[Duration, Field(gt=0)]
    rate: Rate
    data: DataSize
    bandwidth: Bandwidth
    share: Fraction
    anything: Quantity


def test_json_schema_says_number_or_unit_string() -> None:
    schema = _Everything.model_json_schema()
    props = schema["properties"]
    horizon = props["horizon"]
    assert horizon["anyOf"] == [{"type": "number", "exclusiveMinimum": 0}, {"type": "string"}]
    assert 'such as "15m"' in horizon["description"]
    for name, example in [("rate", "20/h"), ("data", "50GB"), ("bandwidth", "10Gbps")]:
        assert f'such as "{example}"' in props[name]["description"]
    # serialised values are plain floats in base units
    out = _Everything.model_json_schema(mode="serialization")["properties"]
    assert out["horizon"]["type"] == "number"
    assert out["horizon"]["exclusiveMinimum"] == 0


def test_models_store_base_units() -> None:
    model = _Everything(
        horizon="3d", rate="50/s", data="1.5TB", bandwidth="5Gbps", share="5%", anything="20GB"
    )
    assert model.model_dump() == {
        "horizon": 259200.0,
        "rate": 50.0,
        "data": 1.5e12,
        "bandwidth": 5e9,
        "share": 0.05,
        "anything": 20e9,
    }


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (5400, "1.5h"),
        (90, "90s"),
        (0.25, "250ms"),
        (0, "0s"),
        (1800, "30m"),
        (3600, "1h"),
        (604800, "7d"),
        (-5400, "-1.5h"),
        (1 / 3, "333.3ms"),
    ],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_format_duration_of_non_finite_values() -> None:
    assert format_duration(math.inf) == "inf"
    assert format_duration(-math.inf) == "-inf"


@given(
    st.floats(min_value=1e-9, max_value=1e12, allow_nan=False, allow_infinity=False),
    st.sampled_from([1.0, -1.0]),
)
def test_format_then_parse_round_trips(magnitude: float, sign: float) -> None:
    seconds = sign * magnitude
    assert parse_duration(format_duration(seconds)) == pytest.approx(seconds, rel=6e-4)
