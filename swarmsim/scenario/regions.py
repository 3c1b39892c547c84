"""``regions`` and ``network``: where nodes can run and users come from, and the links between.

A region named after a built-in catalog site takes its coordinates, jurisdiction and UTC
offset from the catalog (:func:`fill_regions_from_catalog`, run before validation)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from swarmsim import catalog
from swarmsim.scenario.common import NonNegativeDuration, Spec
from swarmsim.units import Bandwidth

#: Default access latency (user to site) of a core region and of an edge site, seconds.
#: Core: FCC Measuring Broadband America, terrestrial average 34.9 ms RTT to the nearest test
#: server, rounded down to 20 ms for metro users (contract default); edge: 5 ms (contract example).
DEFAULT_ACCESS_LATENCY_S = {"core": 0.020, "edge": 0.005}


class Location(Spec):
    """A point on Earth, degrees."""

    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class RegionSpec(Spec):
    """A region or edge site that can hold nodes; users may also originate here."""

    location: Location
    jurisdiction: str = Field(min_length=1)
    utc_offset: float = Field(ge=-12, le=14, description="hours; drives diurnal demand")
    kind: Literal["core", "edge"] = "core"
    access_latency: NonNegativeDuration | None = Field(
        None, description="user -> site latency, s; default 20ms core, 5ms edge"
    )
    price_multiplier: float = Field(1.0, gt=0)
    max_nodes: int | None = Field(None, ge=0, description="supply that providers can offer here")
    active: bool = True
    site: str | None = Field(
        None, description="built-in catalog site used for measured RTTs (default: by name)"
    )

    @property
    def access_latency_s(self) -> float:
        """Access latency in seconds, with the core/edge default applied."""
        if self.access_latency is not None:
            return self.access_latency
        return DEFAULT_ACCESS_LATENCY_S[self.kind]


class NetworkSpec(Spec):
    """Latency and bandwidth between regions."""

    rtt: Literal["builtin", "distance"] = "builtin"
    route_factor: float = Field(1.5, ge=1.0, description="distance RTT = factor * 2d / 200 km/ms")
    rtt_overrides: dict[str, dict[str, NonNegativeDuration]] = Field(default_factory=dict)
    intra_region_rtt: NonNegativeDuration = Field(0.001, description="s, between sites of a region")
    bandwidth: Annotated[Bandwidth, Field(gt=0)] = 10e9
    egress_usd_per_gb: float = Field(0.02, ge=0, description="USD per decimal GB moved out")


def fill_regions_from_catalog(data: Any) -> Any:
    """The raw scenario with each region's missing ``location``, ``jurisdiction`` and
    ``utc_offset`` taken from its built-in site (by ``site``, by name, or nearest to its
    ``location``), and ``site`` set to the site's canonical name."""
    if not isinstance(data, dict) or not isinstance(data.get("regions"), dict):
        return data
    data = dict(data)
    regions = {}
    for name, spec in data["regions"].items():
        if spec is None:
            spec = {}
        if isinstance(spec, dict):
            spec = dict(spec)
            site = catalog.find_region(str(spec.get("site") or name))
            if site is None and isinstance(spec.get("location"), dict):
                loc = spec["location"]
                try:
                    site = catalog.nearest_site(float(loc["lat"]), float(loc["lon"]))
                except (KeyError, TypeError, ValueError):
                    site = None
            if site is not None:
                spec["site"] = site.name  # canonical, even when given as an alias
                spec.setdefault("location", {"lat": site.lat, "lon": site.lon})
                spec.setdefault("jurisdiction", site.jurisdiction)
                spec.setdefault("utc_offset", site.utc_offset)
        regions[name] = spec
    data["regions"] = regions
    return data
