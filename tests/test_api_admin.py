"""Decision records over HTTP, the admin key, hot reload and re-screening (in-process app)."""

from __future__ import annotations

import copy
import logging
import time

import pytest
from fastapi.testclient import TestClient

from api import models
from api.app import create_app
from api.settings import Settings

EXAMPLE = models.example_route()
KEY = "test-admin-key-5b0f3c9a1d2e"
ADMIN = {"Authorization": f"Bearer {KEY}"}
SUBMITTED = "2026-09-30T10:00:00+08:00"


@pytest.fixture
def districts(two_districts):
    return two_districts


@pytest.fixture
def client(districts, tmp_path, monkeypatch):
    # a database of this test's own, so listings hold only what the test made
    monkeypatch.setenv("ROUTECHECK_DATABASE_URL", f"sqlite:///{tmp_path / 'records.sqlite'}")
    app = create_app(districts[0], Settings(admin_key=KEY, tiles_url=""))
    with TestClient(app) as client:
        yield client


def problem(response, status, code):
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == code and body["status"] == status
    return body


def classify(client, route=EXAMPLE, submitted=SUBMITTED):
    response = client.post("/v1/classify", json=route, params={"submitted": submitted})
    assert response.status_code == 200, response.text
    return response.json()


# -- decision records


def test_a_decision_is_served_under_its_id_and_an_unknown_id_is_404(client):
    decision = classify(client)
    response = client.get(f"/v1/decisions/{decision['decision_id']}")
    assert response.status_code == 200
    record = models.DecisionRecord.model_validate(response.json())
    assert record.id == decision["decision_id"]
    assert record.decision["track"] == decision["track"]
    assert record.inputs["submitted"] == SUBMITTED
    assert record.basis["rules"]["version"] == "2022.1-a"

    body = problem(client.get("/v1/decisions/d-0000"), 404, "DECISION_NOT_FOUND")
    assert "d-0000" in body["detail"]


def test_the_listing_pages_through_decisions_and_picks_the_stale_ones(client):
    # decided in 2020 (valid 180 days: long stale) and in 2026 (valid until 2027)
    old = [classify(client, shifted(i), "2020-03-02T10:00:00+08:00") for i in range(3)]
    new = classify(client, submitted=SUBMITTED)

    # the listing leads to every applicant's inputs: admins only
    problem(client.get("/v1/decisions"), 401, "UNAUTHORIZED")
    listed = client.get("/v1/decisions", params={"limit": 2}, headers=ADMIN).json()
    assert [d["id"] for d in listed["decisions"]] == [d["decision_id"] for d in old[:2]]
    rest = client.get(listed["next"], headers=ADMIN).json()
    assert [d["id"] for d in rest["decisions"]] == [old[2]["decision_id"], new["decision_id"]]
    assert "next" not in rest

    stale = models.DecisionList.model_validate(
        client.get("/v1/decisions?stale=true", headers=ADMIN).json()
    )
    assert [d.id for d in stale.decisions] == [d["decision_id"] for d in old]
    assert all(d.valid_until < stale.stale_on for d in stale.decisions)
    assert client.get(stale.decisions[0].href).json()["id"] == old[0]["decision_id"]

    too_many = client.get("/v1/decisions", params={"limit": 5000}, headers=ADMIN)
    problem(too_many, 400, "INVALID_PARAMETER")
    # found by schemathesis: an offset past the database's integers was a 500
    too_far = client.get("/v1/decisions", params={"offset": 2**70}, headers=ADMIN)
    problem(too_far, 400, "INVALID_PARAMETER")


def shifted(i: int) -> dict:
    """The example route moved by i × 10 cm: another route, another decision id."""
    route = copy.deepcopy(EXAMPLE)
    route["geometry"]["coordinates"] = [
        [lon + i * 2e-6, lat] for lon, lat in route["geometry"]["coordinates"]
    ]
    return route


# -- the admin key


def test_admin_calls_need_the_key(client):
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {KEY}"}):
        response = client.post("/admin/reload", headers=headers)
        problem(response, 401, "UNAUTHORIZED")
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        problem(client.post("/v1/rescreen", headers=headers), 401, "UNAUTHORIZED")
    assert client.post("/admin/reload", headers=ADMIN).status_code == 200


