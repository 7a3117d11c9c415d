"""Geometry rules of screening on tiny literal geometries in a metric CRS."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely import LineString, MultiLineString, Point, box

from geo.footprint import parse_width, protection_radius, road_footprint, route_footprint
from geo.screening import IndexedLayer, screen, tree_layer

CRS = "EPSG:3067"
TOL = 0.01


def route(*coords) -> MultiLineString:
    return MultiLineString([LineString(coords)])


def trees(*rows) -> IndexedLayer:
    """Tree layer from (feature_id, kind, x, y, crown) rows, ancient margin 5 m."""
    frame = gpd.GeoDataFrame(
        {
            "feature_id": [r[0] for r in rows],
            "kind": [r[1] for r in rows],
            "name": [None] * len(rows),
            "crown_diameter_m": [r[4] for r in rows],
        },
        geometry=[Point(r[2], r[3]) for r in rows],
        crs=CRS,
    )
    return tree_layer("trees", frame, {"ancient_tree": 5.0})


def polygons(layer: str, *rows) -> IndexedLayer:
    """Polygon layer from (feature_id, kind, geometry) rows."""
    frame = gpd.GeoDataFrame(
        {"feature_id": [r[0] for r in rows], "kind": [r[1] for r in rows], "name": None},
        geometry=[r[2] for r in rows],
        crs=CRS,
    )
    return IndexedLayer(layer, frame)


def ids(screening) -> list[str]:
    return sorted(c.feature_id for c in screening.conflicts)


class TestTreeZones:
    def test_zone_exactly_reaching_the_footprint_counts(self):
        # crown 6 m → radius 3 m; half work width 0.5 m; trunk 3.5 m from the centreline
        layer = trees(("node/1", "tree", 50.0, 3.5, 6.0))
        result = screen(route((0, 0), (100, 0)), [layer], work_width_m=1.0, tolerance_m=TOL)
        assert ids(result) == ["node/1"]
        assert result.conflicts[0].gap_m == pytest.approx(0.0, abs=1e-9)

    def test_zone_within_tolerance_counts_and_beyond_does_not(self):
        near = ("node/near", "tree", 20.0, 3.5 + TOL * 0.9, 6.0)
        far = ("node/far", "tree", 60.0, 3.5 + TOL * 1.1, 6.0)
        result = screen(route((0, 0), (100, 0)), [trees(near, far)], 1.0, TOL)
        assert ids(result) == ["node/near"]

    def test_ordinary_zone_is_the_crown_projection(self):
        # 4 m from the centreline: a 6 m crown (reach 3.5 m) misses, an 8 m crown hits
        layer = trees(("node/small", "tree", 10, 4.0, 6.0), ("node/big", "tree", 40, 4.0, 8.0))
        assert ids(screen(route((0, 0), (100, 0)), [layer], 1.0, TOL)) == ["node/big"]

    def test_ancient_zone_is_crown_plus_five_metres(self):
        # radius 3 + 5 = 8 m; reaches the footprint edge (0.5 m) up to 8.5 m away
        layer = trees(
            ("node/in", "ancient_tree", 10, 8.5, 6.0),
            ("node/out", "ancient_tree", 40, 8.6, 6.0),
            ("node/plain", "tree", 70, 8.5, 6.0),
        )
        assert ids(screen(route((0, 0), (100, 0)), [layer], 1.0, TOL)) == ["node/in"]

    def test_tree_on_the_route_reports_length_and_area_inside_its_zone(self):
        layer = trees(("node/1", "tree", 50.0, 0.0, 6.0))
        conflict = screen(route((0, 0), (100, 0)), [layer], 1.0, TOL).conflicts[0]
        assert conflict.length_m == pytest.approx(6.0, rel=1e-3)
        # the 1 m wide strip through a 3 m radius disc: about 5.99 m²
        assert conflict.area_m2 == pytest.approx(5.99, rel=5e-3)

    def test_protection_radius_rejects_a_missing_crown(self):
        assert protection_radius(6.0, 5.0) == 8.0
        with pytest.raises(ValueError):
            protection_radius(0.0)


class TestPolygonFootprints:
    def test_crossing_a_road_reports_metres_and_square_metres_inside(self):
        # a 10 m wide road along y = 50; the route crosses it at right angles
        road = road_footprint(LineString([(0, 50), (100, 50)]), 10.0)
        layer = polygons("roads", ("way/1", "branch", road))
        conflict = screen(route((50, 0), (50, 100)), [layer], 1.0, TOL).conflicts[0]
        assert conflict.length_m == pytest.approx(10.0)
        assert conflict.area_m2 == pytest.approx(10.0, rel=1e-6)

    def test_polygon_touching_the_footprint_edge_counts(self):
        edge = box(0, 0.5, 10, 5)
        beyond = box(20, 0.5 + 2 * TOL, 30, 5)
        layer = polygons("green", ("way/edge", "green", edge), ("way/beyond", "green", beyond))
        result = screen(route((0, 0), (100, 0)), [layer], 1.0, TOL)
        assert ids(result) == ["way/edge"]
        assert result.conflicts[0].area_m2 == pytest.approx(0.0, abs=1e-6)

    def test_road_footprint_has_flat_ends(self):
        footprint = road_footprint(LineString([(0, 0), (100, 0)]), 10.0)
        assert footprint.area == pytest.approx(1000.0, rel=1e-9)
        assert footprint.bounds == pytest.approx((0.0, -5.0, 100.0, 5.0))

    def test_route_footprint_has_round_ends(self):
        footprint = route_footprint(LineString([(0, 0), (10, 0)]), 1.0)
        assert footprint.bounds == pytest.approx((-0.5, -0.5, 10.5, 0.5))

    def test_attributes_travel_with_the_conflict(self):
        frame = gpd.GeoDataFrame(
            {
                "feature_id": ["way/7"],
                "kind": ["main"],
                "name": ["Mannerheimintie"],
                "width_m": [20.0],
                "handover_date": [None],
            },
            geometry=[box(-10, -10, 10, 10)],
            crs=CRS,
        )
        conflict = screen(route((0, 0), (5, 0)), [IndexedLayer("roads", frame)], 1.0).conflicts[0]
        assert conflict.name == "Mannerheimintie"
        assert conflict.attributes == {"width_m": 20.0, "handover_date": None}


@pytest.mark.parametrize(
    ("tag", "width"),
    [
        ("7", 7.0),
        ("7.5 m", 7.5),
        ("3,5", 3.5),
        ("12m", 12.0),
        ("5'", None),
        ("2;3", None),
        ("0", None),
        ("wide", None),
        (None, None),
    ],
)
def test_parse_width(tag, width):
    assert parse_width(tag) == width


@pytest.mark.parametrize("count", [3, 600])
def test_rows_read_every_column_as_plain_data_few_or_many(count):
    rng = np.random.default_rng(4)
    n = 1_000
    dates = pd.to_datetime(rng.integers(0, 20_000, n), unit="D").astype("datetime64[ms]")
    frame = gpd.GeoDataFrame(
        {
            "feature_id": pd.array([f"f/{i}" for i in range(n)], dtype="string[pyarrow]"),
            "kind": "road",
            "name": pd.array([None if i % 3 else f"路 {i}" for i in range(n)],
                             dtype="string[pyarrow]"),
            "width_m": np.where(np.arange(n) % 4, rng.uniform(3, 30, n), np.nan),
            "lanes": rng.integers(1, 6, n),
            "handover_date": dates.where(np.arange(n) % 5 != 0),
        },
        geometry=shapely.points(rng.uniform(0, 100, (n, 2))),
    )  # fmt: skip
    layer = IndexedLayer("roads", frame)
    indexes = np.sort(rng.choice(n, size=count, replace=False))
    for i, row in zip(indexes, layer.rows(indexes), strict=True):
        source = frame.iloc[i]
        assert row["feature_id"] == f"f/{i}"
        assert row["name"] == (None if i % 3 else f"路 {i}")
        assert row["width_m"] == (None if i % 4 == 0 else source["width_m"])
        assert row["lanes"] == int(source["lanes"]) and type(row["lanes"]) is int
        expected = None if i % 5 == 0 else source["handover_date"].isoformat()
        assert row["handover_date"] == expected
        assert row == layer.row(int(i))


def test_rows_of_nullable_columns_read_missing_values_as_none():
    frame = gpd.GeoDataFrame(
        {
            "feature_id": ["a", "b", "c"],
            "kind": "road",
            "name": [None, "x", None],
            "lanes": pd.array([2, None, 4], dtype="Int64"),
            "lit": pd.array([True, None, False], dtype="boolean"),
            "width_m": pd.array([3.5, None, 7.0], dtype="Float64"),
            "opened": pd.to_datetime(["2020-01-02", None, "2021-03-04"]).tz_localize("UTC"),
        },
        geometry=shapely.points([(0, 0), (1, 1), (2, 2)]),
    )
    rows = IndexedLayer("roads", frame).rows(np.arange(3))
    assert [r["lanes"] for r in rows] == [2, None, 4] and type(rows[0]["lanes"]) is int
    assert [r["lit"] for r in rows] == [True, None, False]
    assert [r["width_m"] for r in rows] == [3.5, None, 7.0]
    assert [r["opened"] for r in rows] == [
        "2020-01-02T00:00:00+00:00",
        None,
        "2021-03-04T00:00:00+00:00",
    ]
    json.dumps(rows)  # plain data throughout
