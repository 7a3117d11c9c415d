"""Decision records: reproducible ids, storage, re-screening and stale decisions."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import tomllib
from pathlib import Path

import pytest
import tomli_w
from typer.testing import CliRunner

from api.cli import app
from api.records import RecordNotFound, RecordStore, decide_and_record, rescreen
from geo.route import parse_route
from layers.district import load_district, sample_district_path

ROOT = Path(__file__).resolve().parents[1]
ROUTES = ROOT / "tests" / "data" / "routes"
CST = dt.timezone(dt.timedelta(hours=8))
SUBMITTED = dt.datetime(2026, 9, 30, 10, 0, tzinfo=CST)

runner = CliRunner()


def route(name: str = "main_road"):
    return parse_route(json.loads((ROUTES / f"{name}.geojson").read_text(encoding="utf-8")))


@pytest.fixture
def store(tmp_path):
    return RecordStore(f"sqlite:///{tmp_path / 'records.sqlite'}")


@pytest.fixture(scope="module")
def lenient_district(tmp_path_factory):
    """The sample district under rules that no longer bar main roads."""
    root = tmp_path_factory.mktemp("lenient")
    rules = tomllib.loads((ROOT / "layers/rules/default.toml").read_text(encoding="utf-8"))
    rules["exclusions"] = [e for e in rules["exclusions"]
                           if e["id"] != "bar.main_road_or_expressway"]  # fmt: skip
    rules["identity"]["version"] = "2022.2-lenient"
    (root / "rules.toml").write_text(tomli_w.dumps(rules), encoding="utf-8")
    store = (sample_district_path() / "helsinki.gpkg").as_posix()
    (root / "district.toml").write_text(
        f'[district]\nid = "helsinki-sample"\nname = "lenient"\ncrs = "EPSG:3067"\n'
        f'store = "{store}"\nrules = "rules.toml"\n',
        encoding="utf-8",
    )
    return load_district(root)


def test_the_same_inputs_on_the_same_versions_give_the_same_id_and_output(district):
    first = decide_and_record(district, route(), submitted=SUBMITTED)[1]
    again = decide_and_record(district, route(), submitted=SUBMITTED)[1]
    assert first.id == again.id
    assert first.decision == again.decision


def test_any_input_changes_the_id(district):
    base = decide_and_record(district, route(), submitted=SUBMITTED)[1]
    other_facts = decide_and_record(district, route(), facts={"voltage_kv": 10},
                                    submitted=SUBMITTED)[1]  # fmt: skip
    later = decide_and_record(district, route(), submitted=SUBMITTED + dt.timedelta(days=1))[1]
    assert len({base.id, other_facts.id, later.id}) == 3


def test_other_rules_change_the_id(district, lenient_district):
    base = decide_and_record(district, route(), submitted=SUBMITTED)[1]
    lenient = decide_and_record(lenient_district, route(), submitted=SUBMITTED)[1]
    assert base.id != lenient.id
    assert base.basis["rules"]["sha256"] != lenient.basis["rules"]["sha256"]
    assert base.basis["layers"] == lenient.basis["layers"]


def test_the_record_holds_inputs_versions_and_decision(district):
    _, record = decide_and_record(district, route(), facts={"fells_trees": True},
                                  submitted=SUBMITTED)  # fmt: skip
    assert record.inputs["facts"] == {"fells_trees": True}
    assert record.inputs["properties"]["voltage_kv"] == 0.4
    assert record.inputs["submitted"] == SUBMITTED.isoformat()
    assert record.basis["rules"]["version"] == "2022.1"
    assert set(record.basis["layers"]) >= {"roads", "bridges", "green", "trees"}
    assert all(len(layer["sha256"]) == 64 for layer in record.basis["layers"].values())
    assert record.software
    assert record.decision["track"]["code"] == "parallel_approval"
    assert record.decision["valid_until"] == "2027-03-29"  # 180 days from 30 September


def test_store_round_trip_keeps_the_first_copy(district, store):
    _, record = decide_and_record(district, route(), submitted=SUBMITTED)
    assert store.save(record) is True
    assert store.save(record) is False
    assert store.get(record.id).to_dict() == record.to_dict()
    with pytest.raises(RecordNotFound):
        store.get("d-nope")


def test_records_saved_from_many_threads_are_each_kept_once(district, store):
    from concurrent.futures import ThreadPoolExecutor

    moments = [SUBMITTED + dt.timedelta(minutes=i) for i in range(40)]
    records = [decide_and_record(district, route(), submitted=m)[1] for m in moments]
    twice = records + records  # every record sent by two callers at once
    with ThreadPoolExecutor(16) as pool:
        kept = list(pool.map(store.save, twice))
    assert sum(kept) == len(records)  # each id new exactly once, whoever came first
    assert [a or b for a, b in zip(kept[:40], kept[40:], strict=True)] == [True] * 40
    assert {r.id for r in store.list()} == {r.id for r in records}


def test_a_record_that_cannot_be_stored_fails_only_its_own_caller(district, store):
    moments = [SUBMITTED + dt.timedelta(hours=i) for i in range(12)]
    records = [decide_and_record(district, route(), submitted=m)[1] for m in moments]

    # not JSON: refused when submitted, before it reaches the writer
    unserialisable = dataclasses.replace(records[0], inputs={"route": b"\x00"})
    with pytest.raises(TypeError):
        store.submit(unserialisable)

    # refused by the database (no track), queued among good ones
    untracked = dataclasses.replace(
        records[1], id="d-untracked", decision={**records[1].decision, "track": {"code": None}}
    )
    unbindable = dataclasses.replace(records[2], id="d-unbindable", basis={"district": {}})
    futures = [store.submit(r) for r in (*records[3:7], untracked, unbindable, *records[7:])]
    outcomes = []
    for future in futures:
        try:
            outcomes.append(future.result(timeout=30))
        except Exception as exc:  # the outcome is what is checked
            outcomes.append(type(exc).__name__)
    assert outcomes[:4] == [True] * 4 and outcomes[6:] == [True] * 5
    assert outcomes[4] == "IntegrityError" and outcomes[5] is not True
    assert store.save(records[0]) is True  # the writer goes on
    assert {r.id for r in store.list()} == {r.id for r in (records[0], *records[3:])}


def test_rescreening_shows_what_new_rules_would_change(district, lenient_district, store):
    _, record = decide_and_record(district, route(), submitted=SUBMITTED)
    change = rescreen(record, lenient_district)
    assert change.changed
    assert change.track == ("parallel_approval", "commitment")
    assert any("bar.main_road_or_expressway" in r for r in change.reasons["removed"])
    assert change.basis["changed"] == ["rules 2022.1 → 2022.2-lenient"]
    assert not rescreen(record, district).changed


def test_stale_decisions_are_listed(district, store):
    _, old = decide_and_record(district, route(), submitted=dt.datetime(2025, 1, 6, 10, 0,
                                                                        tzinfo=CST))  # fmt: skip
    _, fresh = decide_and_record(district, route(), submitted=SUBMITTED)
    store.save(old)
    store.save(fresh)
    stale = store.list(stale_on=dt.date(2026, 12, 3))
    assert [r.id for r in stale] == [old.id]
    assert len(store.list()) == 2


class TestCommandLine:
    def test_classify_stores_and_decision_show_prints_it(self, tmp_path):
        url = f"sqlite:///{tmp_path / 'cli.sqlite'}"
        result = runner.invoke(
            app,
            [
                "classify",
                str(ROUTES / "main_road.geojson"),
                "--submitted",
                "2026-09-30T10:00+08:00",
                "--database",
                url,
            ],
        )
        assert result.exit_code == 0, result.output
        identifier = json.loads(result.stdout)["decision_id"]
        shown = runner.invoke(app, ["decision", "show", identifier, "--database", url])
        assert shown.exit_code == 0
        assert json.loads(shown.stdout)["decision"]["track"]["code"] == "parallel_approval"

    def test_no_record_stores_nothing(self, tmp_path):
        url = f"sqlite:///{tmp_path / 'none.sqlite'}"
        result = runner.invoke(
            app, ["classify", str(ROUTES / "main_road.geojson"), "--no-record", "--database", url]
        )
        assert result.exit_code == 0
        assert RecordStore(url).list() == []

    def test_unknown_id_exits_2(self, tmp_path):
        url = f"sqlite:///{tmp_path / 'cli.sqlite'}"
        result = runner.invoke(app, ["decision", "show", "d-missing", "--database", url])
        assert result.exit_code == 2
        assert "DECISION_NOT_FOUND" in result.stderr

    def test_rescreen_reports_changes_as_json_and_as_a_table(self, tmp_path, lenient_district):
        url = f"sqlite:///{tmp_path / 'cli.sqlite'}"
        runner.invoke(app, ["classify", str(ROUTES / "main_road.geojson"), "--database", url])
        runner.invoke(app, ["classify", str(ROUTES / "commitment_branch_street.geojson"),
                            "--database", url])  # fmt: skip
        as_json = runner.invoke(app, ["rescreen", "--json", "--database", url, "--district",
                                      str(lenient_district.root)])  # fmt: skip
        lines = [json.loads(line) for line in as_json.stdout.splitlines()]
        assert [(c["track"]["was"], c["track"]["now"]) for c in lines] == [
            ("parallel_approval", "commitment")
        ]
        table = runner.invoke(app, ["rescreen", "--database", url, "--district",
                                    str(lenient_district.root)])  # fmt: skip
        assert "parallel_approval → commitment" in table.stdout
        assert "1 decision(s) would change" in table.stdout


def test_records_keep_in_postgresql_too(district):
    import os

    import sqlalchemy as sa

    dsn = os.environ.get("ROUTECHECK_POSTGIS_DSN")
    if not dsn:
        if os.environ.get("CI") == "true":
            pytest.fail("CI runs a PostgreSQL server; ROUTECHECK_POSTGIS_DSN should name it")
        pytest.skip("ROUTECHECK_POSTGIS_DSN is not set; no PostgreSQL to keep records in")
    url = dsn.replace("postgresql://", "postgresql+psycopg://", 1)
    store = RecordStore(url)
    _, record = decide_and_record(district, route(), submitted=SUBMITTED)
    try:
        store.save(record)
        assert store.get(record.id).to_dict() == record.to_dict()
        assert record.id in [r.id for r in store.list(district="helsinki-sample")]
    finally:
        with store.engine.begin() as connection:
            connection.execute(sa.text("DELETE FROM decisions WHERE id = :id"), {"id": record.id})
