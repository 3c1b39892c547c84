"""Round-trip times and data transfer between regions.

RTT between two regions, in order of precedence:
1. ``network.rtt_overrides`` from the scenario;
2. with ``rtt: builtin``, the measured RTT between the built-in catalog sites of the two regions
   (``swarmsim/catalog/rtt.csv``, see ``docs/catalog.md``);
3. otherwise ``route_factor * 2 * distance / 200 km/ms`` (great circle, speed of light in fibre;
   scaling-and-cloud-facts.md §8.1–8.2: measured cloud paths are 1.2–2.2x the floor, median 1.5).

Two regions at the same catalog site (or within a few km) get ``intra_region_rtt``.
"""

from __future__ import annotations

import numpy as np

from swarmsim import catalog
from swarmsim.scenario import Scenario

#: Speed of light in fibre, km per second (refractive index about 1.47).
FIBRE_KM_PER_S = 200_000.0


def fibre_floor_s(distance_km: float) -> float:
    """Physical lower bound of a round trip over ``distance_km`` of fibre, seconds."""
    return 2.0 * distance_km / FIBRE_KM_PER_S


def rtt_matrix(scenario: Scenario) -> tuple[list[str], np.ndarray]:
    """Region names and their symmetric RTT matrix in seconds (zero diagonal)."""
    names = list(scenario.regions)
    net = scenario.network
    n = len(names)
    rtt = np.zeros((n, n))
    for i, a in enumerate(names):
        for j in range(i + 1, n):
            b = names[j]
            rtt[i, j] = rtt[j, i] = _pair_rtt_s(scenario, a, b)
    for a, row in net.rtt_overrides.items():
        for b, value in row.items():
            i, j = names.index(a), names.index(b)
            rtt[i, j] = rtt[j, i] = value
    return names, rtt


def _pair_rtt_s(scenario: Scenario, a: str, b: str) -> float:
    net = scenario.network
    ra, rb = scenario.regions[a], scenario.regions[b]
    distance = catalog.great_circle_km(ra.location.lat, ra.location.lon, rb.location.lat, rb.location.lon)
    if net.rtt == "builtin" and ra.site and rb.site:
        if ra.site == rb.site:
            return max(net.intra_region_rtt, fibre_floor_s(distance))
        measured_ms = catalog.measured_rtt_ms(ra.site, rb.site)
        if measured_ms is not None:
            # The catalog measures site to site; never go below the fibre floor of the
            # scenario's own coordinates, which may sit away from the catalog site.
            return max(measured_ms / 1000.0, fibre_floor_s(distance))
    return max(net.intra_region_rtt, net.route_factor * fibre_floor_s(distance))


def transfer_time_s(rtt_s: float, data_bytes: float, bandwidth_bps: float) -> float:
    """Time to move ``data_bytes`` over a path: one RTT plus size over bandwidth, seconds."""
    return rtt_s + data_bytes * 8.0 / bandwidth_bps
