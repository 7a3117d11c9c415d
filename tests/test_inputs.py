"""Route files and coordinate systems as applicants, designers and clerks hand them in.

Every format and CRS is checked against the same route in WGS84: the same conflicts,
and route lengths within a few centimetres.
"""

from __future__ import annotations

import io
import json
import math
import zipfile
from pathlib import Path

import eviltransform
import ezdxf
import geopandas as gpd
import pyogrio
import pytest
from pyproj import Transformer
from shapely import LineString, Point, box

from api.inputs import read_route
from geo.errors import CrsError, RouteInputError
from layers.district import load_district, sample_district_path

RULES = Path(__file__).resolve().parents[1] / "layers" / "rules" / "default.toml"
EXAMPLE = sample_district_path() / "example_route.geojson"
FACTS = {"voltage_kv": 10, "customer": "other"}


def example() -> dict:
    return json.loads(EXAMPLE.read_text(encoding="utf-8"))


def conflict_ids(decision) -> list[str]:
    return sorted(c.feature_id for c in decision.screening.conflicts)


def frame(coords, crs="EPSG:4326", **attributes):
    data = {key: [value] for key, value in attributes.items()}
    return gpd.GeoDataFrame(data, geometry=[LineString(coords)], crs=crs)


def write(gdf, driver, **options) -> bytes:
    buffer = io.BytesIO()
    pyogrio.write_dataframe(gdf, buffer, driver=driver, **options)
    return buffer.getvalue()


def shapefile_zip(gdf, encoding="UTF-8", with_cpg=True, with_prj=True, tmp=None) -> bytes:
    path = tmp / "route.shp"
    pyogrio.write_dataframe(gdf, path, encoding=encoding)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for part in tmp.glob("route.*"):
            if (part.suffix == ".cpg" and not with_cpg) or (part.suffix == ".prj" and not with_prj):
                continue
            archive.write(part, part.name)
    return buffer.getvalue()


def dxf_bytes(points, units=6, bulges=None) -> bytes:
    document = ezdxf.new()
    document.header["$INSUNITS"] = units
    rows = [(x, y, 0, 0, bulges[i] if bulges else 0) for i, (x, y) in enumerate(points)]
    document.modelspace().add_lwpolyline(rows, format="xyseb")
    stream = io.StringIO()
    document.write(stream)
    return stream.getvalue().encode("utf-8")


@pytest.fixture(scope="module")
def reference(district):
    return district.classify(example(), facts=FACTS)


class TestFormatsRoundTrip:
    """The example route in every format screens like the GeoJSON original."""

    def check(self, district, reference, route):
        decision = district.classify(route, facts=FACTS)
        assert conflict_ids(decision) == conflict_ids(reference)
        assert decision.screening.length_m == pytest.approx(reference.screening.length_m, abs=0.03)
        return decision

    @pytest.fixture
    def coords(self):
        return example()["geometry"]["coordinates"]

    def test_geojson(self, district, reference):
        route = read_route(EXAMPLE.read_bytes(), "route.geojson")
        assert route.properties["voltage_kv"] == 0.4
        self.check(district, reference, route)

    def test_wkt(self, district, reference, coords):
        text = LineString(coords).wkt.encode()
        self.check(district, reference, read_route(text, "route.wkt"))

    def test_kml_and_kmz(self, district, reference, coords):
        kml = write(frame(coords, Name="route"), "KML")
        self.check(district, reference, read_route(kml, "route.kml"))
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("doc.kml", kml)
        self.check(district, reference, read_route(buffer.getvalue(), "route.kmz"))

    def test_gpx(self, district, reference, coords):
        tracks = gpd.GeoDataFrame(geometry=[LineString(coords)], crs="EPSG:4326")
        gpx = write(tracks, "GPX", layer="routes", dataset_options={"GPX_USE_EXTENSIONS": "YES"})
        self.check(district, reference, read_route(gpx, "route.gpx"))

    def test_zipped_shapefile_in_the_district_crs(self, district, reference, coords, tmp_path):
        local = frame(coords).to_crs("EPSG:3067")
        data = shapefile_zip(local, tmp=tmp_path)
        route = read_route(data, "route.zip")
        assert "3067" in route.crs or "TM35FIN" in route.crs
        self.check(district, reference, route)

    def test_geopackage(self, district, reference, coords):
        data = write(frame(coords, voltage_kv=10.0).to_crs("EPSG:3067"), "GPKG", layer="route")
        route = read_route(data, "route.gpkg")
        assert route.properties == {"voltage_kv": 10.0}
        self.check(district, reference, route)

    def test_dxf_in_metres_with_its_crs(self, district, reference, coords):
        to_local = Transformer.from_crs(4326, 3067, always_xy=True)
        points = [to_local.transform(x, y) for x, y in coords]
        route = read_route(dxf_bytes(points), "route.dxf", crs="EPSG:3067")
        self.check(district, reference, route)

    def test_dxf_in_millimetres_is_scaled(self, district, reference, coords):
        to_local = Transformer.from_crs(4326, 3067, always_xy=True)
        points = [tuple(v * 1000 for v in to_local.transform(x, y)) for x, y in coords]
        route = read_route(dxf_bytes(points, units=4), "route.dxf", crs="EPSG:3067")
        self.check(district, reference, route)


