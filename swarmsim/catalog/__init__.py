"""Built-in catalogs: GPU types, region sites and measured RTTs between the sites.

Three small curated CSV files ship inside this package, each row with a source column
(``docs/catalog.md`` says where every number comes from and how it was derived):

- ``gpus.csv``: GPU types with memory, training speed relative to the reference GPU
  (:data:`REFERENCE_GPU` = 1.0), dense FP16 TFLOPS, memory bandwidth and a default
  on-demand price per GPU-hour.
- ``regions.csv``: cloud-region metros with coordinates, data-residency jurisdiction,
  standard-time UTC offset and the Azure region name used for RTTs.
- ``rtt.csv``: measured round-trip times between every pair of sites, in milliseconds.
- ``mig.csv``: NVIDIA MIG profiles of the A100 and H100 (slices, placements, speed;
  :mod:`swarmsim.catalog.mig`).
- ``models.csv``: open LLM architectures (layers, attention and KV heads, MLA, experts,
  parameters) for KV-cache and weight sizing (:mod:`swarmsim.catalog.models`).

The tables are read once (``functools.cache``) with the ``csv`` module. Lookups accept the
canonical name or any alias.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from functools import cache
from importlib import resources

from swarmsim.catalog.mig import COMPUTE_SLICES, MigProfile, mig_gpus, mig_profiles
from swarmsim.catalog.models import LlmModel, find_model, llm_models

__all__ = [
    "COMPUTE_SLICES",
    "EARTH_RADIUS_KM",
    "REFERENCE_GPU",
    "GpuType",
    "LlmModel",
    "MigProfile",
    "RegionSite",
    "find_gpu",
    "find_model",
    "find_region",
    "gpu_types",
    "great_circle_km",
    "llm_models",
    "measured_rtt_ms",
    "mig_gpus",
    "mig_profiles",
    "nearest_site",
    "region_sites",
]

REFERENCE_GPU = "A100-80GB"
"""The GPU whose ``train_speed`` is 1.0 by definition."""

EARTH_RADIUS_KM = 6371.0
"""Mean Earth radius used by :func:`great_circle_km`, km."""


@dataclass(frozen=True)
class GpuType:
    """One GPU model from ``gpus.csv``.

    Attributes:
        name: canonical id, e.g. ``"A100-80GB"``.
        aliases: other spellings that resolve to this GPU in :func:`find_gpu`.
        memory_gb: device memory, GB (decimal, as on the datasheet).
        train_speed: training throughput relative to :data:`REFERENCE_GPU` (dimensionless,
            A100-80GB = 1.0); a job's duration on this GPU is ``duration_ref / train_speed``.
        fp16_tflops: dense (no sparsity) FP16/BF16 tensor throughput, TFLOP/s.
        mem_bw_tbps: memory bandwidth, TB/s (decimal terabytes per second).
        decode_speed: memory bandwidth relative to A100-80GB (``mem_bw_tbps / 2.039``,
            dimensionless): the speed of bandwidth-bound LLM decode, see ``docs/serving.md``.
        usd_per_gpu_hour: default on-demand price, USD per GPU-hour.
        speed_source: where ``train_speed`` comes from and how it was derived.
        price_source: where ``usd_per_gpu_hour`` comes from, with its date.
    """

    name: str
    aliases: tuple[str, ...]
    memory_gb: float
    train_speed: float
    fp16_tflops: float
    mem_bw_tbps: float
    decode_speed: float
    usd_per_gpu_hour: float
    speed_source: str
    price_source: str


@dataclass(frozen=True)
class RegionSite:
    """One cloud-region metro from ``regions.csv``.

    Attributes:
        name: canonical provider-neutral id, e.g. ``"eu-central"``.
        aliases: provider region ids in the same metro, e.g. ``"eu-central-1"``.
        city: the metro, for people.
        lat: latitude, decimal degrees (north positive).
        lon: longitude, decimal degrees (east positive).
        jurisdiction: data-residency zone code (``US``, ``EU``, ``UK``, ``CH``, ...).
        utc_offset: standard-time offset from UTC, hours (no daylight saving).
        azure_name: Azure display name of the same metro, used to look up measured RTTs.
        source: where the coordinates and the RTT row come from.
    """

    name: str
    aliases: tuple[str, ...]
    city: str
    lat: float
    lon: float
    jurisdiction: str
    utc_offset: float
    azure_name: str
    source: str


def _read(filename: str) -> list[dict[str, str]]:
    text = resources.files(__name__).joinpath(filename).read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


def _aliases(cell: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in cell.split("|") if part.strip())


def _gpu_key(name: str) -> str:
    return name.strip().lower().replace("-", "").replace("_", "").replace(" ", "")


def _region_key(name: str) -> str:
    return name.strip().lower()


@cache
def _gpus() -> tuple[GpuType, ...]:
    return tuple(
        GpuType(
            name=row["name"],
            aliases=_aliases(row["aliases"]),
            memory_gb=float(row["memory_gb"]),
            train_speed=float(row["train_speed"]),
            fp16_tflops=float(row["fp16_tflops"]),
            mem_bw_tbps=float(row["mem_bw_tbps"]),
            decode_speed=float(row["decode_speed"]),
            usd_per_gpu_hour=float(row["usd_per_gpu_hour"]),
            speed_source=row["speed_source"],
            price_source=row["price_source"],
        )
        for row in _read("gpus.csv")
    )


@cache
def _gpu_index() -> dict[str, GpuType]:
    index: dict[str, GpuType] = {}
    for gpu in _gpus():
        for spelling in (gpu.name, *gpu.aliases):
            index.setdefault(_gpu_key(spelling), gpu)
    return index


@cache
def _sites() -> tuple[RegionSite, ...]:
    return tuple(
        RegionSite(
            name=row["name"],
            aliases=_aliases(row["aliases"]),
            city=row["city"],
            lat=float(row["lat"]),
            lon=float(row["lon"]),
            jurisdiction=row["jurisdiction"],
            utc_offset=float(row["utc_offset"]),
            azure_name=row["azure_name"],
            source=row["source"],
        )
        for row in _read("regions.csv")
    )


@cache
def _site_index() -> dict[str, RegionSite]:
    index: dict[str, RegionSite] = {}
    for site in _sites():
        for spelling in (site.name, *site.aliases):
            index.setdefault(_region_key(spelling), site)
    return index


@cache
def _rtts() -> dict[frozenset[str], float]:
    return {frozenset((row["a"], row["b"])): float(row["rtt_ms"]) for row in _read("rtt.csv")}


def gpu_types() -> dict[str, GpuType]:
    """All GPU types by canonical name, in file order (a new dict on every call)."""
    return {gpu.name: gpu for gpu in _gpus()}


def find_gpu(name: str) -> GpuType | None:
    """The GPU type called ``name``, or None.

    Matches the canonical name or any alias, ignoring case and the characters ``-``, ``_``
    and space, so ``"a100 80gb"``, ``"A100_80GB"`` and ``"A100"`` all find A100-80GB.
    """
    return _gpu_index().get(_gpu_key(name))


def region_sites() -> dict[str, RegionSite]:
    """All region sites by canonical name, in file order (a new dict on every call)."""
    return {site.name: site for site in _sites()}


def find_region(name: str) -> RegionSite | None:
    """The site called ``name`` (canonical name or a provider alias, any case), or None."""
    return _site_index().get(_region_key(name))


def great_circle_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance between two points given in decimal degrees, km.

    Haversine formula on a sphere of radius :data:`EARTH_RADIUS_KM` (6371 km).
    """
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlam = math.radians(lon2 - lon1)
    h = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlam / 2) ** 2
    return 2.0 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def nearest_site(lat: float, lon: float, max_km: float = 150.0) -> RegionSite | None:
    """The site closest to (``lat``, ``lon``) in decimal degrees, or None if none is within
    ``max_km`` kilometres. Ties go to the site listed first in ``regions.csv``."""
    best: RegionSite | None = None
    best_km = math.inf
    for site in _sites():
        km = great_circle_km(lat, lon, site.lat, site.lon)
        if km < best_km:
            best, best_km = site, km
    return best if best_km <= max_km else None


def measured_rtt_ms(a: str, b: str) -> float | None:
    """Measured round-trip time between the sites named ``a`` and ``b``, milliseconds.

    Takes canonical site names; symmetric in ``a`` and ``b``. Returns None when ``a == b``
    (no site-to-itself measurement; the caller picks an intra-region RTT) and when either
    name is not a catalog site. The values are Azure P95 RTTs, the mean of both directions.
    """
    if a == b:
        return None
    return _rtts().get(frozenset((a, b)))
