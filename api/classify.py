"""The intake API: classify a route, list its conflicts, preview it on a map.

Handlers only parse, call the district and serialise: the decision is the engine's
(`District.classify` and `Decision.to_dict`), so the service answers what the CLI prints.
Errors are raised as routecheck errors and rendered by `api.problems`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import PurePosixPath
from typing import Annotated, Any

import geopandas as gpd
from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse
from shapely.geometry import mapping

from api import models
from api.assets import localise, set_basemap
from api.headers import with_nonce
from api.inputs import MAX_FILE_BYTES
from api.inputs import read_route as read_file_route
from api.problems import MalformedRequest, Problem, UnsupportedMediaType
from api.records import decide_and_record
from api.state import Service, get_service
from geo.datum import Datum, to_wgs84
from geo.route import parse_route

router = APIRouter(prefix="/v1", tags=["intake"])

#: Media types a route may be sent as.
JSON_TYPES = ("application/json", "application/geo+json")

CrsParam = Annotated[
    str | None,
    Query(
        description="CRS of the route's coordinates, e.g. EPSG:3067; WGS84 longitude, "
        "latitude when not given.",
        examples=["EPSG:4326"],
    ),
]

SubmittedParam = Annotated[
    dt.datetime | None,
    Query(
        description="When the application was received (ISO 8601 with offset); it dates "
        "the deadline. The time of the request when not given.",
        examples=["2026-09-30T10:00:00+08:00"],
    ),
]

DatumParam = Annotated[
    Datum,
    Query(
        description="Web-map datum of a longitude/latitude drawing: wgs84, gcj02 (Amap, "
        "Tencent) or bd09 (Baidu). A GCJ-02 or BD-09 drawing is moved back to WGS84.",
        examples=["wgs84"],
    ),
]

#: Problems any route endpoint may answer with, for the OpenAPI page.
PROBLEMS: dict[int | str, dict[str, Any]] = {
    status: {
        "model": Problem,
        "content": {"application/problem+json": {}},
        "description": description,
    }
    for status, description in (
        (400, "The body is not valid JSON."),
        (413, "The body is larger than the service accepts."),
        (415, "The body is not sent as JSON."),
        (422, "The route or its facts cannot be screened; `where` names the member."),
    )
}


async def read_route(request: Request) -> object:
    """The request body as parsed JSON, refusing other media types and NaN/Infinity."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in JSON_TYPES:
        raise UnsupportedMediaType(
            f"send the route as application/json or application/geo+json, "
            f"not {media or 'a body without Content-Type'}",
            where="Content-Type",
        )
    body = await request.body()
    if not body.strip():
        raise MalformedRequest("the request body is empty: send a GeoJSON route", code="EMPTY_BODY")
    try:
        return json.loads(body.decode("utf-8"), parse_constant=_refuse_constant)
    except UnicodeDecodeError as exc:
        raise MalformedRequest(
            f"the body is not UTF-8 text (byte {exc.start})", code="INVALID_JSON"
        ) from exc
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}"
        raise MalformedRequest(
            f"the body is not valid JSON: {exc.msg}", code="INVALID_JSON", where=where
        ) from exc
    except RecursionError as exc:
        raise MalformedRequest("the body is nested too deeply", code="INVALID_JSON") from exc
    except ValueError as exc:  # e.g. an integer of more digits than Python reads
        raise MalformedRequest(f"the body cannot be read: {exc}", code="INVALID_JSON") from exc


def _refuse_constant(name: str) -> float:
    raise MalformedRequest(f"{name} is not a valid JSON number", code="INVALID_JSON")


def _summarise(request: Request, screening, track: str | None = None, **more: str) -> None:
    """Leave what the request did for the one log line the app writes per request."""
    request.state.summary = {
        "route_m": f"{screening.length_m:.1f}",
        "conflicts": str(len(screening.conflicts)),
        "track": track or "-",
        **more,
    }


