"""Reading routes from GeoJSON, moving them between CRSs, and the coverage check."""

from __future__ import annotations

import pytest
from pyproj import Geod
from shapely import LineString, MultiLineString, box

from geo.coverage import check_coverage
from geo.errors import CrsError, FactsError, OutsideCoverageError, RouteInputError
from geo.route import parse_route, to_crs

LINE = {"type": "LineString", "coordinates": [[24.94, 60.17], [24.945, 60.171]]}


def feature(geometry, **properties):
    return {"type": "Feature", "geometry": geometry, "properties": properties}


class TestParse:
    def test_bare_geometry_feature_and_collection_give_the_same_line(self):
        bare = parse_route(LINE)
        wrapped = parse_route(feature(LINE, voltage_kv=10))
        collection = parse_route({"type": "FeatureCollection", "features": [feature(LINE)]})
        assert bare.geometry.equals(wrapped.geometry)
        assert bare.geometry.equals(collection.geometry)
        assert wrapped.properties == {"voltage_kv": 10}
        assert bare.crs == "EPSG:4326"

    def test_collection_segments_become_one_multiline(self):
        other = {"type": "LineString", "coordinates": [[24.95, 60.17], [24.951, 60.172]]}
        route = parse_route(
            {"type": "FeatureCollection", "features": [feature(LINE), feature(other, a=1)]}
        )
        assert route.segment_count == 2
        assert route.properties == {"a": 1}

    def test_every_segment_contributes_its_facts(self):
        other = {"type": "LineString", "coordinates": [[24.95, 60.17], [24.951, 60.172]]}
        route = parse_route({"type": "FeatureCollection", "features": [
            feature(LINE, voltage_kv=10), feature(other, fells_trees=True)]})  # fmt: skip
        assert route.properties == {"voltage_kv": 10, "fells_trees": True}

    def test_segments_that_disagree_on_a_fact_are_refused(self):
        with pytest.raises(FactsError) as caught:
            parse_route({"type": "FeatureCollection", "features": [
                feature(LINE, voltage_kv=10), feature(LINE, voltage_kv=0.4)]})  # fmt: skip
        assert caught.value.code == "FACTS_DISAGREE"
        assert caught.value.where == "features[1].properties.voltage_kv"

    def test_heights_are_dropped(self):
        route = parse_route(
            {"type": "LineString", "coordinates": [[24.94, 60.17, 12.0], [24.945, 60.171, 13.0]]}
        )
        assert not route.geometry.has_z

    @pytest.mark.parametrize(
        ("obj", "code", "where"),
        [
            ([1, 2], "NOT_GEOJSON", None),
            ({"coordinates": []}, "NOT_GEOJSON", None),
            (feature(None), "EMPTY_ROUTE", "geometry"),
            ({"type": "Point", "coordinates": [24.9, 60.1]}, "NOT_A_LINE", "$"),
            ({"type": "MultiLineString", "coordinates": []}, "EMPTY_ROUTE", "$"),
            ({"type": "FeatureCollection", "features": []}, "EMPTY_ROUTE", "features"),
            (
                {"type": "LineString", "coordinates": [[24.9, 60.1], [24.9, 60.1]]},
                "DEGENERATE_LINE",
                "$.coordinates",
            ),
            (
                {"type": "LineString", "coordinates": [[24.9, 60.1], [float("nan"), 60.2]]},
                "NON_FINITE",
                "$.coordinates[1]",
            ),
            (
                {"type": "LineString", "coordinates": [[24.9, 60.1], ["24.9", 60.2]]},
                "INVALID_ROUTE",
                "$.coordinates[1]",
            ),
            (
                {"type": "LineString", "coordinates": [[24.9, 60.1], [True, 60.2]]},
                "INVALID_ROUTE",
                "$.coordinates[1]",
            ),
            (
                {"type": "LineString", "coordinates": [[24.9, 60.1], [24.9]]},
                "INVALID_ROUTE",
                "$.coordinates[1]",
            ),
        ],
    )
    def test_bad_routes_name_the_problem_and_its_place(self, obj, code, where):
        with pytest.raises(RouteInputError) as caught:
            parse_route(obj)
        assert caught.value.code == code
        assert caught.value.where == where

    def test_the_2008_crs_member_is_refused(self):
        with pytest.raises(CrsError) as caught:
            parse_route(LINE | {"crs": {"type": "name", "properties": {"name": "EPSG:3067"}}})
        assert caught.value.code == "GEOJSON_CRS_MEMBER"


class TestTransform:
    def test_wgs84_to_the_district_crs_measures_in_metres(self):
        route = to_crs(parse_route(LINE), "EPSG:3067")
        (x0, y0), (x1, y1) = LINE["coordinates"]
        geodesic = Geod(ellps="GRS80").inv(x0, y0, x1, y1)[2]
        # TM35FIN's scale error near Helsinki stays well under 0.5 %
        assert geodesic == pytest.approx(298.6, abs=0.5)
        assert route.geometry.length == pytest.approx(geodesic, rel=5e-3)
        assert route.crs == "EPSG:3067"

    def test_declared_projected_crs_is_honoured(self):
        local = to_crs(parse_route(LINE), "EPSG:3067")
        coords = [list(c) for c in local.geometry.geoms[0].coords]
        again = to_crs(
            parse_route({"type": "LineString", "coordinates": coords}, "EPSG:3067"), "EPSG:3067"
        )
        assert again.geometry.equals_exact(local.geometry, 1e-6)

    def test_projected_coordinates_read_as_degrees_are_refused(self):
        metric = {"type": "LineString", "coordinates": [[385000, 6672000], [385100, 6672000]]}
        with pytest.raises(RouteInputError) as caught:
            to_crs(parse_route(metric), "EPSG:3067")
        assert caught.value.code == "OUT_OF_RANGE"
        assert "CRS declared" in str(caught.value)

    def test_unknown_crs_is_refused(self):
        with pytest.raises(CrsError):
            to_crs(parse_route(LINE, "EPSG:999999"), "EPSG:3067")


class TestCoverage:
    COVER = box(0, 0, 100, 100)

    def test_route_inside_passes(self):
        check_coverage(MultiLineString([LineString([(10, 10), (90, 90)])]), self.COVER, "d", 0.01)

    def test_route_outside_says_how_far(self):
        far = MultiLineString([LineString([(1100, 50), (1200, 50)])])
        with pytest.raises(OutsideCoverageError) as caught:
            check_coverage(far, self.COVER, "d", 0.01)
        assert caught.value.code == "ROUTE_OUTSIDE_COVERAGE"
        assert "1,000 m outside" in str(caught.value)

    def test_route_leaving_the_coverage_is_refused_too(self):
        leaving = MultiLineString([LineString([(50, 50), (150, 50)])])
        with pytest.raises(OutsideCoverageError) as caught:
            check_coverage(leaving, self.COVER, "d", 0.01)
        assert caught.value.code == "ROUTE_LEAVES_COVERAGE"
        assert "50.0 m of the route" in str(caught.value)
