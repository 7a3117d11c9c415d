"""Request and response models of the intake API, for validation and the OpenAPI page.

The decision models name the fields the decision engine returns today and allow more
(``extra="allow"``): the engine owns the decision, the API only serialises it, so a
field the engine adds later passes through instead of breaking the service.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from geo.decision import ProjectFacts
from layers.district import sample_district_path


class Open(BaseModel):
    """A response object that keeps fields it does not name."""

    model_config = ConfigDict(extra="allow")


class Track(Open):
    code: str = Field(description="Track code: commitment, filing or parallel_approval.")
    name: str = Field(description="Chinese name of the track, e.g. 告知承诺制.")
    name_en: str | None = Field(None, description="English name of the track.")
    time_limit_working_days: int | float | None = Field(
        None, description="Working days the bureaus have to answer, where the track sets one."
    )
    work_may_start: str | None = Field(None, description="When the works may start.")
    submitted: str | None = Field(None, description="When the application was received.")
    received: str | None = Field(None, description="Working day the time limit counts from.")
    due: str | None = Field(None, description="Date by which the bureaus must answer.")
    due_provisional: bool | None = Field(
        None, description="Whether the due date rests on an assumed calendar."
    )


class RulesRef(Open):
    district: str = Field(description="Rule set the decision was made under.")
    version: str = Field(description="Version of the rule set.")
    source: str | None = Field(None, description="The plan the rules encode.")


class RouteSummary(Open):
    length_m: float = Field(description="Route centreline length in metres (district CRS).")
    footprint_area_m2: float = Field(description="Area of the works footprint in m².")
    work_width_m: float = Field(description="Width of the works the footprint is built with.")
    tolerance_m: float = Field(description="Touch tolerance used when screening.")


class Reason(Open):
    rule: str = Field(description="Id of the rule in the rule file.")
    clause: str = Field(description="Clause of the district plan the rule comes from.")
    text: str = Field(description="What the rule says.")
    effect: str = Field(description="sets_track, bars or also_applies.")
    feature_ids: list[str] = Field(description="Features that made the rule hold.")


class Conflict(Open):
    layer: str = Field(description="Layer of the feature: roads, bridges, green or trees.")
    kind: str = Field(description="Kind within the layer, e.g. main, green, ancient_tree.")
    feature_id: str = Field(description="Feature id, e.g. way/4243036 for an OSM way.")
    name: str | None = Field(None, description="Name of the feature, where it has one.")
    length_m: float = Field(description="Metres of route centreline inside the feature's zone.")
    area_m2: float = Field(description="Square metres of works footprint inside the zone.")
    gap_m: float = Field(description="Gap between footprint and zone (≤ tolerance).")
    from_m: float = Field(description="Metres along the route to the first contact.")
    attributes: dict[str, Any] = Field(description="The feature's other attributes.")


class BureauItem(Open):
    id: str = Field(description="Id of the permit item in the rule file.")
    name: str = Field(description="Chinese name of the item.")
    name_en: str | None = Field(None, description="English name of the item.")
    clause: str | None = Field(None, description="Clause of the plan.")
    feature_ids: list[str] = Field(description="Features behind the item.")


class Bureau(Open):
    code: str = Field(description="Bureau code.")
    name: str = Field(description="Chinese name of the bureau.")
    name_en: str | None = Field(None, description="English name of the bureau.")
    role: str = Field(description="Role on this track: supervise, register, approve, notify…")
    lead: bool = Field(description="Whether the bureau leads on this track.")
    items: list[BureauItem] = Field(description="Permit items the bureau handles.")


class DecisionWarning(Open):
    code: str = Field(description="Stable code of the assumption, e.g. START_DATE_ASSUMED.")
    text: str = Field(description="What was assumed.")


class DistrictRef(Open):
    """Which district a route was screened on."""

    id: str = Field(description="District id.")
    name: str = Field(description="District name.")


class Decision(Open):
    """The decision for one route, as `routecheck classify` prints it, plus its id."""

    version: str = Field(
        description="Version of the district the decision was made on: the rules version "
        "and a digest of the rules, layers and district settings, as in the "
        "Routecheck-Version header. It changes when a reload changes what is decided on.",
        examples=["2022.1+3f7a0c9e5b1d"],
    )
    decision_id: str = Field(
        description="Id of the decision's record, derived from the route and facts as "
        "given, the submission time, the rules and layer versions and the software: the "
        "same inputs on the same versions give the same id (`routecheck decision show ID`).",
        examples=["d-3f7a0c9e5b1d2a4c6e8f0a1b2c3d4e5f"],
    )
    district: DistrictRef = Field(description="The district the route was screened on.")
    track: Track = Field(description="The procedure track and its time limit.")
    rules: RulesRef = Field(description="The rules the decision was made under.")
    facts: dict[str, Any] = Field(description="The facts as the rules saw them, resolved.")
    route: RouteSummary = Field(description="What was measured of the route.")
    measures: dict[str, Any] = Field(
        default_factory=dict, description="Quantities the rules measured, by name."
    )
    reasons: list[Reason] = Field(description="Each rule that set or moved the track.")
    conflicts: list[Conflict] = Field(description="Each layer feature the footprint meets.")
    bureaus: list[Bureau] = Field(description="Each bureau involved and its permit items.")
    warnings: list[DecisionWarning] = Field(
        default_factory=list, description="What the decision assumed."
    )


class ConflictFeature(Open):
    type: Literal["Feature"] = Field("Feature", description="GeoJSON type.")
    id: str = Field(description="The conflicting feature's id.")
    geometry: dict[str, Any] = Field(description="Its zone, in CRS84 longitude/latitude.")
    properties: Conflict = Field(description="The conflict, as in a decision.")


class Conflicts(Open):
    """The conflicts of a route as GeoJSON: each feature's zone with its conflict."""

    type: Literal["FeatureCollection"] = Field("FeatureCollection", description="GeoJSON type.")
    district: DistrictRef = Field(description="The district the route was screened on.")
    route: RouteSummary = Field(description="What was measured of the route.")
    features: list[ConflictFeature] = Field(description="One feature per conflict.")
    version: str = Field(description="Version of the district screened on, as for /v1/classify.")


