"""Field sets: which fields of an object a manager owns, in upstream's FieldsV1 encoding.

A field set is a trie stored exactly as ``metadata.managedFields[].fieldsV1`` is written:
a dict from path elements to child tries. Elements are ``f:<field>`` (a struct field or a
map key), ``k:<json>`` (an item of a keyed list, by its key fields: ``k:{"name":"web"}``),
``v:<json>`` (an item of a set: ``v:"a"``) and ``i:<n>`` (an index). A node that is itself
a member of the set is an empty dict, or has a ``"."`` entry beside its children; a node
that only leads to members has neither.

Pure functions: the set of an object's fields (``fields_of``, upstream's ToFieldSet), the
fields that differ between two versions (``changed``), set algebra, and the conflict path
text (``.spec.template.spec.containers[name="web"].image``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from gitkube.api.ssa.shape import KEY_DEFAULTS, Shape

Trie = dict[str, Any]
MEMBER = "."
_ATOMIC = frozenset({"scalar", "atomic", "list-atomic"})
_MAPS = frozenset({"struct", "map", "deduced"})
# Metadata that the server sets: never owned by a manager (upstream strips the same).
_SERVER_META = ("f:name", "f:namespace", "f:creationTimestamp", "f:selfLink", "f:uid",
                "f:generation", "f:managedFields", "f:resourceVersion",
                "f:deletionTimestamp", "f:deletionGracePeriodSeconds", "f:generateName")


def is_member(node: Trie) -> bool:
    """Whether the node is itself in the set (not only on the way to members)."""
    return not node or MEMBER in node


def _node(member: bool, children: Trie) -> Trie | None:
    if not children:
        return {} if member else None
    return {MEMBER: {}, **children} if member else children


def _children(node: Trie) -> Trie:
    return {k: v for k, v in node.items() if k != MEMBER}


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


_PLAIN = re.compile(r"[A-Za-z0-9_./-]*")


def item_key(shape: Shape, item: Any) -> str:
    """The path element of one list item: ``k:{...}`` in a keyed list, ``v:...`` in a set."""
    if shape.node == "list-map" and isinstance(item, dict):
        if len(shape.keys) == 1:  # the common case (a name), without the JSON encoder
            name = shape.keys[0]
            value = item.get(name)
            if isinstance(value, str) and _PLAIN.fullmatch(value):
                return 'k:{"' + name + '":"' + value + '"}'
        key = {k: item.get(k, KEY_DEFAULTS.get(k)) for k in shape.keys}
        return "k:" + _compact({k: v for k, v in key.items() if v is not None})
    return "v:" + _compact(item)


# --- an object's fields ---------------------------------------------------------------------


def fields_of(value: Any, shape: Shape) -> Trie:
    """The set of fields an object (or an applied configuration) sets: every scalar, atomic
    list and atomic map; every item of a keyed list or set; every key of a free map; every
    null or empty map. Struct fields that only lead somewhere are not members."""
    children, _ = _walk(value, shape)
    return children


def _walk(value: Any, shape: Shape) -> tuple[Trie, bool]:
    node = shape.node
    if value is None or node in _ATOMIC:
        return {}, True
    if isinstance(value, dict):
        if node not in _MAPS:
            return {}, True
        out: Trie = {}
        for k, v in value.items():
            if not isinstance(v, dict | list):  # a scalar or null: a member, whatever its shape
                out["f:" + k] = {}
                continue
            sub, member = _walk(v, shape.child(k))
            member = member or v == {} or not shape.declares(k)
            made = _node(member, sub)
            if made is not None:
                out["f:" + k] = made
        return out, False
    if isinstance(value, list):
        if node == "list-map":
            item_shape = shape.item()
            items: Trie = {}
            for item in value:
                sub, _ = _walk(item, item_shape)
                items[item_key(shape, item)] = _node(True, sub)
            return items, False
        if node == "list-set":
            return {item_key(shape, v): {} for v in value}, False
    return {}, True


def changed(old: Any, new: Any, shape: Shape, *, mark_added: bool = False) -> Trie:
    """The fields of ``new`` that ``old`` does not have or has with another value (upstream's
    Added and Modified). ``mark_added``: a free map or list item that is new is itself a
    member too (how an Update records what it created, ``f:labels: {.: {}, f:app: {}}``)."""
    children, _ = _changed(old, new, shape, mark_added)
    return children


def _changed(old: Any, new: Any, shape: Shape, mark: bool) -> tuple[Trie, bool]:
    if old == new:
        return {}, False
    node = shape.node
    if isinstance(new, dict) and isinstance(old, dict) and node in _MAPS:
        out: Trie = {}
        for k, v in new.items():
            if k not in old and not isinstance(v, dict | list):
                out["f:" + k] = {}
                continue
            child = shape.child(k)
            if k not in old:
                sub, member = _walk(v, child)
                member = member or v is None or v == {} or not shape.declares(k) or (
                    mark and child.node in ("map", "deduced"))
            else:
                sub, member = _changed(old[k], v, child, mark)
            made = _node(member, sub)
            if made is not None:
                out["f:" + k] = made
        return out, False
    if isinstance(new, list) and isinstance(old, list) and node in ("list-map", "list-set"):
        if node == "list-set":
            seen = {item_key(shape, v) for v in old}
            return {k: {} for k in (item_key(shape, v) for v in new) if k not in seen}, False
        item_shape = shape.item()
        before = {item_key(shape, item): item for item in old}
        items: Trie = {}
        for item in new:
            key = item_key(shape, item)
            if key in before:
                sub, _ = _changed(before[key], item, item_shape, mark)
                made = _node(False, sub)
            else:
                sub, _ = _walk(item, item_shape)
                made = _node(True, sub)
            if made is not None:
                items[key] = made
        return items, False
    return {}, True


# --- set algebra ----------------------------------------------------------------------------


def union(a: Trie, b: Trie) -> Trie:
    """Every member of ``a`` or ``b``."""
    if not b:
        return a
    out: Trie = dict(a)
    for k, nb in b.items():
        if k == MEMBER:
            out[MEMBER] = {}
            continue
        na = out.get(k)
        if na is None:
            out[k] = nb
            continue
        member = is_member(na) or is_member(nb)
        made = _node(member, union(_children(na), _children(nb)))
        out[k] = made if made is not None else {}
    return out


def difference(a: Trie, b: Trie) -> Trie:
    """The members of ``a`` that are not members of ``b``."""
    if not b:
        return a
    out: Trie = {}
    for k, na in a.items():
        if k == MEMBER:
            continue
        nb = b.get(k)
        if nb is None:
            out[k] = na
            continue
        member = is_member(na) and not is_member(nb)
        made = _node(member, difference(_children(na), _children(nb)))
        if made is not None:
            out[k] = made
    return out


def intersection(a: Trie, b: Trie) -> Trie:
    """The members of both ``a`` and ``b``."""
    out: Trie = {}
    for k, na in a.items():
        if k == MEMBER:
            continue
        nb = b.get(k)
        if nb is None:
            continue
        member = is_member(na) and is_member(nb)
        made = _node(member, intersection(_children(na), _children(nb)))
        if made is not None:
            out[k] = made
    return out


def members(trie: Trie, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every member path, depth first, in the trie's order."""
    for k, node in trie.items():
        if k == MEMBER:
            continue
        path = (*prefix, k)
        if is_member(node):
            yield path
        yield from members(node, path)


