"""A LiveView for the in-process api that decodes only the objects that changed.

Adapter (see docs/PLAN.md, "Caches"): the Client interface can only list whole
objects, and decoding 10,000 live objects from JSON is most of a warm plan's time. For the
in-process ``LocalClient`` this view lists its store's keys and revisions and keeps an index
``store key -> (create revision, mod revision, identity, uid, source label, controller-made)``
from earlier plans; only keys whose revisions moved are decoded (with the api's own codec, so
objects read here are exactly what ``LocalClient.list`` returns). It only reads; every write
still goes through the api. Other clients get a DictView over ``Client.list``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from gitkube.api.codec import decode
from gitkube.api.local import LocalClient
from gitkube.model.kinds import ResourceType
from gitkube.model.objects import ObjectRef
from gitkube.plan.planner import LiveMeta, meta_of
from gitkube.store.base import KeyValue

# create_revision, mod_revision, apiVersion, kind, namespace, name, uid, source id,
# controller-made
IndexEntry = tuple[int, int, str, str, str, str, str, str, bool]
Index = dict[str, IndexEntry]


class StoreView:
    """The live objects at ``wanted`` identities and those labelled ``source_id``."""

    def __init__(
        self,
        client: LocalClient,
        resource_types: Sequence[ResourceType],
        wanted: set[ObjectRef],
        source_id: str,
        index: Index,
    ):
        self.revision = 0
        self.index: Index = {}  # the index to remember for the next plan
        self._kvs: dict[ObjectRef, KeyValue] = {}
        self._objects: dict[ObjectRef, dict[str, Any]] = {}
        self._metas: dict[ObjectRef, LiveMeta] = {}
        for rt in resource_types:
            kvs, revision = client.store.list(rt.prefix())
            self.revision = max(self.revision, revision)
            for kv in kvs:
                entry = index.get(kv.key)
                obj = None
                if entry is None or entry[0] != kv.create_revision or entry[1] != kv.mod_revision:
                    obj = decode(kv)
                    ref = ObjectRef.of(obj)
                    m = meta_of(obj)
                    entry = (kv.create_revision, kv.mod_revision, ref.api_version, ref.kind,
                             ref.namespace, ref.name, m.uid, m.source_id, m.controller_made)
                self.index[kv.key] = entry
                ref = ObjectRef(entry[2], entry[3], entry[4], entry[5])
                if ref in wanted or entry[7] == source_id:
                    self._kvs[ref] = kv
                    self._metas[ref] = LiveMeta(str(entry[1]), entry[6], entry[7], entry[8])
                    if obj is not None:
                        self._objects[ref] = obj

    def get(self, ref: ObjectRef) -> dict[str, Any] | None:
        obj = self._objects.get(ref)
        if obj is None and ref in self._kvs:
            obj = self._objects[ref] = decode(self._kvs[ref])
        return obj

    def meta(self, ref: ObjectRef) -> LiveMeta | None:
        return self._metas.get(ref)

    def refs(self) -> Iterable[ObjectRef]:
        return self._metas.keys()
