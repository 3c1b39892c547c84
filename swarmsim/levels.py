"""Service-level figures as planners state them: the one grammar (docs/metrics.md, docs/planning.md).

A **distribution** is one of :data:`DISTRIBUTIONS` (``job_wait``, ``request_ttft``, ...), optionally
narrowed by a selector in brackets: ``[training]`` (a workload), ``[region=eu-west]`` (a user
region, the origin), or both, ``[training,region=eu-west]``. Of a distribution there are two
figures:

* a **percentile**, ``job_wait_p80_s``, ``request_ttft_p999_s[region=eu-west]``: ``pNN`` is
  NN %, more than two digits read as decimals (``p999`` = 99.9 %, ``p9999`` = 99.99 %), seconds;
* an **attainment** (service level), the share of the distribution at or below a threshold,
  0..1: ``job_wait_within_20s`` or, written the way the target is stated, ``job_wait<=20s``.

And an **attainment SLO**, ``job_wait<=20s:80%`` ("80 % of jobs start within 20 s"), is the
attainment figure with a lower bound (``:80%`` or ``:0.8``).

This module only parses (no numbers are computed here: :mod:`swarmsim.metrics.levels` does);
it imports nothing of the package but :mod:`swarmsim.units`, so the scenario model, the
metrics and the planner can all use it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

#: Latency-type distributions a level can be taken of: what each one measures (seconds).
DISTRIBUTIONS = {
    "job_wait": "jobs: arrival to start",
    "job_completion": "jobs: arrival to finish",
    "request_latency": "requests: arrival at the user to the last token back",
    "request_ttft": "requests: time to first token",
    "request_tpot": "requests: time per output token",
}

_NAME = r"[A-Za-z0-9][A-Za-z0-9._-]*"
_BASE = "|".join(sorted(DISTRIBUTIONS, key=len, reverse=True))
_PERCENTILE_RE = re.compile(rf"({_BASE})_p(\d+)_s(?:\[([^\]]*)\])?")
_WITHIN_RE = re.compile(rf"({_BASE})_within_([0-9][^\[\]]*)(?:\[([^\]]*)\])?")
_STATED_RE = re.compile(rf"({_BASE})(?:\[([^\]]*)\])?\s*<=\s*([^:]+?)\s*(?::\s*(.+?))?")
_NAME_RE = re.compile(_NAME)

EXPECTED = ("expected a service-level figure such as job_wait_p80_s, request_ttft_p999_s, "
            "job_wait_within_20s or job_wait<=20s, optionally with [workload] or [region=NAME] "
            f"after the name; distributions: {', '.join(DISTRIBUTIONS)}")


class LevelError(ValueError):
    """Text that is not a service level; the message says what was expected."""


@dataclass(frozen=True)
class Level:
    """One service-level figure: a ``quantile`` (0..1) or the share ``within_s`` seconds.

    Attributes:
        base: the distribution (a key of :data:`DISTRIBUTIONS`).
        quantile: for a percentile, 0 < q < 1; else None.
        within_s: for an attainment, the threshold in seconds; else None.
        workload: the selector's workload (None: every workload of the kind).
        region: the selector's user region (None: every region).
    """

    base: str
    quantile: float | None = None
    within_s: float | None = None
    workload: str | None = None
    region: str | None = None

    @property
    def kind(self) -> str:
        """``"jobs"`` or ``"requests"``: what the distribution is of."""
        return "jobs" if self.base.startswith("job") else "requests"

    @property
    def selector(self) -> str:
        """The bracket text (``""`` without a selector)."""
        parts = ([self.workload] if self.workload else []) + ([f"region={self.region}"] if self.region else [])
        return f"[{','.join(parts)}]" if parts else ""

    @property
    def key(self) -> str:
        """The figure's canonical name, as summary.json and the plan table spell it."""
        if self.quantile is not None:
            return f"{self.base}_p{_percent_digits(self.quantile)}_s{self.selector}"
        return f"{self.base}_within_{self.within_s:g}s{self.selector}"

    @property
    def higher_is_better(self) -> bool:
        """An attainment is better higher; a percentile (seconds) lower."""
        return self.within_s is not None


def _percent_digits(q: float) -> str:
    digits = f"{q * 100:.6f}".rstrip("0").rstrip(".")
    return digits.replace(".", "")


def _quantile(digits: str) -> float:
    q = int(digits) / 100.0 if len(digits) <= 2 or digits == "100" else int(digits) / 10.0 ** len(digits)
    if not 0.0 < q < 1.0:
        raise LevelError(f"p{digits}: expected a percentile strictly between 0 and 100 (p50, p80, p999)")
    return q


