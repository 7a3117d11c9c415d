"""Batch runs: re-screen a file of many routes on a district and write one decision each.

Routes come from a GeoJSON FeatureCollection (each feature one route, its properties
the project facts), a GeoJSON sequence (one Feature per line: `.geojsonl`, `.jsonl`,
`.ndjson`), or any vector file GDAL reads (GeoPackage, FlatGeobuf, Shapefile: each row
one route, its columns the facts, its CRS the file's). Each route is read and checked
exactly as `routecheck classify` reads one, then the routes are moved into the
district CRS (a chunk at a time), checked as `District.prepare` checks one, screened in
chunks with `geo.screening.screen_routes`, and each is decided by `District.decide`. A route that
cannot be screened gets an error record instead of a decision; the run goes on.

Results are JSON lines (one object per route, in input order: the decision as
`classify` prints it plus `id` and `index`), or a GeoPackage layer `decisions` with the
route in the district CRS, its track, conflict count and the decision as JSON.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import shapely
from shapely import MultiLineString

from geo.errors import RoutecheckError, RouteInputError
from geo.route import Route, check_limits, parse_route, shape_warnings, to_crs
from geo.screening import screen_routes
from geo.workdays import WorkingCalendar
from layers.district import District

log = logging.getLogger(__name__)

#: Routes screened together; large enough for the array operations to pay, small
#: enough that a chunk's geometries stay a few megabytes.
CHUNK = 2_000

SEQUENCE_SUFFIXES = {".geojsonl", ".jsonl", ".ndjson", ".geojsons"}


@dataclass
class BatchSummary:
    """What a batch run did: routes read, decided, refused, and how long it took."""

    routes: int = 0
    decided: int = 0
    errors: int = 0
    seconds: float = 0.0
    tracks: dict[str, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.routes / self.seconds if self.seconds else 0.0


@dataclass
class _Item:
    """One input route on its way through a chunk."""

    index: int
    id: str
    route: Route | None = None
    local: Route | None = None
    facts: Any = None
    decision: Any = None
    error: RoutecheckError | None = None


def read_routes(path: Path, crs: str | None = None) -> tuple[list[dict], str | None]:
    """The routes of a file as GeoJSON Features, and the CRS they are in (None: WGS84)."""
    suffix = path.suffix.lower()
    if suffix in {".geojson", ".json"}:
        data = json.loads(path.read_text(encoding="utf-8"), parse_constant=_refuse_constant)
        if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
            raise RouteInputError(f"{path} is not a GeoJSON FeatureCollection of routes")
        features = data.get("features") or []
    elif suffix in SEQUENCE_SUFFIXES:
        features = list(_sequence_features(path))
    else:
        return _read_vector_file(path, crs)
    return list(features), crs


def _sequence_features(path: Path) -> Iterator[Any]:
    """The features of a GeoJSON sequence, one a line; a bad line is named by its number."""
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                yield json.loads(line, parse_constant=_refuse_constant)
            except ValueError as exc:
                detail = (f"{exc.msg} at column {exc.colno}"
                          if isinstance(exc, json.JSONDecodeError) else str(exc))  # fmt: skip
                raise RouteInputError(f"{path}: not a GeoJSON feature: {detail}",
                                      where=f"line {number}") from exc  # fmt: skip


def _read_vector_file(path: Path, crs: str | None) -> tuple[list[dict], str | None]:
    import pyogrio

    frame = pyogrio.read_dataframe(path)
    file_crs = frame.crs.to_string() if frame.crs is not None else None
    columns = [c for c in frame.columns if c != "geometry"]
    # GDAL's Boolean fields come back as floats where a value is missing (1.0, 0.0,
    # NaN); a fact must be a real boolean, so those columns are turned back
    info = pyogrio.read_info(path)
    flags = {f for f, t in zip(info["fields"], info["dtypes"], strict=True) if t == "bool"}
    features = []
    for row, geometry in zip(frame[columns].to_dict("records"), frame.geometry.values,
                             strict=True):  # fmt: skip
        properties = {k: bool(v) if k in flags else v
                      for k, v in row.items() if v is not None and v == v}  # fmt: skip
        shape = None if geometry is None else shapely.geometry.mapping(geometry)
        features.append({"type": "Feature", "properties": properties, "geometry": shape})
    return features, crs or file_crs


def run_batch(
    district: District,
    features: Sequence[dict],
    write: Callable[[dict], None],
    *,
    crs: str | None = None,
    submitted: dt.datetime | None = None,
    facts: dict[str, Any] | None = None,
    progress: Callable[[int], None] | None = None,
    chunk: int = CHUNK,
    positions: Sequence[int] | None = None,
) -> BatchSummary:
    """Screen and decide every route, calling `write` with one record each, in order.

    Each record's `index` is the route's input position: its place in `features`, or
    the matching entry of `positions` where the features are a part of a larger input
    (a dask partition); a route without an id is named by it.
    """
    if positions is not None and len(positions) != len(features):
        raise ValueError(f"{len(positions)} positions for {len(features)} routes")
    moment = submitted or dt.datetime.now(dt.UTC)
    district = dataclasses.replace(district, calendar=_RememberingCalendar(district.calendar))
    summary = BatchSummary()
    started = time.perf_counter()
    for first in range(0, len(features), chunk):
        items = [_read_item(first + k if positions is None else int(positions[first + k]), f,
                            crs, facts)
                 for k, f in enumerate(features[first : first + chunk])]  # fmt: skip
        _move(items, district)
        _prepare(items, district)
        ready = [item for item in items if item.error is None]
        screenings = screen_routes([item.local.geometry for item in ready],
                                   district.layers.values(), district.settings.work_width_m,
                                   district.settings.tolerance_m)  # fmt: skip
        for item, screening in zip(ready, screenings, strict=True):
            try:
                decision = district.decide(screening, item.facts, moment)
            except RoutecheckError as exc:
                item.error = exc
                continue
            decision.warnings[:0] = item.local.warnings
            item.decision = decision
        for item in items:
            write(_record(item, district, summary))
        summary.routes += len(items)
        if progress is not None:
            progress(len(items))
    summary.seconds = time.perf_counter() - started
    log.info(
        "batch on district %s: %d routes, %d decided, %d refused in %.1f s (%.0f routes/s)",
        district.id, summary.routes, summary.decided, summary.errors, summary.seconds,
        summary.rate,
    )  # fmt: skip
    return summary


def _read_item(index: int, feature: Any, crs: str | None, overrides) -> _Item:
    from geo.decision import facts_from

    ident = feature.get("id") if isinstance(feature, dict) else None
    props = feature.get("properties") if isinstance(feature, dict) else None
    if ident is None and isinstance(props, dict):
        ident = props.get("id")
    item = _Item(index, str(ident) if ident is not None else str(index))
    try:
        item.route = parse_route(feature, crs)
        item.facts = facts_from(item.route.properties, overrides or {})
    except RoutecheckError as exc:
        item.error = exc
    return item


def _move(items: list[_Item], district: District) -> None:
    """Move the chunk's routes into the district CRS.

    Positions in a geographic CRS transform one by one, independent of each other, so
    all routes of one CRS go through one `to_crs` call as a single multi-line (making a
    transformer costs far more than transforming). A projected CRS has its axis order
    judged per route, so those routes, and any chunk whose joint call fails (to find
    which route is at fault), go one by one.
    """
    target = district.settings.crs
    pending = [item for item in items if item.error is None]
    by_crs: dict[str, list[_Item]] = {}
    for item in pending:
        by_crs.setdefault(item.route.crs, []).append(item)
    for source, group in by_crs.items():
        if _geographic(source) and _move_together(group, target):
            continue
        for item in group:
            try:
                item.local = to_crs(item.route, target)
            except RoutecheckError as exc:
                item.error = exc


def _move_together(group: list[_Item], target: str) -> bool:
    parts = [list(item.route.geometry.geoms) for item in group]
    joint = Route(MultiLineString([p for ps in parts for p in ps]), group[0].route.crs)
    try:
        moved = to_crs(joint, target)
    except RoutecheckError:
        return False
    lines = list(moved.geometry.geoms)
    at = 0
    for item, own in zip(group, parts, strict=True):
        geometry = MultiLineString(lines[at : at + len(own)])
        item.local = item.route.moved(geometry, target, *moved.warnings)
        at += len(own)
    return True


def _geographic(name: str) -> bool:
    from pyproj import CRS

    try:
        return CRS.from_user_input(name).is_geographic
    except Exception:  # an unknown CRS: to_crs names the problem route by route
        return False


def _prepare(items: list[_Item], district: District) -> None:
    """The rest of `District.prepare` for each moved route: the coverage check (naming
    swapped axes where that fits), the district's limits, and the shape and
    coverage-edge warnings, so a batch decision carries what `classify` gives."""
    settings = district.settings
    for item in items:
        if item.error is not None:
            continue
        local = item.local
        try:
            district._check_coverage(item.route, local)
            check_limits(local, settings.max_vertices, settings.max_length_m)
        except RoutecheckError as exc:
            item.error = exc
            continue
        notes = [*shape_warnings(local.geometry), *district._edge_warnings(local)]
        item.local = local.moved(local.geometry, local.crs, *notes)


def _record(item: _Item, district: District, summary: BatchSummary) -> dict:
    if item.error is not None:
        summary.errors += 1
        error = {"code": item.error.code, "message": item.error.message,
                 "where": item.error.where}  # fmt: skip
        return {"id": item.id, "index": item.index, "error": error}
    decision = item.decision
    summary.decided += 1
    summary.tracks[decision.track] = summary.tracks.get(decision.track, 0) + 1
    result = {"id": item.id, "index": item.index, **decision.to_dict()}
    result["district"] = {"id": district.id, "name": district.settings.name}
    result["_geometry"] = decision.screening.route
    return result


class _RememberingCalendar(WorkingCalendar):
    """The district's calendar, remembering each day's answer for the run: every route
    of a batch counts its due date from the same submission, so the same few days are
    asked about thousands of times."""

    def __init__(self, calendar: WorkingCalendar):
        super().__init__(calendar.schedules.values())
        self._inner = calendar
        self._days: dict[dt.date, tuple[bool, bool]] = {}

    def is_workday(self, day: dt.date) -> tuple[bool, bool]:
        if day not in self._days:
            self._days[day] = self._inner.is_workday(day)
        return self._days[day]


class JsonLinesWriter:
    """Writes each record as one line of JSON."""

    def __init__(self, path: Path):
        self.file = path.open("w", encoding="utf-8")

    def __call__(self, record: dict) -> None:
        record.pop("_geometry", None)
        self.file.write(json.dumps(record, ensure_ascii=False) + "\n")

    def close(self) -> None:
        self.file.close()


class GeoPackageWriter:
    """Collects records and writes them as the layer `decisions` when closed."""

    def __init__(self, path: Path, crs: str):
        self.path, self.crs = path, crs
        self.rows: list[dict] = []
        self.geometries: list = []

    def __call__(self, record: dict) -> None:
        geometry = record.pop("_geometry", None)
        error = record.get("error") or {}
        self.rows.append({
            "route_id": record["id"],
            "track": record["track"]["code"] if "track" in record else None,
            "conflicts": len(record.get("conflicts", [])),
            "error_code": error.get("code"),
            "decision": json.dumps(record, ensure_ascii=False),
        })  # fmt: skip
        self.geometries.append(geometry)

    def close(self) -> None:
        import geopandas as gpd
        import pandas as pd

        frame = gpd.GeoDataFrame(pd.DataFrame(self.rows), geometry=self.geometries, crs=self.crs)
        self.path.unlink(missing_ok=True)
        frame.to_file(self.path, layer="decisions", driver="GPKG")


def writer_for(path: Path, crs: str) -> JsonLinesWriter | GeoPackageWriter:
    """A GeoPackage writer for `.gpkg`, JSON lines otherwise."""
    if path.suffix.lower() == ".gpkg":
        return GeoPackageWriter(path, crs)
    return JsonLinesWriter(path)


def iter_results(path: Path) -> Iterator[dict]:
    """Records of a JSON-lines result file."""
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                yield json.loads(line)


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not a valid JSON number")
