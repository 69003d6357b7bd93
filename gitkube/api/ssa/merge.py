"""Merging an applied configuration into a live object, and removing the fields a manager
stopped applying — structured-merge-diff's rules, by the shape of each node.

- struct and free map: merged key by key; a ``null`` in the configuration removes the key;
- keyed list (``x-kubernetes-list-type: map`` or a patch merge key): items matched by their
  keys and merged; the configuration's items come in its order, items only the live object
  has keep their place after the item they followed;
- set (``x-kubernetes-list-type: set``): the union, live values first;
- atomic list or map, scalar: the configuration's value replaces the live one.
"""

from __future__ import annotations

from typing import Any

from gitkube.api.codec import copy_json
from gitkube.api.ssa.fieldset import MEMBER, Trie, has_below, is_member, item_key
from gitkube.api.ssa.shape import Shape

_MAPS = frozenset({"struct", "map", "deduced"})


def merge(live: Any, config: Any, shape: Shape) -> Any:
    """``live`` with ``config`` applied (a new value; neither input is changed)."""
    node = shape.node
    if isinstance(config, dict) and isinstance(live, dict) and node in _MAPS:
        out = dict(live)
        for k, v in config.items():
            if v is None:
                out.pop(k, None)
            else:
                out[k] = merge(live.get(k), v, shape.child(k))
        return out
    if isinstance(config, list) and isinstance(live, list):
        if node == "list-map":
            return _merge_keyed(live, config, shape)
        if node == "list-set":
            seen = {item_key(shape, v) for v in live}
            return [*copy_json(live), *(copy_json(v) for v in config
                                        if item_key(shape, v) not in seen)]
    return copy_json(config)


def _merge_keyed(live: list[Any], config: list[Any], shape: Shape) -> list[Any]:
    item_shape = shape.item()
    live_by_key = {item_key(shape, item): item for item in live}
    config_keys = {item_key(shape, item) for item in config}
    # live-only items, grouped under the config item they followed (None: the start)
    following: dict[str | None, list[Any]] = {}
    last: str | None = None
    for item in live:
        key = item_key(shape, item)
        if key in config_keys:
            last = key
        else:
            following.setdefault(last, []).append(copy_json(item))
    out: list[Any] = following.pop(None, [])
    for item in config:
        key = item_key(shape, item)
        before = live_by_key.get(key)
        out.append(merge(before, item, item_shape) if before is not None else copy_json(item))
        out.extend(following.pop(key, []))
    return out


def remove(value: Any, drop: Trie, keep: Trie, shape: Shape) -> Any:
    """``value`` without the members of ``drop``; a member that ``keep`` (other managers'
    fields) has something under stays, and only the parts of it nobody else owns go. A free
    map or list that removal empties goes too. Returns a new value."""
    node = shape.node
    if isinstance(value, dict) and node in _MAPS:
        out = dict(value)
        for element, sub in drop.items():
            if not element.startswith("f:"):
                continue
            name = element[2:]
            if name not in out:
                continue
            if is_member(sub) and not has_below(keep, (element,)):
                del out[name]
                continue
            kept = keep.get(element) or {}
            child = shape.child(name)
            new = remove(out[name], {k: v for k, v in sub.items() if k != MEMBER},
                         {k: v for k, v in kept.items() if k != MEMBER}, child)
            if new in ({}, []) and out[name] not in ({}, []) and child.node != "struct":
                del out[name]
            else:
                out[name] = new
        return out
    if isinstance(value, list) and node in ("list-map", "list-set"):
        item_shape = shape.item()
        items: list[Any] = []
        for item in value:
            key = item_key(shape, item)
            sub = drop.get(key)
            if sub is None:
                items.append(item)
                continue
            if is_member(sub) and key not in keep:
                continue
            kept = keep.get(key) or {}
            items.append(remove(item, {k: v for k, v in sub.items() if k != MEMBER},
                                {k: v for k, v in kept.items() if k != MEMBER}, item_shape))
        return items
    return value
