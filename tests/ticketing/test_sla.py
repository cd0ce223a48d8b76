"""Deadlines on the official calendar: National Day 2026, the make-up working days, urgent hours."""
from __future__ import annotations

from datetime import date, datetime

import chinese_calendar
import pytest

from ticketing import CalendarRangeError, compute_deadlines, deadlines
from ticketing.sla import extended_resolve_by
from ticketing.workdays import nth_working_day_after, working_days_deadline


def test_calendar_facts_the_tests_rely_on():
    # 2026: National Day + Mid-Autumn; make-up working days Sun 20 Sep and Sat 10 Oct
    assert not chinese_calendar.is_workday(date(2026, 10, 1))
    assert not chinese_calendar.is_workday(date(2026, 10, 7))
    assert chinese_calendar.is_workday(date(2026, 9, 20)) and date(2026, 9, 20).weekday() == 6
    assert chinese_calendar.is_workday(date(2026, 10, 10)) and date(2026, 10, 10).weekday() == 5
    assert not chinese_calendar.is_workday(date(2026, 9, 25))  # Mid-Autumn (Friday)


def test_national_day_complaint_dispatched_on_eve():
    d = compute_deadlines("投诉", "normal", datetime(2026, 9, 30, 10, 0))
    assert d.response_by == datetime(2026, 10, 8, 23, 59, 59)  # 1 working day: Oct 1-7 are off
    # 5 working days: Oct 8, 9, 10 (make-up Saturday), 12, 13
    assert d.resolve_by == datetime(2026, 10, 13, 23, 59, 59)
    assert d.basis == "投诉: 1/5个工作日"


def test_make_up_sunday_counts_as_working_day():
    d = compute_deadlines("求助", None, datetime(2026, 9, 18, 16, 30))  # Friday afternoon
    assert d.response_by == datetime(2026, 9, 20, 23, 59, 59)  # Sunday 20 Sep is a working day
    assert d.resolve_by == datetime(2026, 9, 24, 23, 59, 59)  # 20, 21, 22, 23, 24


def test_dispatch_on_a_day_off_counts_from_next_working_day():
    assert working_days_deadline(datetime(2026, 9, 19, 9), 1) == datetime(2026, 9, 20, 23, 59, 59)
    assert working_days_deadline(datetime(2026, 10, 3, 9), 1) == datetime(2026, 10, 8, 23, 59, 59)
    # Mid-Autumn Fri 25 - Sun 27 Sep: Thursday + 1 -> Monday 28
    assert working_days_deadline(datetime(2026, 9, 24, 18), 1) == datetime(2026, 9, 28, 23, 59, 59)


def test_urgent_is_calendar_hours_through_the_holiday():
    d = compute_deadlines("投诉", "urgent", datetime(2026, 10, 1, 9, 15))
    assert d.response_by == datetime(2026, 10, 1, 11, 15)
    assert d.resolve_by == datetime(2026, 10, 2, 9, 15)


def test_consultation_and_unknown_appeal_type():
    d = compute_deadlines("咨询", "normal", datetime(2026, 9, 30, 10))
    assert d.response_by == d.resolve_by == datetime(2026, 10, 8, 23, 59, 59)
    assert compute_deadlines(None, None, datetime(2026, 9, 30, 10)).basis.startswith("投诉")


def test_draft_deadlines_are_iso_strings():
    out = deadlines("举报", "normal", "2026-09-30T10:00:00+08:00")
    assert out["response_by"] == "2026-10-08T23:59:59"
    assert out["resolve_by"] == "2026-10-13T23:59:59"
    # an aware time in UTC is converted to Shanghai time first: 2026-09-30 20:00 UTC = Oct 1 04:00 CST
    assert deadlines("举报", "normal", "2026-09-30T20:00:00Z")["response_by"] == "2026-10-08T23:59:59"


def test_extension_is_fifteen_working_days_after_dispatch():
    expected = [date(2026, 10, d) for d in (8, 9, 10, 12, 13, 14, 15, 16, 19, 20, 21, 22, 23, 26, 27)]
    assert nth_working_day_after(date(2026, 9, 30), 15) == expected[-1]
    assert extended_resolve_by(datetime(2026, 9, 30, 10)) == datetime(2026, 10, 27, 23, 59, 59)


def test_years_the_calendar_does_not_know_yet_count_weekdays_and_are_provisional():
    from ticketing.workdays import LAST_KNOWN_YEAR

    year = LAST_KNOWN_YEAR + 1
    friday = next(datetime(year, 1, d, 10) for d in range(2, 9) if datetime(year, 1, d).weekday() == 4)
    d = compute_deadlines("投诉", "normal", friday)
    assert d.provisional and "尚未收录" in d.basis
    assert d.response_by.weekday() == 0 and (d.response_by.date() - friday.date()).days == 3
    assert (d.resolve_by.date() - friday.date()).days == 7  # five weekdays later, the next Friday
    # New Year's Day is a fixed-date holiday even where the year's schedule is unknown
    last = datetime(LAST_KNOWN_YEAR, 12, 31, 10)
    assert compute_deadlines("咨询", "normal", last).response_by.date() != datetime(year, 1, 1).date()
    assert not compute_deadlines("投诉", "normal", datetime(2026, 9, 30, 10)).provisional


@pytest.mark.parametrize("start", [datetime(2003, 12, 30, 9), datetime(2001, 3, 2, 9)])
def test_outside_the_calendar_is_a_clear_error(start):
    with pytest.raises(CalendarRangeError, match="chinese_calendar .* no data"):
        compute_deadlines("投诉", "normal", start)


def test_urgent_needs_no_calendar():
    d = compute_deadlines("投诉", "urgent", datetime(2100, 3, 2, 9))
    assert d.resolve_by == datetime(2100, 3, 3, 9)
