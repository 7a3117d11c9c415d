"""Districts: settings, rules and layer store loaded from a district folder.

A district folder holds `district.toml` (its id, CRS, work width and where its store,
rules and extra holiday schedules are), a layer store (a GeoPackage in the district's
metric CRS, or PostGIS tables: see `layers.sources`) and the rules the store is screened
under. Loading checks everything
once, so a broken district fails at start-up with a message naming the file and the
problem rather than on the first route.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import tomllib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any

import geopandas as gpd
import pyogrio
import shapely
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pyproj import CRS
from pyproj.exceptions import CRSError as PyprojCRSError
from shapely.geometry.base import BaseGeometry

from geo.coverage import check_coverage, grown_coverage
from geo.datum import to_wgs84
from geo.decision import Decision, DecisionWarning, ProjectFacts, decide, facts_from
from geo.errors import DistrictError, OutsideCoverageError, RoutecheckError
from geo.route import Route, check_limits, parse_route, shape_warnings, to_crs
from geo.rules import Rules
from geo.screening import DEFAULT_TOLERANCE_M, IndexedLayer, Screening, screen, tree_layer
from geo.workdays import WorkingCalendar
from layers.calendars import load_schedule
from layers.catalogue import COVERAGE_LAYER, KIND_LAYERS, LAYERS, SPECS
from layers.fingerprint import layer_digest, rules_digest
from layers.rulefile import load_rules, problems
from layers.sources import SOURCES, LayerSource, open_source
from layers.store import gdal_config

log = logging.getLogger(__name__)

#: The district bundled with routecheck: central Helsinki from OpenStreetMap.
SAMPLE_DISTRICT = "helsinki"

#: Threads reading and indexing layers at load (the machines routecheck runs on have 2+).
LOAD_THREADS = 2

__all__ = ["District", "DistrictSettings", "load_district", "load_rules", "sample_district_path"]


class DistrictSettings(BaseModel):
    """The `[district]` table of district.toml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    name: str
    crs: str = Field(description="metric CRS of the layer store, e.g. EPSG:3067")
    source: str = Field("file", description=f"layer source, one of {sorted(SOURCES)}")
    store: str | None = Field(
        None, description="layer store path (file source), relative to the district folder"
    )
    tables: dict[str, str] = Field(
        {}, description="postgis source: layer name → table, optionally schema-qualified"
    )
    dsn_env: str = Field(
        "ROUTECHECK_POSTGIS_DSN", description="postgis source: env var with the connection"
    )
    rules: str = Field(description="rule file path, relative to the district folder")
    work_width_m: float = Field(1.0, gt=0, le=50, description="width of the works")
    tolerance_m: float = Field(DEFAULT_TOLERANCE_M, ge=0, le=1, description="touch tolerance")
    max_vertices: int = Field(5_000, gt=1, description="most vertices a route may have")
    max_length_m: float = Field(20_000.0, gt=0, description="longest route accepted, m")
    holiday_schedules: list[str] = Field(
        [], description="holiday schedule files for years the calendar package lacks"
    )
    example_route: str | None = None

    @field_validator("crs")
    @classmethod
    def _metric(cls, value: str) -> str:
        """Work widths, crowns and thresholds are metres: the district CRS must be metric."""
        try:
            crs = CRS.from_user_input(value)
        except PyprojCRSError as exc:
            raise ValueError(f"unknown coordinate reference system {value!r}") from exc
        units = {axis.unit_name for axis in crs.axis_info}
        if not crs.is_projected or units != {"metre"}:
            raise ValueError(
                f"{value} ({crs.name}) is not a projected CRS in metres; distances and "
                "areas must be measured in one (a CGCS2000 Gauss-Krüger zone, UTM, …)"
            )
        return value

    @model_validator(mode="after")
    def _source_known(self) -> DistrictSettings:
        if self.source not in SOURCES:
            raise ValueError(f"source {self.source!r} is not one of {sorted(SOURCES)}")
        if self.source == "file" and self.store is None:
            raise ValueError("a file-source district needs store = the GeoPackage path")
        return self


def sample_district_path() -> Path:
    """Folder of the bundled sample district."""
    return Path(str(resources.files("layers") / "sample" / SAMPLE_DISTRICT))


