"""Helpers every controller shares: names and template hashes, the order pods are given up
in, owner references, pods from templates, int-or-percent values and creation expectations.

The Kubernetes rules controllers apply (pod readiness and availability, conditions,
timestamps, tolerations and node affinity) live in ``gitkube/model/`` (pods.py,
conditions.py, times.py, scheduling.py), shared with the scheduler, the CLI and the API.

All pure except ``Expectations`` (a small thread-safe record of writes not yet seen in the
informer cache: upstream's ControllerExpectations, by name instead of by count)."""

from __future__ import annotations

import copy
import hashlib
import json
import math
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from gitkube.model.labels import selector_matches
from gitkube.model.pods import is_pod_ready, is_terminating, pod_phase

Obj = dict[str, Any]

SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # upstream's rand alphabet: no vowels


# --- names, hashes -------------------------------------------------------------------------


def random_suffix(n: int = 5) -> str:
    return "".join(random.choice(SAFE_ALPHABET) for _ in range(n))


def safe_encode(text: str) -> str:
    """Upstream's SafeEncodeString: each byte mapped onto the vowel-free alphabet."""
    return "".join(SAFE_ALPHABET[b % len(SAFE_ALPHABET)] for b in text.encode())


def fnv32a(data: bytes) -> int:
    h = 0x811C9DC5
    for b in data:
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h


