"""CronJob schedules: Kubernetes' cron syntax, time zones and the times a CronJob is due.

Upstream parses ``spec.schedule`` with robfig/cron's standard parser: five fields (minute,
hour, day of month, month, day of week; names such as ``JAN``/``MON`` allowed, ``?`` as
``*``) or one of the descriptors ``@yearly``/``@annually``, ``@monthly``, ``@weekly``,
``@daily``/``@midnight``, ``@hourly``. When both day fields are restricted a day matching
either runs (a field starting with ``*`` restricts nothing), as in Vixie cron. ``TZ=`` and
``CRON_TZ=`` prefixes are refused (``spec.timeZone`` says the zone). gitkube evaluates the
fields with cronsim (module docstring of ``gitkube/agents/controllers/cronjob.py`` says why)
and refuses what robfig refuses but cronsim would take (``L``, ``W``, ``#``, six fields) and
``@every`` (an interval, not a schedule, which gitkube does not implement).

Pure: every function takes the time it works on; nothing reads a clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from gitkube.errors import GitkubeError

DESCRIPTORS = {
    "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
TOO_MANY_MISSED = 100  # upstream: more missed start times than this is reported, not run
_FIELDS = ("minute", "hour", "day of month", "month", "day of week")
_NAMES = re.compile("JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC|SUN|MON|TUE|WED|THU|FRI|SAT")
_HINT = ('five fields "minute hour day-of-month month day-of-week", e.g. "*/5 * * * *", '
         'or @hourly, @daily, @weekly, @monthly, @yearly')


class CronError(GitkubeError, ValueError):
    """A schedule or time zone Kubernetes would refuse: ``message`` and a ``hint``."""

    hint: str

    def __init__(self, message: str, hint: str):
        super().__init__(message, hint=hint)


@dataclass(frozen=True)
class Schedule:
    """A parsed schedule in its time zone: ``expr`` is the five-field form."""

    expr: str
    zone: tzinfo

    def next_after(self, when: float) -> float:
        """The first scheduled time strictly after ``when`` (epoch seconds)."""
        start = datetime.fromtimestamp(when, self.zone).replace(microsecond=0)
        return next(iter(CronSim(self.expr, start))).timestamp()

    def times_between(self, after: float, upto: float, limit: int) -> list[float]:
        """Scheduled times in (``after``, ``upto``], at most ``limit`` of the earliest."""
        out: list[float] = []
        t = after
        while len(out) < limit:
            t = self.next_after(t)
            if t > upto:
                break
            out.append(t)
        return out

    def latest_at_or_before(self, when: float) -> float | None:
        """The most recent scheduled time at or before ``when``; None if there is none in
        the last five years (an expression such as Feb 30 never runs)."""
        start = datetime.fromtimestamp(when, self.zone)
        it = iter(CronSim(self.expr, start, reverse=True))
        for t in it:
            if when - t.timestamp() > 5 * 366 * 86400:
                return None
            return t.timestamp()
        return None


def parse_zone(name: str | None, local: tzinfo | None = None) -> tzinfo:
    """``spec.timeZone`` as a tzinfo: an IANA name; None means ``local`` (upstream: the
    controller manager's own zone), UTC if that is None too. CronError when unknown."""
    if name is None:
        return local or UTC
    if name.strip() == "" or name.lower() == "local" or name != name.strip():
        raise CronError(f'invalid time zone "{name}"',
                        'use an IANA time zone name such as "Etc/UTC" or "Europe/Berlin"')
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise CronError(f'unknown time zone "{name}"',
                        'use an IANA time zone name such as "Etc/UTC" or "Europe/Berlin"'
                        ) from exc


def five_fields(schedule: str) -> str:
    """The five-field form of ``schedule`` (descriptors expanded, ``?`` as ``*``), or
    CronError with what Kubernetes' parser would say."""
    text = schedule.strip()
    if text.startswith(("TZ=", "CRON_TZ=")):
        raise CronError("cannot use TZ or CRON_TZ in schedule, use timeZone field instead",
                        'remove the prefix and set spec.timeZone, e.g. timeZone: "Etc/UTC"')
    if text.startswith("@"):
        if text.startswith("@every"):
            raise CronError(f'"{text}": @every intervals are not supported by gitkube',
                            "write the interval as a cron expression, e.g. \"*/5 * * * *\"")
        expr = DESCRIPTORS.get(text.lower())
        if expr is None:
            raise CronError(f'unrecognized descriptor: "{text}"', _HINT)
        return expr
    fields = text.split()
    if len(fields) != 5:
        raise CronError(f'expected exactly 5 fields, found {len(fields)}: "{text}"', _HINT)
    for name, value in zip(_FIELDS, fields, strict=True):
        bad = next((ch for ch in "LW#" if ch in _NAMES.sub("", value.upper())), None)
        if bad is not None:
            raise CronError(f'{name} field "{value}": "{bad}" is not Kubernetes cron syntax',
                            "Kubernetes' cron has no L, W or # modifiers")
    fields = ["*" if f == "?" else f for f in fields]
    expr = " ".join(fields)
    try:
        CronSim(expr, datetime(2000, 1, 1, tzinfo=UTC))
    except CronSimError as exc:
        raise CronError(f'invalid schedule "{text}": {str(exc).lower()}', _HINT) from exc
    return expr


def parse_schedule(schedule: str, time_zone: str | None = None,
                   local: tzinfo | None = None) -> Schedule:
    """A CronJob's ``spec.schedule`` in ``spec.timeZone``; CronError for either."""
    return Schedule(five_fields(schedule), parse_zone(time_zone, local))


@dataclass(frozen=True)
class Due:
    """What a CronJob should do at a time: ``scheduled`` (the most recent unmet start time,
    None if none), ``missed`` (how many unmet start times there were, capped at
    TOO_MANY_MISSED + 1), ``next_time`` (the next start after now)."""

    scheduled: float | None
    missed: int
    next_time: float


def due(schedule: Schedule, *, earliest: float, now: float,
        starting_deadline: int | None = None) -> Due:
    """Upstream's ``mostRecentScheduleTime``: start times after ``earliest`` (the last
    schedule time, else the CronJob's creation) up to ``now``; with a starting deadline only
    those within it count."""
    if starting_deadline is not None:
        earliest = max(earliest, now - starting_deadline)
    missed = schedule.times_between(earliest, now, TOO_MANY_MISSED + 1)
    scheduled: float | None = None
    if missed:
        scheduled = missed[-1]
        if len(missed) > TOO_MANY_MISSED:
            scheduled = schedule.latest_at_or_before(now)
    return Due(scheduled, len(missed), schedule.next_after(now))


def job_name(cronjob_name: str, scheduled: float) -> str:
    """The Job a CronJob starts for ``scheduled``: ``<cronjob>-<minutes since the epoch>``
    (upstream's getJobName), so that one start time makes one Job, whoever races."""
    return f"{cronjob_name}-{int(scheduled) // 60}"


def local_zone(now: float) -> tzinfo:
    """This process's time zone at ``now`` (a fixed offset)."""
    zone = datetime.fromtimestamp(now).astimezone().tzinfo
    return zone if zone is not None else UTC


__all__ = ["DESCRIPTORS", "TOO_MANY_MISSED", "CronError", "Due", "Schedule", "due",
           "five_fields", "job_name", "local_zone", "parse_schedule", "parse_zone"]
