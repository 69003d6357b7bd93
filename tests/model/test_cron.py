"""Kubernetes' cron syntax and the times a CronJob is due (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gitkube.model.cron import CronError, due, job_name, parse_schedule, parse_zone


def ts(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() \
        if "+" not in text else datetime.fromisoformat(text).timestamp()


@pytest.mark.parametrize(("schedule", "expr"), [
    ("*/5 * * * *", "*/5 * * * *"), ("@hourly", "0 * * * *"), ("@daily", "0 0 * * *"),
    ("@midnight", "0 0 * * *"), ("@weekly", "0 0 * * 0"), ("@monthly", "0 0 1 * *"),
    ("@yearly", "0 0 1 1 *"), ("@annually", "0 0 1 1 *"), ("0 0 * * ?", "0 0 * * *"),
    ("0 9 * JUL MON-FRI", "0 9 * JUL MON-FRI"), ("  30 2 * * *  ", "30 2 * * *"),
])
def test_kubernetes_schedules_parse(schedule: str, expr: str) -> None:
    assert parse_schedule(schedule).expr == expr


@pytest.mark.parametrize(("schedule", "says"), [
    ("60 * * * *", "bad minute"), ("* 24 * * *", "bad hour"),
    ("0 0 L * *", '"L" is not Kubernetes cron syntax'),
    ("0 0 * * 1#2", '"#" is not Kubernetes cron syntax'),
    ("0 0 * * * *", "expected exactly 5 fields, found 6"),
    ("*/5 * * *", "expected exactly 5 fields, found 4"),
    ("TZ=Europe/Berlin 0 * * * *", "cannot use TZ or CRON_TZ in schedule"),
    ("CRON_TZ=UTC 0 * * * *", "cannot use TZ or CRON_TZ in schedule"),
    ("@fortnightly", "unrecognized descriptor"), ("@every 5m", "@every intervals"),
    ("", "expected exactly 5 fields, found 0"),
])
def test_bad_schedules_are_refused_with_a_hint(schedule: str, says: str) -> None:
    with pytest.raises(CronError) as info:
        parse_schedule(schedule)
    assert says in info.value.message and info.value.hint


@pytest.mark.parametrize("zone", ["Local", "", "Mars/Olympus", " UTC", "../etc/passwd"])
def test_bad_time_zones_are_refused(zone: str) -> None:
    with pytest.raises(CronError):
        parse_zone(zone)


def test_time_zone_moves_the_schedule() -> None:
    # 09:00 in Berlin is 08:00 UTC in winter and 07:00 UTC in summer
    berlin = parse_schedule("0 9 * * *", "Europe/Berlin")
    assert berlin.next_after(ts("2026-01-10T00:00:00")) == ts("2026-01-10T08:00:00")
    assert berlin.next_after(ts("2026-07-10T00:00:00")) == ts("2026-07-10T07:00:00")
    assert parse_schedule("0 9 * * *", "Etc/UTC").next_after(ts("2026-07-10T00:00:00")) == \
        ts("2026-07-10T09:00:00")


def test_due_picks_the_most_recent_unmet_time() -> None:
    every5 = parse_schedule("*/5 * * * *", "Etc/UTC")
    now = ts("2026-03-01T10:07:30")
    found = due(every5, earliest=ts("2026-03-01T09:58:00"), now=now)
    assert found.scheduled == ts("2026-03-01T10:05:00") and found.missed == 2
    assert found.next_time == ts("2026-03-01T10:10:00")
    # nothing new since the last run
    assert due(every5, earliest=ts("2026-03-01T10:05:00"), now=now).scheduled is None
    # a starting deadline drops what is older than it
    late = due(every5, earliest=ts("2026-03-01T09:00:00"), now=now, starting_deadline=60)
    assert late.scheduled is None and late.missed == 0
    # after a long outage: more than 100 missed, the latest is still the one to run
    outage = due(every5, earliest=ts("2026-02-01T00:00:00"), now=now)
    assert outage.missed == 101 and outage.scheduled == ts("2026-03-01T10:05:00")


def test_job_name_is_the_scheduled_minute() -> None:
    assert job_name("backup", ts("2026-03-01T10:05:00")) == \
        f"backup-{int(ts('2026-03-01T10:05:00')) // 60}"