@dataclass
class District:
    """A loaded district: settings, rules, indexed layers, coverage and calendar."""

    root: Path
    settings: DistrictSettings
    rules: Rules
    coverage: BaseGeometry
    layers: dict[str, IndexedLayer]
    metadata: dict[str, Any]
    calendar: WorkingCalendar = field(default_factory=WorkingCalendar)
    missing_layers: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return self.settings.id

    @property
    def attribution(self) -> str:
        return str(self.metadata.get("attribution", ""))

    @cached_property
    def fingerprint(self) -> dict[str, Any]:
        """What a decision on this district rests on: rules and layers, with content hashes.

        Computed once per loaded district (hashing every layer takes a moment on a city).
        """
        identity = self.rules.identity
        return {
            "district": self.id,
            # what else changes a decision: how wide the works are, how near counts,
            # and the holiday schedules loaded beside the calendar package
            "settings": {
                "crs": self.settings.crs,
                "work_width_m": self.settings.work_width_m,
                "tolerance_m": self.settings.tolerance_m,
            },
            "holiday_schedules": [
                {"year": s.year, "source": s.source, "sha256": _schedule_digest(s)}
                for s in sorted(self.calendar.schedules.values(), key=lambda s: s.year)
            ],
            "rules": {
                "district": identity.district,
                "version": identity.version,
                "sha256": rules_digest(self.rules),
            },
            "layers": {
                name: {
                    "features": len(layer),
                    "version": self.metadata.get(f"{name}_version")
                    or self.metadata.get("source_sha256"),
                    "sha256": layer_digest(layer),
                }
                for name, layer in self.layers.items()
            },
        }

    def prepare(self, route: Route) -> Route:
        """Move a route into the district CRS and check it may be screened here.

        Refuses a route outside the coverage, or with more vertices or length than the
        district accepts; warns about a route that crosses itself.
        """
        local = to_crs(route, self.settings.crs)
        self._check_coverage(route, local)
        check_limits(local, self.settings.max_vertices, self.settings.max_length_m)
        notes = [*shape_warnings(local.geometry), *self._edge_warnings(local)]
        return local.moved(local.geometry, local.crs, *notes)

    @cached_property
    def digest(self) -> str:
        """SHA-256 of what a decision rests on: the fingerprint and every district setting
        (the limits that refuse routes too), in canonical JSON. Equal digests, equal
        decisions for the same inputs."""
        basis = {"fingerprint": self.fingerprint, "settings": self.settings.model_dump(mode="json")}
        canonical = json.dumps(basis, sort_keys=True, ensure_ascii=False, default=str)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    @cached_property
    def _grown_coverage(self) -> BaseGeometry:
        return grown_coverage(self.coverage, self.settings.tolerance_m)

    @cached_property
    def _coverage_edge(self) -> BaseGeometry:
        return self.coverage.boundary

    def _edge_warnings(self, local: Route) -> list[DecisionWarning]:
        """A warning when features just outside the coverage could still reach the route."""
        reach = self.settings.work_width_m / 2 + max(
            (layer.max_reach for layer in self.layers.values()), default=0.0
        )
        edge = self._coverage_edge.distance(local.geometry)
        if edge >= reach:
            return []
        text = (
            f"the route passes {edge:,.1f} m from the edge of the district's coverage; "
            f"features just beyond it, whose zones could reach {reach:,.1f} m, are not in "
            "its layers"
        )
        return [DecisionWarning("NEAR_COVERAGE_EDGE", text)]

    def screen(self, route: Route) -> Screening:
        """Screen a route (in any CRS) against the district's layers."""
        return self._screen_local(self.prepare(route))

    def _screen_local(self, local: Route) -> Screening:
        return screen(
            local.geometry,
            self.layers.values(),
            self.settings.work_width_m,
            self.settings.tolerance_m,
        )

    def _check_coverage(self, route: Route, local: Route) -> None:
        try:
            check_coverage(local.geometry, self.coverage, self.id, self.settings.tolerance_m,
                           self._grown_coverage)  # fmt: skip
        except OutsideCoverageError as exc:
            if self._covers_swapped(route):
                raise OutsideCoverageError(
                    f"{exc.message}; with its axes swapped it would lie inside, so its "
                    "positions look like latitude, longitude: GeoJSON wants longitude first",
                    code="AXES_SWAPPED",
                ) from exc
            raise

    def _covers_swapped(self, route: Route) -> bool:
        """Whether the route, read with x and y exchanged, would lie in the coverage."""
        swapped = Route(shapely.transform(route.geometry, lambda xy: xy[:, ::-1]), route.crs)
        try:
            local = to_crs(swapped, self.settings.crs)
        except RoutecheckError:
            return False
        return self.coverage.buffer(self.settings.tolerance_m).covers(local.geometry)

    def classify(
        self,
        route: Route | object,
        *,
        crs: str | None = None,
        datum: str = "wgs84",
        facts: dict[str, Any] | None = None,
        submitted: dt.datetime | None = None,
    ) -> Decision:
        """Screen a route and decide its track under the district's rules.

        `route` is a Route or a GeoJSON object (read in `crs`, WGS84 by default);
        `datum` undoes a Chinese web map's offset (gcj02, bd09). Facts in `facts`
        override those in the route's properties. `submitted` is when the application
        was received (now when not given); it dates the deadline.
        """
        if not isinstance(route, Route):
            route = parse_route(route, crs)
        project = facts_from(route.properties, facts or {})
        local = self.prepare(to_wgs84(route, datum))
        screening = self._screen_local(local)
        decision = self.decide(screening, project, submitted)
        decision.warnings[:0] = local.warnings
        log.info(
            "district %s: route %.1f m, %d conflicts, track %s",
            self.id,
            screening.length_m,
            len(screening.conflicts),
            decision.track,
        )
        return decision

    def decide(
        self, screening: Screening, project: ProjectFacts, submitted: dt.datetime | None = None
    ) -> Decision:
        """Decide a screened route under the district's rules (batch screening uses it too)."""
        moment = submitted or dt.datetime.now(dt.UTC)
        decision = decide(screening, project, self.rules, moment, self.calendar)
        decision.warnings.extend(self._missing_layer_warnings())
        return decision

    def _missing_layer_warnings(self) -> list[DecisionWarning]:
        """A warning for each missing optional layer that some rule depends on."""
        warnings = []
        for layer in self.missing_layers:
            if layer in rule_layers(self.rules):
                text = (
                    f"district {self.id} has no {layer} layer, so the rules on it "
                    f"({SPECS[layer].description.rstrip('.')}) were not checked"
                )
                warnings.append(DecisionWarning("LAYER_MISSING", text))
        return warnings


