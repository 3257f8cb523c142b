"""When an archive rule runs: ``hourly``, ``daily`` or a five-field cron expression.

Datayard runs no scheduler of its own: the schedule is handed to the one each platform
has (a systemd timer, launchd, Windows' Task Scheduler, a Kubernetes CronJob), so it
is parsed once here into the sets of values each field allows, which every one of
them can be written from.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from datayard.core.errors import UsageError

ALIASES = {"hourly": "0 * * * *", "daily": "0 2 * * *"}
"""``daily`` runs at 02:00 (local time), when a shared drive is quiet."""
MANUAL = "none"
"""A rule's schedule when no timer runs it: only ``archive run`` and the app's Run now."""

_FIELDS = (
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day of month", 1, 31),
    ("month", 1, 12),
    ("day of week", 0, 7),
)
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat")
HORIZON_DAYS = 8 * 366
"""How far :meth:`Schedule.next_after` looks: every date that exists, a 29 February
included, comes round within it."""


@dataclass(frozen=True)
class Schedule:
    """A parsed schedule; each field is the values it allows, ``None`` for every value."""

    text: str
    minutes: tuple[int, ...] | None
    hours: tuple[int, ...] | None
    days: tuple[int, ...] | None
    months: tuple[int, ...] | None
    weekdays: tuple[int, ...] | None
    """0 is Sunday (cron's 7 too)."""

    @classmethod
    def parse(cls, text: str) -> Schedule:
        """:class:`UsageError` naming the field that cron would refuse."""
        expression = ALIASES.get(text.strip().lower(), text.strip())
        fields = expression.split()
        if len(fields) != 5:
            raise UsageError(
                f"schedule {text!r}: write hourly, daily or a cron expression of five fields "
                "(minute hour day-of-month month day-of-week), like '30 1 * * *'"
            )
        values = [_field(text, raw, index) for index, raw in enumerate(fields)]
        minutes, hours, days, months, weekdays = values
        if days is not None and weekdays is not None:
            raise UsageError(
                f"schedule {text!r}: restrict the day of the month or the day of the week, "
                "not both (cron would run on either; the platforms' schedulers on both)"
            )
        return cls(text.strip(), minutes, hours, days, months, weekdays)

    def cron(self) -> str:
        """The five fields in numbers only, which every cron reads alike (Kubernetes'
        refuses a Sunday written 7, and an alias may mean another time there)."""
        fields = (self.minutes, self.hours, self.days, self.months, self.weekdays)
        return " ".join("*" if v is None else ",".join(map(str, v)) for v in fields)

    def next_after(self, moment: datetime) -> datetime | None:
        """The first time after ``moment`` that it names, in ``moment``'s time zone (a naive
        ``moment`` is local time, as the timers read it); ``None`` when no date names it
        (a 31 April)."""
        start = moment.replace(second=0, microsecond=0) + timedelta(minutes=1)
        day = start.date()
        for _ in range(HORIZON_DAYS):
            if self._names(day):
                for hour in self.hours or range(24):
                    for minute in self.minutes or range(60):
                        found = datetime.combine(day, time(hour, minute), moment.tzinfo)
                        if found >= start:
                            return found
            day += timedelta(days=1)
        return None

    def _names(self, day: date) -> bool:
        return (
            (self.months is None or day.month in self.months)
            and (self.days is None or day.day in self.days)
            and (self.weekdays is None or day.isoweekday() % 7 in self.weekdays)
        )

    def on_calendar(self) -> str:
        """systemd's ``OnCalendar=`` for it (``systemd.time(7)``)."""
        weekdays = f"{','.join(_DAYS[d] for d in self.weekdays)} " if self.weekdays else ""
        months = _joined(self.months)
        days = _joined(self.days)
        return f"{weekdays}*-{months}-{days} {_joined(self.hours)}:{_joined(self.minutes)}:00"

    def moments(self) -> list[dict[str, int]]:
        """Each combination of the restricted fields, as launchd's
        ``StartCalendarInterval`` entries (``Minute``, ``Hour``, ``Day``, ``Month``,
        ``Weekday``): a field left out means every value."""
        entries: list[dict[str, int]] = [{}]
        for key, allowed in (
            ("Minute", self.minutes),
            ("Hour", self.hours),
            ("Day", self.days),
            ("Month", self.months),
            ("Weekday", self.weekdays),
        ):
            if allowed is not None:
                entries = [{**entry, key: value} for entry in entries for value in allowed]
        return entries


def _joined(values: tuple[int, ...] | None) -> str:
    return "*" if values is None else ",".join(f"{value:02d}" for value in values)


def _field(text: str, raw: str, index: int) -> tuple[int, ...] | None:
    name, low, high = _FIELDS[index]
    names = _MONTHS if index == 3 else tuple(d.lower() for d in _DAYS) if index == 4 else ()
    offset = 1 if index == 3 else 0
    allowed: set[int] = set()
    for part in raw.lower().split(","):
        span, slash, step_text = part.partition("/")
        try:
            step = int(step_text) if slash else 1
            if span == "*":
                first, last = low, high
            else:
                start, dash, end = span.partition("-")
                first = _number(start, names, offset)
                last = _number(end, names, offset) if dash else (high if slash else first)
        except ValueError:
            raise UsageError(f"schedule {text!r}: the {name} {raw!r} is not understood") from None
        if step < 1 or not low <= first <= last <= high:
            raise UsageError(
                f"schedule {text!r}: the {name} {raw!r} is out of range ({low}-{high})"
            )
        allowed.update(range(first, last + 1, step))
    every = set(range(low, high + 1))
    if index == 4:
        every.discard(7)
        allowed = {day % 7 for day in allowed}
    return None if allowed >= every else tuple(sorted(allowed))


def _number(text: str, names: tuple[str, ...], offset: int) -> int:
    if text in names:
        return names.index(text) + offset
    if not text.isdigit():
        raise ValueError(text)
    return int(text)
