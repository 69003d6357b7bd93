"""The three-way diff of one object: desired (git), live (store), last-applied (annotation).

All three are normalized (normalize.py). For each field:

- in git, and live differs -> a change; it is **drift** when git's value equals the
  last-applied value (git did not change, so the live value was changed outside git).
- in last-applied but no longer in git, and still live -> removed (git removed the field).
- live only, never applied by gitkube -> not ours (set by someone else): left alone.

Mappings are merged key by key. Lists with a strategic-merge key (gitkube/model/mergekeys.py:
containers, env, volumes... by ``name``, volumeMounts by ``mountPath``, container ports by
``containerPort``, a Service's ports by ``port``) are merged item by item, items matched by
their key, with the same three rules per item: an item git added is added, an item git removed
is removed, a live-only item is left alone; its path names the key
(``spec.template.spec.containers[name=httpd].image``). A pure reorder of a keyed list is not
a change, and merge keeps the live order (new items go after the git item they follow).
Other lists (and keyed lists whose items lack the key or repeat it) are atomic: of equal
length they are compared item by item (``args[1]``), else replaced whole with git's list.
``merge`` computes the object apply writes, consistent with the diff.
"""

from __future__ import annotations

from typing import Any

from gitkube.model.mergekeys import merge_key_at
from gitkube.plan.model import FieldChange, ItemKey, PathPart


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


def keyed_items(items: Any, key: str) -> dict[Any, dict[str, Any]] | None:
    """The items of a keyed list by their key's value, in list order; None when the list
    cannot be merged by key (not a list, an item that is not a mapping, lacks the key, or
    repeats a value): such a list is compared as an atomic list."""
    if not isinstance(items, list):
        return None
    out: dict[Any, dict[str, Any]] = {}
    for item in items:
        if not isinstance(item, dict):
            return None
        value = item.get(key, MISSING)
        if not isinstance(value, str | int) or isinstance(value, bool) or value in out:
            return None
        out[value] = item
    return out


def _keyed_pair(
    d: list[Any], live: list[Any], path: tuple[PathPart, ...]
) -> tuple[str, dict[Any, dict[str, Any]], dict[Any, dict[str, Any]]] | None:
    key = merge_key_at(path)
    if key is None:
        return None
    d_by = keyed_items(d, key)
    if d_by is None:
        return None
    live_by = keyed_items(live, key)
    if live_by is None:
        return None
    return key, d_by, live_by


def _walk(d: Any, live: Any, a: Any, path: tuple[PathPart, ...], out: list[FieldChange]) -> None:
    if isinstance(d, dict) and isinstance(live, dict):
        _walk_map(d, live, a, path, out)
        return
    if isinstance(d, list) and isinstance(live, list) and d != live:
        keyed = _keyed_pair(d, live, path)
        if keyed is not None:
            _walk_keyed(*keyed, a, path, out)
            return
        if len(d) == len(live):
            a_list = a if isinstance(a, list) and len(a) == len(d) else None
            for i, item in enumerate(d):
                _walk(item, live[i], a_list[i] if a_list is not None else MISSING, (*path, i),
                      out)
            return
    if live is MISSING:
        out.append(FieldChange(path, "add", after=d, drift=a is not MISSING and a == d))
    elif d != live:
        out.append(
            FieldChange(path, "replace", before=live, after=d, drift=a is not MISSING and a == d)
        )


def _walk_map(d: dict[str, Any], live: dict[str, Any], a: Any, path: tuple[PathPart, ...],
              out: list[FieldChange]) -> None:
    """A mapping key by key; a live key git removed (it was last applied) is removed."""
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


def _walk_keyed(key: str, d_by: dict[Any, dict[str, Any]], live_by: dict[Any, dict[str, Any]],
                a: Any, path: tuple[PathPart, ...], out: list[FieldChange]) -> None:
    """A keyed list item by item; a live item git removed (it was last applied) is removed."""
    a_by = keyed_items(a, key)
    for value, item in d_by.items():
        _walk(
            item,
            live_by.get(value, MISSING),
            a_by.get(value, MISSING) if a_by is not None else MISSING,
            (*path, ItemKey(key, value)),
            out,
        )
    if a_by is not None:
        for value, item in live_by.items():
            if value not in d_by and value in a_by:
                out.append(FieldChange((*path, ItemKey(key, value)), "remove", before=item))


def merge(desired: Any, live: Any, last: Any) -> Any:
    """The object apply writes: git's fields, minus fields git removed, plus live fields
    gitkube never managed (so what others add survives)."""
    return _merge(desired, live, last, ())


def _merge(desired: Any, live: Any, last: Any, path: tuple[PathPart, ...]) -> Any:
    if desired == live:  # nothing of live's to keep (and most subtrees are unchanged)
        return desired
    if isinstance(desired, dict) and isinstance(live, dict):
        a_dict = last if isinstance(last, dict) else {}
        out: dict[str, Any] = {
            k: v for k, v in live.items() if k not in desired and k not in a_dict
        }
        for key, value in desired.items():
            if isinstance(value, dict | list):
                out[key] = _merge(value, live.get(key, MISSING), a_dict.get(key, MISSING),
                                  (*path, key))
            else:  # a scalar: git's value (no need to build its path)
                out[key] = value
        return out
    if isinstance(desired, list) and isinstance(live, list):
        keyed = _keyed_pair(desired, live, path)
        if keyed is not None:
            return _merge_keyed(*keyed, last, path)
        if len(desired) == len(live):
            a_list = last if isinstance(last, list) and len(last) == len(desired) else None
            return [
                _merge(item, live[i], a_list[i] if a_list is not None else MISSING, (*path, i))
                for i, item in enumerate(desired)
            ]
    return desired


def _merge_keyed(
    key: str, d_by: dict[Any, dict[str, Any]], live_by: dict[Any, dict[str, Any]], last: Any,
    path: tuple[PathPart, ...],
) -> list[Any]:
    """A keyed list as apply writes it, in live order: git's items merged with their live
    items, items git removed dropped, live-only items kept where they are; an item new in git
    goes right after the git item it follows (that is live), else first."""
    a_by = keyed_items(last, key) or {}
    new_after: dict[Any, list[Any]] = {}
    anchor = MISSING
    for value in d_by:
        if value in live_by:
            anchor = value
        else:
            new_after.setdefault(anchor, []).append(value)
    out: list[Any] = [d_by[v] for v in new_after.get(MISSING, ())]
    for value, item in live_by.items():
        if value in d_by:
            out.append(_merge(d_by[value], item, a_by.get(value, MISSING),
                              (*path, ItemKey(key, value))))
            out.extend(d_by[v] for v in new_after.get(value, ()))
        elif value not in a_by:
            out.append(item)
    return out
