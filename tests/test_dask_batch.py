"""The batch on dask: on a real local cluster of two worker processes it writes the file a
single-process run writes, routes that fail keep their error records in place, the
routes are split into spatially compact partitions, and `routecheck batch --dask` runs."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys

import pytest
import shapely
from typer.testing import CliRunner

from api.cli import app
from geo.errors import DistrictError
from layers.batch import JsonLinesWriter, iter_results, read_routes, run_batch
from layers.district import load_district
from layers.synth import CitySize, write_district

distributed = pytest.importorskip("distributed")
pytest.importorskip("dask_geopandas")

from layers.dask_batch import (  # noqa: E402 (after the skips: dask is an optional extra)
    DistrictRef,
    pack,
    run_dask_batch,
    spatial_partitions,
    unpack,
    worker_district,
)

SIZE = CitySize(trees=3_000, roads=400, green=120, seed=5)
SUBMITTED = dt.datetime(2026, 9, 1, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    root = write_district(tmp_path_factory.mktemp("dask") / "city", SIZE, routes=300)
    features, _ = read_routes(root / "routes.geojson")
    return root, load_district(root), features


@pytest.fixture(scope="module")
def client():
    with (
        distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                 dashboard_address=":0") as cluster,
        distributed.Client(cluster) as connected,
    ):  # fmt: skip
        yield connected


def _with_failures(features: list[dict]) -> list[dict]:
    """The routes with some that cannot be decided, and one without an id, spread among them."""
    facts = features[0]["properties"]
    point = {"type": "Feature", "id": "point", "properties": facts,
             "geometry": {"type": "Point", "coordinates": [113.3, 23.1]}}  # fmt: skip
    null = {"type": "Feature", "id": "null", "properties": facts, "geometry": None}
    text = {"type": "Feature", "id": "text", "properties": facts,
            "geometry": _line([[113.3, "23.1"], [113.31, 23.1]])}  # fmt: skip
    far = {**features[1], "id": "far", "geometry": _line([[116.40, 39.90], [116.41, 39.91]])}
    unnamed = {key: value for key, value in features[2].items() if key != "id"}
    routes = list(features)
    for at, feature in [(7, point), (90, null), (151, text), (230, far), (260, unnamed)]:
        routes.insert(at, feature)
    return routes


def _line(coordinates) -> dict:
    return {"type": "LineString", "coordinates": coordinates}


def _run(write_to, run, district, features, **options):
    writer = JsonLinesWriter(write_to)
    try:
        return run(district, features, writer, submitted=SUBMITTED, **options)
    finally:
        writer.close()


def test_dask_batch_writes_the_file_a_single_process_run_writes(city, client, tmp_path):
    _, district, features = city
    routes = _with_failures(features)
    alone, spread = tmp_path / "alone.jsonl", tmp_path / "dask.jsonl"
    _run(alone, run_batch, district, routes)
    parts: list[int] = []
    summary = _run(spread, run_dask_batch, district, routes, client=client, partitions=4,
                   progress=parts.append)  # fmt: skip

    expected, got = list(iter_results(alone)), list(iter_results(spread))
    assert len(got) == len(routes) == 305
    for mine, theirs in zip(got, expected, strict=True):
        assert mine == theirs
    assert spread.read_bytes() == alone.read_bytes()

    # four partitions came back, none empty, every route in one of them
    assert len(parts) == 4 and min(parts) > 0 and sum(parts) == len(routes)
    assert (summary.routes, summary.decided, summary.errors) == (305, 301, 4)


def test_routes_that_fail_keep_their_error_records_in_place(city, client, tmp_path):
    _, district, features = city
    routes = _with_failures(features)
    out = tmp_path / "dask.jsonl"
    # through the scheduler's address this time, as for a cluster beyond this machine
    _run(out, run_dask_batch, district, routes, scheduler=client.scheduler.address, partitions=4)
    records = list(iter_results(out))
    assert [r["index"] for r in records] == list(range(len(routes)))
    codes = {r["id"]: r["error"]["code"] for r in records if "error" in r}
    assert codes == {"point": "NOT_A_LINE", "null": "EMPTY_ROUTE", "text": "INVALID_ROUTE",
                     "far": "ROUTE_OUTSIDE_COVERAGE"}  # fmt: skip
    assert [records[at]["id"] for at in (7, 90, 151, 230)] == ["point", "null", "text", "far"]
    # a route without an id is named by its place in the input, not in its partition
    assert records[260]["id"] == "260" and "track" in records[260]


def test_partitions_split_the_routes_into_compact_groups(city, client):
    _, _, features = city
    frame = spatial_partitions(client, features, 4)
    parts = client.compute(frame.to_delayed(), sync=True)
    assert len(parts) == 4 and all(len(part) > 0 for part in parts)
    indices = sorted(i for part in parts for i in part["index"])
    assert indices == list(range(len(features)))

    # nearby routes share a partition: their boxes are far smaller than those of four
    # runs of the input order (which the synthetic routes have at random)
    keys = [part.geometry.values for part in parts]
    runs = [shapely.points([f["geometry"]["coordinates"][0] for f in features[at::4]])
            for at in range(4)]  # fmt: skip
    assert _box_area(keys) < 0.5 * _box_area(runs)


def _box_area(groups) -> float:
    return sum(shapely.box(*shapely.total_bounds(group)).area for group in groups)


def test_features_travel_unchanged(city):
    _, _, features = city
    odd = {"type": "Feature", "properties": {"when": dt.date(2026, 9, 1)},
           "geometry": _line(((113.3, 23.1), (113.31, 23.1)))}  # fmt: skip
    for feature in [features[0], odd, 42, None]:
        assert unpack(pack(feature)) == feature
    assert type(unpack(pack(odd))["geometry"]["coordinates"]) is tuple


def test_a_worker_refuses_a_district_that_differs_from_the_clients(city):
    root, district, _ = city
    ref = DistrictRef.of(district)
    assert worker_district(ref) is worker_district(ref)  # loaded once per process
    with pytest.raises(DistrictError, match="not 000000000000 as on the client"):
        worker_district(DistrictRef(ref.root, "0" * 64))


def test_batch_command_with_dask_writes_what_it_writes_without(city, tmp_path):
    root, _, features = city
    source = tmp_path / "routes.geojsonl"
    source.write_text("\n".join(json.dumps(f) for f in features[:40]) + "\n")
    args = ["batch", str(source), "--district", str(root), "--no-progress",
            "--submitted", "2026-09-01T10:00+08:00"]  # fmt: skip
    alone, spread = tmp_path / "alone.jsonl", tmp_path / "dask.jsonl"
    result = CliRunner().invoke(app, [*args, "--out", str(alone)])
    assert result.exit_code == 0, result.output

    # in a fresh process, as a user runs it: only what the command imports is there
    command = [sys.executable, "-c", "from api.cli import main; main()", *args,
               "--out", str(spread), "--dask", "--workers", "2"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "40 routes" in done.stdout and "40 decided" in done.stdout
    assert spread.read_bytes() == alone.read_bytes()
