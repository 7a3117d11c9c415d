"""A synthetic city: a reproducible district of chosen size, for benchmarks and tests.

The city is a street grid around Guangzhou in CGCS2000 / 3-degree Gauss-Krüger CM 114E
(EPSG:4547), so the Chinese CRS is exercised end to end. Grid lines take the urban road
classes (a main road every tenth line, a secondary road every fifth, branch streets in
between, some non-motorised ways), one line is an expressway, one a trunk highway and
the southern edge a rural road with traffic counts. Each block-side is one road segment
with a width, a handover date and sometimes a major-repair date, so the road-age rules
fire. A river crosses the grid, with a bridge wherever a street crosses it and a river
management zone along it. Green polygons sit inside blocks; trees line the streets
(and some stand in green), with crowns of 1.5–6 m and about 1 % ancient or famous.

Everything is drawn from one seeded generator, so the same arguments give the same
layers. Routes for the city (`synth_routes`) are short service connections along and
across streets, in WGS84 with project facts in their properties.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import Transformer

from geo.footprint import QUAD_SEGMENTS
from layers.store import gdal_config

log = logging.getLogger(__name__)

#: CGCS2000 / 3-degree Gauss-Krüger CM 114E, the zone Guangzhou lies in.
CITY_CRS = "EPSG:4547"

#: South-west corner of the grid (longitude, latitude): Haizhu district, Guangzhou.
ORIGIN_LONLAT = (113.25, 23.05)

#: Distance between grid lines, in metres.
BLOCK_M = 80.0

#: Base width (m) of each road class; a segment's width varies by ±10 % around it.
CLASS_WIDTHS_M = {
    "expressway": 25.0,
    "main": 20.0,
    "secondary": 14.0,
    "branch": 7.0,
    "non_motorised": 3.0,
    "trunk_highway": 16.0,
    "rural": 6.0,
}

SPECIES = (
    "榕树 Ficus microcarpa",
    "樟树 Cinnamomum camphora",
    "木棉 Bombax ceiba",
    "羊蹄甲 Bauhinia blakeana",
    "芒果 Mangifera indica",
    "大王椰 Roystonea regia",
)

ATTRIBUTION = "synthetic data made by routecheck synth; not a survey of any real place"

#: Rules the synthetic district is screened under: the default rules, by path.
DEFAULT_RULES = Path(__file__).parent / "rules" / "default.toml"


@dataclass(frozen=True)
class CitySize:
    """How many features of each kind the city gets, and the seed they are drawn with."""

    trees: int = 1_000_000
    roads: int = 200_000
    green: int = 50_000
    seed: int = 2026

    @property
    def lines(self) -> int:
        """Grid lines per direction: 2·n·(n−1) block-sides hold at least `roads`."""
        return max(3, math.ceil((1 + math.sqrt(1 + 2 * self.roads)) / 2))


def build_city(size: CitySize) -> dict[str, gpd.GeoDataFrame]:
    """Every layer of the synthetic city, keyed by store layer name."""
    rng = np.random.default_rng(size.seed)
    origin = _origin()
    nodes = _grid_nodes(rng, size.lines, origin)
    roads, centrelines = _roads(rng, nodes, size)
    river_y = origin[1] + (size.lines // 3 + 0.5) * BLOCK_M
    extent = (*nodes.min(axis=(0, 1)) - BLOCK_M, *nodes.max(axis=(0, 1)) + BLOCK_M)
    green = _green(rng, nodes, size.green)
    layers = {
        "roads": roads,
        "bridges": _bridges(roads, centrelines, river_y),
        "green": green,
        "trees": _trees(rng, roads, centrelines, green, size.trees),
        "zones": _zones(extent, river_y, centrelines[roads["kind"] == "trunk_highway"]),
        "coverage": _frame(
            [{"feature_id": "coverage/1", "name": "synthetic city"}], [shapely.box(*extent)]
        ),
    }
    log.info("synthetic city: %s", ", ".join(f"{len(f)} {n}" for n, f in layers.items()))
    return layers


def write_district(out: Path, size: CitySize, routes: int = 0) -> Path:
    """Write the city as a district folder: district.toml, city.gpkg, and routes if asked."""
    out.mkdir(parents=True, exist_ok=True)
    layers = build_city(size)
    store = out / "city.gpkg"
    _write_store(layers, store, {"attribution": ATTRIBUTION, **_size_metadata(size)})
    (out / "district.toml").write_text(_district_toml(size), encoding="utf-8")
    if routes:
        features = synth_routes(layers, routes, size.seed)
        collection = {"type": "FeatureCollection", "features": features}
        text = json.dumps(collection, ensure_ascii=False)
        (out / "routes.geojson").write_text(text, encoding="utf-8")
        log.info("wrote %d routes to %s", len(features), out / "routes.geojson")
    log.info("wrote synthetic district to %s", out)
    return out


def synth_routes(layers: dict[str, gpd.GeoDataFrame], count: int, seed: int) -> list[dict]:
    """Service-connection routes in WGS84 with project facts, one GeoJSON Feature each.

    A route starts beside a random road segment, runs along it for 20–300 m and, for
    most routes, turns off into the block; some cross the street instead.
    """
    rng = np.random.default_rng(seed + 1)
    bounds = layers["coverage"].total_bounds
    lines = _route_lines(rng, layers["roads"], count, bounds)
    to_wgs84 = Transformer.from_crs(CITY_CRS, "EPSG:4326", always_xy=True)
    lines = shapely.transform(lines, lambda xy: np.column_stack(to_wgs84.transform(*xy.T)))
    facts = _route_facts(rng, count)
    return [
        {
            "type": "Feature",
            "id": f"route/{i}",
            "properties": facts[i],
            "geometry": {
                "type": "LineString",
                "coordinates": np.round(shapely.get_coordinates(line), 8).tolist(),
            },
        }
        for i, line in enumerate(lines)
    ]


# --- layers ----------------------------------------------------------------------------------


def _origin() -> tuple[float, float]:
    to_city = Transformer.from_crs("EPSG:4326", CITY_CRS, always_xy=True)
    x, y = to_city.transform(*ORIGIN_LONLAT)
    return round(x, -2), round(y, -2)


def _grid_nodes(rng: np.random.Generator, n: int, origin: tuple[float, float]) -> np.ndarray:
    """Street crossings, n × n × 2, jittered by up to 5 m so the grid is not perfect."""
    i, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    nodes = np.stack([origin[0] + i * BLOCK_M, origin[1] + j * BLOCK_M], axis=-1)
    return nodes + rng.uniform(-5, 5, nodes.shape)


def _line_classes(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Road class of each vertical (x = const) and horizontal grid line."""
    line = np.arange(n)
    base = np.where(line % 10 == 0, "main", np.where(line % 5 == 0, "secondary", "branch"))
    base = base.astype(object)
    vertical, horizontal = base.copy(), base.copy()
    horizontal[0] = "rural"
    horizontal[n // 2] = "expressway"
    vertical[n - 1] = "trunk_highway"
    return vertical, horizontal


def _roads(rng: np.random.Generator, nodes: np.ndarray, size: CitySize):
    """Road footprints, one per block-side, and their centrelines."""
    n = nodes.shape[0]
    vertical, horizontal = _line_classes(n)
    starts, ends, kinds, names = [], [], [], []
    for i in range(n):
        starts.append(nodes[i, :-1])
        ends.append(nodes[i, 1:])
        kinds.append(np.repeat(vertical[i], n - 1))
        names.append(np.repeat(f"纵{i + 1}路", n - 1))
    for j in range(n):
        starts.append(nodes[:-1, j])
        ends.append(nodes[1:, j])
        kinds.append(np.repeat(horizontal[j], n - 1))
        names.append(np.repeat(f"横{j + 1}路", n - 1))
    keep = slice(0, size.roads)
    start, end = np.concatenate(starts)[keep], np.concatenate(ends)[keep]
    kind = np.concatenate(kinds)[keep].astype(object)
    name = np.concatenate(names)[keep].astype(object)
    count = len(kind)

    # some branch block-sides are pedestrian or cycle ways
    walkway = (kind == "branch") & (rng.random(count) < 0.08)
    kind[walkway] = "non_motorised"
    base = np.array([CLASS_WIDTHS_M[k] for k in kind])
    width = np.round(base * rng.uniform(0.9, 1.1, count) * 2) / 2
    centrelines = shapely.linestrings(np.stack([start, end], axis=1))
    footprints = shapely.buffer(centrelines, width / 2, cap_style="flat", quad_segs=QUAD_SEGMENTS)
    rural = kind == "rural"
    traffic = np.where(rural & (rng.random(count) < 0.8), rng.integers(500, 12_000, count), np.nan)
    frame = _frame(
        {
            "feature_id": [f"road/{i}" for i in range(count)],
            "name": name,
            "kind": kind,
            "width_m": width,
            "handover_date": _dates(rng, count, 0.7, dt.date(1990, 1, 1), dt.date(2026, 6, 30)),
            "major_repair_date": _dates(
                rng, count, 0.25, dt.date(2010, 1, 1), dt.date(2026, 6, 30)
            ),
            "traffic_volume": np.where(rural, traffic, np.nan),
        },
        footprints,
    )
    return frame, centrelines


def _dates(rng, count: int, known: float, first: dt.date, last: dt.date) -> pd.Series:
    """Random dates between first and last for a `known` share of rows, NaT for the rest."""
    days = rng.integers(0, (last - first).days, count)
    values = pd.to_datetime(first) + pd.to_timedelta(days, unit="D")
    dates = pd.Series(values.astype("datetime64[ms]"))
    dates[rng.random(count) >= known] = pd.NaT
    return dates


def _bridges(roads: gpd.GeoDataFrame, centrelines: np.ndarray, river_y: float):
    """A bridge wherever a road crosses the river: the road's width, 50 m long."""
    band = shapely.box(-1e9, river_y - 25, 1e9, river_y + 25)
    crossing = shapely.intersects(centrelines, band)
    decks = shapely.intersection(centrelines[crossing], band)
    widths = roads["width_m"].to_numpy()[crossing]
    geometry = shapely.buffer(decks, widths / 2, cap_style="flat", quad_segs=QUAD_SEGMENTS)
    rows = {
        "feature_id": [f"bridge/{i}" for i in range(len(decks))],
        "name": [f"{name}桥" for name in roads["name"].to_numpy()[crossing]],
        "kind": "bridge",
        "road_class": roads["kind"].to_numpy()[crossing],
        "width_m": widths,
    }
    return _frame(rows, geometry)


def _green(rng: np.random.Generator, nodes: np.ndarray, count: int) -> gpd.GeoDataFrame:
    """Rectangles of green, shrub or forest inside blocks, 12–45 m a side."""
    n = nodes.shape[0]
    block = rng.integers(0, (n - 1) ** 2, count)
    corner = nodes[block // (n - 1), block % (n - 1)]
    sides = rng.uniform(12, 45, (count, 2))
    room = BLOCK_M - 2 * 16 - sides
    low = corner + 16 + rng.uniform(0, 1, (count, 2)) * np.maximum(room, 0)
    geometry = shapely.box(low[:, 0], low[:, 1], low[:, 0] + sides[:, 0], low[:, 1] + sides[:, 1])
    draw = rng.random(count)
    kind = np.where(draw < 0.85, "green", np.where(draw < 0.95, "shrub", "forest"))
    names = np.where(rng.random(count) < 0.1, [f"口袋公园{i}" for i in range(count)], None)
    rows = {"feature_id": [f"green/{i}" for i in range(count)], "name": names, "kind": kind}
    return _frame(rows, geometry)


def _trees(rng, roads, centrelines, green, count: int) -> gpd.GeoDataFrame:
    """Street trees beside road segments (nine in ten) and trees standing in green."""
    in_green = count // 10 if len(green) else 0
    street = count - in_green

    # street trees: a point along a segment, pushed off the centreline past the kerb
    segment = rng.integers(0, len(centrelines), street)
    along = shapely.line_interpolate_point(
        centrelines[segment], rng.random(street), normalized=True
    )
    xy = shapely.get_coordinates(along)
    heading = _headings(centrelines[segment])
    offset = roads["width_m"].to_numpy()[segment] / 2 + rng.uniform(0.5, 3.0, street)
    side = rng.choice([-1.0, 1.0], street)
    xy = xy + np.column_stack([-np.sin(heading), np.cos(heading)]) * (offset * side)[:, None]

    # trees in green: uniform inside a random green polygon's bounding box (a rectangle)
    bounds = shapely.bounds(green.geometry.values[rng.integers(0, max(len(green), 1), in_green)])
    inside = bounds[:, :2] + rng.random((in_green, 2)) * (bounds[:, 2:] - bounds[:, :2])
    points = shapely.points(np.concatenate([xy, inside]))

    ancient = rng.random(count) < 0.01
    register = np.where(ancient, [f"GZ-GSMM-{i:07d}" for i in range(count)], None)
    rows = {
        "feature_id": [f"tree/{i}" for i in range(count)],
        "name": np.where(ancient, "古树", None),
        "kind": np.where(ancient, "ancient_tree", "tree"),
        "species": np.asarray(SPECIES, dtype=object)[rng.integers(0, len(SPECIES), count)],
        "crown_diameter_m": np.round(rng.uniform(1.5, 6.0, count), 1),
        "register_id": register,
    }
    return _frame(rows, points)


def _headings(lines: np.ndarray) -> np.ndarray:
    start = shapely.get_coordinates(shapely.get_point(lines, 0))
    end = shapely.get_coordinates(shapely.get_point(lines, -1))
    return np.arctan2(end[:, 1] - start[:, 1], end[:, 0] - start[:, 0])


def _zones(extent, river_y: float, trunk: np.ndarray) -> gpd.GeoDataFrame:
    """The river management zone along the river, and highway land beside each trunk
    road segment (one parcel per segment, as land registers hold it)."""
    river = shapely.box(extent[0], river_y - 40, extent[2], river_y + 40)
    parcels = shapely.buffer(trunk, 30.0, cap_style="flat", quad_segs=QUAD_SEGMENTS)
    rows = {
        "feature_id": ["zone/0", *(f"zone/{i + 1}" for i in range(len(parcels)))],
        "name": ["珠江支流河道管理范围", *(["国道公路用地"] * len(parcels))],
        "kind": ["river_management", *(["highway_land"] * len(parcels))],
    }
    return _frame(rows, [river, *parcels])


def _frame(rows: Any, geometry) -> gpd.GeoDataFrame:
    geometries = gpd.GeoSeries(np.asarray(geometry, dtype=object), crs=CITY_CRS)
    return gpd.GeoDataFrame(pd.DataFrame(rows), geometry=geometries.values, crs=CITY_CRS)


# --- routes ----------------------------------------------------------------------------------


def _route_lines(rng: np.random.Generator, roads: gpd.GeoDataFrame, count: int, bounds):
    """Route centrelines in the city CRS: along a road, then into the block or across."""
    boxes = shapely.bounds(roads.geometry.values[rng.integers(0, len(roads), count)])
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    horizontal = (boxes[:, 2] - boxes[:, 0]) > (boxes[:, 3] - boxes[:, 1])
    along = np.where(horizontal[:, None], [1.0, 0.0], [0.0, 1.0])
    across = along[:, ::-1]
    half_road = np.where(horizontal, boxes[:, 3] - boxes[:, 1], boxes[:, 2] - boxes[:, 0]) / 2

    # start on the pavement or in the carriageway, run along, then turn or cross; one
    # route in three stays inside the block, clear of the street trees
    side = rng.choice([-1.0, 1.0], count)
    inner = rng.random(count) < 1 / 3
    offset = (
        np.where(
            inner, half_road + rng.uniform(9, 20, count), half_road * rng.uniform(0.3, 1.6, count)
        )
        * side
    )
    start = centre + across * offset[:, None] + along * rng.uniform(-30, 30, (count, 1))
    length = np.where(inner, rng.uniform(5, 40, count), rng.uniform(20, 300, count))
    bend = start + along * (length * rng.choice([-1.0, 1.0], count))[:, None]
    crossing = ~inner & (rng.random(count) < 0.3)
    turn = np.where(inner, rng.uniform(2, 10, count), rng.uniform(5, 35, count))
    turn = turn * np.where(crossing, -3.0, 1.0) * side
    end = bend + across * turn[:, None]
    coords = np.stack([start, bend, end], axis=1)
    west, south, east, north = bounds
    coords[..., 0] = np.clip(coords[..., 0], west + 1, east - 1)
    coords[..., 1] = np.clip(coords[..., 1], south + 1, north - 1)
    return shapely.linestrings(coords)


def _route_facts(rng: np.random.Generator, count: int) -> list[dict[str, Any]]:
    """Project facts for each route, mixed so every track and warning occurs."""
    voltage = rng.choice([0.4, 10.0, 35.0], count, p=[0.6, 0.35, 0.05])
    customer = rng.choice(["residential", "small_micro", "other"], count, p=[0.5, 0.3, 0.2])
    capacity = np.round(rng.uniform(8, 400, count))
    facts = []
    for i in range(count):
        row: dict[str, Any] = {"voltage_kv": float(voltage[i]), "customer": str(customer[i])}
        draw = rng.random(3)
        if draw[0] < 0.7:
            row["capacity_kw"] = float(capacity[i])
        if draw[1] < 0.05:
            row["fells_trees"] = True
        if draw[2] < 0.5:
            row["start_date"] = "2026-09-01"
        facts.append(row)
    return facts


# --- writing ---------------------------------------------------------------------------------


def _write_store(layers: dict[str, gpd.GeoDataFrame], path: Path, metadata: dict) -> None:
    """Write the layers to a fresh GeoPackage ."""
    path.unlink(missing_ok=True)
    with gdal_config(GDAL_PAM_ENABLED="NO"):
        for index, (name, frame) in enumerate(layers.items()):
            pyogrio.write_dataframe(
                frame,
                path,
                layer=name,
                driver="GPKG",
                promote_to_multi=name == "green",
                dataset_metadata=metadata if index == 0 else None,
                layer_metadata={"attribution": ATTRIBUTION},
            )
    path.with_name(path.name + ".aux.xml").unlink(missing_ok=True)


def _size_metadata(size: CitySize) -> dict[str, str]:
    return {"source": "routecheck synth", **{k: str(v) for k, v in asdict(size).items()}}


def _district_toml(size: CitySize) -> str:
    return f"""# A synthetic district written by `routecheck synth` (seed {size.seed}): a street
# grid around Guangzhou in CGCS2000 / 3-degree Gauss-Krüger CM 114E. Not a real place.

[district]
id = "synthetic-guangzhou-{size.seed}"
name = "Synthetic city ({size.trees} trees, {size.roads} road segments, {size.green} green)"
crs = "{CITY_CRS}"
store = "city.gpkg"
rules = {json.dumps(str(DEFAULT_RULES.resolve()))}
work_width_m = 1.0
tolerance_m = 0.01
"""
