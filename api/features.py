"""The district's layers for planners: OGC API – Features, Part 1 (core) and Part 2 (CRS).

Each layer of the store is a collection. Features are GeoJSON, in CRS84 by default
or in the district's own CRS on request (``crs=``). Feature ids contain a slash
(``way/123``); the item path takes the id as the rest of the path, so both the
literal ``items/way/123`` and the percent-encoded ``items/way%2F123`` (what clients
that encode ids send, and what the links use) name the same feature.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
from typing import Annotated, Any, Literal
from urllib.parse import quote, urlencode

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from pyproj import CRS
from shapely import STRtree

from api.problems import MalformedRequest, NotFound, Problem
from geo.route import transform_bounds, transform_geometries
from layers.catalogue import COVERAGE_LAYER, SPECS
from layers.district import District

router = APIRouter(tags=["layers (OGC API – Features)"])


class Link(BaseModel):
    href: str = Field(description="Target URL.")
    rel: str = Field(description="Relation: self, service-desc, data, items, next, …")
    type: str = Field(description="Media type of the target.")
    title: str | None = Field(None, description="What the target is.")


class Landing(BaseModel):
    title: str = Field(description="Name of the service.")
    description: str = Field(description="What the service offers.")
    links: list[Link] = Field(description="API description, conformance, collections.")


class Conformance(BaseModel):
    conformsTo: list[str] = Field(description="Conformance classes implemented.")


class CollectionInfo(BaseModel):
    id: str = Field(description="Collection id: the layer name.")
    title: str = Field(description="Title of the collection.")
    description: str = Field(description="What the layer holds.")
    itemType: str = Field(description="Always feature.")
    extent: dict[str, Any] = Field(description="Spatial extent, a CRS84 bbox.")
    crs: list[str] = Field(description="CRSs features can be had in (the `crs` parameter).")
    storageCrs: str = Field(description="The CRS the layer is stored and measured in.")
    links: list[Link] = Field(description="The collection itself and its items.")


class Collections(BaseModel):
    links: list[Link] = Field(description="This document.")
    collections: list[CollectionInfo] = Field(description="Every layer of the district.")
    crs: list[str] = Field(description="CRSs every collection offers.")


class FeaturePage(BaseModel):
    """A page of features (GeoJSON FeatureCollection with OGC API members)."""

    model_config = ConfigDict(extra="allow")

    type: Literal["FeatureCollection"] = Field(description="GeoJSON type.")
    features: list[dict[str, Any]] = Field(description="GeoJSON features; `id` is feature_id.")
    numberMatched: int = Field(description="Features matching the filter, on all pages.")
    numberReturned: int = Field(description="Features on this page.")
    timeStamp: str = Field(description="When the page was made.")
    links: list[Link] = Field(description="self, and next and prev where there are more.")


CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
GEOJSON = "application/geo+json"

CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
]


def crs_uri(crs: str) -> str:
    """The OGC URI of a CRS with an EPSG code, e.g. EPSG:3067."""
    code = CRS.from_user_input(crs).to_epsg()
    if code is None:
        raise ValueError(f"CRS {crs} has no EPSG code to publish it by")
    return f"http://www.opengis.net/def/crs/EPSG/0/{code}"


class Collection:
    """One layer: its features in the native CRS, a spatial index, and its version.

    Nothing is reprojected up front: a page of features is moved to CRS84 when it is
    asked for, and a CRS84 bbox is moved into the native CRS to query the index. A
    city's 1.25 M features reprojected at start-up took three seconds and doubled the
    geometries held.
    """

    def __init__(
        self,
        id: str,
        description: str,
        frame: gpd.GeoDataFrame,
        native_crs: str,
        version: str | None = None,
        index: STRtree | None = None,
    ):
        self.id = id
        self.description = description
        self.frame = frame.reset_index(drop=True)
        if self.frame.crs is None:
            # the district's indexed layers keep attributes, not always the CRS
            self.frame = self.frame.set_crs(native_crs)
        self.native_crs = native_crs
        self.geometries = np.asarray(self.frame.geometry.values)
        # an index over the same geometries in the same order (the district's own) serves
        self.index = index if index is not None else STRtree(self.geometries)
        self.native = crs_uri(native_crs)
        self.crs = [CRS84, self.native]
        self.bbox = self._lonlat_bounds()
        self.version = version or _version(self.frame)
        self._select = functools.lru_cache(maxsize=8)(self._select_bbox)

    def __len__(self) -> int:
        return len(self.frame)

    @functools.cached_property
    def ids(self) -> dict[str, int]:
        """Row position by feature id, made at the first lookup of one feature."""
        return {fid: i for i, fid in enumerate(self.frame["feature_id"])}

    def features(self, indexes, crs: str) -> list[dict[str, Any]]:
        """The features at these row positions as GeoJSON in CRS84 or the native CRS.

        Coordinates keep 7 decimals of a degree or 3 of a metre (about a centimetre,
        a millimetre); the native CRS is written in its own axis order.
        """
        rows = np.asarray(indexes, dtype=int)
        if crs == CRS84:
            geometries, decimals = self._lonlat(self.geometries[rows]), 7
        else:
            geometries, decimals = _axis_ordered(self.frame.iloc[rows]).geometry.values, 3
        return _features(self.frame.iloc[rows], geometries, decimals)

    def select(self, bbox: list[float] | None) -> np.ndarray:
        """Indexes of the features whose geometry meets a CRS84 bbox (all when None).

        The bbox, clipped to the layer's extent and densified, is moved into the native
        CRS; features meeting it shrunk by a metre meet the bbox, those meeting it grown
        by a metre are candidates, tested in CRS84. A metre is far beyond what the
        densified edges stray from the true ones.
        """
        if bbox is None:
            return np.arange(len(self.frame))
        return self._select(tuple(bbox))

    def _select_bbox(self, bbox: tuple[float, float, float, float]) -> np.ndarray:
        """`select` for a bbox; `_select` keeps the last few for the next pages of the
        same bbox (a client pages through one at a time, and a large one takes seconds)."""
        (west, south, east, north), extent = bbox, self.bbox
        if west <= extent[0] and south <= extent[1] and east >= extent[2] and north >= extent[3]:
            return np.arange(len(self.frame))  # the whole extent: every feature
        west, south = max(west, extent[0]), max(south, extent[1])
        east, north = min(east, extent[2]), min(north, extent[3])
        if west > east or south > north:
            return np.empty(0, dtype=int)
        # a point or line of a bbox is widened by ~1 cm to make an area to move
        pad = 1e-7
        west, south, east, north = west - pad, south - pad, east + pad, north + pad
        outline = shapely.segmentize(shapely.box(west, south, east, north),
                                     max(east - west, north - south) / 64)  # fmt: skip
        area = transform_geometries(outline, CRS84_NAME, self.native_crs)
        sure = self.index.query(area.buffer(-BBOX_MARGIN_M), predicate="intersects")
        near = self.index.query(area.buffer(BBOX_MARGIN_M), predicate="intersects")
        doubtful = np.setdiff1d(near, sure)
        meets = shapely.intersects(self._lonlat(self.geometries[doubtful]), shapely.box(*bbox))
        return np.union1d(sure, doubtful[meets])

    def _lonlat(self, geometries: np.ndarray) -> np.ndarray:
        return transform_geometries(geometries, self.native_crs, CRS84_NAME)

    def _lonlat_bounds(self) -> list[float]:
        """The layer's extent in CRS84 (the box around its native extent, moved)."""
        if not len(self.frame):
            return [0.0, 0.0, 0.0, 0.0]
        bounds = transform_bounds(self.frame.total_bounds, self.native_crs, CRS84_NAME)
        return [round(v, 7) for v in bounds]


