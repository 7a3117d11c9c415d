"""End to end on the bundled Helsinki district: every track and every conflict kind.

Each route under tests/data/routes follows a real OpenStreetMap way named in its
description, and carries its project facts in its properties.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from geo.errors import OutsideCoverageError
from geo.screening import screen, tree_layer

ROUTES = Path(__file__).parent / "data" / "routes"
SUBMITTED = dt.datetime(2026, 12, 3, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))


def classify(district, name, **facts):
    route = json.loads((ROUTES / f"{name}.geojson").read_text(encoding="utf-8"))
    return district.classify(route, facts=facts, submitted=SUBMITTED)


def kinds(decision) -> set[str]:
    return {c.kind for c in decision.screening.conflicts}


def effects(decision) -> dict[str, str]:
    return {r.rule: r.effect for r in decision.reasons}


def bureau_items(decision) -> dict[str, list[str]]:
    return {b["code"]: [i["id"] for i in b["items"]] for b in decision.bureaus}


def test_the_sample_district_loads_its_layers_and_attribution(district):
    assert district.settings.crs == "EPSG:3067"
    assert {name: len(layer) > 0 for name, layer in district.layers.items()} == {
        "roads": True,
        "bridges": True,
        "green": True,
        "trees": True,
        "zones": False,
    }
    assert district.missing_layers == ("zones",)
    assert "OpenStreetMap" in district.attribution


def test_low_voltage_three_zero_along_a_branch_street_is_commitment(district):
    decision = classify(district, "commitment_branch_street")
    assert decision.track == "commitment"
    assert kinds(decision) == {"branch", "non_motorised"}
    assert effects(decision) == {"low_voltage.three_zero": "sets_track"}
    roles = {b["code"]: b["role"] for b in decision.bureaus}
    assert roles == {
        "housing": "supervise",
        "police": "supervise",
        "economy": "supervise",
        "utility": "notify",
    }


def test_the_same_street_at_10kv_is_filing(district):
    decision = classify(
        district, "commitment_branch_street", voltage_kv=10, customer="other", three_zero=False
    )
    assert decision.track == "filing"
    assert effects(decision) == {"voltage.10kv": "sets_track"}


def test_green_land_is_an_item_not_a_bar(district):
    decision = classify(district, "green_park_lane")
    assert decision.track == "commitment"
    green = [c for c in decision.screening.conflicts if c.kind == "green"]
    assert [c.name for c in green] == ["Kaisaniemen puisto"]
    assert green[0].length_m == pytest.approx(decision.screening.length_m, rel=0.01)
    assert "housing.green_land" in bureau_items(decision)["housing"]


def test_a_main_road_bars_commitment(district):
    decision = classify(district, "main_road")
    assert decision.track == "parallel_approval"
    assert effects(decision)["bar.main_road_or_expressway"] == "bars"
    mains = [c for c in decision.screening.conflicts if c.kind == "main"]
    assert {c.name for c in mains} == {"Mannerheimintie"}
    assert "police.traffic" in bureau_items(decision)["police"]


def test_a_bridge_bars_filing(district):
    decision = classify(district, "bridge")
    assert decision.track == "parallel_approval"
    assert effects(decision)["bar.urban_bridge"] == "bars"
    bridges = [c for c in decision.screening.conflicts if c.kind == "bridge"]
    assert bridges and all(c.feature_id.startswith("way/") for c in bridges)
    assert "housing.bridge_cables" in bureau_items(decision)["housing"]
    assert {b["code"]: b["role"] for b in decision.bureaus}["housing"] == "approve"


def test_street_trees_bar_filing(district):
    decision = classify(district, "street_trees")
    assert decision.track == "parallel_approval"
    assert effects(decision)["bar.green_tree_zone"] == "bars"
    trees = [c for c in decision.screening.conflicts if c.kind == "tree"]
    assert trees and all(c.feature_id.startswith("node/") for c in trees)
    assert all(c.area_m2 >= 0 for c in trees)


def test_the_ancient_willow_zone_reaches_five_metres_past_its_crown(district):
    decision = classify(district, "ancient_tree")
    assert decision.track == "parallel_approval"
    (willow,) = [c for c in decision.screening.conflicts if c.kind == "ancient_tree"]
    assert willow.feature_id == "node/1571992169"
    assert willow.attributes["register_id"] == "HEL-AT-001"
    assert effects(decision)["bar.ancient_tree_zone"] == "bars"

    # the route passes 8.9 m from the trunk: outside the 16 m crown (8 m + the 0.5 m
    # half work width), inside crown + 5 m; without the margin it would not conflict
    trees = district.layers["trees"]
    trunk = trees.geometries[list(trees.frame["feature_id"]).index(willow.feature_id)]
    distance = decision.screening.route.distance(trunk)
    assert 8.5 < distance <= 13.5
    plain = tree_layer("trees", trees.frame, {})
    again = screen(decision.screening.route, [plain], work_width_m=1.0)
    assert willow.feature_id not in {c.feature_id for c in again.conflicts}


def test_shrubland_bars_commitment(district):
    decision = classify(district, "shrubs")
    assert decision.track == "parallel_approval"
    assert "shrub" in kinds(decision)
    assert effects(decision)["bar.green_tree_zone"] == "bars"


def test_forest_land_bars_and_involves_planning(district):
    decision = classify(district, "forest")
    assert decision.track == "parallel_approval"
    assert effects(decision)["bar.forest_land"] == "bars"
    assert bureau_items(decision)["planning"] == ["planning.forest_land"]


def test_35kv_is_parallel_approval_with_planning_permission(district):
    decision = classify(district, "secondary_road_35kv")
    assert decision.track == "parallel_approval"
    assert effects(decision) == {"voltage.35kv_and_above": "sets_track"}
    assert "planning.line_permission" in bureau_items(decision)["planning"]


def test_every_kind_in_the_district_is_covered_by_these_routes(district):
    present = {kind for layer in district.layers.values() for kind in layer.frame["kind"]}
    seen = set()
    for path in ROUTES.glob("*.geojson"):
        seen |= kinds(classify(district, path.stem))
    assert present <= seen


def test_every_road_conflict_warns_that_its_age_was_not_checked(district):
    decision = classify(district, "commitment_branch_street")
    warnings = [w for w in decision.warnings if w.code == "ROAD_AGE_UNKNOWN"]
    assert len(warnings) == 2
    roads = [c.feature_id for c in decision.screening.conflicts if c.layer == "roads"]
    assert roads[0] in warnings[0].text


def test_a_route_elsewhere_is_an_error_not_a_clean_decision(district):
    beijing = {"type": "LineString", "coordinates": [[116.39, 39.90], [116.40, 39.91]]}
    with pytest.raises(OutsideCoverageError) as caught:
        district.classify(beijing, facts={"voltage_kv": 0.4, "customer": "residential"})
    assert "outside the coverage" in str(caught.value)
