"""Local assets for folium pages, the basemap setting, and text safe inside scripts.

Folium links Leaflet, jQuery, Bootstrap and icon fonts from CDNs. routecheck's pages
must work with no internet, so every page is rewritten to the copies vendored under
``api/static/vendor`` (versions and licences in ``api/static/vendor/README.md``); the
folium assets the maps do not use (jQuery, Bootstrap, awesome-markers, icon fonts) are
dropped, and a page that still needs an asset with no local copy fails loudly.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import folium
from branca.element import MacroElement
from jinja2 import Template

from api.settings import Settings

STATIC_DIR = Path(__file__).parent / "static"

LEAFLET = "vendor/leaflet-1.9.4"
LEAFLET_DRAW = "vendor/leaflet-draw-1.0.4"
SWAGGER_UI = "vendor/swagger-ui-5.35.0"

#: folium asset names and the vendored file each is served from.
LOCAL_ASSETS = {
    "leaflet": f"{LEAFLET}/leaflet.js",
    "leaflet_css": f"{LEAFLET}/leaflet.css",
    "leaflet_draw_js": f"{LEAFLET_DRAW}/leaflet.draw.js",
    "leaflet_draw_css": f"{LEAFLET_DRAW}/leaflet.draw.css",
}

#: folium's default assets that routecheck's maps do not use (markers, icons, popovers).
UNUSED_ASSETS = frozenset(
    {
        "jquery",
        "bootstrap",
        "bootstrap_css",
        "awesome_markers",
        "awesome_markers_css",
        "awesome_markers_font_css",
        "glyphicons_css",
        "awesome_rotate_css",
    }
)


class MissingAsset(RuntimeError):
    """A folium element links an asset that routecheck does not serve itself."""


def js_literal(value: object) -> str:
    """JSON for a `<script>` block: no `</script>`, `<!--` or line separators can break out."""
    text = json.dumps(value, ensure_ascii=False)
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(char, escape)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def localise(fmap: folium.Map, static_url: str) -> folium.Map:
    """Point every script and stylesheet of the map's elements at routecheck's copies."""
    for element in _walk(fmap):
        for attribute in ("default_js", "default_css"):
            assets = getattr(element, attribute, None)
            if assets:
                setattr(element, attribute, _local(assets, static_url))
    return fmap


def _walk(element):
    yield element
    for child in list(element._children.values()):
        yield from _walk(child)


def _local(assets: list[tuple[str, str]], static_url: str) -> list[tuple[str, str]]:
    local = []
    for name, url in assets:
        if name in UNUSED_ASSETS:
            continue
        if url.startswith(static_url):
            local.append((name, url))
        elif name in LOCAL_ASSETS:
            local.append((name, f"{static_url}/{LOCAL_ASSETS[name]}"))
        else:
            raise MissingAsset(f"asset {name!r} ({url}) has no local copy")
    return local


def set_basemap(fmap: folium.Map, settings: Settings, data_attribution: str) -> folium.Map:
    """Replace the map's tile layers with the configured basemap (or none).

    The data's own attribution is always shown, with or without a basemap.
    """
    for key, child in list(fmap._children.items()):
        if isinstance(child, folium.TileLayer):
            del fmap._children[key]
    data = f"data {html.escape(data_attribution)}" if data_attribution else ""
    if settings.tiles_url:
        attribution = "; ".join(filter(None, [html.escape(settings.tiles_attribution), data]))
        layer = folium.TileLayer(settings.tiles_url, attr=attribution, name="basemap", max_zoom=19)
        # tile layers go under everything else: first child of the map
        layer._parent = fmap
        fmap._children = {layer.get_name(): layer, **fmap._children}
    elif data:
        Attribution(data).add_to(fmap)
    return fmap


class Attribution(MacroElement):
    """An attribution line on a map that has no tile layer to carry it."""

    _template = Template(
        "{% macro script(this, kwargs) %}"
        "{{ this._parent.get_name() }}.attributionControl.addAttribution({{ this.text_js }});"
        "{% endmacro %}"
    )

    def __init__(self, text: str):
        super().__init__()
        self._name = "Attribution"
        self.text_js = js_literal(text)
