"""Evaluating rule conditions on one project: its facts, conflicts and measures.

An evaluator is made per decision. Besides answering whether a condition holds, it
remembers every test that met an unknown value and every measure that sat close to a
threshold it was tested against, so the decision can warn about both.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from geo.errors import RulesError
from geo.measures import measure
from geo.rules import THRESHOLD_OPERATORS, ConflictMatch, Measure, MeasureTest, Rules, Test, When
from geo.screening import Conflict, Screening


@dataclass(frozen=True)
class NearThreshold:
    rule: str
    measure: Measure
    value: float
    test: MeasureTest


class Evaluator:
    """Evaluates the conditions of one district's rules for one screened project."""

    def __init__(self, rules: Rules, facts: dict[str, Any], screening: Screening):
        self.rules = rules
        self.facts = facts
        self.screening = screening
        self.start: dt.date = facts["start_date"]
        self.unknowns: dict[tuple[str, str, bool], set[str]] = {}
        self.near: list[NearThreshold] = []
        self._measures: dict[str, float] = {}
        self._by_kind: dict[tuple[str, str], list[Conflict]] = {}
        for conflict in screening.conflicts:
            self._by_kind.setdefault((conflict.layer, conflict.kind), []).append(conflict)
        self._pools: dict[int, list[Conflict]] = {}

    def holds(self, when: When, rule_id: str) -> tuple[bool, tuple[str, ...]]:
        """Whether the condition holds, and the ids of the conflicts that made it hold."""
        for test in when.facts:
            value = self.facts.get(test.fact)
            if not self._test(test, value, rule_id, "the project", test.if_unknown, "FACT_UNKNOWN"):
                return False, ()
        for test in when.measures:
            if not self._measure_test(test, rule_id):
                return False, ()
        if when.conflicts is None:
            return True, ()
        matched = tuple(c.feature_id for c in self.select(when.conflicts, rule_id))
        return bool(matched), matched

    def select(self, match: ConflictMatch, rule_id: str) -> list[Conflict]:
        """The conflicts a selection picks, in screening order."""
        return [c for c in self._pool(match) if self._passes(match, c, rule_id)]

    def _pool(self, match: ConflictMatch) -> list[Conflict]:
        """The conflicts of the match's layers and kinds, in screening order.

        Rules select by layer and kind far more often than by attribute, and a route
        has few (layer, kind) pairs, so this is worked out once per match and decision.
        """
        key = id(match)
        if key not in self._pools:
            if match.layers is None and match.kinds is None:
                pool = list(self.screening.conflicts)
            else:
                chosen = {
                    pair for pair in self._by_kind
                    if (match.layers is None or pair[0] in match.layers)
                    and (match.kinds is None or pair[1] in match.kinds)
                }  # fmt: skip
                pool = [c for c in self.screening.conflicts if (c.layer, c.kind) in chosen]
            self._pools[key] = pool
        return self._pools[key]

    def measure(self, measure_id: str) -> float:
        """A measure's value for this screening, computed once."""
        if measure_id not in self._measures:
            spec = next(m for m in self.rules.measures if m.id == measure_id)
            chosen = None if spec.conflicts is None else self.select(spec.conflicts, spec.id)
            self._measures[measure_id] = measure(self.screening, spec.quantity, chosen)
        return self._measures[measure_id]

    def all_measures(self) -> dict[str, float]:
        return {m.id: self.measure(m.id) for m in self.rules.measures}

    def _passes(self, match: ConflictMatch, conflict: Conflict, rule_id: str) -> bool:
        """Whether a conflict of the match's layers and kinds passes its attribute tests."""
        return all(
            self._test(
                test,
                conflict.attributes.get(test.attribute),
                rule_id,
                conflict.feature_id,
                test.if_unknown,
                test.unknown_warning,
            )
            for test in match.where
        )

    def _measure_test(self, test: MeasureTest, rule_id: str) -> bool:
        value = self.measure(test.measure)
        if test.op in THRESHOLD_OPERATORS:
            margin = self.rules.settings.near_threshold_fraction * abs(float(test.value))
            if abs(value - float(test.value)) <= margin:
                spec = next(m for m in self.rules.measures if m.id == test.measure)
                self.near.append(NearThreshold(rule_id, spec, value, test))
        return compare(test.op, value, test.value, self.start)

    def _test(
        self,
        test: Test,
        value: Any,
        rule_id: str,
        subject: str,
        if_unknown: bool,
        warning: str,
    ) -> bool:
        if value is None:
            self.unknowns.setdefault((warning, rule_id, if_unknown), set()).add(subject)
            return if_unknown
        try:
            return compare(test.op, value, test.value, self.start)
        except RulesError as exc:
            raise RulesError(f"rule {rule_id} on {subject}: {exc.message}") from exc


def compare(op: str, value: Any, expected: Any, start: dt.date) -> bool:
    """Apply a rule operator; `within_years` measures back from the planned start."""
    if op == "within_years":
        return as_date(value) > years_before(start, expected)
    if op == "eq":
        return value == expected
    if op == "ne":
        return value != expected
    if op == "in":
        return value in expected
    if op == "not_in":
        return value not in expected
    try:
        if op == "lt":
            return value < expected
        if op == "le":
            return value <= expected
        if op == "gt":
            return value > expected
        if op == "ge":
            return value >= expected
    except TypeError as exc:
        raise RulesError(f"cannot compare {value!r} {op} {expected!r}") from exc
    raise RulesError(f"unknown operator {op!r}")


def years_before(day: dt.date, years: float) -> dt.date:
    """The date `years` calendar years before `day` (29 February falls back to the 28th)."""
    if float(years).is_integer():
        year = day.year - int(years)
        try:
            return day.replace(year=year)
        except ValueError:
            return day.replace(year=year, day=28)
    return day - dt.timedelta(days=round(365.25 * years))


def as_date(value: Any) -> dt.date:
    """A date from a date, a datetime or an ISO string."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError as exc:
        raise RulesError(f"attribute value {value!r} is not a date") from exc
