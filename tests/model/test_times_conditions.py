"""model/times.py and model/conditions.py: timestamps and conditions, table-driven."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from gitkube.model.conditions import (
    condition_status,
    find_condition,
    is_condition_true,
    set_condition,
)
from gitkube.model.times import parse_time, rfc3339, rfc3339_of

Obj = dict[str, Any]
T0 = 1_704_067_200.0  # 2024-01-01T00:00:00Z


def test_rfc3339_writes_utc_whole_seconds() -> None:
    assert rfc3339(T0 + 5.9) == "2024-01-01T00:00:05Z"
    assert rfc3339_of(datetime(2024, 1, 1, 2, 0, tzinfo=UTC)) == "2024-01-01T02:00:00Z"


@pytest.mark.parametrize(("text", "want"), [
    ("2024-01-01T00:00:00Z", T0),
    ("2024-01-01T00:00:00.5Z", T0 + 0.5),
    ("2024-01-01T00:00:00.123456789Z", T0 + 0.123456),  # MicroTime and beyond
    ("2024-01-01T02:00:00+02:00", T0),
    ("2024-01-01T00:00:00", T0),  # no zone: UTC
    ("", None),
    (None, None),
    ("yesterday", None),
    (1704067200, None),
])
def test_parse_time(text: object, want: float | None) -> None:
    got = parse_time(text)
    assert got == pytest.approx(want) if want is not None else got is None


def _with(*conditions: object) -> Obj:
    return {"status": {"conditions": list(conditions)}}


@pytest.mark.parametrize(("obj", "status", "true"), [
    (_with({"type": "Ready", "status": "True"}), "True", True),
    (_with({"type": "Ready", "status": "False"}), "False", False),
    (_with({"type": "Other", "status": "True"}), "", False),
    (_with("not a condition", {"type": "Ready", "status": "True"}), "True", True),
    ({"status": {"conditions": None}}, "", False),
    ({}, "", False),
])
def test_finding_a_condition(obj: Obj, status: str, true: bool) -> None:
    assert condition_status(obj, "Ready") == status
    assert is_condition_true(obj, "Ready") is true
    assert (find_condition(obj, "Ready") is None) is (status == "")


def test_set_condition_moves_transition_time_only_on_a_status_change() -> None:
    first = set_condition([], "Available", "True", "Min", "ok", "t1", update_time=True)
    assert first == [{"type": "Available", "status": "True", "lastUpdateTime": "t1",
                      "lastTransitionTime": "t1", "reason": "Min", "message": "ok"}]
    same = set_condition(first, "Available", "True", "Min", "ok", "t2", update_time=True)
    assert same == first
    reworded = set_condition(first, "Available", "True", "Min", "fine", "t3",
                             update_time=True)
    assert (reworded[0]["lastUpdateTime"], reworded[0]["lastTransitionTime"]) == ("t3", "t1")
    flipped = set_condition(first, "Available", "False", "Low", "no", "t4")
    assert flipped[0]["lastTransitionTime"] == "t4" and "lastUpdateTime" not in flipped[0]
    both = set_condition([{"type": "A", "status": "True"}], "B", "True", "r", "m", "t5")
    assert [c["type"] for c in both] == ["A", "B"]
