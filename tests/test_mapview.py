"""The decision map: self-contained, escaped, with every conflict, legend and track."""

from __future__ import annotations

import datetime as dt
import re
from types import SimpleNamespace

import geopandas as gpd
from shapely import LineString, MultiLineString, box

from api.mapview import decision_map, escape, standalone_html
from geo.decision import decide, facts_from
from geo.screening import IndexedLayer, screen

HOSTILE = "</script><script>alert('x')</script>`${document.cookie}`<img src=x onerror=alert(1)>"


def hostile_decision(default_rules):
    frame = gpd.GeoDataFrame(
        {"feature_id": ["way/1"], "kind": ["main"], "name": [HOSTILE]},
        geometry=[box(385900, 6672300, 385920, 6672330)],
        crs="EPSG:3067",
    )
    route = MultiLineString([LineString([(385880, 6672310), (385950, 6672310)])])
    screening = screen(route, [IndexedLayer("roads", frame)], work_width_m=1.0)
    facts = facts_from({}, {"voltage_kv": 0.4, "customer": "residential", "three_zero": True})
    submitted = dt.datetime(2026, 6, 8, 9, tzinfo=dt.UTC)
    return decide(screening, facts, default_rules, submitted)


DISTRICT = SimpleNamespace(
    settings=SimpleNamespace(crs="EPSG:3067"), attribution="© OpenStreetMap contributors"
)


def test_the_page_needs_no_network_but_the_basemap(default_rules):
    page = standalone_html(decision_map(hostile_decision(default_rules), DISTRICT))
    sources = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', page)
    assert sources == []
    assert "L.map(" in page or "L.map (" in page
    assert "tile.openstreetmap.org" in page


def test_layer_text_is_escaped_everywhere(default_rules):
    page = standalone_html(decision_map(hostile_decision(default_rules), DISTRICT))
    assert HOSTILE not in page
    assert "<img src=x" not in page
    assert "alert('x')</script>" not in page
    assert escape(HOSTILE).count("&lt;") == 4


def test_title_legend_and_attribution(default_rules):
    decision = hostile_decision(default_rules)
    page = standalone_html(decision_map(decision, DISTRICT))
    assert "并联限时审批 (parallel_approval)" in page
    assert "Legend" in page and ">main</div>" in page
    assert "OpenStreetMap contributors" in page
