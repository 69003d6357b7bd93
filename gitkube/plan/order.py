"""Apply order: what must exist before what uses it.

Namespaces first; then what pods consume (ConfigMaps, Secrets, PersistentVolumeClaims,
ServiceAccounts);
then Services (so endpoints and DNS exist when pods start); then workloads. Deletions run
after every create and update, in reverse order (workloads before the Services, config and
Namespaces they use). Within a rank, objects sort by namespace and name so plans are stable.
"""

from __future__ import annotations

from collections.abc import Iterable

from gitkube.model.objects import ObjectRef
from gitkube.plan.model import Action, Change

_RANK: dict[str, int] = {
    "Namespace": 0,
    "ConfigMap": 1,
    "Secret": 1,
    "PersistentVolumeClaim": 1,
    "ServiceAccount": 1,
    "Service": 2,
    "Deployment": 3,
    "StatefulSet": 3,
    "DaemonSet": 3,
    "ReplicaSet": 3,
    "Job": 3,
    "ReplicationController": 3,
    "Pod": 4,
}
_UNKNOWN_RANK = 5


def rank(kind: str) -> int:
    """The apply rank of a kind: lower is applied earlier and deleted later."""
    return _RANK.get(kind, _UNKNOWN_RANK)


def _key(ref: ObjectRef) -> tuple[int, str, str, str]:
    return (rank(ref.kind), ref.kind, ref.namespace, ref.name)


def _reverse_key(c: Change) -> tuple[int, str, str, str]:
    return (-rank(c.ref.kind), c.ref.kind, c.ref.namespace, c.ref.name)


def order_changes(changes: Iterable[Change]) -> tuple[Change, ...]:
    """Creates and updates by ascending rank; then deletions by descending rank, except that
    each deleted Namespace comes right after the objects deleted with it; then no-ops (in
    the order given: nothing is done with them)."""
    changes = list(changes)
    noops = [c for c in changes if c.action is Action.NOOP]
    forward = sorted(
        (c for c in changes if c.action in (Action.CREATE, Action.UPDATE)),
        key=lambda c: _key(c.ref),
    )
    deletes = [c for c in changes if c.action is Action.DELETE]
    namespaces = sorted(
        (c for c in deletes if c.ref.kind == "Namespace" and not c.ref.namespace),
        key=lambda c: c.ref.name,
    )
    alone = sorted(
        (c for c in deletes if c.via_namespace is None and c not in namespaces),
        key=_reverse_key,
    )
    grouped: list[Change] = []
    for ns in namespaces:
        grouped += sorted((c for c in deletes if c.via_namespace == ns.ref.name), key=_reverse_key)
        grouped.append(ns)
    return (*forward, *alone, *grouped, *noops)
