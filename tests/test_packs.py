"""The shipped rule packs, pinned on both sides of every boundary they set.

Screenings are built from tiny literal layers in a metric CRS, so each measure is known
exactly: a route along y = 0 from x = -50 to x = 250 crosses a box from x = a to x = b
for exactly b - a metres.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import geopandas as gpd
import pytest
from shapely import LineString, MultiLineString, box

from geo.decision import decide, facts_from
from geo.errors import RulesError
from geo.screening import IndexedLayer, screen
from layers.district import load_district, load_rules, sample_district_path

RULES = Path(__file__).resolve().parents[1] / "layers" / "rules"
CRS = "EPSG:3067"
ROUTE = MultiLineString([LineString([(-50, 0), (250, 0)])])
MONDAY = dt.datetime(2026, 6, 8, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))


@pytest.fixture(scope="module")
def xilingol():
    return load_rules(RULES / "xilingol.toml")


@pytest.fixture(scope="module")
def zhongshan():
    return load_rules(RULES / "zhongshan.toml")


def layer(name: str, *rows) -> IndexedLayer:
    """A layer of boxes across the route: (feature_id, kind, x0, x1, attributes)."""
    columns = sorted({key for row in rows for key in row[4]})
    frame = gpd.GeoDataFrame(
        {"feature_id": [r[0] for r in rows], "kind": [r[1] for r in rows], "name": None}
        | {c: [r[4].get(c) for r in rows] for c in columns},
        geometry=[box(r[2], -10, r[3], 10) for r in rows],
        crs=CRS,
    )
    return IndexedLayer(name, frame)


def road(kind="branch", x0=0.0, x1=50.0, feature_id="way/1", **attributes):
    dates = {"handover_date": None, "major_repair_date": None, "traffic_volume": None}
    return layer("roads", (feature_id, kind, x0, x1, dates | attributes))


def decide_on(rules, layers=(), **facts):
    screening = screen(ROUTE, list(layers), work_width_m=1.0)
    return decide(screening, facts_from({}, facts), rules, MONDAY)


def warning_codes(decision) -> set[str]:
    return {w.code for w in decision.warnings}


def items(decision) -> dict[str, list[str]]:
    return {b["code"]: [i["id"] for i in b["items"]] for b in decision.bureaus}


class TestXilingol:
    @pytest.mark.parametrize(
        ("kv", "track"),
        [
            (0.4, "commitment"),
            (10, "commitment"),
            (10.01, "normal_approval"),
            (35, "normal_approval"),
        ],
    )
    def test_voltage_cap_is_10kv_inclusive(self, xilingol, kv, track):
        assert decide_on(xilingol, voltage_kv=kv, customer="other").track == track

    @pytest.mark.parametrize(("x1", "track"), [(100.0, "commitment"), (100.5, "normal_approval")])
    def test_road_plus_green_length_is_capped_at_100m(self, xilingol, x1, track):
        decision = decide_on(xilingol, [road(x1=x1)], voltage_kv=10, customer="other")
        assert decision.measures["road_green_length_m"] == pytest.approx(x1)
        assert decision.track == track

    def test_road_and_green_count_together_and_overlaps_once(self, xilingol):
        green = layer("green", ("way/2", "green", 40.0, 101.0, {}))
        decision = decide_on(xilingol, [road(x1=60.0), green], voltage_kv=10, customer="other")
        assert decision.measures["road_green_length_m"] == pytest.approx(101.0)
        assert decision.track == "normal_approval"
        assert {r.rule: r.effect for r in decision.reasons}["bar.over_100m"] == "bars"

    def test_a_length_close_to_the_cap_warns(self, xilingol):
        near = decide_on(xilingol, [road(x1=98.0)], voltage_kv=10, customer="other")
        far = decide_on(xilingol, [road(x1=80.0)], voltage_kv=10, customer="other")
        assert near.track == far.track == "commitment"
        assert "NEAR_THRESHOLD" in warning_codes(near)
        assert "98.00" in next(w.text for w in near.warnings if w.code == "NEAR_THRESHOLD")
        assert "NEAR_THRESHOLD" not in warning_codes(far)

    @pytest.mark.parametrize(
        ("kind", "track"),
        [("main", "normal_approval"), ("secondary", "commitment"), ("branch", "commitment")],
    )
    def test_only_urban_main_roads_bar(self, xilingol, kind, track):
        decision = decide_on(xilingol, [road(kind)], voltage_kv=0.4, customer="residential")
        assert decision.track == track

    @pytest.mark.parametrize(
        ("layer_name", "kind", "item"),
        [
            ("bridges", "bridge", "housing.bridge_cables"),
            ("green", "forest", "natural_resources.forest_land"),
            ("roads", "trunk_highway", "transport.highway"),
            ("roads", "rural", "transport.highway"),
            ("roads", "expressway", "housing.urban_road"),
        ],
    )
    def test_approvals_not_waived_take_the_normal_approval(self, xilingol, layer_name, kind,
                                                          item):  # fmt: skip
        feature = layer(layer_name, ("way/9", kind, 0.0, 20.0, {"handover_date": None,
                        "major_repair_date": None}))  # fmt: skip
        decision = decide_on(xilingol, [feature], voltage_kv=0.4, customer="residential")
        assert decision.track == "normal_approval"
        assert {r.rule: r.effect for r in decision.reasons}["bar.approval_not_waived"] == "bars"
        assert item in [i for ids in items(decision).values() for i in ids]

    @pytest.mark.parametrize(
        ("attribute", "date", "track"),
        [
            ("handover_date", "2021-06-09", "normal_approval"),  # 5 years less a day
            ("handover_date", "2021-06-08", "commitment"),  # exactly 5 years
            ("major_repair_date", "2023-06-09", "normal_approval"),
            ("major_repair_date", "2023-06-08", "commitment"),
        ],
    )
    def test_road_age_bars(self, xilingol, attribute, date, track):
        decision = decide_on(
            xilingol,
            [road(**{attribute: date})],
            voltage_kv=10,
            customer="other",
            start_date="2026-06-08",
        )
        assert decision.track == track

    def test_waived_approvals_are_supervised_under_commitment(self, xilingol):
        green = layer("green", ("way/2", "green", 60.0, 70.0, {}))
        decision = decide_on(
            xilingol, [road(), green], voltage_kv=0.4, customer="residential", fells_trees=True
        )
        assert decision.track == "commitment"
        assert items(decision) == {
            "housing": ["housing.urban_road", "housing.tree_felling", "housing.green_land"]
        }
        assert decision.bureaus[0]["role"] == "supervise"
        assert decision.due.due is None

    def test_the_normal_approval_has_no_stated_time_limit(self, xilingol):
        decision = decide_on(xilingol, [road("main")], voltage_kv=10, customer="other")
        assert decision.bureaus[0]["role"] == "approve"
        assert decision.due.due is None
        assert "TIME_LIMIT_NOT_STATED" in warning_codes(decision)


class TestZhongshan:
    @pytest.mark.parametrize(
        ("kv", "track"),
        [
            (0.22, "exemption_filing"),
            (0.4, "exemption_filing"),
            (10, "parallel_approval"),
            (20, "parallel_approval"),
        ],
    )
    def test_the_two_voltage_classes(self, zhongshan, kv, track):
        assert decide_on(zhongshan, voltage_kv=kv, customer="other").track == track

    @pytest.mark.parametrize("kv", [0.41, 6, 9.99, 20.01, 35, 110])
    def test_other_voltages_have_no_track_and_say_so(self, zhongshan, kv):
        with pytest.raises(RulesError) as caught:
            decide_on(zhongshan, voltage_kv=kv, customer="other")
        assert caught.value.code == "NO_TRACK"
        assert f"{kv:g} kV" in str(caught.value)

    def test_parallel_approval_is_due_in_5_working_days(self, zhongshan):
        decision = decide_on(zhongshan, voltage_kv=10, customer="other")
        assert decision.due.due == dt.date(2026, 6, 15)  # Monday 8 June + 5 working days
        assert items(decision)["natural_resources"] == ["natural_resources.planning_permission"]

    def test_road_items(self, zhongshan):
        decision = decide_on(
            zhongshan,
            [road("branch"), road("non_motorised", 60, 70, "way/3")],
            voltage_kv=10,
            customer="other",
        )
        found = items(decision)
        assert found["police"] == ["police.traffic_plan"]
        assert decision.bureaus[[b["code"] for b in decision.bureaus].index("police")]["items"][0][
            "feature_ids"
        ] == ["way/1"]
        assert found["urban_management"] == ["urban_management.urban_road"]

    def test_highways_and_their_bridges_involve_transport(self, zhongshan):
        highway = road("trunk_highway")
        bridge = layer("bridges", ("way/5", "bridge", 60.0, 70.0, {"road_class": "trunk_highway"}))
        decision = decide_on(zhongshan, [highway, bridge], voltage_kv=10, customer="other")
        assert items(decision)["transport"] == [
            "transport.highway_works",
            "transport.highway_structures",
        ]

    def test_a_bridge_of_unknown_road_warns(self, zhongshan):
        bridge = layer("bridges", ("way/5", "bridge", 60.0, 70.0, {"road_class": None}))
        decision = decide_on(zhongshan, [bridge], voltage_kv=10, customer="other")
        assert "transport" not in items(decision)
        assert "BRIDGE_ROAD_UNKNOWN" in warning_codes(decision)

    @pytest.mark.parametrize(
        ("kind", "item"),
        [
            ("water_protection", "water.protection_area"),
            ("river_management", "water.river_management"),
            ("highway_land", "transport.highway_land"),
        ],
    )
    def test_zones(self, zhongshan, kind, item):
        zones = layer("zones", ("zone/1", kind, 0.0, 10.0, {}))
        decision = decide_on(zhongshan, [zones], voltage_kv=10, customer="other")
        assert item in [i for ids in items(decision).values() for i in ids]

    def test_low_voltage_filing_has_no_stated_time_limit(self, zhongshan):
        decision = decide_on(zhongshan, [road()], voltage_kv=0.4, customer="residential")
        assert decision.track == "exemption_filing"
        assert "TIME_LIMIT_NOT_STATED" in warning_codes(decision)
        assert {b["role"] for b in decision.bureaus} == {"register"}


class TestDefaultPackHighways:
    @pytest.mark.parametrize(
        ("volume", "track"), [(5000, "parallel_approval"), (4999, "commitment")]
    )
    def test_rural_heavy_traffic_threshold(self, default_rules, volume, track):
        decision = decide_on(
            default_rules,
            [road("rural", traffic_volume=volume)],
            voltage_kv=0.4,
            customer="residential",
            three_zero=True,
        )
        assert decision.track == track

    def test_rural_road_of_unknown_traffic_is_taken_as_heavy_and_warns(self, default_rules):
        decision = decide_on(
            default_rules, [road("rural")], voltage_kv=0.4, customer="residential", three_zero=True
        )
        assert decision.track == "parallel_approval"
        assert "TRAFFIC_VOLUME_UNKNOWN" in warning_codes(decision)

    def test_trunk_highways_bar_and_involve_transport(self, default_rules):
        decision = decide_on(
            default_rules, [road("trunk_highway")], voltage_kv=10, customer="other"
        )
        assert decision.track == "parallel_approval"
        assert items(decision)["transport"] == ["transport.trunk_highway"]

    def test_filing_received_monday_morning_is_due_wednesday(self, default_rules):
        decision = decide_on(default_rules, [road()], voltage_kv=10, customer="other")
        result = decision.to_dict()["track"]
        assert (result["code"], result["due"]) == ("filing", "2026-06-10")
        assert result["time_limit_working_days"] == 2
        assert result["due_provisional"] is False


def test_a_pack_serves_the_sample_district_from_a_new_rule_file_alone(tmp_path):
    sample = sample_district_path()
    (tmp_path / "district.toml").write_text(
        "[district]\n"
        'id = "helsinki-zhongshan"\n'
        'name = "Helsinki under the Zhongshan rules"\n'
        'crs = "EPSG:3067"\n'
        f'store = "{(sample / "helsinki.gpkg").as_posix()}"\n'
        f'rules = "{(RULES / "zhongshan.toml").as_posix()}"\n',
        encoding="utf-8",
    )
    district = load_district(tmp_path)
    route = (sample / "example_route.geojson").read_text(encoding="utf-8")
    decision = district.classify(json.loads(route), facts={"voltage_kv": 10}, submitted=MONDAY)
    assert decision.track == "parallel_approval"
    assert "urban_management" in items(decision)
    assert "LAYER_MISSING" in warning_codes(decision)
