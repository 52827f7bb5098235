"""The installation calendar: the slots a customer can book, and who can take them.

Every day has the same grid of slots (two hours from 08:00 by default, in the
operator's time zone, from :class:`~workorders.config.Settings`). A technician can
take a slot that lies wholly within their working hours of that weekday, on a day that
is not one of their days off, and that nobody booked with them yet. Pure functions: the
appointment store reads the technicians and the bookings and passes them in.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

from workorders.config import Settings

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""The weekdays as working hours name them, Monday first (``date.weekday()``)."""

_SPAN = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]-(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$")


def _span(value: str) -> str:
    match = _SPAN.match(value)
    if match is None:
        raise PydanticCustomError(
            "working_hours_format", "write working hours as HH:MM-HH:MM, e.g. 08:00-18:00"
        )
    start, end = _minutes(value)
    if end <= start:
        raise PydanticCustomError("working_hours_order", "working hours must end after they start")
    return value


def _minutes(span: str) -> tuple[int, int]:
    start, end = span.split("-")
    return _minute_of_day(start), _minute_of_day(end)


def _minute_of_day(value: str) -> int:
    hours, minutes = value.split(":")
    return int(hours) * 60 + int(minutes)


Span = Annotated[
    str,
    Field(
        pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]-(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$",
        examples=["08:00-18:00"],
    ),
    AfterValidator(_span),
]
"""A stretch of a working day, ``HH:MM-HH:MM`` (``24:00`` ends at midnight)."""


class WorkingHours(BaseModel):
    """A technician's working week: per weekday the stretches they work; a weekday left
    out (or with no stretch) is a day off every week. ``days_off`` are single dates off
    (holidays, leave)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mon: list[Span] = Field(default_factory=list, max_length=4)
    tue: list[Span] = Field(default_factory=list, max_length=4)
    wed: list[Span] = Field(default_factory=list, max_length=4)
    thu: list[Span] = Field(default_factory=list, max_length=4)
    fri: list[Span] = Field(default_factory=list, max_length=4)
    sat: list[Span] = Field(default_factory=list, max_length=4)
    sun: list[Span] = Field(default_factory=list, max_length=4)
    days_off: list[date] = Field(default_factory=list, max_length=366)


STANDARD_HOURS = WorkingHours(
    **{day: ["08:00-18:00"] for day in WEEKDAYS[:6]},
)
"""Monday to Saturday, 08:00 to 18:00: a technician's hours unless set otherwise."""


@dataclass(frozen=True)
class Grid:
    """Where slots start and end each day, in the operator's time zone."""

    zone: ZoneInfo
    first: time = time(8)
    last: time = time(20)
    """The end of the day's last slot."""
    length: timedelta = timedelta(hours=2)

    def day_slots(self, day: date) -> Iterator[Slot]:
        start = datetime.combine(day, self.first, self.zone)
        end_of_day = datetime.combine(day, self.last, self.zone)
        while start + self.length <= end_of_day:
            yield Slot(start, start + self.length)
            start += self.length

    def slots(self, first_day: date, days: int) -> Iterator[Slot]:
        for n in range(days):
            yield from self.day_slots(first_day + timedelta(days=n))

    def slot_at(self, start: datetime) -> Slot | None:
        """The slot starting at ``start`` (any time zone), if the grid has one."""
        try:
            local = start.astimezone(self.zone)
            return next((s for s in self.day_slots(local.date()) if s.start == local), None)
        except OverflowError:  # past the end of the calendar in the operator's zone
            return None


@dataclass(frozen=True)
class Calendar:
    """The operator's rules for booking: the grid, how soon a slot may be booked and
    how far ahead."""

    grid: Grid
    lead: timedelta = timedelta(hours=2)
    horizon_days: int = 28

    @classmethod
    def of(cls, settings: Settings) -> Calendar:
        first, last = settings.appointment_day
        grid = Grid(
            ZoneInfo(settings.time_zone),
            first,
            last,
            timedelta(minutes=settings.appointment_slot_minutes),
        )
        return cls(
            grid,
            timedelta(minutes=settings.appointment_lead_minutes),
            settings.appointment_horizon_days,
        )

    def earliest(self, now: datetime) -> datetime:
        """Slots must start after this, booked at ``now``."""
        return now + self.lead


@dataclass(frozen=True, order=True)
class Slot:
    """One installation slot: from ``start`` to ``end``, both in the grid's zone."""

    start: datetime
    end: datetime

    def minutes(self) -> tuple[int, int]:
        """The slot's start and end as minutes of its (local) day."""
        start = self.start.hour * 60 + self.start.minute
        return start, start + int((self.end - self.start).total_seconds() // 60)


@dataclass(frozen=True)
class Week:
    """Working hours as the calendar reads them: per weekday (Monday first) the
    stretches worked, in minutes of the day, and the single days off."""

    spans: tuple[tuple[tuple[int, int], ...], ...]
    off: frozenset[date]

    @classmethod
    def of(cls, hours: WorkingHours) -> Week:
        return cls(
            tuple(tuple(_minutes(span) for span in getattr(hours, day)) for day in WEEKDAYS),
            frozenset(hours.days_off),
        )

    def covers(self, slot: Slot) -> bool:
        """Whether the slot lies wholly within a stretch of its weekday, on a day worked."""
        day = slot.start.date()
        start, end = slot.minutes()
        return day not in self.off and any(
            s <= start and end <= e for s, e in self.spans[day.weekday()]
        )


STANDARD_WEEK = Week.of(STANDARD_HOURS)


@functools.lru_cache(maxsize=4096)
def week_of(stored: str | None) -> Week:
    """A technician's week from their working hours as the database keeps them (the
    JSON text; ``None`` or ``null``: the standard hours). Cached by that text: a search
    reads every technician of the region, whose hours seldom change."""
    value = None if stored is None else json.loads(stored)
    return STANDARD_WEEK if value is None else Week.of(WorkingHours.model_validate(value))


@dataclass(frozen=True)
class Bookable:
    """A technician as the calendar sees them."""

    id: str
    week: Week = STANDARD_WEEK
    booked: frozenset[int] = frozenset()
    """The starts of the slots booked with them, in seconds since 1970 (:func:`epoch`)."""

    def free(self, slot: Slot) -> bool:
        return epoch(slot.start) not in self.booked and self.week.covers(slot)


def epoch(instant: datetime) -> int:
    """An instant in whole seconds since 1970, as bookings are compared (the store
    reads a booking's start so from the database: :func:`workorders.store.base.epoch_of`)."""
    return int(instant.timestamp())


def free_slots(
    grid: Grid, technicians: Sequence[Bookable], first_day: date, days: int, *, after: datetime
) -> list[tuple[Slot, list[str]]]:
    """Every slot from ``first_day`` on for ``days`` days that starts after ``after``,
    with the technicians free in it (least booked first); slots nobody can take are
    left out.

    Each technician's week is turned into the grid's slots once (which of a weekday's
    slots their hours cover); a day then costs a look at their days off and bookings."""
    ordered = sorted(technicians, key=lambda t: (len(t.booked), t.id))
    weeks = [(t, _covered(t.week.spans, grid)) for t in ordered]
    found = []
    for n in range(days):
        day = first_day + timedelta(days=n)
        slots = list(grid.day_slots(day))
        starts = [epoch(s.start) for s in slots]
        free: list[list[str]] = [[] for _ in slots]
        weekday = day.weekday()
        for technician, week in weeks:
            if day in technician.week.off:
                continue
            for i in week[weekday]:
                if starts[i] not in technician.booked:
                    free[i].append(technician.id)
        found += [(s, f) for s, f in zip(slots, free, strict=True) if f and s.start > after]
    return found


@functools.lru_cache(maxsize=4096)
def _covered(
    week: tuple[tuple[tuple[int, int], ...], ...], grid: Grid
) -> tuple[tuple[int, ...], ...]:
    """Per weekday, the indexes of the grid's slots of a day that ``week`` covers."""
    day = [s.minutes() for s in grid.day_slots(date(2024, 1, 1))]
    return tuple(
        tuple(
            i
            for i, (start, end) in enumerate(day)
            if any(s <= start and end <= e for s, e in spans)
        )
        for spans in week
    )


def first_free(grid: Grid, technician: Bookable, after: datetime, horizon_days: int) -> Slot | None:
    """The technician's first free slot starting after ``after``."""
    day = after.astimezone(grid.zone).date()
    return next(
        (s for s in grid.slots(day, horizon_days) if s.start > after and technician.free(s)),
        None,
    )
