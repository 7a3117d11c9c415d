"""Batch screening: array queries give exactly what a feature-by-feature reference gives,
every route gets a decision or an error in input order, and the command writes the results."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pyogrio
import pytest
import shapely
from pyproj import Transformer
from typer.testing import CliRunner

from api.cli import app
from geo.errors import RouteInputError
from geo.footprint import QUAD_SEGMENTS
from geo.route import parse_route
from geo.screening import Conflict, screen, screen_routes
from layers.batch import iter_results, read_routes, run_batch
from layers.district import load_district
from layers.synth import CITY_CRS, CitySize, write_district

SIZE = CitySize(trees=3_000, roads=400, green=120, seed=5)
SUBMITTED = dt.datetime(2026, 9, 1, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
ROUTES_DIR = __import__("pathlib").Path(__file__).parent / "data" / "routes"


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    root = write_district(tmp_path_factory.mktemp("batch") / "city", SIZE, routes=300)
    return root, load_district(root), json.loads((root / "routes.geojson").read_text())


def _projected(features):
    """The same routes with coordinates in the city's CRS (EPSG:4547, easting first)."""
    forward = Transformer.from_crs("EPSG:4326", CITY_CRS, always_xy=True)
    moved = []
    for feature in features:
        xy = np.asarray(feature["geometry"]["coordinates"])
        x, y = forward.transform(xy[:, 0], xy[:, 1])
        geometry = {"type": "LineString", "coordinates": np.column_stack([x, y]).tolist()}
        moved.append({**feature, "geometry": geometry})
    return moved


def _reference_screen(route, layers, work_width_m, tolerance_m) -> list[Conflict]:
    """Conflicts found the plain way, one candidate feature at a time with shapely's
    scalar methods: the oracle the array screener is held to."""
    half = work_width_m / 2
    footprint = route.buffer(half, quad_segs=QUAD_SEGMENTS)
    found = []
    for layer in layers:
        reach = half + layer.max_reach + tolerance_m
        for i in sorted(layer.tree.query(route, predicate="dwithin", distance=reach)):
            geometry, own = layer.geometries[i], float(layer.reach[i])
            gap = max(geometry.distance(route) - half - own, 0.0)
            if gap > tolerance_m:
                continue
            zone = geometry.buffer(own, quad_segs=QUAD_SEGMENTS) if own > 0 else geometry
            inside = route.intersection(zone)
            if inside.is_empty:
                points = shapely.get_coordinates(shapely.shortest_line(route, zone))[:1]
            else:
                pieces = shapely.get_parts(inside)
                ends = [shapely.get_point(pieces, 0), shapely.get_point(pieces, -1)]
                points = shapely.get_coordinates(np.concatenate(ends))
                if not len(points):
                    points = shapely.get_coordinates(inside)
            row = layer.frame.iloc[i]
            attributes = {c: None if _missing(v) else _plain(v) for c, v in row.items()
                          if c not in ("feature_id", "kind", "name", "geometry")}  # fmt: skip
            found.append(Conflict(
                layer=layer.name, kind=row["kind"], feature_id=row["feature_id"],
                name=None if _missing(row["name"]) else row["name"],
                length_m=inside.length, area_m2=footprint.intersection(zone).area, gap_m=gap,
                from_m=float(min(route.project(shapely.Point(p)) for p in points)),
                attributes=attributes,
            ))  # fmt: skip
    return sorted(found, key=lambda c: (round(c.from_m, 2), c.layer, c.feature_id))


def _missing(value) -> bool:
    return value is None or (not isinstance(value, str) and bool(np.all(value != value)))


def _plain(value):
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value.item() if isinstance(value, np.generic) else value


