"""Route files as applicants, designers and clerks hand them in.

GeoJSON, KML and KMZ, GPX, zipped Shapefile, GeoPackage, DXF and WKT are read from the
bytes received — never from a path or URL the sender names — into a `geo.route.Route`
in the file's own CRS. GDAL (through pyogrio) reads the GIS formats, ezdxf reads DXF,
defusedxml screens every XML document before any parser sees it, and shapely reads
WKT. Each reader says what is wrong with a file in terms of the file.
"""

from __future__ import annotations

import io
import json
import logging
import math
import re
import struct
import warnings
import zipfile
from collections.abc import Callable
from pathlib import PurePosixPath
from typing import Any

import defusedxml.ElementTree as safe_xml
import ezdxf
import pyogrio
import shapely
import shapely.wkt
from defusedxml import DefusedXmlException
from ezdxf import recover
from ezdxf.path import make_path
from pyproj import CRS
from pyproj.exceptions import CRSError as PyprojCRSError
from shapely import LineString, MultiLineString
from shapely.errors import GEOSException

from geo.errors import CrsError, RouteInputError
from geo.notices import DecisionWarning
from geo.route import Route, from_lines, parse_route

log = logging.getLogger(__name__)

#: Largest route file accepted, in bytes, and the largest a zip may unpack to.
MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_UNPACKED_BYTES = 50 * 1024 * 1024

#: Formats by file suffix.
SUFFIXES = {
    ".geojson": "geojson",
    ".json": "geojson",
    ".kml": "kml",
    ".kmz": "kmz",
    ".gpx": "gpx",
    ".zip": "shapefile",
    ".gpkg": "gpkg",
    ".dxf": "dxf",
    ".wkt": "wkt",
}
FORMATS = tuple(sorted(set(SUFFIXES.values())))

#: Metres per drawing unit, by the DXF header's $INSUNITS code.
DXF_UNITS_M = {1: 0.0254, 2: 0.3048, 4: 0.001, 5: 0.01, 6: 1.0, 7: 1000.0}

#: How far (in drawing units) a flattened DXF arc may stray from the true arc.
DXF_FLATTENING = 0.005

#: dBase language driver ids that mean a Chinese (GBK) attribute table.
GBK_LANGUAGE_IDS = {0x4D, 0x7A}


def format_of(filename: str | None, declared: str | None = None) -> str:
    """The route format: as declared, else by the file's suffix, else GeoJSON."""
    if declared is not None:
        if declared not in FORMATS:
            raise RouteInputError(
                f"unknown route format {declared!r}; use one of {', '.join(FORMATS)}",
                code="UNKNOWN_FORMAT",
                where="format",
            )
        return declared
    suffix = PurePosixPath(filename or "").suffix.lower()
    if suffix and suffix not in SUFFIXES:
        raise RouteInputError(
            f"cannot tell the format of {filename!r}; name it with one of "
            f"{', '.join(sorted(SUFFIXES))} or declare the format",
            code="UNKNOWN_FORMAT",
            where="format",
        )
    return SUFFIXES.get(suffix, "geojson")


def read_route(
    data: bytes,
    filename: str | None = None,
    *,
    crs: str | None = None,
    fmt: str | None = None,
    layer: str | None = None,
) -> Route:
    """Read a route file's bytes into a Route in the file's CRS (or the declared one)."""
    if len(data) > MAX_FILE_BYTES:
        raise RouteInputError(
            f"the route file is {len(data):,} bytes; at most {MAX_FILE_BYTES:,} are accepted",
            code="FILE_TOO_LARGE",
        )
    if not data.strip():
        raise RouteInputError("the route file is empty", code="EMPTY_FILE")
    kind = format_of(filename, fmt)
    reader = READERS[kind]
    route = reader(data, crs, layer)
    log.info("read %s route: %d segments, %d vertices, %s", kind, route.segment_count,
             route.vertex_count, route.crs)  # fmt: skip
    return route


# --- GeoJSON and WKT ----------------------------------------------------------------------


def read_geojson(data: bytes, crs: str | None, layer: str | None = None) -> Route:
    """GeoJSON text; NaN and Infinity, which Python's parser accepts, are refused."""
    text = _text(data)
    try:
        obj = json.loads(text, parse_constant=lambda name: _refuse_constant(name, text))
    except json.JSONDecodeError as exc:
        raise RouteInputError(
            f"the route is not valid JSON: {exc.msg}",
            code="INVALID_JSON",
            where=f"line {exc.lineno} column {exc.colno}",
        ) from exc
    except RecursionError as exc:
        raise RouteInputError("the route is nested too deeply", code="INVALID_JSON") from exc
    return parse_route(obj, crs)


