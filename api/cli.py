"""The `routecheck` command line.

`routecheck classify ROUTE` screens a GeoJSON route on a district and prints the
decision as JSON; `routecheck layers build` rebuilds the sample district's layer store
from OpenStreetMap. Bad input exits with status 2 and a message on stderr that names
what was wrong.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from api.inputs import MAX_FILE_BYTES, read_route
from api.records import RecordStore, decide_and_record
from api.records import rescreen as rescreen_record
from api.state import district_version
from geo.errors import RoutecheckError
from layers.district import load_district

log = logging.getLogger("routecheck")

#: Exit status for input routecheck cannot screen (the same as a usage error).
EXIT_BAD_INPUT = 2

app = typer.Typer(
    help="Route conflict checker for power-access works.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
layers_app = typer.Typer(help="Build and inspect district layer stores.", no_args_is_help=True)
app.add_typer(layers_app, name="layers")
rules_app = typer.Typer(help="Validate district rule files.", no_args_is_help=True)
app.add_typer(rules_app, name="rules")
decision_app = typer.Typer(help="Show and list stored decision records.", no_args_is_help=True)
app.add_typer(decision_app, name="decision")

DatabaseOption = Annotated[
    str | None,
    typer.Option(
        help="Decision database URL (default: $ROUTECHECK_DATABASE_URL, else SQLite in the "
        "user data folder)."
    ),
]


@app.callback()
def _configure(
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Log progress to stderr.")
    ] = False,
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


@app.command()
def classify(
    route: Annotated[
        Path,
        typer.Argument(
            help="Route file (GeoJSON, KML, KMZ, GPX, zipped Shapefile, GeoPackage, DXF, "
            "WKT; by suffix), or - for GeoJSON on stdin."
        ),
    ],
    voltage: Annotated[float | None, typer.Option(help="Supply voltage in kV.")] = None,
    customer: Annotated[str | None, typer.Option(help="residential, small_micro or other.")] = None,
    three_zero: Annotated[
        bool | None,
        typer.Option("--three-zero/--no-three-zero", help="Served under the 三零 scheme."),
    ] = None,
    capacity: Annotated[float | None, typer.Option(help="Requested capacity in kW.")] = None,
    area: Annotated[str | None, typer.Option(help="urban or rural.")] = None,
    fells_trees: Annotated[
        bool | None,
        typer.Option("--fells-trees/--no-fells-trees", help="The works fell or move trees."),
    ] = None,
    start_date: Annotated[
        str | None, typer.Option(help="Planned start of the works, YYYY-MM-DD.")
    ] = None,
    submitted: Annotated[
        str | None,
        typer.Option(help="When the application was received, ISO 8601 (default: now)."),
    ] = None,
    crs: Annotated[
        str | None, typer.Option(help="CRS of the route's coordinates (default EPSG:4326).")
    ] = None,
    datum: Annotated[
        str,
        typer.Option(
            help="Web-map datum of a lon/lat drawing: wgs84, gcj02 (Amap, Tencent) or bd09 (Baidu)."
        ),
    ] = "wgs84",
    fmt: Annotated[
        str | None, typer.Option("--format", help="Route format, when the suffix is not it.")
    ] = None,
    layer: Annotated[
        str | None, typer.Option(help="Layer of a GeoPackage or DXF that holds the route.")
    ] = None,
    district: Annotated[
        Path | None, typer.Option(help="District folder (default: the bundled sample).")
    ] = None,
    map_out: Annotated[
        Path | None, typer.Option("--map", help="Write a map of the decision to this HTML file.")
    ] = None,
    record: Annotated[
        bool, typer.Option("--record/--no-record", help="Store the decision's record.")
    ] = True,
    database: DatabaseOption = None,
) -> None:
    """Screen ROUTE and print the decision as JSON, with the id of its record."""
    from api.mapview import decision_map, standalone_html

    facts = {
        "voltage_kv": voltage,
        "customer": customer,
        "three_zero": three_zero,
        "capacity_kw": capacity,
        "area": area,
        "fells_trees": fells_trees,
        "start_date": start_date,
    }
    try:
        received = _parse_submitted(submitted)
        proposed = read_route(_read_bytes(route), route.name, crs=crs, fmt=fmt, layer=layer)
        loaded = load_district(district)
        decision, kept = decide_and_record(
            loaded, proposed, facts=facts, datum=datum, submitted=received
        )
    except RoutecheckError as exc:
        _fail(f"error [{exc.code}]: {exc}")

    if record:
        RecordStore(database).save(kept)
    result = {"decision_id": kept.id, "version": district_version(loaded), **kept.decision}
    if map_out is not None:
        page = standalone_html(decision_map(decision, loaded))
        try:
            map_out.write_text(page, encoding="utf-8")
        except OSError as exc:
            _fail(f"error [MAP_NOT_WRITTEN]: cannot write the map to {map_out}: {exc.strerror}")
        result["map"] = str(map_out)
        log.info("wrote map to %s", map_out)
    typer.echo(json.dumps(result, ensure_ascii=False, indent=2))


@decision_app.command("show")
def decision_show(
    identifier: Annotated[str, typer.Argument(metavar="ID", help="Decision id.")],
    database: DatabaseOption = None,
) -> None:
    """Print a stored decision's record: inputs, rules, layers, software, decision."""
    try:
        kept = RecordStore(database).get(identifier)
    except RoutecheckError as exc:
        _fail(f"error [{exc.code}]: {exc}")
    typer.echo(json.dumps(kept.to_dict(), ensure_ascii=False, indent=2))