def test_array_screening_equals_the_reference_on_the_city(city):
    _, district, routes = city
    local = [
        shapely.MultiLineString([shapely.geometry.shape(f["geometry"])])
        for f in _projected(routes["features"])
    ]
    settings = district.settings
    layers = list(district.layers.values())
    many = screen_routes(local, layers, settings.work_width_m, settings.tolerance_m)
    assert sum(len(s.conflicts) for s in many) > 300
    dated = 0
    for batch, route in zip(many, local, strict=True):
        expected = _reference_screen(route, layers, settings.work_width_m, settings.tolerance_m)
        assert [c.to_dict() for c in batch.conflicts] == [c.to_dict() for c in expected]
        assert batch.footprint.equals_exact(route.buffer(0.5, quad_segs=QUAD_SEGMENTS), 0)
        dated += sum(c.attributes.get("handover_date") is not None for c in batch.conflicts)
    assert dated > 10  # dates travel as ISO strings, not only as None


def test_one_route_screens_as_in_a_batch_on_the_sample_district(district):
    features = [json.loads(p.read_text()) for p in sorted(ROUTES_DIR.glob("*.geojson"))]
    local = []
    for feature in features:
        try:
            local.append(district.screen(parse_route(feature)).route)
        except Exception:  # routes made to fail (outside, swapped axes) are not screened
            continue
    settings = district.settings
    layers = list(district.layers.values())
    many = screen_routes(local, layers, settings.work_width_m, settings.tolerance_m)
    for batch, route in zip(many, local, strict=True):
        single = screen(route, layers, settings.work_width_m, settings.tolerance_m)
        expected = _reference_screen(route, layers, settings.work_width_m, settings.tolerance_m)
        assert batch.conflicts == single.conflicts
        assert [c.to_dict() for c in single.conflicts] == [c.to_dict() for c in expected]
    assert len(local) >= 5


def test_batch_decisions_equal_classify_route_by_route(city):
    _, district, routes = city
    records = []
    summary = run_batch(district, routes["features"], records.append, submitted=SUBMITTED)
    assert summary.decided == 300 and summary.errors == 0
    assert set(summary.tracks) == {"commitment", "filing", "parallel_approval"}

    # classify takes a tenth of a second a route here, so compare ten of each track
    sample = {}
    for record in records:
        sample.setdefault(record["track"]["code"], []).append(record)
    chosen = sorted((r for group in sample.values() for r in group[:10]), key=lambda r: r["index"])
    features = [routes["features"][r["index"]] for r in chosen]
    for feature, record in zip(features, chosen, strict=True):
        expected = district.classify(feature, submitted=SUBMITTED).to_dict()
        record.pop("_geometry")
        assert record.pop("id") == feature["id"]
        record.pop("index"), record.pop("district")
        assert record == expected


def test_projected_routes_go_one_by_one_and_give_the_same_decisions(city):
    _, district, routes = city
    wgs84, local = [], []
    run_batch(district, routes["features"], wgs84.append, submitted=SUBMITTED)
    run_batch(district, _projected(routes["features"]), local.append, crs=CITY_CRS,
              submitted=SUBMITTED)  # fmt: skip
    tracks = [r["track"]["code"] for r in wgs84]
    assert tracks == [r["track"]["code"] for r in local]
    ids = [[c["feature_id"] for c in r["conflicts"]] for r in wgs84]
    assert ids == [[c["feature_id"] for c in r["conflicts"]] for r in local]


def test_routes_that_cannot_be_screened_get_error_records_in_order(city):
    _, district, routes = city
    good = routes["features"][:3]
    outside = {**good[0], "id": "far", "geometry": {"type": "LineString",
               "coordinates": [[116.40, 39.90], [116.41, 39.91]]}}  # fmt: skip
    point = {"type": "Feature", "id": "point", "properties": good[0]["properties"],
             "geometry": {"type": "Point", "coordinates": [113.3, 23.1]}}  # fmt: skip
    no_facts = {**good[1], "id": "nofacts", "properties": {}}
    features = [good[0], outside, point, good[1], no_facts, good[2]]
    records = []
    summary = run_batch(district, features, records.append, submitted=SUBMITTED, chunk=4)
    assert [r["index"] for r in records] == list(range(6))
    assert [r.get("error", {}).get("code") for r in records] == [
        None, "ROUTE_OUTSIDE_COVERAGE", "NOT_A_LINE", None, "INVALID_FACTS", None,
    ]  # fmt: skip
    assert summary.errors == 3 and summary.decided == 3


