"""Benchmark: a bounded load run against `routecheck serve` on loopback.

Run by hand:

    .venv/bin/python bench/bench_http.py --city /tmp/routecheck-city --requests 640

Starts the server on a free 127.0.0.1 port with the given district (decision records in
a throwaway SQLite file), waits until /healthz answers, sends at most `--requests`
POST /v1/classify requests (routes of the city's routes.geojson, in WGS84) from
`--clients` concurrent clients for at most `--max-seconds`, prints throughput and
latency percentiles, and stops the server.

The clients are wrk's (Debian's `wrk`: C, two threads, a few percent of a core) when it
is installed, else Python's httpx, which on a 2-core machine takes most of a core of
its own and so holds the server back: the JSON says which (`client`). A warm-up of
`--warmup` requests runs first, outside the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import shutil
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


#: wrk's script: POST the bodies in turn, stop each thread after its share of requests,
#: count the statuses, and print the figures as one JSON line.
WRK_SCRIPT = """
local bodies = {}
for line in io.lines("%(bodies)s") do bodies[#bodies + 1] = line end
local threads = {}
function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end
function init(args)
  limit = tonumber(args[1]); sent = 0; answered = 0; statuses = {}
end
function request()
  sent = sent + 1
  local body = bodies[(sent * %(threads)d + id) %% #bodies + 1]
  return wrk.format("POST", "/v1/classify?submitted=2026-09-01T10:00:00%%2B08:00",
                    {["Content-Type"] = "application/geo+json"}, body)
end
function response(status, headers, body)
  answered = answered + 1
  statuses[status] = (statuses[status] or 0) + 1
  if answered >= limit then wrk.thread:stop() end
end
function done(summary, latency, requests)
  local counts = {}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses")) do
      counts[#counts + 1] = string.format('["%%d", %%d]', status, n)
    end
  end
  io.write(string.format(
    '{"requests": %%d, "seconds": %%f, "p50_ms": %%f, "p95_ms": %%f, "p99_ms": %%f, ' ..
    '"max_ms": %%f, "socket_errors": %%d, "statuses_by_thread": [%%s]}\\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1e3,
    latency:percentile(95) / 1e3, latency:percentile(99) / 1e3, latency.max / 1e3,
    summary.errors.connect + summary.errors.read + summary.errors.write +
    summary.errors.timeout, table.concat(counts, ", ")))
end
"""


def load_wrk(url: str, bodies: list[bytes], requests: int, clients: int, seconds: float,
             folder: Path) -> dict:  # fmt: skip
    """The load run through wrk: `clients` connections for `seconds`, each of wrk's
    threads stopping after its share of `requests`.

    wrk's clock runs for the whole `seconds` even when its threads stop early, so a run
    that reached the cap (`capped` in the figures) understates the throughput: give it
    more requests or fewer seconds.
    """
    threads = 2
    (folder / "bodies.txt").write_bytes(b"\n".join(bodies) + b"\n")
    script = folder / "classify.lua"
    script.write_text(WRK_SCRIPT % {"bodies": folder / "bodies.txt", "threads": threads})
    duration = max(1, math.ceil(seconds))  # wrk counts whole seconds
    command = ["wrk", f"-t{threads}", f"-c{clients}", f"-d{duration}s", "--timeout", "30s",
               "-s", str(script), url, "--", str(-(-requests // threads))]  # fmt: skip
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    figures = json.loads(out.strip().splitlines()[-1])
    statuses: dict[str, int] = {}
    for status, count in figures.pop("statuses_by_thread"):
        statuses[status] = statuses.get(status, 0) + count
    figures["statuses"] = statuses
    figures["requests_per_s"] = figures["requests"] / figures["seconds"]
    figures["capped"] = figures["requests"] >= requests
    return figures


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--city", type=Path, default=Path("/tmp/routecheck-city"))
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--max-seconds", type=float, default=15.0)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--client", choices=("wrk", "httpx"),
                        default="wrk" if shutil.which("wrk") else "httpx")  # fmt: skip
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    features = json.loads((args.city / "routes.geojson").read_text())["features"]
    bodies = [json.dumps(f, ensure_ascii=False).encode() for f in features[: args.requests]]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as folder:
        server = start_server(args.city, port, Path(folder))
        try:
            ready_s = wait_ready(url, server, timeout_s=300)
            figures = {"client": args.client, "clients": args.clients, "ready_s": ready_s}
            if args.client == "wrk":
                load_wrk(url, bodies, args.warmup, args.clients, 3, Path(folder))
                figures.update(load_wrk(url, bodies, args.requests, args.clients,
                                        args.max_seconds, Path(folder)))  # fmt: skip
            else:
                asyncio.run(load(url, bodies[: args.warmup], args.clients, args.max_seconds))
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