@decision_app.command("list")
def decision_list(
    stale: Annotated[
        bool, typer.Option("--stale", help="Only decisions past their validity.")
    ] = False,
    database: DatabaseOption = None,
) -> None:
    """List stored decisions: id, district, track, received, valid until."""
    today = dt.date.today()
    for kept in RecordStore(database).list(stale_on=today if stale else None):
        track = kept.decision["track"]
        typer.echo(
            f"{kept.id}  {kept.basis['district']}  {track['code']}  received "
            f"{track['received']}  valid until {kept.decision.get('valid_until') or '-'}"
        )


@app.command()
def rescreen(
    district: Annotated[
        Path | None, typer.Option(help="District folder (default: the bundled sample).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines.")] = False,
    everything: Annotated[
        bool, typer.Option("--all", help="Also list decisions that would not change.")
    ] = False,
    database: DatabaseOption = None,
) -> None:
    """Re-run stored decisions on the current rules and layers; show what would change."""
    from rich.console import Console
    from rich.table import Table

    try:
        loaded = load_district(district)
    except RoutecheckError as exc:
        _fail(f"error [{exc.code}]: {exc}")
    table = Table(title="Decisions that would change")
    table.add_column("decision", no_wrap=True)
    table.add_column("track", no_wrap=True)
    for heading in ("reasons", "bureau items", "basis changed"):
        table.add_column(heading)
    changes = 0
    for kept in RecordStore(database).list(district=loaded.id):
        try:
            change = rescreen_record(kept, loaded)
        except RoutecheckError as exc:
            typer.echo(f"{kept.id}: cannot be screened again: [{exc.code}] {exc}", err=True)
            continue
        changes += change.changed
        if not (change.changed or everything):
            continue
        if as_json:
            typer.echo(json.dumps(change.to_dict() | {"changed": change.changed},
                                  ensure_ascii=False))  # fmt: skip
        else:
            was, now = change.track
            table.add_row(
                change.id,
                was if was == now else f"{was} → {now}",
                _lines(change.reasons),
                _lines(change.bureaus),
                "\n".join(change.basis["changed"]) or "-",
            )
    if not as_json:
        Console(width=200).print(table)
        typer.echo(f"{changes} decision(s) would change")


def _lines(difference: dict[str, list[str]]) -> str:
    return "\n".join([f"- {x}" for x in difference["removed"]] +
                     [f"+ {x}" for x in difference["added"]]) or "-"  # fmt: skip


