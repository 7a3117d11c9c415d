"""Benchmark: routecheck against the equivalent PostGIS queries on the same city.

Run by hand (not part of the test suite), with a PostGIS reachable through
ROUTECHECK_POSTGIS_DSN:

    .venv/bin/python bench/bench_postgis.py --city /tmp/routecheck-city --routes 2000

It writes the synthetic city first if the folder does not exist, loads it into
PostGIS (GiST-indexed tables), then screens the same routes both ways in the same run
and prints, and writes as JSON with --json: per-route median and p95 for routecheck
(screening plus decision) and for PostGIS (one query per route: ST_DWithin against
each tree's own protection radius, ST_Intersects against the route footprint for the
polygon layers, lengths and areas inside each feature computed in SQL), their ratio,
how many conflict sets agree, the batch throughput, and the time and peak memory to
load the district in a fresh process.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import shapely

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from geo.coverage import check_coverage, grown_coverage  # noqa: E402
from geo.decision import facts_from  # noqa: E402
from geo.route import parse_route  # noqa: E402
from geo.screening import screen, screen_routes  # noqa: E402
from layers.batch import _Item, _move, _RememberingCalendar, run_batch  # noqa: E402
from layers.district import load_district  # noqa: E402
from layers.sources.file import FileSource  # noqa: E402
from layers.synth import CitySize, write_district  # noqa: E402

POLYGON_LAYERS = ("roads", "bridges", "green", "zones")
SUBMITTED = dt.datetime(2026, 9, 1, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))

LOAD_PROBE = """
import json, resource, sys, time
started = time.perf_counter()
from layers.district import load_district
imported = time.perf_counter()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
district = load_district(sys.argv[1])
ready = time.perf_counter()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"import_s": imported - started, "load_s": ready - imported,
                  "rss_after_import_mb": before / 1024, "peak_rss_mb": peak / 1024}))
