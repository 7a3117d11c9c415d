"""The PostGIS layer source: a district's layers as tables in a PostGIS database.

district.toml names the tables (`tables = { roads = "city.roads", trees = "city.trees",
…, coverage = "city.coverage" }`, a schema-qualified name or one on the search path)
and the environment variable holding the connection string (`dsn_env`, by default
ROUTECHECK_POSTGIS_DSN), so no password sits in the district folder. Each table has one
geometry column, registered in `geometry_columns` with the district's SRID, and the
catalogue attributes as columns; a `metadata` entry may name a key/value table of
dataset metadata. Dates and timestamps come back as the file store gives them
(datetime64), so both sources yield the same frames and the same decisions.

`write_tables` loads GeoDataFrames into such tables (COPY, then a GiST index on the
geometry and ANALYZE); the tests and the benchmark build their databases with it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.errors import DistrictError

if TYPE_CHECKING:
    from layers.district import DistrictSettings

log = logging.getLogger(__name__)

#: The `tables` entry naming the optional key/value table of dataset metadata.
METADATA_TABLE = "metadata"

_FLOAT_TYPES = {"double precision", "real", "numeric"}
_INT_TYPES = {"integer", "bigint", "smallint"}
_TIME_TYPES = {"date", "timestamp without time zone", "timestamp with time zone"}


def _connect(dsn: str):
    import psycopg

    return psycopg.connect(dsn, autocommit=True)


def _identifier(table: str):
    """A (possibly schema-qualified) table name as a quoted SQL identifier."""
    from psycopg import sql

    return sql.Identifier(*table.split(".", 1))


def _split(table: str) -> tuple[str | None, str]:
    schema, _, name = table.rpartition(".")
    return (schema or None), name


@dataclass(frozen=True)
class PostgisSource:
    """Layers read from PostGIS tables over the connection an env var names."""

    dsn: str
    env: str
    tables: Mapping[str, str]

    @classmethod
    def open(cls, root: Path, settings: DistrictSettings) -> PostgisSource:
        dsn = os.environ.get(settings.dsn_env)
        if not dsn:
            raise DistrictError(
                f"district {settings.id} reads its layers from PostGIS, but the environment "
                f"variable {settings.dsn_env} that names the connection is not set"
            )
        if not settings.tables:
            raise DistrictError(f"district {settings.id} names no PostGIS tables (tables = …)")
        source = cls(dsn, settings.dsn_env, dict(settings.tables))
        try:
            with _connect(dsn) as connection:
                connection.execute("SELECT postgis_version()")
        except Exception as exc:  # psycopg's errors, without the DSN and its password
            raise DistrictError(
                f"district {settings.id}: cannot reach PostGIS through {settings.dsn_env}: "
                f"{type(exc).__name__}: {str(exc).strip().splitlines()[0]}"
            ) from None
        return source

    def __str__(self) -> str:
        return f"PostGIS (${self.env})"

    def layer_crs(self, name: str) -> str | None:
        table = self.tables.get(name)
        if table is None:
            return None
        with _connect(self.dsn) as connection:
            column, srid = self._geometry_column(connection, table, name)
        return f"EPSG:{srid}"

    def read_layer(self, name: str) -> gpd.GeoDataFrame:
        from psycopg import sql

        table = self.tables[name]
        with _connect(self.dsn) as connection:
            geometry, srid = self._geometry_column(connection, table, name)
            columns = self._columns(connection, table, geometry)
            query = sql.SQL("SELECT ST_AsBinary({}), {} FROM {}").format(
                sql.Identifier(geometry),
                sql.SQL(", ").join(sql.Identifier(c) for c in columns),
                _identifier(table),
            )
            if not columns:
                query = sql.SQL("SELECT ST_AsBinary({}) FROM {}").format(
                    sql.Identifier(geometry), _identifier(table)
                )
            rows = connection.execute(query).fetchall()
        values = list(zip(*rows, strict=True)) if rows else [[] for _ in range(len(columns) + 1)]
        wkb = np.array([bytes(v) if v is not None else None for v in values[0]], dtype=object)
        data = {
            column: _as_series(values[k + 1], kind)
            for k, (column, kind) in enumerate(columns.items())
        }
        frame = gpd.GeoDataFrame(
            pd.DataFrame(data, index=pd.RangeIndex(len(rows))),
            geometry=shapely.from_wkb(wkb),
            crs=f"EPSG:{srid}",
        )
        log.info("read %d features of layer %s from PostGIS table %s", len(frame), name, table)
        return frame

    def metadata(self) -> dict:
        from psycopg import sql

        table = self.tables.get(METADATA_TABLE)
        if table is None:
            return {}
        with _connect(self.dsn) as connection:
            query = sql.SQL("SELECT key, value FROM {}").format(_identifier(table))
            return {str(k): str(v) for k, v in connection.execute(query).fetchall()}

    @staticmethod
    def _geometry_column(connection, table: str, layer: str) -> tuple[str, int]:
        schema, name = _split(table)
        row = connection.execute(
            "SELECT f_geometry_column, srid FROM geometry_columns WHERE f_table_name = %s "
            "AND f_table_schema = coalesce(%s, current_schema()) LIMIT 1",
            (name, schema),
        ).fetchone()
        if row is None:
            raise DistrictError(
                f"PostGIS table {table!r} named for layer {layer!r} does not exist or has no "
                "registered geometry column"
            )
        return row[0], int(row[1])

    @staticmethod
    def _columns(connection, table: str, geometry: str) -> dict[str, str]:
        """Every non-geometry column of the table and its SQL type, in table order."""
        schema, name = _split(table)
        rows = connection.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = %s AND table_schema = coalesce(%s, current_schema()) "
            "ORDER BY ordinal_position",
            (name, schema),
        ).fetchall()
        return {column: kind for column, kind in rows if column != geometry}


def _as_series(values, kind: str) -> pd.Series:
    """A column as the file store would give it: floats, dates as datetime64[ms], text."""
    if kind in _FLOAT_TYPES:
        return pd.Series(np.array([np.nan if v is None else float(v) for v in values]))
    if kind in _INT_TYPES:
        series = pd.Series(list(values), dtype="Int64")
        return series.astype("int64") if not series.isna().any() else series.astype(float)
    if kind in _TIME_TYPES:
        aware = kind == "timestamp with time zone"
        times = pd.to_datetime(pd.Series(list(values), dtype=object), utc=aware)
        return times.astype("datetime64[ms, UTC]" if aware else "datetime64[ms]")
    if kind == "boolean":
        return pd.Series(list(values), dtype=object)
    return pd.Series(list(values), dtype="str")


# --- loading tables --------------------------------------------------------------------------


def write_tables(
    dsn: str,
    layers: Mapping[str, gpd.GeoDataFrame],
    tables: Mapping[str, str],
    metadata: Mapping[str, str] | None = None,
) -> None:
    """Create (replacing) one table per layer, COPY the features in, index and analyse.

    Every layer must carry a CRS with an EPSG code; the geometry column is `geom`.
    """
    from psycopg import sql

    with _connect(dsn) as connection:
        for schema in {s for s, _ in map(_split, tables.values()) if s}:
            connection.execute(
                sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema))
            )
        for name, frame in layers.items():
            _write_table(connection, tables[name], frame)
            log.info("wrote %d features of %s to PostGIS table %s", len(frame), name, tables[name])
        if metadata is not None and METADATA_TABLE in tables:
            target = _identifier(tables[METADATA_TABLE])
            connection.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(target))
            connection.execute(
                sql.SQL("CREATE TABLE {} (key text PRIMARY KEY, value text)").format(target)
            )
            with connection.cursor() as cursor:
                cursor.executemany(
                    sql.SQL("INSERT INTO {} VALUES (%s, %s)").format(target), list(metadata.items())
                )


def _write_table(connection, table: str, frame: gpd.GeoDataFrame) -> None:
    from psycopg import sql

    srid = frame.crs.to_epsg() if frame.crs is not None else None
    if srid is None:
        raise ValueError(f"layer for {table} has no CRS with an EPSG code")
    columns = [c for c in frame.columns if c != frame.geometry.name]
    types = {c: _sql_type(frame[c]) for c in columns}
    target = _identifier(table)
    definition = sql.SQL(", ").join(
        [sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(types[c])) for c in columns]
        + [sql.SQL("geom geometry(Geometry, {})").format(sql.Literal(srid))]
    )
    connection.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(target))
    connection.execute(sql.SQL("CREATE TABLE {} ({})").format(target, definition))

    geometries = shapely.to_wkb(
        shapely.set_srid(frame.geometry.values, srid), hex=True, include_srid=True
    )
    values = [_sql_values(frame[c]) for c in columns] + [list(geometries)]
    names = sql.SQL(", ").join([*(sql.Identifier(c) for c in columns), sql.Identifier("geom")])
    with connection.cursor() as cursor:
        with cursor.copy(sql.SQL("COPY {} ({}) FROM STDIN").format(target, names)) as copy:
            for row in zip(*values, strict=True):
                copy.write_row(row)
    _, name = _split(table)
    connection.execute(
        sql.SQL("CREATE INDEX {} ON {} USING GIST (geom)").format(
            sql.Identifier(f"{name}_geom_gist"), target
        )
    )
    connection.execute(sql.SQL("ANALYZE {}").format(target))


def _sql_type(series: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(series):
        return "boolean"
    if pd.api.types.is_integer_dtype(series):
        return "bigint"
    if pd.api.types.is_float_dtype(series):
        return "double precision"
    if pd.api.types.is_datetime64_any_dtype(series):
        return "timestamp with time zone" if series.dt.tz is not None else "timestamp"
    return "text"


def _sql_values(series: pd.Series) -> list[Any]:
    """Plain Python values for COPY, None for every missing one."""
    if pd.api.types.is_datetime64_any_dtype(series):
        return [None if pd.isna(v) else v.to_pydatetime() for v in series]
    if pd.api.types.is_float_dtype(series):
        array = series.to_numpy(dtype=float)
        return [None if np.isnan(v) else float(v) for v in array]
    return [
        None if (v is None or (isinstance(v, float) and np.isnan(v))) else v
        for v in series.to_numpy(dtype=object)
    ]
