"""Decisions: the procedure track, its reasons and the bureaus for a screened route.

The engine reads a district's `Rules` and nothing else about the district: the base
track comes from the project facts, each exclusion that holds bars tracks and moves
the project to a stricter one, and each bureau item that holds names its bureau.
Every step leaves a reason that names the rule and the clause it comes from.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from geo.errors import FactsError, RulesError
from geo.rules import AttributeTest, ConflictMatch, Rules, Test, When
from geo.screening import Conflict, Screening

Customer = Literal["residential", "small_micro", "other"]


class ProjectFacts(BaseModel):
    """What the applicant declares about the project, as the rules test it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    voltage_kv: float = Field(gt=0, le=1000, description="supply voltage in kV, 0.4 for 400 V")
    customer: Customer = Field(description="customer type")
    three_zero: bool | None = Field(None, description="served under the 三零 scheme")
    capacity_kw: float | None = Field(None, gt=0, description="requested capacity in kW")
    area: Literal["urban", "rural"] | None = Field(None, description="urban or rural supply")
    fells_trees: bool = Field(False, description="the works fell or move trees")
    start_date: dt.date | None = Field(None, description="planned start of the works")


#: Facts a route's GeoJSON properties may carry; other properties are ignored.
FACT_FIELDS = tuple(ProjectFacts.model_fields)


def facts_from(properties: Mapping[str, Any], overrides: Mapping[str, Any]) -> ProjectFacts:
    """Merge facts from route properties with explicit overrides and validate them.

    Raises FactsError naming the first bad fact.
    """
    given = {k: v for k, v in properties.items() if k in FACT_FIELDS}
    given.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return ProjectFacts(**given)
    except ValidationError as exc:
        error = exc.errors()[0]
        name = ".".join(str(p) for p in error["loc"]) or "facts"
        raise FactsError(f"fact {name!r}: {error['msg']}", where=name) from exc


@dataclass(frozen=True)
class Reason:
    rule: str
    clause: str
    text: str
    effect: str
    feature_ids: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "clause": self.clause,
            "text": self.text,
            "effect": self.effect,
            "feature_ids": list(self.feature_ids),
        }


@dataclass(frozen=True)
class DecisionWarning:
    code: str
    text: str

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "text": self.text}


@dataclass
class Decision:
    """The outcome for one route: track, reasons, conflicts, bureaus and warnings."""

    rules: Rules
    track: str
    facts: dict[str, Any]
    screening: Screening
    reasons: list[Reason]
    bureaus: list[dict[str, Any]]
    warnings: list[DecisionWarning] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        track = self.rules.track(self.track)
        return {
            "track": {
                "code": track.code,
                "name": track.name,
                "name_en": track.name_en,
                "time_limit_working_days": track.time_limit_working_days,
                "work_may_start": track.work_may_start,
            },
            "rules": {
                "district": self.rules.identity.district,
                "version": self.rules.identity.version,
                "source": self.rules.identity.source,
            },
            "facts": self.facts,
            "route": {
                "length_m": round(self.screening.length_m, 2),
                "footprint_area_m2": round(self.screening.area_m2, 2),
                "work_width_m": self.screening.work_width_m,
                "tolerance_m": self.screening.tolerance_m,
            },
            "reasons": [r.to_dict() for r in self.reasons],
            "conflicts": [c.to_dict() for c in self.screening.conflicts],
            "bureaus": self.bureaus,
            "warnings": [w.to_dict() for w in self.warnings],
        }