def _refuse_constant(name: str, text: str) -> float:
    """Refuse NaN and Infinity, naming where the first such token sits."""
    where = None
    match = re.search(r"(?<![\w.\"])-?(?:NaN|Infinity)(?![\w\"])", text)
    if match:
        line = text.count("\n", 0, match.start()) + 1
        column = match.start() - (text.rfind("\n", 0, match.start()) + 1) + 1
        where = f"line {line} column {column}"
    raise RouteInputError(f"{name} is not a valid JSON number", code="NON_FINITE", where=where)


def read_wkt(data: bytes, crs: str | None, layer: str | None = None) -> Route:
    """A WKT LINESTRING or MULTILINESTRING (WGS84 unless a CRS is declared)."""
    try:
        geometry = shapely.wkt.loads(_text(data).strip())
    except (GEOSException, ValueError) as exc:
        raise RouteInputError(f"the route is not valid WKT: {exc}", code="INVALID_WKT") from exc
    return from_lines(_lines(geometry, "WKT"), crs or "EPSG:4326")


# --- XML formats: KML, KMZ, GPX -----------------------------------------------------------


def refuse_unsafe_xml(data: bytes, what: str) -> None:
    """Refuse XML with a DOCTYPE or entity declarations before any real parser sees it."""
    try:
        safe_xml.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise RouteInputError(
            f"the {what} file declares a DOCTYPE or entities, which are refused",
            code="UNSAFE_XML",
        ) from exc
    except safe_xml.ParseError as exc:
        raise RouteInputError(
            f"the {what} file is not well-formed XML: {exc}", code="INVALID_XML"
        ) from exc


def read_kml(data: bytes, crs: str | None, layer: str | None = None) -> Route:
    """KML placemarks' lines; KML is WGS84 longitude, latitude by definition."""
    _refuse_declared_crs(crs, "KML")
    refuse_unsafe_xml(data, "KML")
    names = [layer] if layer else [str(n) for n, _ in pyogrio.list_layers(io.BytesIO(data))]
    lines: list[LineString] = []
    properties: dict[str, Any] = {}
    for name in names:
        frame = _gdal_frame(data, name, "KML")
        lines += [line for g in frame.geometry if g is not None for line in _lines(g, "KML")]
        properties = properties or _first_properties(frame)
    if not lines:
        raise RouteInputError("the KML file has no line placemark", code="EMPTY_ROUTE")
    return from_lines(lines, "EPSG:4326", properties)


def read_kmz(data: bytes, crs: str | None, layer: str | None = None) -> Route:
    """A KMZ archive: its main KML document (doc.kml, or the first .kml at the top)."""
    _refuse_declared_crs(crs, "KMZ")
    with _open_zip(data, "KMZ") as archive:
        names = [n for n in archive.namelist() if n.lower().endswith(".kml")]
        if not names:
            raise RouteInputError("the KMZ archive holds no .kml document", code="INVALID_KMZ")
        name = "doc.kml" if "doc.kml" in names else sorted(names, key=len)[0]
        document = archive.read(name)
    return read_kml(document, None, layer)


def read_gpx(data: bytes, crs: str | None, layer: str | None = None) -> Route:
    """GPX tracks and routes (waypoints alone make no route)."""
    _refuse_declared_crs(crs, "GPX")
    refuse_unsafe_xml(data, "GPX")
    lines: list[LineString] = []
    for name in ("tracks", "routes"):
        frame = _gdal_frame(data, name, "GPX", missing_ok=True)
        if frame is not None:
            lines += [line for g in frame.geometry if g is not None for line in _lines(g, "GPX")]
    if not lines:
        raise RouteInputError("the GPX file has no track or route", code="EMPTY_ROUTE")
    return from_lines(lines, "EPSG:4326")


def _refuse_declared_crs(crs: str | None, what: str) -> None:
    if crs is not None and crs.upper() not in ("EPSG:4326", "OGC:CRS84", "CRS84"):
        raise CrsError(
            f"{what} coordinates are WGS84 longitude, latitude by definition; "
            f"{crs} cannot be declared for them (a web-map datum can)",
            code="CRS_NOT_ALLOWED",
            where="crs",
        )


# --- GIS containers: zipped Shapefile, GeoPackage -----------------------------------------


