"""Conditions (``status.conditions``) of any kind: finding one, and setting one the way
upstream's controllers do.

The rule for ``lastTransitionTime``: it moves only when the status changes. Deployment
conditions also carry ``lastUpdateTime``, which moves whenever the reason or message does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gitkube.model.views import Condition, ObjectView

Obj = dict[str, Any]


def find_condition(obj: Mapping[str, Any], type_: str) -> Condition | None:
    """The condition of ``type_`` in ``obj``'s status (None when there is none)."""
    return ObjectView(obj).condition(type_)


def condition_status(obj: Mapping[str, Any], type_: str) -> str:
    """The status ("True", "False", "Unknown") of ``obj``'s ``type_`` condition; "" when
    there is none."""
    found = find_condition(obj, type_)
    return found.status if found is not None else ""


def is_condition_true(obj: Mapping[str, Any], type_: str) -> bool:
    """Whether ``obj`` has a ``type_`` condition with status True."""
    return condition_status(obj, type_) == "True"


def transition_time(old: Mapping[str, Any] | None, status: str, now: str) -> str:
    """A condition's lastTransitionTime: the old one's while the status stays, else ``now``
    (upstream moves it only when the status changes)."""
    if old is not None and old.get("status") == status and old.get("lastTransitionTime"):
        return str(old["lastTransitionTime"])
    return now


def set_condition(conditions: list[Obj], type_: str, status: str, reason: str, message: str,
                  now: str, *, update_time: bool = False) -> list[Obj]:
    """A new list with condition ``type_`` set (appended when absent, in place of the old one
    otherwise); lastTransitionTime moves only when the status changes; ``update_time`` adds
    lastUpdateTime, which moves when status, reason or message does."""
    old = next((c for c in conditions if c.get("type") == type_), None)
    new: Obj = {"type": type_, "status": status}
    if update_time:
        same = old is not None and old.get("status") == status and \
            old.get("reason") == reason and old.get("message") == message
        new["lastUpdateTime"] = old.get("lastUpdateTime", now) if same and old else now
    new["lastTransitionTime"] = transition_time(old, status, now)
    new["reason"] = reason
    new["message"] = message
    out = [new if c.get("type") == type_ else c for c in conditions]
    if old is None:
        out.append(new)
    return out


__all__ = ["Condition", "condition_status", "find_condition", "is_condition_true",
           "set_condition", "transition_time"]