class TestDxf:
    def test_bulges_are_flattened_into_arcs(self):
        # bulge 1 is a half circle: from (0, 0) to (20, 0) it has radius 10
        data = dxf_bytes([(0, 0), (20, 0)], bulges=[1, 0])
        route = read_route(data, "arc.dxf", crs="EPSG:3067")
        assert route.geometry.length == pytest.approx(math.pi * 10, abs=0.02)
        assert route.vertex_count > 20

    def test_a_crs_must_be_given(self):
        with pytest.raises(CrsError) as caught:
            read_route(dxf_bytes([(0, 0), (10, 0)]), "route.dxf")
        assert caught.value.code == "CRS_REQUIRED"

    def test_unitless_drawings_are_taken_as_metres_with_a_warning(self):
        route = read_route(dxf_bytes([(0, 0), (10, 0)], units=0), "r.dxf", crs="EPSG:3067")
        assert [w.code for w in route.warnings] == ["DXF_UNITS_ASSUMED"]

    def test_garbage_is_refused(self):
        with pytest.raises(RouteInputError) as caught:
            read_route(b"0\nSECTION\n2\nNONSENSE\n", "route.dxf", crs="EPSG:3067")
        assert caught.value.code in ("INVALID_DXF", "EMPTY_ROUTE")


class TestShapefileText:
    def test_gbk_attributes_without_cpg_are_read_as_gbk(self, tmp_path):
        gdf = frame([(24.94, 60.17), (24.945, 60.171)], name="电力接入路线", voltage_kv=10.0)
        data = shapefile_zip(gdf, encoding="GBK", with_cpg=False, tmp=tmp_path)
        route = read_route(data, "route.zip")
        assert route.properties["name"] == "电力接入路线"

    def test_utf8_attributes_without_cpg_stay_utf8(self, tmp_path):
        gdf = frame([(24.94, 60.17), (24.945, 60.171)], name="电力接入路线")
        data = shapefile_zip(gdf, encoding="UTF-8", with_cpg=False, tmp=tmp_path)
        assert read_route(data, "route.zip").properties["name"] == "电力接入路线"

    def test_no_prj_needs_a_declared_crs(self, tmp_path):
        gdf = frame([(24.94, 60.17), (24.945, 60.171)])
        data = shapefile_zip(gdf, with_prj=False, tmp=tmp_path)
        with pytest.raises(CrsError) as caught:
            read_route(data, "route.zip")
        assert caught.value.code == "CRS_REQUIRED"
        assert read_route(data, "route.zip", crs="EPSG:4326").crs == "EPSG:4326"

    def test_a_declared_crs_that_contradicts_the_prj_is_refused(self, tmp_path):
        data = shapefile_zip(frame([(24.94, 60.17), (24.945, 60.171)]), tmp=tmp_path)
        with pytest.raises(CrsError) as caught:
            read_route(data, "route.zip", crs="EPSG:3067")
        assert caught.value.code == "CRS_CONFLICT"


class TestUnsafeXml:
    DOCTYPE = (
        b'<?xml version="1.0"?><!DOCTYPE kml [<!ENTITY x "boom">]>'
        b'<kml xmlns="http://www.opengis.net/kml/2.2"><Document>&x;</Document></kml>'
    )
    EXTERNAL = b'<?xml version="1.0"?><!DOCTYPE gpx SYSTEM "file:///etc/passwd"><gpx/>'

    @pytest.mark.parametrize(("data", "name"), [(DOCTYPE, "r.kml"), (EXTERNAL, "r.gpx")])
    def test_doctype_and_entities_are_refused_before_parsing(self, data, name):
        with pytest.raises(RouteInputError) as caught:
            read_route(data, name)
        assert caught.value.code == "UNSAFE_XML"

    def test_a_kmz_cannot_smuggle_one_in(self):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("doc.kml", self.DOCTYPE)
        with pytest.raises(RouteInputError) as caught:
            read_route(buffer.getvalue(), "r.kmz")
        assert caught.value.code == "UNSAFE_XML"

    def test_malformed_xml_is_named(self):
        with pytest.raises(RouteInputError) as caught:
            read_route(b"<kml><Document>", "r.kml")
        assert caught.value.code == "INVALID_XML"


