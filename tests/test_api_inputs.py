"""Route inputs through the API and the CLI: every bad case named, every format screened.

Each validation case is sent both ways and must give the same error code: HTTP 422
with a problem naming it, and exit status 2 with the code on stderr.
"""

from __future__ import annotations

import copy
import io
import json
import zipfile

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api import models
from api.app import create_app
from api.cli import app as cli
from api.problems import Problem
from api.settings import Settings

EXAMPLE = models.example_route()
FIRST, SECOND = EXAMPLE["geometry"]["coordinates"][:2]
SUBMITTED = "2026-09-30T10:00:00+08:00"
runner = CliRunner()


@pytest.fixture(scope="module")
def client():
    return TestClient(create_app(settings=Settings(tiles_url="", max_body_bytes=300_000)))


def route_with(geometry) -> dict:
    route = copy.deepcopy(EXAMPLE)
    route["geometry"] = geometry
    return route


def line(*coordinates):
    return {"type": "LineString", "coordinates": [list(c) for c in coordinates]}


MANY = [[FIRST[0] + i * 1e-8, FIRST[1]] for i in range(5_001)]
CASES = {
    # the positions of a Helsinki route typed latitude first
    "swapped axes": (line(FIRST[::-1], SECOND[::-1]), "AXES_SWAPPED", "latitude, longitude"),
    "outside the district": (line((116.39, 39.90), (116.40, 39.91)), "ROUTE_OUTSIDE_COVERAGE",
                             "m outside the coverage"),
    "leaving the district": (line(FIRST, (24.99, 60.17)), "ROUTE_LEAVES_COVERAGE",
                             "lie outside the coverage"),
    "empty multilinestring": ({"type": "MultiLineString", "coordinates": []}, "EMPTY_ROUTE",
                              "no lines"),
    "null geometry": (None, "EMPTY_ROUTE", "null"),
    "two identical points": (line(FIRST, FIRST), "DEGENERATE_LINE", "two distinct"),
    "too many vertices": ({"type": "LineString", "coordinates": MANY}, "TOO_MANY_VERTICES",
                          "5,001 vertices"),
    "a point": ({"type": "Point", "coordinates": FIRST}, "NOT_A_LINE", "Point"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_bad_route_is_named_by_the_api(client, case):
    geometry, code, words = CASES[case]
    response = client.post("/v1/classify", json=route_with(geometry))
    assert response.status_code == 422, response.text
    body = Problem.model_validate(response.json())
    assert body.code == code
    assert words in body.detail


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_bad_route_is_named_by_the_cli(case):
    geometry, code, words = CASES[case]
    result = runner.invoke(cli, ["classify", "-", "--no-record"],
                           input=json.dumps(route_with(geometry)))  # fmt: skip
    assert result.exit_code == 2
    assert f"[{code}]" in result.stderr
    assert words in result.stderr


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_are_refused_both_ways(client, constant):
    text = json.dumps(route_with(line(FIRST, SECOND))).replace(str(SECOND[0]), constant, 1)
    response = client.post("/v1/classify", content=text,
                           headers={"content-type": "application/geo+json"})  # fmt: skip
    assert response.status_code == 400
    assert constant in response.json()["detail"]
    result = runner.invoke(cli, ["classify", "-", "--no-record"], input=text)
    assert result.exit_code == 2
    assert "[NON_FINITE]" in result.stderr


def test_a_route_longer_than_the_district_allows_is_refused(client):
    # a zigzag inside the district, 20 km in all
    zigzag = [[24.94 + 0.01 * (i % 2), 60.165 + 0.0001 * i] for i in range(40)]
    response = client.post("/v1/classify", json=route_with(line(*zigzag)))
    assert response.json()["code"] == "ROUTE_TOO_LONG"
    assert "m long" in response.json()["detail"]


@pytest.mark.parametrize(
    ("change", "code"),
    [
        (lambda c: [c[0] + [12.0], *c[1:]], "HEIGHTS_DROPPED"),
        (
            lambda c: [*c, [c[0][0] - 0.0001, c[-1][1] + 0.0003], [c[0][0] + 0.0001, c[-1][1]]],
            "ROUTE_SELF_CROSSING",
        ),
    ],
)
def test_oddities_are_screened_with_a_warning(client, change, code):
    coords = EXAMPLE["geometry"]["coordinates"]
    response = client.post("/v1/classify", json=route_with(line(*change(copy.deepcopy(coords)))))
    assert response.status_code == 200, response.text
    assert code in [w["code"] for w in response.json()["warnings"]]


def test_the_crs_member_is_refused_the_same_way_by_api_and_cli(client):
    route = EXAMPLE | {"crs": {"type": "name", "properties": {"name": "EPSG:3067"}}}
    assert client.post("/v1/classify", json=route).json()["code"] == "GEOJSON_CRS_MEMBER"
    result = runner.invoke(cli, ["classify", "-", "--no-record"], input=json.dumps(route))
    assert "[GEOJSON_CRS_MEMBER]" in result.stderr


def test_an_unknown_datum_is_a_bad_request_naming_it(client):
    response = client.post("/v1/classify", json=EXAMPLE, params={"datum": "mars"})
    assert response.status_code == 400
    assert response.json()["where"] == "datum"


class TestUpload:
    def upload(self, client, name, data, **params):
        files = {"file": (name, data, "application/octet-stream")}
        form = {"voltage_kv": "10", "customer": "other"}
        return client.post("/v1/classify/upload", files=files, data=form,
                           params={"submitted": SUBMITTED, **params})  # fmt: skip

    def test_a_kml_upload_decides_like_the_geojson(self, client):
        import geopandas as gpd
        import pyogrio
        from shapely import LineString

        frame = gpd.GeoDataFrame(geometry=[LineString(EXAMPLE["geometry"]["coordinates"])],
                                 crs="EPSG:4326")  # fmt: skip
        buffer = io.BytesIO()
        pyogrio.write_dataframe(frame, buffer, driver="KML")
        uploaded = self.upload(client, "route.kml", buffer.getvalue())
        assert uploaded.status_code == 200, uploaded.text
        sent = client.post("/v1/classify", json=EXAMPLE, params={
            "submitted": SUBMITTED}).json()  # fmt: skip
        assert uploaded.json()["facts"]["voltage_kv"] == 10
        ids = sorted(c["feature_id"] for c in uploaded.json()["conflicts"])
        assert ids == sorted(c["feature_id"] for c in sent["conflicts"])

    def test_xml_with_a_doctype_is_refused(self, client):
        data = b'<?xml version="1.0"?><!DOCTYPE kml [<!ENTITY a "b">]><kml>&a;</kml>'
        response = self.upload(client, "route.kml", data)
        assert response.status_code == 422
        assert response.json()["code"] == "UNSAFE_XML"

    def test_a_file_over_the_limit_is_413(self, client):
        response = self.upload(client, "route.geojson", b" " * 400_000)
        assert response.status_code == 413

    def test_a_dxf_needs_its_crs(self, client):
        import ezdxf

        document = ezdxf.new()
        document.modelspace().add_lwpolyline([(0, 0), (10, 0)])
        stream = io.StringIO()
        document.write(stream)
        response = self.upload(client, "route.dxf", stream.getvalue().encode())
        assert response.status_code == 422
        assert response.json()["code"] == "CRS_REQUIRED"

    def test_a_zip_that_is_not_a_shapefile_is_named(self, client):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("notes.txt", "hello")
        response = self.upload(client, "route.zip", buffer.getvalue())
        assert response.json()["code"] == "INVALID_SHAPEFILE"
