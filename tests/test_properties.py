"""Property-based tests of the geometry core and the decision engine (hypothesis).

- Whatever a route looks like, screening it raises nothing but routecheck's own input
  errors.
- Adding a conflict to a route never makes its track less strict, under every pack.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import geopandas as gpd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely import LineString, MultiLineString, box

from geo.decision import decide, facts_from
from geo.errors import RoutecheckError
from geo.screening import IndexedLayer, screen
from layers.catalogue import SPECS
from layers.district import load_rules

RULES = Path(__file__).resolve().parents[1] / "layers" / "rules"
PACKS = {path.stem: load_rules(path) for path in sorted(RULES.glob("*.toml"))}
SUBMITTED = dt.datetime(2026, 6, 8, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))

# positions near the sample district, and some far off or broken
near = st.tuples(st.floats(24.930, 24.958), st.floats(60.162, 60.181))
wild = st.tuples(
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.floats(allow_nan=True, allow_infinity=True, width=64),
)
position = st.one_of(near, near, near, wild).map(list)
line = st.lists(position, min_size=0, max_size=12)
geometry = st.one_of(
    st.builds(lambda c: {"type": "LineString", "coordinates": c}, line),
    st.builds(
        lambda cs: {"type": "MultiLineString", "coordinates": cs}, st.lists(line, max_size=3)
    ),  # fmt: skip
    st.builds(lambda c: {"type": "Point", "coordinates": c}, position),
    st.just(None),
)
route = st.one_of(
    geometry,
    st.builds(lambda g: {"type": "Feature", "geometry": g, "properties": {}}, geometry),
    st.builds(
        lambda gs: {
            "type": "FeatureCollection",
            "features": [{"type": "Feature", "geometry": g, "properties": {}} for g in gs],
        },
        st.lists(geometry, max_size=3),
    ),  # fmt: skip
)
facts = st.fixed_dictionaries(
    {
        "voltage_kv": st.one_of(
            st.sampled_from([0.22, 0.4, 10, 20, 35, 110]), st.floats(-10, 2000)
        ),  # fmt: skip
        "customer": st.sampled_from(["residential", "small_micro", "other", "factory"]),
    }
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(route=route, facts=facts)
def test_any_route_gives_a_decision_or_an_input_error(district, route, facts):
    try:
        decision = district.classify(route, facts=facts, submitted=SUBMITTED)
    except RoutecheckError:
        return
    assert decision.track in [t.code for t in district.rules.tracks]
    assert decision.screening.length_m > 0


# --- monotonicity ---------------------------------------------------------------------------

ROUTE = MultiLineString([LineString([(0, 0), (300, 0)])])
KINDS = [(layer, kind) for layer, spec in SPECS.items() if layer != "trees"
         for kind in spec.kinds]  # fmt: skip
feature = st.tuples(
    st.sampled_from(KINDS),
    st.floats(0, 280),  # where along the route it starts
    st.floats(1, 150),  # how long the route runs inside it
    st.one_of(st.none(), st.sampled_from(["2019-01-01", "2023-06-01", "2025-06-01"])),
    st.one_of(st.none(), st.integers(0, 20000)),
)


def layers_of(features) -> list[IndexedLayer]:
    by_layer: dict[str, list] = {}
    for index, ((layer, kind), start, length, date, volume) in enumerate(features):
        by_layer.setdefault(layer, []).append(
            {
                "feature_id": f"f/{index}",
                "kind": kind,
                "name": None,
                "handover_date": date,
                "major_repair_date": date,
                "traffic_volume": volume,
                "road_class": "trunk_highway" if volume else None,
                "geometry": box(start, -5, start + length, 5),
            }
        )
    return [
        IndexedLayer(layer, gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:3067"))
        for layer, rows in by_layer.items()
    ]


def track_rank(rules, features, project) -> int:
    screening = screen(ROUTE, layers_of(features), work_width_m=1.0)
    decision = decide(screening, facts_from({}, project), rules, SUBMITTED)
    return rules.rank(decision.track)


@settings(max_examples=200, deadline=None)
@given(
    pack=st.sampled_from(sorted(PACKS)),
    features=st.lists(feature, max_size=6),
    extra=feature,
    voltage=st.sampled_from([0.22, 0.4, 10, 20, 35]),
    customer=st.sampled_from(["residential", "small_micro", "other"]),
    three_zero=st.booleans(),
    fells=st.booleans(),
)
def test_adding_a_conflict_never_makes_the_track_less_strict(
    pack, features, extra, voltage, customer, three_zero, fells
):
    rules = PACKS[pack]
    project = {"voltage_kv": voltage, "customer": customer, "three_zero": three_zero,
               "fells_trees": fells, "start_date": "2026-06-08"}  # fmt: skip
    try:
        before = track_rank(rules, features, project)
    except RoutecheckError:
        return  # no track for these facts under this pack (e.g. 35 kV in Zhongshan)
    after = track_rank(rules, [*features, extra], project)
    assert after >= before
