"""When the college is open: working hours (for out-of-hours severity raises and the on-call rota)
and term dates (a laptop offline in the holidays is not a coverage problem)."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True, slots=True)
class Term:
    name: str
    start: date
    end: date  # inclusive


@dataclass(frozen=True, slots=True)
class Calendar:
    """Working hours in the college's time zone, plus term dates.

    With no terms configured every day counts as term time (the safe default: offline devices are
    reported rather than silently excused).
    """

    tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("Europe/London"))
    working_days: frozenset[int] = frozenset(range(5))  # Monday=0
    day_start: time = time(8, 30)
    day_end: time = time(17, 0)
    terms: tuple[Term, ...] = ()

    def local(self, at: datetime) -> datetime:
        return at.astimezone(self.tz)

    def is_working_hours(self, at: datetime) -> bool:
        t = self.local(at)
        return t.weekday() in self.working_days and self.day_start <= t.time() < self.day_end

    def is_out_of_hours(self, at: datetime) -> bool:
        return not self.is_working_hours(at)

    def in_term(self, at: datetime) -> bool:
        if not self.terms:
            return True
        d = self.local(at).date()
        return any(term.start <= d <= term.end for term in self.terms)


def parse_days(names: Sequence[str]) -> frozenset[int]:
    days: set[int] = set()
    for name in names:
        key = name.strip().lower()[:3]
        if key not in DAY_NAMES:
            raise ValueError(f"unknown day {name!r} (use {', '.join(DAY_NAMES)})")
        days.add(DAY_NAMES.index(key))
    return frozenset(days)
