"""Routes: parsing a proposed cable route from GeoJSON and moving it into a district CRS.

A route arrives as a GeoJSON LineString or MultiLineString, bare or wrapped in a
Feature, or as a FeatureCollection whose features are the route's segments. The
properties of the Feature (or of the first segment that has any) carry the project
facts. Coordinates are checked before anything is measured: a route that cannot be
placed exactly must fail loudly, since a misplaced route screens as "no conflicts".
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError as PyprojCRSError
from shapely import LineString, MultiLineString

from geo.errors import CrsError, FactsError, RouteInputError
from geo.notices import DecisionWarning

#: CRS a GeoJSON route is read in when nothing else is declared (RFC 7946).
DEFAULT_ROUTE_CRS = "EPSG:4326"


@dataclass(frozen=True)
class Route:
    """A route's centreline, the CRS its coordinates are in, and the facts it carried.

    `warnings` collect what reading and moving the route changed or noticed (heights
    dropped, axes read north first), for the decision to pass on.
    """

    geometry: MultiLineString
    crs: str
    properties: dict[str, Any] = field(default_factory=dict)
    warnings: tuple[DecisionWarning, ...] = ()

    @property
    def segment_count(self) -> int:
        return len(self.geometry.geoms)

    @property
    def vertex_count(self) -> int:
        return int(shapely.get_num_coordinates(self.geometry))

    def moved(self, geometry: MultiLineString, crs: str, *notes: DecisionWarning) -> Route:
        """The same route with new coordinates, keeping its facts and warnings."""
        return Route(geometry, crs, self.properties, (*self.warnings, *notes))


def parse_route(obj: object, crs: str | None = None) -> Route:
    """Read a GeoJSON geometry, Feature or FeatureCollection into a Route.

    Raises RouteInputError naming the offending member or coordinate.
    """
    if not isinstance(obj, Mapping):
        raise RouteInputError("a route must be a GeoJSON object", code="NOT_GEOJSON")

    kind = obj.get("type")
    if kind == "FeatureCollection":
        lines, properties = _lines_from_collection(obj)
    elif kind == "Feature":
        lines = _lines_from_geometry(obj.get("geometry"), "geometry")
        properties = dict(obj.get("properties") or {})
    elif kind is not None:
        lines = _lines_from_geometry(obj, "$")
        properties = {}
    else:
        raise RouteInputError("a GeoJSON object needs a 'type' member", code="NOT_GEOJSON")

    if "crs" in obj:
        raise CrsError(
            "the GeoJSON 'crs' member (GeoJSON 2008) is not supported; declare the "
            "coordinate reference system separately (--crs, or the crs parameter)",
            code="GEOJSON_CRS_MEMBER",
            where="crs",
        )
    return from_lines(lines, crs or DEFAULT_ROUTE_CRS, properties)


def from_lines(
    lines: Sequence[LineString],
    crs: str,
    properties: Mapping[str, Any] | None = None,
    warnings: Sequence[DecisionWarning] = (),
) -> Route:
    """A Route from lines read by any reader; heights are dropped with a warning."""
    if not lines:
        raise RouteInputError("the route has no lines", code="EMPTY_ROUTE")
    notes = list(warnings)
    if any(line.has_z for line in lines):
        notes.append(
            DecisionWarning(
                "HEIGHTS_DROPPED",
                "the route's positions carry heights; they were dropped and the route is "
                "measured on the ground plane",
            )
        )
        lines = [shapely.force_2d(line) for line in lines]
    for index, line in enumerate(lines):
        if len(set(line.coords)) < 2:
            raise RouteInputError(
                "a line needs at least two distinct positions",
                code="DEGENERATE_LINE",
                where=f"line {index}",
            )
    return Route(MultiLineString(lines), crs, dict(properties or {}), tuple(notes))


def _lines_from_collection(obj: Mapping) -> tuple[list[LineString], dict[str, Any]]:
    features = obj.get("features")
    if not isinstance(features, Sequence) or isinstance(features, str) or not features:
        raise RouteInputError(
            "a FeatureCollection route needs at least one feature",
            code="EMPTY_ROUTE",
            where="features",
        )
    lines: list[LineString] = []
    segments: list[tuple[str, Mapping]] = []
    for index, feature in enumerate(features):
        where = f"features[{index}]"
        if not isinstance(feature, Mapping) or feature.get("type") != "Feature":
            raise RouteInputError("each member must be a Feature", where=where)
        lines.extend(_lines_from_geometry(feature.get("geometry"), f"{where}.geometry"))
        if isinstance(feature.get("properties"), Mapping):
            segments.append((where, feature["properties"]))
    return lines, merge_segment_properties(segments)


def merge_segment_properties(segments: Sequence[tuple[str, Mapping]]) -> dict[str, Any]:
    """One set of properties from a route's segments; segments may not disagree on a fact.

    Each segment may carry some of the project's facts (one says the works fell trees);
    all of them count. Two segments giving one fact different values are refused, since
    either reading could be the wrong one.
    """
    from geo.decision import FACT_FIELDS

    merged: dict[str, Any] = {}
    first_at: dict[str, str] = {}
    for where, properties in segments:
        for key, value in properties.items():
            if key not in merged:
                merged[key], first_at[key] = value, where
            elif key in FACT_FIELDS and merged[key] != value:
                raise FactsError(
                    f"the route's segments disagree on {key}: {merged[key]!r} in "
                    f"{first_at[key]}, {value!r} in {where}",
                    code="FACTS_DISAGREE",
                    where=f"{where}.properties.{key}",
                )
    return merged


def _lines_from_geometry(geometry: object, where: str) -> list[LineString]:
    if geometry is None:
        raise RouteInputError("the route geometry is null", code="EMPTY_ROUTE", where=where)
    if not isinstance(geometry, Mapping):
        raise RouteInputError("the route geometry must be an object", where=where)

    kind = geometry.get("type")
    coordinates = geometry.get("coordinates")
    if kind == "LineString":
        return [_line(coordinates, f"{where}.coordinates")]
    if kind == "MultiLineString":
        if not isinstance(coordinates, Sequence) or not coordinates:
            raise RouteInputError(
                "the MultiLineString has no lines", code="EMPTY_ROUTE", where=where
            )
        return [_line(part, f"{where}.coordinates[{i}]") for i, part in enumerate(coordinates)]
    raise RouteInputError(
        f"a route must be a LineString or MultiLineString, not {kind!r}",
        code="NOT_A_LINE",
        where=where,
    )


def _line(coordinates: object, where: str) -> LineString:
    if not isinstance(coordinates, Sequence) or isinstance(coordinates, str):
        raise RouteInputError("line coordinates must be an array of positions", where=where)
    points = [_position(p, f"{where}[{i}]") for i, p in enumerate(coordinates)]
    if len({p[:2] for p in points}) < 2:
        raise RouteInputError(
            "a line needs at least two distinct positions",
            code="DEGENERATE_LINE",
            where=where,
        )
    if len({len(p) for p in points}) > 1:
        # mixed 2D and 3D positions: pad to 3D so the line can be built, heights go later
        points = [p if len(p) == 3 else (*p, 0.0) for p in points]
    return LineString(points)


def _position(position: object, where: str) -> tuple[float, ...]:
    if not isinstance(position, Sequence) or isinstance(position, str) or len(position) < 2:
        raise RouteInputError("a position must be an array of two numbers", where=where)
    if len(position) > 3:
        raise RouteInputError("a position has at most three numbers", where=where)
    for value in position:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise RouteInputError(f"coordinate {value!r} is not a number", where=where)
        if not math.isfinite(value):
            raise RouteInputError(
                f"coordinate {value} is not a finite number", code="NON_FINITE", where=where
            )
    return tuple(float(v) for v in position)


def to_crs(route: Route, target_crs: str) -> Route:
    """Transform a route into the target CRS, refusing positions the source cannot hold.

    A projected source whose own axis order is north first (the CGCS2000 Gauss-Krüger
    zones, as Chinese surveyors write X north, Y east) is accepted either way round:
    coordinates that only fit its area of use read north first are swapped, with a
    warning. Anything else outside the source's area of use is refused.
    """
    source = _crs(route.crs)
    if source.is_geographic:
        _check_geographic_range(route, source)
    else:
        route = _fit_projected_axes(route, source)

    transformer = _transformer(route.crs, target_crs)
    moved = shapely.transform(route.geometry, lambda xy: _apply(transformer, xy))
    if not all(math.isfinite(v) for v in shapely.get_coordinates(moved).ravel()):
        raise CrsError(
            f"the route cannot be transformed from {route.crs} to {target_crs}",
            code="TRANSFORM_FAILED",
        )
    return route.moved(moved, target_crs)


def transform_geometries(geometries, source: str, target: str):
    """Geometries (one or an array) moved from one CRS to another, easting first in both,
    through the transformer kept for that pair."""
    forward = _transformer(source, target)
    return shapely.transform(geometries, lambda xy: np.column_stack(forward.transform(*xy.T)))


def transform_bounds(bounds, source: str, target: str) -> tuple[float, float, float, float]:
    """A bounding box (west, south, east, north) moved to another CRS: the box that holds
    its densified outline there."""
    return _transformer(source, target).transform_bounds(*bounds, densify_pts=21)


@functools.lru_cache(maxsize=64)
def _transformer(source: str, target: str) -> Transformer:
    """A transformer between two CRSs, built once: building one costs ~0.1 s."""
    return Transformer.from_crs(_crs(source), _crs(target), always_xy=True)


def _apply(transformer: Transformer, xy):
    x, y = transformer.transform(xy[:, 0], xy[:, 1])
    xy = xy.copy()
    xy[:, 0], xy[:, 1] = x, y
    return xy


@functools.lru_cache(maxsize=64)
def _crs(name: str) -> CRS:
    try:
        return CRS.from_user_input(name)
    except PyprojCRSError as exc:
        raise CrsError(f"unknown coordinate reference system {name!r}", where="crs") from exc


def _check_geographic_range(route: Route, crs: CRS) -> None:
    for x, y in shapely.get_coordinates(route.geometry):
        if not (-180 <= x <= 180 and -90 <= y <= 90):
            raise RouteInputError(
                f"position ({x}, {y}) is outside longitude -180..180 / latitude -90..90 "
                f"of {route.crs}; projected coordinates need their CRS declared",
                code="OUT_OF_RANGE",
            )


#: How far (m) beyond a projected CRS's area of use a position may lie and still count.
AREA_MARGIN_M = 50_000.0


def _fit_projected_axes(route: Route, crs: CRS) -> Route:
    """Check a projected route against its CRS's area of use, swapping N-E input."""
    bounds = _projected_area(route.crs)
    if bounds is None:
        return route
    xy = shapely.get_coordinates(route.geometry)
    if _inside(xy, bounds):
        return route
    if _north_first(crs) and _inside(xy[:, ::-1], bounds):
        swapped = shapely.transform(route.geometry, lambda c: c[:, ::-1])
        note = DecisionWarning(
            "AXES_NORTH_FIRST",
            f"the positions were given northing first, the axis order of {route.crs}; "
            "they were read as (northing, easting)",
        )
        return route.moved(swapped, route.crs, note)
    raise RouteInputError(_outside_area_message(route.crs, crs, xy), code="OUTSIDE_CRS_AREA")


