"""Map previews: the route, its footprint and each conflict on a folium map.

Every piece of text that comes from a layer or from the applicant is escaped before
it reaches the page: HTML-escaped, and handed to Leaflet as a JSON string literal that
cannot break out of its script (folium's own popups need jQuery and place their HTML
in template literals, so the maps bind popups and tooltips themselves).
"""

from __future__ import annotations

import base64
import html
import mimetypes
import re
from pathlib import Path

import folium
import geopandas as gpd
from branca.element import MacroElement
from jinja2 import Template
from shapely.geometry import mapping

from api.assets import js_literal
from geo.decision import Decision
from geo.screening import Conflict

#: Colour of each conflict kind on the map and in its legend.
KIND_COLOURS = {
    "expressway": "#b30000",
    "main": "#e34a33",
    "secondary": "#fc8d59",
    "branch": "#fdbb84",
    "non_motorised": "#c994c7",
    "trunk_highway": "#7a0177",
    "rural": "#ae017e",
    "bridge": "#54278f",
    "green": "#78c679",
    "shrub": "#31a354",
    "forest": "#006837",
    "tree": "#41ab5d",
    "ancient_tree": "#b8860b",
    "highway_land": "#8c6bb1",
    "water_protection": "#2171b5",
    "river_management": "#6baed6",
}
OTHER_COLOUR = "#636363"
ROUTE_COLOUR = "#08519c"

#: Base map tiles and their attribution (the layers' own attribution is added to it).
TILES_URL = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
TILES_ATTRIBUTION = "Map tiles © OpenStreetMap contributors"


def escape(text: object) -> str:
    """Escape text for HTML that folium embeds in a JavaScript template literal."""
    escaped = html.escape("" if text is None else str(text), quote=True)
    return escaped.replace("`", "&#96;").replace("$", "&#36;").replace("\\", "&#92;")


def standalone_html(fmap: folium.Map) -> str:
    """The map as one HTML file that works with no internet: Leaflet inlined from the
    copies routecheck ships, its images as data URIs. Only the basemap tiles, if any,
    still come from the network.
    """
    from api.assets import STATIC_DIR, localise

    localise(fmap, _INLINE)
    page = fmap.get_root().render()
    for kind, pattern in (("js", _SCRIPT_TAG), ("css", _STYLE_TAG)):
        page = pattern.sub(lambda match, kind=kind: _inlined(match, kind, STATIC_DIR), page)
    if _INLINE in page:
        raise RuntimeError("the map links an asset that could not be inlined")
    return page


#: Placeholder address the assets are pointed at before being inlined.
_INLINE = "routecheck-inline:"
_SCRIPT_TAG = re.compile(r'<script src="routecheck-inline:/([^"]+)"></script>')
_STYLE_TAG = re.compile(r'<link rel="stylesheet" href="routecheck-inline:/([^"]+)"\s*/?>')
_CSS_URL = re.compile(r"url\((?:'|\")?(images/[^)'\"]+)(?:'|\")?\)")


def _inlined(match: re.Match, kind: str, static: Path) -> str:
    path = static / match.group(1)
    text = path.read_text(encoding="utf-8")
    if kind == "js":
        safe = text.replace("</script", "<\\/script")
        return f"<script>{safe}</script>"
    folder = path.parent
    text = _CSS_URL.sub(lambda m: f"url({_data_uri(folder / m.group(1))})", text)
    return f"<style>{text}</style>"


def _data_uri(path: Path) -> str:
    kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return f"data:{kind};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def decision_map(decision: Decision, district) -> folium.Map:
    """Draw a decision: route, footprint, conflicts by kind, legend, track and attribution."""
    crs = district.settings.crs
    screening = decision.screening
    route = gpd.GeoSeries([screening.route, screening.footprint], crs=crs).to_crs(4326)

    west, south, east, north = route.total_bounds
    attribution = f"{TILES_ATTRIBUTION}; data {escape(district.attribution)}"
    fmap = folium.Map(tiles=None)
    MetricScale().add_to(fmap)
    folium.TileLayer(TILES_URL, attr=attribution, name="OpenStreetMap", max_zoom=19).add_to(fmap)
    fmap.fit_bounds([[south, west], [north, east]], padding=(30, 30))

    _add_conflicts(fmap, screening.conflicts, crs)
    folium.GeoJson(
        mapping(route.iloc[1]),
        name="footprint",
        style_function=lambda _: {"color": ROUTE_COLOUR, "weight": 1, "fillOpacity": 0.25},
    ).add_to(fmap)
    folium.GeoJson(
        mapping(route.iloc[0]),
        name="route",
        style_function=lambda _: {"color": ROUTE_COLOUR, "weight": 3},
    ).add_child(Bound("bindTooltip", f"route, {screening.length_m:,.1f} m")).add_to(fmap)

    fmap.get_root().html.add_child(folium.Element(_title(decision)))
    fmap.get_root().html.add_child(folium.Element(_legend(screening.conflicts)))
    folium.LayerControl(collapsed=True).add_to(fmap)
    return fmap


