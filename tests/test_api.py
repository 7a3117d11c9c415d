"""The intake API through the ASGI app: answers, models, errors as problems, logging."""

from __future__ import annotations

import copy
import json
import logging
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from shapely.geometry import shape

from api import models
from api.app import create_app
from api.problems import STATUSES, Problem
from api.settings import Settings
from geo.errors import NoTrackError, RoutecheckError

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = models.example_route()
SUBMITTED = "2026-09-30T10:00:00+08:00"


@pytest.fixture(scope="module")
def app():
    return create_app(settings=Settings(tiles_url="", max_body_bytes=200_000))


@pytest.fixture(scope="module")
def client(app):
    return TestClient(app)


def problem(response, status: int, code: str) -> Problem:
    """Check a response is the problem expected, valid by the API's own model."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = Problem.model_validate(response.json())
    assert (body.status, body.code) == (status, code)
    assert body.type == f"urn:routecheck:problem:{code}"
    return body


def with_geometry(coordinates, kind="LineString"):
    route = copy.deepcopy(EXAMPLE)
    route["geometry"] = {"type": kind, "coordinates": coordinates}
    return route


def test_classify_answers_the_decision_the_cli_gives(client, app):
    response = client.post("/v1/classify", json=EXAMPLE, params={"submitted": SUBMITTED})
    assert response.status_code == 200, response.text
    body = models.Decision.model_validate(response.json()).model_dump()

    district = app.state.service.district
    expected = district.classify(EXAMPLE, submitted=body_time(SUBMITTED)).to_dict()
    skip = ("decision_id", "district", "version")
    answered = {k: v for k, v in response.json().items() if k not in skip}
    assert answered == json.loads(json.dumps(expected))
    assert body["version"] == app.state.service.version == response.headers["Routecheck-Version"]
    assert body["district"] == {"id": "helsinki-sample", "name": district.settings.name}
    assert re.fullmatch(r"d-[0-9a-f]{32}", body["decision_id"])
    assert body["track"]["code"] == "parallel_approval"
    assert "way/4243036" in {c["feature_id"] for c in body["conflicts"]}


def test_decisions_are_answered_as_the_response_model_would_write_them(client):
    """The classify answer skips FastAPI's response-model pass, so hold it to the model:
    validating and dumping it must give back exactly what was sent."""
    routes = sorted((ROOT / "tests" / "data" / "routes").glob("*.geojson"))
    answered = 0
    for path in routes:
        route = json.loads(path.read_text(encoding="utf-8"))
        response = client.post("/v1/classify", json=route, params={"submitted": SUBMITTED})
        if response.status_code != 200:
            continue
        body = response.json()
        assert models.Decision.model_validate(body).model_dump(mode="json") == body, path.name
        answered += 1
    assert answered >= 5


def body_time(text: str):
    import datetime as dt

    return dt.datetime.fromisoformat(text)


def test_each_decision_is_kept_as_a_record_under_its_id(client):
    from api.records import RecordStore

    response = client.post("/v1/classify", json=EXAMPLE, params={"submitted": SUBMITTED})
    body = response.json()
    record = RecordStore().get(body["decision_id"])
    assert record.decision == {k: v for k, v in body.items() if k not in ("decision_id", "version")}
    assert record.inputs["submitted"] == "2026-09-30T10:00:00+08:00"
    assert record.inputs["properties"]["customer"] == "small_micro"


def test_decision_id_is_a_fingerprint_of_route_facts_and_time(client):
    def decision_id(route, submitted=SUBMITTED):
        response = client.post("/v1/classify", json=route, params={"submitted": submitted})
        return response.json()["decision_id"]

    first = decision_id(EXAMPLE)
    assert decision_id(EXAMPLE) == first
    other_facts = copy.deepcopy(EXAMPLE)
    other_facts["properties"]["capacity_kw"] = 150
    assert decision_id(other_facts) != first
    assert decision_id(EXAMPLE, "2026-10-08T10:00:00+08:00") != first


def test_classify_takes_a_feature_collection_of_segments_and_geo_json(client):
    coordinates = EXAMPLE["geometry"]["coordinates"]
    segments = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": EXAMPLE["properties"],
             "geometry": {"type": "LineString", "coordinates": coordinates[:5]}},
            {"type": "Feature", "properties": {},
             "geometry": {"type": "LineString", "coordinates": coordinates[4:]}},
        ],
    }  # fmt: skip
    response = client.post(
        "/v1/classify",
        content=json.dumps(segments),
        headers={"Content-Type": "application/geo+json; charset=utf-8"},
    )
    assert response.status_code == 200, response.text
    whole = client.post("/v1/classify", json=EXAMPLE).json()
    assert response.json()["route"]["length_m"] == pytest.approx(whole["route"]["length_m"])


def test_conflicts_are_geojson_zones_in_crs84(client):
    response = client.post("/v1/conflicts", json={"type": "Feature", "properties": {},
                                                   "geometry": EXAMPLE["geometry"]})  # fmt: skip
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/geo+json"
    body = models.Conflicts.model_validate(response.json())
    decision = client.post("/v1/classify", json=EXAMPLE).json()
    assert [f.id for f in body.features] == [c["feature_id"] for c in decision["conflicts"]]
    for feature in body.features:
        assert feature.geometry["type"] in ("Polygon", "MultiPolygon")
        west, south, east, north = shape(feature.geometry).bounds
        assert 24.9 < west < east < 25.0 and 60.1 < south < north < 60.2
        assert feature.properties.feature_id == feature.id


def test_preview_is_a_map_page_with_only_local_assets(client):
    response = client.post("/v1/preview", json=EXAMPLE)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert "并联限时审批" in page and "leaflet" in page
    links = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert links and all(link.startswith("/static/") for link in links), links


def test_districts_lists_crs_coverage_rules_and_layer_versions(client, app):
    response = client.get("/v1/districts")
    assert response.status_code == 200
    (district,) = [models.DistrictInfo.model_validate(d) for d in response.json()]
    loaded = app.state.service.district
    assert district.id == "helsinki-sample" and district.crs == "EPSG:3067"
    assert district.coverage["type"] == "Polygon"
    west, south, east, north = district.bbox
    assert 24.9 < west < east < 25.0 and 60.1 < south < north < 60.2
    assert district.rules.version == loaded.rules.identity.version
    layers = {layer.id: layer for layer in district.layers}
    assert {"roads", "green", "trees", "coverage"} <= set(layers)
    assert layers["roads"].features == len(loaded.layers["roads"])
    assert all(re.fullmatch(r"[0-9a-f]{16}", layer.version) for layer in district.layers)


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert models.Health.model_validate(response.json()).district == "helsinki-sample"


# -- errors: every input problem has its status, code and the place it names


def post(client, body: bytes | str, content_type="application/json", **params):
    headers = {"Content-Type": content_type} if content_type else {}
    return client.post("/v1/classify", content=body, headers=headers, params=params)


@pytest.mark.parametrize(
    ("body", "code", "where"),
    [
        ('{"type": "Feature", ', "INVALID_JSON", "line 1 column 21"),
        ('{"type": "Feature", "geometry": {"type": "LineString", "coordinates": [[NaN, 60]]}}',
         "INVALID_JSON", None),
        ("   ", "EMPTY_BODY", None),
        ("[" * 100_000 + "]" * 100_000, "INVALID_JSON", None),
    ],
)  # fmt: skip
def test_malformed_bodies_are_400(client, body, code, where):
    found = problem(post(client, body), 400, code)
    assert found.where == where


def test_a_body_that_is_not_utf8_is_400(client):
    problem(post(client, b"\xff\xfe{}"), 400, "INVALID_JSON")


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_bodies_not_sent_as_json_are_415(client, content_type):
    found = problem(post(client, json.dumps(EXAMPLE), content_type), 415, "UNSUPPORTED_MEDIA_TYPE")
    assert found.where == "Content-Type"


def test_declared_oversize_bodies_are_413_before_reading(client):
    body = json.dumps(with_geometry([[24.95, 60.167]] * 20_000))
    found = problem(post(client, body), 413, "PAYLOAD_TOO_LARGE")
    assert "200000 bytes" in found.detail


def test_streamed_oversize_bodies_are_413(client):
    def chunks():
        for _ in range(50):
            yield b" " * 10_000

    response = client.post(
        "/v1/classify", content=chunks(), headers={"Content-Type": "application/json"}
    )
    problem(response, 413, "PAYLOAD_TOO_LARGE")


@pytest.mark.parametrize(
    ("route", "params", "code", "where"),
    [
        (with_geometry([[24.9494, 60.1679], [1e999, 60.1671]]), {}, "NON_FINITE",
         "geometry.coordinates[1]"),
        (with_geometry([24.9494, 60.1679], "Point"), {}, "NOT_A_LINE", "geometry"),
        (with_geometry([[24.9494, 60.1679], [24.9494, 60.1679]]), {}, "DEGENERATE_LINE",
         "geometry.coordinates"),
        (with_geometry([[24.9494, "60.1679"], [24.9495, 60.1671]]), {}, "INVALID_ROUTE",
         "geometry.coordinates[0]"),
        ({"type": "Feature", "geometry": EXAMPLE["geometry"], "properties": {"customer": "other"}},
         {}, "INVALID_FACTS", "voltage_kv"),
        (EXAMPLE, {"crs": "EPSG:999999"}, "INVALID_CRS", "crs"),
        (with_geometry([[121.47, 31.23], [121.48, 31.24]]), {}, "ROUTE_OUTSIDE_COVERAGE", None),
        (with_geometry([[60.1679, 24.9494], [60.1671, 24.9495]]), {}, "AXES_SWAPPED", None),
        ({"type": "Feature", "geometry": EXAMPLE["geometry"], "crs": {}}, {},
         "GEOJSON_CRS_MEMBER", "crs"),
    ],
)  # fmt: skip
def test_routes_that_cannot_be_screened_are_422_naming_the_place(
    client, route, params, code, where
):
    # 1e999 is valid JSON that no float can hold: json.dumps writes it as Infinity
    body = json.dumps(route).replace("Infinity", "1e999")
    found = problem(post(client, body, **params), 422, code)
    assert found.where == where
    if where:
        assert where in found.detail


def test_bad_query_parameters_are_400_naming_them(client):
    found = problem(post(client, json.dumps(EXAMPLE), submitted="last tuesday"), 400,
                    "INVALID_PARAMETER")  # fmt: skip
    assert found.where == "submitted"


def test_unknown_paths_and_methods_are_problems(client):
    problem(client.get("/v1/nothing"), 404, "NOT_FOUND")
    problem(client.get("/v1/classify"), 405, "METHOD_NOT_ALLOWED")


@pytest.mark.parametrize("error_class", list(STATUSES))
def test_every_error_class_maps_to_its_status(app, monkeypatch, error_class):
    status, title = STATUSES[error_class]
    district = app.state.service.district

    def fail(*args, **kwargs):
        raise error_class("a problem at /srv/secret/path", where="$.x")

    monkeypatch.setattr(district, "classify", fail)
    response = TestClient(app).post("/v1/classify", json=EXAMPLE)
    body = problem(response, status, error_class.code)
    assert body.title == title
    if status >= 500:
        assert "/srv/secret" not in response.text
    else:
        assert body.detail == "a problem at /srv/secret/path (at $.x)" and body.where == "$.x"


def test_statuses_are_client_errors_except_for_faults_of_the_district_itself():
    # a broken district or rules that fail on its data are the service's fault, not the
    # sender's; rules that simply do not cover the facts (NoTrackError) are a 422
    faults = {"DistrictError", "RulesError"}
    for error_class, (status, _) in STATUSES.items():
        assert issubclass(error_class, RoutecheckError)
        assert status in (400, 401, 403, 404, 409, 413, 415, 422) or error_class.__name__ in faults
    assert STATUSES[NoTrackError][0] == 422


def test_an_unexpected_fault_is_a_500_problem_and_the_server_goes_on(app, monkeypatch):
    district = app.state.service.district
    monkeypatch.setattr(district, "screen", lambda route: 1 / 0)
    client = TestClient(app, raise_server_exceptions=False)
    body = problem(client.post("/v1/conflicts", json=EXAMPLE), 500, "INTERNAL_ERROR")
    assert "ZeroDivision" not in body.detail
    monkeypatch.undo()
    assert client.post("/v1/conflicts", json=EXAMPLE).status_code == 200


def test_one_log_line_per_request_with_length_conflicts_track_and_time(client, caplog):
    with caplog.at_level(logging.INFO, logger="routecheck.api"):
        client.post("/v1/classify", json=EXAMPLE)
    lines = [r.getMessage() for r in caplog.records if r.name == "routecheck.api"]
    assert len(lines) == 1
    assert re.fullmatch(
        r"POST /v1/classify 200 [\d.]+ ms route_m=86\.0 conflicts=\d+ "
        r"track=parallel_approval decision=d-[0-9a-f]{32} version=2022\.1\+[0-9a-f]{12}",
        lines[0],
    ), lines[0]


# -- the OpenAPI page


def test_openapi_documents_the_route_body_with_the_bundled_example(client):
    spec = client.get("/openapi.json").json()
    for path in ("/v1/classify", "/v1/conflicts", "/v1/preview"):
        body = spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]
        assert body["examples"]["sample"]["value"] == EXAMPLE
        facts = body["schema"]["oneOf"][0]["properties"]["properties"]["properties"]
        assert {"voltage_kv", "customer", "three_zero", "capacity_kw"} <= set(facts)
    responses = spec["paths"]["/v1/classify"]["post"]["responses"]
    assert {"200", "400", "413", "415", "422"} <= set(responses)


def test_the_openapi_example_works_against_the_bundled_district(client):
    spec = client.get("/openapi.json").json()
    example = spec["paths"]["/v1/classify"]["post"]["requestBody"]["content"]["application/json"][
        "examples"
    ]["sample"]["value"]
    assert client.post("/v1/classify", json=example).status_code == 200


def test_openapi_describes_every_field_of_the_api_models(client):
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    ours = [
        "Decision", "Track", "RulesRef", "RouteSummary", "Reason", "Conflict", "Bureau",
        "BureauItem", "DecisionWarning", "DistrictRef", "Conflicts", "ConflictFeature",
        "DistrictInfo", "LayerInfo", "Health", "Problem", "DecisionRecord", "DecisionSummary",
        "DecisionList", "Change", "TrackChange", "Difference", "Rescreen", "RescreenFailure",
        "ReloadRequest", "Reloaded",
    ]  # fmt: skip
    undocumented = [
        f"{name}.{field}"
        for name in ours
        for field, schema in schemas[name]["properties"].items()
        if "description" not in schema
    ]
    assert undocumented == []


def test_the_cli_and_the_api_give_the_same_decision_and_id(client):
    from typer.testing import CliRunner

    from api.cli import app as cli
    from layers.district import sample_district_path

    route = sample_district_path() / "example_route.geojson"
    result = CliRunner().invoke(cli, ["classify", str(route), "--submitted", SUBMITTED])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    answered = client.post("/v1/classify", json=EXAMPLE, params={"submitted": SUBMITTED})
    assert answered.json() == printed


@pytest.mark.parametrize("path", ["/v1/classify", "/v1/conflicts"])
def test_an_unknown_crs_with_a_web_map_datum_is_a_422(client, path):
    # found by schemathesis: the datum check read the CRS before anything had refused it
    response = client.post(path, params={"crs": "null", "datum": "gcj02"}, json=EXAMPLE)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "INVALID_CRS"


@pytest.mark.parametrize("submitted", ["9999-12-31T23:59:00+08:00", "0001-01-01T00:00:00+14:00"])
def test_a_submission_time_no_due_date_can_be_counted_from_is_a_problem(client, submitted):
    response = client.post("/v1/classify", json=EXAMPLE, params={"submitted": submitted})
    assert problem(response, 422, "SUBMITTED_OUT_OF_RANGE").where == "submitted"


def test_a_number_too_long_to_read_is_a_problem(client):
    route = copy.deepcopy(EXAMPLE)
    body = json.dumps(route).replace('"voltage_kv": 0.4', '"voltage_kv": ' + "9" * 5000)
    assert "9" * 5000 in body
    response = client.post("/v1/classify", content=body,
                           headers={"content-type": "application/geo+json"})  # fmt: skip
    problem(response, 400, "INVALID_JSON")
