"""The file layer source: a GeoPackage in the district folder (the `store` setting)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import geopandas as gpd

from geo.errors import DistrictError
from layers.store import layer_crs, read_layer, read_store_metadata

if TYPE_CHECKING:
    from layers.district import DistrictSettings


@dataclass(frozen=True)
class FileSource:
    """Layers read from one GeoPackage."""

    path: Path

    @classmethod
    def open(cls, root: Path, settings: DistrictSettings) -> FileSource:
        if settings.store is None:
            raise DistrictError(f"district {settings.id} names no layer store (store = …)")
        path = root / settings.store
        if not path.exists():
            raise DistrictError(f"layer store {path} of district {settings.id} does not exist")
        return cls(path)

    def __str__(self) -> str:
        return str(self.path)

    def layer_crs(self, name: str) -> str | None:
        return layer_crs(self.path, name)

    def read_layer(self, name: str) -> gpd.GeoDataFrame:
        return read_layer(self.path, name)

    def metadata(self) -> dict:
        return read_store_metadata(self.path)
