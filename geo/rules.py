"""District rules as data: the schema a rule file must follow, validated on load.

A district's rules name its procedure tracks (from least to most strict), the facts
that put a project on a track, the measures taken from a screening, the exclusions
that bar a track when the route meets certain features or a measure passes a
threshold, and the bureau items each conflict or fact involves. The engine in
`geo.decision` reads only this model, so a district with other tracks, thresholds or
bureaus needs a new rule file and no new code.

Every model forbids unknown keys, so a misspelt key fails the load instead of being
ignored, and cross-references (tracks, bureaus, measures, facts) are checked before
any rule is used: a broken file never loads half-way.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

#: Project facts a rule may test; `geo.decision.ProjectFacts` defines their meaning.
FACT_NAMES = ("voltage_kv", "customer", "three_zero", "capacity_kw", "area", "fells_trees")

#: Customer types and supply areas a project may declare.
CUSTOMERS = ("residential", "small_micro", "other")
AREAS = ("urban", "rural")

#: What a value tested against each fact must be: a kind of value, or the values allowed.
FACT_VALUES: dict[str, str | tuple[str, ...]] = {
    "voltage_kv": "number",
    "capacity_kw": "number",
    "customer": CUSTOMERS,
    "area": AREAS,
    "three_zero": "boolean",
    "fells_trees": "boolean",
}

#: Comparisons a test may make. `within_years` holds for a date less than `value`
#: calendar years before the project's planned start (or after it).
Operator = Literal["eq", "ne", "lt", "le", "gt", "ge", "in", "not_in", "within_years"]

#: Operators that compare against a number, and so have a threshold to warn near.
THRESHOLD_OPERATORS = ("lt", "le", "gt", "ge")

#: What a bureau does with a project on a track.
Role = Literal["approve", "register", "supervise", "notify"]

#: What a measure adds up over the conflicts it selects.
Quantity = Literal["length_m", "area_m2", "count"]

#: Symbols for operators in messages.
OPERATOR_SYMBOLS = {"eq": "=", "ne": "≠", "lt": "<", "le": "≤", "gt": ">", "ge": "≥"}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Test(Strict):
    """A comparison of one value against the rule's value."""

    op: Operator
    value: Any

    @model_validator(mode="after")
    def _value_fits_operator(self) -> Test:
        if self.op in ("in", "not_in") and not isinstance(self.value, list):
            raise ValueError(f"operator {self.op!r} needs a list value")
        if self.op in (*THRESHOLD_OPERATORS, "within_years") and not _is_number(self.value):
            raise ValueError(f"operator {self.op!r} needs a number value")
        return self

    def describe(self) -> str:
        symbol = OPERATOR_SYMBOLS.get(self.op, self.op.replace("_", " "))
        return f"{symbol} {self.value}"


class FactTest(Test):
    """A test on a project fact; an optional fact left unknown takes `if_unknown`."""

    fact: Literal[FACT_NAMES]  # type: ignore[valid-type]
    if_unknown: bool = False

    @model_validator(mode="after")
    def _value_fits_fact(self) -> FactTest:
        """A value the fact can never take would make the test silently never hold."""
        expected = FACT_VALUES[self.fact]
        values = self.value if isinstance(self.value, list) else [self.value]
        for value in values:
            if expected == "number" and not _is_number(value):
                raise ValueError(f"{self.fact} is a number, not {value!r}")
            if expected == "boolean" and not isinstance(value, bool):
                raise ValueError(f"{self.fact} is true or false, not {value!r}")
            if isinstance(expected, tuple) and value not in expected:
                raise ValueError(f"{self.fact} is one of {list(expected)}, not {value!r}")
        return self


class AttributeTest(Test):
    """A test on a feature attribute.

    A layer may not know an attribute for every feature (OSM has no road handover
    dates). The file must say what an unknown value means — `if_unknown` has no
    default — and every decision that relied on it carries the `unknown_warning`.
    """

    attribute: str = Field(min_length=1)
    if_unknown: bool
    unknown_warning: str = Field("ATTRIBUTE_UNKNOWN", pattern=r"^[A-Z][A-Z0-9_]*$")


