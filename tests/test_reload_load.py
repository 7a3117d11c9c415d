"""Hot reload under load: the real server answers every request while it is reloaded.

Client threads send classify requests to `routecheck serve` on loopback while another
thread reloads it back and forth between two district folders whose rules differ.
Every request must succeed and name a version that was live at some moment of that
request. The run is bounded in requests and in time; it asserts what was answered,
never how fast.
"""

from __future__ import annotations

import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx

from api import models

EXAMPLE = models.example_route()
KEY = "load-test-admin-key-7d1e9b2c"
RELOADS = 6
CLIENTS = 6
#: the load stops once the reloads are done and this many requests were answered ...
MIN_REQUESTS = 200
#: ... and in any case at this many requests or this many seconds
MAX_REQUESTS = 1500
MAX_SECONDS = 240
TIMEOUT = httpx.Timeout(120)


@dataclass(frozen=True)
class Answer:
    started: float
    ended: float
    status: int
    version: str | None
    header: str | None
    rules_version: str | None
    error: str | None = None


def test_classify_under_load_while_reloading_between_two_districts(
    spawn_server, two_districts, tmp_path
):
    first, second = two_districts
    database = f"sqlite:///{tmp_path / 'records.sqlite'}"
    env = {"ROUTECHECK_ADMIN_KEY": KEY, "ROUTECHECK_DATABASE_URL": database}
    url, log_path = spawn_server("--district", str(first), env=env)
    initial = httpx.get(f"{url}/healthz", timeout=TIMEOUT).json()["version"]

    # versions and the times they may have been live: (version, from, until)
    live: list[list] = [[initial, -math.inf, math.inf]]
    reloads_done = threading.Event()
    reload_errors: list[str] = []
    deadline = time.monotonic() + MAX_SECONDS

    def reload_back_and_forth() -> None:
        with httpx.Client(timeout=TIMEOUT, headers={"Authorization": f"Bearer {KEY}"}) as admin:
            for i in range(RELOADS):
                time.sleep(0.3)
                target = second if i % 2 == 0 else first
                started = time.monotonic()
                try:
                    response = admin.post(f"{url}/admin/reload", json={"district": str(target)})
                except httpx.HTTPError as exc:
                    reload_errors.append(repr(exc))
                    return
                ended = time.monotonic()
                if response.status_code != 200:
                    reload_errors.append(response.text)
                    return
                # the old version was live until some moment of this call at the latest,
                # the new one from some moment of it on
                live[-1][2] = ended
                live.append([response.json()["version"], started, math.inf])
        reloads_done.set()

    count = 0
    lock = threading.Lock()

    def next_request() -> bool:
        nonlocal count
        with lock:
            if reload_errors or count >= MAX_REQUESTS or time.monotonic() > deadline:
                return False
            if reloads_done.is_set() and count >= MIN_REQUESTS:
                return False
            count += 1
            return True

    def client_loop(worker: int) -> list[Answer]:
        answers = []
        with httpx.Client(timeout=TIMEOUT) as client:
            i = 0
            while next_request():
                # half the requests repeat one submission time: the same decision id,
                # saved by concurrent requests
                params = {"submitted": "2026-09-30T10:00:00+08:00"} if i % 2 else {}
                answers.append(classify(client, url, params))
                i += 1
        return answers

    reloader = threading.Thread(target=reload_back_and_forth)
    reloader.start()
    with ThreadPoolExecutor(CLIENTS) as pool:
        answers = [a for batch in pool.map(client_loop, range(CLIENTS)) for a in batch]
    reloader.join(timeout=MAX_SECONDS)

    assert reload_errors == []
    assert reloads_done.is_set(), "the reloads did not all finish in time"
    assert len(answers) >= MIN_REQUESTS
    failed = [a for a in answers if a.status != 200 or a.error]
    assert failed == []

    rules_of = {live[0][0]: "2022.1-a"}
    for i, (version, _, _) in enumerate(live[1:]):
        rules_of[version] = "2022.1-b" if i % 2 == 0 else "2022.1-a"
    assert len(rules_of) == 2  # two districts, two versions, each reloaded several times
    for answer in answers:
        assert answer.version == answer.header, answer
        assert answer.rules_version == rules_of[answer.version], answer
        assert any(
            version == answer.version and start <= answer.ended and answer.started <= until
            for version, start, until in live
        ), (answer, live)
    assert {a.version for a in answers} == set(rules_of)  # both were answered on

    logged = log_path.read_text()
    assert logged.count("reloaded district helsinki-sample") == RELOADS
    assert KEY not in logged


def classify(client: httpx.Client, url: str, params: dict[str, str]) -> Answer:
    started = time.monotonic()
    try:
        response = client.post(f"{url}/v1/classify", json=EXAMPLE, params=params)
    except httpx.HTTPError as exc:
        return Answer(started, time.monotonic(), 0, None, None, None, repr(exc))
    ended = time.monotonic()
    body = response.json() if response.status_code == 200 else {}
    return Answer(
        started,
        ended,
        response.status_code,
        body.get("version"),
        response.headers.get("Routecheck-Version"),
        body.get("rules", {}).get("version"),
        None if response.status_code == 200 else response.text[:300],
    )