def _schedule_digest(schedule) -> str:
    days = [f"off {d}" for d in sorted(schedule.holidays)]
    days += [f"on {d}" for d in sorted(schedule.workdays)]
    return hashlib.sha256("\n".join(days).encode("ascii")).hexdigest()


def rule_layers(rules: Rules) -> set[str]:
    """Every layer the rules' conflict selections can reach."""
    layers: set[str] = set()
    for match in rules.conflict_matches():
        if match.layers is not None:
            layers.update(match.layers)
        elif match.kinds is not None:
            layers.update(KIND_LAYERS[k] for k in match.kinds)
        else:
            layers.update(LAYERS)
    return layers


def load_district(path: Path | str | None = None) -> District:
    """Load a district folder (the bundled sample when no path is given)."""
    root = Path(path) if path is not None else sample_district_path()
    settings = _read_settings(root)
    rules = load_rules(root / settings.rules)
    calendar = WorkingCalendar(load_schedule(root / p) for p in settings.holiday_schedules)
    store = open_source(root, settings)

    present = _check_store_layers(store, settings)
    missing = tuple(name for name in LAYERS if name not in present)
    margins = rules.settings.protection_margins_m

    # layers are read and indexed two at a time: decoding geometries and building an
    # STRtree release the GIL, so a city of a million trees loads in half the time. The
    # sidecar guard is set once around the threads, not by each read in turn.
    with gdal_config(GDAL_PAM_ENABLED="NO"), ThreadPoolExecutor(LOAD_THREADS) as pool:
        read = pool.map(
            lambda name: _guarded(store, name, lambda: _read_layer(store, name, name in present)),
            LAYERS,
        )
        frames = dict(zip(LAYERS, read, strict=True))
        _check_rule_attributes(rules, frames)
        index = pool.map(
            lambda name: _guarded(store, name, lambda: _index_layer(name, frames[name], margins)),
            LAYERS,
        )
        layers = dict(zip(LAYERS, index, strict=True))
    coverage = _guarded(
        store, COVERAGE_LAYER, lambda: store.read_layer(COVERAGE_LAYER).geometry.union_all()
    )
    log.info(
        "loaded district %s from %s: %s%s",
        settings.id,
        store,
        ", ".join(f"{len(layer)} {name}" for name, layer in layers.items()),
        f" (no {', '.join(missing)} layer)" if missing else "",
    )
    metadata = store.metadata()
    return District(root, settings, rules, coverage, layers, metadata, calendar, missing)