class MeasureTest(Test):
    """A threshold on a named measure of the screening, e.g. road length ≤ 100 m."""

    measure: str


class ConflictMatch(Strict):
    """Which conflicts a rule is about: by layer, by kind, and by feature attributes."""

    layers: list[str] | None = None
    kinds: list[str] | None = None
    where: list[AttributeTest] = []

    @model_validator(mode="after")
    def _not_everything(self) -> ConflictMatch:
        if self.layers is None and self.kinds is None and not self.where:
            raise ValueError("a conflict match needs layers, kinds or where")
        return self


class When(Strict):
    """All fact and measure tests hold and, if `conflicts` is given, a conflict matches."""

    facts: list[FactTest] = []
    measures: list[MeasureTest] = []
    conflicts: ConflictMatch | None = None


class Identity(Strict):
    district: str = Field(min_length=1)
    name: str
    version: str = Field(min_length=1)
    effective_from: dt.date
    source: str
    source_clauses: str | None = None
    notes: str | None = None


class Track(Strict):
    """A procedure track.

    A time limit of 0 means the track has none; leaving it out means the source does
    not state one, and every decision on the track warns so.
    """

    code: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str
    name_en: str
    time_limit_working_days: int | None = Field(None, ge=0)
    work_may_start: str
    bureau_role: Role


class Measure(Strict):
    """A named quantity of the screening.

    `length_m` is the route centreline inside the union of the selected conflicts'
    zones, `area_m2` the route footprint inside that union (overlapping features are
    counted once), `count` the number of selected conflicts. With no `conflicts`
    selection, length and area are the whole route's.
    """

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    text: str
    quantity: Quantity
    conflicts: ConflictMatch | None = None


class Eligibility(Strict):
    """Puts a project on a track by its facts; the first rule that holds wins."""

    id: str
    clause: str
    text: str
    track: str
    when: When


class Exclusion(Strict):
    """Bars the listed tracks when it holds, sending the project to `to` instead."""

    id: str
    clause: str
    text: str
    bars: list[str] = Field(min_length=1)
    to: str
    when: When


class Bureau(Strict):
    """A bureau; its role on a track is `roles[track]`, else the track's bureau role."""

    code: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str
    name_en: str
    roles: dict[str, Role] = {}
    lead_for: list[str] = []


class Item(Strict):
    """A permit or procedure item a bureau handles when its condition holds."""

    id: str
    bureau: str
    name: str
    name_en: str
    clause: str
    when: When = When()
    tracks: list[str] | None = None


class ThreeZero(Strict):
    """Who the "三零" scheme serves when the applicant gives no explicit flag."""

    customers: list[str]
    max_voltage_kv: float = Field(gt=0)
    capacity_kw: dict[Literal["urban", "rural"], float]
    default_area: Literal["urban", "rural"] = "urban"
    unknown_capacity: Literal["eligible", "not_eligible"] = "not_eligible"
    clause: str


class Deadlines(Strict):
    """How a track's time limit becomes a due date."""

    timezone: str = "Asia/Shanghai"
    #: Submissions after this local time count from the next working day.
    cutoff: dt.time = dt.time(17, 0)


class Settings(Strict):
    #: Extra metres added to a tree's crown radius for its protection zone, by kind.
    protection_margins_m: dict[str, float] = {}
    #: A measure within this fraction of a threshold that tested it draws a warning.
    near_threshold_fraction: float = Field(0.05, ge=0, le=1)
    #: Days a decision holds from its receipt; after that it is stale and must be
    #: screened again. Left out: the rules set no limit.
    decision_valid_days: int | None = Field(None, gt=0)


