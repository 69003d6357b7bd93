"""Systematic mutations of an object, for the schema tests: every value replaced by each of a
few odd values, an unknown field added to every mapping, every key of a mapping removed."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

JsonPath = tuple[str | int, ...]
REPLACEMENTS: list[Any] = [None, "x", 7, 1.5, True, {}, [], {"zz": 1}, ["x"]]


def _nodes(value: Any, path: JsonPath = ()) -> Iterator[tuple[JsonPath, Any]]:
    yield path, value
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _nodes(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _nodes(v, (*path, i))


def _set(obj: Any, path: JsonPath, value: Any) -> None:
    for part in path[:-1]:
        obj = obj[part]
    obj[path[-1]] = value


def mutations(obj: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for path, value in list(_nodes(obj)):
        if path and path[0] in ("apiVersion", "kind"):
            continue
        if path:
            for replacement in REPLACEMENTS:
                m = copy.deepcopy(obj)
                _set(m, path, copy.deepcopy(replacement))
                yield m
        if isinstance(value, dict):
            m = copy.deepcopy(obj)
            target: Any = m
            for part in path:
                target = target[part]
            target["zzUnknown"] = 1
            yield m
            for key in value:
                m = copy.deepcopy(obj)
                target = m
                for part in path:
                    target = target[part]
                del target[key]
                yield m
