"""The real server: `routecheck serve` (uvicorn) on a loopback port, over real HTTP."""

from __future__ import annotations

import http.client
import json
import re
from urllib.parse import urlsplit

import httpx
from typer.testing import CliRunner

from api import models
from api.cli import app as cli

EXAMPLE = models.example_route()


def test_the_running_server_classifies_and_logs_one_line(live_server):
    url, log_path = live_server
    response = httpx.post(f"{url}/v1/classify", json=EXAMPLE, timeout=30)
    assert response.status_code == 200
    decision = models.Decision.model_validate(response.json())
    assert decision.track.code == "parallel_approval"

    lines = [line for line in log_path.read_text().splitlines() if decision.decision_id in line]
    assert len(lines) == 1
    assert re.search(
        r"POST /v1/classify 200 [\d.]+ ms route_m=86\.0 conflicts=\d+ track=parallel_approval",
        lines[0],
    ), lines[0]


def test_the_server_survives_bad_input(live_server):
    url, _ = live_server
    bad = [
        (b"{", "application/json"),
        (b"\x00\xff" * 1000, "application/json"),
        (b'{"type": "Feature", "geometry": {"type": "LineString", "coordinates": [[1e999, 1]]}}',
         "application/json"),
        (b"[" * 50_000, "application/json"),
        (json.dumps(EXAMPLE).encode(), "text/csv"),
    ]  # fmt: skip
    for body, content_type in bad:
        response = httpx.post(
            f"{url}/v1/classify", content=body, headers={"Content-Type": content_type}
        )
        assert 400 <= response.status_code < 500, (body[:40], response.text)
        assert response.headers["content-type"] == "application/problem+json"

    # a body that claims more than the limit is refused before it is sent
    host, port = urlsplit(url).hostname, urlsplit(url).port
    connection = http.client.HTTPConnection(host, port, timeout=10)
    connection.putrequest("POST", "/v1/classify")
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Content-Length", str(50_000_000))
    connection.endheaders()
    assert connection.getresponse().status == 413
    connection.close()

    assert httpx.get(f"{url}/healthz").json()["status"] == "ok"


def test_the_server_listens_on_loopback_only(live_server):
    # read the kernel's socket table rather than probe other addresses
    url, log_path = live_server
    port = urlsplit(url).port
    listening = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as lines:
            for line in list(lines)[1:]:
                local, state = line.split()[1], line.split()[3]
                address, local_port = local.split(":")
                if state == "0A" and int(local_port, 16) == port:  # 0A: LISTEN
                    listening.add(address)
    assert listening == {"0100007F"}  # 127.0.0.1, little-endian hex
    assert f"Uvicorn running on http://127.0.0.1:{port}" in log_path.read_text()


def test_serve_refuses_a_district_that_does_not_load(tmp_path):
    result = CliRunner().invoke(cli, ["serve", "--district", str(tmp_path)])
    assert result.exit_code == 2
    assert "INVALID_DISTRICT" in result.output and "district.toml" in result.output