class _Evaluator:
    """Evaluates rule conditions for one project, collecting warnings on unknowns."""

    def __init__(self, facts: dict[str, Any], conflicts: Iterable[Conflict], start: dt.date):
        self.facts = facts
        self.conflicts = tuple(conflicts)
        self.start = start
        self.unknowns: dict[tuple[str, str, bool], set[str]] = {}

    def holds(self, when: When, rule_id: str) -> tuple[bool, tuple[str, ...]]:
        """Whether the condition holds, and the ids of the conflicts that made it hold."""
        for test in when.facts:
            if not self._test(test, self.facts.get(test.fact), rule_id, "project"):
                return False, ()
        if when.conflicts is None:
            return True, ()
        matched = tuple(
            c.feature_id for c in self.conflicts if self._matches(when.conflicts, c, rule_id)
        )
        return bool(matched), matched

    def _matches(self, match: ConflictMatch, conflict: Conflict, rule_id: str) -> bool:
        if match.layers is not None and conflict.layer not in match.layers:
            return False
        if match.kinds is not None and conflict.kind not in match.kinds:
            return False
        return all(self._attribute(t, conflict, rule_id) for t in match.where)

    def _attribute(self, test: AttributeTest, conflict: Conflict, rule_id: str) -> bool:
        value = conflict.attributes.get(test.attribute)
        return self._test(test, value, rule_id, conflict.feature_id)

    def _test(self, test: Test, value: Any, rule_id: str, subject: str) -> bool:
        if value is None:
            if test.unknown_warning:
                key = (test.unknown_warning, rule_id, test.if_unknown)
                self.unknowns.setdefault(key, set()).add(subject)
            return test.if_unknown
        return _compare(test.op, value, test.value, self.start)


def _compare(op: str, value: Any, expected: Any, start: dt.date) -> bool:
    if op == "within_years":
        return _as_date(value) > _years_before(start, expected)
    if op == "eq":
        return value == expected
    if op == "ne":
        return value != expected
    if op == "in":
        return value in expected
    if op == "not_in":
        return value not in expected
    if op == "lt":
        return value < expected
    if op == "le":
        return value <= expected
    if op == "gt":
        return value > expected
    if op == "ge":
        return value >= expected
    raise RulesError(f"unknown operator {op!r}")


def _years_before(day: dt.date, years: float) -> dt.date:
    """The date `years` calendar years before `day` (29 February falls back to the 28th)."""
    if float(years).is_integer():
        year = day.year - int(years)
        try:
            return day.replace(year=year)
        except ValueError:
            return day.replace(year=year, day=28)
    return day - dt.timedelta(days=round(365.25 * years))


def _as_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError as exc:
        raise RulesError(f"attribute value {value!r} is not a date") from exc


def decide(screening: Screening, facts: ProjectFacts, rules: Rules, today: dt.date) -> Decision:
    """Decide the track, reasons and bureaus for a screened route under the rules."""
    resolved, warnings = _resolve_facts(facts, rules, today)
    evaluator = _Evaluator(resolved, screening.conflicts, resolved["start_date"])

    base, reasons = _base_track(evaluator, rules)
    track, bar_reasons = _apply_exclusions(evaluator, rules, base)
    bureaus = _bureaus(evaluator, rules, track)

    warnings.extend(_unknown_warnings(evaluator))
    return Decision(
        rules=rules,
        track=track,
        facts={k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in resolved.items()},
        screening=screening,
        reasons=reasons + bar_reasons,
        bureaus=bureaus,
        warnings=warnings,
    )


