"""Layer sources: where a district's layers are read from, picked by name in district.toml.

Every source answers the same three questions — which CRS a layer declares (None when
the layer is missing), the layer's features as a GeoDataFrame, and the dataset's
metadata — so the district loader checks and indexes layers the same way whatever
they come from. `file` reads the GeoPackage named by `store`; `postgis` reads tables
named in `tables` over a connection taken from the environment variable `dsn_env`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import geopandas as gpd

if TYPE_CHECKING:
    from layers.district import DistrictSettings


class LayerSource(Protocol):
    """What the district loader needs from a store of layers."""

    def layer_crs(self, name: str) -> str | None:
        """The CRS the layer declares, or None when the source has no such layer."""

    def read_layer(self, name: str) -> gpd.GeoDataFrame:
        """The layer's features, with whatever attribute columns the source holds."""

    def metadata(self) -> dict:
        """Dataset metadata (attribution, what the layers were built from)."""


def _file(root: Path, settings: DistrictSettings) -> LayerSource:
    from layers.sources.file import FileSource

    return FileSource.open(root, settings)


def _postgis(root: Path, settings: DistrictSettings) -> LayerSource:
    from layers.sources.postgis import PostgisSource

    return PostgisSource.open(root, settings)


#: Source name (the `source` setting) → opener; PostGIS is imported only when named.
SOURCES: dict[str, Callable[[Path, DistrictSettings], LayerSource]] = {
    "file": _file,
    "postgis": _postgis,
}


def open_source(root: Path, settings: DistrictSettings) -> LayerSource:
    """Open the layer source a district's settings name."""
    return SOURCES[settings.source](root, settings)
