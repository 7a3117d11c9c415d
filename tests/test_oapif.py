"""The district's layers as OGC API – Features: through the ASGI app, and through GDAL.

The contract test reads collections from the real running server with GDAL's OAPIF
driver (through pyogrio), the way QGIS does.
"""

from __future__ import annotations

import os
from urllib.parse import parse_qs, urlsplit

import geopandas as gpd
import pyogrio
import pytest
import shapely
from fastapi.testclient import TestClient
from shapely.geometry import shape

from api.app import create_app
from api.features import (
    CONFORMANCE,
    CRS84,
    Collection,
    CollectionInfo,
    Collections,
    Conformance,
    FeaturePage,
    Landing,
)
from api.settings import Settings

GEOJSON = "application/geo+json"
NATIVE = "http://www.opengis.net/def/crs/EPSG/0/3067"
# a box around the bundled example route, in CRS84 and in the district's EPSG:3067
ROUTE_BBOX = "24.9490,60.1670,24.9500,60.1680"


@pytest.fixture(scope="module")
def app():
    return create_app(settings=Settings(tiles_url="", items_limit=50, items_max_limit=500))


@pytest.fixture(scope="module")
def client(app):
    return TestClient(app)


def links(body) -> dict[str, dict]:
    return {link["rel"]: link for link in body["links"]}


def test_landing_page_links_what_qgis_needs(client):
    body = client.get("/").json()
    Landing.model_validate(body)
    rels = links(body)
    assert rels["service-desc"]["href"].endswith("/openapi.json")
    assert rels["service-desc"]["type"].startswith("application/vnd.oai.openapi+json")
    assert rels["data"]["href"].endswith("/collections")
    assert rels["conformance"]["href"].endswith("/conformance")
    for rel in ("service-desc", "data", "conformance", "service-doc"):
        assert client.get(rels[rel]["href"]).status_code == 200


def test_conformance_declares_core_geojson_and_crs(client):
    body = Conformance.model_validate(client.get("/conformance").json())
    assert body.conformsTo == CONFORMANCE


def test_collections_describe_each_layer(client, app):
    body = client.get("/collections").json()
    Collections.model_validate(body)
    ids = [c["id"] for c in body["collections"]]
    assert ids == [*app.state.service.district.layers, "coverage"]
    roads = client.get("/collections/roads").json()
    CollectionInfo.model_validate(roads)
    assert roads["crs"] == [CRS84, NATIVE] and roads["storageCrs"] == NATIVE
    west, south, east, north = roads["extent"]["spatial"]["bbox"][0]
    assert 24.9 < west < east < 25.0 and 60.1 < south < north < 60.2
    assert links(roads)["items"]["type"] == GEOJSON


