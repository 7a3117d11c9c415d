"""Holiday schedules from data files, for years the calendar package does not know yet.

The State Council publishes next year's holiday schedule each November. A district can
load it the day it is announced, from a small TOML file, without a new release:

    year = 2027
    source = "国务院办公厅关于2027年部分节假日安排的通知"
    holidays = [2027-01-01, …]   # days off that would otherwise be working days
    workdays = [2027-02-06, …]   # make-up working days (调休上班日) on weekends

Dates are TOML dates. A file for a year the package already knows replaces its data.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from geo.errors import DistrictError
from geo.workdays import HolidaySchedule
from layers.rulefile import problems


class ScheduleFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    year: int = Field(ge=2000, le=2100)
    source: str = Field(min_length=1)
    holidays: list[dt.date]
    workdays: list[dt.date] = []


def load_schedule(path: Path | str) -> HolidaySchedule:
    """Read one year's holiday schedule; raise DistrictError naming what is wrong."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        parsed = ScheduleFile.model_validate(data)
        return HolidaySchedule(
            parsed.year, frozenset(parsed.holidays), frozenset(parsed.workdays), parsed.source
        )
    except FileNotFoundError as exc:
        raise DistrictError(f"holiday schedule {path} does not exist") from exc
    except tomllib.TOMLDecodeError as exc:
        raise DistrictError(f"holiday schedule {path} is not valid TOML: {exc}") from exc
    except ValidationError as exc:
        raise DistrictError(f"holiday schedule {path} is invalid:\n{problems(exc)}") from exc
    except ValueError as exc:
        raise DistrictError(f"holiday schedule {path}: {exc}") from exc
