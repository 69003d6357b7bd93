"""Kubernetes timestamps: how the API writes them and how gitkube reads them back.

The API writes RFC 3339 in UTC with whole seconds and a ``Z`` (metav1.Time's wire form,
``2026-01-02T03:04:05Z``); MicroTime fields (``eventTime``) carry a fraction. Readers accept
either, an offset instead of ``Z``, and a stamp without a zone (taken as UTC).

Log lines are stamped as the kubelet stamps them (``kubectl logs --timestamps``): RFC 3339 in
UTC with exactly nine fraction digits, ``2026-01-02T03:04:05.123456789Z`` (``rfc3339_nano``);
``parse_time_ns`` reads any RFC 3339 stamp to the nanosecond.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def rfc3339(seconds: float) -> str:
    """``seconds`` since the epoch as the API writes a timestamp (UTC, whole seconds)."""
    return datetime.fromtimestamp(seconds, UTC).strftime(_FORMAT)


def rfc3339_of(moment: datetime) -> str:
    """``moment`` as the API writes a timestamp (a naive ``moment`` is local time, as
    everywhere in Python)."""
    return moment.astimezone(UTC).strftime(_FORMAT)


def parse_time(text: object) -> float | None:
    """Epoch seconds of an RFC 3339 timestamp (``Z`` or an offset, any fraction; no zone is
    UTC); None for anything else, "" and None included."""
    if not isinstance(text, str) or not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def rfc3339_nano(ns: int) -> str:
    """Epoch nanoseconds ``ns`` as the kubelet stamps a log line (module docstring)."""
    seconds, fraction = divmod(ns, 1_000_000_000)
    return f"{datetime.fromtimestamp(seconds, UTC).strftime('%Y-%m-%dT%H:%M:%S')}." \
           f"{fraction:09d}Z"


_STAMP = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)?")


def parse_time_ns(text: object) -> int | None:
    """Epoch nanoseconds of an RFC 3339 timestamp (``Z`` or an offset, up to nine fraction
    digits; no zone is UTC); None for anything else."""
    if not isinstance(text, str):
        return None
    m = _STAMP.fullmatch(text)
    if m is None:
        return None
    zone = m.group(3) or "Z"
    try:
        moment = datetime.fromisoformat(m.group(1) + ("+00:00" if zone == "Z" else zone))
    except ValueError:
        return None
    return int(moment.timestamp()) * 1_000_000_000 + int((m.group(2) or "0").ljust(9, "0"))


__all__ = ["parse_time", "parse_time_ns", "rfc3339", "rfc3339_nano", "rfc3339_of"]
