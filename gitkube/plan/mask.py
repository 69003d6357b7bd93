"""Secret values never leave gitkube in any output: text, JSON, saved plans, history.

A Secret's ``data``/``stringData`` values are compared as sha256 digests (normalize.py); here
every such value is replaced by a marker before anything is shown or saved.
"""

from __future__ import annotations

from typing import Any

from gitkube.plan.model import Change, FieldChange

SENSITIVE = "(sensitive value)"
_SECRET_FIELDS = ("data", "stringData")


def _mask_tree(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _mask_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_tree(v) for v in value]
    return SENSITIVE if value is not None else None


def mask_field(change: FieldChange) -> FieldChange:
    """A FieldChange of a Secret with every value under data/stringData masked."""
    path = change.path
    if not path or path[0] not in _SECRET_FIELDS:
        return change
    return FieldChange(
        path,
        change.op,
        before=_mask_tree(change.before),
        after=_mask_tree(change.after),
        drift=change.drift,
        owner=change.owner,
    )


def masked_fields(change: Change) -> tuple[FieldChange, ...]:
    """The change's fields as they may be shown."""
    if not change.sensitive:
        return change.fields
    return tuple(mask_field(f) for f in change.fields)


def mask_object(obj: dict[str, Any]) -> dict[str, Any]:
    """A copy of an object safe to show or save (Secret values masked; others unchanged)."""
    if obj.get("kind") != "Secret":
        return obj
    out = dict(obj)
    for key in _SECRET_FIELDS:
        if isinstance(out.get(key), dict):
            out[key] = _mask_tree(out[key])
    return out
