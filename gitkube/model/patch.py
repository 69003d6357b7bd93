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

Any other key starting with ``$`` is refused (HTTP 400), as upstream's strict decoding
refuses it, and so is a directive whose value has the wrong shape.

Errors raise ``PatchError``; ``PatchError.invalid`` tells a failed ``test`` or a missing path
(HTTP 422) from a malformed patch document (HTTP 400).

Bounded work, whatever the patch: a JSON patch has at most ``MAX_OPERATIONS`` operations
(upstream's ``maxJSONPatchOperations``), its ``copy`` operations copy at most
``MAX_COPY_BYTES`` in all (upstream's ``--json-patch-max-copy-bytes``; each ``copy`` may
double the document, so 25 of them would otherwise build 2^25 copies), and a patched
document nests no deeper than ``MAX_DEPTH`` levels (the bound on manifests and request
bodies); beyond these it is refused, not attempted. Copies are iterative and merges copy
the target once, so neither depth nor size turns into recursion errors or quadratic time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gitkube.errors import GitkubeError
from gitkube.model.mergekeys import SET_LISTS, merge_key

MAX_OPERATIONS = 10_000
MAX_COPY_BYTES = 3 * 1024 * 1024
MAX_DEPTH = 200


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
        return copy_json(patch)
    return _merge_into(copy_json(target) if isinstance(target, dict) else {}, patch)


def _merge_into(result: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """``patch`` merged into ``result`` (a copy this call owns) in place."""
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            current = result.get(key)
            result[key] = _merge_into(current if isinstance(current, dict) else {}, value)
        else:
            result[key] = copy_json(value)
    return result


# --- copies and sizes ------------------------------------------------------------------------


def copy_json(value: Any) -> Any:
    """A deep copy of JSON-compatible data, at any depth (no recursion)."""
    return _copy_sized(value, None)[0]


def _copy_sized(value: Any, budget: int | None) -> tuple[Any, int]:
    """A deep copy of ``value`` and its approximate size in JSON bytes; PatchError (422) as
    soon as the size passes ``budget`` (None: no budget)."""
    size = 0

    def fresh(item: Any) -> Any:
        nonlocal size
        if isinstance(item, dict):
            size += 2
            return {}
        if isinstance(item, list):
            size += 2
            return []
        size += len(item) + 2 if isinstance(item, str) else 8
        return item

    root = fresh(value)
    stack: list[tuple[Any, Any]] = [(value, root)] if isinstance(value, (dict, list)) else []
    while stack:
        source, target = stack.pop()
        if isinstance(source, dict):
            for key, child in source.items():
                size += len(key) + 4
                target[key] = made = fresh(child)
                if made is not child:
                    stack.append((child, made))
        else:
            for child in source:
                size += 1
                made = fresh(child)
                target.append(made)
                if made is not child:
                    stack.append((child, made))
        if budget is not None and size > budget:
            raise PatchError(f"the JSON patch's copy operations copy more than "
                             f"{MAX_COPY_BYTES} bytes", invalid=True)
    return root, size


def depth_exceeds(value: Any, limit: int) -> bool:
    """True when ``value`` nests more than ``limit`` containers deep (no recursion)."""
    stack = [(value, 1)] if isinstance(value, (dict, list)) else []
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list)))
    return False


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
    """RFC 6902: apply every operation in order to a copy of ``target``; all or nothing.
    Bounded as the module docstring says."""
    if not isinstance(operations, list):
        raise PatchError("a JSON patch must be a list of operations")
    if len(operations) > MAX_OPERATIONS:
        raise PatchError(f"the allowed maximum operations in a JSON patch is "
                         f"{MAX_OPERATIONS}, got {len(operations)}")
    doc = copy_json(target)
    budget = _CopyBudget(MAX_COPY_BYTES)
    for n, op in enumerate(operations):
        kind, path = _operation(n, op)
        apply = _OPERATIONS.get(kind) if isinstance(kind, str) else None
        if apply is None:
            raise PatchError(f"operation {n}: unknown op {kind!r}"[:300])
        doc = apply(doc, path, op, n, budget)
    if depth_exceeds(doc, MAX_DEPTH):
        raise PatchError(f"the patched object nests deeper than {MAX_DEPTH} levels",
                         invalid=True)
    return doc


