"""Helpers every controller shares: pod state, owner references, pods from templates,
conditions and creation expectations. Tolerations and node affinity are
gitkube/model/scheduling.py's, the rules the scheduler applies too.

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
from datetime import UTC, datetime
from typing import Any

from gitkube.model.labels import selector_matches

Obj = dict[str, Any]

SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # upstream's rand alphabet: no vowels
TERMINAL_PHASES = ("Succeeded", "Failed")


# --- time ----------------------------------------------------------------------------------


def rfc3339(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: Any) -> float | None:
    """Epoch seconds of an RFC 3339 timestamp (``Z`` or offset, optional fraction)."""
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


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


def template_hash(template: Mapping[str, Any], collision_count: int = 0,
                  drop_label: str = "pod-template-hash") -> str:
    """A short stable hash of a pod template (the label ``drop_label`` ignored), encoded like
    upstream's pod-template-hash (fnv-32a of the template, then SafeEncodeString)."""
    t = copy.deepcopy(dict(template))
    labels = (t.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(drop_label, None)
    data = json.dumps(t, sort_keys=True, separators=(",", ":")).encode()
    if collision_count:
        data += str(collision_count).encode()
    return safe_encode(str(fnv32a(data)))


def short_digest(value: Any) -> str:
    return hashlib.sha1(json.dumps(value, sort_keys=True).encode()).hexdigest()[:10]


# --- pods ----------------------------------------------------------------------------------


def condition(obj: Mapping[str, Any], type_: str) -> Obj | None:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if isinstance(c, dict) and c.get("type") == type_:
            return c
    return None


def is_pod_ready(pod: Mapping[str, Any]) -> bool:
    c = condition(pod, "Ready")
    return c is not None and c.get("status") == "True"


def is_pod_available(pod: Mapping[str, Any], min_ready_seconds: int, now: float) -> bool:
    """Ready for at least ``min_ready_seconds`` (Ready's lastTransitionTime)."""
    if not is_pod_ready(pod):
        return False
    if min_ready_seconds <= 0:
        return True
    since = parse_time((condition(pod, "Ready") or {}).get("lastTransitionTime"))
    return since is not None and since + min_ready_seconds <= now


def is_terminating(obj: Mapping[str, Any]) -> bool:
    return bool((obj.get("metadata") or {}).get("deletionTimestamp"))


def pod_phase(pod: Mapping[str, Any]) -> str:
    return str((pod.get("status") or {}).get("phase") or "Pending")


def is_pod_active(pod: Mapping[str, Any]) -> bool:
    """Not finished and not being deleted (upstream's FilterActivePods)."""
    return pod_phase(pod) not in TERMINAL_PHASES and not is_terminating(pod)


def restart_count(pod: Mapping[str, Any]) -> int:
    status = pod.get("status") or {}
    return sum(int(cs.get("restartCount") or 0)
               for key in ("initContainerStatuses", "containerStatuses")
               for cs in status.get(key) or [] if isinstance(cs, dict))


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


def adoptable(owner: Mapping[str, Any], candidates: Iterable[Obj]) -> list[Obj]:
    """Orphans the owner's selector matches (not being deleted): upstream adopts them."""
    if is_terminating(owner):
        return []
    selector = (owner.get("spec") or {}).get("selector")
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


# --- conditions ----------------------------------------------------------------------------


def set_condition(conditions: list[Obj], type_: str, status: str, reason: str, message: str,
                  now: str, *, update_time: bool = False) -> list[Obj]:
    """A new list with condition ``type_`` set; lastTransitionTime moves only when the status
    changes; ``update_time`` adds lastUpdateTime (Deployment conditions have it)."""
    out: list[Obj] = []
    old = next((c for c in conditions if c.get("type") == type_), None)
    new: Obj = {"type": type_, "status": status}
    if update_time:
        same = old is not None and old.get("status") == status and \
            old.get("reason") == reason and old.get("message") == message
        new["lastUpdateTime"] = old.get("lastUpdateTime", now) if same and old else now
    new["lastTransitionTime"] = (old.get("lastTransitionTime", now)
                                 if old is not None and old.get("status") == status else now)
    new["reason"] = reason
    new["message"] = message
    for c in conditions:
        out.append(new if c.get("type") == type_ else c)
    if old is None:
        out.append(new)
    return out


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
