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
from collections.abc import Callable, Iterable, Mapping, Sequence
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
    #: Where the route runs inside the zone: (from, to) metres along the route, one
    #: pair per piece. None where positions along the route are not unique (a route of
    #: several parts, or one that crosses or closes on itself) and for a conflict made
    #: by hand.
    spans: tuple[tuple[float, float], ...] | None = field(default=None, compare=False,
                                                           repr=False)  # fmt: skip

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
        """A feature's column values (geometry aside) as plain data, NaN and NaT as None."""
        return self.rows(np.array([index]))[0]

    def rows(self, indexes: np.ndarray) -> list[dict[str, Any]]:
        """The rows of many features at once, each as `row` gives it: a column at a time."""
        columns = {column: read(indexes) for column, read in self._readers.items()}
        return [dict(zip(columns, values, strict=True))
                for values in zip(*columns.values(), strict=True)]  # fmt: skip

    def __len__(self) -> int:
        return len(self.frame)

    def zones(self, indexes: np.ndarray) -> np.ndarray:
        """The features' zones: each geometry grown by its reach (a tree's disc)."""
        zones = self.geometries[indexes].copy()
        reach = self.reach[indexes]
        grown = reach > 0
        zones[grown] = shapely.buffer(zones[grown], reach[grown], quad_segs=QUAD_SEGMENTS)
        return zones


def _column_reader(series: pd.Series) -> Callable[[np.ndarray], list[Any]]:
    """Read a column's values at some row positions, as plain JSON-ready data.

    `frame.iloc[i]` costs some 50 µs on a layer of a million features, more than the
    geometry work of a conflict; here a column is read for all the positions asked for
    in one step. Arrow columns are taken from their Arrow array; floats, integers and
    dates (to the microsecond) from a numpy array, NaN and NaT reading as None;
    anything else through the column's own array and `_clean`.
    """
    if getattr(series.dtype, "storage", None) == "pyarrow":
        chunks = series.array.__arrow_array__()
        return lambda indexes: [_clean(v) for v in _arrow_values(chunks, indexes)]
    # numpy dtypes only: pandas' nullable ones (Int64, boolean, Float64) hold NA, which
    # their numpy form turns into floats or objects; they are read value by value
    kind = series.dtype.kind if isinstance(series.dtype, np.dtype) else None
    if kind == "f":
        floats = series.to_numpy(dtype=float)
        return lambda indexes: [None if v != v else v for v in floats[indexes].tolist()]
    if kind is not None and kind in "iub":
        numbers = series.to_numpy()
        return lambda indexes: numbers[indexes].tolist()
    if kind == "M":
        moments = series.to_numpy().astype("datetime64[us]")
        return lambda indexes: [_iso_moment(m) for m in moments[indexes]]
    values = series.array
    if isinstance(values, pd.arrays.NumpyExtensionArray):
        values = values.to_numpy()
    return lambda indexes: [_clean(values[i]) for i in indexes]


def _arrow_values(chunks, indexes: np.ndarray) -> list[Any]:
    """Values of an Arrow column at some positions: one by one for a few (a `take` on a
    chunked array of a million values costs some milliseconds however few it takes),
    in one `take` for many."""
    if len(indexes) < 256:
        return [chunks[i].as_py() for i in indexes.tolist()]
    return chunks.take(indexes).to_pylist()


def _iso_moment(moment: np.datetime64) -> str | None:
    """A naive datetime64 as `Timestamp.isoformat` writes it; NaT as None."""
    if np.isnat(moment):
        return None
    return moment.item().isoformat()


def tree_layer(name: str, frame: gpd.GeoDataFrame, margins_m: Mapping[str, float]):
    """Index a tree layer, each zone's radius half the crown plus its kind's margin."""
    crowns = frame["crown_diameter_m"].to_numpy(dtype=float)
    if not np.all(np.isfinite(crowns) & (crowns > 0)):
        raise ValueError(f"layer {name!r} has trees without a positive crown diameter")
    margins = np.zeros(len(frame))
    for kind, margin in margins_m.items():
        # compared in the column's own storage: a million Python strings cost ~60 MB
        margins[(frame["kind"] == kind).to_numpy(dtype=bool, na_value=False)] = margin
    return IndexedLayer(name, frame, reach=crowns / 2 + margins)


def screen(
    route: MultiLineString,
    layers: Iterable[IndexedLayer],
    work_width_m: float,
    tolerance_m: float = DEFAULT_TOLERANCE_M,
) -> Screening:
    """Find every feature of the layers whose zone the route's footprint meets.

    The route must already be in the layers' (metric) CRS. One route is screened as
    a batch of one: the array path below costs less per route than a loop over its
    conflicts, even alone.
    """
    return screen_routes([route], layers, work_width_m, tolerance_m)[0]


