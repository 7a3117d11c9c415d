"""Benchmark: a bounded load run against `routecheck serve` on loopback.

Run by hand:

    .venv/bin/python bench/bench_http.py --city /tmp/routecheck-city --requests 640

Starts the server on a free 127.0.0.1 port with the given district (decision records in
a throwaway SQLite file), waits until /healthz answers, sends at most `--requests`
POST /v1/classify requests (routes of the city's routes.geojson, in WGS84) from
`--clients` concurrent clients for at most `--max-seconds`, prints throughput and
latency percentiles, and stops the server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(city: Path, port: int, folder: Path) -> subprocess.Popen:
    command = [str(Path(sys.executable).parent / "routecheck"), "serve", "--port", str(port),
               "--district", str(city)]  # fmt: skip
    env = {**os.environ, "ROUTECHECK_TILES_URL": "",
           "ROUTECHECK_DATABASE_URL": f"sqlite:///{folder / 'decisions.sqlite'}"}  # fmt: skip
    log = open(folder / "server.log", "w")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)


def wait_ready(url: str, server: subprocess.Popen, timeout_s: float) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout_s:
        if server.poll() is not None:
            raise RuntimeError("the server exited before it was ready")
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return time.perf_counter() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the server was not ready within {timeout_s} s")


async def load(url: str, bodies: list[bytes], clients: int, max_seconds: float) -> dict:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    deadline = time.perf_counter() + max_seconds

    async def client(session: httpx.AsyncClient) -> None:
        while not queue.empty() and time.perf_counter() < deadline:
            body = queue.get_nowait()
            started = time.perf_counter()
            response = await session.post(
                f"{url}/v1/classify",
                content=body,
                params={"submitted": "2026-09-01T10:00:00+08:00"},
                headers={"content-type": "application/geo+json"},
            )
            latencies.append(time.perf_counter() - started)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(timeout=60, limits=limits) as session:
        started = time.perf_counter()
        await asyncio.gather(*(client(session) for _ in range(clients)))
        elapsed = time.perf_counter() - started
    return {
        "requests": len(latencies),
        "seconds": elapsed,
        "requests_per_s": len(latencies) / elapsed,
        "p50_ms": statistics.median(latencies) * 1e3,
        "p95_ms": float(np.percentile(latencies, 95)) * 1e3,
        "p99_ms": float(np.percentile(latencies, 99)) * 1e3,
        "statuses": statuses,
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--city", type=Path, default=Path("/tmp/routecheck-city"))
    parser.add_argument("--requests", type=int, default=640)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--max-seconds", type=float, default=120.0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    features = json.loads((args.city / "routes.geojson").read_text())["features"]
    bodies = [json.dumps(f).encode() for f in features[: args.requests]]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as folder:
        server = start_server(args.city, port, Path(folder))
        try:
            ready_s = wait_ready(url, server, timeout_s=300)
            figures = {"clients": args.clients, "ready_s": ready_s}
            figures.update(asyncio.run(load(url, bodies, args.clients, args.max_seconds)))
        finally:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return figures


if __name__ == "__main__":
    main()