def read_shapefile(data: bytes, crs: str | None, layer: str | None = None) -> Route:
    """A zipped Shapefile; its text is read as GBK when it says nothing and is not UTF-8."""
    with _open_zip(data, "Shapefile") as archive:
        names = archive.namelist()
        shp = [n for n in names if n.lower().endswith(".shp")]
        if len(shp) != 1:
            raise RouteInputError(
                f"the zip must hold exactly one .shp file, it holds {len(shp)}",
                code="INVALID_SHAPEFILE",
            )
        stem = shp[0][:-4]
        parts = {n[len(stem) :].lower(): n for n in names if n.startswith(stem)}
        for needed in (".shx", ".dbf"):
            if needed not in parts:
                raise RouteInputError(
                    f"the zip lacks {PurePosixPath(stem).name}{needed}",
                    code="INVALID_SHAPEFILE",
                )
        encoding = None if ".cpg" in parts else _dbf_encoding(archive.read(parts[".dbf"]))
        has_prj = ".prj" in parts
    if not has_prj and crs is None:
        raise CrsError(
            "the Shapefile has no .prj, so its coordinate system is unknown; declare it",
            code="CRS_REQUIRED",
            where="crs",
        )
    return _read_gdal(data, crs, layer, "Shapefile", encoding=encoding)


def _dbf_encoding(dbf: bytes) -> str | None:
    """The encoding of a .dbf with no .cpg: its language id, else UTF-8 if it decodes."""
    if len(dbf) < 32:
        return None
    if dbf[29] in GBK_LANGUAGE_IDS:
        return "GB18030"
    header_length = struct.unpack("<H", dbf[8:10])[0]
    records = dbf[header_length:]
    if records.isascii():
        return None
    try:
        records.decode("utf-8")
    except UnicodeDecodeError:
        return "GB18030"
    return "UTF-8"


def read_gpkg(data: bytes, crs: str | None, layer: str | None = None) -> Route:
    """A GeoPackage's line layer (the only one, or the one named)."""
    return _read_gdal(data, crs, layer, "GeoPackage")


def _read_gdal(
    data: bytes, crs: str | None, layer: str | None, what: str, encoding: str | None = None
) -> Route:
    frame = _gdal_frame(data, layer, what, encoding=encoding)
    lines = [line for g in frame.geometry if g is not None for line in _lines(g, what)]
    if not lines:
        raise RouteInputError(f"the {what} file holds no line", code="EMPTY_ROUTE")
    file_crs = frame.crs.to_string() if frame.crs is not None else None
    if crs is not None and file_crs is not None and not _same_crs(frame.crs, crs):
        raise CrsError(
            f"{crs} was declared, but the {what} file says its coordinates are in {file_crs}",
            code="CRS_CONFLICT",
            where="crs",
        )
    properties = _first_properties(frame)
    return from_lines(lines, crs or file_crs or "EPSG:4326", properties)


def _same_crs(file_crs: CRS, declared: str) -> bool:
    try:
        return file_crs.equals(CRS.from_user_input(declared), ignore_axis_order=True)
    except PyprojCRSError as exc:
        raise CrsError(f"unknown coordinate reference system {declared!r}", where="crs") from exc


def _gdal_frame(data, layer, what, *, encoding=None, missing_ok=False):
    with warnings.catch_warnings():
        # GDAL notes that the in-memory copy of a GeoPackage has no .gpkg name
        warnings.filterwarnings("ignore", "File /vsimem/.*non conformant", RuntimeWarning)
        return _gdal_read(data, layer, what, encoding, missing_ok)


def _gdal_read(data, layer, what, encoding, missing_ok):
    options: dict[str, Any] = {"encoding": encoding} if encoding else {}
    try:
        layers = [str(name) for name, _ in pyogrio.list_layers(io.BytesIO(data))]
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        raise RouteInputError(f"the {what} file cannot be read: {exc}",
                              code="UNREADABLE_FILE") from exc  # fmt: skip
    if layer is None and len(layers) > 1 and what not in ("GPX", "KML"):
        raise RouteInputError(
            f"the {what} file has layers {layers}; name the one holding the route",
            code="LAYER_REQUIRED",
            where="layer",
        )
    if layer is not None and layer not in layers:
        if missing_ok:
            return None
        raise RouteInputError(f"the {what} file has no layer {layer!r}; it has {layers}",
                              code="UNKNOWN_LAYER", where="layer")  # fmt: skip
    try:
        return pyogrio.read_dataframe(io.BytesIO(data), layer=layer, **options)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        raise RouteInputError(f"the {what} file cannot be read: {exc}",
                              code="UNREADABLE_FILE") from exc  # fmt: skip


