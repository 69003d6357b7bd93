"""Garbage collector: ownerReferences, and the three deletion propagation policies.

How the api records a delete (gitkube/api/strategy.py, docs/API.md):

- ``Background`` (default): the owner is removed at once. Here every dependent whose owners
  are all gone is deleted (background too, so it cascades level by level). An owner is
  "gone" when the informer cache lacks it *and* a live ``get`` confirms it (NotFound, or
  another uid), so a child seen before its owner is never collected by mistake.
  Dependents that keep one live owner just lose the dangling references.
- ``Orphan``: the owner stays with ``deletionTimestamp`` and the ``orphan`` finalizer; the
  collector removes this owner's reference from every dependent, then the finalizer (and the
  api removes the owner).
- ``Foreground``: the owner stays with the ``foregroundDeletion`` finalizer; the collector
  deletes its dependents (those that have dependents of their own in the foreground too),
  waits until none is left, then removes the finalizer.

Queue keys are ``<apiVersion>/<Kind>:<namespace>/<name>`` (``v1/Pod:default/web-x``).
Events are not watched (nothing owns them here).
"""

from __future__ import annotations

import contextlib
import copy
import logging
from typing import Any

from gitkube.agents.manager import (
    Controller,
    Informer,
    Manager,
    Result,
    index_by_owner_uid,
    key_of,
    split_key,
)
from gitkube.api.client import Client, PropagationPolicy
from gitkube.errors import NotFound
from gitkube.model import kinds

Obj = dict[str, Any]
log = logging.getLogger("gitkube.agents.gc")
ORPHAN = "orphan"
FOREGROUND = "foregroundDeletion"
SKIPPED_KINDS = ("Event",)


def gc_key(obj: Obj) -> str:
    return f"{obj.get('apiVersion')}/{obj.get('kind')}:{key_of(obj)}"


def parse_gc_key(key: str) -> tuple[str, str, str]:
    """(apiVersion, kind, object key)."""
    gvk, _, obj_key = key.partition(":")
    api_version, _, kind = gvk.rpartition("/")
    return api_version, kind, obj_key


def owner_refs(obj: Obj) -> list[Obj]:
    return [r for r in (obj.get("metadata") or {}).get("ownerReferences") or []
            if isinstance(r, dict)]


def finalizers(obj: Obj) -> list[str]:
    return list((obj.get("metadata") or {}).get("finalizers") or [])


