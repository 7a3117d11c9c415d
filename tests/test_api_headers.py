"""Security headers: the content security policy of each page and of every other answer."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from api import models
from api.app import create_app
from api.headers import API_POLICY, tile_source
from api.settings import Settings

EXAMPLE = models.example_route()


@pytest.fixture(scope="module")
def client():
    settings = Settings(tiles_url="https://{s}.tile.example.org/{z}/{x}/{y}.png")
    with TestClient(create_app(settings=settings)) as client:
        yield client


def policy_of(response) -> dict[str, str]:
    policy = response.headers["content-security-policy"]
    return dict(part.strip().partition(" ")[::2] for part in policy.split(";"))


PAGES = {
    "draw": lambda client: client.get("/draw"),
    "docs": lambda client: client.get("/docs"),
    "preview": lambda client: client.post("/v1/preview", json=EXAMPLE),
}


@pytest.mark.parametrize("name", PAGES)
def test_every_script_of_a_page_carries_the_nonce_its_policy_allows(client, name):
    first, second = PAGES[name](client), PAGES[name](client)
    assert first.status_code == 200 and first.headers["content-type"].startswith("text/html")
    policy = policy_of(first)
    (nonce,) = re.fullmatch(r"'self' 'nonce-([\w-]+)'", policy["script-src"]).groups()
    assert policy["script-src-attr"] == "'none'"
    assert policy["frame-ancestors"] == "'none'" and policy["object-src"] == "'none'"
    assert policy["img-src"] == "'self' data: https://*.tile.example.org"

    tags = re.findall(r"<script\b[^>]*>", first.text, flags=re.IGNORECASE)
    assert tags and all(f'nonce="{nonce}"' in tag for tag in tags)
    assert policy_of(second)["script-src"] != policy["script-src"]  # one nonce per answer
    for name, value in (("x-content-type-options", "nosniff"), ("referrer-policy", "no-referrer"),
                        ("x-frame-options", "DENY")):  # fmt: skip
        assert first.headers[name] == value


def test_every_other_answer_allows_nothing(client):
    for response in (
        client.get("/healthz"),
        client.post("/v1/classify", json=EXAMPLE),
        client.post("/v1/classify", content=b"{"),
        client.get("/collections/roads/items?limit=1"),
        client.get("/static/routecheck/draw.js"),
    ):
        assert response.headers["content-security-policy"] == API_POLICY, response.url
        assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    ("template", "source"),
    [
        ("https://tile.openstreetmap.org/{z}/{x}/{y}.png", "https://tile.openstreetmap.org"),
        ("https://{s}.tiles.example/{z}/{x}/{y}.png", "https://*.tiles.example"),
        ("https://t{n}.example/{z}/{x}/{y}", "https:"),
        ("/tiles/{z}/{x}/{y}.png", None),
        ("", None),
    ],
)
def test_the_basemap_tiles_are_the_only_foreign_images_allowed(template, source):
    assert tile_source(template) == source