def _first_properties(frame) -> dict[str, Any]:
    """The attributes of the first feature that has any, as plain values."""
    columns = [c for c in frame.columns if c != frame.geometry.name]
    for _, row in frame.iterrows():
        values = {c: _plain(row[c]) for c in columns}
        values = {k: v for k, v in values.items() if v is not None}
        if values:
            return values
    return {}


def _plain(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value.item() if hasattr(value, "item") else value


# --- DXF ----------------------------------------------------------------------------------


def read_dxf(data: bytes, crs: str | None, layer: str | None = None) -> Route:
    """Lines, polylines (bulges flattened into arcs), arcs and splines of a DXF drawing.

    DXF carries no CRS, so one must be declared; coordinates are scaled to metres by
    the drawing's $INSUNITS when the CRS is metric.
    """
    if crs is None:
        raise CrsError(
            "a DXF drawing carries no coordinate system; declare its CRS "
            "(for example EPSG:4547 for CGCS2000 3-degree Gauss-Kruger CM 114E)",
            code="CRS_REQUIRED",
            where="crs",
        )
    try:
        document, _ = recover.read(io.BytesIO(data))
    except (ezdxf.DXFStructureError, ezdxf.DXFError, OSError) as exc:
        raise RouteInputError(f"the DXF file cannot be read: {exc}", code="INVALID_DXF") from exc

    scale, notes = _dxf_scale(document, crs)
    lines = []
    for entity in document.modelspace():
        if layer is not None and entity.dxf.layer != layer:
            continue
        if entity.dxftype() not in ("LINE", "LWPOLYLINE", "POLYLINE", "ARC", "SPLINE"):
            continue
        points = [(p.x * scale, p.y * scale) for p in make_path(entity).flattening(
            DXF_FLATTENING)]  # fmt: skip
        if len(set(points)) >= 2:
            lines.append(LineString(points))
    if not lines:
        where = f" on layer {layer!r}" if layer else ""
        raise RouteInputError(f"the DXF drawing has no line{where}", code="EMPTY_ROUTE")
    return from_lines(lines, crs, {}, notes)


def _dxf_scale(document, crs: str) -> tuple[float, list[DecisionWarning]]:
    if CRS.from_user_input(crs).is_geographic:
        return 1.0, []
    units = int(document.header.get("$INSUNITS", 0))
    if units in DXF_UNITS_M:
        return DXF_UNITS_M[units], []
    note = DecisionWarning(
        "DXF_UNITS_ASSUMED",
        f"the drawing's units ($INSUNITS {units}) are not a length unit; metres were assumed",
    )
    return 1.0, [note]


# --- shared -------------------------------------------------------------------------------


def _text(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RouteInputError(
            f"the route file is not UTF-8 text (byte {exc.start})", code="NOT_TEXT"
        ) from exc


def _lines(geometry, what: str) -> list[LineString]:
    if isinstance(geometry, LineString):
        return [geometry]
    if isinstance(geometry, MultiLineString):
        return list(geometry.geoms)
    if geometry.geom_type == "GeometryCollection":
        return [line for part in geometry.geoms for line in _lines(part, what)]
    if geometry.geom_type in ("Point", "MultiPoint"):
        return []
    raise RouteInputError(
        f"the {what} route holds a {geometry.geom_type}; a route must be a line",
        code="NOT_A_LINE",
    )


class _open_zip:
    """Open zip bytes, refusing archives that unpack to more than the limit."""

    def __init__(self, data: bytes, what: str):
        self.data, self.what = data, what

    def __enter__(self) -> zipfile.ZipFile:
        try:
            self.archive = zipfile.ZipFile(io.BytesIO(self.data))
        except zipfile.BadZipFile as exc:
            raise RouteInputError(f"the {self.what} file is not a zip archive",
                                  code="INVALID_ZIP") from exc  # fmt: skip
        unpacked = sum(info.file_size for info in self.archive.infolist())
        if unpacked > MAX_UNPACKED_BYTES or len(self.archive.infolist()) > 100:
            raise RouteInputError(
                f"the {self.what} archive unpacks to {unpacked:,} bytes in "
                f"{len(self.archive.infolist())} files; that is more than is accepted",
                code="FILE_TOO_LARGE",
            )
        return self.archive

    def __exit__(self, *exc) -> None:
        self.archive.close()


READERS: dict[str, Callable[[bytes, str | None, str | None], Route]] = {
    "geojson": read_geojson,
    "wkt": read_wkt,
    "kml": read_kml,
    "kmz": read_kmz,
    "gpx": read_gpx,
    "shapefile": read_shapefile,
    "gpkg": read_gpkg,
    "dxf": read_dxf,
}