def _resolve_facts(facts: ProjectFacts, rules: Rules, today: dt.date):
    """Fill in the facts the rules need: the 三零 flag, the area and the start date."""
    resolved = facts.model_dump()
    warnings: list[DecisionWarning] = []
    resolved["start_date"] = facts.start_date or today
    if facts.start_date is None:
        text = f"no planned start date given; dates are judged as of {today.isoformat()}"
        warnings.append(DecisionWarning("START_DATE_ASSUMED", text))

    if facts.three_zero is not None:
        resolved["three_zero_source"] = "declared"
        return resolved, warnings

    scheme = rules.three_zero
    area = facts.area or scheme.default_area
    eligible_customer = facts.customer in scheme.customers
    low_voltage = facts.voltage_kv <= scheme.max_voltage_kv
    if facts.capacity_kw is not None:
        within = facts.capacity_kw <= scheme.capacity_kw[area]
        note = f"{facts.capacity_kw:g} kW against {scheme.capacity_kw[area]:g} kW ({area})"
    else:
        within = scheme.unknown_capacity == "eligible"
        note = f"no capacity given, taken as {scheme.unknown_capacity.replace('_', ' ')}"
        if eligible_customer and low_voltage:
            text = f"三零 eligibility: {note}; give capacity_kw or three_zero to decide it"
            warnings.append(DecisionWarning("CAPACITY_UNKNOWN", text))
    resolved["three_zero"] = eligible_customer and low_voltage and within
    resolved["three_zero_source"] = f"derived ({scheme.clause}): customer {facts.customer}, "
    resolved["three_zero_source"] += f"{facts.voltage_kv:g} kV, {note}"
    if facts.area is None and facts.capacity_kw is not None:
        warnings.append(DecisionWarning("AREA_ASSUMED", f"supply area not given; taken as {area}"))
    return resolved, warnings


def _base_track(evaluator: _Evaluator, rules: Rules) -> tuple[str, list[Reason]]:
    for rule in rules.eligibility:
        holds, _ = evaluator.holds(rule.when, rule.id)
        if holds:
            return rule.track, [Reason(rule.id, rule.clause, rule.text, "sets_track")]
    raise RulesError(
        f"no eligibility rule of {rules.identity.district} {rules.identity.version} covers "
        f"these facts (voltage {evaluator.facts['voltage_kv']} kV, "
        f"customer {evaluator.facts['customer']})",
        code="NO_TRACK",
    )


def _apply_exclusions(evaluator: _Evaluator, rules: Rules, base: str):
    """Move the project to a stricter track for every exclusion that bars its track."""
    matched = []
    for rule in rules.exclusions:
        holds, feature_ids = evaluator.holds(rule.when, rule.id)
        if holds:
            matched.append((rule, feature_ids))

    track, passed = base, {base}
    changed = True
    while changed:
        changed = False
        for rule, _ in matched:
            if track in rule.bars and rules.rank(rule.to) > rules.rank(track):
                track = rule.to
                passed.add(track)
                changed = True
    passed.discard(track)

    reasons = [
        Reason(
            rule.id,
            rule.clause,
            rule.text,
            "bars" if passed.intersection(rule.bars) else "also_applies",
            feature_ids,
        )
        for rule, feature_ids in matched
    ]
    return track, reasons


def _bureaus(evaluator: _Evaluator, rules: Rules, track: str) -> list[dict[str, Any]]:
    """Group the items that hold on this track under their bureaus, in the rules' order."""
    found: dict[str, list[dict[str, Any]]] = {}
    for item in rules.items:
        if item.tracks is not None and track not in item.tracks:
            continue
        holds, feature_ids = evaluator.holds(item.when, item.id)
        if holds:
            found.setdefault(item.bureau, []).append(
                {
                    "id": item.id,
                    "name": item.name,
                    "name_en": item.name_en,
                    "clause": item.clause,
                    "feature_ids": list(feature_ids),
                }
            )

    default_role = rules.track(track).bureau_role
    return [
        {
            "code": bureau.code,
            "name": bureau.name,
            "name_en": bureau.name_en,
            "role": bureau.role or default_role,
            "lead": track in bureau.lead_for,
            "items": found[bureau.code],
        }
        for bureau in rules.bureaus
        if bureau.code in found
    ]


def _unknown_warnings(evaluator: _Evaluator) -> list[DecisionWarning]:
    warnings = []
    for (code, rule_id, assumed), subjects in sorted(evaluator.unknowns.items()):
        listed = ", ".join(sorted(subjects)[:5])
        more = f" and {len(subjects) - 5} more" if len(subjects) > 5 else ""
        outcome = "holding" if assumed else "not holding"
        text = (
            f"rule {rule_id} was not checked for {listed}{more}: the value it tests is "
            f"unknown, and the rules take it as {outcome}"
        )
        warnings.append(DecisionWarning(code, text))
    return warnings