class TestLimitsAndShape:
    def test_too_many_vertices_are_refused(self, district):
        x0, y0 = example()["geometry"]["coordinates"][0]
        coords = [[x0 + i * 1e-7, y0] for i in range(district.settings.max_vertices + 1)]
        with pytest.raises(RouteInputError) as caught:
            district.classify({"type": "LineString", "coordinates": coords}, facts=FACTS)
        assert caught.value.code == "TOO_MANY_VERTICES"

    def test_self_crossing_routes_are_screened_with_a_warning(self, district):
        (x0, y0), (x1, y1) = example()["geometry"]["coordinates"][:2]
        loop = [[x0, y0], [x1, y1], [x1 + 0.0002, y0], [x0 - 0.0001, y1]]
        decision = district.classify({"type": "LineString", "coordinates": loop}, facts=FACTS)
        assert "ROUTE_SELF_CROSSING" in {w.code for w in decision.warnings}

    def test_heights_are_dropped_with_a_warning(self, district):
        route = example()
        coords = route["geometry"]["coordinates"]
        route["geometry"]["coordinates"] = [coords[0] + [12.5], *coords[1:]]
        decision = district.classify(route, facts=FACTS)
        assert decision.warnings[0].code == "HEIGHTS_DROPPED"

    def test_the_geojson_crs_member_is_refused_the_same_way_from_a_file(self):
        data = json.dumps(example() | {"crs": {"type": "name"}}).encode()
        with pytest.raises(CrsError) as caught:
            read_route(data, "route.geojson")
        assert caught.value.code == "GEOJSON_CRS_MEMBER"

    def test_unknown_suffix_is_named(self):
        with pytest.raises(RouteInputError) as caught:
            read_route(b"x", "route.docx")
        assert caught.value.code == "UNKNOWN_FORMAT"


# --- a tiny district in China, for the Chinese coordinate systems ------------------------

GUANGZHOU_CRS = "EPSG:4547"  # CGCS2000 / 3-degree Gauss-Kruger CM 114E
WGS_ROUTE = [(113.2600, 23.1300), (113.2640, 23.1320)]


@pytest.fixture(scope="module")
def guangzhou(tmp_path_factory):
    """A district around Guangzhou: one branch road across the route and one tree."""
    root = tmp_path_factory.mktemp("guangzhou")
    to_local = Transformer.from_crs(4326, GUANGZHOU_CRS, always_xy=True)
    line = LineString([to_local.transform(x, y) for x, y in WGS_ROUTE])
    middle = line.interpolate(0.5, normalized=True)
    road = LineString([(middle.x - 20, middle.y + 20), (middle.x + 20, middle.y - 20)]).buffer(
        3.5, cap_style="flat"
    )
    tree_at = line.interpolate(0.2, normalized=True)
    store = root / "store.gpkg"

    def layer(name, rows, geometry, **columns):
        gdf = gpd.GeoDataFrame(rows, geometry=geometry, crs=GUANGZHOU_CRS)
        pyogrio.write_dataframe(gdf, store, layer=name, **columns)

    layer("roads", {"feature_id": ["road/1"], "kind": ["branch"], "name": ["test road"],
                    "handover_date": ["2010-01-01"], "major_repair_date": ["2012-01-01"],
                    "traffic_volume": [100.0]}, [road])  # fmt: skip
    layer("bridges", {"feature_id": [], "kind": []}, [])
    layer("green", {"feature_id": [], "kind": []}, [])
    layer("trees", {"feature_id": ["tree/1"], "kind": ["tree"], "crown_diameter_m": [4.0]},
          [Point(tree_at.x + 1.0, tree_at.y)])  # fmt: skip
    bounds = line.buffer(2000).bounds
    layer("coverage", {"district_id": ["gz"]}, [box(*bounds)])
    (root / "district.toml").write_text(
        '[district]\nid = "guangzhou-test"\nname = "test"\ncrs = "EPSG:4547"\n'
        f'store = "store.gpkg"\nrules = "{RULES.as_posix()}"\n',
        encoding="utf-8",
    )
    return load_district(root)


