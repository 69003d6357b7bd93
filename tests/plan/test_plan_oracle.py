"""DeepDiff as an independent oracle for the three-way diff and merge (gitkube/plan/diff.py).

Random mutations of the example manifests (manifests/): git changes the desired object,
someone else changes the live object; last-applied is the object before both. For every
sample, the changes gitkube reports are exactly what DeepDiff reports between live and git,
with the documented three-way rules (docs/PLAN.md, "How a plan is computed") applied to
DeepDiff's report here:

- keyed lists (the key table, gitkube/model/mergekeys.py) are matched by key: DeepDiff's
  ``iterable_compare_func``; a keyed item DeepDiff only moved is not a change;
- what is live but not in git is removed only when it was last applied, else left alone;
- an atomic list whose length changed is replaced whole (one change at the list);
- a change is drift when git's value equals the last-applied one.

And ``merge`` (what apply writes) differs from git by exactly the live-only parts that were
left alone, and plans no change afterwards.
"""

from __future__ import annotations

import inspect
import random
from pathlib import Path
from typing import Any

import pytest
from deepdiff import DeepDiff
from deepdiff.helper import CannotCompare, notpresent
from ruamel.yaml import YAML

from gitkube.api.codec import copy_json
from gitkube.model.mergekeys import merge_key_at
from gitkube.plan.diff import merge, three_way
from gitkube.plan.model import ItemKey, PathPart, dotted_path
from gitkube.plan.normalize import normalize_desired

MANIFESTS = Path(__file__).resolve().parents[2] / "manifests"
SAMPLES = 400
Path_ = tuple[PathPart, ...]
Report = set[tuple[str, Path_, bool]]


def _examples() -> list[dict[str, Any]]:
    yaml = YAML(typ="safe", pure=True)
    out: list[dict[str, Any]] = []
    for file in sorted(MANIFESTS.glob("*.yaml")):
        with open(file, encoding="utf-8") as fh:
            out.extend(normalize_desired(d) for d in yaml.load_all(fh) if d)
    return out


EXAMPLES = _examples()


# --- which lists are keyed (from the key table; the check below is the oracle's own) -------


def _usable(items: Any, key: str) -> bool:
    if not isinstance(items, list) or not all(isinstance(x, dict) for x in items):
        return False
    values = [x.get(key) for x in items]
    return all(isinstance(v, str | int) and not isinstance(v, bool) for v in values) and len(
        set(values)) == len(values)


def _list_key(path: Path_, one: Any, other: Any) -> str | None:
    """The key the lists ``one`` and ``other`` at ``path`` are matched by (None: atomic)."""
    key = merge_key_at(path)
    return key if key is not None and _usable(one, key) and _usable(other, key) else None


# --- DeepDiff levels -> gitkube paths -------------------------------------------------------


def _child(level: Any, prefer_t1: bool) -> Any:
    first, second = (level.t1, level.t2) if prefer_t1 else (level.t2, level.t1)
    return first if first is not notpresent else second


def _path(level: Any, prefer_t1: bool = False) -> Path_:
    """A DeepDiff level's path in gitkube's form: dict keys, list indexes, and for a keyed
    list the item's key (taken from the item itself, not from DeepDiff's index)."""
    parts: list[PathPart] = []
    node = level.all_up
    while node is not level:
        down = node.down
        rel = (node.t1_child_rel or node.t2_child_rel) if prefer_t1 else (
            node.t2_child_rel or node.t1_child_rel)
        if isinstance(node.t1, list) and isinstance(node.t2, list):
            key = _list_key(tuple(parts), node.t1, node.t2)
            if key is not None:
                parts.append(ItemKey(key, _child(down, prefer_t1)[key]))
                node = down
                continue
        parts.append(rel.param)
        node = down
    return tuple(parts)


def _compare_items(x: Any, y: Any, level: Any = None) -> bool:
    key = _list_key(_path(level), level.t1, level.t2) if level is not None else None
    if key is None:
        raise CannotCompare() from None
    return bool(x[key] == y[key])


# DeepDiff >= 8 reports a mostly-changed mapping whole unless told to always go deeper
_DEEPER: dict[str, Any] = ({"threshold_to_diff_deeper": 0}
                          if "threshold_to_diff_deeper"
                          in inspect.signature(DeepDiff.__init__).parameters else {})


def deepdiff(t1: Any, t2: Any) -> Any:
    return DeepDiff(t1, t2, view="tree", iterable_compare_func=_compare_items, **_DEEPER)


# --- looking values up the way the documented rules do --------------------------------------

_NONE = object()


def _get(node: Any, part: PathPart) -> Any:
    if isinstance(part, ItemKey):
        if isinstance(node, list):
            return next((x for x in node if isinstance(x, dict)
                         and x.get(part.key) == part.value), _NONE)
        return _NONE
    if isinstance(part, int):
        return node[part] if isinstance(node, list) and part < len(node) else _NONE
    return node.get(part, _NONE) if isinstance(node, dict) else _NONE