def _guarded(store: LayerSource, name: str, step):
    """Run one loading step of a layer, turning a broken layer into a DistrictError."""
    try:
        return step()
    except RoutecheckError:
        raise
    except (ValueError, TypeError, OSError, pyogrio.errors.DataSourceError,
            pyogrio.errors.DataLayerError) as exc:  # fmt: skip
        raise DistrictError(f"layer {name!r} of {store} cannot be loaded: {exc}") from exc


def _index_layer(name: str, frame: gpd.GeoDataFrame, margins: dict[str, float]) -> IndexedLayer:
    return tree_layer(name, frame, margins) if name == "trees" else IndexedLayer(name, frame)


def _read_settings(root: Path) -> DistrictSettings:
    path = root / "district.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise DistrictError(f"{path} does not exist: not a district folder") from exc
    except tomllib.TOMLDecodeError as exc:
        raise DistrictError(f"{path} is not valid TOML: {exc}") from exc
    unknown = sorted(set(data) - {"district"})
    if unknown:
        raise DistrictError(f"{path} has unknown tables {unknown}; it holds one [district]")
    try:
        return DistrictSettings.model_validate(data.get("district", {}))
    except ValidationError as exc:
        raise DistrictError(f"{path} is invalid:\n{problems(exc)}") from exc


def _check_store_layers(store: LayerSource, settings: DistrictSettings) -> set[str]:
    """The catalogue layers the store holds; each in the district CRS, none required lost."""
    present = set()
    for name in (*LAYERS, COVERAGE_LAYER):
        crs = _guarded(store, name, lambda name=name: store.layer_crs(name))
        if crs is None:
            if name in SPECS and SPECS[name].optional:
                continue
            raise DistrictError(f"layer store {store} has no layer {name!r}")
        if CRS.from_user_input(crs) != CRS.from_user_input(settings.crs):
            raise DistrictError(
                f"layer {name!r} of {store} is in {crs}, "
                f"but district {settings.id} is in {settings.crs}"
            )
        present.add(name)
    return present


def _read_layer(store: LayerSource, name: str, present: bool) -> gpd.GeoDataFrame:
    """A layer with the core columns and every catalogue attribute (null if unknown)."""
    spec = SPECS[name]
    if present:
        frame = store.read_layer(name)
    else:
        frame = gpd.GeoDataFrame({"feature_id": [], "kind": []}, geometry=[], crs=None)
    if "kind" not in frame.columns:
        frame["kind"] = name
    if "name" not in frame.columns:
        frame["name"] = None
    if "feature_id" not in frame.columns:
        frame["feature_id"] = [f"{name}/{i}" for i in range(len(frame))]
    for attribute in spec.attributes:
        if attribute not in frame.columns:
            if present:
                log.info("layer %s of %s has no %s: unknown for every feature", name, store,
                         attribute)  # fmt: skip
            frame[attribute] = None
    return frame


def _check_rule_attributes(rules: Rules, frames: dict[str, gpd.GeoDataFrame]) -> None:
    columns = {column for frame in frames.values() for column in frame.columns}
    missing = sorted(rules.attribute_names() - columns)
    if missing:
        raise DistrictError(
            f"rules {rules.identity.district} {rules.identity.version} test attributes "
            f"{missing} that no layer of the store has"
        )