class _CopyBudget:
    """The bytes the ``copy`` operations of one JSON patch may still copy."""

    __slots__ = ("left",)

    def __init__(self, left: int):
        self.left = left


def _operation(n: int, op: Any) -> tuple[Any, Any]:
    """The op and path of operation ``n``; PatchError when a field its op needs is missing."""
    if not isinstance(op, dict) or "op" not in op or "path" not in op:
        raise PatchError(f"operation {n}: needs 'op' and 'path': {op!r}"[:300])
    kind, path = op["op"], op["path"]
    if kind in ("add", "replace", "test") and "value" not in op:
        raise PatchError(f"operation {n} ({kind} {path}): missing 'value'")
    if kind in ("move", "copy") and "from" not in op:
        raise PatchError(f"operation {n} ({kind} {path}): missing 'from'")
    return kind, path


def _op_add(doc: Any, path: str, op: dict[str, Any], n: int, budget: _CopyBudget) -> Any:
    return _add(doc, path, copy_json(op["value"]))


def _op_remove(doc: Any, path: str, op: dict[str, Any], n: int, budget: _CopyBudget) -> Any:
    doc, _ = _remove(doc, path)
    return doc


def _op_replace(doc: Any, path: str, op: dict[str, Any], n: int, budget: _CopyBudget) -> Any:
    _get(doc, path)  # must exist
    if _pointer(path):
        doc, _ = _remove(doc, path)
    return _add(doc, path, copy_json(op["value"]))


def _op_move(doc: Any, path: str, op: dict[str, Any], n: int, budget: _CopyBudget) -> Any:
    source = op["from"]
    if isinstance(path, str) and isinstance(source, str) and path.startswith(source + "/"):
        raise PatchError(f"operation {n}: cannot move {source} into itself")
    doc, value = _remove(doc, source)
    return _add(doc, path, value)


def _op_copy(doc: Any, path: str, op: dict[str, Any], n: int, budget: _CopyBudget) -> Any:
    value, size = _copy_sized(_get(doc, op["from"]), budget.left)
    budget.left -= size
    return _add(doc, path, value)


def _op_test(doc: Any, path: str, op: dict[str, Any], n: int, budget: _CopyBudget) -> Any:
    try:
        equal = _get(doc, path) == op["value"]
    except RecursionError:
        equal = False
    if not equal:
        raise PatchError(f"test operation failed at {path}", invalid=True)
    return doc


_OPERATIONS: dict[str, Callable[[Any, str, dict[str, Any], int, _CopyBudget], Any]] = {
    "add": _op_add,
    "remove": _op_remove,
    "replace": _op_replace,
    "move": _op_move,
    "copy": _op_copy,
    "test": _op_test,
}


# --- strategic merge -----------------------------------------------------------------------

_ORDER = "$setElementOrder/"
_DELETE_PRIMITIVE = "$deleteFromPrimitiveList/"
_PATCH = "$patch"
_RETAIN = "$retainKeys"


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    """Kubernetes strategic merge for the common cases (see the module docstring)."""
    if not isinstance(patch, dict):
        raise PatchError("a strategic merge patch must be an object")
    result = _smp_map(copy_json(target) if isinstance(target, dict) else {}, patch)
    return result if result is not None else {}


def _check_directives(patch: dict[str, Any]) -> None:
    """PatchError (400) for an unknown ``$`` key or a directive of the wrong shape."""
    for key, value in patch.items():
        if not key.startswith("$"):
            continue
        if key == _PATCH:
            if value not in ("replace", "delete"):
                raise PatchError(f"unknown $patch directive {value!r}"[:200])
        elif key == _RETAIN:
            if not isinstance(value, list) or not all(isinstance(k, str) for k in value):
                raise PatchError("$retainKeys must be a list of field names")
        elif key.startswith((_ORDER, _DELETE_PRIMITIVE)):
            if not isinstance(value, list):
                raise PatchError(f"{key} must be a list")
        else:
            raise PatchError(f"unknown strategic merge patch directive {key!r}"[:200])


