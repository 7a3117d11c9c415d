"""Districts: settings, rules and layer store loaded from a district folder.

A district folder holds `district.toml` (its id, CRS, work width and where its store
and rules are), a layer store (a GeoPackage in the district's metric CRS) and the
rules the store is screened under. Loading checks everything once, so a broken
district fails at start-up with a message naming the file and the problem rather
than on the first route.
"""

from __future__ import annotations

import datetime as dt
import logging
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import geopandas as gpd
import shapely
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pyproj import CRS
from shapely.geometry.base import BaseGeometry

from geo.coverage import check_coverage
from geo.decision import Decision, decide, facts_from
from geo.errors import DistrictError, OutsideCoverageError, RoutecheckError, RulesError
from geo.route import Route, parse_route, to_crs
from geo.rules import Rules
from geo.screening import DEFAULT_TOLERANCE_M, IndexedLayer, Screening, screen, tree_layer
from layers.catalogue import COVERAGE_LAYER, LAYERS
from layers.store import layer_crs, read_layer, read_store_metadata

log = logging.getLogger(__name__)

#: The district bundled with routecheck: central Helsinki from OpenStreetMap.
SAMPLE_DISTRICT = "helsinki"


class DistrictSettings(BaseModel):
    """The `[district]` table of district.toml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    name: str
    crs: str = Field(description="metric CRS of the layer store, e.g. EPSG:3067")
    store: str = Field(description="layer store path, relative to the district folder")
    rules: str = Field(description="rule file path, relative to the district folder")
    work_width_m: float = Field(1.0, gt=0, le=50, description="width of the works")
    tolerance_m: float = Field(DEFAULT_TOLERANCE_M, ge=0, le=1, description="touch tolerance")
    example_route: str | None = None


def sample_district_path() -> Path:
    """Folder of the bundled sample district."""
    return Path(str(resources.files("layers") / "sample" / SAMPLE_DISTRICT))


def load_rules(path: Path) -> Rules:
    """Read and validate a rule file; raise RulesError listing every problem found."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise RulesError(f"rule file {path} does not exist") from exc
    except tomllib.TOMLDecodeError as exc:
        raise RulesError(f"rule file {path} is not valid TOML: {exc}") from exc
    try:
        return Rules.model_validate(data)
    except ValidationError as exc:
        raise RulesError(f"rule file {path} is invalid:\n{_problems(exc)}") from exc


def _problems(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"]) or "(top level)"
        lines.append(f"  {where}: {error['msg']}")
    return "\n".join(lines)


@dataclass
class District:
    """A loaded district: settings, rules, indexed layers and coverage."""

    root: Path
    settings: DistrictSettings
    rules: Rules
    coverage: BaseGeometry
    layers: dict[str, IndexedLayer]
    metadata: dict[str, Any]

    @property
    def id(self) -> str:
        return self.settings.id

    @property
    def attribution(self) -> str:
        return str(self.metadata.get("attribution", ""))

    def screen(self, route: Route) -> Screening:
        """Move a route into the district CRS, check its coverage and screen it."""
        local = to_crs(route, self.settings.crs)
        try:
            check_coverage(local.geometry, self.coverage, self.id, self.settings.tolerance_m)
        except OutsideCoverageError as exc:
            if self._covers_swapped(route):
                raise OutsideCoverageError(
                    f"{exc.message}; with its axes swapped it would lie inside, so its "
                    "positions look like latitude, longitude: GeoJSON wants longitude first",
                    code="AXES_SWAPPED",
                ) from exc
            raise
        return screen(
            local.geometry,
            self.layers.values(),
            self.settings.work_width_m,
            self.settings.tolerance_m,
        )

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
        geojson: object,
        *,
        crs: str | None = None,
        facts: dict[str, Any] | None = None,
        today: dt.date | None = None,
    ) -> Decision:
        """Screen a GeoJSON route and decide its track under the district's rules.

        Facts in `facts` override those in the route's properties.
        """
        route = parse_route(geojson, crs)
        project = facts_from(route.properties, facts or {})
        screening = self.screen(route)
        decision = decide(screening, project, self.rules, today or dt.date.today())
        log.info(
            "district %s: route %.1f m, %d conflicts, track %s",
            self.id,
            screening.length_m,
            len(screening.conflicts),
            decision.track,
        )
        return decision


def load_district(path: Path | str | None = None) -> District:
    """Load a district folder (the bundled sample when no path is given)."""
    root = Path(path) if path is not None else sample_district_path()
    settings = _read_settings(root)
    rules = load_rules(root / settings.rules)
    store = root / settings.store
    if not store.exists():
        raise DistrictError(f"layer store {store} of district {settings.id} does not exist")

    _check_store_crs(store, settings)
    frames = {name: _read_layer(store, name) for name in (*LAYERS, COVERAGE_LAYER)}
    _check_rule_attributes(rules, frames)
    margins = rules.settings.protection_margins_m
    layers = {
        name: tree_layer(name, frames[name], margins)
        if name == "trees"
        else IndexedLayer(name, frames[name])
        for name in LAYERS
    }
    coverage = frames[COVERAGE_LAYER].geometry.union_all()
    log.info(
        "loaded district %s from %s: %s",
        settings.id,
        store,
        ", ".join(f"{len(layer)} {name}" for name, layer in layers.items()),
    )
    return District(root, settings, rules, coverage, layers, read_store_metadata(store))


def _read_settings(root: Path) -> DistrictSettings:
    path = root / "district.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise DistrictError(f"{path} does not exist: not a district folder") from exc
    except tomllib.TOMLDecodeError as exc:
        raise DistrictError(f"{path} is not valid TOML: {exc}") from exc
    try:
        return DistrictSettings.model_validate(data.get("district", {}))
    except ValidationError as exc:
        raise DistrictError(f"{path} is invalid:\n{_problems(exc)}") from exc


def _check_store_crs(store: Path, settings: DistrictSettings) -> None:
    for name in (*LAYERS, COVERAGE_LAYER):
        crs = layer_crs(store, name)
        if crs is None:
            raise DistrictError(f"layer store {store} has no layer {name!r}")
        if CRS.from_user_input(crs) != CRS.from_user_input(settings.crs):
            raise DistrictError(
                f"layer {name!r} of {store} is in {crs}, "
                f"but district {settings.id} is in {settings.crs}"
            )


def _read_layer(store: Path, name: str) -> gpd.GeoDataFrame:
    frame = read_layer(store, name)
    if "kind" not in frame.columns:
        frame["kind"] = name
    if "name" not in frame.columns:
        frame["name"] = None
    if "feature_id" not in frame.columns:
        frame["feature_id"] = [f"{name}/{i}" for i in range(len(frame))]
    return frame


def _check_rule_attributes(rules: Rules, frames: dict[str, gpd.GeoDataFrame]) -> None:
    columns = {column for frame in frames.values() for column in frame.columns}
    missing = sorted(rules.attribute_names() - columns)
    if missing:
        raise DistrictError(
            f"rules {rules.identity.district} {rules.identity.version} test attributes "
            f"{missing} that no layer of the store has"
        )