@pytest.mark.parametrize("key", [None, ""])
def test_admin_calls_are_switched_off_without_a_configured_key(districts, key):
    app = create_app(districts[0], Settings(admin_key=key, tiles_url=""))
    with TestClient(app) as client:
        for headers in ({}, ADMIN, {"Authorization": "Bearer "}):
            body = problem(client.post("/admin/reload", headers=headers), 403, "ADMIN_DISABLED")
            assert "ROUTECHECK_ADMIN_KEY" in body["detail"]
            problem(client.post("/v1/rescreen", headers=headers), 403, "ADMIN_DISABLED")


def test_the_key_is_never_logged(client, caplog, districts):
    with caplog.at_level(logging.DEBUG):
        client.post("/admin/reload", headers=ADMIN, json={"district": str(districts[1])})
        client.post("/admin/reload", headers={"Authorization": f"Bearer {KEY}x"})
        client.post("/admin/reload", headers=ADMIN, json={"district": "/nonexistent"})
        client.post("/v1/rescreen", headers=ADMIN)
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "reloaded district" in logged and "refused" in logged  # the log was captured
    assert KEY not in logged
    assert KEY not in repr(client.app.state.service.settings)


# -- hot reload


def test_a_reload_serves_the_new_rules_and_every_answer_names_its_version(client, districts):
    before = classify(client)
    assert before["rules"]["version"] == "2022.1-a"
    assert before["version"].startswith("2022.1-a+")

    response = client.post("/admin/reload", headers=ADMIN, json={"district": str(districts[1])})
    reloaded = models.Reloaded.model_validate(response.json())
    assert reloaded.previous == before["version"] and reloaded.changed
    # the reload call itself started on the old version
    assert response.headers["Routecheck-Version"] == before["version"]

    after = client.post("/v1/classify", json=EXAMPLE, params={"submitted": SUBMITTED})
    assert after.json()["version"] == reloaded.version == after.headers["Routecheck-Version"]
    assert after.json()["rules"]["version"] == "2022.1-b"
    assert after.json()["decision_id"] != before["decision_id"]
    rules = {r["rule"] for r in after.json()["reasons"]}
    assert "bar.main_road_or_expressway" in {r["rule"] for r in before["reasons"]} - rules
    for path in ("/healthz", "/v1/districts", "/collections"):
        assert client.get(path).headers["Routecheck-Version"] == reloaded.version
    assert client.get("/healthz").json()["version"] == reloaded.version

    # reloading the same files keeps the version
    again = client.post("/admin/reload", headers=ADMIN).json()
    assert again["version"] == reloaded.version and not again["changed"]


BROKEN = {
    "rules that are not TOML": (dict(rules_text="[identity\n"), "INVALID_RULES"),
    "rules that fail validation": (dict(rules_text='[identity]\nversion = ""\n'), "INVALID_RULES"),
    "a missing layer store": (dict(store="/nonexistent/store.gpkg"), "INVALID_DISTRICT"),
    "a CRS its layers are not in": (dict(crs="EPSG:3857"), "INVALID_DISTRICT"),
}


@pytest.mark.parametrize("case", BROKEN, ids=list(BROKEN))
def test_a_broken_update_is_refused_whole_and_the_old_version_keeps_serving(
    client, tmp_path, make_district, case
):
    options, cause = BROKEN[case]
    serving = client.get("/healthz").json()["version"]
    broken = make_district(tmp_path / "broken", **options)

    response = client.post("/admin/reload", headers=ADMIN, json={"district": str(broken)})
    body = problem(response, 409, "RELOAD_REFUSED")
    assert f"[{cause}]" in body["detail"] and serving in body["detail"]
    assert client.get("/healthz").json()["version"] == serving
    assert classify(client)["version"] == serving

    # and a later reload of the folder that serves still works
    assert client.post("/admin/reload", headers=ADMIN).json()["version"] == serving