def screen_routes(
    routes: Sequence[MultiLineString],
    layers: Iterable[IndexedLayer],
    work_width_m: float,
    tolerance_m: float = DEFAULT_TOLERANCE_M,
) -> list[Screening]:
    """One Screening per route, in order, each layer's index queried once for all of them.

    STRtree.query takes the whole array of routes and returns route–feature pairs; the
    exact distance test, the zones, the lengths and areas inside them and the
    first-contact positions are then GEOS calls over all pairs at once, so Python
    touches each conflict only to build its record.
    """
    if work_width_m <= 0:
        raise ValueError(f"work width must be positive, got {work_width_m}")
    routes = np.asarray(routes, dtype=object)
    footprints = route_footprint(routes, work_width_m)
    # one simple, open line: each point of it lies at one distance along it
    plain = (shapely.get_num_geometries(routes) == 1) & shapely.is_simple(routes)
    plain &= ~shapely.is_closed(routes)
    found: list[list[Conflict]] = [[] for _ in range(len(routes))]
    for layer in layers:
        pairs = 0
        for index, conflict in _layer_conflicts(layer, routes, footprints, plain,
                                                work_width_m / 2, tolerance_m):  # fmt: skip
            found[index].append(conflict)
            pairs += 1
        log.debug("layer %s: %d conflicts on %d routes", layer.name, pairs, len(routes))
    return [
        Screening(routes[i], footprints[i], work_width_m, tolerance_m,
                  tuple(sorted(found[i], key=_screening_order)))
        for i in range(len(routes))
    ]  # fmt: skip


def _screening_order(conflict: Conflict) -> tuple[float, str, str]:
    """Conflicts in the order a route meets them, ties by layer and feature id."""
    return round(conflict.from_m, 2), conflict.layer, conflict.feature_id


def _layer_conflicts(layer, routes, footprints, plain, half_width, tolerance_m):
    """(route index, conflict) for every feature of the layer a route's footprint meets."""
    if not len(layer) or not len(routes):
        return []
    reach = half_width + layer.max_reach + tolerance_m
    route_index, feature = layer.tree.query(routes, predicate="dwithin", distance=reach)
    if not len(route_index):
        return []

    # exact test: distance to the centreline against each feature's own reach
    lines = routes[route_index]
    distances = shapely.distance(layer.geometries[feature], lines)
    gaps = np.maximum(distances - half_width - layer.reach[feature], 0.0)
    touching = gaps <= tolerance_m
    route_index, feature, gaps = route_index[touching], feature[touching], gaps[touching]
    lines = lines[touching]

    # zones, and how much of the route and its footprint lie inside each
    zones = layer.zones(feature)
    inside = shapely.intersection(lines, zones)
    lengths = shapely.length(inside)
    areas = shapely.area(shapely.intersection(footprints[route_index], zones))
    starts, spans = _contacts(lines, zones, inside, plain[route_index])
    measured = zip(route_index.tolist(), layer.rows(feature), zones, lengths.tolist(),
                   areas.tolist(), gaps.tolist(), starts.tolist(), spans, strict=True)  # fmt: skip
    return [
        (route, Conflict(
            layer=layer.name,
            kind=str(row["kind"]),
            feature_id=str(row["feature_id"]),
            name=row["name"],
            length_m=length,
            area_m2=area,
            gap_m=gap,
            from_m=start,
            attributes={c: v for c, v in row.items() if c not in CORE_COLUMNS},
            zone=zone,
            spans=span,
        ))
        for route, row, zone, length, area, gap, start, span in measured
    ]  # fmt: skip


def _contacts(lines: np.ndarray, zones: np.ndarray, inside: np.ndarray, plain: np.ndarray):
    """Where each route meets its zone: the first contact and the spans inside.

    The first contact is the metres along the route to where it first enters the zone,
    or passes nearest to it; the spans are the (from, to) metres along the route of
    each piece inside, worked out only for `plain` routes (one simple open line): on
    any other a piece's end can be located on another pass through the same point.
    Segments of a MultiLineString are measured one after another, in their given
    order. Only the ends of each piece are located, not every vertex (every coordinate
    where the pieces have no ends: points or collections).
    """
    starts = np.full(len(lines), np.inf)
    spans: list[list[tuple[float, float]]] = [[] for _ in range(len(lines))]
    empty = shapely.is_empty(inside)
    if empty.any():
        nearest = shapely.get_point(shapely.shortest_line(lines[empty], zones[empty]), 0)
        starts[empty] = shapely.line_locate_point(lines[empty], nearest)
    met = np.flatnonzero(~empty)
    if not len(met):
        return starts, [() if p else None for p in plain.tolist()]

    parts, owner = shapely.get_parts(inside[met], return_index=True)
    heads, tails = shapely.get_point(parts, 0), shapely.get_point(parts, -1)
    lineal = ~shapely.is_missing(heads)  # get_point gives None for points
    pair = met[owner[lineal]]
    a = shapely.line_locate_point(lines[pair], heads[lineal])
    b = shapely.line_locate_point(lines[pair], tails[lineal])
    np.minimum.at(starts, pair, np.minimum(a, b))
    for k, low, high in zip(pair.tolist(), np.minimum(a, b).tolist(), np.maximum(a, b).tolist(),
                            strict=True):  # fmt: skip
        spans[k].append((low, high))

    endless = met[np.isinf(starts[met])]
    if len(endless):
        coords, which = shapely.get_coordinates(inside[endless], return_index=True)
        positions = shapely.line_locate_point(lines[endless[which]], shapely.points(coords))
        np.minimum.at(starts, endless[which], positions)
    return starts, [tuple(s) if p else None for s, p in zip(spans, plain.tolist(), strict=True)]


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
