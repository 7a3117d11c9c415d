"""The drawing page in a real headless browser (Debian's chromium, driven by playwright).

The browser may reach the loopback server only: every other request is refused and
recorded, so a page that needs the internet fails here. Every page is used under the
content security policy the server sends, and each violation it reports (in the
console or as a `securitypolicyviolation` event) is recorded, so a page that relies on
an inline handler, an un-nonced script or eval fails here too. (Playwright itself
evaluates a `wait_for_function` expression with eval, which the policy refuses: the
predicates are written as functions.)
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

#: Collects the page's CSP violations before any of its own scripts run.
RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", function (event) {
  window.__csp.push(event.violatedDirective + " " + event.blockedURI);
});
"""


def watch(page):
    """Record on `page` what it sent outside, its errors and its CSP violations."""
    page.outside, page.errors, page.console_csp = [], [], []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    page.on(
        "console",
        lambda message: (
            page.console_csp.append(message.text)
            if "Content Security Policy" in message.text
            else None
        ),
    )
    page.add_init_script(RECORD_VIOLATIONS)

    def only_loopback(route):
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            page.outside.append(route.request.url)
            route.abort()

    page.route("**/*", only_loopback)
    return page


def directives(response) -> dict[str, str]:
    """The response's content security policy, by directive."""
    policy = response.headers["content-security-policy"]
    return dict(part.strip().partition(" ")[::2] for part in policy.split(";"))


def violations(page) -> list[str]:
    """The CSP violations the page reported, by event and in its console."""
    return [*page.evaluate("window.__csp || []"), *page.console_csp]


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
    page = watch(context.new_page())
    response = page.goto(f"{url}/draw")
    assert "'unsafe-inline'" not in directives(response)["script-src"]
    page.wait_for_function("() => window.routecheck !== undefined")
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

    assert page.outside == [] and page.errors == [] and violations(page) == []


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
    page.wait_for_function("() => window.routecheck.route() !== null")
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
    assert page.outside == [] and page.errors == [] and violations(page) == []


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
    assert violations(page) == []


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
    page = watch(browser.new_page())
    assert "nonce-" in page.goto(f"{url}/docs").headers["content-security-policy"]
    operation = page.locator("#operations-intake-classify_v1_classify_post")
    operation.locator(".opblock-summary").click()
    operation.locator("button.try-out__btn").click()
    operation.locator("button.execute").click()
    status = operation.locator(".live-responses-table tbody .response-col_status").first
    status.wait_for()
    assert status.text_content().strip().startswith("200")
    assert "parallel_approval" in operation.locator(".live-responses-table").text_content()
    assert page.outside == [] and page.errors == [] and violations(page) == []
    page.close()


def test_the_policy_blocks_inline_event_handlers_on_the_drawing_page(page):
    # markup that reaches the page by any path: its handler must not run, and is reported
    page.evaluate(
        "document.body.insertAdjacentHTML('beforeend',"
        " '<img id=probe src=x onerror=\"window.pwned = 1\">')"
    )
    page.wait_for_function("() => window.__csp.length > 0")
    assert page.evaluate("window.pwned") is None
    assert any(v.startswith("script-src-attr") for v in page.evaluate("window.__csp"))


def test_the_map_preview_works_under_its_policy(browser, live_server):
    # the browser opens /v1/preview; the request is sent on as the POST of the route,
    # and the page is shown with the headers the server answered it with
    url, _ = live_server
    page = watch(browser.new_page())

    def post_route(route):
        answer = route.fetch(
            method="POST",
            headers={"Content-Type": "application/json"},
            post_data=json.dumps(EXAMPLE),
        )
        route.fulfill(response=answer)

    page.route(f"{url}/v1/preview", post_route)
    response = page.goto(f"{url}/v1/preview")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self' 'nonce-" in policy and "frame-ancestors 'none'" in policy
    assert response.headers["x-content-type-options"] == "nosniff"

    # the map's inline scripts ran: conflicts drawn, popups bound
    page.wait_for_selector(".leaflet-overlay-pane path")
    assert page.locator(".leaflet-overlay-pane path").count() >= 12 + 2  # conflicts, route
    page.locator(".leaflet-overlay-pane path").first.click(force=True)
    assert "Track: 并联限时审批" in page.text_content("body")
    assert page.outside == [] and page.errors == [] and violations(page) == []
    page.close()
