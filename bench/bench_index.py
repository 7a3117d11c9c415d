"""Benchmark: shapely's STRtree against rtree (libspatialindex) on the city's layers.

Run by hand on a synthetic city written by `routecheck synth` (with routes.geojson):

    .venv/bin/python bench/bench_index.py --city /tmp/routecheck-city --routes 5000

For the tree and road layers it measures building each index, the memory it adds,
finding every feature within reach of each route (STRtree: one array query, and one
query per route; rtree: a bounding-box query per route, then the exact distance test
that STRtree's `dwithin` predicate makes inside GEOS), checks both give the same
pairs, and times what an in-place edit costs: 1,000 inserts and 1,000 deletes in
rtree against rebuilding the STRtree.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import shapely
from pyproj import Transformer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from layers.sources.file import FileSource  # noqa: E402


def rss_mb() -> float:
    with open(f"/proc/{os.getpid()}/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def timed(function):
    started = time.perf_counter()
    result = function()
    return result, time.perf_counter() - started


def routes_of(city: Path, count: int, crs: str) -> np.ndarray:
    features = json.loads((city / "routes.geojson").read_text())["features"][:count]
    forward = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    lines = []
    for feature in features:
        xy = np.asarray(feature["geometry"]["coordinates"])
        lines.append(shapely.linestrings(np.column_stack(forward.transform(xy[:, 0], xy[:, 1]))))
    return np.asarray(lines, dtype=object)


def bench_layer(name: str, geometries: np.ndarray, routes: np.ndarray, reach: float) -> dict:
    from rtree import index

    figures: dict = {"features": len(geometries), "reach_m": reach}

    # build
    before = rss_mb()
    strtree, figures["strtree_build_s"] = timed(lambda: shapely.STRtree(geometries))
    figures["strtree_mb"] = rss_mb() - before
    bounds = shapely.bounds(geometries)
    before = rss_mb()
    # rtree's fastest build: bulk loading from arrays of ids, lower and upper corners
    ids = np.arange(len(bounds), dtype=np.int64)
    corners = (ids, np.ascontiguousarray(bounds[:, :2]), np.ascontiguousarray(bounds[:, 2:]))
    rtree, figures["rtree_build_s"] = timed(lambda: index.Index(corners))
    figures["rtree_mb"] = rss_mb() - before
    stream = ((i, tuple(b), None) for i, b in enumerate(bounds[:100_000]))
    _, stream_s = timed(lambda: index.Index(stream))
    figures["rtree_stream_build_s_per_100k"] = stream_s

    # query: every (route, feature) pair within reach
    (pairs, figures["strtree_array_query_s"]) = timed(
        lambda: strtree.query(routes, predicate="dwithin", distance=reach)
    )
    _, figures["strtree_loop_query_s"] = timed(
        lambda: [strtree.query(r, predicate="dwithin", distance=reach) for r in routes]
    )
    route_bounds = shapely.bounds(routes) + np.array([-reach, -reach, reach, reach])

    def rtree_pairs():
        found = []
        for k, (route, box) in enumerate(zip(routes, route_bounds, strict=True)):
            candidates = np.fromiter(rtree.intersection(tuple(box)), dtype=np.intp)
            near = candidates[shapely.dwithin(geometries[candidates], route, reach)]
            found.extend((k, int(i)) for i in near)
        return found

    found, figures["rtree_loop_query_s"] = timed(rtree_pairs)
    strtree_set = set(zip(pairs[0].tolist(), pairs[1].tolist(), strict=True))
    figures["pairs"] = len(strtree_set)
    figures["same_pairs"] = strtree_set == set(found)

    # edits: rtree changes in place, an STRtree is rebuilt
    extra = shapely.points(np.column_stack([bounds[:1000, 0] + 0.5, bounds[:1000, 1] + 0.5]))

    def rtree_edits():
        for i, point in enumerate(extra):
            rtree.insert(len(geometries) + i, point.bounds)
        for i in range(1000):
            rtree.delete(i, tuple(bounds[i]))

    _, figures["rtree_2000_edits_s"] = timed(rtree_edits)
    _, figures["strtree_rebuild_s"] = timed(
        lambda: shapely.STRtree(np.concatenate([geometries[1000:], extra]))
    )
    print(name, json.dumps(figures), flush=True)
    return figures


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--city", type=Path, default=Path("/tmp/routecheck-city"))
    parser.add_argument("--routes", type=int, default=5_000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    source = FileSource(args.city / "city.gpkg")
    crs = source.layer_crs("trees")
    routes = routes_of(args.city, args.routes, crs)
    results = {"routes": len(routes)}
    trees = source.read_layer("trees").geometry.values
    # the widest tree zone: half a 6 m crown plus the ancient-tree margin, plus half the
    # work width and the tolerance, as screening queries it
    results["trees"] = bench_layer("trees", np.asarray(trees), routes, 3.0 + 5.0 + 0.51)
    del trees
    roads = source.read_layer("roads").geometry.values
    results["roads"] = bench_layer("roads", np.asarray(roads), routes, 0.51)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
