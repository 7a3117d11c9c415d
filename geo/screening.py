"""Screening: finding every layer feature a route's footprint meets.

A layer is indexed once per district load (shapely's STRtree, since the layers do not
change between reloads). Each feature has a zone — its footprint, or for a tree the
disc of its protection zone — and the route conflicts with it when the route's
footprint comes within the touch tolerance of that zone.

Touching is decided on exact distances, not on polygonised circles: the route
footprint is every point within half the work width of the centreline, so a feature
conflicts when its distance to the centreline is at most half the work width plus the
feature's reach (a tree's zone radius, 0 for a polygon) plus the tolerance.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely import MultiLineString, STRtree
from shapely.geometry.base import BaseGeometry

from geo.footprint import QUAD_SEGMENTS, route_footprint

log = logging.getLogger(__name__)

#: Default touch tolerance in metres: a zone that reaches within 1 cm of the route
#: footprint counts as touching it, so a tree whose crown exactly reaches the trench
#: is not lost to floating-point rounding or to a survey given to the centimetre.
DEFAULT_TOLERANCE_M = 0.01

#: Columns every layer frame has; all others travel with a conflict as attributes.
CORE_COLUMNS = ("feature_id", "kind", "name", "geometry")


@dataclass(frozen=True)
class Conflict:
    """One layer feature the route's footprint meets, and how much of it."""

    layer: str
    kind: str
    feature_id: str
    name: str | None
    length_m: float
    area_m2: float
    gap_m: float
    from_m: float = 0.0
    attributes: dict[str, Any] = field(default_factory=dict)
    zone: BaseGeometry | None = field(default=None, compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form for JSON output; the zone geometry is left out."""
        return {
            "layer": self.layer,
            "kind": self.kind,
            "feature_id": self.feature_id,
            "name": self.name,
            "length_m": round(self.length_m, 2),
            "area_m2": round(self.area_m2, 2),
            "gap_m": round(self.gap_m, 3),
            "from_m": round(self.from_m, 2),
            "attributes": self.attributes,
        }


@dataclass(frozen=True)
class Screening:
    """A route in the district CRS, its footprint, and the conflicts found."""

    route: MultiLineString
    footprint: BaseGeometry
    work_width_m: float
    tolerance_m: float
    conflicts: tuple[Conflict, ...]

    @property
    def length_m(self) -> float:
        return self.route.length

    @property
    def area_m2(self) -> float:
        return self.footprint.area


class IndexedLayer:
    """A layer's features with a spatial index over them, built once.

    `reach` is how far each feature's zone extends beyond its geometry: zero for
    polygon footprints, the protection-zone radius for tree points.
    """

    def __init__(self, name: str, frame: gpd.GeoDataFrame, reach: np.ndarray | None = None):
        missing = [c for c in CORE_COLUMNS if c not in frame.columns]
        if missing:
            raise ValueError(f"layer {name!r} lacks columns {missing}")
        self.name = name
        self.frame = frame.reset_index(drop=True)
        self.geometries = np.asarray(self.frame.geometry.values)
        self.reach = np.zeros(len(frame)) if reach is None else np.asarray(reach, dtype=float)
        self.max_reach = float(self.reach.max()) if len(self.reach) else 0.0
        self.tree = STRtree(self.geometries)
        self._readers = {
            column: _column_reader(self.frame[column])
            for column in self.frame.columns
            if column != "geometry"
        }

    def row(self, index: int) -> dict[str, Any]:
        """A feature's column values (geometry aside), as `frame.iloc[index]` holds them."""
        return {column: read(index) for column, read in self._readers.items()}

    def __len__(self) -> int:
        return len(self.frame)

    def zone(self, index: int) -> BaseGeometry:
        """The feature's zone: its geometry grown by its reach."""
        geometry = self.geometries[index]
        if self.reach[index] > 0:
            return geometry.buffer(self.reach[index], quad_segs=QUAD_SEGMENTS)
        return geometry

    def candidates(self, route: BaseGeometry, distance: float) -> np.ndarray:
        """Indexes of features whose geometry lies within `distance` of the route."""
        found = self.tree.query(route, predicate="dwithin", distance=distance)
        return np.sort(found)


def _column_reader(series: pd.Series) -> Callable[[int], Any]:
    """Read one value of a column by row position, without building a pandas row.

    `frame.iloc[i]` costs some 50 µs on a layer of a million features, more than the
    geometry work of a conflict; a value read here costs one or two. Arrow-backed
    strings are read from their Arrow array (a null reads as None where iloc gives
    NaN; both clean to None), everything else from the column's own array.
    """
    if getattr(series.dtype, "storage", None) == "pyarrow":
        chunks = series.array.__arrow_array__()
        return lambda index: chunks[index].as_py()
    values = series.array
    if isinstance(values, pd.arrays.NumpyExtensionArray):
        values = values.to_numpy()
    return values.__getitem__


def tree_layer(name: str, frame: gpd.GeoDataFrame, margins_m: Mapping[str, float]):
    """Index a tree layer, each zone's radius half the crown plus its kind's margin."""
    crowns = frame["crown_diameter_m"].to_numpy(dtype=float)
    if not np.all(np.isfinite(crowns) & (crowns > 0)):
        raise ValueError(f"layer {name!r} has trees without a positive crown diameter")
    kinds = frame["kind"].to_numpy(dtype=object)
    margins = np.zeros(len(frame))
    for kind, margin in margins_m.items():
        margins[kinds == kind] = margin
    return IndexedLayer(name, frame, reach=crowns / 2 + margins)


def screen(
    route: MultiLineString,
    layers: Iterable[IndexedLayer],
    work_width_m: float,
    tolerance_m: float = DEFAULT_TOLERANCE_M,
) -> Screening:
    """Find every feature of the layers whose zone the route's footprint meets.

    The route must already be in the layers' (metric) CRS.
    """
    footprint = route_footprint(route, work_width_m)
    half_width = work_width_m / 2
    conflicts: list[Conflict] = []
    for layer in layers:
        found = _layer_conflicts(layer, route, footprint, half_width, tolerance_m)
        log.debug("layer %s: %d of %d features conflict", layer.name, len(found), len(layer))
        conflicts.extend(found)
    conflicts.sort(key=lambda c: (round(c.from_m, 2), c.layer, c.feature_id))
    return Screening(route, footprint, work_width_m, tolerance_m, tuple(conflicts))


def _layer_conflicts(layer, route, footprint, half_width, tolerance_m) -> list[Conflict]:
    candidates = layer.candidates(route, half_width + layer.max_reach + tolerance_m)
    if not len(candidates):
        return []

    # exact test: distance to the centreline against each feature's own reach
    distances = shapely.distance(layer.geometries[candidates], route)
    gaps = np.maximum(distances - half_width - layer.reach[candidates], 0.0)
    touching = gaps <= tolerance_m
    hits = zip(candidates[touching], gaps[touching], strict=True)
    return [_conflict(layer, int(i), route, footprint, float(gap)) for i, gap in hits]


def _conflict(layer: IndexedLayer, index: int, route, footprint, gap: float) -> Conflict:
    row = layer.row(index)
    zone = layer.zone(index)
    inside = route.intersection(zone)
    return Conflict(
        layer=layer.name,
        kind=str(row["kind"]),
        feature_id=str(row["feature_id"]),
        name=_clean(row["name"]),
        length_m=inside.length,
        area_m2=footprint.intersection(zone).area,
        gap_m=gap,
        from_m=_first_contact(route, zone, inside),
        attributes={column: _clean(v) for column, v in row.items() if column not in CORE_COLUMNS},
        zone=zone,
    )


def _first_contact(route: MultiLineString, zone: BaseGeometry, inside: BaseGeometry) -> float:
    """Metres along the route to where it first meets the zone (or passes nearest to it).

    Segments of a MultiLineString are measured one after another, in their given order.
    Only the ends of each piece inside the zone are located, not every vertex, so a
    long route costs one lookup per piece.
    """
    if inside.is_empty:
        points = shapely.get_coordinates(shapely.shortest_line(route, zone))[:1]
    else:
        pieces = shapely.get_parts(inside)
        ends = [shapely.get_point(pieces, 0), shapely.get_point(pieces, -1)]
        points = shapely.get_coordinates(np.concatenate(ends))
        if not len(points):  # points or collections: fall back to every coordinate
            points = shapely.get_coordinates(inside)
    positions = shapely.line_locate_point(route, shapely.points(points))
    return float(positions.min())


def _clean(value: Any) -> Any:
    """Turn pandas and numpy scalars into plain JSON-friendly values; NaN and NaT → None."""
    if isinstance(value, str):
        return value
    if value is None or pd.isna(value):
        return None
    if isinstance(value, np.generic):
        return value.item()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value