def test_items_page_through_every_feature_with_next_links(client, app):
    expected = len(app.state.service.district.layers["trees"])
    url, seen, pages = "/collections/trees/items?limit=200", [], 0
    while url:
        response = client.get(url)
        assert response.status_code == 200
        assert response.headers["content-type"] == GEOJSON
        body = response.json()
        FeaturePage.model_validate(body)
        assert body["numberMatched"] == expected
        assert body["numberReturned"] == len(body["features"]) <= 200
        seen += [f["id"] for f in body["features"]]
        url = links(body).get("next", {}).get("href")
        pages += 1
    assert pages == -(-expected // 200)
    assert len(seen) == len(set(seen)) == expected


def test_items_default_and_capped_limits(client):
    assert client.get("/collections/roads/items").json()["numberReturned"] == 50
    assert client.get("/collections/roads/items?limit=100000").json()["numberReturned"] == 500


def test_items_in_crs84_filtered_by_bbox(client):
    body = client.get(f"/collections/roads/items?bbox={ROUTE_BBOX}&limit=500").json()
    box = shapely.box(*map(float, ROUTE_BBOX.split(",")))
    assert 0 < body["numberMatched"] < 100
    assert all(shape(f["geometry"]).intersects(box) for f in body["features"])
    assert "way/4243036" in {f["id"] for f in body["features"]}
    next_link = links(body).get("next")
    assert next_link is None or parse_qs(urlsplit(next_link["href"]).query)["bbox"]


def test_items_in_the_district_crs_on_request(client):
    crs84 = client.get(f"/collections/roads/items?bbox={ROUTE_BBOX}&limit=500")
    native = client.get(f"/collections/roads/items?bbox={ROUTE_BBOX}&limit=500&crs={NATIVE}")
    assert crs84.headers["content-crs"] == f"<{CRS84}>"
    assert native.headers["content-crs"] == f"<{NATIVE}>"
    x, y = shape(native.json()["features"][0]["geometry"]).representative_point().coords[0]
    assert 380_000 < x < 390_000 and 6_670_000 < y < 6_680_000
    assert native.json()["numberMatched"] == crs84.json()["numberMatched"]

    west, south, east, north = shapely.MultiPolygon(
        [shape(f["geometry"]) for f in native.json()["features"]]
    ).bounds
    box = f"{west},{south},{east},{north}"
    by_native_bbox = client.get(f"/collections/roads/items?bbox={box}&bbox-crs={NATIVE}").json()
    assert by_native_bbox["numberMatched"] >= native.json()["numberMatched"]


def test_a_feature_whose_id_has_a_slash_by_encoded_and_literal_path(client):
    encoded = client.get("/collections/roads/items/way%2F4243036")
    literal = client.get("/collections/roads/items/way/4243036")
    assert encoded.status_code == literal.status_code == 200
    assert encoded.headers["content-type"] == GEOJSON
    assert encoded.json() == literal.json()
    body = encoded.json()
    assert body["id"] == "way/4243036" and body["properties"]["name"] == "Fabianinkatu"
    self_link = links(body)["self"]["href"]
    assert self_link.endswith("/collections/roads/items/way%2F4243036")
    assert client.get(self_link).json()["id"] == "way/4243036"


def test_a_northing_first_crs_is_served_in_its_axis_order():
    # CGCS2000 Gauss-Krüger CRSs, as Chinese districts use, put northing first
    frame = gpd.GeoDataFrame(
        {"feature_id": ["node/1"], "name": ["a"]},
        geometry=[shapely.Point(500_000.0, 3_500_000.0)],  # easting, northing
        crs="EPSG:4547",
    )
    collection = Collection("trees", "test", frame, "EPSG:4547")
    native = "http://www.opengis.net/def/crs/EPSG/0/4547"
    assert collection.features([0], native)[0]["geometry"]["coordinates"] == (
        3_500_000.0,
        500_000.0,
    )
    lon, lat = collection.features([0], CRS84)[0]["geometry"]["coordinates"]
    assert 113.9 < lon < 114.1 and 31 < lat < 32
    from api.features import _to_crs84

    west, south, east, north = _to_crs84(
        [3_499_990.0, 499_990.0, 3_500_010.0, 500_010.0], collection, native
    )
    assert west < lon < east and south < lat < north
    assert list(collection.select([west, south, east, north])) == [0]


def test_bbox_selection_equals_testing_every_feature_in_crs84(app):
    """The bbox is moved into the native CRS to query the index; the answer must be the
    features that meet the bbox in CRS84, found the plain way."""
    import numpy as np

    rng = np.random.default_rng(7)
    hits = 0
    for name in ("roads", "trees", "green", "coverage"):
        collection = app.state.service.collections[name]
        lonlat = gpd.GeoSeries(collection.geometries, crs=collection.native_crs).to_crs(4326)
        west, south, east, north = collection.bbox
        for _ in range(15):
            x = np.sort(rng.uniform(west - 0.002, east + 0.002, 2))
            y = np.sort(rng.uniform(south - 0.002, north + 0.002, 2))
            if rng.random() < 0.2:  # a bbox that is a line or a point
                x[1] = x[0]
            bbox = [x[0], y[0], x[1], y[1]]
            expected = np.flatnonzero(lonlat.intersects(shapely.box(*bbox)).to_numpy())
            assert list(collection.select(bbox)) == list(expected), (name, bbox)
            hits += len(expected)
    assert hits > 500
    assert list(collection.select([0.0, 0.0, 1.0, 1.0])) == []  # far from the district
    assert len(collection.select([-180.0, -90.0, 180.0, 90.0])) == len(collection)


@pytest.mark.parametrize(
    ("url", "status", "code", "where"),
    [
        ("/collections/rivers", 404, "NOT_FOUND", "id"),
        ("/collections/rivers/items", 404, "NOT_FOUND", "id"),
        ("/collections/roads/items/way/1", 404, "NOT_FOUND", "featureId"),
        ("/collections/roads/items?bbox=1,2,3", 400, "INVALID_BBOX", "bbox"),
        ("/collections/roads/items?bbox=a,b,c,d", 400, "INVALID_BBOX", "bbox"),
        ("/collections/roads/items?bbox=3,2,1,4", 400, "INVALID_BBOX", "bbox"),
        ("/collections/roads/items?bbox=nan,1,2,3", 400, "INVALID_BBOX", "bbox"),
        ("/collections/roads/items?limit=0", 400, "INVALID_PARAMETER", "limit"),
        ("/collections/roads/items?offset=-1", 400, "INVALID_PARAMETER", "offset"),
        ("/collections/roads/items?crs=EPSG:4326", 400, "INVALID_CRS_PARAMETER", "crs"),
    ],
)
def test_bad_requests_are_problems(client, url, status, code, where):
    response = client.get(url)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert (response.json()["code"], response.json()["where"]) == (code, where)


# -- the contract: GDAL's OAPIF driver, as QGIS uses it, against the running server


def require_oapif_driver():
    if "OAPIF" not in pyogrio.list_drivers():
        if os.environ.get("CI") == "true":
            pytest.fail("GDAL's OAPIF driver is missing from pyogrio's GDAL")
        pytest.skip("GDAL's OAPIF driver is missing from pyogrio's GDAL")


def test_gdal_reads_a_collection_from_the_running_server(live_server):
    require_oapif_driver()
    url, _ = live_server
    layers = {str(name) for name, _ in pyogrio.list_layers(f"OAPIF:{url}")}
    assert {"roads", "bridges", "green", "trees", "coverage"} <= layers

    # GDAL takes the storage CRS the collection declares (Part 2), as QGIS offers it;
    # a page size under the layer size makes it follow the next links
    trees = pyogrio.read_dataframe(f"OAPIF:{url}", layer="trees", PAGE_SIZE=100)
    assert len(trees) == 649 and trees.crs.to_epsg() == 3067
    assert trees["feature_id"].is_unique and trees["feature_id"].str.startswith("node/").all()
    west, south, east, north = trees.total_bounds
    assert 380_000 < west < east < 390_000 and 6_670_000 < south < north < 6_680_000


def test_gdal_reads_a_collection_in_crs84(live_server):
    require_oapif_driver()
    url, _ = live_server
    trees = pyogrio.read_dataframe(f"OAPIF:{url}", layer="trees", CRS="OGC:CRS84")
    assert len(trees) == 649 and trees.crs.equals("OGC:CRS84")
    west, south, east, north = trees.total_bounds
    assert 24.9 < west < east < 25.0 and 60.1 < south < north < 60.2


def test_gdal_filters_a_collection_by_bbox_on_the_server(live_server):
    require_oapif_driver()
    url, log_path = live_server
    box = shapely.box(*map(float, ROUTE_BBOX.split(",")))
    native = gpd.GeoSeries([box], crs="OGC:CRS84").to_crs(3067).total_bounds
    roads = pyogrio.read_dataframe(f"OAPIF:{url}", layer="roads", bbox=tuple(native))
    assert 0 < len(roads) < 100
    assert "way/4243036" in set(roads["feature_id"])
    # the filter ran on the server: GDAL sent the box in the district's CRS
    requests = [line for line in log_path.read_text().splitlines() if "/roads/items?" in line]
    assert any("bbox=" in line and "bbox-crs=" in line for line in requests), requests
