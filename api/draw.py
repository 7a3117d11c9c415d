"""The drawing page: an applicant draws a route, enters the facts and sees the answer.

The page is a folium map with Leaflet.draw and a form; `static/routecheck/draw.js`
sends the route to /v1/classify and /v1/conflicts and shows track, reasons, bureaus,
warnings and the conflicts highlighted, without reloading. Every text from a layer or
from the applicant reaches the page as DOM text (never as HTML), and the settings the
script needs come as JSON in a non-executed script element, escaped for it.
"""

from __future__ import annotations

import html
from typing import Annotated

import folium
import geopandas as gpd
from branca.element import Element, MacroElement
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from folium.elements import JSCSSMixin
from folium.plugins import Draw
from jinja2 import Template
from shapely.geometry import mapping

from api.assets import js_literal, localise, set_basemap
from api.headers import with_nonce
from api.mapview import KIND_COLOURS, OTHER_COLOUR, ROUTE_COLOUR
from api.state import Service, get_service

router = APIRouter(tags=["drawing page"])


class DrawApp(JSCSSMixin, MacroElement):
    """Starts draw.js on the map once folium has made the map and the route group."""

    _template = Template(
        "{% macro script(this, kwargs) %}"
        "routecheckDraw({{ this._parent.get_name() }}, {{ this.group.get_name() }}, "
        "JSON.parse(document.getElementById('routecheck-config').textContent));"
        "{% endmacro %}"
    )

    def __init__(self, group: folium.FeatureGroup, static_url: str):
        super().__init__()
        self._name = "DrawApp"
        self.group = group
        self.default_js = [("routecheck_draw_js", f"{static_url}/routecheck/draw.js")]
        self.default_css = [("routecheck_draw_css", f"{static_url}/routecheck/draw.css")]


def _form(district_name: str) -> str:
    return f"""
<div id="rc-panel">
  <h1>Check a cable route</h1>
  <p class="rc-district">{html.escape(district_name)}</p>
  <p class="rc-hint">Draw the route with the line tool, enter the project, then check it.</p>
  <form id="rc-form">
    <label>Voltage (kV) <input name="voltage_kv" type="number" step="any" min="0" value="0.4"
      required></label>
    <label>Customer <select name="customer">
      <option value="residential">residential</option>
      <option value="small_micro" selected>small or micro business</option>
      <option value="other">other</option></select></label>
    <label>三零 scheme <select name="three_zero">
      <option value="">not declared</option><option value="true">yes</option>
      <option value="false">no</option></select></label>
    <label>Capacity (kW) <input name="capacity_kw" type="number" step="any" min="0"></label>
    <label>Area <select name="area"><option value="">not given</option>
      <option value="urban">urban</option><option value="rural">rural</option></select></label>
    <label><input name="fells_trees" type="checkbox"> the works fell or move trees</label>
    <label>Planned start <input name="start_date" type="date"></label>
    <button id="rc-submit" type="submit">Check route</button>
  </form>
  <div id="rc-status" role="status"></div>
  <div id="rc-result" hidden>
    <h2>Track</h2><p id="rc-track"></p>
    <h2>Reasons</h2><ul id="rc-reasons"></ul>
    <h2>Bureaus</h2><ul id="rc-bureaus"></ul>
    <h2>Warnings</h2><ul id="rc-warnings"></ul>
    <h2>Conflicts</h2>
    <table id="rc-conflicts"><thead><tr><th>layer</th><th>kind</th><th>feature</th>
      <th>name</th><th>m inside</th></tr></thead><tbody></tbody></table>
  </div>
</div>"""


def draw_page(service: Service, root_path: str = "") -> str:
    """Render the drawing page for the service's district."""
    district = service.district
    static_url = f"{root_path}/static"
    coverage = gpd.GeoSeries([district.coverage], crs=district.settings.crs).to_crs(4326)
    west, south, east, north = coverage.total_bounds

    fmap = folium.Map(tiles=None, control_scale=True)
    set_basemap(fmap, service.settings, district.attribution)
    fmap.fit_bounds([[south, west], [north, east]])
    folium.GeoJson(
        mapping(coverage.iloc[0]),
        name="coverage",
        style_function=lambda _: {"color": "#555", "weight": 1, "fill": False, "dashArray": "4"},
    ).add_to(fmap)
    group = folium.FeatureGroup(name="route").add_to(fmap)
    Draw(
        feature_group=group,
        show_geometry_on_click=False,
        draw_options={
            "polyline": {"shapeOptions": {"color": ROUTE_COLOUR, "weight": 4}},
            "polygon": False,
            "rectangle": False,
            "circle": False,
            "marker": False,
            "circlemarker": False,
        },
        edit_options={"edit": True, "remove": True},
    ).add_to(fmap)
    DrawApp(group, static_url).add_to(fmap)

    root = fmap.get_root()
    root.title = "routecheck: draw a route"
    config = {
        "classifyUrl": f"{root_path}/v1/classify",
        "conflictsUrl": f"{root_path}/v1/conflicts",
        "colours": KIND_COLOURS,
        "otherColour": OTHER_COLOUR,
        "routeColour": ROUTE_COLOUR,
    }
    root.html.add_child(Element(_form(district.settings.name)))
    root.html.add_child(
        Element(
            f'<script type="application/json" id="routecheck-config">{js_literal(config)}</script>'
        )
    )
    return localise(fmap, static_url).get_root().render()


@router.get("/draw", response_class=HTMLResponse, summary="Draw a route and check it")
def draw(request: Request, service: Annotated[Service, Depends(get_service)]) -> HTMLResponse:
    """The drawing page for applicants (HTML; all scripts and styles served from /static)."""
    return HTMLResponse(with_nonce(draw_page(service, request.scope.get("root_path", "")), request))