def test_batch_command_writes_json_lines_and_geopackage(city, tmp_path):
    root, _, routes = city
    source = tmp_path / "routes.geojsonl"
    source.write_text("\n".join(json.dumps(f) for f in routes["features"][:25]) + "\n")
    out = tmp_path / "results.jsonl"
    args = ["batch", str(source), "--out", str(out), "--district", str(root),
            "--submitted", "2026-09-01T10:00+08:00"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "25 routes" in result.output and "25 decided" in result.output
    records = list(iter_results(out))
    assert [r["id"] for r in records] == [f["id"] for f in routes["features"][:25]]
    assert all(r["district"]["id"] == "synthetic-guangzhou-5" for r in records)

    gpkg = tmp_path / "results.gpkg"
    result = CliRunner().invoke(app, [*args[:3], str(gpkg), *args[4:], "--no-progress"])
    assert result.exit_code == 0, result.output
    frame = pyogrio.read_dataframe(gpkg, layer="decisions")
    assert len(frame) == 25 and frame.crs.to_epsg() == 4547
    assert list(frame["track"]) == [r["track"]["code"] for r in records]
    assert json.loads(frame["decision"][0])["conflicts"] == records[0]["conflicts"]


def test_routes_are_read_from_a_geopackage_with_its_crs(city, tmp_path):
    _, district, routes = city
    import geopandas as gpd

    features = _projected(routes["features"][:10])
    frame = gpd.GeoDataFrame(
        [f["properties"] for f in features],
        geometry=[shapely.geometry.shape(f["geometry"]) for f in features],
        crs=CITY_CRS,
    )
    path = tmp_path / "routes.gpkg"
    frame.to_file(path, driver="GPKG")
    read, crs = read_routes(path)
    assert crs is not None and crs.endswith("4547") and len(read) == 10
    records = []
    run_batch(district, read, records.append, crs=crs, submitted=SUBMITTED)
    expected = []
    run_batch(district, routes["features"][:10], expected.append, submitted=SUBMITTED)
    assert [r["track"]["code"] for r in records] == [r["track"]["code"] for r in expected]


def test_a_boolean_fact_with_gaps_in_a_geopackage_is_read_as_booleans(city, tmp_path):
    """GDAL reads a Boolean field that has nulls as floats; the facts must stay booleans
    (found by review: such rows were refused as INVALID_FACTS)."""
    import geopandas as gpd
    import pandas as pd

    _, district, routes = city
    features = _projected(routes["features"][:3])
    properties = pd.DataFrame([f["properties"] for f in features]).drop(
        columns="fells_trees", errors="ignore"
    )
    properties["fells_trees"] = pd.array([True, None, False], dtype="boolean")
    frame = gpd.GeoDataFrame(
        properties, crs=CITY_CRS, geometry=[shapely.geometry.shape(f["geometry"]) for f in features]
    )
    path = tmp_path / "flags.gpkg"
    frame.to_file(path, driver="GPKG")
    read, crs = read_routes(path)
    assert [f["properties"].get("fells_trees") for f in read] == [True, None, False]
    records = []
    run_batch(district, read, records.append, crs=crs, submitted=SUBMITTED)
    assert not [r for r in records if "error" in r]
    assert [r["facts"]["fells_trees"] for r in records] == [True, False, False]


def test_a_missing_routes_file_exits_2(tmp_path):
    result = CliRunner().invoke(app, ["batch", str(tmp_path / "none.geojson"), "--out",
                                      str(tmp_path / "out.jsonl")])  # fmt: skip
    assert result.exit_code == 2


def test_a_bad_line_of_a_geojson_sequence_is_named_by_its_number(tmp_path):
    path = tmp_path / "routes.geojsonl"
    path.write_text('{"type": "Feature", "properties": {}, "geometry": null}\n\n{"type": oops}\n')
    with pytest.raises(RouteInputError) as raised:
        read_routes(path)
    assert raised.value.where == "line 3" and "column 10" in raised.value.message
