"""Cron schedules in a time zone (``croniter``): checking them, the next slot, and which
slots are due. Pure functions of their arguments; no clock is read here.

An expression has croniter's five fields (minute hour day month weekday), or six with
seconds last (``"* * * * * */10"``: every ten seconds). Slots are computed in the job's
time zone, so ``0 3 * * *`` in ``Europe/Berlin`` is 03:00 Berlin time across daylight
saving changes, and stored in UTC.
"""

from __future__ import annotations

import datetime
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass

from croniter import croniter

from ..errors import InvalidInput

UTC = datetime.timezone.utc
#: slots a single catch-up looks at before jumping to the present
MAX_SLOTS = 1000


def check_timezone(name: object) -> str:
    """An IANA time zone name (``Europe/Berlin``, ``UTC``); InvalidInput otherwise."""
    if not isinstance(name, str) or not name or len(name) > 64:
        raise InvalidInput("timezone must be an IANA time zone name, e.g. Europe/Berlin.")
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"Unknown time zone {name!r}.") from None
    return name


def check_schedule(expression: object, timezone: str, min_interval: float) -> str:
    """A cron expression that fires at most once per ``min_interval`` seconds (judged
    on its next slots); InvalidInput otherwise."""
    if not isinstance(expression, str) or not expression.strip() or len(expression) > 255:
        raise InvalidInput("schedule must be a cron expression, e.g. '0 3 * * *'.")
    expression = " ".join(expression.split())
    if len(expression.split()) not in (5, 6) or not croniter.is_valid(expression):
        raise InvalidInput(
            f"schedule {expression!r} is not a cron expression (five fields: minute hour "
            "day month weekday; a sixth gives seconds)."
        )
    start = datetime.datetime(2026, 1, 1, tzinfo=zoneinfo.ZoneInfo(timezone))
    slots = _iterate(expression, timezone, start)
    previous = next(slots, None)
    for _ in range(20):
        current = next(slots, None)
        if previous is None or current is None:
            break
        if (current - previous).total_seconds() < min_interval:
            raise InvalidInput(
                f"schedule {expression!r} fires more often than every {min_interval:g} s, "
                "the shortest interval this service allows."
            )
        previous = current
    return expression


def _iterate(
    expression: str, timezone: str, after: datetime.datetime
) -> Iterator[datetime.datetime]:
    """Slots strictly after ``after``, as aware UTC datetimes."""
    it = croniter(expression, after.astimezone(zoneinfo.ZoneInfo(timezone)))
    while True:
        yield it.get_next(datetime.datetime).astimezone(UTC)


def next_slot(expression: str, timezone: str, after: datetime.datetime) -> datetime.datetime:
    """The first slot strictly after ``after`` (UTC)."""
    return next(_iterate(expression, timezone, after))


@dataclass(frozen=True)
class Due:
    """What a job's schedule asks for at one moment: the slots to fire now, and the
    next slot after them."""

    fire: list[datetime.datetime]
    next_run_at: datetime.datetime
    #: slots passed over (too late, missed policy ``skip``, or collapsed into one run)
    passed_over: int


def due_slots(
    expression: str,
    timezone: str,
    next_run_at: datetime.datetime,
    now: datetime.datetime,
    *,
    grace: float,
    missed: str,
) -> Due:
    """The slots from ``next_run_at`` to ``now`` to fire.

    A slot at most ``grace`` seconds old is on time and fires, each on its own (a
    replica taking over from a dead one fires every slot it was late for). Older slots
    were missed while no replica could fire them: with ``missed == "once"`` the newest of
    them fires (one run for all of them) unless an on-time slot fires anyway; with
    ``"skip"`` none does.
    """
    on_time: list[datetime.datetime] = []
    late: list[datetime.datetime] = []
    slot = next_run_at
    seen = 0
    while slot <= now:
        if (now - slot).total_seconds() <= grace:
            on_time.append(slot)
        else:
            late.append(slot)
        seen += 1
        if seen >= MAX_SLOTS and (now - slot).total_seconds() > grace:
            # long down with a frequent schedule: the rest of the missed slots are not
            # counted one by one; go on from the first on-time one
            slot = next_slot(expression, timezone, now - datetime.timedelta(seconds=grace))
            continue
        slot = next_slot(expression, timezone, slot)
    fire = list(on_time)
    if late and not on_time and missed == "once":
        fire = [late[-1]]
    return Due(fire=fire, next_run_at=slot, passed_over=max(0, seen - len(fire)))
