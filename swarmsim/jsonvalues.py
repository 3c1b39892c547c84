"""Values for JSON output, in one place: numpy scalars become Python ones, and NaN and the
infinities (which JSON has no word for) become ``null``. ``summary.json``, a sweep's run folders,
``plan.json``, the report's figure data and ``swarmsim run --json`` all go through these."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def json_scalar(value: Any) -> Any:
    """``value`` for JSON: a numpy scalar as the Python scalar, a non-finite float as None; any
    other value unchanged."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def json_tree(value: Any, significant: int | None = None) -> Any:
    """:func:`json_scalar` through dicts (keys as str), lists, tuples and numpy arrays (as lists);
    with ``significant``, finite floats are rounded to that many significant digits."""
    if isinstance(value, dict):
        return {str(k): json_tree(v, significant) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_tree(v, significant) for v in value]
    if isinstance(value, np.ndarray):
        return [json_tree(v, significant) for v in value.tolist()]
    value = json_scalar(value)
    if significant is not None and isinstance(value, float):
        return float(f"{value:.{significant}g}")
    return value


__all__ = ["json_scalar", "json_tree"]