@router.post(
    "/classify",
    response_model=models.Decision,
    responses=PROBLEMS,
    summary="Decide the procedure track of a route",
    openapi_extra=models.route_request_body(
        "The route as a GeoJSON Feature (or FeatureCollection of segments) with the project "
        "facts in its properties."
    ),
)
async def classify(
    request: Request,
    service: Annotated[Service, Depends(get_service)],
    crs: CrsParam = None,
    datum: DatumParam = "wgs84",
    submitted: SubmittedParam = None,
) -> dict[str, Any]:
    """Screen the route on the district and decide its track, reasons and bureaus.

    The answer is the decision `routecheck classify` prints, with the id of its record
    and the version of the district it was made on; the record (inputs, rules and layer
    versions, decision) is kept, as the CLI keeps it (`GET /v1/decisions/{id}`).
    """
    geojson = await read_route(request)
    return await _decide(request, service, lambda: parse_route(geojson, crs), {}, datum,
                         submitted)  # fmt: skip


async def _decide(request, service: Service, make_route, facts, datum, submitted):
    """Decide a route, keep its record, and answer with the decision and its id."""

    def decide():
        return decide_and_record(
            service.district, make_route(), facts=facts, datum=datum, submitted=submitted
        )

    decision, record = await request.app.state.screening.run(decide)
    # the answer waits for the record's commit, on the loop rather than a screening thread
    await asyncio.wrap_future(service.records.submit(record))
    _summarise(request, decision.screening, decision.track, decision=record.id)
    # answered as it is, not run through the response model again: the decision is
    # already plain JSON data in the model's shape (the tests hold it to the model), and
    # validating and re-encoding it cost more than screening a short route
    body = {"decision_id": record.id, "version": service.version, **record.decision}
    return JSONResponse(body)


@router.post(
    "/classify/upload",
    response_model=models.Decision,
    responses=PROBLEMS,
    summary="Decide the procedure track of a route file",
)
async def classify_upload(
    request: Request,
    service: Annotated[Service, Depends(get_service)],
    file: Annotated[
        UploadFile,
        File(
            description="The route file: GeoJSON, KML, KMZ, GPX, zipped Shapefile, "
            "GeoPackage, DXF or WKT, told apart by its name (or `format`)."
        ),
    ],
    voltage_kv: Annotated[float | None, Form(description="Supply voltage in kV.")] = None,
    customer: Annotated[str | None, Form(description="residential, small_micro or other.")] = None,
    three_zero: Annotated[bool | None, Form(description="Served under the 三零 scheme.")] = None,
    capacity_kw: Annotated[float | None, Form(description="Requested capacity in kW.")] = None,
    area: Annotated[str | None, Form(description="urban or rural.")] = None,
    fells_trees: Annotated[bool | None, Form(description="The works fell or move trees.")] = None,
    start_date: Annotated[str | None, Form(description="Planned start, YYYY-MM-DD.")] = None,
    crs: CrsParam = None,
    datum: DatumParam = "wgs84",
    fmt: Annotated[
        str | None, Query(alias="format", description="Route format, when the name is not it.")
    ] = None,
    layer: Annotated[
        str | None, Query(description="Layer of a GeoPackage or DXF that holds the route.")
    ] = None,
    submitted: SubmittedParam = None,
) -> dict[str, Any]:
    """Screen an uploaded route file and decide its track, as `routecheck classify FILE`.

    The file is read from the bytes sent, never from a path or address it names; facts
    given as form fields override those in the file's attributes.
    """
    data = await file.read(MAX_FILE_BYTES + 1)
    name = PurePosixPath(file.filename or "").name
    facts = {
        "voltage_kv": voltage_kv, "customer": customer, "three_zero": three_zero,
        "capacity_kw": capacity_kw, "area": area, "fells_trees": fells_trees,
        "start_date": start_date,
    }  # fmt: skip

    def make_route():
        return read_file_route(data, name, crs=crs, fmt=fmt, layer=layer)

    return await _decide(request, service, make_route, facts, datum, submitted)