#: The CRS84 bbox meets features through the native index within this margin (metres).
BBOX_MARGIN_M = 1.0

#: CRS84 as pyproj names it.
CRS84_NAME = "OGC:CRS84"


def _north_first(crs) -> bool:
    return crs.axis_info[0].direction.lower() in ("north", "south")


def _axis_ordered(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The frame with coordinates in its CRS's axis order (OGC API Part 2 asks for it).

    CGCS2000 Gauss-Krüger CRSs, for one, put northing first.
    """
    if _north_first(frame.crs):
        frame = frame.copy()
        frame.geometry = shapely.transform(frame.geometry.values, lambda xy: xy[:, ::-1])
    return frame


def _features(frame: gpd.GeoDataFrame, geometries, decimals: int) -> list[dict[str, Any]]:
    rounded = shapely.transform(np.asarray(geometries), lambda xy: np.round(xy, decimals))
    geometries = [shapely.geometry.mapping(g) for g in rounded]
    attributes = frame.drop(columns=frame.geometry.name)
    records = json.loads(attributes.to_json(orient="records", date_format="iso"))
    return [
        {"type": "Feature", "id": str(row["feature_id"]), "geometry": geometry, "properties": row}
        for row, geometry in zip(records, geometries, strict=True)
    ]


def _version(frame: gpd.GeoDataFrame) -> str:
    """Content hash of a layer: attributes and geometry, in the store's CRS."""
    digest = hashlib.sha256(frame.crs.to_wkt().encode())
    digest.update(pd.util.hash_pandas_object(frame.drop(columns=frame.geometry.name)).values)
    for wkb in shapely.to_wkb(frame.geometry.values):
        digest.update(wkb)
    return digest.hexdigest()[:16]


def load_collections(district: District) -> dict[str, Collection]:
    """A collection per layer of the district's store, and one for its coverage."""
    crs = district.settings.crs
    layers = district.fingerprint["layers"]
    collections = {
        name: Collection(
            name,
            SPECS[name].description,
            layer.frame,
            crs,
            layers[name]["sha256"][:16],
            index=layer.tree,
        )  # fmt: skip
        for name, layer in district.layers.items()
    }
    coverage = gpd.GeoDataFrame(
        {"feature_id": ["coverage/0"], "district_id": [district.id]},
        geometry=[district.coverage],
        crs=crs,
    )
    description = "The area the district's layers cover; routes must lie inside it."
    collections[COVERAGE_LAYER] = Collection(COVERAGE_LAYER, description, coverage, crs)
    return collections


def _service(request: Request):
    # the service this request started on, not the app's current one (see api.state)
    return request.state.service


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _link(href: str, rel: str, type: str, title: str | None = None) -> dict[str, str]:
    link = {"href": href, "rel": rel, "type": type}
    if title:
        link["title"] = title
    return link


def _collection(request: Request, collection: Collection) -> dict[str, Any]:
    base = f"{_base(request)}/collections/{collection.id}"
    return {
        "id": collection.id,
        "title": collection.id,
        "description": collection.description,
        "itemType": "feature",
        "extent": {"spatial": {"bbox": [collection.bbox], "crs": CRS84}},
        "crs": collection.crs,
        "storageCrs": collection.native,
        "links": [
            _link(base, "self", "application/json", "this collection"),
            _link(f"{base}/items", "items", GEOJSON, f"{collection.id} features"),
        ],
    }


def _get(request: Request, collection_id: str) -> Collection:
    collection = _service(request).collections.get(collection_id)
    if collection is None:
        known = ", ".join(_service(request).collections)
        raise NotFound(f"no collection {collection_id!r}; collections: {known}", where="id")
    return collection


@router.get("/", summary="Landing page", response_model=Landing, response_model_exclude_none=True)
def landing(request: Request) -> dict[str, Any]:
    """Links to the API description, conformance, the collections and the drawing page."""
    base = _base(request)
    district = _service(request).district
    return {
        "title": f"routecheck: {district.settings.name}",
        "description": "Route conflict checking for power-access works, and the district's "
        "layers as OGC API – Features.",
        "links": [
            _link(f"{base}/", "self", "application/json", "this document"),
            _link(
                f"{base}/openapi.json",
                "service-desc",
                "application/vnd.oai.openapi+json;version=3.1",
                "the API definition",
            ),
            _link(f"{base}/docs", "service-doc", "text/html", "the API documentation"),
            _link(f"{base}/conformance", "conformance", "application/json", "conformance"),
            _link(f"{base}/collections", "data", "application/json", "the district's layers"),
            _link(f"{base}/draw", "alternate", "text/html", "draw a route and check it"),
        ],
    }


@router.get("/conformance", summary="Conformance classes", response_model=Conformance)
def conformance() -> dict[str, list[str]]:
    """The OGC API – Features conformance classes this service implements."""
    return {"conformsTo": CONFORMANCE}


@router.get(
    "/collections",
    summary="The district's layers",
    response_model=Collections,
    response_model_exclude_none=True,
)
def collections(request: Request) -> dict[str, Any]:
    """Every layer of the district as a collection."""
    base = _base(request)
    return {
        "links": [_link(f"{base}/collections", "self", "application/json", "collections")],
        "collections": [_collection(request, c) for c in _service(request).collections.values()],
        "crs": [CRS84],
    }


@router.get(
    "/collections/{id}",
    summary="One layer",
    response_model=CollectionInfo,
    response_model_exclude_none=True,
    responses={404: {"model": Problem}},
)
def collection(request: Request, id: str) -> dict[str, Any]:
    """A layer's description, extent, CRSs and links."""
    return _collection(request, _get(request, id))


def _bbox(text: str | None) -> list[float] | None:
    if text is None:
        return None
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError as exc:
        raise MalformedRequest(
            f"bbox {text!r} is not a list of numbers", code="INVALID_BBOX", where="bbox"
        ) from exc
    if len(values) == 6:
        values = [values[0], values[1], values[3], values[4]]
    if len(values) != 4 or not all(np.isfinite(values)):
        raise MalformedRequest(
            f"bbox {text!r} needs four finite numbers: minx,miny,maxx,maxy",
            code="INVALID_BBOX",
            where="bbox",
        )
    if values[0] > values[2] or values[1] > values[3]:
        raise MalformedRequest(
            f"bbox {text!r} has its minimum above its maximum", code="INVALID_BBOX", where="bbox"
        )
    return values


def _crs_param(collection: Collection, value: str | None, name: str) -> str:
    if value is None:
        return CRS84
    uri = value.strip("<>")
    if uri not in collection.crs:
        raise MalformedRequest(
            f"{name} {value!r} is not offered; use one of {', '.join(collection.crs)}",
            code="INVALID_CRS_PARAMETER",
            where=name,
        )
    return uri


def _to_crs84(bbox: list[float], collection: Collection, bbox_crs: str) -> list[float]:
    """A bbox given in the collection's own CRS (in that CRS's axis order), in CRS84."""
    if bbox_crs == CRS84:
        return bbox
    if _north_first(collection.frame.crs):
        bbox = [bbox[1], bbox[0], bbox[3], bbox[2]]
    box = gpd.GeoSeries([shapely.box(*bbox)], crs=collection.frame.crs)
    return list(box.to_crs("OGC:CRS84").total_bounds)


@router.get(
    "/collections/{id}/items",
    summary="Features of a layer",
    responses={
        200: {"model": FeaturePage, "content": {GEOJSON: {}}},
        400: {"model": Problem},
        404: {"model": Problem},
    },
)
def items(
    request: Request,
    id: str,
    limit: Annotated[int | None, Query(ge=1, description="Features per page.")] = None,
    offset: Annotated[int, Query(ge=0, description="Features to skip (from `next` links).")] = 0,
    bbox: Annotated[
        str | None,
        Query(description="minx,miny,maxx,maxy in CRS84 (or in `bbox-crs`)."),
    ] = None,
    bbox_crs: Annotated[str | None, Query(alias="bbox-crs", description="CRS of bbox.")] = None,
    crs: Annotated[str | None, Query(description="CRS of the features (default CRS84).")] = None,
) -> JSONResponse:
    """A page of the layer's features, filtered by bbox, with `next` links and counts."""
    collection = _get(request, id)
    settings = _service(request).settings
    limit = min(limit or settings.items_limit, settings.items_max_limit)
    out_crs = _crs_param(collection, crs, "crs")
    box = _bbox(bbox)
    if box is not None:
        box = _to_crs84(box, collection, _crs_param(collection, bbox_crs, "bbox-crs"))

    matched = collection.select(box)
    page = matched[offset : offset + limit]
    body = {
        "type": "FeatureCollection",
        "features": collection.features(page, out_crs),
        "numberMatched": int(len(matched)),
        "numberReturned": int(len(page)),
        "timeStamp": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "links": _page_links(request, offset, limit, len(matched)),
    }
    return JSONResponse(body, media_type=GEOJSON, headers={"Content-Crs": f"<{out_crs}>"})


def _page_links(request: Request, offset: int, limit: int, matched: int) -> list[dict[str, str]]:
    url = f"{_base(request)}{request.url.path}"
    params = {k: v for k, v in request.query_params.items() if k not in ("offset", "limit")}

    def at(start: int) -> str:
        return f"{url}?{urlencode({**params, 'offset': start, 'limit': limit})}"

    links = [_link(at(offset), "self", GEOJSON, "this page")]
    if offset + limit < matched:
        links.append(_link(at(offset + limit), "next", GEOJSON, "next page"))
    if offset > 0:
        links.append(_link(at(max(offset - limit, 0)), "prev", GEOJSON, "previous page"))
    return links


@router.get(
    "/collections/{id}/items/{feature_id:path}",
    summary="One feature",
    responses={200: {"content": {GEOJSON: {}}}, 404: {"model": Problem}},
)
def item(
    request: Request,
    id: str,
    feature_id: str,
    crs: Annotated[str | None, Query(description="CRS of the feature (default CRS84).")] = None,
) -> JSONResponse:
    """One feature by id, e.g. ``way/4243036``, literal or percent-encoded."""
    collection = _get(request, id)
    out_crs = _crs_param(collection, crs, "crs")
    index = collection.ids.get(feature_id)
    if index is None:
        raise NotFound(f"collection {id!r} has no feature {feature_id!r}", where="featureId")
    base = f"{_base(request)}/collections/{id}"
    feature = {
        **collection.features([index], out_crs)[0],
        "links": [
            _link(f"{base}/items/{quote(feature_id, safe='')}", "self", GEOJSON, "this feature"),
            _link(base, "collection", "application/json", "the collection"),
        ],
    }
    return JSONResponse(feature, media_type=GEOJSON, headers={"Content-Crs": f"<{out_crs}>"})