@functools.lru_cache(maxsize=64)
def _projected_area(name: str) -> tuple[float, float, float, float] | None:
    """A projected CRS's area of use in its own coordinates, widened by the margin."""
    crs = _crs(name)
    if crs.area_of_use is None:
        return None
    to_projected = Transformer.from_crs(crs.geodetic_crs, crs, always_xy=True)
    west, south, east, north = to_projected.transform_bounds(*crs.area_of_use.bounds)
    return (west - AREA_MARGIN_M, south - AREA_MARGIN_M, east + AREA_MARGIN_M,
            north + AREA_MARGIN_M)  # fmt: skip


def _inside(xy, bounds) -> bool:
    west, south, east, north = bounds
    return bool(
        ((xy[:, 0] >= west) & (xy[:, 0] <= east) & (xy[:, 1] >= south) & (xy[:, 1] <= north)).all()
    )


def _north_first(crs: CRS) -> bool:
    return bool(crs.axis_info) and crs.axis_info[0].direction.lower() == "north"


def _outside_area_message(name: str, crs: CRS, xy) -> str:
    x, y = xy[0]
    message = f"position ({x:,.2f}, {y:,.2f}) lies outside the area of use of {name} ({crs.name})"
    hint = gauss_kruger_hint(crs, xy)
    return f"{message}; {hint}" if hint else message


