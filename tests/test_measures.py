"""Measures over selected conflicts: merged spans and the shortcuts equal the plain union."""

from __future__ import annotations

import dataclasses

import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely import LineString, MultiLineString, box

from geo.footprint import QUAD_SEGMENTS
from geo.measures import area_inside, length_inside
from geo.screening import IndexedLayer, Screening, screen


def _screening(route: MultiLineString, zones) -> Screening:
    frame = gpd.GeoDataFrame(
        {"feature_id": [f"f/{i}" for i in range(len(zones))], "kind": "green", "name": None},
        geometry=list(zones),
    )
    return screen(route, [IndexedLayer("green", frame)], 1.0, 0.01)


def _by_union(screening: Screening) -> tuple[float, float]:
    zones = shapely.union_all([c.zone for c in screening.conflicts])
    return (screening.route.intersection(zones).length,
            screening.footprint.intersection(zones).area)  # fmt: skip


def test_a_route_along_the_shared_edge_of_two_boxes_counts_its_metres_once():
    route = MultiLineString([LineString([(0, 0), (20, 0)])])
    side_by_side = _screening(route, [box(0, -5, 10, 0), box(10, -5, 20, 0)])
    assert length_inside(side_by_side, side_by_side.conflicts) == pytest.approx(20.0)

    below_and_above = _screening(route, [box(0, -5, 20, 0), box(0, 0, 20, 5)])
    # each box alone holds all 20 m of the edge the route runs along
    assert [c.length_m for c in below_and_above.conflicts] == pytest.approx([20.0, 20.0])
    assert length_inside(below_and_above, below_and_above.conflicts) == pytest.approx(20.0)
    # the footprint's round ends stick out of the boxes; the 20 m × 1 m between is in
    assert area_inside(below_and_above, below_and_above.conflicts) == pytest.approx(20.0)


def test_a_route_running_over_itself_falls_back_to_the_union():
    route = MultiLineString([LineString([(0, 0), (20, 0), (5, 0)])])
    screening = _screening(route, [box(2, -1, 8, 1), box(6, -1, 12, 1)])
    length, _ = _by_union(screening)
    assert length_inside(screening, screening.conflicts) == pytest.approx(length, abs=1e-9)


def test_conflicts_without_spans_are_measured_through_the_union():
    route = MultiLineString([LineString([(0, 0), (20, 0)])])
    screening = _screening(route, [box(2, -1, 8, 1), box(6, -1, 12, 1)])
    bare = [dataclasses.replace(c, spans=None) for c in screening.conflicts]
    assert length_inside(screening, bare) == pytest.approx(10.0)
    assert length_inside(screening, screening.conflicts) == pytest.approx(10.0)
    assert length_inside(screening, []) == 0.0 and area_inside(screening, []) == 0.0


@pytest.mark.parametrize("seed", range(40))
def test_measures_equal_the_union_of_random_zones(seed):
    rng = np.random.default_rng(seed)
    vertices = rng.uniform(0, 60, size=(int(rng.integers(2, 6)), 2))
    if rng.random() < 0.3:  # axis-parallel legs on whole metres, along the boxes' edges
        vertices = np.round(vertices)
        vertices[1::2, 1] = vertices[0::2, 1][: len(vertices[1::2])]
    route = MultiLineString([LineString(vertices)])
    zones = [shapely.Point(vertices[0]).buffer(rng.uniform(1, 8), quad_segs=QUAD_SEGMENTS)]
    for _ in range(int(rng.integers(0, 12))):
        x, y = vertices[rng.integers(len(vertices))] + rng.uniform(-6, 6, size=2)
        if rng.random() < 0.5:
            zones.append(shapely.Point(x, y).buffer(rng.uniform(1, 8), quad_segs=QUAD_SEGMENTS))
        else:  # boxes on a whole-metre grid, so that some share edges or corners
            w, h = rng.integers(1, 15, size=2)
            zones.append(box(round(x), round(y), round(x) + w, round(y) + h))
    screening = _screening(route, zones)
    assert screening.conflicts
    length, area = _by_union(screening)
    assert length_inside(screening, screening.conflicts) == pytest.approx(length, abs=1e-9)
    assert area_inside(screening, screening.conflicts) == pytest.approx(area, abs=1e-9)


def test_two_paths_between_the_same_points_inside_a_zone_count_twice():
    """Found by review: a second path through the same two points located its ends on
    the first pass, so its span lay on the first path's and the merge counted it once."""
    zones = [box(0, 0, 10, 10), box(-5, -1, -3, 3)]
    parts = MultiLineString([LineString([(-5, 5), (0, 5), (5, 8), (10, 5), (15, 5)]),
                             LineString([(-5, 2), (0, 5), (5, 2), (10, 5), (15, 2)])])  # fmt: skip
    back_again = MultiLineString([LineString([(-5, 5), (0, 5), (5, 8), (10, 5), (5, 2), (0, 5)])])
    for route in (parts, back_again):
        screening = _screening(route, zones)
        length, _ = _by_union(screening)
        assert length > 20
        assert length_inside(screening, screening.conflicts) == pytest.approx(length, abs=1e-9)
        assert all(c.spans is None for c in screening.conflicts)


def test_a_plain_route_keeps_spans_that_add_up_to_each_length():
    route = MultiLineString([LineString([(-5, 5), (0, 5), (5, 8), (10, 5), (15, 5)])])
    screening = _screening(route, [box(0, 0, 10, 10), box(8, 0, 20, 10)])
    for conflict in screening.conflicts:
        assert conflict.spans
        assert sum(b - a for a, b in conflict.spans) == pytest.approx(conflict.length_m)