@layers_app.command("build")
def layers_build(
    pbf: Annotated[Path | None, typer.Option(help="OSM PBF extract.")] = None,
    register: Annotated[Path | None, typer.Option(help="Ancient tree register CSV.")] = None,
    out: Annotated[Path | None, typer.Option(help="GeoPackage to write.")] = None,
) -> None:
    """Rebuild the sample district's layer store from the bundled OSM extract."""
    from layers import osm

    argv = []
    for flag, value in (("--pbf", pbf), ("--register", register), ("--out", out)):
        if value is not None:
            argv += [flag, str(value)]
    osm.main(argv)


@rules_app.command("check")
def rules_check(
    path: Annotated[Path, typer.Argument(help="Rule file (TOML) to validate.")],
) -> None:
    """Validate a rule file and print every problem with its location."""
    from layers.district import load_rules

    try:
        rules = load_rules(path)
    except RoutecheckError as exc:
        _fail(f"error [{exc.code}]: {exc}")
    identity = rules.identity
    typer.echo(
        f"{path}: valid rules for {identity.district} version {identity.version}, "
        f"effective {identity.effective_from}: {len(rules.tracks)} tracks, "
        f"{len(rules.eligibility)} eligibility rules, {len(rules.exclusions)} exclusions, "
        f"{len(rules.items)} items"
    )


def _read_bytes(path: Path) -> bytes:
    """The route file's bytes (stdin for '-'), refusing what is not a readable file."""
    try:
        if str(path) == "-":
            return sys.stdin.buffer.read()
        if path.stat().st_size > MAX_FILE_BYTES:
            _fail(f"error [FILE_TOO_LARGE]: route file {path} is larger than "
                  f"{MAX_FILE_BYTES:,} bytes")  # fmt: skip
        return path.read_bytes()
    except FileNotFoundError:
        _fail(f"error [FILE_NOT_FOUND]: route file {path} does not exist")
    except (IsADirectoryError, PermissionError) as exc:
        _fail(f"error [UNREADABLE_FILE]: route file {path} cannot be read: {exc.strerror}")


def _parse_submitted(value: str | None) -> dt.datetime | None:
    """The --submitted time; without an offset it is read in the district's time zone."""
    if value is None:
        return None
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        _fail(
            f"error [INVALID_SUBMITTED]: --submitted {value!r} is not an ISO 8601 time "
            "such as 2026-09-30T10:00+08:00"
        )


def _fail(message: str):
    typer.echo(f"routecheck: {message}", err=True)
    raise typer.Exit(EXIT_BAD_INPUT)


def main() -> None:
    app()


