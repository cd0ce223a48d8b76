"""Working days of the official PRC calendar (with 调休 make-up days), from `chinese_calendar`."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta

import chinese_calendar

END_OF_DAY = time(23, 59, 59)


class CalendarRangeError(ValueError):
    """The date is outside the years the installed chinese_calendar knows."""


def _last_known_year() -> int:
    return max(d.year for d in chinese_calendar.holidays)


LAST_KNOWN_YEAR = _last_known_year()
# Statutory holidays on fixed dates (元旦, 劳动节, 国庆节); the lunar ones move and are not guessed.
FIXED_DATE_HOLIDAYS = {(1, 1), (5, 1), (5, 2), (10, 1), (10, 2), (10, 3)}


def calendar_known(day: date) -> bool:
    """True where chinese_calendar has the official holidays; later years are estimated."""
    return day.year <= LAST_KNOWN_YEAR


def is_workday(day: date) -> bool:
    """Official working day. Years after the library's data (the State Council publishes the next
    year's holidays late in the year) count Monday to Friday: a ticket near New Year still gets a
    deadline, marked provisional by `ticketing.sla`, instead of failing to dispatch."""
    if day.year > LAST_KNOWN_YEAR:
        return day.weekday() < 5 and (day.month, day.day) not in FIXED_DATE_HOLIDAYS
    try:
        return chinese_calendar.is_workday(day)
    except NotImplementedError as exc:  # the library's way of saying "year not in my data"
        version = getattr(chinese_calendar, "__version__", "?")
        raise CalendarRangeError(
            f"cannot tell whether {day.isoformat()} is a working day: chinese_calendar {version} "
            f"has no data for it ({exc}); upgrade it (pip install -U chinese-calendar) once the "
            f"State Council has published that year's holidays"
        ) from exc


def nth_working_day_after(day: date, n: int) -> date:
    """The n-th working day strictly after `day` (n >= 1)."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    count = 0
    while count < n:
        day += timedelta(days=1)
        if is_workday(day):
            count += 1
    return day


def working_days_deadline(start: datetime, n: int) -> datetime:
    """End (23:59:59) of the n-th working day after the day of `start`.

    The start day itself never counts, whether or not it is a working day: a ticket dispatched
    on Friday with 1 working day is due Monday 23:59:59 (or Sunday, if that Sunday is a make-up
    working day)."""
    return datetime.combine(nth_working_day_after(start.date(), n), END_OF_DAY)
