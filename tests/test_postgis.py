"""The PostGIS layer source against a real PostGIS (the one .ci/run starts): the same
district loaded from files and from tables gives the same layers and the same
decisions. Locally, point ROUTECHECK_POSTGIS_DSN at a database with PostGIS."""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid

import pandas as pd
import pytest

from geo.errors import DistrictError
from layers.batch import run_batch
from layers.district import load_district
from layers.sources.file import FileSource
from layers.synth import CitySize, write_district

DSN_ENV = "ROUTECHECK_POSTGIS_DSN"
SIZE = CitySize(trees=2_000, roads=300, green=80, seed=21)
SUBMITTED = dt.datetime(2026, 9, 1, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
LAYER_NAMES = ("roads", "bridges", "green", "trees", "zones", "coverage")


@pytest.fixture(scope="module")
def dsn():
    value = os.environ.get(DSN_ENV)
    if not value:
        if os.environ.get("CI"):
            pytest.fail(f"{DSN_ENV} is not set in CI: .ci/run should start PostGIS")
        pytest.skip(f"{DSN_ENV} is not set; no PostGIS to test against")
    return value


@pytest.fixture(scope="module")
def schema(dsn):
    """A schema of its own for this run, dropped afterwards."""
    import psycopg

    name = f"rc_test_{uuid.uuid4().hex[:8]}"
    yield name
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@pytest.fixture(scope="module")
def districts(dsn, schema, tmp_path_factory):
    """The same small city as a file district and as a PostGIS district."""
    from layers.sources.postgis import write_tables

    base = tmp_path_factory.mktemp("pg")
    files = write_district(base / "files", SIZE, routes=120)
    source = FileSource(files / "city.gpkg")
    tables = {name: f"{schema}.{name}" for name in (*LAYER_NAMES, "metadata")}
    layers = {name: source.read_layer(name) for name in LAYER_NAMES}
    write_tables(dsn, layers, tables, metadata=source.metadata())
    postgis = base / "postgis"
    postgis.mkdir()
    toml = (files / "district.toml").read_text()
    table_lines = ", ".join(f'{k} = "{v}"' for k, v in tables.items())
    toml = toml.replace('store = "city.gpkg"', f'source = "postgis"\ntables = {{ {table_lines} }}')
    (postgis / "district.toml").write_text(toml)
    routes = json.loads((files / "routes.geojson").read_text())["features"]
    return load_district(files), load_district(postgis), routes, postgis


def test_postgis_and_files_give_the_same_layers(districts):
    from_files, from_postgis, _, _ = districts
    assert from_postgis.settings.source == "postgis"
    for name, layer in from_files.layers.items():
        other = from_postgis.layers[name]
        assert len(layer) == len(other) > 0, name
        left = pd.DataFrame(layer.frame).drop(columns="geometry")
        right = pd.DataFrame(other.frame).drop(columns="geometry")[left.columns]
        pd.testing.assert_frame_equal(left, right, check_dtype=False)
        assert (layer.frame.geometry.values == other.frame.geometry.values).all(), name
        assert (layer.reach == other.reach).all()
    assert from_files.coverage.equals(from_postgis.coverage)
    assert from_postgis.metadata == from_files.metadata
    assert from_postgis.attribution == from_files.attribution


def test_postgis_and_files_give_identical_decisions(districts):
    from_files, from_postgis, routes, _ = districts
    left, right = [], []
    run_batch(from_files, routes, left.append, submitted=SUBMITTED)
    run_batch(from_postgis, routes, right.append, submitted=SUBMITTED)
    for record in (*left, *right):
        record.pop("_geometry")
    assert {r["track"]["code"] for r in left} == {"commitment", "filing", "parallel_approval"}
    assert [d for a, b in zip(left, right, strict=True) for d in _diff(a, b)][:5] == []
    assert left == right
    # and through classify, for routes with road-age dates among their conflicts
    dated = [r["index"] for r in left
             if any(c["attributes"].get("handover_date") for c in r["conflicts"])][:5]  # fmt: skip
    assert dated
    for index in dated:
        a = from_files.classify(routes[index], submitted=SUBMITTED).to_dict()
        b = from_postgis.classify(routes[index], submitted=SUBMITTED).to_dict()
        assert a == b


def test_a_missing_connection_variable_is_named(districts, monkeypatch):
    *_, folder = districts
    monkeypatch.delenv(DSN_ENV)
    with pytest.raises(DistrictError, match=DSN_ENV):
        load_district(folder)


def test_an_unreachable_database_is_reported_without_the_password(districts, monkeypatch):
    *_, folder = districts
    monkeypatch.setenv(DSN_ENV, "postgresql://someone:s3cret@127.0.0.1:1/nothing")
    with pytest.raises(DistrictError, match="cannot reach PostGIS") as caught:
        load_district(folder)
    assert "s3cret" not in str(caught.value)


def test_a_missing_table_is_named(districts, tmp_path):
    *_, folder = districts
    toml = (folder / "district.toml").read_text()
    broken = tmp_path / "broken"
    broken.mkdir()
    schema = toml.split('roads = "')[1].split(".")[0]
    (broken / "district.toml").write_text(
        toml.replace(f'roads = "{schema}.roads"', f'roads = "{schema}.no_such_roads"')
    )
    with pytest.raises(DistrictError, match="no_such_roads"):
        load_district(broken)


def test_an_unknown_source_is_refused(tmp_path):
    (tmp_path / "district.toml").write_text(
        '[district]\nid = "x"\nname = "x"\ncrs = "EPSG:4547"\nrules = "r.toml"\n'
        'source = "shapefile-folder"\n'
    )
    with pytest.raises(DistrictError, match="shapefile-folder"):
        load_district(tmp_path)


def _diff(a, b, path=""):
    """(path, left, right) for each value where two JSON-like records differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in a.keys() | b.keys():
            yield from _diff(a.get(k), b.get(k), f"{path}.{k}")
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            yield from _diff(x, y, f"{path}[{i}]")
    elif a != b:
        yield path, a, b
