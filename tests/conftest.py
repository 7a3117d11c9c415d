"""Shared fixtures: the default rules and the bundled sample district."""

from __future__ import annotations

import json
from contextlib import contextmanager
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
    with serve(tmp_path_factory.mktemp("server") / "server.log") as running:
        yield running


@pytest.fixture
def spawn_server(tmp_path):
    """Start `routecheck serve` with more options and environment; stopped after the test.

    Call it as ``spawn_server("--district", path, env={...})``; it returns (URL, log path).
    """
    from contextlib import ExitStack
    from itertools import count

    numbers = count()
    with ExitStack() as stack:

        def start(*args: str, env: dict[str, str] | None = None) -> tuple[str, Path]:
            log_path = tmp_path / f"server-{next(numbers)}.log"
            return stack.enter_context(serve(log_path, *args, env=env))

        yield start


@contextmanager
def serve(log_path: Path, *args: str, env: dict[str, str] | None = None):
    """Run `routecheck serve ARGS` on a free loopback port until the block ends."""
    import os
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [str(Path(sys.executable).parent / "routecheck"), "serve", "--port", str(port)]
    environment = {**os.environ, "ROUTECHECK_TILES_URL": "", **(env or {})}
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            [*command, *args], stdout=log, stderr=subprocess.STDOUT, env=environment
        )
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


#: The bundled sample district's layer store, which the test districts share.
SAMPLE_STORE = ROOT / "layers" / "sample" / "helsinki" / "helsinki.gpkg"


def make_district(
    folder: Path,
    *,
    version: str = "2022.1",
    main_road_bars: bool = True,
    crs: str = "EPSG:3067",
    store: Path | str = SAMPLE_STORE,
    rules_text: str | None = None,
) -> Path:
    """A district folder on the sample store under a copy of the default rules.

    `version` is written into the rules' identity; without `main_road_bars` a main road
    no longer bars the lighter tracks, so a route along one gets other reasons.
    `rules_text` replaces the rule file whole (to write a broken one).
    """
    folder.mkdir(parents=True, exist_ok=True)
    rules = DEFAULT_RULES.read_text(encoding="utf-8")
    rules = rules.replace('version = "2022.1"', f'version = "{version}"', 1)
    if not main_road_bars:
        rules = rules.replace('kinds = ["main", "expressway"]', 'kinds = ["expressway"]', 1)
    (folder / "rules.toml").write_text(rules_text if rules_text is not None else rules, "utf-8")
    (folder / "district.toml").write_text(
        "[district]\n"
        'id = "helsinki-sample"\n'
        'name = "Helsinki city centre (test copy)"\n'
        f'crs = "{crs}"\n'
        f"store = {json.dumps(str(store))}\n"
        'rules = "rules.toml"\n',
        encoding="utf-8",
    )
    return folder


@pytest.fixture(name="make_district")
def make_district_fixture():
    """`make_district`, for tests to write district folders of their own."""
    return make_district


@pytest.fixture
def two_districts(tmp_path):
    """Two folders of the sample district whose rules differ in version and in a bar."""
    first = make_district(tmp_path / "a", version="2022.1-a")
    second = make_district(tmp_path / "b", version="2022.1-b", main_road_bars=False)
    return first, second