class LayerInfo(Open):
    id: str = Field(description="Layer (and OGC API collection) id.")
    description: str = Field(description="What the layer holds.")
    features: int = Field(description="Number of features.")
    version: str = Field(description="Content hash of the layer: changes when its data does.")


class DistrictInfo(Open):
    id: str = Field(description="District id.")
    name: str = Field(description="District name.")
    crs: str = Field(description="The district's metric CRS, e.g. EPSG:3067.")
    coverage: dict[str, Any] = Field(description="Coverage polygon, GeoJSON in CRS84.")
    bbox: list[float] = Field(description="Coverage bounds in CRS84: west, south, east, north.")
    rules: RulesRef = Field(description="The rules routes are decided under.")
    layers: list[LayerInfo] = Field(description="The district's layers and their versions.")
    store: dict[str, Any] = Field(description="Metadata of the layer store (source, build).")
    attribution: str = Field(description="Attribution the district's data requires.")
    work_width_m: float = Field(description="Width of the works footprints are built with.")
    tolerance_m: float = Field(description="Touch tolerance, in metres.")
    version: str = Field(description="Version of the district served, as for /v1/classify.")


class Health(Open):
    status: Literal["ok"] = Field("ok", description="ok while the service is up.")
    district: str = Field(description="Id of the district loaded.")
    version: str = Field(description="Version of the district served, as for /v1/classify.")


class DecisionRecord(Open):
    """A stored decision: its inputs as given, what it was decided on, and the decision."""

    id: str = Field(description="The decision id.", examples=["d-3f7a0c9e5b1d2a4c6e8f0a1b2c3d4e5f"])
    created_at: str = Field(description="When the record was made (ISO 8601, UTC).")
    inputs: dict[str, Any] = Field(
        description="The route geometry in its own CRS, its properties, the facts, datum "
        "and submission time, as given."
    )
    basis: dict[str, Any] = Field(
        description="The district, the rules' identity and content hash, and each layer's "
        "version and content hash."
    )
    software: str = Field(description="routecheck version that decided.")
    decision: dict[str, Any] = Field(description="The decision, as /v1/classify answered it.")


class DecisionSummary(Open):
    id: str = Field(description="The decision id.")
    href: str = Field(description="Where the whole record is (GET).")
    created_at: str = Field(description="When the record was made.")
    track: str = Field(description="The track decided.")
    received: str | None = Field(None, description="Working day the time limit counted from.")
    valid_until: str | None = Field(None, description="Last day the decision is valid.")
    rules_version: str = Field(description="Version of the rules decided under.")


class DecisionList(Open):
    """A page of stored decisions of the district served, oldest first."""

    district: str = Field(description="The district whose decisions these are.")
    stale_on: str | None = Field(None, description="With stale=true: the day they are stale on.")
    decisions: list[DecisionSummary] = Field(description="The decisions on this page.")
    next: str | None = Field(None, description="The next page, when there is one.")


