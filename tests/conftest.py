"""Shared fixtures: the default rules and the bundled sample district."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_RULES = ROOT / "layers" / "rules" / "default.toml"


@pytest.fixture(autouse=True, scope="session")
def decision_database(tmp_path_factory):
    """Keep every decision record the tests make in a throwaway SQLite database."""
    import os

    url = f"sqlite:///{tmp_path_factory.mktemp('records') / 'decisions.sqlite'}"
    previous = os.environ.get("ROUTECHECK_DATABASE_URL")
    os.environ["ROUTECHECK_DATABASE_URL"] = url
    yield url
    if previous is None:
        os.environ.pop("ROUTECHECK_DATABASE_URL", None)
    else:
        os.environ["ROUTECHECK_DATABASE_URL"] = previous


@pytest.fixture(scope="session")
def default_rules():
    from layers.district import load_rules

    return load_rules(DEFAULT_RULES)


@pytest.fixture(scope="session")
def district():
    from layers.district import load_district

    return load_district()


@pytest.fixture(scope="session")
def live_server(tmp_path_factory):
    """`routecheck serve` running for real on a free loopback port, with no basemap.

    Yields (base URL, path of the server's log). The server is stopped at the end.
    """
    import os
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log_path = tmp_path_factory.mktemp("server") / "server.log"
    command = [str(Path(sys.executable).parent / "routecheck"), "serve", "--port", str(port)]
    env = {**os.environ, "ROUTECHECK_TILES_URL": ""}
    with open(log_path, "w") as log:
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"server did not start: {log_path.read_text()}") from None
                time.sleep(0.2)
        yield url, log_path
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
