"""ControllerRevisions: the template history of StatefulSets and DaemonSets, as upstream keeps
it (pkg/controller/history), so ``kubectl rollout history|undo`` work on them.

- A revision is ``apps/v1`` ControllerRevision ``<owner>-<hash>`` (the pods' label
  ``controller-revision-hash`` names it: the whole name for a StatefulSet, the hash for a
  DaemonSet), owned by its StatefulSet or DaemonSet (controller ownerReference), labelled with
  the template's labels (so the owner's selector lists it, as kubectl does) and
  ``controller.kubernetes.io/hash``. ``data`` is upstream's patch:
  ``{"spec": {"template": {...template, "$patch": "replace"}}}`` — kubectl's ``rollout undo``
  sends it back as a strategic merge patch; ``revision`` counts up from 1.
- Every reconcile makes sure the update revision exists and is the newest: a template that
  returns to an earlier revision's (a rollback) renumbers that revision instead of making a
  new one, as upstream.
- Revisions beyond ``spec.revisionHistoryLimit`` (default 10) go, oldest first, except the
  ones still in use (``keep``: the current and update revisions and those of live pods).

``plan_history`` decides (pure); ``HistoryWriter.sync`` does it.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from gitkube.agents.controllers.common import is_controlled_by, owner_ref
from gitkube.api.client import Client
from gitkube.errors import AlreadyExists, Conflict, NotFound

Obj = dict[str, Any]
API_VERSION = "apps/v1"
KIND = "ControllerRevision"
HASH_LABEL = "controller.kubernetes.io/hash"


def revision_number(rev: Obj) -> int:
    try:
        return int(rev.get("revision") or 0)
    except (TypeError, ValueError):
        return 0


def revision_data(owner: Obj) -> Obj:
    """Upstream's revision patch for a StatefulSet or DaemonSet: its template, replaced."""
    template = copy.deepcopy((owner.get("spec") or {}).get("template") or {})
    template["$patch"] = "replace"
    return {"spec": {"template": template}}


def new_revision(owner: Obj, name: str, hash_: str, number: int) -> Obj:
    labels = dict((((owner.get("spec") or {}).get("template") or {}).get("metadata") or {})
                  .get("labels") or {})
    labels[HASH_LABEL] = hash_
    return {"apiVersion": API_VERSION, "kind": KIND,
            "metadata": {"name": name, "namespace": owner["metadata"]["namespace"],
                         "labels": labels, "ownerReferences": [owner_ref(owner)]},
            "data": revision_data(owner), "revision": number}


@dataclass
class HistoryPlan:
    create: Obj | None = None
    renumber: Obj | None = None  # an existing revision, with its new number
    delete: list[Obj] = field(default_factory=list)


def plan_history(owner: Obj, revisions: list[Obj], name: str, hash_: str,
                 keep: Iterable[str]) -> HistoryPlan:
    """Pure: what to write so that revision ``name`` exists and is the newest, and the
    history fits the owner's revisionHistoryLimit (``keep`` and ``name`` never go)."""
    plan = HistoryPlan()
    top = max((revision_number(r) for r in revisions), default=0)
    current = next((r for r in revisions if r["metadata"]["name"] == name), None)
    if current is None:
        plan.create = new_revision(owner, name, hash_, top + 1)
    elif revision_number(current) < top:
        plan.renumber = {**copy.deepcopy(current), "revision": top + 1}
    limit = int((owner.get("spec") or {}).get("revisionHistoryLimit", 10) or 0)
    protected = {name, *keep}
    old = sorted((r for r in revisions if r["metadata"]["name"] not in protected),
                 key=revision_number)
    excess = len(old) - limit
    if excess > 0:
        plan.delete = old[:excess]
    return plan


class HistoryWriter:
    """Carries out a HistoryPlan for one controller."""

    def __init__(self, client: Client):
        self.client = client

    def sync(self, owner: Obj, revisions: list[Obj], name: str, hash_: str,
             keep: Iterable[str]) -> bool:
        """Write what ``plan_history`` says; True when something was written."""
        plan = plan_history(owner, revisions, name, hash_, keep)
        ns = owner["metadata"]["namespace"]
        wrote = False
        if plan.create is not None:
            try:
                self.client.create(plan.create)
                wrote = True
            except AlreadyExists:
                existing = self.client.get(API_VERSION, KIND, ns, name)
                if not is_controlled_by(existing, owner["metadata"]["uid"]):
                    raise
        if plan.renumber is not None:
            with contextlib.suppress(Conflict, NotFound):
                self.client.update(plan.renumber)
                wrote = True
        for rev in plan.delete:
            with contextlib.suppress(NotFound):
                self.client.delete(API_VERSION, KIND, ns, rev["metadata"]["name"],
                                   uid=rev["metadata"].get("uid"))
                wrote = True
        return wrote
