"""Routes: parsing a proposed cable route from GeoJSON and moving it into a district CRS.

A route arrives as a GeoJSON LineString or MultiLineString, bare or wrapped in a
Feature, or as a FeatureCollection whose features are the route's segments. The
properties of the Feature (or of the first segment that has any) carry the project
facts. Coordinates are checked before anything is measured: a route that cannot be
placed exactly must fail loudly, since a misplaced route screens as "no conflicts".
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import shapely
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError as PyprojCRSError
from shapely import LineString, MultiLineString

from geo.errors import CrsError, RouteInputError

#: CRS a GeoJSON route is read in when nothing else is declared (RFC 7946).
DEFAULT_ROUTE_CRS = "EPSG:4326"


@dataclass(frozen=True)
class Route:
    """A route's centreline, the CRS its coordinates are in, and the facts it carried."""

    geometry: MultiLineString
    crs: str
    properties: dict[str, Any] = field(default_factory=dict)

    @property
    def segment_count(self) -> int:
        return len(self.geometry.geoms)


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
            "the GeoJSON 'crs' member is not supported; declare the CRS with --crs instead",
            code="GEOJSON_CRS_MEMBER",
            where="crs",
        )
    return Route(MultiLineString(lines), crs or DEFAULT_ROUTE_CRS, properties)


def _lines_from_collection(obj: Mapping) -> tuple[list[LineString], dict[str, Any]]:
    features = obj.get("features")
    if not isinstance(features, Sequence) or isinstance(features, str) or not features:
        raise RouteInputError(
            "a FeatureCollection route needs at least one feature",
            code="EMPTY_ROUTE",
            where="features",
        )
    lines: list[LineString] = []
    properties: dict[str, Any] = {}
    for index, feature in enumerate(features):
        where = f"features[{index}]"
        if not isinstance(feature, Mapping) or feature.get("type") != "Feature":
            raise RouteInputError("each member must be a Feature", where=where)
        lines.extend(_lines_from_geometry(feature.get("geometry"), f"{where}.geometry"))
        if not properties and feature.get("properties"):
            properties = dict(feature["properties"])
    return lines, properties


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
    if len(set(points)) < 2:
        raise RouteInputError(
            "a line needs at least two distinct positions",
            code="DEGENERATE_LINE",
            where=where,
        )
    return LineString(points)


def _position(position: object, where: str) -> tuple[float, float]:
    if not isinstance(position, Sequence) or isinstance(position, str) or len(position) < 2:
        raise RouteInputError("a position must be an array of two numbers", where=where)
    # heights are not used: the works are measured on the ground plane
    x, y = position[0], position[1]
    for value in (x, y):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise RouteInputError(f"coordinate {value!r} is not a number", where=where)
        if not math.isfinite(value):
            raise RouteInputError(
                f"coordinate {value} is not a finite number", code="NON_FINITE", where=where
            )
    return float(x), float(y)


def to_crs(route: Route, target_crs: str) -> Route:
    """Transform a route into the target CRS, refusing positions the source cannot hold."""
    source = _crs(route.crs)
    target = _crs(target_crs)
    _check_geographic_range(route, source)

    transformer = Transformer.from_crs(source, target, always_xy=True)
    moved = shapely.transform(route.geometry, lambda xy: _apply(transformer, xy))
    if not all(math.isfinite(v) for v in shapely.get_coordinates(moved).ravel()):
        raise CrsError(
            f"the route cannot be transformed from {route.crs} to {target_crs}",
            code="TRANSFORM_FAILED",
        )
    return Route(moved, target_crs, route.properties)


def _apply(transformer: Transformer, xy):
    x, y = transformer.transform(xy[:, 0], xy[:, 1])
    xy = xy.copy()
    xy[:, 0], xy[:, 1] = x, y
    return xy


def _crs(name: str) -> CRS:
    try:
        return CRS.from_user_input(name)
    except PyprojCRSError as exc:
        raise CrsError(f"unknown coordinate reference system {name!r}") from exc


def _check_geographic_range(route: Route, crs: CRS) -> None:
    if not crs.is_geographic:
        return
    for x, y in shapely.get_coordinates(route.geometry):
        if not (-180 <= x <= 180 and -90 <= y <= 90):
            raise RouteInputError(
                f"position ({x}, {y}) is outside longitude -180..180 / latitude -90..90 "
                f"of {route.crs}; projected coordinates need --crs",
                code="OUT_OF_RANGE",
            )