@router.post(
    "/conflicts",
    response_model=models.Conflicts,
    response_class=JSONResponse,
    responses={**PROBLEMS, 200: {"content": {"application/geo+json": {}}}},
    summary="List the layer features a route meets",
    openapi_extra=models.route_request_body(
        "The route as a GeoJSON Feature or FeatureCollection of segments; facts are not needed."
    ),
)
async def conflicts(
    request: Request,
    service: Annotated[Service, Depends(get_service)],
    crs: CrsParam = None,
    datum: DatumParam = "wgs84",
) -> JSONResponse:
    """The conflicts alone, as GeoJSON: each feature's zone (in CRS84) with its measures."""
    geojson = await read_route(request)
    district = service.district
    screening = await request.app.state.screening.run(
        lambda: district.screen(to_wgs84(parse_route(geojson, crs), datum))
    )
    zones = gpd.GeoSeries([c.zone for c in screening.conflicts], crs=district.settings.crs)
    features = [
        {"id": c.feature_id, "geometry": mapping(zone), "properties": c.to_dict()}
        for c, zone in zip(screening.conflicts, zones.to_crs(4326), strict=True)
    ]
    body = models.Conflicts(
        district={"id": district.id, "name": district.settings.name},
        route=_route_summary(screening),
        features=features,
        version=service.version,
    )
    _summarise(request, screening)
    return JSONResponse(body.model_dump(mode="json"), media_type="application/geo+json")


def _route_summary(screening) -> dict[str, float]:
    return {
        "length_m": round(screening.length_m, 2),
        "footprint_area_m2": round(screening.area_m2, 2),
        "work_width_m": screening.work_width_m,
        "tolerance_m": screening.tolerance_m,
    }


@router.post(
    "/preview",
    response_class=HTMLResponse,
    responses={**PROBLEMS, 200: {"content": {"text/html": {}}, "description": "A map page."}},
    summary="Draw the decision for a route on a map",
    openapi_extra=models.route_request_body(
        "The route as for /v1/classify, with the project facts in its properties."
    ),
)
async def preview(
    request: Request,
    service: Annotated[Service, Depends(get_service)],
    crs: CrsParam = None,
    datum: DatumParam = "wgs84",
    submitted: SubmittedParam = None,
) -> HTMLResponse:
    """The map `routecheck classify --map` writes: route, footprint, conflicts, legend."""
    from api.mapview import decision_map

    geojson = await read_route(request)
    district = service.district
    static_url = request.scope.get("root_path", "") + "/static"

    def render() -> tuple[Any, str]:
        decision = district.classify(geojson, crs=crs, datum=datum, submitted=submitted)
        fmap = set_basemap(decision_map(decision, district), service.settings, district.attribution)
        return decision, localise(fmap, static_url).get_root().render()

    decision, page = await request.app.state.screening.run(render)
    _summarise(request, decision.screening, decision.track)
    return HTMLResponse(with_nonce(page, request))


@router.get(
    "/districts",
    response_model=list[models.DistrictInfo],
    summary="The district this service screens on",
)
def districts(service: Annotated[Service, Depends(get_service)]) -> list[dict[str, Any]]:
    """Id, CRS, coverage, rules version and layer versions of the loaded district."""
    district = service.district
    coverage = gpd.GeoSeries([district.coverage], crs=district.settings.crs).to_crs(4326)
    identity = district.rules.identity
    layers = [
        {
            "id": c.id,
            "description": c.description,
            "features": len(c),
            "version": c.version,
        }
        for c in service.collections.values()
    ]
    return [
        {
            "id": district.id,
            "name": district.settings.name,
            "crs": district.settings.crs,
            "coverage": mapping(coverage.iloc[0]),
            "bbox": [round(v, 7) for v in coverage.total_bounds],
            "rules": {
                "district": identity.district,
                "version": identity.version,
                "source": identity.source,
            },
            "layers": layers,
            "store": district.metadata,
            "attribution": district.attribution,
            "work_width_m": district.settings.work_width_m,
            "tolerance_m": district.settings.tolerance_m,
            "version": service.version,
        }
    ]