@app.command()
def serve(
    host: Annotated[
        str, typer.Option(help="Address to listen on (loopback unless you mean otherwise).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    district: Annotated[
        Path | None, typer.Option(help="District folder (default: the bundled sample).")
    ] = None,
) -> None:
    """Serve the HTTP API, the drawing page and the layers (OGC API – Features)."""
    import uvicorn

    from api.app import create_app

    # one line per request from routecheck itself, whatever --verbose says
    logging.getLogger("routecheck").setLevel(logging.INFO)
    from pydantic import ValidationError
    from sqlalchemy.exc import SQLAlchemyError

    try:
        service = create_app(district)
    except RoutecheckError as exc:
        _fail(f"error [{exc.code}]: {exc}")
    except ValidationError as exc:  # the service settings, from ROUTECHECK_* variables
        problems = "; ".join(
            f"ROUTECHECK_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors()
        )
        _fail(f"error [BAD_SETTINGS]: {problems}")
    except SQLAlchemyError as exc:  # ROUTECHECK_DATABASE_URL names no usable database
        _fail(f"error [BAD_DATABASE]: the decision records' database cannot be used: "
              f"{type(exc).__name__}: {str(exc).splitlines()[0]}")  # fmt: skip
    uvicorn.run(service, host=host, port=port, access_log=False, log_level="info")


@app.command()
def synth(
    out: Annotated[Path, typer.Argument(help="District folder to write.")],
    trees: Annotated[int, typer.Option(min=1, help="Number of trees.")] = 1_000_000,
    roads: Annotated[int, typer.Option(min=4, help="Number of road segments.")] = 200_000,
    green: Annotated[int, typer.Option(min=1, help="Number of green polygons.")] = 50_000,
    routes: Annotated[int, typer.Option(min=0, help="Also write routes.geojson.")] = 0,
    seed: Annotated[int, typer.Option(help="Seed of the random generator.")] = 2026,
) -> None:
    """Write a seeded synthetic district (a street grid around Guangzhou, EPSG:4547)."""
    from layers.synth import CitySize, write_district

    write_district(out, CitySize(trees=trees, roads=roads, green=green, seed=seed), routes)
    typer.echo(f"wrote synthetic district to {out}")


@app.command()
def batch(
    routes: Annotated[
        Path, typer.Argument(help="Routes: GeoJSON FeatureCollection or lines, or a GIS file.")
    ],
    out: Annotated[Path, typer.Option(help="Results: JSON lines, or .gpkg for GeoPackage.")],
    district: Annotated[
        Path | None, typer.Option(help="District folder (default: the bundled sample).")
    ] = None,
    crs: Annotated[
        str | None, typer.Option(help="CRS of the routes' coordinates (default EPSG:4326).")
    ] = None,
    submitted: Annotated[
        str | None,
        typer.Option(help="When the applications were received, ISO 8601 (default: now)."),
    ] = None,
    progress: Annotated[
        bool, typer.Option("--progress/--no-progress", help="Show a progress bar on stderr.")
    ] = True,
    use_dask: Annotated[
        bool,
        typer.Option(
            "--dask", help="Run on dask: a local cluster unless --scheduler is given (same output)."
        ),
    ] = False,
    scheduler: Annotated[
        str | None,
        typer.Option(
            help="Run on the dask scheduler at this address (tcp://host:8786; implies "
            "--dask); its workers must see the district folder at the same path."
        ),
    ] = None,
    workers: Annotated[
        int, typer.Option(min=1, help="With --dask and no --scheduler: local worker processes.")
    ] = 2,
) -> None:
    """Screen every route of ROUTES and write one decision (or error) per route to OUT.

    With --dask each worker process loads the district once (a city takes about 1 GB).
    """
    import pyogrio
    from tqdm import tqdm

    from layers.batch import read_routes, run_batch, writer_for
    from layers.district import load_district

    try:
        received = _parse_submitted(submitted)
        loaded = load_district(district)
        features, routes_crs = read_routes(routes, crs)
    except RoutecheckError as exc:
        _fail(f"error [{exc.code}]: {exc}")
    except FileNotFoundError:
        _fail(f"error [FILE_NOT_FOUND]: route file {routes} does not exist")
    except (ValueError, pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        _fail(f"error [UNREADABLE_FILE]: {routes}: {exc}")
    if not out.parent.is_dir():
        _fail(f"error [NO_SUCH_FOLDER]: the folder of {out} does not exist")

    write = writer_for(out, loaded.settings.crs)
    bar = tqdm(total=len(features), unit="route", disable=not progress, file=sys.stderr)
    try:
        if use_dask or scheduler is not None:
            from layers.dask_batch import run_dask_batch

            summary = run_dask_batch(loaded, features, write, crs=routes_crs, submitted=received,
                                     progress=bar.update, scheduler=scheduler,
                                     workers=workers)  # fmt: skip
        else:
            summary = run_batch(loaded, features, write, crs=routes_crs, submitted=received,
                                progress=bar.update)  # fmt: skip
    except RoutecheckError as exc:  # on dask: a worker found a different district
        _fail(f"error [{exc.code}]: {exc}")
    finally:
        bar.close()
        write.close()
    tracks = ", ".join(f"{n} {track}" for track, n in sorted(summary.tracks.items()))
    typer.echo(
        f"{summary.routes} routes in {summary.seconds:.1f} s ({summary.rate:,.0f} routes/s): "
        f"{summary.decided} decided ({tracks or 'none'}), {summary.errors} refused; "
        f"wrote {out}"
    )
