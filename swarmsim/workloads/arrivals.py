"""Arrival processes as vectorised generators of (arrival times, origin indices).

Each generator yields chunks of sorted arrival times (seconds from the scenario start, all
below ``horizon``) and, for each arrival, the index of its origin region. The long-run rate of
every process equals its setting: a diurnal cycle averages to ``mean_rate`` over whole days, an
MMPP to the sojourn-weighted mean of its state rates.

Non-homogeneous processes use thinning (Lewis and Shedler, 1979): candidates from a Poisson
process at the peak rate, each kept with probability rate(t) / peak.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from swarmsim.rng import Streams
from swarmsim.scenario import (
    ArrivalSpec,
    DeterministicArrivals,
    DiurnalArrivals,
    InferenceWorkloadSpec,
    JobsWorkloadSpec,
    MmppArrivals,
    PoissonArrivals,
    RampArrivals,
    Scenario,
)

Chunk = tuple[np.ndarray, np.ndarray]

#: Arrivals drawn per numpy call.
CHUNK = 4096
_DAY_S = 86400.0
_HOUR_S = 3600.0


def arrivals(
    spec: ArrivalSpec,
    shares: np.ndarray,
    utc_offsets_h: np.ndarray,
    rng: np.random.Generator,
    rng_origin: np.random.Generator,
    horizon: float,
) -> Iterator[Chunk]:
    """Yield chunks of arrival times (s) and origin indices for one workload.

    Args:
        spec: the workload's ``arrivals`` model.
        shares: share of arrivals per origin (sums to 1).
        utc_offsets_h: UTC offset of each origin, hours (drives the diurnal cycle).
        rng: the workload's arrival-time stream.
        rng_origin: the workload's origin stream.
        horizon: simulated time at which arrivals stop, s.
    """
    if isinstance(spec, DiurnalArrivals):
        yield from _diurnal(spec, shares, utc_offsets_h, rng, rng_origin, horizon)
        return
    if isinstance(spec, PoissonArrivals):
        times = _poisson(spec.rate, rng, horizon)
    elif isinstance(spec, DeterministicArrivals):
        times = _evenly(spec, horizon)
    elif isinstance(spec, RampArrivals):
        times = _thinned(lambda t: ramp_rate(spec, t), max(spec.start_rate, spec.end_rate), rng, horizon)
    elif isinstance(spec, MmppArrivals):
        times = _mmpp(spec, rng, horizon)
    else:  # pragma: no cover - the scenario model admits only the processes above
        raise TypeError(f"unknown arrival process {spec!r}")
    cdf = np.cumsum(shares)
    cdf[-1] = 1.0
    for chunk in times:
        origins = np.searchsorted(cdf, rng_origin.random(len(chunk)), side="right")
        yield chunk, origins


def workload_arrivals(
    name: str, spec: JobsWorkloadSpec | InferenceWorkloadSpec, scenario: Scenario, streams: Streams
) -> Iterator[Chunk]:
    """A workload's arrival times (s) and origins (region indices of the scenario), in
    non-empty chunks, from its streams ``arrivals/<name>`` and ``origin/<name>``."""
    if spec.arrivals is None:
        raise ValueError(f"workload {name!r} has no arrival process (its arrivals come from a trace)")
    region_names = list(scenario.regions)
    origins = list(spec.origin)
    shares = np.array([spec.origin[o] for o in origins], dtype=float)
    offsets = np.array([scenario.regions[o].utc_offset for o in origins], dtype=float)
    index = np.array([region_names.index(o) for o in origins], dtype=np.int64)
    for times, which in arrivals(spec.arrivals, shares, offsets, streams.get(f"arrivals/{name}"),
                                 streams.get(f"origin/{name}"), scenario.horizon):
        if len(times):
            yield times, index[which]


def mean_rate(spec: ArrivalSpec) -> float:
    """The process's long-run mean rate, per second."""
    if isinstance(spec, PoissonArrivals | DeterministicArrivals):
        return spec.rate
    if isinstance(spec, DiurnalArrivals):
        return spec.mean_rate
    if isinstance(spec, MmppArrivals):
        weights = np.asarray(spec.mean_durations)
        return float(np.dot(spec.rates, weights) / weights.sum())
    return spec.end_rate  # a ramp settles at its end rate


