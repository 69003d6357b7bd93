"""The three-way diff of one object: desired (git), live (store), last-applied (annotation).

All three are normalized (normalize.py). For each field:

- in git, and live differs -> a change; it is **drift** when git's value equals the
  last-applied value (git did not change, so the live value was changed outside git).
- in last-applied but no longer in git, and still live -> removed (git removed the field).
- live only, never applied by gitkube -> not ours (set by someone else): left alone.

Mappings are merged key by key; lists of equal length item by item (so a changed image is
``spec.template.spec.containers[0].image``); lists whose length changed are replaced whole
with git's list.
``merge`` computes the object apply writes, consistent with the diff.
"""

from __future__ import annotations

from typing import Any

from gitkube.plan.model import FieldChange, PathPart


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


MISSING: Any = _Missing()


def three_way(
    desired: dict[str, Any], live: dict[str, Any], last: dict[str, Any] | None
) -> list[FieldChange]:
    """Field changes that turn ``live`` into what git wants (empty when they agree)."""
    if desired == live:
        return []
    out: list[FieldChange] = []
    _walk(desired, live, last if last is not None else MISSING, (), out)
    return out


def _walk(d: Any, live: Any, a: Any, path: tuple[PathPart, ...], out: list[FieldChange]) -> None:
    if isinstance(d, dict) and isinstance(live, dict):
        a_dict = a if isinstance(a, dict) else None
        for key in d:
            _walk(
                d[key],
                live.get(key, MISSING),
                a_dict.get(key, MISSING) if a_dict is not None else MISSING,
                (*path, key),
                out,
            )
        if a_dict is not None:
            for key in live:
                if key not in d and key in a_dict:
                    out.append(FieldChange((*path, key), "remove", before=live[key]))
        return
    if isinstance(d, list) and isinstance(live, list) and len(d) == len(live) and d != live:
        a_list = a if isinstance(a, list) and len(a) == len(d) else None
        for i, item in enumerate(d):
            _walk(item, live[i], a_list[i] if a_list is not None else MISSING, (*path, i), out)
        return
    if live is MISSING:
        out.append(FieldChange(path, "add", after=d, drift=a is not MISSING and a == d))
    elif d != live:
        out.append(
            FieldChange(path, "replace", before=live, after=d, drift=a is not MISSING and a == d)
        )


def merge(desired: Any, live: Any, last: Any) -> Any:
    """The object apply writes: git's fields, minus fields git removed, plus live fields
    gitkube never managed (so what others add survives)."""
    if isinstance(desired, dict) and isinstance(live, dict):
        a_dict = last if isinstance(last, dict) else {}
        out: dict[str, Any] = {
            k: v for k, v in live.items() if k not in desired and k not in a_dict
        }
        for key, value in desired.items():
            out[key] = merge(value, live.get(key, MISSING), a_dict.get(key, MISSING))
        return out
    if isinstance(desired, list) and isinstance(live, list) and len(desired) == len(live):
        a_list = last if isinstance(last, list) and len(last) == len(desired) else None
        return [
            merge(item, live[i], a_list[i] if a_list is not None else MISSING)
            for i, item in enumerate(desired)
        ]
    return desired
