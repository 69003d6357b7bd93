"""The three PATCH kinds of the Kubernetes API, as pure functions returning a new object.

- ``merge_patch`` — JSON Merge Patch (RFC 7386): maps merge recursively, ``null`` deletes a
  key, any other value (lists included) replaces.
- ``json_patch`` — JSON Patch (RFC 6902): add, remove, replace, move, copy, test, with JSON
  pointers (``~0`` ``~1`` escapes, ``-`` appends).
- ``strategic_merge_patch`` — Kubernetes' strategic merge for the common cases: like a merge
  patch, except lists with a known merge key merge element by element
  (containers/initContainers/env/volumes/imagePullSecrets by ``name``, volumeMounts by
  ``mountPath``, container ports by ``containerPort``, service ports by ``port``,
  conditions/addresses by ``type``, ownerReferences by ``uid``, hostAliases by ``ip``), and
  ``metadata.finalizers`` merges as a set (the key table: gitkube/model/mergekeys.py).
  Directives: ``$patch: delete`` (in a list element or a map), ``$patch: replace`` (a map,
  or an element of a list to replace the whole list), ``$setElementOrder/<field>``,
  ``$retainKeys``, ``$deleteFromPrimitiveList/<field>``.

Errors raise ``PatchError``; ``PatchError.invalid`` tells a failed ``test`` or a missing path
(HTTP 422) from a malformed patch document (HTTP 400).
"""

from __future__ import annotations

import copy
from typing import Any

from gitkube.errors import GitkubeError
from gitkube.model.mergekeys import SET_LISTS, merge_key


class PatchError(GitkubeError, ValueError):
    """A patch that cannot be applied. ``invalid`` is True when the patch is well formed but
    does not apply to this object (a failed test, a missing path). Still a ValueError, as it
    always was."""

    def __init__(self, message: str, *, invalid: bool = False):
        super().__init__(message)
        self.invalid = invalid


# --- RFC 7386 ------------------------------------------------------------------------------


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: a new value; ``target`` is not modified."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# --- RFC 6902 ------------------------------------------------------------------------------


def _pointer(path: Any) -> list[str]:
    if not isinstance(path, str) or (path and not path.startswith("/")):
        raise PatchError(f"invalid JSON pointer {path!r}")
    if path == "":
        return []
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _index(container: list[Any], token: str, *, allow_end: bool, path: str) -> int:
    if allow_end and token == "-":
        return len(container)
    if not token.isdigit() or (len(token) > 1 and token.startswith("0")):
        raise PatchError(f"invalid array index {token!r} in {path}", invalid=True)
    i = int(token)
    limit = len(container) if allow_end else len(container) - 1
    if i > limit:
        raise PatchError(f"array index {i} out of range in {path}", invalid=True)
    return i


def _parent(doc: Any, tokens: list[str], path: str) -> Any:
    current = doc
    for token in tokens[:-1]:
        if isinstance(current, dict):
            if token not in current:
                raise PatchError(f"path {path} does not exist", invalid=True)
            current = current[token]
        elif isinstance(current, list):
            current = current[_index(current, token, allow_end=False, path=path)]
        else:
            raise PatchError(f"path {path} does not exist", invalid=True)
    return current


def _get(doc: Any, path: str) -> Any:
    tokens = _pointer(path)
    if not tokens:
        return doc
    parent = _parent(doc, tokens, path)
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchError(f"path {path} does not exist", invalid=True)
        return parent[last]
    if isinstance(parent, list):
        return parent[_index(parent, last, allow_end=False, path=path)]
    raise PatchError(f"path {path} does not exist", invalid=True)


def _add(doc: Any, path: str, value: Any) -> Any:
    tokens = _pointer(path)
    if not tokens:
        return value
    parent = _parent(doc, tokens, path)
    last = tokens[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, last, allow_end=True, path=path), value)
    else:
        raise PatchError(f"path {path} does not exist", invalid=True)
    return doc


def _remove(doc: Any, path: str) -> tuple[Any, Any]:
    tokens = _pointer(path)
    if not tokens:
        raise PatchError("cannot remove the whole document", invalid=True)
    parent = _parent(doc, tokens, path)
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchError(f"path {path} does not exist", invalid=True)
        return doc, parent.pop(last)
    if isinstance(parent, list):
        return doc, parent.pop(_index(parent, last, allow_end=False, path=path))
    raise PatchError(f"path {path} does not exist", invalid=True)