def _drop_empty(value: Any) -> Any:
    if isinstance(value, dict):
        out = {k: _drop_empty(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not None and v != {} and v != []}
    if isinstance(value, list):
        return [_drop_empty(v) for v in value]
    return value


def semantic_template(template: Mapping[str, Any],
                      drop_label: str = "pod-template-hash") -> Obj:
    """A pod template as upstream compares and hashes it: the label ``drop_label`` ignored,
    and a null, ``{}`` or ``[]`` field the same as an absent one (upstream decodes both into
    the same Go value, so ``resources: {}`` names the same template as no ``resources``)."""
    t = copy.deepcopy(dict(template))
    labels = (t.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(drop_label, None)
    result: Obj = _drop_empty(t)
    return result


def template_hash(template: Mapping[str, Any], collision_count: int = 0,
                  drop_label: str = "pod-template-hash") -> str:
    """A short stable hash of a pod template (see ``semantic_template``), encoded like
    upstream's pod-template-hash (fnv-32a of the template, then SafeEncodeString)."""
    t = semantic_template(template, drop_label)
    data = json.dumps(t, sort_keys=True, separators=(",", ":")).encode()
    if collision_count:
        data += str(collision_count).encode()
    return safe_encode(str(fnv32a(data)))


def short_digest(value: Any) -> str:
    return hashlib.sha1(json.dumps(value, sort_keys=True).encode()).hexdigest()[:10]


# --- pods ----------------------------------------------------------------------------------


def active_pod_rank(pod: Mapping[str, Any]) -> tuple[int, int, int, str]:
    """Sort key: pods to delete first come first (upstream's ActivePods ordering, simplified:
    unscheduled < scheduled, Pending < Unknown < Running, not ready < ready, newer first)."""
    node = 0 if not (pod.get("spec") or {}).get("nodeName") else 1
    phase = {"Pending": 0, "Unknown": 1, "Running": 2}.get(pod_phase(pod), 0)
    ready = 1 if is_pod_ready(pod) else 0
    created = str((pod.get("metadata") or {}).get("creationTimestamp") or "")
    # newer first: invert the timestamp's order by negating characters' code points
    inverted = "".join(chr(0x10FFFF - ord(ch)) for ch in created)
    return (node, phase, ready, inverted)


# --- owners --------------------------------------------------------------------------------


def owner_ref(owner: Mapping[str, Any], *, controller: bool = True) -> Obj:
    meta = owner.get("metadata") or {}
    return {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": meta["name"],
            "uid": meta["uid"], "controller": controller, "blockOwnerDeletion": True}


def is_controlled_by(obj: Mapping[str, Any], owner_uid: str) -> bool:
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if isinstance(ref, dict) and ref.get("controller") is True and \
                ref.get("uid") == owner_uid:
            return True
    return False


def index_orphans(obj: Obj) -> list[str]:
    """Index function: the namespace of an object without a controller owner (adoption
    candidates), nothing for owned objects."""
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if isinstance(ref, dict) and ref.get("controller") is True:
            return []
    return [str((obj.get("metadata") or {}).get("namespace") or "")]


def label_selector_of(owner: Mapping[str, Any]) -> Obj | None:
    """The owner's ``spec.selector`` as a LabelSelector: a ReplicationController's is a plain
    map of labels, which selects like ``matchLabels``."""
    selector = (owner.get("spec") or {}).get("selector")
    if not isinstance(selector, dict):
        return None
    if owner.get("kind") == "ReplicationController":
        return {"matchLabels": selector}
    return selector


def adoptable(owner: Mapping[str, Any], candidates: Iterable[Obj]) -> list[Obj]:
    """Orphans the owner's selector matches (not being deleted): upstream adopts them."""
    if is_terminating(owner):
        return []
    selector = label_selector_of(owner)
    if not selector:
        return []
    return [c for c in candidates if not is_terminating(c) and selects(selector, c)]


def with_controller(obj: Obj, owner: Mapping[str, Any]) -> Obj:
    """A copy of ``obj`` with ``owner`` added as its controller ownerReference."""
    out = copy.deepcopy(obj)
    refs = [r for r in out["metadata"].get("ownerReferences") or []
            if r.get("uid") != (owner.get("metadata") or {}).get("uid")]
    out["metadata"]["ownerReferences"] = [*refs, owner_ref(owner)]
    return out


def pod_from_template(owner: Mapping[str, Any], template: Mapping[str, Any], name: str,
                      *, extra_labels: Mapping[str, str] | None = None) -> Obj:
    """A Pod object for ``owner`` from a pod template: labels/annotations of the template
    (plus ``extra_labels``), the template's spec, a controller ownerReference."""
    tmeta = template.get("metadata") or {}
    meta: Obj = {"name": name, "namespace": (owner.get("metadata") or {}).get("namespace"),
                 "labels": {**(tmeta.get("labels") or {}), **(extra_labels or {})},
                 "ownerReferences": [owner_ref(owner)]}
    if tmeta.get("annotations"):
        meta["annotations"] = dict(tmeta["annotations"])
    if tmeta.get("finalizers"):
        meta["finalizers"] = list(tmeta["finalizers"])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
            "spec": copy.deepcopy(template.get("spec") or {})}


# --- int-or-percent ------------------------------------------------------------------------


def scaled_value(value: Any, total: int, *, round_up: bool) -> int:
    """An IntOrString against ``total`` (``"25%"`` of 10 is 3 rounded up, 2 rounded down)."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if text.endswith("%"):
        pct = float(text[:-1])
        exact = pct * total / 100
        return math.ceil(exact - 1e-9) if round_up else math.floor(exact + 1e-9)
    return int(text)


def selects(selector: Mapping[str, Any] | None, obj: Mapping[str, Any]) -> bool:
    return selector_matches(selector, (obj.get("metadata") or {}).get("labels"))


# --- expectations --------------------------------------------------------------------------


class Expectations:
    """Writes a controller made that its informer cache has not shown yet.

    After creating pods ``a`` and ``b`` for key K, ``expect_creations(K, ["ns/a", "ns/b"])``;
    ``satisfied(K, cache_has)`` is False until the cache has both (or ``ttl`` passed), so a
    reconcile running on a stale cache does not create them again. Deletions likewise."""

    def __init__(self, ttl: float = 15.0):
        self._lock = threading.Lock()
        self._adds: dict[str, tuple[set[str], float]] = {}
        self._dels: dict[str, tuple[set[str], float]] = {}
        self.ttl = ttl

    def expect_creations(self, key: str, keys: Iterable[str]) -> None:
        self._expect(self._adds, key, keys)

    def expect_deletions(self, key: str, keys: Iterable[str]) -> None:
        self._expect(self._dels, key, keys)

    def _expect(self, table: dict[str, tuple[set[str], float]], key: str,
                keys: Iterable[str]) -> None:
        with self._lock:
            pending, _ = table.get(key, (set(), 0.0))
            table[key] = (pending | set(keys), time.monotonic() + self.ttl)

    def satisfied(self, key: str, lookup: Callable[[str], Obj | None]) -> bool:
        """``lookup(obj_key)`` reads the cache; a creation is observed when the object is
        there, a deletion when it is gone or terminating. Observed entries are dropped."""
        def seen(k: str, created: bool) -> bool:
            obj = lookup(k)
            return obj is not None if created else (obj is None or is_terminating(obj))

        with self._lock:
            ok = True
            for table, created in ((self._adds, True), (self._dels, False)):
                entry = table.get(key)
                if entry is None:
                    continue
                pending, deadline = entry
                pending = {k for k in pending if not seen(k, created)}
                if not pending or time.monotonic() > deadline:
                    table.pop(key, None)
                else:
                    table[key] = (pending, deadline)
                    ok = False
            return ok

    def forget(self, key: str) -> None:
        with self._lock:
            self._adds.pop(key, None)
            self._dels.pop(key, None)
