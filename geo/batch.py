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

import numpy as np
import shapely
from shapely import MultiLineString

from geo.footprint import QUAD_SEGMENTS
from geo.screening import (
    CORE_COLUMNS,
    Conflict,
    IndexedLayer,
    Screening,
    _clean,
)

log = logging.getLogger(__name__)


class BatchScreener:
    """Screens arrays of routes (in the layers' metric CRS) against indexed layers."""

    def __init__(
        self, layers: Iterable[IndexedLayer], work_width_m: float, tolerance_m: float
    ) -> None:
        if work_width_m <= 0:
            raise ValueError(f"work width must be positive, got {work_width_m}")
        self.layers = list(layers)
        self.work_width_m = work_width_m
        self.tolerance_m = tolerance_m

    def screen(self, routes: Sequence[MultiLineString]) -> list[Screening]:
        """One Screening per route, in order, equal to what `screen` gives each alone."""
        routes = np.asarray(routes, dtype=object)
        footprints = shapely.buffer(routes, self.work_width_m / 2, quad_segs=QUAD_SEGMENTS)
        found: list[list[Conflict]] = [[] for _ in range(len(routes))]
        pairs = 0
        for layer in self.layers:
            for index, conflict in self._layer_conflicts(layer, routes, footprints):
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

    def _layer_conflicts(self, layer, routes, footprints):
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
            (int(route_index[k]), self._conflict(layer, int(feature[k]), zones[k], lengths[k],
                                                 areas[k], gaps[k], starts[k]))
            for k in range(len(feature))
        ]  # fmt: skip

    @staticmethod
    def _conflict(layer, i, zone, length, area, gap, start) -> Conflict:
        row = layer.row(i)
        return Conflict(
            layer=layer.name,
            kind=str(row["kind"]),
            feature_id=str(row["feature_id"]),
            name=_clean(row["name"]),
            length_m=float(length),
            area_m2=float(area),
            gap_m=float(gap),
            from_m=float(start),
            attributes={c: _clean(v) for c, v in row.items() if c not in CORE_COLUMNS},
            zone=zone,
        )


def _first_contacts(lines: np.ndarray, zones: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """Metres along each route to where it first meets its zone (or passes nearest).

    The same steps as `geo.screening._first_contact`, over all pairs at once: the ends
    of each piece of route inside the zone are located along the route (every
    coordinate, for a pair whose pieces have no ends), and the least position is kept.
    """
    starts = np.empty(len(lines))
    empty = shapely.is_empty(inside)
    if empty.any():
        nearest = shapely.get_point(shapely.shortest_line(lines[empty], zones[empty]), 0)
        starts[empty] = shapely.line_locate_point(lines[empty], nearest)
    met = np.flatnonzero(~empty)
    if not len(met):
        return starts
    parts, owner = shapely.get_parts(inside[met], return_index=True)
    ends = np.concatenate([shapely.get_point(parts, 0), shapely.get_point(parts, -1)])
    coords, which = shapely.get_coordinates(ends, return_index=True)
    owners = np.concatenate([owner, owner])[which]
    endless = np.setdiff1d(np.arange(len(met)), owners)
    if len(endless):  # points or collections: every coordinate
        extra, extra_owner = shapely.get_coordinates(inside[met[endless]], return_index=True)
        coords = np.concatenate([coords, extra])
        owners = np.concatenate([owners, endless[extra_owner]])
    positions = shapely.line_locate_point(lines[met[owners]], shapely.points(coords))
    first = np.full(len(met), np.inf)
    np.minimum.at(first, owners, positions)
    starts[met] = first
    return starts
