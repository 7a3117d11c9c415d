"""Batch screening: many routes against a district's indexed layers in array operations.

`geo.screening.screen` handles one route; here each layer's index is queried once with
the whole array of routes (STRtree.query takes an array and returns route–feature
pairs), and the exact distance test, the zones, the lengths and areas inside them and
the first-contact positions are computed over all pairs at once. Each operation is the
same GEOS call `screen` makes, element by element, so a route screened here yields the
same conflicts, with the same numbers, as `screen` gives it alone; the tests hold the
two to that.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from shapely import MultiLineString

from geo.footprint import QUAD_SEGMENTS
from geo.screening import CORE_COLUMNS, Conflict, IndexedLayer, Screening, _clean

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Columns:
    """A layer's columns as object arrays, so a hit's row is read without pandas."""

    kind: np.ndarray
    feature_id: np.ndarray
    name: np.ndarray
    attributes: dict[str, np.ndarray]

    @classmethod
    def of(cls, layer: IndexedLayer) -> _Columns:
        frame = layer.frame
        extra = [c for c in frame.columns if c not in CORE_COLUMNS]
        return cls(
            kind=frame["kind"].to_numpy(dtype=object),
            feature_id=frame["feature_id"].to_numpy(dtype=object),
            name=frame["name"].to_numpy(dtype=object),
            attributes={c: frame[c].to_numpy(dtype=object) for c in extra},
        )


class BatchScreener:
    """Screens arrays of routes (in the layers' metric CRS) against indexed layers."""

    def __init__(
        self, layers: Iterable[IndexedLayer], work_width_m: float, tolerance_m: float
    ) -> None:
        if work_width_m <= 0:
            raise ValueError(f"work width must be positive, got {work_width_m}")
        self.layers = [layer for layer in layers]
        self.columns = [_Columns.of(layer) for layer in self.layers]
        self.work_width_m = work_width_m
        self.tolerance_m = tolerance_m

    def screen(self, routes: Sequence[MultiLineString]) -> list[Screening]:
        """One Screening per route, in order, equal to what `screen` gives each alone."""
        routes = np.asarray(routes, dtype=object)
        footprints = shapely.buffer(routes, self.work_width_m / 2, quad_segs=QUAD_SEGMENTS)
        found: list[list[Conflict]] = [[] for _ in range(len(routes))]
        pairs = 0
        for layer, columns in zip(self.layers, self.columns, strict=True):
            for index, conflict in self._layer_conflicts(layer, columns, routes, footprints):
                found[index].append(conflict)
                pairs += 1
        log.debug("screened %d routes: %d conflicts", len(routes), pairs)
        return [
            Screening(
                routes[i],
                footprints[i],
                self.work_width_m,
                self.tolerance_m,
                tuple(sorted(found[i], key=lambda c: (round(c.from_m, 2), c.layer, c.feature_id))),
            )
            for i in range(len(routes))
        ]

    def _layer_conflicts(self, layer, columns, routes, footprints):
        """(route index, conflict) for every feature of the layer a route's footprint meets."""
        half = self.work_width_m / 2
        if not len(layer) or not len(routes):
            return []
        reach = half + layer.max_reach + self.tolerance_m
        route_index, feature = layer.tree.query(routes, predicate="dwithin", distance=reach)
        if not len(route_index):
            return []

        # exact test: distance to the centreline against each feature's own reach
        lines = routes[route_index]
        distances = shapely.distance(layer.geometries[feature], lines)
        gaps = np.maximum(distances - half - layer.reach[feature], 0.0)
        touching = gaps <= self.tolerance_m
        route_index, feature, gaps = route_index[touching], feature[touching], gaps[touching]
        lines = lines[touching]

        # zones, and how much of the route and its footprint lie inside each
        zones = layer.geometries[feature].copy()
        grown = layer.reach[feature] > 0
        zones[grown] = shapely.buffer(zones[grown], layer.reach[feature][grown],
                                      quad_segs=QUAD_SEGMENTS)  # fmt: skip
        inside = shapely.intersection(lines, zones)
        lengths = shapely.length(inside)
        areas = shapely.area(shapely.intersection(footprints[route_index], zones))
        starts = _first_contacts(lines, zones, inside)
        return [
            (int(route_index[k]), self._conflict(layer, columns, int(feature[k]), zones[k],
                                                 lengths[k], areas[k], gaps[k], starts[k]))
            for k in range(len(feature))
        ]  # fmt: skip

    @staticmethod
    def _conflict(layer, columns, i, zone, length, area, gap, start) -> Conflict:
        return Conflict(
            layer=layer.name,
            kind=str(columns.kind[i]),
            feature_id=str(columns.feature_id[i]),
            name=_clean(columns.name[i]),
            length_m=float(length),
            area_m2=float(area),
            gap_m=float(gap),
            from_m=float(start),
            attributes={name: _clean(values[i]) for name, values in columns.attributes.items()},
            zone=zone,
        )


def _first_contacts(lines: np.ndarray, zones: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """Metres along each route to where it first meets its zone (or passes nearest)."""
    starts = np.empty(len(lines))
    empty = shapely.is_empty(inside)
    if empty.any():
        nearest = shapely.get_point(shapely.shortest_line(lines[empty], zones[empty]), 0)
        starts[empty] = shapely.line_locate_point(lines[empty], nearest)
    met = ~empty
    if met.any():
        coords, owner = shapely.get_coordinates(inside[met], return_index=True)
        positions = shapely.line_locate_point(lines[met][owner], shapely.points(coords))
        first = np.full(int(met.sum()), np.inf)
        np.minimum.at(first, owner, positions)
        starts[met] = first
    return starts
