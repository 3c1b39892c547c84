"""The one place where strings with units become floats in base units.

Base units: second (durations, latencies), per second (rates), byte (data sizes),
bit per second (bandwidths), USD (prices) and plain fractions (``"5%"`` is 0.05).
A bare number is already in the base unit. Unit spellings are case-sensitive and the
families are disjoint, so :func:`parse_quantity` can accept any of them.

The pydantic types (:data:`Duration`, :data:`Rate`, :data:`DataSize`, :data:`Bandwidth`,
:data:`Fraction`, :data:`Quantity`) validate to a ``float`` in base units and compose
with constraints: ``Annotated[Duration, Field(gt=0)]`` rejects ``"0s"`` and ``"-5m"``.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Callable
from typing import Annotated

from pydantic import BeforeValidator, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

__all__ = [
    "Bandwidth",
    "DataSize",
    "Duration",
    "Fraction",
    "Quantity",
    "Rate",
    "format_duration",
    "format_number",
    "parse_bandwidth",
    "parse_data",
    "parse_duration",
    "parse_fraction",
    "parse_quantity",
    "parse_rate",
]

# Seconds per duration unit (also the denominators of rates).
_TIME_S: dict[str, float] = {
    "ms": 1e-3,
    "s": 1.0,
    "sec": 1.0,
    "m": 60.0,
    "min": 60.0,
    "h": 3600.0,
    "hr": 3600.0,
    "d": 86400.0,
    "w": 604800.0,
}
# Bytes per data unit: decimal (kB = KB = 1000 B) and binary (KiB = 1024 B).
_DATA_B: dict[str, float] = {
    "B": 1.0,
    "kB": 1e3,
    "KB": 1e3,
    "MB": 1e6,
    "GB": 1e9,
    "TB": 1e12,
    "PB": 1e15,
    "KiB": 2.0**10,
    "MiB": 2.0**20,
    "GiB": 2.0**30,
    "TiB": 2.0**40,
    "PiB": 2.0**50,
}
# Bits per second per bandwidth unit.
_BANDWIDTH_BPS: dict[str, float] = {
    "bps": 1.0,
    "kbps": 1e3,
    "Kbps": 1e3,
    "Mbps": 1e6,
    "Gbps": 1e9,
    "Tbps": 1e12,
}

_NUM = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_UNSIGNED = r"(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"


def _alternation(units: dict[str, float]) -> str:
    # Longest first, and no letter may follow, so "ms" never reads as "m" + "s".
    return "(" + "|".join(sorted(map(re.escape, units), key=len, reverse=True)) + r")(?![A-Za-z])"


_BARE_RE = re.compile(rf"\s*({_NUM})\s*")
_DURATION_RE = re.compile(rf"\s*([+-]?)\s*((?:{_UNSIGNED}\s*{_alternation(_TIME_S)}\s*)+)")
_TERM_RE = re.compile(rf"({_UNSIGNED})\s*{_alternation(_TIME_S)}")
_RATE_RE = re.compile(rf"\s*({_NUM})\s*/\s*{_alternation(_TIME_S)}\s*")
_DATA_RE = re.compile(rf"\s*({_NUM})\s*{_alternation(_DATA_B)}\s*")
_BANDWIDTH_RE = re.compile(rf"\s*({_NUM})\s*{_alternation(_BANDWIDTH_BPS)}\s*")
_FRACTION_RE = re.compile(rf"\s*({_NUM})\s*%\s*")

_DURATION_EXAMPLE = "a duration such as 15m, 2h or 90s"
_RATE_EXAMPLE = "a rate such as 20/h, 50/s or 1200/d"
_DATA_EXAMPLE = "a data size such as 50GB, 1.5TB or 800MB"
_BANDWIDTH_EXAMPLE = "a bandwidth such as 10Gbps or 400Mbps"
_FRACTION_EXAMPLE = "a fraction such as 0.05 or 5%"
_QUANTITY_EXAMPLE = "a number or a value with a unit such as 15m, 20/h, 50GB, 10Gbps or 5%"


def _fail(expected: str, value: object, why: str = "") -> ValueError:
    return ValueError(f"expected {expected}, got {value!r}{why}")


def _parse(
    value: object,
    expected: str,
    from_text: Callable[[str], float | None],
) -> float:
    """Shared skeleton: numbers pass through, strings go to ``from_text``, all must be finite."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real | str):
        raise _fail(expected, value)
    if isinstance(value, str):
        bare = _BARE_RE.fullmatch(value)
        result = float(bare.group(1)) if bare else from_text(value)
        if result is None:
            raise _fail(expected, value)
    else:
        result = float(value)
    if not math.isfinite(result):
        raise _fail(expected, value, " (must be finite)")
    return result


def _duration_text(text: str) -> float | None:
    match = _DURATION_RE.fullmatch(text)
    if match is None:
        return None
    total = sum(float(n) * _TIME_S[u] for n, u in _TERM_RE.findall(match.group(2)))
    return -total if match.group(1) == "-" else total


def _scaled_text(
    pattern: re.Pattern[str], table: dict[str, float]
) -> Callable[[str], float | None]:
    def from_text(text: str) -> float | None:
        match = pattern.fullmatch(text)
        return None if match is None else float(match.group(1)) * table[match.group(2)]

    return from_text


def _rate_text(text: str) -> float | None:
    match = _RATE_RE.fullmatch(text)
    return None if match is None else float(match.group(1)) / _TIME_S[match.group(2)]


def _fraction_text(text: str) -> float | None:
    match = _FRACTION_RE.fullmatch(text)
    return None if match is None else float(match.group(1)) / 100.0


_data_text = _scaled_text(_DATA_RE, _DATA_B)
_bandwidth_text = _scaled_text(_BANDWIDTH_RE, _BANDWIDTH_BPS)


