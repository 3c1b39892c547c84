"""The cost arithmetic of every pricing model: what N nodes of a type cost over an interval.

One small API, used by the metrics (``metrics/pricing.py``: billing.csv and the summary) and
meant for a planner pricing a purchase schedule (docs/architecture.md, "Pricing"):

- :func:`rates_for` reads a scenario's ``pricing:`` entry of a node type into :class:`Rates`
  (USD per GPU-hour, the upfront fee, the term, the billing increment and minimum);
- :func:`billed_seconds` rounds a billing segment up to the increment, at least the minimum;
- :func:`cost_usd` prices ``nodes`` nodes of ``gpus`` GPUs over ``[start_s, end_s)``: on-demand,
  spot and community by billed seconds; reserved as the commitment's amortized cost (the
  term's upfront fee and hourly fees spread evenly per second of the term), whether used or not;
- :func:`cash_usd` is what a commitment pays out over an interval (the upfront fee when the term
  starts in it, plus the hourly fees): the cash-flow view of the same commitment.

Units: seconds, USD, GPUs; prices are per GPU-hour before a region's ``price_multiplier``
(the functions take it as ``multiplier``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from swarmsim.scenario.pricing import PricingSpec

#: The pricing models, in the order billing.csv and the summary list them.
MODELS = ("on-demand", "reserved", "spot", "community")


@dataclass(frozen=True)
class Rates:
    """The prices of one node type under its pricing model.

    ``usd_per_gpu_hour`` is the price (on-demand, spot), the reward (community) or the
    recurring hourly fee (reserved); ``upfront_usd_per_gpu`` is paid once per GPU when a
    reserved term starts; ``term_s`` is the term (0 without one); ``increment_s`` and
    ``minimum_s`` round each billing segment (0 = none)."""

    model: str
    usd_per_gpu_hour: float
    upfront_usd_per_gpu: float = 0.0
    term_s: float = 0.0
    increment_s: float = 0.0
    minimum_s: float = 0.0

    @property
    def effective_usd_per_gpu_hour(self) -> float:
        """USD per GPU-hour with the upfront fee spread evenly over the term (the standard
        amortization); the plain price for models without a term."""
        if self.term_s <= 0:
            return self.usd_per_gpu_hour
        return self.usd_per_gpu_hour + self.upfront_usd_per_gpu * 3600.0 / self.term_s


def rates_of(spec: PricingSpec | None, list_price_usd_per_gpu_hour: float) -> Rates:
    """:class:`Rates` from a pricing entry (None: on-demand at the list price, exact seconds)."""
    if spec is None:
        return Rates("on-demand", list_price_usd_per_gpu_hour)
    price = spec.usd_per_gpu_hour
    if price is None:
        price = list_price_usd_per_gpu_hour if spec.model == "on-demand" else 0.0
    inc, minimum = spec.increments
    return Rates(spec.model, float(price), float(spec.upfront_usd_per_gpu or 0.0), spec.term_s,
                 float(inc), float(minimum))


def rates_for(scenario: Any, node_type: str) -> Rates:
    """The :class:`Rates` of a scenario's node type (its ``pricing:`` entry, else on-demand
    at the node type's ``usd_per_gpu_hour`` billed by the exact second)."""
    table = getattr(scenario, "pricing", None) or {}
    return rates_of(table.get(node_type), float(scenario.node_types[node_type].usd_per_gpu_hour or 0.0))


def billed_seconds(duration_s: float | np.ndarray, increment_s: float, minimum_s: float) -> Any:
    """Seconds billed for a segment that lasted ``duration_s``: rounded up to a multiple of
    ``increment_s`` (when > 0), then at least ``minimum_s``. A 61 s segment under per-minute
    billing is 120 s; a 30 s one under a 60 s minimum is 60 s. Works on arrays too."""
    d = np.asarray(duration_s, dtype=float)
    if increment_s > 0:
        # Tolerate float noise: 120.0000000001 s of simulated time is 120 s, not 180.
        d = np.ceil(d / increment_s - 1e-9) * increment_s
    if minimum_s > 0:
        d = np.maximum(d, minimum_s)
    return float(d) if np.ndim(d) == 0 else d


