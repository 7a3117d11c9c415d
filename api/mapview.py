"""Map previews: the route, its footprint and each conflict on a folium map.

Every piece of text that comes from a layer or from the applicant is escaped before
it reaches the page. Folium places popup and tooltip HTML inside JavaScript template
literals, so backticks and dollar signs are escaped as well as the HTML specials.
"""

from __future__ import annotations

import html

import folium
import geopandas as gpd
from shapely.geometry import mapping

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
    "bridge": "#54278f",
    "green": "#78c679",
    "shrub": "#31a354",
    "forest": "#006837",
    "tree": "#41ab5d",
    "ancient_tree": "#b8860b",
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


def decision_map(decision: Decision, district) -> folium.Map:
    """Draw a decision: route, footprint, conflicts by kind, legend, track and attribution."""
    crs = district.settings.crs
    screening = decision.screening
    route = gpd.GeoSeries([screening.route, screening.footprint], crs=crs).to_crs(4326)

    west, south, east, north = route.total_bounds
    attribution = f"{TILES_ATTRIBUTION}; data {escape(district.attribution)}"
    fmap = folium.Map(tiles=None, control_scale=True)
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
        tooltip=folium.Tooltip(f"route, {screening.length_m:,.1f} m"),
    ).add_to(fmap)

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
        folium.Popup(_popup(conflict), max_width=320).add_to(shape)
        folium.Tooltip(escape(f"{conflict.kind}: {conflict.name or conflict.feature_id}")).add_to(
            shape
        )
        shape.add_to(group)


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