def _selector(text: str | None) -> tuple[str | None, str | None]:
    if text is None:
        return None, None
    workload = region = None
    for part in (p.strip() for p in text.split(",")):
        key, sep, value = part.partition("=")
        key, value = (key.strip(), value.strip()) if sep else ("workload", key.strip())
        if key not in ("workload", "region") or not _NAME_RE.fullmatch(value):
            raise LevelError(f"[{text}]: expected [WORKLOAD], [region=REGION] or [WORKLOAD,region=REGION]")
        if (workload if key == "workload" else region) is not None:
            raise LevelError(f"[{text}]: {key} is given twice")
        if key == "workload":
            workload = value
        else:
            region = value
    return workload, region


def _threshold(text: str) -> float:
    from swarmsim.units import parse_duration

    if "[" in text:
        raise LevelError(f"{text.strip()!r}: the selector goes right after the distribution's name, "
                         "as in job_wait[training]<=20s")
    try:
        value = parse_duration(text.strip())
    except (TypeError, ValueError):
        raise LevelError(f"{text.strip()!r}: expected a duration such as 20s, 300ms or 1h") from None
    if not math.isfinite(value) or value < 0:
        raise LevelError(f"{text.strip()!r}: expected a finite duration >= 0")
    return value


def parse_level(text: str) -> Level:
    """A service-level figure from its name (``job_wait_p80_s``, ``job_wait_within_20s``,
    ``job_wait[training]<=1h``), canonical or as stated.

    Raises:
        LevelError: the text is not one (the message says what was expected); an attainment
            SLO (``...:80%``) is refused here: it is a target, see :func:`parse_target`.
    """
    text = str(text).strip()
    match = _PERCENTILE_RE.fullmatch(text)
    if match:
        workload, region = _selector(match.group(3))
        return Level(match.group(1), quantile=_quantile(match.group(2)), workload=workload, region=region)
    match = _WITHIN_RE.fullmatch(text)
    if match:
        workload, region = _selector(match.group(3))
        return Level(match.group(1), within_s=_threshold(match.group(2)), workload=workload, region=region)
    match = _STATED_RE.fullmatch(text)
    if match:
        if match.group(4) is not None:
            raise LevelError(f"{text!r} is a target (':{match.group(4)}'); a figure is "
                             f"{match.group(1)}{(match.group(2) and '[' + match.group(2) + ']') or ''}"
                             f"<={match.group(3)} (the share within {match.group(3)})")
        workload, region = _selector(match.group(2))
        return Level(match.group(1), within_s=_threshold(match.group(3)), workload=workload, region=region)
    raise LevelError(f"{EXPECTED}; got {text!r}")


def is_level(text: str) -> bool:
    """Whether ``text`` names a service-level figure (:func:`parse_level` would accept it)."""
    try:
        parse_level(text)
    except LevelError:
        return False
    return True


def parse_target(text: str) -> tuple[Level, float] | None:
    """An attainment SLO ``job_wait<=20s:80%`` as (its attainment :class:`Level`, the share
    0..1 it must reach); None when the text is not of that form (no ``:`` target).

    Raises:
        LevelError: the form is right but a part is not (the message names the part).
    """
    match = _STATED_RE.fullmatch(str(text).strip())
    if match is None or match.group(4) is None:
        return None
    workload, region = _selector(match.group(2))
    share = match.group(4).strip()
    try:
        value = float(share[:-1]) / 100.0 if share.endswith("%") else float(share)
    except ValueError:
        raise LevelError(f"{share!r}: expected the share that must be within, such as 80% or 0.8") from None
    if not 0.0 <= value <= 1.0:
        raise LevelError(f"{share!r}: expected a share between 0 and 100 %")
    return Level(match.group(1), within_s=_threshold(match.group(3)), workload=workload, region=region), value


def split_outside_brackets(text: str, ops: tuple[str, ...] = ("<=", ">=", "=")) -> tuple[str, str, str]:
    """``"job_wait_p80_s[region=eu]<=20"`` -> ``("job_wait_p80_s[region=eu]", "<=", "20")``: the
    first operator of ``ops`` found outside brackets (``("text", "", "")`` when there is none)."""
    depth = 0
    for i, ch in enumerate(text):
        depth += (ch == "[") - (ch == "]")
        if depth:
            continue
        for op in ops:
            if text.startswith(op, i):
                return text[:i], op, text[i + len(op):]
    return text, "", ""