def cost_usd(rates: Rates, nodes: int, gpus: int, start_s: float, end_s: float,
             multiplier: float = 1.0) -> float:
    """USD that ``nodes`` nodes of ``gpus`` GPUs cost over ``[start_s, end_s)`` under ``rates``.

    On-demand, spot, community: each node is one billing segment of ``end_s - start_s``
    seconds, rounded by the increment and minimum. Reserved: the amortized cost of a
    commitment of ``nodes`` nodes over the interval, ``(upfront / term + hourly)`` per GPU-second,
    paid whether the nodes run or not; an interval longer than the term is charged for the
    term only (renewing is a new commitment)."""
    if end_s <= start_s or nodes <= 0:
        return 0.0
    if rates.model == "reserved":
        seconds = min(end_s - start_s, rates.term_s) if rates.term_s > 0 else end_s - start_s
        return nodes * gpus * multiplier * rates.effective_usd_per_gpu_hour * seconds / 3600.0
    seconds = billed_seconds(end_s - start_s, rates.increment_s, rates.minimum_s)
    return nodes * gpus * multiplier * rates.usd_per_gpu_hour * float(seconds) / 3600.0


def cash_usd(rates: Rates, nodes: int, gpus: int, term_start_s: float, lo_s: float, hi_s: float,
             multiplier: float = 1.0) -> float:
    """USD a reserved commitment that starts at ``term_start_s`` pays out within ``[lo_s, hi_s)``:
    its upfront fee if the term starts in the interval, plus its hourly fee for each second of
    the term in the interval. For other models, the same as :func:`cost_usd` over the interval."""
    if rates.model != "reserved":
        return cost_usd(rates, nodes, gpus, lo_s, hi_s, multiplier)
    end = term_start_s + rates.term_s
    overlap = max(min(hi_s, end) - max(lo_s, term_start_s), 0.0)
    upfront = rates.upfront_usd_per_gpu if lo_s <= term_start_s < hi_s else 0.0
    return nodes * gpus * multiplier * (upfront + rates.usd_per_gpu_hour * overlap / 3600.0)


def commitments(starts: np.ndarray, ends: np.ndarray, committed: int, term_s: float,
                horizon_s: float) -> list[tuple[float, int]]:
    """The commitments of one (region, node type) of a reserved type: ``(term start s, nodes)``.

    ``committed`` nodes are committed at t = 0; a node that starts while every committed node
    is taken is a new commitment from that moment, for the term (a reservation bought when
    needed); when a term ends before the horizon, the nodes then running beyond what is still
    committed renew as a new commitment. ``starts``/``ends`` are the billing segments of the
    pool's nodes, s (a segment that ends when another starts frees its place first)."""
    terms: list[tuple[float, int]] = [(0.0, committed)] if committed > 0 else []
    events = sorted([(float(t), 1) for t in starts] + [(float(t), -1) for t in ends])
    live = 0

    def active(at: float) -> int:
        return sum(n for t0, n in terms if t0 <= at < t0 + term_s)

    def cover(at: float) -> None:
        short = live - active(at)
        if short > 0:
            terms.append((at, short))

    def renew_until(at: float) -> None:
        while True:  # terms that end at or before ``at``, earliest first
            ends_ = [t0 + term_s for t0, _ in terms if t0 + term_s <= min(at, horizon_s) and (t0 + term_s) not in done]
            if not ends_:
                return
            when = min(ends_)
            done.add(when)
            cover(when)

    done: set[float] = set()
    for at, step in events:
        renew_until(at)
        live += step
        if step > 0:
            cover(at)
    renew_until(horizon_s - 1e-9)
    merged: dict[float, int] = {}
    for t0, n in terms:  # nodes that start together are one commitment
        if n > 0 and not math.isnan(t0):
            merged[t0] = merged.get(t0, 0) + n
    return list(merged.items())