def lookup(root: Any, path: Path_) -> Any:
    node = root
    for part in path:
        node = _get(node, part)
        if node is _NONE:
            break
    return node


def last_at(desired: Any, last: Any, path: Path_) -> Any:
    """The last-applied value at ``path`` as the three-way rules see it: a keyed item by its
    key when the last-applied list is keyed too; a positional item only when the last-applied
    list has git's length."""
    d, a = desired, last
    for part in path:
        if a is _NONE or a is None:
            return _NONE
        if isinstance(part, ItemKey) and not _usable(a, part.key):
            return _NONE
        if isinstance(part, int) and not (isinstance(a, list) and isinstance(d, list)
                                          and len(a) == len(d)):
            return _NONE
        d, a = _get(d, part), _get(a, part)
    return a


def truncate(desired: Any, live: Any, path: Path_) -> Path_ | None:
    """The atomic list (length changed) or the type change that ``path`` lies inside, if any:
    there gitkube reports one replacement."""
    d, lv = desired, live
    for i, part in enumerate(path):
        if (isinstance(d, list) and isinstance(lv, list) and not isinstance(part, ItemKey)
                and len(d) != len(lv)):
            return path[:i]
        d, lv = _get(d, part), _get(lv, part)
        if d is _NONE or lv is _NONE:
            return None
    return None


# --- the oracle ------------------------------------------------------------------------------


def oracle(desired: Any, live: Any, last: Any) -> tuple[Report, set[Path_]]:
    """What gitkube must report, from DeepDiff(live -> git) and the three-way rules; and the
    live-only paths it must leave alone."""
    changes: Report = set()
    live_only: set[Path_] = set()

    def changed(op: str, path: Path_) -> None:
        cut = truncate(desired, live, path)
        if cut is not None:
            op, path = "replace", cut
        if op == "remove":
            if last is not None and last_at(desired, last, path) is not _NONE:
                changes.add(("remove", path, False))
            else:
                live_only.add(path)
            return
        a = last_at(desired, last, path) if last is not None else _NONE
        changes.add((op, path, a is not _NONE and a == lookup(desired, path)))

    report = deepdiff(live, desired)
    for kind, levels in report.items():
        for level in levels:
            if kind in ("values_changed", "type_changes"):
                p1, p2 = _path(level, prefer_t1=True), _path(level)
                if p1 != p2:  # two unmatched keyed items DeepDiff paired: one goes, one comes
                    changed("remove", p1)
                    changed("add", p2)
                else:
                    changed("replace", p2)
            elif kind in ("dictionary_item_added", "iterable_item_added"):
                changed("add", _path(level))
            elif kind in ("dictionary_item_removed", "iterable_item_removed"):
                changed("remove", _path(level, prefer_t1=True))
            elif kind == "iterable_item_moved":
                assert isinstance(_path(level)[-1], ItemKey), kind  # only keyed items move
            else:
                raise AssertionError(f"unexpected DeepDiff report {kind}")
    return changes, live_only


def gitkube(desired: Any, live: Any, last: Any) -> Report:
    found = three_way(desired, live, last)
    report: Report = {(f.op, f.path, f.drift) for f in found}
    assert len(report) == len(found), "a path reported twice"
    return report


# --- random mutations ------------------------------------------------------------------------


def _nodes(node: Any, path: Path_ = ()) -> list[tuple[Path_, Any]]:
    out = [(path, node)]
    if isinstance(node, dict):
        for k, v in node.items():
            out.extend(_nodes(v, (*path, k)))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out.extend(_nodes(v, (*path, i)))
    return out


def _new_item(key: str, rng: random.Random) -> dict[str, Any]:
    n = rng.randrange(10_000)
    known: dict[str, str | int] = {
        "containerPort": 20_000 + n, "port": 20_000 + n, "mountPath": f"/mnt/m{n}",
    }
    value = known.get(key, f"item-{n}")
    return {key: value, "note": f"n{n}"}


