"""The drawing page and its assets through the ASGI app: local, complete and escaped."""

from __future__ import annotations

import html
import json
import re
import shutil
import tomllib
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.assets import MissingAsset, js_literal, localise
from api.settings import Settings
from layers.district import sample_district_path

HOSTILE = '</script><script>window.pwned=1</script>`${window.pwned=2}`\u2028<b>"&'


@pytest.fixture(scope="module")
def client():
    return TestClient(create_app(settings=Settings(tiles_url="")))


def assets_of(page: str) -> list[str]:
    return re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', page)


def test_draw_page_loads_only_assets_routecheck_serves(client):
    response = client.get("/draw")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assets = assets_of(response.text)
    assert {a.rsplit("/", 1)[-1] for a in assets} >= {
        "leaflet.js", "leaflet.css", "leaflet.draw.js", "leaflet.draw.css", "draw.js", "draw.css",
    }  # fmt: skip
    for asset in assets:
        assert asset.startswith("/static/"), asset
        assert client.get(asset).status_code == 200, asset


def test_every_image_the_stylesheets_name_is_served(client):
    page = client.get("/draw").text
    for sheet in (a for a in assets_of(page) if a.endswith(".css")):
        folder = sheet.rsplit("/", 1)[0]
        for image in re.findall(r"url\(['\"]?([^'\")#]+)['\"]?\)", client.get(sheet).text):
            assert client.get(f"{folder}/{image}").status_code == 200, (sheet, image)


def test_the_basemap_is_a_setting_with_its_attribution():
    settings = Settings(
        tiles_url="http://127.0.0.1:9/{z}/{x}/{y}.png", tiles_attribution="Tiles by X"
    )
    page = TestClient(create_app(settings=settings)).get("/draw").text
    assert "http://127.0.0.1:9/{z}/{x}/{y}.png" in page
    assert "Tiles by X; data \\u00a9 OpenStreetMap contributors" in page


def test_no_basemap_still_attributes_the_data(client):
    page = client.get("/draw").text
    assert "tile.openstreetmap.org" not in page
    assert "addAttribution" in page and "OpenStreetMap contributors" in page


def test_the_docs_page_loads_swagger_ui_from_static(client):
    page = client.get("/docs").text
    assets = assets_of(page)
    assert any(a.endswith("swagger-ui-bundle.js") for a in assets)
    assert all(a.startswith("/static/") for a in assets), assets


def test_js_literal_cannot_end_its_script_element():
    literal = js_literal({"name": HOSTILE})
    assert "<" not in literal and ">" not in literal and "&" not in literal
    assert "\u2028" not in literal
    assert json.loads(literal) == {"name": HOSTILE}


def test_folium_assets_without_a_local_copy_fail_loudly():
    import folium

    fmap = folium.Map(tiles=None)
    fmap.default_js = [*fmap.default_js, ("other", "https://cdn.example/other.js")]
    with pytest.raises(MissingAsset, match="other"):
        localise(fmap, "/static")


@pytest.fixture(scope="module")
def hostile_district(tmp_path_factory) -> Path:
    """The sample district renamed to markup, in a folder of its own."""
    root = tmp_path_factory.mktemp("district") / "hostile"
    shutil.copytree(sample_district_path(), root)
    settings = tomllib.loads((root / "district.toml").read_text(encoding="utf-8"))["district"]
    rules = (sample_district_path() / settings["rules"]).resolve()
    text = (root / "district.toml").read_text(encoding="utf-8")
    text = text.replace(f'name = "{settings["name"]}"', f"name = {json.dumps(HOSTILE)}")
    text = text.replace(f'rules = "{settings["rules"]}"', f"rules = {json.dumps(str(rules))}")
    (root / "district.toml").write_text(text, encoding="utf-8")
    return root


def test_district_text_is_escaped_on_the_page(hostile_district):
    app = create_app(hostile_district, Settings(tiles_url=""))
    assert app.state.service.district.settings.name == HOSTILE
    page = TestClient(app).get("/draw").text
    assert HOSTILE not in page and "<script>window.pwned" not in page
    assert html.escape(HOSTILE) in page
