"""Due dates in mainland China working days, on the days that matter.

Expected dates are worked out by hand from the State Council's published schedules
(2026: Spring Festival off 15–23 February with 14 and 28 February worked; National
Day off 1–7 October with 20 September and 10 October worked), not from the library.
"""

from __future__ import annotations

import datetime as dt

import pytest

from geo.errors import DistrictError
from geo.workdays import HolidaySchedule, WorkingCalendar, due_date
from layers.calendars import load_schedule

CST = dt.timezone(dt.timedelta(hours=8))


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def due(text: str, days: int, calendar: WorkingCalendar | None = None):
    return due_date(at(text), days, calendar or WorkingCalendar())


@pytest.mark.parametrize(
    ("submitted", "days", "expected"),
    [
        # a 2-working-day filing received on a Monday morning is due on Wednesday
        ("2026-06-08T09:00+08:00", 2, "2026-06-10"),
        # after the 17:00 cut-off, counting starts from the next working day
        ("2026-06-08T17:30+08:00", 2, "2026-06-11"),
        ("2026-06-08T16:59+08:00", 2, "2026-06-10"),
        # received on a Saturday: received Monday, due Wednesday
        ("2026-06-13T10:00+08:00", 2, "2026-06-17"),
        # National Day: 1–7 October off, Saturday 10 October worked
        ("2026-09-30T10:00+08:00", 2, "2026-10-09"),
        ("2026-09-30T10:00+08:00", 3, "2026-10-10"),
        # Sunday 20 September 2026 is a make-up working day: received that day
        ("2026-09-20T10:00+08:00", 2, "2026-09-22"),
        # Spring Festival: Saturday 14 February worked, 15–23 off
        ("2026-02-13T10:00+08:00", 2, "2026-02-24"),
        ("2026-02-13T18:00+08:00", 2, "2026-02-25"),
        ("2026-02-16T10:00+08:00", 3, "2026-02-27"),
    ],
)
def test_due_dates_around_the_holidays(submitted, days, expected):
    result = due(submitted, days)
    assert result.due == dt.date.fromisoformat(expected)
    assert not result.provisional


def test_time_is_taken_in_asia_shanghai():
    # 09:30 UTC on Monday is 17:30 in Beijing: after the cut-off
    assert due("2026-06-08T09:30+00:00", 2).due == dt.date(2026, 6, 11)
    # a naive time is read as Beijing time
    assert due("2026-06-08T09:30", 2).due == dt.date(2026, 6, 10)


def test_no_time_limit_gives_no_due_date():
    result = due("2026-06-13T10:00+08:00", 0)
    assert result.due is None
    assert result.received == dt.date(2026, 6, 15)


def test_past_the_published_schedule_the_date_is_provisional():
    # 31 December 2026 is day 1; 1 January 2027 is New Year's Day in any schedule
    result = due("2026-12-30T10:00+08:00", 3)
    assert result.due == dt.date(2027, 1, 5)
    assert result.provisional


def test_within_the_schedule_near_year_end_is_not_provisional():
    result = due("2026-12-28T10:00+08:00", 2)
    assert result.due == dt.date(2026, 12, 30)
    assert not result.provisional


def test_a_loaded_schedule_makes_next_year_exact(tmp_path):
    # a made-up schedule for the test: 1–3 January off, Sunday 3 January worked instead
    path = tmp_path / "cn-2027.toml"
    path.write_text(
        'year = 2027\nsource = "test schedule"\n'
        "holidays = [2027-01-01, 2027-01-04]\nworkdays = [2027-01-03]\n",
        encoding="utf-8",
    )
    calendar = WorkingCalendar([load_schedule(path)])
    result = due("2026-12-30T10:00+08:00", 3, calendar)
    # 31 Dec day 1, 3 Jan (worked Sunday) day 2, 4 Jan off, 5 Jan day 3
    assert result.due == dt.date(2027, 1, 5)
    assert not result.provisional
    assert due("2026-12-30T10:00+08:00", 2, calendar).due == dt.date(2027, 1, 3)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('year = 2027\nsource = "x"\nholidays = [2026-12-31]\n', "other years"),
        (
            'year = 2027\nsource = "x"\nholidays = [2027-01-01]\nworkdays = [2027-01-01]\n',
            "holiday and workday",
        ),
        ("year = 2027\nholidays = []\n", "source"),
        ('year = 2027\nsource = "x"\nholidays = ["soon"]\n', "holidays[0]"),
    ],
)
def test_a_broken_schedule_is_refused_with_the_reason(tmp_path, text, words):
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DistrictError) as caught:
        load_schedule(path)
    assert words in str(caught.value)


def test_schedule_rejects_dates_outside_its_year():
    with pytest.raises(ValueError):
        HolidaySchedule(2027, frozenset({dt.date(2026, 1, 1)}), frozenset(), "x")
