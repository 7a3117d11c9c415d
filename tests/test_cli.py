"""The `routecheck` command line: JSON on stdout and exit 0, or exit 2 and a message."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "layers" / "sample" / "helsinki" / "example_route.geojson"
ROUTES = Path(__file__).parent / "data" / "routes"

runner = CliRunner()


def run(*args: str, stdin: str | None = None):
    return runner.invoke(app, list(args), input=stdin)


def test_example_route_prints_the_decision_and_writes_a_map(tmp_path):
    out = tmp_path / "route.html"
    result = run("classify", str(EXAMPLE), "--map", str(out))
    assert result.exit_code == 0, result.output
    decision = json.loads(result.stdout)
    assert decision["track"]["code"] == "parallel_approval"
    assert decision["track"]["name"] == "并联限时审批"
    assert {"rule", "clause"} <= set(decision["reasons"][0])
    assert {"layer", "kind", "feature_id", "length_m", "area_m2"} <= set(decision["conflicts"][0])
    assert {"code", "role", "items"} <= set(decision["bureaus"][0])
    page = out.read_text(encoding="utf-8")
    assert "并联限时审批" in page and "OpenStreetMap contributors" in page


def test_flags_override_the_route_properties():
    result = run(
        "classify",
        str(ROUTES / "commitment_branch_street.geojson"),
        "--voltage",
        "10",
        "--customer",
        "other",
        "--no-three-zero",
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["track"]["code"] == "filing"


def test_submitted_time_dates_the_deadline():
    result = run(
        "classify",
        str(ROUTES / "commitment_branch_street.geojson"),
        "--voltage",
        "10",
        "--customer",
        "other",
        "--submitted",
        "2026-09-30T10:00+08:00",
    )
    assert result.exit_code == 0, result.output
    track = json.loads(result.stdout)["track"]
    assert (track["code"], track["time_limit_working_days"]) == ("filing", 2)
    assert (track["received"], track["due"]) == ("2026-09-30", "2026-10-09")


def test_a_bad_submitted_time_exits_2():
    result = run("classify", str(EXAMPLE), "--submitted", "yesterday")
    assert result.exit_code == 2
    assert "INVALID_SUBMITTED" in result.stderr


def test_route_from_stdin_in_a_declared_crs():
    route = {"type": "LineString", "coordinates": [[385800, 6672300], [385850, 6672300]]}
    result = run(
        "classify",
        "-",
        "--crs",
        "EPSG:3067",
        "--voltage",
        "0.4",
        "--customer",
        "residential",
        "--three-zero",
        stdin=json.dumps(route),
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["route"]["length_m"] == pytest.approx(50.0)


@pytest.mark.parametrize(
    ("stdin", "args", "code", "words"),
    [
        ("{not json", (), "INVALID_JSON", "line 1"),
        (
            '{"type": "LineString", "coordinates": [[24.94, 60.17], [NaN, 60.17]]}',
            (),
            "NON_FINITE",
            "NaN",
        ),
        ('{"type": "Point", "coordinates": [24.94, 60.17]}', (), "NOT_A_LINE", "Point"),
        (
            '{"type": "LineString", "coordinates": [[24.94, 60.17], [24.945, 60.171]]}',
            ("--voltage", "abc"),
            None,
            "voltage",
        ),
        (
            '{"type": "LineString", "coordinates": [[24.94, 60.17], [24.945, 60.171]]}',
            ("--customer", "factory"),
            "INVALID_FACTS",
            "customer",
        ),
        (
            '{"type": "LineString", "coordinates": [[24.94, 60.17], [24.945, 60.171]]}',
            ("--crs", "EPSG:0"),
            "INVALID_CRS",
            "EPSG:0",
        ),
        (
            '{"type": "LineString", "coordinates": [[60.17, 24.94], [60.171, 24.945]]}',
            (),
            "AXES_SWAPPED",
            "latitude, longitude",
        ),
        (
            '{"type": "LineString", "coordinates": [[116.39, 39.90], [116.40, 39.91]]}',
            (),
            "ROUTE_OUTSIDE_COVERAGE",
            "outside the coverage",
        ),
    ],
)
def test_bad_input_exits_2_and_says_what_is_wrong(stdin, args, code, words):
    base = ("--voltage", "0.4", "--customer", "residential")
    result = run("classify", "-", *base, *args, stdin=stdin)
    assert result.exit_code == 2
    assert result.stdout == ""
    if code is not None:
        assert f"[{code}]" in result.stderr
    assert words in result.stderr


def test_missing_file_exits_2(tmp_path):
    result = run("classify", str(tmp_path / "nope.geojson"))
    assert result.exit_code == 2
    assert "does not exist" in result.stderr


def test_the_installed_console_script_runs():
    script = Path(sys.executable).with_name("routecheck")
    if not script.exists():
        pytest.skip("routecheck is not installed in this environment")
    done = subprocess.run(
        [str(script), "classify", str(EXAMPLE)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["district"]["id"] == "helsinki-sample"


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("ROUTECHECK_SCREENING_THREADS", "0", "ROUTECHECK_SCREENING_THREADS"),
        ("ROUTECHECK_MAX_BODY_BYTES", "abc", "ROUTECHECK_MAX_BODY_BYTES"),
        ("ROUTECHECK_DATABASE_URL", "notaurl", "BAD_DATABASE"),
    ],
)
def test_serve_refuses_bad_settings_with_a_message_not_a_traceback(variable, value, says):
    result = runner.invoke(app, ["serve", "--port", "1"], env={variable: value})
    assert result.exit_code == 2, result.output
    assert says in result.output and "Traceback" not in result.output


def test_batch_refuses_an_unreadable_route_file_and_a_missing_output_folder(tmp_path):
    junk = tmp_path / "routes.txt"
    junk.write_text("not a route file\n", encoding="utf-8")
    result = runner.invoke(app, ["batch", str(junk), "--out", str(tmp_path / "o.jsonl")])
    assert result.exit_code == 2 and "UNREADABLE_FILE" in result.output

    routes = tmp_path / "routes.geojson"
    feature = json.loads((ROOT / "tests/data/routes/main_road.geojson").read_text("utf-8"))
    routes.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}), "utf-8")
    result = runner.invoke(app, ["batch", str(routes), "--out", str(tmp_path / "no" / "o.jsonl")])
    assert result.exit_code == 2 and "NO_SUCH_FOLDER" in result.output
