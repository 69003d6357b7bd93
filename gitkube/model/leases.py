"""``coordination.k8s.io/v1`` Leases: the record a leader election keeps, and node heartbeats.

Pure functions over Lease objects. A leader election (gitkube/agents/leaderelection.py) reads
a Lease into a :class:`LeaseRecord`, decides with :func:`claim` what to write, and writes it
with the resourceVersion it read (compare-and-swap). As upstream's client-go, a candidate
never compares ``renewTime`` with its own clock: it notes when *it* last saw the record
change (``observed``, its monotonic clock) and treats the lease as held until
``observed + leaseDurationSeconds``, so clock skew between machines does not matter (only
skew of clock *rates*).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from gitkube.model.times import parse_time

Obj = dict[str, Any]
API_VERSION = "coordination.k8s.io/v1"
NODE_LEASE_NAMESPACE = "kube-node-lease"
NODE_LEASE_DURATION = 40  # seconds, upstream's kubelet default


def micro_time(seconds: float) -> str:
    """``seconds`` since the epoch as a MicroTime (``2026-01-02T03:04:05.123456Z``)."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class LeaseRecord:
    """What a Lease's spec says about its holder (upstream's LeaderElectionRecord)."""

    holder: str = ""
    duration: int = 0          # leaseDurationSeconds
    acquire_time: float = 0.0  # epoch seconds
    renew_time: float = 0.0
    transitions: int = 0


def record_of(lease: Obj) -> LeaseRecord:
    """The record in ``lease``'s spec (missing fields are empty)."""
    spec = lease.get("spec") or {}
    return LeaseRecord(
        holder=str(spec.get("holderIdentity") or ""),
        duration=int(spec.get("leaseDurationSeconds") or 0),
        acquire_time=parse_time(spec.get("acquireTime")) or 0.0,
        renew_time=parse_time(spec.get("renewTime")) or 0.0,
        transitions=int(spec.get("leaseTransitions") or 0),
    )


def spec_of(record: LeaseRecord) -> Obj:
    """``record`` as a Lease spec (an empty holder is written as no holder)."""
    spec: Obj = {"leaseDurationSeconds": record.duration,
                 "acquireTime": micro_time(record.acquire_time),
                 "renewTime": micro_time(record.renew_time),
                 "leaseTransitions": record.transitions}
    if record.holder:
        spec["holderIdentity"] = record.holder
    return spec


def lease_object(namespace: str, name: str, record: LeaseRecord, *,
                 resource_version: str | None = None,
                 owner: Obj | None = None) -> Obj:
    """A Lease holding ``record``; with ``resource_version`` an update that only succeeds
    when the stored Lease is still that version."""
    meta: Obj = {"name": name, "namespace": namespace}
    if resource_version is not None:
        meta["resourceVersion"] = resource_version
    if owner is not None:
        meta["ownerReferences"] = [owner]
    return {"apiVersion": API_VERSION, "kind": "Lease", "metadata": meta,
            "spec": spec_of(record)}


def claim(current: LeaseRecord | None, me: str, now: float, duration: int, *,
          held_by_other: bool) -> LeaseRecord | None:
    """The record ``me`` writes to acquire or renew the lease at wall time ``now``, or None
    when it must not (another holder whose lease, as ``me`` observed it, has not expired:
    ``held_by_other``). Renewing keeps acquireTime and the transition count; taking over
    from another holder counts one transition."""
    if current is None:
        return LeaseRecord(me, duration, now, now, 0)
    if current.holder == me:
        return replace(current, duration=duration, renew_time=now)
    if current.holder and held_by_other:
        return None
    return LeaseRecord(me, duration, now, now, current.transitions + 1)


def released(current: LeaseRecord, now: float) -> LeaseRecord:
    """The record a holder writes when it steps down on purpose: no holder, one second
    left, so the next candidate takes over at once (upstream's ReleaseOnCancel)."""
    return LeaseRecord("", 1, now, now, current.transitions)


def node_lease(node: str, now: float, *, node_uid: str | None = None) -> Obj:
    """The kubelet's heartbeat Lease of ``node`` in ``kube-node-lease`` (owned by the Node,
    so it goes with it)."""
    owner = None if not node_uid else {"apiVersion": "v1", "kind": "Node", "name": node,
                                       "uid": node_uid}
    return lease_object(NODE_LEASE_NAMESPACE, node,
                        LeaseRecord(node, NODE_LEASE_DURATION, now, now, 0), owner=owner)


__all__ = ["API_VERSION", "NODE_LEASE_DURATION", "NODE_LEASE_NAMESPACE", "LeaseRecord",
           "claim", "lease_object", "micro_time", "node_lease", "record_of", "released",
           "spec_of"]