class GarbageCollector:
    def __init__(self, client: Client, informers: dict[tuple[str, str], Informer]):
        self.client = client
        self.informers = informers

    # lookups
    def dependents(self, uid: str) -> list[Obj]:
        out: list[Obj] = []
        for inf in self.informers.values():
            out += inf.by_index("owner", uid)
        return out

    def _owner_gone(self, obj: Obj, ref: Obj) -> bool:
        rt = kinds.lookup(str(ref.get("apiVersion")), str(ref.get("kind")))
        if rt is None:
            return False  # a kind gitkube does not serve: cannot tell, keep the object
        ns = (obj.get("metadata") or {}).get("namespace") if rt.namespaced else None
        inf = self.informers.get((rt.api_version, rt.kind))
        cached = inf.get_by(ns, str(ref.get("name"))) if inf is not None else None
        if cached is not None and cached["metadata"].get("uid") == ref.get("uid"):
            return False
        try:
            live = self.client.get(rt.api_version, rt.kind, ns, str(ref.get("name")))
        except NotFound:
            return True
        return bool(live["metadata"].get("uid") != ref.get("uid"))

    # the reconcile
    def reconcile(self, key: str) -> Result:
        api_version, kind, obj_key = parse_gc_key(key)
        inf = self.informers.get((api_version, kind))
        obj = inf.get(obj_key) if inf is not None else None
        if obj is None:
            return Result()
        meta = obj["metadata"]
        if meta.get("deletionTimestamp"):
            if ORPHAN in finalizers(obj):
                return self._orphan(obj)
            if FOREGROUND in finalizers(obj):
                return self._foreground(obj)
            return Result()
        refs = owner_refs(obj)
        if not refs or not any(self._owner_gone(obj, r) for r in refs):
            return Result()
        # The cache may lag (an orphaning may just have removed the reference): decide on
        # the live object, and delete exactly that version.
        ns, name = split_key(obj_key)
        try:
            obj = self.client.get(api_version, kind, ns, name)
        except NotFound:
            return Result()
        meta = obj["metadata"]
        refs = owner_refs(obj)
        gone = [r for r in refs if self._owner_gone(obj, r)]
        if not gone or meta.get("deletionTimestamp"):
            return Result()
        if len(gone) == len(refs):
            with contextlib.suppress(NotFound):
                self.client.delete(api_version, kind, ns, name, uid=meta.get("uid"),
                                   resource_version=meta.get("resourceVersion"))
                log.debug("gc: deleted %s (owners gone)", key)
            return Result()
        gone_uids = {r.get("uid") for r in gone}
        out = copy.deepcopy(obj)
        out["metadata"]["ownerReferences"] = [r for r in refs if r.get("uid") not in gone_uids]
        self.client.update(out)
        return Result()

    def _orphan(self, owner: Obj) -> Result:
        uid = owner["metadata"]["uid"]
        for dep in self.dependents(uid):
            out = copy.deepcopy(dep)
            out["metadata"]["ownerReferences"] = [r for r in owner_refs(dep)
                                                  if r.get("uid") != uid]
            if not out["metadata"]["ownerReferences"]:
                del out["metadata"]["ownerReferences"]
            with contextlib.suppress(NotFound):
                self.client.update(out)
        return self._drop_finalizer(owner, ORPHAN)

    def _foreground(self, owner: Obj) -> Result:
        uid = owner["metadata"]["uid"]
        deps = self.dependents(uid)
        for dep in deps:
            if dep["metadata"].get("deletionTimestamp"):
                continue
            policy: PropagationPolicy = ("Foreground" if self.dependents(dep["metadata"]["uid"])
                                         else "Background")
            ns, name = split_key(key_of(dep))
            with contextlib.suppress(NotFound):
                self.client.delete(dep["apiVersion"], dep["kind"], ns, name,
                                   propagation_policy=policy, uid=dep["metadata"].get("uid"))
        if deps:
            return Result(requeue_after=0.5)  # also woken when a dependent goes
        return self._drop_finalizer(owner, FOREGROUND)

    def _drop_finalizer(self, obj: Obj, finalizer: str) -> Result:
        out = copy.deepcopy(obj)
        out["metadata"]["finalizers"] = [f for f in finalizers(obj) if f != finalizer]
        with contextlib.suppress(NotFound):
            self.client.update(out)
        return Result()


def controller(manager: Manager) -> Controller:
    """The garbage collector: one Controller fed by every kind's shared informer."""
    informers = {(rt.api_version, rt.kind): manager.informer(rt.api_version, rt.kind)
                 for rt in kinds.RESOURCES if rt.kind not in SKIPPED_KINDS}
    gc = GarbageCollector(manager.client, informers)
    ctl = Controller("garbage-collector", gc, None)
    for inf in informers.values():
        inf.add_index("owner", index_by_owner_uid)

        def on_add(obj: Obj) -> None:
            if owner_refs(obj) or obj["metadata"].get("deletionTimestamp"):
                ctl.enqueue(gc_key(obj))

        def on_update(old: Obj, new: Obj) -> None:
            om, nm = old["metadata"], new["metadata"]
            if (om.get("ownerReferences") != nm.get("ownerReferences")
                    or om.get("deletionTimestamp") != nm.get("deletionTimestamp")
                    or om.get("finalizers") != nm.get("finalizers")):
                ctl.enqueue(gc_key(new))

        def on_delete(obj: Obj) -> None:
            uid = obj["metadata"].get("uid")
            if uid:
                for dep in gc.dependents(str(uid)):
                    ctl.enqueue(gc_key(dep))
            for ref in owner_refs(obj):  # a foreground owner may now be free to go
                rt = kinds.lookup(str(ref.get("apiVersion")), str(ref.get("kind")))
                if rt is None:
                    continue
                ns = obj["metadata"].get("namespace") if rt.namespaced else None
                owner_key = f"{ns}/{ref.get('name')}" if ns else str(ref.get("name"))
                ctl.enqueue(f"{rt.api_version}/{rt.kind}:{owner_key}")

        inf.add_handler(on_add, on_update, on_delete)
    return ctl
