"""Table output (``Accept: application/json;as=Table;v=v1;g=meta.k8s.io``) for ``kubectl get``.

Columns are NAME and AGE plus a few per kind; each row carries the object's metadata as a
PartialObjectMetadata so ``-A`` and ``--show-labels`` work.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from gitkube.model.kinds import ResourceType

Obj = dict[str, Any]


def wants_table(accept: str | None) -> bool:
    """True when the Accept header asks for a meta.k8s.io Table (first JSON choice)."""
    if not accept:
        return False
    for part in accept.split(","):
        params = {p.split("=", 1)[0].strip(): p.split("=", 1)[1].strip()
                  for p in part.split(";")[1:] if "=" in p}
        media = part.split(";", 1)[0].strip()
        if media == "application/json" and params.get("as") == "Table":
            return params.get("g", "meta.k8s.io") == "meta.k8s.io"
        if media == "application/json":
            return False
    return False


def _age(obj: Obj, now: float) -> str:
    text = (obj.get("metadata") or {}).get("creationTimestamp")
    try:
        t = datetime.strptime(str(text)[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return "<unknown>"
    s = int(max(0.0, now - t.timestamp()))
    if s < 120:
        return f"{s}s"
    if s < 3600 * 3:
        return f"{s // 60}m"
    if s < 86400 * 2:
        return f"{s // 3600}h"
    return f"{s // 86400}d"


def _ready_pods(o: Obj) -> str:
    st = o.get("status") or {}
    cs = st.get("containerStatuses") or []
    total = len((o.get("spec") or {}).get("containers") or [])
    return f"{sum(1 for c in cs if c.get('ready'))}/{total}"


def _restarts(o: Obj) -> int:
    return sum(int(c.get("restartCount") or 0)
               for c in (o.get("status") or {}).get("containerStatuses") or [])


def _ratio(ready_field: str) -> Callable[[Obj], str]:
    return lambda o: (f"{(o.get('status') or {}).get(ready_field) or 0}/"
                      f"{(o.get('spec') or {}).get('replicas', 0)}")


def _status(path: str) -> Callable[[Obj], Any]:
    def get(o: Obj) -> Any:
        node: Any = o
        for part in path.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        return 0 if node is None and path.endswith(("Replicas", "replicas")) else (
            node if node is not None else "")
    return get


_Col = tuple[str, str, Callable[[Obj], Any]]
# Columns only ``-o wide`` shows (priority 1), after AGE as kubectl prints them.
_WIDE: dict[str, list[_Col]] = {
    "Pod": [("IP", "string", _status("status.podIP")),
            ("Node", "string", _status("spec.nodeName"))],
    "Node": [("Internal-IP", "string", lambda o: next(
        (a.get("address") for a in (o.get("status") or {}).get("addresses") or []
         if a.get("type") == "InternalIP"), ""))],
    "Deployment": [("Selector", "string", lambda o: _selector(o))],
    "ReplicaSet": [("Selector", "string", lambda o: _selector(o))],
}


def _selector(o: Obj) -> str:
    from gitkube.model.labels import selector_string

    sel = (o.get("spec") or {}).get("selector")
    return selector_string(sel) if isinstance(sel, dict) else ""

def _pod_status(o: Obj) -> str:
    """kubectl's STATUS: Terminating, a container's waiting or terminated reason, or the
    phase."""
    if (o.get("metadata") or {}).get("deletionTimestamp"):
        return "Terminating"
    st = o.get("status") or {}
    reason = st.get("phase") or "Pending"
    for cs in (st.get("initContainerStatuses") or []):
        state = cs.get("state") or {}
        detail = (state.get("waiting") or {}).get("reason") or (
            state.get("terminated") or {}).get("reason")
        if detail and detail != "Completed":
            return f"Init:{detail}"
    for cs in st.get("containerStatuses") or []:
        state = cs.get("state") or {}
        detail = (state.get("waiting") or {}).get("reason") or (
            state.get("terminated") or {}).get("reason")
        if detail:
            reason = detail
    return str(reason)


def _ports(o: Obj) -> str:
    out = []
    for p in (o.get("spec") or {}).get("ports") or []:
        text = f"{p.get('port')}"
        if p.get("nodePort"):
            text += f":{p['nodePort']}"
        out.append(f"{text}/{p.get('protocol') or 'TCP'}")
    return ",".join(out) or "<none>"


def _endpoints(o: Obj) -> str:
    pairs = [f"{a.get('ip')}:{p.get('port')}"
             for s in o.get("subsets") or [] for a in s.get("addresses") or []
             for p in s.get("ports") or [{}]]
    if not pairs:
        return "<none>"
    return ",".join(pairs[:3]) + (f" + {len(pairs) - 3} more..." if len(pairs) > 3 else "")


def _node_status(o: Obj) -> str:
    ready = next((c.get("status") for c in (o.get("status") or {}).get("conditions") or []
                  if c.get("type") == "Ready"), None)
    text = {"True": "Ready", "False": "NotReady"}.get(str(ready), "Unknown")
    if (o.get("spec") or {}).get("unschedulable"):
        text += ",SchedulingDisabled"
    return text


def _roles(o: Obj) -> str:
    prefix = "node-role.kubernetes.io/"
    roles = [k[len(prefix):] for k in ((o.get("metadata") or {}).get("labels") or {})
             if k.startswith(prefix)]
    return ",".join(sorted(roles)) or "<none>"


def _external_ip(o: Obj) -> str:
    """kubectl's EXTERNAL-IP: a load balancer's ingress and externalIPs (``<pending>``
    while it has none), an ExternalName's name, otherwise externalIPs or ``<none>``."""
    spec = o.get("spec") or {}
    ingress = ((o.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    found = [str(i.get("ip") or i.get("hostname") or "") for i in ingress] + \
        [str(ip) for ip in spec.get("externalIPs") or []]
    if spec.get("type") == "LoadBalancer":
        return ",".join(found) or "<pending>"
    if spec.get("type") == "ExternalName":
        return str(spec.get("externalName") or "<none>")
    return ",".join(found) or "<none>"


def _count(field: str) -> Callable[[Obj], int]:
    return lambda o: len(o.get(field) or {})


_COLUMNS: dict[str, list[_Col]] = {
    "Pod": [("Ready", "string", _ready_pods), ("Status", "string", _pod_status),
            ("Restarts", "integer", _restarts)],
    "Job": [("Status", "string", lambda o: "Complete" if (o.get("status") or {}).get(
        "succeeded") else "Running"),
            ("Completions", "string", lambda o: f"{(o.get('status') or {}).get('succeeded') or 0}"
                                                f"/{(o.get('spec') or {}).get('completions', 1)}")],
    "Deployment": [("Ready", "string", _ratio("readyReplicas")),
                   ("Up-to-date", "integer", _status("status.updatedReplicas")),
                   ("Available", "integer", _status("status.availableReplicas"))],
    "ReplicaSet": [("Desired", "integer", _status("spec.replicas")),
                   ("Current", "integer", _status("status.replicas")),
                   ("Ready", "integer", _status("status.readyReplicas"))],
    "StatefulSet": [("Ready", "string", _ratio("readyReplicas"))],
    "DaemonSet": [("Desired", "integer", _status("status.desiredNumberScheduled")),
                  ("Current", "integer", _status("status.currentNumberScheduled")),
                  ("Ready", "integer", _status("status.numberReady")),
                  ("Up-to-date", "integer", _status("status.updatedNumberScheduled")),
                  ("Available", "integer", _status("status.numberAvailable"))],
    "Service": [("Type", "string", _status("spec.type")),
                ("Cluster-IP", "string", lambda o: (o.get("spec") or {}).get("clusterIP")
                 or "<none>"),
                ("External-IP", "string", _external_ip),
                ("Port(s)", "string", _ports)],
    "ConfigMap": [("Data", "integer", lambda o: len(o.get("data") or {})
                   + len(o.get("binaryData") or {}))],
    "Secret": [("Type", "string", lambda o: o.get("type") or "Opaque"),
               ("Data", "integer", _count("data"))],
    "Endpoints": [("Endpoints", "string", _endpoints)],
    "ServiceAccount": [("Secrets", "integer", _count("secrets"))],
    "PersistentVolumeClaim": [("Status", "string", _status("status.phase"))],
    "Namespace": [("Status", "string", _status("status.phase"))],
    "Node": [("Status", "string", _node_status), ("Roles", "string", _roles)],
}
# Columns kubectl prints after AGE (priority 0).
_AFTER_AGE: dict[str, list[_Col]] = {
    "Node": [("Version", "string", _status("status.nodeInfo.kubeletVersion"))],
}


def _event_object(o: Obj) -> str:
    ref = o.get("involvedObject") or {}
    return f"{str(ref.get('kind') or '').lower()}/{ref.get('name') or ''}"


def _last_seen(o: Obj, now: float) -> str:
    for field in ("lastTimestamp", "eventTime", "firstTimestamp"):
        value = o.get(field)
        if value:
            return _age({"metadata": {"creationTimestamp": value}}, now)
    return _age(o, now)


def _column(name: str, kind: str = "string", fmt: str = "", priority: int = 0) -> Obj:
    return {"name": name, "type": kind, "format": fmt, "priority": priority,
            "description": name}


_EVENT_DEFINITIONS = [_column("Last Seen"), _column("Type"), _column("Reason"),
                      _column("Object"), _column("Message"),
                      _column("Name", fmt="name", priority=1)]


def _event_cells(o: Obj, now: float) -> list[Any]:
    """kubectl's event columns: LAST SEEN, TYPE, REASON, OBJECT, MESSAGE (NAME is wide)."""
    return [_last_seen(o, now), o.get("type") or "", o.get("reason") or "",
            _event_object(o), o.get("message") or "",
            (o.get("metadata") or {}).get("name", "")]


def _layout(rt: ResourceType) -> tuple[list[Obj], Callable[[Obj, float], list[Any]]]:
    """The column definitions of ``rt``'s Table and the function computing a row's cells."""
    if rt.kind == "Event":
        return [dict(d) for d in _EVENT_DEFINITIONS], _event_cells
    cols = _COLUMNS.get(rt.kind, [])
    wide_cols = _WIDE.get(rt.kind, [])
    after = _AFTER_AGE.get(rt.kind, [])
    definitions = [{"name": "Name", "type": "string", "format": "name", "priority": 0,
                    "description": "Name must be unique within a namespace."}]
    definitions += [_column(n, t) for n, t, _ in cols]
    definitions.append(_column("Age"))
    definitions += [_column(n, t) for n, t, _ in after]
    definitions += [_column(n, t, priority=1) for n, t, _ in wide_cols]

    def cells(o: Obj, now: float) -> list[Any]:
        return [(o.get("metadata") or {}).get("name", ""), *(f(o) for _, _, f in cols),
                _age(o, now), *(f(o) for _, _, f in after),
                *(f(o) or "<none>" for _, _, f in wide_cols)]

    return definitions, cells


def table_parts(rt: ResourceType, resource_version: str,
                wide: bool = False) -> tuple[Obj, Callable[[Obj], Obj]]:
    """A meta.k8s.io/v1 Table without its ``rows`` (the last field), and the function
    making one object's row: what a streamed list writes piece by piece."""
    now = time.time()
    definitions, cells = _layout(rt)

    def row(obj: Obj) -> Obj:
        partial = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                   "metadata": obj.get("metadata") or {}}
        return {"cells": cells(obj, now), "object": obj if wide else partial}

    head = {"kind": "Table", "apiVersion": "meta.k8s.io/v1",
            "metadata": {"resourceVersion": resource_version},
            "columnDefinitions": definitions}
    return head, row


def as_table(rt: ResourceType, items: list[Obj], resource_version: str,
             wide: bool = False) -> Obj:
    """A meta.k8s.io/v1 Table of ``items``."""
    head, row = table_parts(rt, resource_version, wide)
    return {**head, "rows": [row(o) for o in items]}
