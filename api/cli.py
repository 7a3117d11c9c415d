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
from geo.errors import RoutecheckError

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
) -> None:
    """Screen ROUTE and print the decision as JSON."""
    from api.mapview import decision_map
    from layers.district import load_district

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
        decision = loaded.classify(proposed, datum=datum, facts=facts, submitted=received)
    except RoutecheckError as exc:
        _fail(f"error [{exc.code}]: {exc}")

    result = decision.to_dict()
    result["district"] = {"id": loaded.id, "name": loaded.settings.name}
    if map_out is not None:
        decision_map(decision, loaded).save(str(map_out))
        result["map"] = str(map_out)
        log.info("wrote map to %s", map_out)
    typer.echo(json.dumps(result, ensure_ascii=False, indent=2))


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
    try:
        service = create_app(district)
    except RoutecheckError as exc:
        _fail(f"error [{exc.code}]: {exc}")
    uvicorn.run(service, host=host, port=port, access_log=False, log_level="info")
