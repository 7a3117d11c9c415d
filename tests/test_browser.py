"""The drawing page in a real headless browser (Debian's chromium, driven by playwright).

The browser may reach the loopback server only: every other request is refused and
recorded, so a page that needs the internet fails here.
"""

from __future__ import annotations

import json
import os
import shutil
from urllib.parse import urlsplit

import pytest

from api import models

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
EXAMPLE = models.example_route()


@pytest.fixture(scope="module")
def browser():
    if not shutil.which(CHROMIUM):
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing (apt-get install chromium)")
        pytest.skip(f"{CHROMIUM} is missing")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server):
    """The drawing page, loaded; `page.outside` lists requests that left the machine."""
    url, _ = live_server
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.outside = []
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))

    def only_loopback(route):
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            page.outside.append(route.request.url)
            route.abort()

    page.route("**/*", only_loopback)
    page.goto(f"{url}/draw")
    page.wait_for_function("window.routecheck !== undefined")
    yield page
    context.close()


def test_inject_a_route_submit_and_see_track_reasons_bureaus_conflicts(page):
    page.evaluate("route => window.routecheck.setRoute(route)", EXAMPLE)
    page.select_option("select[name=customer]", "small_micro")
    page.fill("input[name=voltage_kv]", "0.4")
    page.fill("input[name=capacity_kw]", "120")
    page.click("#rc-submit")

    page.wait_for_selector("#rc-result:not([hidden])")
    assert page.get_attribute("#rc-track", "data-track") == "parallel_approval"
    assert "并联限时审批" in page.text_content("#rc-track")
    assert "§四(一)2(2)" in page.text_content("#rc-reasons")
    assert "区住建局" in page.text_content("#rc-bureaus")
    rows = page.locator("#rc-conflicts tbody tr")
    assert rows.count() == 12
    assert "way/4243036" in page.text_content("#rc-conflicts")

    # each conflict is highlighted on the map: its zone is a path in the overlay pane
    paths = page.locator(".leaflet-overlay-pane path")
    assert paths.count() >= 12 + 2  # conflicts, route, coverage outline
    rows.nth(1).click()
    assert "rc-selected" in rows.nth(1).get_attribute("class")
    assert page.locator(".leaflet-popup-content").count() == 1

    assert page.outside == [] and page.errors == []


def test_draw_a_line_with_the_draw_tool_and_check_it(page):
    # click the example route's first and last positions on the map, then finish
    page.evaluate(
        "route => window.routecheck.map.fitBounds(L.geoJSON(route).getBounds(),"
        " {maxZoom: 18, animate: false})",
        EXAMPLE,
    )
    coordinates = EXAMPLE["geometry"]["coordinates"]
    box = page.locator("#" + page.evaluate("window.routecheck.map.getContainer().id"))
    origin = box.bounding_box()
    page.click(".leaflet-draw-draw-polyline")
    for lon, lat in (coordinates[0], coordinates[-1]):
        x, y = page.evaluate(
            "([lat, lon]) => { const p = window.routecheck.map.latLngToContainerPoint([lat, lon]);"
            " return [p.x, p.y]; }",
            [lat, lon],
        )
        page.mouse.click(origin["x"] + x, origin["y"] + y)
        page.wait_for_timeout(100)
    page.click(".leaflet-draw-actions a[title='Finish drawing']")
    page.wait_for_function("window.routecheck.route() !== null")
    drawn = page.evaluate("window.routecheck.route()")
    assert drawn["type"] == "LineString" and len(drawn["coordinates"]) == 2
    for (lon, lat), (drawn_lon, drawn_lat) in zip(
        (coordinates[0], coordinates[-1]), drawn["coordinates"], strict=True
    ):
        assert abs(lon - drawn_lon) < 1e-5 and abs(lat - drawn_lat) < 1e-5  # about a metre
    page.click("#rc-submit")

    page.wait_for_selector("#rc-result:not([hidden])")
    assert page.get_attribute("#rc-track", "data-track") == "parallel_approval"
    assert "Fabianinkatu" in page.text_content("#rc-conflicts")
    assert page.outside == [] and page.errors == []


def test_problems_are_shown_to_the_applicant(page):
    outside = {
        "type": "Feature",
        "properties": {},
        "geometry": {"type": "LineString", "coordinates": [[24.0, 60.0], [24.001, 60.0]]},
    }
    page.evaluate("route => window.routecheck.setRoute(route)", outside)
    page.click("#rc-submit")
    page.wait_for_selector("#rc-status.rc-error")
    assert "coverage" in page.text_content("#rc-status")
    assert page.is_hidden("#rc-result")


def test_text_from_layers_is_shown_as_text_not_markup(page, live_server):
    # a conflict whose name and id are markup, as a hostile layer could carry
    url, _ = live_server
    hostile = '<img src=x onerror="window.pwned=1">`${window.pwned=2}`</script>'
    answer = page.evaluate(
        "async ([url, route]) => (await fetch(url + '/v1/conflicts', {method: 'POST',"
        " headers: {'Content-Type': 'application/json'}, body: JSON.stringify(route)})).json()",
        [url, EXAMPLE],
    )
    for feature in answer["features"]:
        feature["properties"]["name"] = hostile
        feature["properties"]["feature_id"] = hostile
    page.route(
        "**/v1/conflicts",
        lambda route: route.fulfill(
            status=200, content_type="application/geo+json", body=json.dumps(answer)
        ),
    )
    page.evaluate("route => window.routecheck.setRoute(route)", EXAMPLE)
    page.click("#rc-submit")
    page.wait_for_selector("#rc-result:not([hidden])")
    page.locator("#rc-conflicts tbody tr").first.click()

    assert hostile in page.text_content("#rc-conflicts")
    assert hostile in page.text_content(".leaflet-popup-content")
    assert page.locator("#rc-panel img, .leaflet-popup-content img").count() == 0
    assert page.evaluate("window.pwned") is None


def test_openapi_page_works_offline_and_its_example_runs(browser, live_server):
    url, _ = live_server
    page = browser.new_page()
    outside = []
    page.route(
        "**/*",
        lambda route: (
            route.continue_()
            if urlsplit(route.request.url).hostname == "127.0.0.1"
            else (outside.append(route.request.url), route.abort())
        ),
    )
    page.goto(f"{url}/docs")
    operation = page.locator("#operations-intake-classify_v1_classify_post")
    operation.locator(".opblock-summary").click()
    operation.locator("button.try-out__btn").click()
    operation.locator("button.execute").click()
    status = operation.locator(".live-responses-table tbody .response-col_status").first
    status.wait_for()
    assert status.text_content().strip().startswith("200")
    assert "parallel_approval" in operation.locator(".live-responses-table").text_content()
    assert outside == []
    page.close()