def mutate(obj: dict[str, Any], rng: random.Random, who: str) -> None:
    """One random edit in place: a scalar changed, a key added or removed, a keyed item
    inserted, removed or the keyed list shuffled, an atomic list grown or shrunk."""
    nodes = _nodes(obj)
    keyed = [(p, n) for p, n in nodes if isinstance(n, list) and merge_key_at(p)
             and _usable(n, merge_key_at(p) or "")]
    atomic = [(p, n) for p, n in nodes if isinstance(n, list) and (p, n) not in keyed]
    dicts = [(p, n) for p, n in nodes if isinstance(n, dict) and p]
    leaves = [(p, n) for p, n in nodes if not isinstance(n, dict | list)
              and p not in (("apiVersion",), ("kind",), ("metadata", "name"))
              and not (p and p[-1] in ("name", "containerPort", "port", "mountPath")
                       and len(p) > 2 and isinstance(p[-2], int))]
    choice = rng.choice(["scalar", "scalar", "add-key", "del-key", "keyed-insert",
                         "keyed-remove", "keyed-shuffle", "atomic-grow", "atomic-shrink"])
    if choice.startswith("keyed") and keyed:
        path, items = rng.choice(keyed)
        if choice == "keyed-insert":
            items.insert(rng.randrange(len(items) + 1), _new_item(merge_key_at(path) or "", rng))
        elif choice == "keyed-remove" and items:
            items.pop(rng.randrange(len(items)))
        else:
            rng.shuffle(items)
    elif choice.startswith("atomic") and atomic:
        path, items = rng.choice(atomic)
        if choice == "atomic-grow" or not items:
            items.insert(rng.randrange(len(items) + 1), f"{who}-{rng.randrange(100)}")
        else:
            items.pop(rng.randrange(len(items)))
    elif choice == "add-key" and dicts:
        path, d = rng.choice(dicts)
        d[f"{who}-key-{rng.randrange(100)}"] = rng.choice(["v", 3, {"deep": [1, 2]}])
    elif choice == "del-key" and dicts:
        path, d = rng.choice(dicts)
        removable = [k for k in d if (*path, k) not in (("metadata", "name"),)]
        if removable:
            del d[rng.choice(removable)]
    elif leaves:
        path, value = rng.choice(leaves)
        parent = lookup(obj, path[:-1])
        if isinstance(value, bool):
            new: Any = not value
        elif isinstance(value, int):
            new = value + 1
        else:
            new = f"{value}-{who}"
        parent[path[-1]] = new


def sample(seed: int) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any] | None]:
    rng = random.Random(seed)
    last = copy_json(rng.choice(EXAMPLES))
    desired, live = copy_json(last), copy_json(last)
    for _ in range(rng.randrange(4)):
        mutate(desired, rng, "git")
    for _ in range(rng.randrange(4)):
        mutate(live, rng, "hand")
    return desired, live, (None if rng.random() < 0.15 else last)


def _show(report: Report) -> list[str]:
    return sorted(f"{op} {dotted_path(p)}{' (drift)' if drift else ''}" for op, p, drift in report)


@pytest.mark.parametrize("block", range(4))
def test_three_way_reports_what_deepdiff_reports(block: int) -> None:
    for seed in range(block * SAMPLES // 4, (block + 1) * SAMPLES // 4):
        desired, live, last = sample(seed)
        expected, _ = oracle(desired, live, last)
        assert _show(gitkube(desired, live, last)) == _show(expected), f"seed {seed}"


@pytest.mark.parametrize("block", range(4))
def test_merge_keeps_exactly_the_live_only_parts_and_converges(block: int) -> None:
    for seed in range(block * SAMPLES // 4, (block + 1) * SAMPLES // 4):
        desired, live, last = sample(seed)
        _, live_only = oracle(desired, live, last)
        merged = merge(desired, live, last)
        assert three_way(desired, merged, desired) == [], f"seed {seed}"
        # merged vs git: only the live-only parts, each one still there (DeepDiff says what)
        kept: set[Path_] = set()
        for kind, levels in deepdiff(merged, desired).items():
            for level in levels:
                if kind == "iterable_item_moved":  # merge keeps the live order of keyed items
                    assert isinstance(_path(level)[-1], ItemKey), f"seed {seed}"
                    continue
                assert kind in ("dictionary_item_removed", "iterable_item_removed"), (
                    f"seed {seed}: {kind} {_path(level)}")
                kept.add(_path(level, prefer_t1=True))
        assert kept == live_only, f"seed {seed}"
        for path in live_only:
            assert lookup(merged, path) == lookup(live, path), f"seed {seed}"


def test_the_samples_exercise_every_rule() -> None:
    """The random samples are not vacuous: each kind of report occurs many times."""
    seen: dict[str, int] = {}
    for seed in range(SAMPLES):
        desired, live, last = sample(seed)
        expected, live_only = oracle(desired, live, last)
        for op, path, drift in expected:
            seen[op] = seen.get(op, 0) + 1
            seen["drift"] = seen.get("drift", 0) + drift
            if any(isinstance(p, ItemKey) for p in path):
                seen["keyed"] = seen.get("keyed", 0) + 1
        seen["live-only"] = seen.get("live-only", 0) + len(live_only)
        seen["none"] = seen.get("none", 0) + (not expected)
    for what in ("add", "replace", "remove", "drift", "keyed", "live-only", "none"):
        assert seen.get(what, 0) >= 10, (what, seen)
