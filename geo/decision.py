"""Decisions: the procedure track, its reasons, bureaus and due date for a screened route.

The engine reads a district's `Rules` and nothing else about the district: the base
track comes from the project facts, each exclusion that holds bars tracks and moves
the project to a stricter one, and each bureau item that holds names its bureau.
Every step leaves a reason that names the rule and the clause it comes from, and every
assumption the decision rests on leaves a warning.
"""

from __future__ import annotations

import datetime as dt
import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, Strict, StrictBool, ValidationError

from geo.conditions import Evaluator
from geo.errors import FactsError, NoTrackError
from geo.notices import DecisionWarning
from geo.rules import AREAS, CUSTOMERS, Rules
from geo.screening import Screening
from geo.workdays import Due, WorkingCalendar, due_date

Customer = Literal[CUSTOMERS]  # type: ignore[valid-type]
Area = Literal[AREAS]  # type: ignore[valid-type]


#: A number given as a number: not a boolean, not a string, not NaN or infinite.
Number = Annotated[float, Strict(), Field(allow_inf_nan=False)]


class ProjectFacts(BaseModel):
    """What the applicant declares about the project, as the rules test it.

    Types are strict: `true` is not a voltage and `"yes"` is not a flag, since a fact
    coerced into something the applicant did not say can lighten the track.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    voltage_kv: Number = Field(gt=0, le=1000, description="supply voltage in kV, 0.4 for 400 V")
    customer: Customer = Field(description="customer type")
    three_zero: StrictBool | None = Field(None, description="served under the 三零 scheme")
    capacity_kw: Number | None = Field(None, gt=0, description="requested capacity in kW")
    area: Area | None = Field(None, description="urban or rural supply")
    fells_trees: StrictBool = Field(False, description="the works fell or move trees")
    start_date: dt.date | None = Field(None, description="planned start of the works")


#: Years a submission may fall in: a due date is counted in working days from it, and a
#: date near the ends of Python's calendar would overflow on the way.
SUBMITTED_YEARS = (1900, 2999)

#: Facts a route's GeoJSON properties may carry; other properties are ignored.
FACT_FIELDS = tuple(ProjectFacts.model_fields)


def facts_from(properties: Mapping[str, Any], overrides: Mapping[str, Any]) -> ProjectFacts:
    """Merge facts from route properties with explicit overrides and validate them.

    A property whose name is close to a fact's but not it ("fells_tree") is refused:
    ignoring it would decide the project without the fact its sender meant to give.
    Raises FactsError naming the first bad fact.
    """
    for name in properties:
        if name in FACT_FIELDS:
            continue
        near = difflib.get_close_matches(str(name), FACT_FIELDS, n=1, cutoff=0.8)
        if near:
            raise FactsError(
                f"property {name!r} is not a project fact; did you mean {near[0]!r}?",
                code="UNKNOWN_FACT",
                where=str(name),
            )
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


@dataclass
class Decision:
    """The outcome for one route: track, reasons, conflicts, bureaus and warnings."""

    rules: Rules
    track: str
    due: Due
    facts: dict[str, Any]
    screening: Screening
    measures: dict[str, float]
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
                "submitted": self.due.submitted.isoformat(),
                "received": self.due.received.isoformat(),
                "due": self.due.due.isoformat() if self.due.due else None,
                "due_provisional": self.due.provisional and self.due.due is not None,
            },
            "valid_until": self._valid_until(),
            "rules": {
                "district": self.rules.identity.district,
                "name": self.rules.identity.name,
                "version": self.rules.identity.version,
                "effective_from": self.rules.identity.effective_from.isoformat(),
                "source": self.rules.identity.source,
            },
            "facts": self.facts,
            "route": {
                "length_m": round(self.screening.length_m, 2),
                "footprint_area_m2": round(self.screening.area_m2, 2),
                "work_width_m": self.screening.work_width_m,
                "tolerance_m": self.screening.tolerance_m,
            },
            "measures": self._measures(),
            "reasons": [r.to_dict() for r in self.reasons],
            "conflicts": [c.to_dict() for c in self.screening.conflicts],
            "bureaus": self.bureaus,
            "warnings": [w.to_dict() for w in self.warnings],
        }

    def _valid_until(self) -> str | None:
        days = self.rules.settings.decision_valid_days
        if days is None:
            return None
        return (self.due.received + dt.timedelta(days=days)).isoformat()

    def _measures(self) -> dict[str, dict[str, Any]]:
        specs = {m.id: m for m in self.rules.measures}
        return {
            key: {"value": round(value, 2), "quantity": specs[key].quantity,
                  "text": specs[key].text}
            for key, value in self.measures.items()
        }  # fmt: skip


def decide(
    screening: Screening,
    facts: ProjectFacts,
    rules: Rules,
    submitted: dt.datetime,
    calendar: WorkingCalendar | None = None,
) -> Decision:
    """Decide the track, reasons, bureaus and due date of a screened route."""
    if not SUBMITTED_YEARS[0] <= submitted.year <= SUBMITTED_YEARS[1]:
        raise FactsError(
            f"submitted {submitted.isoformat()} is outside the years "
            f"{SUBMITTED_YEARS[0]}–{SUBMITTED_YEARS[1]} a due date is counted in",
            code="SUBMITTED_OUT_OF_RANGE",
            where="submitted",
        )
    calendar = calendar or WorkingCalendar()
    local_day = _local(submitted, rules).date()
    resolved, warnings = _resolve_facts(facts, rules, local_day)
    evaluator = Evaluator(rules, resolved, screening)

    base, reasons = _base_track(evaluator, rules)
    track, bar_reasons = _apply_exclusions(evaluator, rules, base)
    bureaus = _bureaus(evaluator, rules, track)
    limit = rules.track(track).time_limit_working_days
    due = due_date(submitted, limit, calendar, rules.deadlines.timezone, rules.deadlines.cutoff)

    warnings += _deadline_warnings(rules, track, due)
    warnings += _unknown_warnings(evaluator)
    warnings += _near_warnings(evaluator)
    return Decision(
        rules=rules,
        track=track,
        due=due,
        facts={k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in resolved.items()},
        screening=screening,
        measures=evaluator.all_measures(),
        reasons=reasons + bar_reasons,
        bureaus=bureaus,
        warnings=warnings,
    )


def _local(moment: dt.datetime, rules: Rules) -> dt.datetime:
    zone = ZoneInfo(rules.deadlines.timezone)
    return moment.replace(tzinfo=zone) if moment.tzinfo is None else moment.astimezone(zone)


def _resolve_facts(facts: ProjectFacts, rules: Rules, today: dt.date):
    """Fill in the facts the rules need: the 三零 flag, the area and the start date."""
    resolved = facts.model_dump()
    warnings: list[DecisionWarning] = []
    resolved["start_date"] = facts.start_date or today
    if facts.start_date is None:
        text = f"no planned start date given; dates are judged as of {today.isoformat()}"
        warnings.append(DecisionWarning("START_DATE_ASSUMED", text))

    scheme = rules.three_zero
    if facts.three_zero is not None:
        resolved["three_zero_source"] = "declared"
        contradiction = _three_zero_contradiction(facts, scheme)
        if facts.three_zero and contradiction:
            resolved["three_zero"] = False
            resolved["three_zero_source"] = f"declared, but {contradiction}"
            text = f"三零 was declared, but {contradiction}; the project is taken as not 三零"
            warnings.append(DecisionWarning("THREE_ZERO_CONTRADICTED", text))
        return resolved, warnings
    if scheme is None:
        resolved["three_zero_source"] = "not used by these rules"
        return resolved, warnings

    area = facts.area or scheme.default_area
    eligible_customer = facts.customer in scheme.customers
    low_voltage = facts.voltage_kv <= scheme.max_voltage_kv
    if facts.capacity_kw is not None:
        within = facts.capacity_kw <= scheme.capacity_kw[area]
        note = f"{facts.capacity_kw:g} kW against {scheme.capacity_kw[area]:g} kW ({area})"
        if facts.area is None:
            text = f"supply area not given; taken as {area} for the 三零 capacity cap"
            warnings.append(DecisionWarning("AREA_ASSUMED", text))
    else:
        within = scheme.unknown_capacity == "eligible"
        note = f"no capacity given, taken as {scheme.unknown_capacity.replace('_', ' ')}"
        if eligible_customer and low_voltage:
            text = f"三零 eligibility: {note}; give capacity_kw or three_zero to decide it"
            warnings.append(DecisionWarning("CAPACITY_UNKNOWN", text))
    resolved["three_zero"] = eligible_customer and low_voltage and within
    resolved["three_zero_source"] = (
        f"derived ({scheme.clause}): customer {facts.customer}, {facts.voltage_kv:g} kV, {note}"
    )
    return resolved, warnings


def _three_zero_contradiction(facts: ProjectFacts, scheme) -> str | None:
    """What in the facts rules out the 三零 scheme, if anything does."""
    if scheme is None:
        return None
    if facts.customer not in scheme.customers:
        return f"customer type {facts.customer} is not served by it ({scheme.clause})"
    if facts.voltage_kv > scheme.max_voltage_kv:
        return f"{facts.voltage_kv:g} kV is above its {scheme.max_voltage_kv:g} kV"
    if facts.capacity_kw is not None:
        cap = scheme.capacity_kw[facts.area or scheme.default_area]
        if facts.capacity_kw > cap:
            return f"{facts.capacity_kw:g} kW is above its {cap:g} kW cap"
    return None


def _base_track(evaluator: Evaluator, rules: Rules) -> tuple[str, list[Reason]]:
    for rule in rules.eligibility:
        holds, _ = evaluator.holds(rule.when, rule.id)
        if holds:
            return rule.track, [Reason(rule.id, rule.clause, rule.text, "sets_track")]
    raise NoTrackError(
        f"no eligibility rule of {rules.identity.district} {rules.identity.version} covers "
        f"these facts (voltage {evaluator.facts['voltage_kv']:g} kV, "
        f"customer {evaluator.facts['customer']}); the district's rules do not say which "
        "track such a project takes",
        where="voltage_kv",
    )


def _apply_exclusions(evaluator: Evaluator, rules: Rules, base: str):
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


def _bureaus(evaluator: Evaluator, rules: Rules, track: str) -> list[dict[str, Any]]:
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
            "role": bureau.roles.get(track, default_role),
            "lead": track in bureau.lead_for,
            "items": found[bureau.code],
        }
        for bureau in rules.bureaus
        if bureau.code in found
    ]


def _deadline_warnings(rules: Rules, track: str, due: Due) -> list[DecisionWarning]:
    warnings = []
    if rules.track(track).time_limit_working_days is None:
        text = f"the rules of {rules.identity.district} state no time limit for track {track}"
        warnings.append(DecisionWarning("TIME_LIMIT_NOT_STATED", text))
    if due.provisional and due.due is not None:
        text = (
            "the working-day count runs past the last published holiday schedule; the due "
            "date is provisional (weekends and fixed-date holidays only) until the schedule "
            "for that year is loaded"
        )
        warnings.append(DecisionWarning("DUE_DATE_PROVISIONAL", text))
    return warnings


def _unknown_warnings(evaluator: Evaluator) -> list[DecisionWarning]:
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


def _near_warnings(evaluator: Evaluator) -> list[DecisionWarning]:
    fraction = evaluator.rules.settings.near_threshold_fraction
    seen, warnings = set(), []
    for near in evaluator.near:
        key = (near.rule, near.measure.id)
        if key in seen:
            continue
        seen.add(key)
        text = (
            f"{near.measure.id} ({near.measure.text}) is {near.value:,.2f}, within "
            f"{fraction:.0%} of the threshold {near.test.describe()} of rule {near.rule}; "
            "check the drawing before relying on the track"
        )
        warnings.append(DecisionWarning("NEAR_THRESHOLD", text))
    return warnings