class TrackChange(Open):
    was: str = Field(description="Track decided then.")
    now: str = Field(description="Track decided today.")


class Difference(Open):
    removed: list[str] = Field(description="What the decision had and would not have today.")
    added: list[str] = Field(description="What it would have today and did not have.")


class Change(Open):
    """How one stored decision differs when made again today."""

    id: str = Field(description="The decision id.")
    changed: bool = Field(description="Whether track, reasons or bureau items differ.")
    track: TrackChange = Field(description="The track then and now.")
    reasons: Difference = Field(description="Reasons (rule, effect, features) gone and new.")
    bureaus: Difference = Field(description="Bureau items (bureau, role, item) gone and new.")
    basis: dict[str, list[str]] = Field(description="Rules and layers that changed since.")


class RescreenFailure(Open):
    id: str = Field(description="The decision id.")
    code: str = Field(description="Why it cannot be screened again, e.g. OUTSIDE_COVERAGE.")
    detail: str = Field(description="What is wrong.")


class Rescreen(Open):
    """Stored decisions of the district, made again on the rules and layers served now."""

    district: str = Field(description="The district re-screened on.")
    version: str = Field(description="The version re-screened on.")
    checked: int = Field(description="Decisions re-screened on this page.")
    changed: int = Field(description="How many of them would change.")
    decisions: list[Change] = Field(description="Each that would change (all, with all=true).")
    failed: list[RescreenFailure] = Field(description="Each that cannot be screened again.")
    next: str | None = Field(None, description="The next page of stored decisions, if any.")


class ReloadRequest(BaseModel):
    """What to reload: the district folder serving now, unless another is named."""

    model_config = ConfigDict(extra="forbid")

    district: str | None = Field(
        None,
        min_length=1,
        description="Path of a district folder on the server to serve from now on.",
    )


class Reloaded(Open):
    district: str = Field(description="Id of the district now serving.")
    previous: str = Field(description="Version that served before.")
    version: str = Field(description="Version serving now.")
    changed: bool = Field(description="Whether the version differs (files changed).")


# -- request bodies: documented only, parsed by geo.route so errors name the coordinate


def _facts_schema() -> dict[str, Any]:
    schema = ProjectFacts.model_json_schema()
    schema.pop("title", None)
    schema["additionalProperties"] = True
    schema["description"] = (
        "Project facts; other properties, such as a description, are ignored. "
        "/v1/conflicts needs none of them."
    )
    schema.pop("required", None)
    return schema


def _line_schema() -> dict[str, Any]:
    position = {
        "type": "array",
        "items": {"type": "number"},
        "minItems": 2,
        "description": "longitude, latitude (or x, y in the `crs` given); height ignored",
    }
    return {
        "type": "object",
        "required": ["type", "coordinates"],
        "properties": {
            "type": {"type": "string", "enum": ["LineString", "MultiLineString"]},
            "coordinates": {
                "type": "array",
                "description": "positions (LineString) or arrays of positions (MultiLineString)",
                "items": {"oneOf": [position, {"type": "array", "items": position}]},
            },
        },
    }


def route_body_schema() -> dict[str, Any]:
    """JSON Schema of a route body: a Feature, or a FeatureCollection of segments."""
    feature = {
        "type": "object",
        "title": "RouteFeature",
        "required": ["type", "geometry"],
        "properties": {
            "type": {"type": "string", "enum": ["Feature"]},
            "geometry": _line_schema(),
            "properties": _facts_schema(),
        },
    }
    collection = {
        "type": "object",
        "title": "RouteSegments",
        "description": "The route's segments; the facts come from the first with properties.",
        "required": ["type", "features"],
        "properties": {
            "type": {"type": "string", "enum": ["FeatureCollection"]},
            "features": {"type": "array", "minItems": 1, "items": feature},
        },
    }
    return {"oneOf": [feature, collection]}


@cache
def example_route() -> dict[str, Any]:
    """The bundled district's example route, the example on the OpenAPI page."""
    path = Path(sample_district_path()) / "example_route.geojson"
    return json.loads(path.read_text(encoding="utf-8"))


def route_request_body(description: str) -> dict[str, Any]:
    """The OpenAPI `requestBody` of an endpoint that takes a route."""
    content = {
        "schema": route_body_schema(),
        "examples": {
            "sample": {
                "summary": "Shop connection on Fabianinkatu (bundled sample district)",
                "value": example_route(),
            }
        },
    }
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {"application/json": content, "application/geo+json": content},
        }
    }
