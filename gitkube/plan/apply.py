"""Carry out a plan: every write in one api transaction (all or nothing), plus its history.

Creates and updates carry the plan's preconditions (an update's resourceVersion is the one
the plan compared), so a change made between plan and apply makes the whole transaction fail
and nothing is written.

Objects inside a Namespace being deleted are shown as "deleted with Namespace X" and, in
Kubernetes, are not deleted one by one: the namespace controller empties the Namespace.
gitkube's Namespaces are held the same way (``spec.finalizers: [kubernetes]``, set by the
api on create: deleted, they stay Terminating until the controller emptied them), but the
namespace controller (agents/controllers/namespace.py) runs only while the agents do
(``apply --wait``, a daemon). So while ``NAMESPACE_CASCADE`` is False apply deletes this
source's objects in the Namespace itself, in the same all-or-nothing transaction, just before
the Namespace: a plain apply leaves none of them behind; the controller, when it runs,
purges whatever else was there (ReplicaSets, Pods, Events) and releases the Namespace.
"""

from __future__ import annotations

import contextlib
import gc
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from gitkube.api.client import (
    Client,
    CreateOp,
    DeleteOp,
    DeleteRecord,
    PutRecord,
    TxnOp,
    UpdateOp,
)
from gitkube.errors import APIError, GitkubeError
from gitkube.plan import annotations as ann
from gitkube.plan.history import PREFIX, Entry, make_entry, record_key
from gitkube.plan.model import Action, Plan
from gitkube.plan.owners import FIELD_MANAGER

# True once a deleted Namespace's contents are removed without the agents running.
NAMESPACE_CASCADE = False


class EmptyDesiredRefused(GitkubeError):
    def __init__(self, owned: int):
        super().__init__(
            f"refusing to apply: git holds no objects, and applying would delete all {owned} "
            "live objects of this source",
            hint="check the path and revision (a broken checkout?); "
            "pass --allow-empty to delete them on purpose",
        )


class ApplyFailed(GitkubeError):
    """The transaction was refused; nothing was written."""


class ApplyInterrupted(GitkubeError):
    """The transaction was sent but its answer never came (the connection to the daemon was
    lost): it may or may not have landed. ``landed(client)`` finds out from the store, by
    the history record the transaction carried (``number``)."""

    def __init__(self, number: int, cause: GitkubeError):
        super().__init__(f"the connection was lost while the apply was sent: {cause.message}",
                         hint="`gitkube history` shows whether it landed")
        self.number = number

    def landed(self, client: Client) -> Entry | None:
        """The history entry of the interrupted apply when it landed (it was written in
        the same transaction as the objects), else None: nothing was written."""
        record = client.get_record(record_key(self.number))
        if record is None:
            return None
        entry = Entry.from_json(record.value)
        return entry if entry.result == "applied" else None


@dataclass(frozen=True)
class ApplyResult:
    entry: Entry | None  # None when there was nothing to do
    revision: int | None


def build_ops(plan: Plan) -> list[TxnOp]:
    """The transaction's operations, in the plan's order."""
    ops: list[TxnOp] = []
    for change in plan.actionable:
        ref = change.ref
        record = ann.last_applied_key(ref.api_version, ref.kind, ref.namespace, ref.name)
        if change.action in (Action.CREATE, Action.UPDATE):
            assert change.desired is not None and change.last_applied is not None
            op = CreateOp if change.action is Action.CREATE else UpdateOp
            # the manager every write of plan's apply records (watch and the git hooks too)
            ops.append(op(change.desired, FIELD_MANAGER))
            digest = change.desired["metadata"]["annotations"][ann.LAST_APPLIED]
            ops.append(PutRecord(record, {"digest": digest, "object": change.last_applied}))
        elif change.action is Action.DELETE:
            ops.append(DeleteRecord(record, missing_ok=True))
            if change.via_namespace is None or not NAMESPACE_CASCADE:
                ops.append(
                    DeleteOp(
                        ref.api_version, ref.kind, ref.namespace or None, ref.name,
                        propagation_policy="Background",
                        resource_version=change.live_version,
                    )
                )
    return ops


def read_history(client: Client) -> list[Entry]:
    """Every recorded apply, oldest first."""
    return [Entry.from_json(r.value) for r in client.list_records(PREFIX)]


def _next_number(client: Client) -> int:
    records = client.list_records(PREFIX)
    return (Entry.from_json(records[-1].value).number + 1) if records else 1


@contextlib.contextmanager
def no_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector around bulk work that allocates many small acyclic
    objects (a 10,000-object transaction): its collections would rescan every live object."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def apply_plan(
    client: Client,
    plan: Plan,
    *,
    author: str,
    allow_empty: bool = False,
    kind: str = "apply",
) -> ApplyResult:
    """Write the plan in one transaction with its history record; return that record.

    Raises EmptyDesiredRefused (nothing written) when git is empty but this source owns live
    objects and ``allow_empty`` is False; ApplyFailed when the api refuses the transaction
    (nothing written; a ``failed`` history record is kept)."""
    if plan.empty_desired_guard and not allow_empty:
        raise EmptyDesiredRefused(plan.owned_count)
    ops = build_ops(plan)
    if not ops:
        return ApplyResult(None, None)
    number = _next_number(client)
    entry = make_entry(plan, number, author=author, result="applied", kind=kind)
    if client.get_record(ann.STORE_ID_RECORD) is None:
        ops.append(PutRecord(ann.STORE_ID_RECORD, {"id": uuid.uuid4().hex}, expected_revision=0))
    try:
        with no_gc():
            result = client.transaction(
                [*ops, PutRecord(record_key(number), entry.to_json(), expected_revision=0)]
            )
    except APIError as exc:
        failed = make_entry(
            plan, number, author=author, result="failed", kind=kind, error=exc.message
        )
        # The record of a failure is best effort; the failure itself is reported below.
        with contextlib.suppress(GitkubeError):
            client.transaction([PutRecord(record_key(number), failed.to_json(), 0)])
        hint = "run `gitkube plan` again: the live state may have changed since the plan"
        if "field is immutable when `immutable` is set" in exc.message:
            hint = ("an immutable ConfigMap or Secret keeps its data: give the changed one a "
                    "new name in git, or delete the old one first (gitkube delete KIND/NAME)")
        raise ApplyFailed(f"apply refused, nothing was written: {exc.message}",
                          hint=hint) from exc
    except GitkubeError as exc:  # sent, but no answer: the caller checks the store
        raise ApplyInterrupted(number, exc) from exc
    stored = Entry(**{**entry.__dict__, "store_revision": result.revision})
    return ApplyResult(stored, result.revision)
