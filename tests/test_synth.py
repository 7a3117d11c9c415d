"""The synthetic city: reproducible, the sizes asked for, placed in CGCS2000, and usable
as a district on which every track and the road-age rules occur."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest
import shapely
from typer.testing import CliRunner

from api.cli import app
from layers.district import load_district
from layers.synth import CITY_CRS, CitySize, build_city, synth_routes, write_district

SMALL = CitySize(trees=3_000, roads=400, green=120, seed=11)
SUBMITTED = dt.datetime(2026, 9, 1, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))


@pytest.fixture(scope="module")
def city():
    return build_city(SMALL)


@pytest.fixture(scope="module")
def small_district(tmp_path_factory):
    root = write_district(tmp_path_factory.mktemp("city") / "small", SMALL, routes=150)
    return load_district(root), json.loads((root / "routes.geojson").read_text())


def test_the_same_seed_gives_the_same_city_and_another_seed_another(city):
    again = build_city(SMALL)
    for name, frame in city.items():
        pd.testing.assert_frame_equal(pd.DataFrame(frame), pd.DataFrame(again[name]))
    other = build_city(CitySize(trees=3_000, roads=400, green=120, seed=12))
    assert not shapely.equals(other["trees"].geometry.values, city["trees"].geometry.values).all()


def test_the_city_has_the_sizes_asked_for_in_cgcs2000_around_guangzhou(city):
    assert {name: len(city[name]) for name in ("roads", "green", "trees")} == {
        "roads": 400,
        "green": 120,
        "trees": 3_000,
    }
    assert all(frame.crs.to_epsg() == 4547 for frame in city.values())
    lon, lat = city["coverage"].to_crs("EPSG:4326").geometry.iloc[0].centroid.coords[0]
    assert 113.0 < lon < 113.6 and 22.9 < lat < 23.4
    coverage = city["coverage"].geometry.iloc[0]
    for name in ("roads", "bridges", "green", "trees"):
        assert coverage.covers(city[name].geometry.union_all()), name


def test_trees_have_crowns_of_1_5_to_6_m_and_about_one_in_a_hundred_is_ancient(city):
    trees = city["trees"]
    assert trees["crown_diameter_m"].between(1.5, 6.0).all()
    ancient = trees["kind"] == "ancient_tree"
    assert 0.003 < ancient.mean() < 0.02
    assert trees.loc[ancient, "register_id"].notna().all()
    assert trees.loc[~ancient, "register_id"].isna().all()
    assert trees["feature_id"].is_unique


def test_roads_take_every_class_with_widths_and_handover_and_repair_dates(city):
    roads = city["roads"]
    assert set(roads["kind"]) == {
        "expressway", "main", "secondary", "branch", "non_motorised", "trunk_highway", "rural"
    }  # fmt: skip
    assert (roads["width_m"] > 0).all()
    handover = roads["handover_date"]
    assert 0.5 < handover.notna().mean() < 0.9
    assert (handover > pd.Timestamp("2021-09-01")).sum() > 0
    assert roads["major_repair_date"].notna().sum() > 0
    rural = roads["kind"] == "rural"
    assert roads.loc[rural, "traffic_volume"].notna().any()
    assert roads.loc[~rural, "traffic_volume"].isna().all()
    assert len(city["bridges"]) > 0 and set(city["bridges"]["kind"]) == {"bridge"}


def test_routes_are_lines_in_wgs84_with_project_facts(city):
    routes = synth_routes(city, 50, SMALL.seed)
    assert len(routes) == 50 and len({r["id"] for r in routes}) == 50
    for route in routes:
        assert route["geometry"]["type"] == "LineString"
        assert route["properties"]["voltage_kv"] in (0.4, 10.0, 35.0)
        lon, lat = np.asarray(route["geometry"]["coordinates"]).mean(axis=0)
        assert 113.0 < lon < 113.6 and 22.9 < lat < 23.4


def test_the_written_district_screens_routes_to_every_track_with_road_age_rules(small_district):
    district, routes = small_district
    assert district.settings.crs == CITY_CRS
    assert district.missing_layers == ()
    decisions = [
        district.classify(feature, submitted=SUBMITTED) for feature in routes["features"][:60]
    ]
    assert {d.track for d in decisions} == {"commitment", "filing", "parallel_approval"}
    rules = {r.rule for d in decisions for r in d.reasons}
    assert "bar.recent_road_handover" in rules
    assert "bar.green_tree_zone" in rules
    codes = {w.code for d in decisions for w in d.warnings}
    assert "ROAD_AGE_UNKNOWN" in codes


def test_synth_command_writes_a_district_folder(tmp_path):
    out = tmp_path / "tiny"
    result = CliRunner().invoke(
        app, ["synth", str(out), "--trees", "200", "--roads", "40", "--green", "10",
              "--routes", "5", "--seed", "3"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert {p.name for p in out.iterdir()} == {"district.toml", "city.gpkg", "routes.geojson"}
    district = load_district(out)
    assert len(district.layers["trees"]) == 200 and len(district.layers["roads"]) == 40