def _check_nested(value: Any) -> None:
    """An unknown ``$`` key anywhere inside a value that replaces a field wholesale."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, child in item.items():
                if key.startswith("$") and key != _PATCH:
                    raise PatchError(f"unknown strategic merge patch directive {key!r}"[:200])
                stack.append(child)
        elif isinstance(item, list):
            stack.extend(item)


def _smp_map(result: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any] | None:
    """``patch`` merged into ``result`` (a copy this call owns) in place; None: delete."""
    _check_directives(patch)
    directive = patch.get(_PATCH)
    if directive == "delete":
        return None
    if directive == "replace":
        replaced = {k: copy_json(v) for k, v in patch.items() if k != _PATCH}
        _check_nested(replaced)
        return replaced
    for key, value in patch.items():
        if key in (_PATCH, _RETAIN) or key.startswith(_ORDER):
            continue
        if key.startswith(_DELETE_PRIMITIVE):
            field = key[len(_DELETE_PRIMITIVE):]
            if isinstance(result.get(field), list):
                result[field] = _without(result[field], value)
        else:
            _smp_field(result, key, value)
    for key, order in patch.items():
        if key.startswith(_ORDER):
            field = key[len(_ORDER):]
            if isinstance(result.get(field), list):
                result[field] = _reorder(field, result[field], order)
    retain = patch.get(_RETAIN)
    if isinstance(retain, list):
        keep = set(retain)
        result = {k: v for k, v in result.items() if k in keep}
    return result


def _smp_field(result: dict[str, Any], key: str, value: Any) -> None:
    """One field of a patch merged into ``result``: null deletes, a map merges, a list
    merges by its strategy, anything else replaces."""
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
        result[key] = value


def _hashable(items: list[Any]) -> bool:
    return all(isinstance(x, (str, int, float, bool)) or x is None for x in items)


def _without(items: list[Any], removed: list[Any]) -> list[Any]:
    """``items`` less every value in ``removed`` (a set lookup when the values allow)."""
    if _hashable(removed):
        gone = set(removed)
        return [x for x in items if not (_hashable([x]) and x in gone)]
    return [x for x in items if x not in removed]


def _smp_list(field: str, original: Any, patch: list[Any]) -> list[Any]:
    if any(isinstance(x, dict) and x.get(_PATCH) == "replace" for x in patch):
        replaced = [copy_json(x) for x in patch if not (isinstance(x, dict) and _PATCH in x)]
        _check_nested(replaced)
        return replaced
    current = original if isinstance(original, list) else []
    if field in SET_LISTS:
        return _set_union(current, patch)
    key = merge_key(field, [*current, *patch])
    if key is None or not all(isinstance(x, dict) for x in patch):
        replaced = [copy_json(x) for x in patch]
        _check_nested(replaced)
        return replaced
    return _merge_by_key(field, key, current, patch)


def _set_union(current: list[Any], patch: list[Any]) -> list[Any]:
    """A list merged as a set: ``current``, then each new value of ``patch`` in order."""
    merged = list(current)
    if _hashable(merged) and _hashable(patch):
        seen = set(merged)
        for x in patch:
            if x not in seen:
                seen.add(x)
                merged.append(x)
    else:
        merged.extend(copy_json(x) for x in patch if x not in merged)
    return merged


def _merge_by_key(field: str, key: str, current: list[Any],
                  patch: list[dict[str, Any]]) -> list[Any]:
    """A list of maps merged element by element, matched by their ``key`` field."""
    result: list[Any] = list(current)
    # where the items with each merge key value sit in ``result``: one lookup per element
    at_key: dict[Any, list[int]] = {}
    for i, x in enumerate(result):
        if isinstance(x, dict) and _hashable([x.get(key)]):
            at_key.setdefault(x.get(key), []).append(i)
    removed = False
    for element in patch:
        if key not in element:
            raise PatchError(f"{field}: element {element!r} lacks merge key {key!r}"[:300])
        value = element[key]
        if not _hashable([value]):
            raise PatchError(f"{field}: the merge key {key!r} must be a string or number")
        places = at_key.get(value)
        deleting = element.get(_PATCH) == "delete"
        if not places:
            added = None if deleting else _smp_map({}, element)
            if added is not None:
                at_key[value] = [len(result)]
                result.append(added)
            continue
        updated = None if deleting else _smp_map(result[places[0]], element)
        if updated is None:
            result[places.pop(0)] = _DELETED
            removed = True
        else:
            result[places[0]] = updated
    return [x for x in result if x is not _DELETED] if removed else result


_DELETED = object()


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