def has_below(trie: Trie, path: tuple[str, ...]) -> bool:
    """Whether the set has the node at ``path`` or anything under it."""
    node: Trie | None = trie
    for element in path:
        node = node.get(element) if node is not None else None
        if node is None:
            return False
    return True


def strip(trie: Trie, *, status_only: bool = False, keep_status: bool = True) -> Trie:
    """The set without what no manager owns: apiVersion, kind and the metadata the server
    sets; without ``status`` when the kind has a status subresource written apart
    (``keep_status=False``); only ``status`` for a write to that subresource."""
    if status_only:
        return {"f:status": trie["f:status"]} if "f:status" in trie else {}
    out = {k: v for k, v in trie.items() if k not in ("f:apiVersion", "f:kind")}
    if not keep_status:
        out.pop("f:status", None)
    meta = out.get("f:metadata")
    if meta is not None:
        kept = {k: v for k, v in meta.items() if k not in _SERVER_META and k != MEMBER}
        if kept:
            out["f:metadata"] = kept
        else:
            del out["f:metadata"]
    return out


def path_text(path: tuple[str, ...]) -> str:
    """A path as upstream prints it in conflicts: ``.spec.containers[name="web"].image``,
    ``.metadata.finalizers[="x"]``."""
    out = []
    for element in path:
        kind, _, rest = element.partition(":")
        if kind == "f":
            out.append("." + rest)
        elif kind == "k":
            fields = json.loads(rest)
            out.append("[" + ",".join(f"{k}={json.dumps(v, ensure_ascii=False)}"
                                      for k, v in fields.items()) + "]")
        elif kind == "v":
            out.append("[=" + rest + "]")
        else:
            out.append(f"[{rest}]")
    return "".join(out)