class Rules(Strict):
    identity: Identity
    settings: Settings = Settings()
    deadlines: Deadlines = Deadlines()
    three_zero: ThreeZero | None = None
    tracks: list[Track] = Field(min_length=1)
    measures: list[Measure] = []
    eligibility: list[Eligibility] = Field(min_length=1)
    exclusions: list[Exclusion] = []
    bureaus: list[Bureau] = []
    items: list[Item] = []

    @model_validator(mode="after")
    def _references_resolve(self) -> Rules:
        """Check every cross-reference, and report all that fail, each with its place."""
        problems = _Problems()
        tracks = [t.code for t in self.tracks]
        bureaus = [b.code for b in self.bureaus]
        measures = [m.id for m in self.measures]
        problems.unique("tracks", "code", tracks)
        problems.unique("bureaus", "code", bureaus)
        problems.unique("measures", "id", measures)
        for table in ("eligibility", "exclusions", "items"):
            problems.unique(table, "id", [r.id for r in getattr(self, table)])

        for i, rule in enumerate(self.eligibility):
            problems.known(f"eligibility[{i}].track", [rule.track], tracks)
            if rule.when.conflicts is not None or rule.when.measures:
                problems.add(f"eligibility[{i}].when", "eligibility may test facts only")
        for table in ("exclusions", "items"):
            for i, rule in enumerate(getattr(self, table)):
                tested = [t.measure for t in rule.when.measures]
                problems.known(f"{table}[{i}].when.measures", tested, measures)
        for i, rule in enumerate(self.exclusions):
            problems.known(f"exclusions[{i}].bars", rule.bars, tracks)
            problems.known(f"exclusions[{i}].to", [rule.to], tracks)
            if rule.to in tracks and any(
                b in tracks and tracks.index(b) >= tracks.index(rule.to) for b in rule.bars
            ):
                problems.add(f"exclusions[{i}].to", "must be stricter than every barred track")
        for i, item in enumerate(self.items):
            problems.known(f"items[{i}].bureau", [item.bureau], bureaus)
            problems.known(f"items[{i}].tracks", item.tracks or [], tracks)
        for i, bureau in enumerate(self.bureaus):
            problems.known(f"bureaus[{i}].lead_for", bureau.lead_for, tracks)
            problems.known(f"bureaus[{i}].roles", list(bureau.roles), tracks)
        problems.raise_any()
        return self

    def track(self, code: str) -> Track:
        return next(t for t in self.tracks if t.code == code)

    def rank(self, code: str) -> int:
        """Position of a track from least (0) to most strict."""
        return [t.code for t in self.tracks].index(code)

    def bureau(self, code: str) -> Bureau:
        return next(b for b in self.bureaus if b.code == code)

    def conflict_matches(self) -> list[ConflictMatch]:
        """Every conflict selection in the file, for checking against a catalogue."""
        whens = [r.when for r in [*self.exclusions, *self.items]]
        matches = [w.conflicts for w in whens if w.conflicts is not None]
        return matches + [m.conflicts for m in self.measures if m.conflicts is not None]

    def attribute_names(self) -> set[str]:
        """Every feature attribute a rule tests, for checking against the layers."""
        return {t.attribute for match in self.conflict_matches() for t in match.where}


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class _Problems:
    """Collects cross-reference problems so a file's author sees all of them at once."""

    def __init__(self) -> None:
        self.found: list[str] = []

    def add(self, where: str, message: str) -> None:
        self.found.append(f"{where}: {message}")

    def unique(self, table: str, key: str, values: list[str]) -> None:
        seen: set[str] = set()
        for index, value in enumerate(values):
            if value in seen:
                self.add(f"{table}[{index}].{key}", f"duplicate {value!r}")
            seen.add(value)

    def known(self, where: str, values: list[str], known: list[str]) -> None:
        unknown = [v for v in values if v not in known]
        if unknown:
            self.add(where, f"names unknown {unknown}; known: {sorted(known)}")

    def raise_any(self) -> None:
        if self.found:
            raise ValueError("\n".join(self.found))
