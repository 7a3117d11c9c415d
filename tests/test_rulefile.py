"""Rule files: `routecheck rules check`, and every way a file can be broken."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
import tomli_w
from typer.testing import CliRunner

from api.cli import app
from geo.errors import RulesError
from layers.district import load_rules

RULES = Path(__file__).resolve().parents[1] / "layers" / "rules"
PACKS = sorted(RULES.glob("*.toml"))

runner = CliRunner()


def default_data() -> dict:
    return tomllib.loads((RULES / "default.toml").read_text(encoding="utf-8"))


def write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "rules.toml"
    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    return path


@pytest.mark.parametrize("path", PACKS, ids=[p.stem for p in PACKS])
def test_every_shipped_pack_is_valid(path):
    result = runner.invoke(app, ["rules", "check", str(path)])
    assert result.exit_code == 0, result.output
    assert "valid rules for" in result.stdout


def break_unknown_key(data):
    data["tracks"][0]["time_limit"] = 3


def break_track_reference(data):
    data["eligibility"][1]["track"] = "fast_track"


def break_escalation(data):
    data["exclusions"][0]["to"] = "commitment"


def break_kind(data):
    data["exclusions"][0]["when"]["conflicts"]["kinds"] = ["bridges"]


def break_unknown_choice(data):
    del data["exclusions"][-1]["when"]["conflicts"]["where"][0]["if_unknown"]


def break_operator(data):
    data["eligibility"][0]["when"]["facts"][0]["op"] = "at_least"


def break_measure_reference(data):
    data["exclusions"][0]["when"]["measures"] = [{"measure": "trench_m", "op": "le", "value": 100}]


def break_role(data):
    data["bureaus"][0]["roles"] = {"filing": "rubber_stamp"}


def break_fact_value(data):
    data["exclusions"][7]["when"]["facts"][0]["value"] = "yes"  # fells_trees


def break_customer(data):
    data["eligibility"][0]["when"]["facts"] = [
        {"fact": "customer", "op": "in", "value": ["residental"]}
    ]


def break_attribute(data):
    data["exclusions"][-1]["when"]["conflicts"]["where"][0]["attribute"] = "handover_dat"


def break_two_references(data):
    data["exclusions"][0]["to"] = "parallel_aproval"
    data["eligibility"][1]["track"] = "filling"


@pytest.mark.parametrize(
    ("breaker", "words"),
    [
        (break_unknown_key, "tracks[0].time_limit: Extra inputs are not permitted"),
        (break_track_reference, "'fast_track'"),
        (break_escalation, "stricter"),
        (break_kind, "kind 'bridges' is not a catalogue kind"),
        (break_unknown_choice, "where[0].if_unknown: Field required"),
        (break_operator, "eligibility[0].when.facts[0].op"),
        (break_measure_reference, "'trench_m'"),
        (break_role, "roles.filing"),
        (break_fact_value, "fells_trees is true or false, not 'yes'"),
        (break_customer, "customer is one of"),
        (break_attribute, "attribute 'handover_dat' is not one the catalogue gives"),
        (break_two_references, "eligibility[1].track: names unknown ['filling']"),
        (break_two_references, "exclusions[0].to: names unknown ['parallel_aproval']"),
    ],
)
def test_a_broken_file_is_refused_with_the_place_of_the_problem(tmp_path, breaker, words):
    data = default_data()
    breaker(data)
    path = write(tmp_path, data)

    with pytest.raises(RulesError):
        load_rules(path)
    result = runner.invoke(app, ["rules", "check", str(path)])
    assert result.exit_code == 2
    assert words in result.stderr


def test_every_problem_is_listed_at_once(tmp_path):
    data = default_data()
    break_unknown_key(data)
    break_operator(data)
    result = runner.invoke(app, ["rules", "check", str(write(tmp_path, data))])
    assert "tracks[0].time_limit" in result.stderr
    assert "eligibility[0].when.facts[0].op" in result.stderr


def test_toml_syntax_errors_give_the_line(tmp_path):
    path = tmp_path / "rules.toml"
    path.write_text('[identity]\ndistrict = "x"\nname = \n', encoding="utf-8")
    result = runner.invoke(app, ["rules", "check", str(path)])
    assert result.exit_code == 2
    assert "line 3" in result.stderr


def test_a_missing_file_is_an_error(tmp_path):
    result = runner.invoke(app, ["rules", "check", str(tmp_path / "none.toml")])
    assert result.exit_code == 2
    assert "does not exist" in result.stderr
