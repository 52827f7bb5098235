"""The installation calendar's pure part: which slots a technician's week covers,
which are free, and how the database's stored hours are read."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from workorders.appointments import (
    STANDARD_WEEK,
    Bookable,
    Grid,
    Slot,
    Week,
    WorkingHours,
    epoch,
    first_free,
    free_slots,
    week_of,
)

GRID = Grid(ZoneInfo("Asia/Shanghai"))
MONDAY = date(2026, 12, 7)
BEFORE = datetime(2026, 12, 1, tzinfo=ZoneInfo("UTC"))


def slot_at(day: date, hour: int) -> Slot:
    return next(s for s in GRID.day_slots(day) if s.start.hour == hour)


def week(**hours: object) -> Week:
    return Week.of(WorkingHours.model_validate(hours))


def test_a_week_covers_the_slots_wholly_within_its_stretches_on_days_worked() -> None:
    split = week(mon=["08:00-11:00", "14:00-24:00"], days_off=[MONDAY + timedelta(days=7)])
    covered = [s.start.hour for s in GRID.day_slots(MONDAY) if split.covers(s)]
    assert covered == [8, 14, 16, 18]  # 10-12 runs past 11:00
    assert not any(split.covers(s) for s in GRID.day_slots(MONDAY + timedelta(days=1)))
    assert not any(split.covers(s) for s in GRID.day_slots(MONDAY + timedelta(days=7)))


def test_stored_hours_read_as_the_standard_week_when_unset() -> None:
    assert week_of(None) is STANDARD_WEEK
    assert week_of("null") is STANDARD_WEEK  # a JSON column keeps None as null
    stored = json.dumps({"sun": ["08:00-12:00"], "days_off": ["2026-12-13"]})
    assert week_of(stored) == week(sun=["08:00-12:00"], days_off=[date(2026, 12, 13)])
    saturday = [s for s in GRID.day_slots(MONDAY + timedelta(days=5)) if STANDARD_WEEK.covers(s)]
    assert [s.start.hour for s in saturday] == [8, 10, 12, 14, 16]  # Monday to Saturday, 8-18


def test_stored_hours_that_are_not_working_hours_are_refused() -> None:
    with pytest.raises(ValueError, match="working hours"):
        week_of(json.dumps({"mon": ["18:00-08:00"]}))


def test_free_slots_leave_out_booked_slots_days_off_and_slots_begun() -> None:
    off = MONDAY + timedelta(days=1)
    a = Bookable("a", week(mon=["08:00-12:00"], tue=["08:00-12:00"]))
    booked = slot_at(MONDAY, 8)
    b = Bookable(
        "b",
        week(mon=["08:00-12:00"], tue=["08:00-12:00"], days_off=[off]),
        frozenset({epoch(booked.start)}),
    )
    found = free_slots(GRID, [b, a], MONDAY, 2, after=BEFORE)
    assert [(s.start.day, s.start.hour, free) for s, free in found] == [
        (7, 8, ["a"]),
        (7, 10, ["a", "b"]),  # least booked first
        (8, 8, ["a"]),
        (8, 10, ["a"]),
    ]
    later = slot_at(MONDAY, 8).start
    assert [s.start.hour for s, _ in free_slots(GRID, [a], MONDAY, 1, after=later)] == [10]


def test_a_technicians_first_free_slot_skips_their_bookings_and_days_off() -> None:
    taken = slot_at(MONDAY, 8)
    technician = Bookable(
        "a",
        week(mon=["08:00-10:00"], wed=["10:00-12:00"], days_off=[MONDAY + timedelta(days=9)]),
        frozenset({epoch(taken.start)}),
    )
    found = first_free(GRID, technician, BEFORE + timedelta(days=6), 28)
    assert found is not None and (found.start.date(), found.start.hour) == (
        MONDAY + timedelta(days=2),
        10,
    )
    assert technician.free(found) and not technician.free(taken)
    assert first_free(GRID, Bookable("idle", week()), BEFORE, 28) is None


def test_epoch_is_the_same_instant_in_any_zone() -> None:
    start = slot_at(MONDAY, 8).start
    assert (
        epoch(start) == epoch(start.astimezone(ZoneInfo("UTC"))) == 1796601600
    )  # 2026-12-07T00:00Z