def json_patch(target: Any, operations: Any) -> Any:
    """RFC 6902: apply every operation in order to a copy of ``target``; all or nothing."""
    if not isinstance(operations, list):
        raise PatchError("a JSON patch must be a list of operations")
    doc = copy.deepcopy(target)
    for n, op in enumerate(operations):
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise PatchError(f"operation {n}: needs 'op' and 'path': {op!r}")
        kind, path = op["op"], op["path"]
        if kind in ("add", "replace", "test") and "value" not in op:
            raise PatchError(f"operation {n} ({kind} {path}): missing 'value'")
        if kind in ("move", "copy") and "from" not in op:
            raise PatchError(f"operation {n} ({kind} {path}): missing 'from'")
        if kind == "add":
            doc = _add(doc, path, copy.deepcopy(op["value"]))
        elif kind == "remove":
            doc, _ = _remove(doc, path)
        elif kind == "replace":
            _get(doc, path)  # must exist
            if _pointer(path):
                doc, _ = _remove(doc, path)
            doc = _add(doc, path, copy.deepcopy(op["value"]))
        elif kind == "move":
            source = op["from"]
            if path.startswith(source + "/"):
                raise PatchError(f"operation {n}: cannot move {source} into itself")
            doc, value = _remove(doc, source)
            doc = _add(doc, path, value)
        elif kind == "copy":
            doc = _add(doc, path, copy.deepcopy(_get(doc, op["from"])))
        elif kind == "test":
            if _get(doc, path) != op["value"]:
                raise PatchError(f"test operation failed at {path}", invalid=True)
        else:
            raise PatchError(f"operation {n}: unknown op {kind!r}")
    return doc


# --- strategic merge -----------------------------------------------------------------------

_ORDER = "$setElementOrder/"
_DELETE_PRIMITIVE = "$deleteFromPrimitiveList/"


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    """Kubernetes strategic merge for the common cases (see the module docstring)."""
    if not isinstance(patch, dict):
        raise PatchError("a strategic merge patch must be an object")
    result = _smp_map(target if isinstance(target, dict) else {}, patch)
    return result if result is not None else {}


def _smp_map(original: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any] | None:
    directive = patch.get("$patch")
    if directive == "delete":
        return None
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if directive is not None:
        raise PatchError(f"unknown $patch directive {directive!r}")
    result = copy.deepcopy(original)
    for key, value in patch.items():
        if key in ("$patch", "$retainKeys") or key.startswith(_ORDER):
            continue
        if key.startswith(_DELETE_PRIMITIVE):
            field = key[len(_DELETE_PRIMITIVE):]
            if isinstance(result.get(field), list) and isinstance(value, list):
                result[field] = [x for x in result[field] if x not in value]
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            current = result.get(key)
            merged = _smp_map(current if isinstance(current, dict) else {}, value)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
        elif isinstance(value, list):
            result[key] = _smp_list(key, result.get(key), value)
        else:
            result[key] = copy.deepcopy(value)
    for key, order in patch.items():
        if key.startswith(_ORDER) and isinstance(order, list):
            field = key[len(_ORDER):]
            if isinstance(result.get(field), list):
                result[field] = _reorder(field, result[field], order)
    retain = patch.get("$retainKeys")
    if isinstance(retain, list):
        result = {k: v for k, v in result.items() if k in retain}
    return result


def _smp_list(field: str, original: Any, patch: list[Any]) -> list[Any]:
    if any(isinstance(x, dict) and x.get("$patch") == "replace" for x in patch):
        return [copy.deepcopy(x) for x in patch if not (isinstance(x, dict) and "$patch" in x)]
    current = original if isinstance(original, list) else []
    if field in SET_LISTS:
        merged = list(copy.deepcopy(current))
        merged.extend(x for x in patch if x not in merged)
        return merged
    key = merge_key(field, [*current, *patch])
    if key is None or not all(isinstance(x, dict) for x in patch):
        return [copy.deepcopy(x) for x in patch]
    result = [copy.deepcopy(x) for x in current]
    for element in patch:
        if key not in element:
            raise PatchError(f"{field}: element {element!r} lacks merge key {key!r}")
        at = next(
            (i for i, x in enumerate(result) if isinstance(x, dict) and x.get(key) == element[key]),
            None,
        )
        if element.get("$patch") == "delete":
            if at is not None:
                result.pop(at)
            continue
        if at is None:
            added = _smp_map({}, element)
            if added is not None:
                result.append(added)
        else:
            updated = _smp_map(result[at], element)
            if updated is None:
                result.pop(at)
            else:
                result[at] = updated
    return result


def _reorder(field: str, items: list[Any], order: list[Any]) -> list[Any]:
    """``$setElementOrder``: items named in ``order`` first, in that order; the rest after."""
    key = merge_key(field, items)
    if key is None:
        ranked = {repr(v): i for i, v in enumerate(order)}
        return sorted(items, key=lambda x: ranked.get(repr(x), len(ranked)))
    positions = {
        repr(o.get(key)): i for i, o in enumerate(order) if isinstance(o, dict) and key in o
    }
    return sorted(
        items,
        key=lambda x: positions.get(
            repr(x.get(key)) if isinstance(x, dict) else "", len(positions)
        ),
    )
