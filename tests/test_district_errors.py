"""Broken district folders fail at load with a DistrictError naming the file and problem."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyogrio
import pytest

from geo.errors import DistrictError
from layers.district import load_district, sample_district_path

ROOT = Path(__file__).resolve().parents[1]
STORE = sample_district_path() / "helsinki.gpkg"
RULES = ROOT / "layers" / "rules" / "default.toml"


def district_folder(tmp_path, *, crs="EPSG:3067", store=STORE, table="district"):
    (tmp_path / "district.toml").write_text(
        f'[{table}]\nid = "broken"\nname = "broken"\ncrs = "{crs}"\n'
        f'store = "{Path(store).as_posix()}"\nrules = "{RULES.as_posix()}"\n',
        encoding="utf-8",
    )
    return tmp_path


@pytest.mark.parametrize(
    ("crs", "words"),
    [
        ("EPSG:4326", "not a projected CRS in metres"),
        ("EPSG:2249", "not a projected CRS in metres"),  # US survey feet
        ("EPSG:abc", "unknown coordinate reference system"),
    ],
)
def test_the_district_crs_must_be_metric(tmp_path, crs, words):
    with pytest.raises(DistrictError) as caught:
        load_district(district_folder(tmp_path, crs=crs))
    assert words in str(caught.value)


def test_a_store_that_is_not_a_geopackage(tmp_path):
    junk = tmp_path / "store.gpkg"
    junk.write_bytes(b"\x00\x01not a geopackage" * 100)
    with pytest.raises(DistrictError) as caught:
        load_district(district_folder(tmp_path, store=junk))
    assert "cannot be loaded" in str(caught.value)


def test_a_tree_without_a_crown(tmp_path):
    store = tmp_path / "store.gpkg"
    shutil.copy(STORE, store)
    trees = pyogrio.read_dataframe(store, layer="trees")
    trees.loc[0, "crown_diameter_m"] = None
    pyogrio.write_dataframe(trees, store, layer="trees")
    with pytest.raises(DistrictError) as caught:
        load_district(district_folder(tmp_path, store=store))
    assert "trees" in str(caught.value) and "crown" in str(caught.value)


def test_a_misspelt_table_is_named(tmp_path):
    with pytest.raises(DistrictError) as caught:
        load_district(district_folder(tmp_path, table="distrct"))
    assert "unknown tables ['distrct']" in str(caught.value)


def test_a_store_in_another_crs(tmp_path):
    with pytest.raises(DistrictError) as caught:
        load_district(district_folder(tmp_path, crs="EPSG:32635"))
    assert "is in" in str(caught.value) and "EPSG:32635" in str(caught.value)