def _add_conflicts(fmap: folium.Map, conflicts: tuple[Conflict, ...], crs: str) -> None:
    if not conflicts:
        return
    zones = gpd.GeoSeries([c.zone for c in conflicts], crs=crs).to_crs(4326)
    group = folium.FeatureGroup(name="conflicts").add_to(fmap)
    for conflict, zone in zip(conflicts, zones, strict=True):
        colour = KIND_COLOURS.get(conflict.kind, OTHER_COLOUR)
        style = {"color": colour, "weight": 2, "fillColor": colour, "fillOpacity": 0.45}
        shape = folium.GeoJson(mapping(zone), style_function=lambda _, s=style: s)
        shape.add_child(Bound("bindPopup", _popup(conflict)))
        shape.add_child(
            Bound("bindTooltip", escape(f"{conflict.kind}: {conflict.name or conflict.feature_id}"))
        )
        shape.add_to(group)


class MetricScale(MacroElement):
    """A scale bar in metres only."""

    _template = Template(
        "{% macro script(this, kwargs) %}"
        "L.control.scale({imperial: false, maxWidth: 160}).addTo({{ this._parent.get_name() }});"
        "{% endmacro %}"
    )


class Bound(MacroElement):
    """Binds a popup or tooltip to its parent layer, the HTML passed as a JSON literal."""

    _template = Template(
        "{% macro script(this, kwargs) %}"
        "{{ this._parent.get_name() }}.{{ this.method }}({{ this.html_js }});"
        "{% endmacro %}"
    )

    def __init__(self, method: str, html_text: str):
        super().__init__()
        if method not in ("bindPopup", "bindTooltip"):
            raise ValueError(f"cannot bind with {method!r}")
        self._name = "Bound"
        self.method = method
        self.html_js = js_literal(html_text)


def _popup(conflict: Conflict) -> str:
    rows = [
        ("layer", conflict.layer),
        ("kind", conflict.kind),
        ("feature", conflict.feature_id),
        ("name", conflict.name or "—"),
        ("route inside", f"{conflict.length_m:,.2f} m"),
        ("footprint inside", f"{conflict.area_m2:,.2f} m²"),
    ]
    cells = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in rows)
    return f"<table class='routecheck-popup'>{cells}</table>"


def _title(decision: Decision) -> str:
    track = decision.rules.track(decision.track)
    bureaus = ", ".join(b["code"] for b in decision.bureaus) or "none"
    return (
        "<div style='position:fixed;top:10px;left:50px;z-index:9999;background:white;"
        "padding:6px 10px;border:1px solid #888;font:14px sans-serif'>"
        f"<b>Track: {escape(track.name)} ({escape(track.code)})</b><br>"
        f"{len(decision.screening.conflicts)} conflicts · bureaus: {escape(bureaus)}</div>"
    )


def _legend(conflicts: tuple[Conflict, ...]) -> str:
    order = list(KIND_COLOURS)
    kinds = sorted(
        {c.kind for c in conflicts},
        key=lambda k: (k not in order, order.index(k) if k in order else 0, k),
    )
    entries = [("route and footprint", ROUTE_COLOUR)]
    entries += [(kind, KIND_COLOURS.get(kind, OTHER_COLOUR)) for kind in kinds]
    rows = "".join(
        f"<div><span style='display:inline-block;width:12px;height:12px;background:{colour};"
        f"margin-right:6px'></span>{escape(label)}</div>"
        for label, colour in entries
    )
    return (
        "<div style='position:fixed;bottom:30px;left:10px;z-index:9999;background:white;"
        f"padding:6px 10px;border:1px solid #888;font:12px sans-serif'><b>Legend</b>{rows}</div>"
    )