"""


def percentile(values, q):
    return float(np.percentile(np.asarray(values), q))


def load_probe(city: Path, runs: int) -> dict:
    """Time and peak memory to load the district, each run in a fresh interpreter."""
    results = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", LOAD_PROBE, str(city)], cwd=ROOT,
                             check=True, capture_output=True, text=True)  # fmt: skip
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    best = min(results, key=lambda r: r["load_s"])
    return {"runs": results, "best_load_s": best["load_s"],
            "median_load_s": statistics.median(r["load_s"] for r in results),
            "peak_rss_mb": max(r["peak_rss_mb"] for r in results)}  # fmt: skip


def load_postgis(dsn: str, city: Path, schema: str) -> tuple[dict, float]:
    from layers.sources.postgis import write_tables

    source = FileSource(city / "city.gpkg")
    names = (*POLYGON_LAYERS, "trees", "coverage")
    tables = {name: f"{schema}.{name}" for name in names}
    started = time.perf_counter()
    write_tables(dsn, {name: source.read_layer(name) for name in names}, tables)
    return tables, time.perf_counter() - started


def postgis_query(tables: dict, margins: dict[str, float]):
    """One statement giving every conflict of a route, with length and area inside."""
    margin = " ".join(f"WHEN '{k}' THEN {float(v)}" for k, v in margins.items())
    parts = [
        f"""SELECT 'trees', t.feature_id,
               ST_Length(ST_Intersection(r.line, z.zone)),
               ST_Area(ST_Intersection(r.footprint, z.zone))
           FROM r CROSS JOIN {tables["trees"]} t
           CROSS JOIN LATERAL (SELECT t.crown_diameter_m / 2
                               + CASE t.kind {margin} ELSE 0 END AS reach) k
           CROSS JOIN LATERAL (SELECT ST_Buffer(t.geom, k.reach, 'quad_segs=16') AS zone) z
           WHERE ST_DWithin(t.geom, r.line, %(half)s + %(max_reach)s + %(tol)s)
             AND ST_Distance(t.geom, r.line) <= %(half)s + k.reach + %(tol)s"""
    ]
    for name in POLYGON_LAYERS:
        parts.append(
            f"""SELECT '{name}', p.feature_id,
                   ST_Length(ST_Intersection(r.line, p.geom)),
                   ST_Area(ST_Intersection(r.footprint, p.geom))
               FROM r CROSS JOIN {tables[name]} p
               WHERE ST_Intersects(p.geom, r.touch)"""
        )
    union = "\nUNION ALL\n".join(parts)
    return f"""WITH r AS (
        SELECT g AS line,
               ST_Buffer(g, %(half)s, 'quad_segs=16') AS footprint,
               ST_Buffer(g, %(half)s + %(tol)s, 'quad_segs=16') AS touch
        FROM (SELECT ST_GeomFromWKB(%(wkb)s, %(srid)s) AS g) AS given)
    {union}"""


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--city", type=Path, default=Path("/tmp/routecheck-city"))
    parser.add_argument("--trees", type=int, default=1_000_000)
    parser.add_argument("--roads", type=int, default=200_000)
    parser.add_argument("--green", type=int, default=50_000)
    parser.add_argument("--routes", type=int, default=2_000)
    parser.add_argument("--batch-routes", type=int, default=20_000)
    parser.add_argument("--load-runs", type=int, default=3)
    parser.add_argument("--classify-routes", type=int, default=50)
    parser.add_argument("--schema", default="routecheck_bench")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    dsn = os.environ.get("ROUTECHECK_POSTGIS_DSN")
    if not dsn:
        sys.exit("set ROUTECHECK_POSTGIS_DSN to a PostGIS database")

    if not (args.city / "district.toml").exists():
        size = CitySize(args.trees, args.roads, args.green)
        print(f"writing synthetic city {size} to {args.city}", flush=True)
        write_district(args.city, size, routes=max(args.routes, args.batch_routes))
    figures: dict = {"city": str(args.city)}

    print("loading the district in fresh processes ...", flush=True)
    figures["load"] = load_probe(args.city, args.load_runs)
    district = load_district(args.city)
    figures["layers"] = {name: len(layer) for name, layer in district.layers.items()}

    print("loading the layers into PostGIS ...", flush=True)
    tables, upload_s = load_postgis(dsn, args.city, args.schema)
    figures["postgis_upload_s"] = upload_s

    features = json.loads((args.city / "routes.geojson").read_text())["features"]
    items = [_Item(i, str(i), route=parse_route(f)) for i, f in enumerate(features)]
    for item in items:
        item.facts = facts_from(item.route.properties, {})
    _move(items, district)
    sample = items[: args.routes]
    settings = district.settings
    half, tol = settings.work_width_m / 2, settings.tolerance_m
    layers = list(district.layers.values())

    # routecheck, one route at a time: coverage check, screening and decision
    grown = grown_coverage(district.coverage, tol)
    ours, ours_screen, ours_sets, overlays = [], [], [], []
    for item in sample:
        started = time.perf_counter()
        check_coverage(item.local.geometry, district.coverage, district.id, tol, grown)
        screening = screen(item.local.geometry, layers, settings.work_width_m, tol)
        screened = time.perf_counter()
        district.decide(screening, item.facts, SUBMITTED)
        ours.append(time.perf_counter() - started)
        ours_screen.append(screened - started)
        ours_sets.append({(c.layer, c.feature_id) for c in screening.conflicts})
        overlays += [(screening.route, screening.footprint, c.zone) for c in screening.conflicts]

    # the floor under any exact screening: the two GEOS overlays per conflict (route and
    # footprint each intersected with the zone) that both sides make, here in one array
    # call each, with no Python per conflict
    columns = zip(*overlays, strict=True)
    lines, prints, zones = (np.asarray(column, dtype=object) for column in columns)
    started = time.perf_counter()
    shapely.length(shapely.intersection(lines, zones))
    shapely.area(shapely.intersection(prints, zones))
    overlay_floor_ms = (time.perf_counter() - started) * 1e3 / len(sample)

    # the same screening through PostGIS, one prepared query per route
    import psycopg

    margins = district.rules.settings.protection_margins_m
    sql = postgis_query(tables, margins)
    theirs, theirs_sets = [], []
    srid = int(settings.crs.split(":")[1])
    max_reach = district.layers["trees"].max_reach
    with psycopg.connect(dsn, autocommit=True) as connection:
        for item in sample:
            params = {"wkb": shapely.to_wkb(item.local.geometry), "srid": srid, "half": half,
                      "tol": tol, "max_reach": max_reach}  # fmt: skip
            started = time.perf_counter()
            rows = connection.execute(sql, params, prepare=True).fetchall()
            theirs.append(time.perf_counter() - started)
            theirs_sets.append({(layer, fid) for layer, fid, _, _ in rows})

    agree = sum(a == b for a, b in zip(ours_sets, theirs_sets, strict=True))
    pairs = enumerate(zip(ours_sets, theirs_sets, strict=True))
    differ = [(i, sorted(a ^ b)[:4]) for i, (a, b) in pairs if a != b][:5]
    figures["per_route"] = {
        "routes": len(sample),
        "mean_conflicts": float(np.mean([len(s) for s in ours_sets])),
        "routecheck_median_ms": statistics.median(ours) * 1e3,
        "routecheck_p95_ms": percentile(ours, 95) * 1e3,
        "routecheck_screening_only_median_ms": statistics.median(ours_screen) * 1e3,
        "routecheck_screening_only_p95_ms": percentile(ours_screen, 95) * 1e3,
        "geos_overlays_only_mean_ms": overlay_floor_ms,
        "postgis_median_ms": statistics.median(theirs) * 1e3,
        "postgis_p95_ms": percentile(theirs, 95) * 1e3,
        "ratio_median": statistics.median(theirs) / statistics.median(ours),
        "ratio_p95": percentile(theirs, 95) / percentile(ours, 95),
        "conflict_sets_agree": agree,
        "disagreements": [[i, [list(x) for x in d]] for i, d in differ],
    }

    # classify as the CLI and API call it (parse, transform, coverage, screen, decide)
    full = []
    for feature in features[: args.classify_routes]:
        started = time.perf_counter()
        district.classify(feature, submitted=SUBMITTED)
        full.append(time.perf_counter() - started)
    figures["classify_median_ms"] = statistics.median(full) * 1e3

    # batch: the whole path from GeoJSON features to decisions, in one process
    batch = features[: args.batch_routes]
    records: list = []
    summary = run_batch(district, batch, records.append, submitted=SUBMITTED)
    geometries = [item.local.geometry for item in items[: args.batch_routes]]
    started = time.perf_counter()
    screenings = screen_routes(geometries, layers, settings.work_width_m, tol)
    screen_s = time.perf_counter() - started
    remembering = dataclasses.replace(district, calendar=_RememberingCalendar(district.calendar))
    started = time.perf_counter()
    for item, screening in zip(items, screenings, strict=False):
        remembering.decide(screening, item.facts, SUBMITTED).to_dict()
    decide_s = time.perf_counter() - started
    figures["batch"] = {
        "routes": summary.routes,
        "decided": summary.decided,
        "routes_per_s": summary.rate,
        "screening_only_routes_per_s": len(geometries) / screen_s,
        "decision_only_routes_per_s": len(geometries) / decide_s,
        "tracks": summary.tracks,
    }

    print(json.dumps(figures, indent=2, ensure_ascii=False))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, ensure_ascii=False))
    return figures


if __name__ == "__main__":
    main()
