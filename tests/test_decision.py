"""Tracks, reasons and bureaus under the default rules, on tiny literal screenings."""

from __future__ import annotations

import datetime as dt

import geopandas as gpd
import pytest
from shapely import LineString, MultiLineString, Point, box

from geo.decision import decide, facts_from
from geo.errors import FactsError
from geo.screening import IndexedLayer, screen, tree_layer

CRS = "EPSG:3067"
SUBMITTED = dt.datetime(2026, 12, 3, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
ROUTE = MultiLineString([LineString([(0, 0), (100, 0)])])


def crossing(layer: str, kind: str, feature_id: str = "way/1", **attributes) -> IndexedLayer:
    """A layer with one polygon feature that the route crosses."""
    frame = gpd.GeoDataFrame(
        {"feature_id": [feature_id], "kind": [kind], "name": [None]}
        | {k: [v] for k, v in attributes.items()},
        geometry=[box(40, -10, 60, 10)],
        crs=CRS,
    )
    return IndexedLayer(layer, frame)


def tree_on_route(kind: str = "tree") -> IndexedLayer:
    frame = gpd.GeoDataFrame(
        {"feature_id": ["node/9"], "kind": [kind], "name": [None], "crown_diameter_m": [6.0]},
        geometry=[Point(20, 2)],
        crs=CRS,
    )
    return tree_layer("trees", frame, {"ancient_tree": 5.0})


def decide_on(rules, layers=(), **facts):
    screening = screen(ROUTE, list(layers), work_width_m=1.0)
    return decide(screening, facts_from({}, facts), rules, SUBMITTED)


def rule_effects(decision) -> dict[str, str]:
    return {r.rule: r.effect for r in decision.reasons}


def bureau(decision, code):
    return next(b for b in decision.bureaus if b["code"] == code)


LOW_3Z = {"voltage_kv": 0.4, "customer": "residential", "three_zero": True}


class TestBaseTrack:
    def test_three_zero_low_voltage_on_a_clear_route_is_commitment(self, default_rules):
        decision = decide_on(default_rules, **LOW_3Z)
        assert decision.track == "commitment"
        assert rule_effects(decision) == {"low_voltage.three_zero": "sets_track"}

    def test_low_voltage_outside_three_zero_is_filing(self, default_rules):
        decision = decide_on(default_rules, voltage_kv=0.4, customer="other", three_zero=False)
        assert decision.track == "filing"
        assert decision.reasons[0].rule == "low_voltage.other"

    @pytest.mark.parametrize(
        ("kv", "track"),
        [
            (1.0, "commitment"),
            (10, "filing"),
            (34.9, "filing"),
            (35, "parallel_approval"),
            (110, "parallel_approval"),
        ],
    )
    def test_voltage_bands(self, default_rules, kv, track):
        decision = decide_on(default_rules, voltage_kv=kv, customer="residential", three_zero=True)
        assert decision.track == track

    def test_35kv_always_involves_planning_permission(self, default_rules):
        decision = decide_on(default_rules, voltage_kv=35, customer="other")
        items = [i["id"] for i in bureau(decision, "planning")["items"]]
        assert items == ["planning.line_permission"]
        assert bureau(decision, "planning")["role"] == "approve"


class TestThreeZeroDerivation:
    def test_capacity_within_the_urban_cap_is_three_zero(self, default_rules):
        decision = decide_on(
            default_rules, voltage_kv=0.4, customer="small_micro", capacity_kw=160, area="urban"
        )
        assert decision.track == "commitment"
        assert decision.facts["three_zero"] is True
        assert decision.facts["three_zero_source"].startswith("derived")

    def test_capacity_over_the_rural_cap_is_not(self, default_rules):
        decision = decide_on(
            default_rules, voltage_kv=0.4, customer="small_micro", capacity_kw=120, area="rural"
        )
        assert decision.track == "filing"

    def test_unknown_capacity_is_not_assumed_eligible(self, default_rules):
        decision = decide_on(default_rules, voltage_kv=0.4, customer="residential")
        assert decision.track == "filing"
        assert "CAPACITY_UNKNOWN" in {w.code for w in decision.warnings}

    def test_declared_flag_wins_over_an_unknown_capacity(self, default_rules):
        decision = decide_on(default_rules, **LOW_3Z)
        assert decision.facts["three_zero_source"] == "declared"
        assert decision.track == "commitment"

    @pytest.mark.parametrize(
        ("facts", "words"),
        [
            ({"customer": "other"}, "customer type other"),
            ({"capacity_kw": 500}, "500 kW is above its 160 kW cap"),
            ({"capacity_kw": 120, "area": "rural"}, "120 kW is above its 100 kW cap"),
        ],
    )
    def test_a_declaration_the_facts_contradict_is_not_believed(self, default_rules, facts,
                                                               words):  # fmt: skip
        decision = decide_on(default_rules, **(LOW_3Z | facts))
        assert decision.track == "filing"
        assert decision.facts["three_zero"] is False
        warning = next(w for w in decision.warnings if w.code == "THREE_ZERO_CONTRADICTED")
        assert words in warning.text


class TestExclusions:
    @pytest.mark.parametrize(
        ("layer", "kind", "rule"),
        [
            ("bridges", "bridge", "bar.urban_bridge"),
            ("roads", "main", "bar.main_road_or_expressway"),
            ("roads", "expressway", "bar.main_road_or_expressway"),
            ("roads", "trunk_highway", "bar.trunk_highway"),
            ("green", "forest", "bar.forest_land"),
            ("green", "shrub", "bar.green_tree_zone"),
        ],
    )
    def test_each_barring_kind_moves_commitment_and_filing_to_parallel(
        self, default_rules, layer, kind, rule
    ):
        for facts in (LOW_3Z, {"voltage_kv": 10, "customer": "other"}):
            decision = decide_on(default_rules, [crossing(layer, kind)], **facts)
            assert decision.track == "parallel_approval"
            assert rule_effects(decision)[rule] == "bars"
            reason = next(r for r in decision.reasons if r.rule == rule)
            assert reason.feature_ids == ("way/1",)
            assert reason.clause.startswith("§四(一)2")

    @pytest.mark.parametrize(
        ("kind", "rule"),
        [("tree", "bar.green_tree_zone"), ("ancient_tree", "bar.ancient_tree_zone")],
    )
    def test_tree_zones_bar(self, default_rules, kind, rule):
        decision = decide_on(default_rules, [tree_on_route(kind)], **LOW_3Z)
        assert decision.track == "parallel_approval"
        assert rule_effects(decision)[rule] == "bars"

    @pytest.mark.parametrize("kind", ["branch", "secondary", "non_motorised"])
    def test_lesser_roads_and_green_land_do_not_bar(self, default_rules, kind):
        layers = [crossing("roads", kind), crossing("green", "green", "way/2")]
        decision = decide_on(default_rules, layers, **LOW_3Z)
        assert decision.track == "commitment"
        assert bureau(decision, "housing")["role"] == "supervise"

    def test_felling_trees_bars(self, default_rules):
        decision = decide_on(default_rules, **LOW_3Z, fells_trees=True)
        assert decision.track == "parallel_approval"
        assert "housing.tree_felling" in [i["id"] for i in bureau(decision, "housing")["items"]]

    def test_a_bar_on_a_35kv_project_also_applies_without_moving_it(self, default_rules):
        decision = decide_on(
            default_rules, [crossing("bridges", "bridge")], voltage_kv=110, customer="other"
        )
        assert decision.track == "parallel_approval"
        assert rule_effects(decision)["bar.urban_bridge"] == "also_applies"


class TestRoadAge:
    @pytest.mark.parametrize(
        ("attribute", "when", "track"),
        [
            ("handover_date", "2021-12-04", "parallel_approval"),  # 5 years less a day
            ("handover_date", "2021-11-01", "commitment"),
            ("major_repair_date", "2024-01-15", "parallel_approval"),
            ("major_repair_date", "2023-11-01", "commitment"),
        ],
    )
    def test_recent_roads_bar(self, default_rules, attribute, when, track):
        dates = {"handover_date": None, "major_repair_date": None} | {attribute: when}
        layer = crossing("roads", "branch", **dates)
        assert decide_on(default_rules, [layer], **LOW_3Z).track == track

    def test_unknown_road_age_is_not_recent_and_warns(self, default_rules):
        layer = crossing("roads", "branch", handover_date=None, major_repair_date=None)
        decision = decide_on(default_rules, [layer], **LOW_3Z)
        assert decision.track == "commitment"
        warning = next(w for w in decision.warnings if w.code == "ROAD_AGE_UNKNOWN")
        assert "way/1" in warning.text

    def test_planned_start_date_decides_the_age(self, default_rules):
        layer = crossing("roads", "branch", handover_date="2021-06-01", major_repair_date=None)
        later = decide_on(default_rules, [layer], **LOW_3Z, start_date="2026-06-02")
        earlier = decide_on(default_rules, [layer], **LOW_3Z, start_date="2026-05-01")
        assert (later.track, earlier.track) == ("commitment", "parallel_approval")


class TestBureaus:
    def test_filing_on_a_branch_road_names_housing_lead_and_police(self, default_rules):
        decision = decide_on(
            default_rules, [crossing("roads", "branch")], voltage_kv=10, customer="other"
        )
        housing = bureau(decision, "housing")
        assert (housing["role"], housing["lead"]) == ("register", True)
        assert [i["id"] for i in housing["items"]] == [
            "housing.road_occupation",
            "housing.road_site",
        ]
        assert bureau(decision, "police")["items"][0]["feature_ids"] == ["way/1"]
        assert bureau(decision, "utility")["role"] == "notify"

    def test_footways_do_not_involve_the_traffic_police(self, default_rules):
        decision = decide_on(default_rules, [crossing("roads", "non_motorised")], **LOW_3Z)
        assert "police" not in [b["code"] for b in decision.bureaus]

    def test_forest_involves_planning_for_forest_land(self, default_rules):
        decision = decide_on(default_rules, [crossing("green", "forest")], **LOW_3Z)
        assert [i["id"] for i in bureau(decision, "planning")["items"]] == ["planning.forest_land"]


class TestFacts:
    @pytest.mark.parametrize(
        ("facts", "field"),
        [
            ({"customer": "other"}, "voltage_kv"),
            ({"voltage_kv": -1, "customer": "other"}, "voltage_kv"),
            ({"voltage_kv": 10, "customer": "factory"}, "customer"),
            ({"voltage_kv": 10, "customer": "other", "start_date": "soon"}, "start_date"),
        ],
    )
    def test_bad_facts_name_the_field(self, facts, field):
        with pytest.raises(FactsError) as caught:
            facts_from({}, facts)
        assert caught.value.where == field
        assert field in str(caught.value)

    @pytest.mark.parametrize(
        ("facts", "field"),
        [
            ({"voltage_kv": True, "customer": "other"}, "voltage_kv"),
            ({"voltage_kv": "10", "customer": "other"}, "voltage_kv"),
            ({"voltage_kv": float("nan"), "customer": "other"}, "voltage_kv"),
            ({"voltage_kv": 0.4, "customer": "other", "three_zero": "yes"}, "three_zero"),
            ({"voltage_kv": 0.4, "customer": "other", "fells_trees": 1}, "fells_trees"),
        ],
    )
    def test_facts_are_not_coerced(self, facts, field):
        with pytest.raises(FactsError) as caught:
            facts_from(facts, {})
        assert caught.value.where == field

    def test_a_misspelt_fact_is_refused_with_a_suggestion(self):
        with pytest.raises(FactsError) as caught:
            facts_from({"voltage_kv": 10, "customer": "other", "fells_tree": True}, {})
        assert caught.value.code == "UNKNOWN_FACT"
        assert "did you mean 'fells_trees'" in str(caught.value)

    def test_other_properties_are_ignored(self):
        facts = facts_from({"voltage_kv": 10, "customer": "other", "description": "x"}, {})
        assert facts.voltage_kv == 10

    def test_overrides_beat_route_properties(self):
        facts = facts_from(
            {"voltage_kv": 0.4, "customer": "other", "colour": "red"},
            {"voltage_kv": 10, "customer": None},
        )
        assert (facts.voltage_kv, facts.customer) == (10, "other")
