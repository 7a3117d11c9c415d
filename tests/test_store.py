"""The layer store reader: attributes through Arrow and geometries from Arrow's WKB give
the very frame pyogrio reads in one go, dates, strings, nulls and CRS included."""

from __future__ import annotations

import pandas as pd
import pyogrio
import pytest

from layers.district import sample_district_path
from layers.store import read_layer
from layers.synth import CitySize, write_district


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    city = write_district(tmp_path_factory.mktemp("store") / "city", CitySize(2_000, 300, 80, 3))
    return [sample_district_path() / "helsinki.gpkg", city / "city.gpkg"]


def test_read_layer_gives_the_frame_pyogrio_reads_in_one_go(stores):
    dated = 0
    for path in stores:
        for layer, _ in pyogrio.list_layers(path):
            expected = pyogrio.read_dataframe(path, layer=layer, use_arrow=True)
            frame = read_layer(path, layer)
            pd.testing.assert_frame_equal(frame, expected)  # dtypes included
            assert frame.crs == expected.crs and frame.geometry.name == "geometry"
            dated += int(frame.get("handover_date", pd.Series(dtype=object)).notna().sum())
    assert dated > 0