@pytest.fixture(scope="module")
def gz_reference(guangzhou):
    route = {"type": "LineString", "coordinates": [list(p) for p in WGS_ROUTE]}
    decision = guangzhou.classify(route, facts=FACTS)
    assert conflict_ids(decision) == ["road/1", "tree/1"]
    return decision


def gz_check(district, reference, route, **options):
    decision = district.classify(route, facts=FACTS, **options)
    assert conflict_ids(decision) == conflict_ids(reference)
    assert decision.screening.length_m == pytest.approx(reference.screening.length_m, abs=0.03)
    return decision


def projected(crs: str, north_first=False, offset=0.0):
    to = Transformer.from_crs(4326, crs, always_xy=True)
    points = [list(to.transform(x, y)) for x, y in WGS_ROUTE]
    points = [[x + offset, y] for x, y in points]
    if north_first:
        points = [[y, x] for x, y in points]
    return {"type": "LineString", "coordinates": points}


class TestChineseCoordinateSystems:
    def test_cgcs2000_geographic(self, guangzhou, gz_reference):
        route = {"type": "LineString", "coordinates": [list(p) for p in WGS_ROUTE]}
        gz_check(guangzhou, gz_reference, route, crs="EPSG:4490")

    def test_gauss_kruger_without_zone_number_east_first(self, guangzhou, gz_reference):
        decision = gz_check(guangzhou, gz_reference, projected("EPSG:4547"), crs="EPSG:4547")
        assert "AXES_NORTH_FIRST" not in {w.code for w in decision.warnings}

    def test_gauss_kruger_as_surveyors_write_it_north_first(self, guangzhou, gz_reference):
        route = projected("EPSG:4547", north_first=True)
        decision = gz_check(guangzhou, gz_reference, route, crs="EPSG:4547")
        assert "AXES_NORTH_FIRST" in {w.code for w in decision.warnings}

    def test_gauss_kruger_with_zone_number_in_the_easting(self, guangzhou, gz_reference):
        # zone 38 (CM 114E) with its number in front of the easting: EPSG:4526
        route = projected("EPSG:4526")
        assert route["coordinates"][0][0] > 38_000_000
        gz_check(guangzhou, gz_reference, route, crs="EPSG:4526")

    def test_a_zone_numbered_easting_under_the_plain_code_gets_a_hint(self, guangzhou):
        with pytest.raises(RouteInputError) as caught:
            guangzhou.classify(projected("EPSG:4526"), crs="EPSG:4547", facts=FACTS)
        assert caught.value.code == "OUTSIDE_CRS_AREA"
        assert "EPSG:4526" in str(caught.value)

    def test_gcj02_drawings_are_converted_back(self, guangzhou, gz_reference):
        # an independent implementation (eviltransform) makes the GCJ-02 drawing
        shifted = [list(eviltransform.wgs2gcj(y, x))[::-1] for x, y in WGS_ROUTE]
        route = {"type": "LineString", "coordinates": shifted}
        decision = gz_check(guangzhou, gz_reference, route, datum="gcj02")
        assert "DATUM_CONVERTED" in {w.code for w in decision.warnings}
        # undone offset is hundreds of metres; without the datum the route moves
        plain = guangzhou.classify(route, facts=FACTS)
        assert conflict_ids(plain) != conflict_ids(gz_reference)

    def test_bd09_drawings_are_converted_back(self, guangzhou, gz_reference):
        shifted = [list(eviltransform.wgs2bd(y, x))[::-1] for x, y in WGS_ROUTE]
        route = {"type": "LineString", "coordinates": shifted}
        gz_check(guangzhou, gz_reference, route, datum="bd09")

    def test_datum_conversion_is_well_under_a_metre(self):
        from geo.datum import to_wgs84
        from geo.route import parse_route

        shifted = [list(eviltransform.wgs2gcj(y, x))[::-1] for x, y in WGS_ROUTE]
        back = to_wgs84(parse_route({"type": "LineString", "coordinates": shifted}), "gcj02")
        to_local = Transformer.from_crs(4326, GUANGZHOU_CRS, always_xy=True)
        for (x, y), (bx, by) in zip(WGS_ROUTE, back.geometry.geoms[0].coords, strict=True):
            ex, ey = to_local.transform(x, y)
            gx, gy = to_local.transform(bx, by)
            assert math.hypot(ex - gx, ey - gy) < 0.05

    def test_a_datum_on_projected_coordinates_is_refused(self, guangzhou):
        with pytest.raises(CrsError) as caught:
            guangzhou.classify(projected("EPSG:4547"), crs="EPSG:4547", datum="gcj02",
                               facts=FACTS)  # fmt: skip
        assert caught.value.code == "DATUM_NEEDS_LONLAT"
