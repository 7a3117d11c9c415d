"""Web-map datums of China: GCJ-02 (Amap, Tencent) and BD-09 (Baidu) back to WGS84.

Chinese web maps publish coordinates through a deliberate, non-linear offset of up to
several hundred metres; PROJ has no such transformation. A route drawn on one of those
basemaps must be declared with its datum and is moved back to WGS84 with the `prcoords`
package's iterative inverse, whose fixed point lies well under a centimetre from the
true position. Outside mainland China the map providers apply no offset, so there the
coordinates are taken as they are, with a warning.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import prcoords
import shapely
from pyproj import CRS
from pyproj.exceptions import CRSError

from geo.errors import CrsError
from geo.notices import DecisionWarning
from geo.route import Route

Datum = Literal["wgs84", "gcj02", "bd09"]
DATUMS: tuple[str, ...] = ("wgs84", "gcj02", "bd09")

_INVERSES = {"gcj02": prcoords.gcj_wgs_bored, "bd09": prcoords.bd_wgs_bored}


def to_wgs84(route: Route, datum: str) -> Route:
    """Undo a web-map datum offset; a WGS84 route is returned unchanged."""
    if datum not in DATUMS:
        raise CrsError(
            f"unknown datum {datum!r}; use one of {', '.join(DATUMS)}",
            code="UNKNOWN_DATUM",
            where="datum",
        )
    if datum == "wgs84":
        return route
    try:
        geographic = CRS.from_user_input(route.crs).is_geographic
    except CRSError as exc:
        raise CrsError(f"unknown coordinate reference system {route.crs!r}", where="crs") from exc
    if not geographic:
        raise CrsError(
            f"datum {datum} applies to longitude/latitude drawings, not to {route.crs}",
            code="DATUM_NEEDS_LONLAT",
            where="datum",
        )

    xy = shapely.get_coordinates(route.geometry)
    inside = np.array([prcoords.sanity_in_china_p(prcoords.Coords(y, x)) for x, y in xy])
    inverse = _INVERSES[datum]
    moved = shapely.transform(route.geometry, lambda c: _undo(c, inverse, inside))

    notes = [DecisionWarning("DATUM_CONVERTED", f"the route was drawn in {datum} and was "
                             "converted to WGS84")]  # fmt: skip
    if not inside.all():
        notes.append(
            DecisionWarning(
                "DATUM_OUTSIDE_CHINA",
                f"{int((~inside).sum())} of the route's positions lie outside mainland China, "
                f"where {datum} applies no offset; they were taken as WGS84",
            )
        )
    return route.moved(moved, "EPSG:4326", *notes)


def _undo(xy: np.ndarray, inverse, inside: np.ndarray) -> np.ndarray:
    out = xy.copy()
    for index, (x, y) in enumerate(xy):
        if inside[index]:
            fixed = inverse(prcoords.Coords(y, x), False)
            out[index] = (fixed.lon, fixed.lat)
    return out