def gauss_kruger_hint(crs: CRS, xy) -> str | None:
    """Suggest the CGCS2000 3-degree zone code that fits eastings with or without a zone.

    EPSG:4513–4533 (zones 25–45) carry the zone number in front of the easting
    (38 500 000); EPSG:4534–4554 (by central meridian) do not (500 000).
    """
    eastings = [value for value in xy.ravel() if value >= 1_000_000]
    zoned = [value for value in eastings if 25 <= value // 1_000_000 <= 45]
    code = crs.to_epsg() or 0
    if zoned and 4534 <= code <= 4554:
        zone = int(zoned[0] // 1_000_000)
        return (
            f"the easting {zoned[0]:,.0f} carries zone number {zone}: declare "
            f"EPSG:{4513 + zone - 25} (CGCS2000 / 3-degree Gauss-Kruger zone {zone})"
        )
    if not zoned and 4513 <= code <= 4533:
        zone = code - 4513 + 25
        return (
            f"the eastings carry no zone number: declare EPSG:{4534 + zone - 25} "
            f"(CGCS2000 / 3-degree Gauss-Kruger CM {3 * zone}E)"
        )
    return None


def shape_warnings(route: MultiLineString) -> list[DecisionWarning]:
    """Warnings about a route's shape: crossing itself or doubling back."""
    if route.is_simple:
        return []
    return [
        DecisionWarning(
            "ROUTE_SELF_CROSSING",
            "the route crosses or doubles back on itself; it was screened as drawn, but "
            "check the drawing, since lengths and areas of overlapping parts may be "
            "counted once",
        )
    ]


def check_limits(route: Route, max_vertices: int, max_length_m: float) -> None:
    """Refuse a route (in a metric CRS) with more vertices or length than allowed."""
    if route.vertex_count > max_vertices:
        raise RouteInputError(
            f"the route has {route.vertex_count:,} vertices; at most {max_vertices:,} are accepted",
            code="TOO_MANY_VERTICES",
        )
    if route.geometry.length > max_length_m:
        raise RouteInputError(
            f"the route is {route.geometry.length:,.0f} m long; routes longer than "
            f"{max_length_m:,.0f} m are not accepted",
            code="ROUTE_TOO_LONG",
        )