def ramp_rate(spec: RampArrivals, t: np.ndarray) -> np.ndarray:
    """Rate of a ramp at times ``t`` (s), per second."""
    x = np.clip((np.asarray(t) - spec.start) / spec.over, 0.0, 1.0)
    if spec.shape == "exponential":
        return spec.start_rate * (spec.end_rate / spec.start_rate) ** x
    return spec.start_rate + (spec.end_rate - spec.start_rate) * x


def diurnal_factor(spec: DiurnalArrivals, t: np.ndarray, utc_offset_h: float) -> np.ndarray:
    """Multiplier of ``mean_rate`` at UTC times ``t`` (s) for users at ``utc_offset_h``."""
    amplitude = (spec.peak_to_trough - 1.0) / (spec.peak_to_trough + 1.0)
    local_h = (np.asarray(t) / _HOUR_S + utc_offset_h) % 24.0
    return 1.0 + amplitude * np.cos(2.0 * math.pi * (local_h - spec.peak_hour) / 24.0)


def _poisson(rate: float, rng: np.random.Generator, horizon: float) -> Iterator[np.ndarray]:
    t = 0.0
    while True:
        times = t + np.cumsum(rng.exponential(1.0 / rate, CHUNK))
        t = float(times[-1])
        if t >= horizon:
            yield times[times < horizon]
            return
        yield times


def _evenly(spec: DeterministicArrivals, horizon: float) -> Iterator[np.ndarray]:
    last = math.inf if spec.count is None else spec.count
    i = 0
    while i < last:
        n = int(min(CHUNK, last - i))
        times = spec.start + (i + np.arange(n)) / spec.rate
        i += n
        if times[-1] >= horizon:
            yield times[times < horizon]
            return
        yield times


def _thinned(rate_at, peak: float, rng: np.random.Generator, horizon: float) -> Iterator[np.ndarray]:
    for candidates in _poisson(peak, rng, horizon):
        keep = rng.random(len(candidates)) * peak < rate_at(candidates)
        yield candidates[keep]


def _diurnal(
    spec: DiurnalArrivals,
    shares: np.ndarray,
    offsets_h: np.ndarray,
    rng: np.random.Generator,
    rng_origin: np.random.Generator,
    horizon: float,
) -> Iterator[Chunk]:
    amplitude = (spec.peak_to_trough - 1.0) / (spec.peak_to_trough + 1.0)
    peak = spec.mean_rate * (1.0 + amplitude)
    for candidates in _poisson(peak, rng, horizon):
        # Intensity of each origin at each candidate time, per second: shape (n, origins).
        per_origin = spec.mean_rate * shares[None, :] * np.stack(
            [diurnal_factor(spec, candidates, off) for off in offsets_h], axis=1
        )
        total = per_origin.sum(axis=1)
        keep = rng.random(len(candidates)) * peak < total
        kept, per_origin, total = candidates[keep], per_origin[keep], total[keep]
        cdf = np.cumsum(per_origin, axis=1) / total[:, None]
        u = rng_origin.random(len(kept))
        origins = (cdf < u[:, None]).sum(axis=1)
        yield kept, np.minimum(origins, len(shares) - 1)


def _mmpp(spec: MmppArrivals, rng: np.random.Generator, horizon: float) -> Iterator[np.ndarray]:
    # The state path starts in a state drawn from the stationary distribution (time-weighted),
    # so the process is stationary from t = 0.
    weights = np.asarray(spec.mean_durations) / sum(spec.mean_durations)
    state = int(rng.choice(len(spec.rates), p=weights))
    t = 0.0
    buffer: list[np.ndarray] = []
    pending = 0
    while t < horizon:
        stay = float(rng.exponential(spec.mean_durations[state]))
        end = min(t + stay, horizon)
        n = int(rng.poisson(spec.rates[state] * (end - t)))
        if n:
            buffer.append(np.sort(rng.uniform(t, end, n)))
            pending += n
        if pending >= CHUNK:
            yield np.concatenate(buffer)
            buffer, pending = [], 0
        t = end
        state = (state + 1) % len(spec.rates)
    if buffer:
        yield np.concatenate(buffer)