def parse_duration(value: object) -> float:
    """Seconds from ``90s``, ``15m``, ``2h``, ``7d``, ``1w``, ``250ms``, ``1h30m``, ``15 min``.

    Spellings: ms, s/sec, m/min, h/hr, d, w. A bare number is seconds.
    """
    return _parse(value, _DURATION_EXAMPLE, _duration_text)


def parse_rate(value: object) -> float:
    """Events per second from ``20/h``, ``50/s``, ``1200/d``, ``3/min``, ``100/ms``.

    The denominator takes the duration spellings. A bare number is per second.
    """
    return _parse(value, _RATE_EXAMPLE, _rate_text)


def parse_data(value: object) -> float:
    """Bytes from ``50GB``, ``1.5TB``, ``800MB`` (decimal: 1 KB = 1000 B) or ``10KiB`` (binary).

    Spellings: B, kB/KB, MB, GB, TB, PB, KiB, MiB, GiB, TiB, PiB. A bare number is bytes.
    """
    return _parse(value, _DATA_EXAMPLE, _data_text)


def parse_bandwidth(value: object) -> float:
    """Bits per second from ``10Gbps``, ``400Mbps``, ``1Tbps``, ``100kbps``.

    Spellings: bps, kbps/Kbps, Mbps, Gbps, Tbps. A bare number is bit/s.
    """
    return _parse(value, _BANDWIDTH_EXAMPLE, _bandwidth_text)


def parse_fraction(value: object) -> float:
    """A plain fraction from ``5%`` (0.05) or a number (unchanged).

    No range is enforced here; add ``Field(ge=0, le=1)`` where a share is meant.
    """
    return _parse(value, _FRACTION_EXAMPLE, _fraction_text)


_FAMILIES = (_duration_text, _rate_text, _data_text, _bandwidth_text, _fraction_text)


def _quantity_text(text: str) -> float | None:
    for from_text in _FAMILIES:  # the unit spellings are disjoint: at most one matches
        result = from_text(text)
        if result is not None:
            return result
    return None


def parse_quantity(value: object) -> float:
    """Base units from a value of any family (duration, rate, data, bandwidth, fraction).

    A bare number is returned unchanged; the enclosing field gives it its meaning.
    """
    return _parse(value, _QUANTITY_EXAMPLE, _quantity_text)


def format_number(value: float) -> str:
    """A float in at most 4 significant digits, without trailing zeros: 1.5, 5400, 0.3333."""
    return f"{float(value):.4g}"


def format_duration(seconds: float) -> str:
    """Short text for a duration in seconds: 5400 -> ``1.5h``, 90 -> ``90s``, 0.25 -> ``250ms``.

    Seconds below 2 minutes, minutes below 1 hour, hours below 2 days, then days; 4
    significant digits, so ``parse_duration`` gives the value back within 0.05%.
    """
    s = float(seconds)
    if not math.isfinite(s):
        return str(s)
    size = abs(s)
    if size == 0:
        return "0s"
    if size < 1:
        unit = "ms"
    elif size < 120:
        unit = "s"
    elif size < 3600:
        unit = "m"
    elif size < 2 * 86400:
        unit = "h"
    else:
        unit = "d"
    return f"{format_number(s / _TIME_S[unit])}{unit}"


# pydantic spells a constraint behind a BeforeValidator its own way; JSON Schema's names:
_JSON_SCHEMA_BOUNDS = {
    "gt": "exclusiveMinimum",
    "ge": "minimum",
    "lt": "exclusiveMaximum",
    "le": "maximum",
}


class _UnitJsonSchema:
    """JSON schema of a unit type: in validation mode ``number or string such as "15m"``.

    Keeps the numeric constraints (``Field(gt=0)``) on the number branch, spelled the JSON
    Schema way (``exclusiveMinimum``).
    """

    def __init__(self, example: str, base_unit: str) -> None:
        self.example = example
        self.base_unit = base_unit

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        number = dict(handler.resolve_ref_schema(handler(core_schema)))
        for short, keyword in _JSON_SCHEMA_BOUNDS.items():
            if short in number:
                number[keyword] = number.pop(short)
        if handler.mode == "serialization":
            return {**number, "description": f"in {self.base_unit}"}
        return {
            "anyOf": [number, {"type": "string"}],
            "description": f'number (in {self.base_unit}) or string such as "{self.example}"',
        }


Duration = Annotated[float, BeforeValidator(parse_duration), _UnitJsonSchema("15m", "seconds")]
"""Seconds; accepts ``15m``, ``2h``, ``90s``, ``250ms`` or a number of seconds."""
Rate = Annotated[float, BeforeValidator(parse_rate), _UnitJsonSchema("20/h", "per second")]
"""Per second; accepts ``20/h``, ``50/s``, ``1200/d`` or a number per second."""
DataSize = Annotated[float, BeforeValidator(parse_data), _UnitJsonSchema("50GB", "bytes")]
"""Bytes; accepts ``50GB``, ``1.5TB``, ``10KiB`` or a number of bytes."""
Bandwidth = Annotated[
    float, BeforeValidator(parse_bandwidth), _UnitJsonSchema("10Gbps", "bits per second")
]
"""Bits per second; accepts ``10Gbps``, ``400Mbps`` or a number of bit/s."""
Fraction = Annotated[float, BeforeValidator(parse_fraction), _UnitJsonSchema("5%", "fraction")]
"""A plain fraction; accepts ``5%`` or a number."""
Quantity = Annotated[
    float, BeforeValidator(parse_quantity), _UnitJsonSchema("1.5h", "the field's base unit")
]
"""Any unit family or a bare number, in base units; the enclosing field gives the meaning."""
