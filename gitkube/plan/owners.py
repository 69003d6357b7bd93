"""Field ownership in a plan: git yields the fields other managers own and git does not set.

gitkube's apply writes under the field manager ``gitkube`` (gitkube/plan/apply.py), so a live
object's ``metadata.managedFields`` (gitkube/api/ssa) say which of its fields someone else
changed since: an autoscaler's ``replicas``, ``kubectl scale``, a controller's label. The rule,
server-side apply's:

- a field another manager owns (and gitkube does not) that git does **not** set is theirs:
  a default git only has because defaulting put it there (``replicas: 1``) takes the live
  value, and a field git stopped setting is left live instead of removed. No change, no
  drift;
- a field another manager owns that git **does** set is a conflict: the plan shows it (as
  drift when git did not change it) with ``owner`` naming the manager, and apply takes it
  back (ownership returns to gitkube).

Pure functions over the normalized desired, live and last-applied objects.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

from gitkube.api.codec import copy_json
from gitkube.api.ssa import fieldset
from gitkube.api.ssa.fieldset import Trie
from gitkube.api.ssa.shape import KEY_DEFAULTS
from gitkube.plan.model import FieldChange, ItemKey, PathPart

FIELD_MANAGER = "gitkube"
Foreign = list[tuple[str, Trie]]  # (manager, the fields it owns and gitkube does not)
_MISSING: Any = object()


def foreign(live_full: dict[str, Any]) -> Foreign:
    """What managers other than gitkube own of a live object (empty for an object only
    gitkube wrote, or one without managedFields)."""
    entries = (live_full.get("metadata") or {}).get("managedFields")
    if not isinstance(entries, list) or not entries:
        return []
    mine: Trie = {}
    others: Foreign = []
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("fieldsV1"), dict):
            continue
        if entry.get("manager") == FIELD_MANAGER:
            mine = fieldset.union(mine, entry["fieldsV1"])
        elif entry.get("subresource") != "status":
            others.append((str(entry.get("manager") or ""), entry["fieldsV1"]))
    out = [(m, fieldset.difference(t, mine)) for m, t in others]
    return [(m, t) for m, t in out if t]


def yield_to_others(others: Foreign, raw: dict[str, Any], desired: dict[str, Any],
                    live: dict[str, Any], last: dict[str, Any] | None
                    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """``desired`` and ``last`` (copies) with every field other managers own and git
    (``raw``, the manifest as written) does not set handed to them: a defaulted value
    takes the live one; a field git stopped setting is no longer last-applied (so it is
    not removed)."""
    desired_out: dict[str, Any] | None = None
    last_out = last
    for _, trie in others:
        for path in fieldset.members(trie):
            if _get(raw, path) is not _MISSING:
                continue
            value = _get(live, path)
            if value is _MISSING:
                continue
            if _get(desired, path) is not _MISSING:
                desired_out = desired_out or copy_json(desired)
                _set(desired_out, path, copy_json(value))
            elif last_out is not None and _get(last_out, path) is not _MISSING:
                last_out = copy_json(last_out) if last_out is last else last_out
                _delete(last_out, path)
    return (desired_out if desired_out is not None else desired), last_out


def with_owners(others: Foreign, fields: Sequence[FieldChange]) -> list[FieldChange]:
    """The field changes, each naming the other manager that owns its live field."""
    out = []
    for f in fields:
        owner = owner_of(others, f.path)
        out.append(replace(f, owner=owner) if owner is not None else f)
    return out


def owner_of(others: Foreign, path: tuple[PathPart, ...]) -> str | None:
    """The manager (not gitkube) that owns the field at a plan path, or something under it;
    an atomic value owned whole counts for every path inside it."""
    for manager, trie in others:
        if _owns(trie, path):
            return manager
    return None


def _owns(trie: Trie, path: tuple[PathPart, ...]) -> bool:
    node = trie
    for i, part in enumerate(path):
        element = _element(node, part)
        if element is None:
            # an index into an atomic list, or a field of an atomic value: its owner is the
            # owner of what holds it
            return i > 0 and isinstance(part, int | str) and fieldset.is_member(node)
        node = node[element]
    return True


def _element(node: Trie, part: PathPart) -> str | None:
    if isinstance(part, ItemKey):
        for element in node:
            if element.startswith("k:") and json.loads(element[2:]).get(part.key) == part.value:
                return element
        return None
    if isinstance(part, int):
        return None
    element = "f:" + part
    return element if element in node else None


# --- navigating an object by a FieldsV1 path --------------------------------------------


def _items(value: Any, element: str) -> Iterator[int]:
    """Indexes of the list items a ``k:``, ``v:`` or ``i:`` element names."""
    if not isinstance(value, list):
        return
    kind, _, rest = element.partition(":")
    if kind == "i":
        index = int(rest)
        if 0 <= index < len(value):
            yield index
        return
    wanted = json.loads(rest)
    for i, item in enumerate(value):
        if (kind == "v" and item == wanted) or (kind == "k" and isinstance(item, dict) and all(
                item.get(k, KEY_DEFAULTS.get(k)) == v for k, v in wanted.items())):
            yield i


def _step(value: Any, element: str) -> tuple[Any, Any]:
    """(container, key) for one element of a path, or (None, _MISSING)."""
    if element.startswith("f:"):
        if isinstance(value, dict) and element[2:] in value:
            return value, element[2:]
        return None, _MISSING
    for i in _items(value, element):
        return value, i
    return None, _MISSING


def _get(obj: Any, path: tuple[str, ...]) -> Any:
    value = obj
    for element in path:
        container, key = _step(value, element)
        if key is _MISSING:
            return _MISSING
        value = container[key]
    return value


def _set(obj: Any, path: tuple[str, ...], new: Any) -> None:
    container, key = _step(_get(obj, path[:-1]), path[-1])
    if key is not _MISSING:
        container[key] = new


def _delete(obj: Any, path: tuple[str, ...]) -> None:
    container, key = _step(_get(obj, path[:-1]), path[-1])
    if key is not _MISSING:
        del container[key]
