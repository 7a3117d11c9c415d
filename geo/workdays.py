"""Working days in mainland China, and the due date of a track's time limit.

Weekends and the State Council's public holidays are off; the make-up working days it
announces (调休上班日) are on. The schedule for past and current years comes from the
maintained `chinese_calendar` package; a schedule it does not have yet (next year's,
announced each November) can be given as a `HolidaySchedule`, loaded from a small data
file by the district. A date beyond every known schedule is counted provisionally —
weekends and the fixed-date statutory holidays off — and the result says so.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import chinese_calendar

log = logging.getLogger(__name__)

#: Statutory holidays on fixed solar dates (New Year's Day, Labour Day, National Day),
#: off in every year's schedule. Lunar holidays and make-up days cannot be known before
#: the schedule is published.
FIXED_HOLIDAYS = ((1, 1), (5, 1), (5, 2), (10, 1), (10, 2), (10, 3))

#: Longest time limit counted, in working days; a guard against a runaway search.
MAX_WORKING_DAYS = 366


@dataclass(frozen=True)
class HolidaySchedule:
    """One year's official schedule: days off on weekdays and working days on weekends."""

    year: int
    holidays: frozenset[dt.date]
    workdays: frozenset[dt.date]
    source: str

    def __post_init__(self) -> None:
        stray = [d for d in (*self.holidays, *self.workdays) if d.year != self.year]
        if stray:
            raise ValueError(f"schedule {self.year} lists dates of other years: {sorted(stray)}")
        both = self.holidays & self.workdays
        if both:
            raise ValueError(f"schedule {self.year} lists {sorted(both)} as holiday and workday")


class WorkingCalendar:
    """Decides working days from the given schedules, then chinese_calendar, then rule."""

    def __init__(self, schedules: Iterable[HolidaySchedule] = ()):
        self.schedules = {s.year: s for s in schedules}

    def is_workday(self, day: dt.date) -> tuple[bool, bool]:
        """Whether the day is a working day, and whether a published schedule says so."""
        schedule = self.schedules.get(day.year)
        if schedule is not None:
            if day in schedule.workdays:
                return True, True
            if day in schedule.holidays:
                return False, True
            return day.weekday() < 5, True
        try:
            return chinese_calendar.is_workday(day), True
        except NotImplementedError:
            fixed = (day.month, day.day) in FIXED_HOLIDAYS
            return day.weekday() < 5 and not fixed, False

    def next_workday(self, day: dt.date) -> tuple[dt.date, bool]:
        """The first working day after `day`, and whether every day passed was known."""
        known = True
        for _ in range(MAX_WORKING_DAYS):
            day += dt.timedelta(days=1)
            working, day_known = self.is_workday(day)
            known = known and day_known
            if working:
                return day, known
        raise ValueError(f"no working day within {MAX_WORKING_DAYS} days after {day}")


@dataclass(frozen=True)
class Due:
    """When a submission counts as received, and when its time limit runs out."""

    submitted: dt.datetime
    received: dt.date
    due: dt.date | None
    provisional: bool


def due_date(
    submitted: dt.datetime,
    working_days: int | None,
    calendar: WorkingCalendar,
    timezone: str = "Asia/Shanghai",
    cutoff: dt.time = dt.time(17, 0),
) -> Due:
    """Count a time limit in working days from a submission.

    The day of receipt is not counted. A submission on a day off, or after the daily
    cut-off, is received on the next working day. A naive `submitted` is read as local
    time of `timezone`. With no time limit (None or 0) there is no due date.
    """
    zone = ZoneInfo(timezone)
    local = submitted.replace(tzinfo=zone) if submitted.tzinfo is None else submitted
    local = local.astimezone(zone)

    day = local.date()
    working, known = calendar.is_workday(day)
    if not working or local.time() >= cutoff:
        day, passed_known = calendar.next_workday(day)
        known = known and passed_known
    if not working_days:
        return Due(local, day, None, not known)
    if working_days > MAX_WORKING_DAYS:
        raise ValueError(f"time limit of {working_days} working days is beyond reason")

    due = day
    for _ in range(working_days):
        due, passed_known = calendar.next_workday(due)
        known = known and passed_known
    return Due(local, day, due, not known)
