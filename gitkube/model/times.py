"""Kubernetes timestamps: how the API writes them and how gitkube reads them back.

The API writes RFC 3339 in UTC with whole seconds and a ``Z`` (metav1.Time's wire form,
``2026-01-02T03:04:05Z``); MicroTime fields (``eventTime``) carry a fraction. Readers accept
either, an offset instead of ``Z``, and a stamp without a zone (taken as UTC).
"""

from __future__ import annotations

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


__all__ = ["parse_time", "rfc3339", "rfc3339_of"]
