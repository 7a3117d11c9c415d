"""Batch runs on dask: the routes of `run_batch`, spread over workers, with the same output.

The routes are read on the client as `read_routes` gives them and put in a
dask-geopandas frame: each row a route's input position, its feature (pickled, so the
worker parses exactly what a single-process run parses, not a geometry derived from
it) and a key point on the route. The frame is shuffled along a Hilbert curve through
the key points, so routes near each other share a partition and a worker's chunks
touch few parts of the layer indexes. Each partition goes through `run_batch` on a
worker, with the client's submission moment and facts; the worker loads the district
once per process and keeps it for later partitions. The records come back to the
client, go into input order and are written by the writer the caller gives, so the
file equals a single-process run's.

The district folder must be at the same path on every worker (a shared disk beyond
one machine). A worker checks that the district it loaded has the content digest of
the client's, so a folder that differs or changed during the run stops the run
instead of deciding some routes on other layers.

NOTE: all records are held on the client until the last partition is in (the input
order spans every partition), about 5 KB a route; a file of millions of routes needs
the records written per partition and merged, which this module does not do.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import itertools
import logging
import math
import pickle
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.errors import DistrictError
from layers.batch import CHUNK, BatchSummary, run_batch
from layers.district import District, load_district

log = logging.getLogger(__name__)

#: Workers of the local cluster made when no client or scheduler is given.
DEFAULT_WORKERS = 2


@dataclass(frozen=True)
class DistrictRef:
    """Where a worker finds the district, and the content digest its copy must have."""

    root: str
    digest: str

    @classmethod
    def of(cls, district: District) -> DistrictRef:
        return cls(str(Path(district.root).resolve()), district.digest)


def run_dask_batch(
    district: District,
    features: Sequence[dict],
    write: Callable[[dict], None],
    *,
    crs: str | None = None,
    submitted: dt.datetime | None = None,
    facts: dict[str, Any] | None = None,
    progress: Callable[[int], None] | None = None,
    client: Any = None,
    scheduler: str | None = None,
    workers: int = DEFAULT_WORKERS,
    partitions: int | None = None,
) -> BatchSummary:
    """Screen and decide every route on dask, calling `write` with one record each, in order.

    Runs on `client` if given, else on the scheduler at `scheduler`, else on a local
    cluster of `workers` processes made for the run and closed after it. `partitions`
    defaults to one per `CHUNK` routes, and at least one per worker.
    """
    moment = submitted or dt.datetime.now(dt.UTC)
    started = time.perf_counter()
    if not features:
        return BatchSummary()
    ref = DistrictRef.of(district)
    with _client(client, scheduler, workers) as active:
        count = partitions or max(_worker_count(active), math.ceil(len(features) / CHUNK))
        frame = spatial_partitions(active, features, count)
        records, summary = _decide_on(active, frame, len(features), ref, crs, moment, facts,
                                      progress)  # fmt: skip
    for record in records:
        write(record)
    summary.seconds = time.perf_counter() - started
    log.info(
        "dask batch on district %s: %d routes in %d partitions, %d decided, %d refused "
        "in %.1f s (%.0f routes/s)",
        district.id, summary.routes, frame.npartitions, summary.decided, summary.errors,
        summary.seconds, summary.rate,
    )  # fmt: skip
    return summary


def spatial_partitions(client, features: Sequence[dict], partitions: int):
    """The routes as a dask-geopandas frame of `partitions` partitions along a Hilbert curve.

    Columns: `index` (the route's input position), `feature` (the feature as `pack`
    gives it) and the key point as geometry. The rows are scattered to the workers in
    input order first, so they travel once rather than inside each graph that orders
    them; ordering the key points already computes on the cluster.
    """
    import dask.dataframe as dd
    import dask_geopandas

    frame = gpd.GeoDataFrame(
        {
            "index": np.arange(len(features), dtype=np.int64),
            "feature": [pack(f) for f in features],
        },
        geometry=_key_points(features),
    )
    partitions = max(1, min(partitions, len(features)))
    bounds = np.linspace(0, len(frame), partitions + 1).astype(int)
    pieces = [frame.iloc[start:end] for start, end in itertools.pairwise(bounds)]
    spread = dask_geopandas.from_dask_dataframe(
        dd.from_delayed(client.scatter(pieces), meta=frame.iloc[:0])
    )
    # the set-index shuffle in tasks: a route is small, and the peer-to-peer
    # shuffle logs each run of it at WARNING level
    return spread.spatial_shuffle(
        by="hilbert", npartitions=partitions, calculate_partitions=False,
        shuffle_method="tasks",
    )  # fmt: skip


def pack(feature: Any) -> str:
    """A feature as text that `unpack` turns back into an equal one, whatever it holds.

    Pickled, as GeoJSON text would not hold what GIS files give (tuples, timestamps),
    and in base64 because dask keeps object columns as Arrow strings, not bytes.
    """
    return base64.b64encode(pickle.dumps(feature, protocol=pickle.HIGHEST_PROTOCOL)).decode()


def unpack(text: str) -> Any:
    """The feature `pack` made the text of (only ever text this run's client made)."""
    return pickle.loads(base64.b64decode(text))


def _key_points(features: Sequence[dict]) -> list[shapely.Point]:
    """A point on each route, in the coordinates it was given in, to order routes by.

    A route whose geometry cannot be read (run_batch gives it an error record) sits at
    the middle of the others. Routes of a file in several CRSs get keys in different
    coordinates; that only makes partitions less local, never a decision different.
    """
    points = [_key_point(f) for f in features]
    known = [p for p in points if p is not None]
    if known:
        xs, ys = zip(*known, strict=True)
        middle = ((min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2)
    else:
        middle = (0.0, 0.0)
    return [shapely.Point(p if p is not None else middle) for p in points]


def _key_point(feature: Any) -> tuple[float, float] | None:
    try:
        point = shapely.geometry.shape(feature["geometry"]).representative_point()
        x, y = point.x, point.y
    except Exception:  # any unreadable geometry: run_batch names what is wrong with it
        return None
    return (x, y) if math.isfinite(x) and math.isfinite(y) else None


def _decide_on(client, frame, count, ref, crs, moment, facts, progress):
    """Run every partition on the cluster; the records in input order and their summary."""
    import dask
    from distributed import as_completed

    task = dask.delayed(decide_partition, pure=False)
    futures = client.compute([task(part, ref, crs, moment, facts) for part in frame.to_delayed()])
    records: list[dict | None] = [None] * count
    summary = BatchSummary()
    for future in as_completed(futures):
        done, part = future.result()
        for record in done:
            records[record["index"]] = record
        _add(summary, part)
        if progress is not None:
            progress(part.routes)
        future.release()
    missing = sum(r is None for r in records)
    if missing:
        raise RuntimeError(f"{missing} routes came back from no partition")  # a bug, not input
    return records, summary


def decide_partition(
    part: pd.DataFrame,
    ref: DistrictRef,
    crs: str | None,
    moment: dt.datetime,
    facts: dict[str, Any] | None,
) -> tuple[list[dict], BatchSummary]:
    """On a worker: `run_batch` on one partition's routes; the records carry input positions."""
    district = worker_district(ref)
    features = [unpack(text) for text in part["feature"]]
    records: list[dict] = []
    summary = run_batch(district, features, records.append, crs=crs, submitted=moment,
                        facts=facts, positions=part["index"].tolist())  # fmt: skip
    return records, summary


#: Districts loaded in this worker process, by where they are and what they hold.
_DISTRICTS: dict[DistrictRef, District] = {}
_LOADING = threading.Lock()


def worker_district(ref: DistrictRef) -> District:
    """The district `ref` names, loaded once per process and checked against its digest."""
    with _LOADING:
        if ref in _DISTRICTS:
            return _DISTRICTS[ref]
        # a city takes a gigabyte: drop an older copy of the folder before loading anew
        for old in [k for k in _DISTRICTS if k.root == ref.root]:
            del _DISTRICTS[old]
        district = load_district(ref.root)
        found = district.digest
        if found != ref.digest:
            raise DistrictError(
                f"the district at {ref.root} on this worker has digest {found[:12]}, "
                f"not {ref.digest[:12]} as on the client: a different folder, or it changed"
            )
        _DISTRICTS[ref] = district
        log.info("worker loaded district %s from %s", district.id, ref.root)
        return district


def _add(total: BatchSummary, part: BatchSummary) -> None:
    total.routes += part.routes
    total.decided += part.decided
    total.errors += part.errors
    for track, n in part.tracks.items():
        total.tracks[track] = total.tracks.get(track, 0) + n


def _worker_count(client) -> int:
    return max(1, len(client.scheduler_info().get("workers", {})))


@contextlib.contextmanager
def _client(client, scheduler: str | None, workers: int) -> Iterator[Any]:
    """The given client; else one for the scheduler or a local cluster, closed after."""
    if client is not None:
        yield client
        return
    from distributed import Client, LocalCluster

    if scheduler is not None:
        with Client(scheduler) as remote:
            yield remote
        return
    started = time.perf_counter()
    # the dashboard on any free port: a batch run should not take 8787 from another
    with (
        LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                     dashboard_address=":0") as cluster,
        Client(cluster) as local,
    ):  # fmt: skip
        log.info("local dask cluster of %d workers up in %.1f s (dashboard %s)", workers,
                 time.perf_counter() - started, cluster.dashboard_link)  # fmt: skip
        yield local