def test_a_reload_request_names_a_folder_or_nothing(client):
    problem(client.post("/admin/reload", headers=ADMIN, json={"folder": "x"}), 400,
            "INVALID_PARAMETER")  # fmt: skip
    missing = client.post("/admin/reload", headers=ADMIN, json={"district": "/nonexistent"})
    assert "district.toml" in problem(missing, 409, "RELOAD_REFUSED")["detail"]


def test_the_file_watch_reloads_a_changed_rule_file_and_skips_a_broken_one(
    districts, tmp_path, monkeypatch
):
    monkeypatch.setenv("ROUTECHECK_DATABASE_URL", f"sqlite:///{tmp_path / 'records.sqlite'}")
    folder = districts[0]
    settings = Settings(tiles_url="", watch=True, watch_interval_s=0.1)
    with TestClient(create_app(folder, settings)) as client:
        first = client.get("/healthz").json()["version"]
        rules = folder / "rules.toml"
        text = rules.read_text(encoding="utf-8")

        rules.write_text("[identity\n", encoding="utf-8")  # broken: refused, still serving
        time.sleep(1.0)
        assert client.get("/healthz").json()["version"] == first

        rules.write_text(text.replace('"2022.1-a"', '"2022.1-watched"'), encoding="utf-8")
        assert wait_for(lambda: client.get("/healthz").json()["version"] != first, 30)
        assert client.get("/healthz").json()["version"].startswith("2022.1-watched+")


def wait_for(condition, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


# -- re-screening


def test_rescreening_reports_the_decisions_new_rules_would_change(client, districts):
    along_main_road = classify(client)
    client.post("/admin/reload", headers=ADMIN, json={"district": str(districts[1])})

    response = client.post("/v1/rescreen", headers=ADMIN)
    body = models.Rescreen.model_validate(response.json())
    assert body.checked == 1 and body.changed == 1 and body.failed == []
    (change,) = body.decisions
    assert change.id == along_main_road["decision_id"] and change.changed
    assert any("bar.main_road_or_expressway" in r for r in change.reasons.removed)
    assert "rules 2022.1-a → 2022.1-b" in change.basis["changed"]

    # back on the rules it was made on, nothing would change (listed only with all=true)
    client.post("/admin/reload", headers=ADMIN, json={"district": str(districts[0])})
    assert client.post("/v1/rescreen", headers=ADMIN).json()["decisions"] == []
    everything = client.post("/v1/rescreen", headers=ADMIN, params={"all": "true"}).json()
    assert [c["changed"] for c in everything["decisions"]] == [False]


def test_a_request_in_flight_finishes_on_the_version_it_started_on(client, districts):
    # drive the app by hand: the request has started (its body is being awaited) when
    # the reload swaps the service; it must still answer on the old one. An upload, as
    # its form is read before the handler's dependencies (the service) are resolved.
    import asyncio
    import json

    import httpx

    app = client.app
    old = app.state.service.version
    upload = httpx.Request(
        "POST",
        "http://test/v1/classify/upload",
        files={"file": ("route.geojson", json.dumps(EXAMPLE).encode(), "application/geo+json")},
    )
    body = upload.read()
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": "/v1/classify/upload", "raw_path": b"/v1/classify/upload",
        "query_string": b"", "root_path": "", "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
        "headers": [(k.lower().encode(), v.encode()) for k, v in upload.headers.items()],
    }  # fmt: skip

    async def run() -> tuple[dict, dict]:
        waiting, resume = asyncio.Event(), asyncio.Event()
        messages = []

        async def receive():
            waiting.set()
            await resume.wait()
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message):
            messages.append(message)

        request = asyncio.create_task(app(dict(scope), receive, send))
        await waiting.wait()
        await asyncio.to_thread(app.state.reloader.reload, districts[1])
        assert app.state.service.version != old
        resume.set()
        await request
        start, *chunks = messages
        return dict(start["headers"]), json.loads(b"".join(m.get("body", b"") for m in chunks))

    headers, answer = asyncio.run(run())
    assert headers[b"routecheck-version"].decode() == answer["version"] == old
    assert answer["rules"]["version"] == "2022.1-a"
    assert classify(client)["rules"]["version"] == "2022.1-b"
