"""kubectl-style tables: the columns of ``gitkube get`` for each kind. Pure functions.

``columns(kind, wide)`` names the columns and ``row(obj, now, wide)`` gives one object's
cells, both following kubectl's printers (pkg/printers/internalversion) for the fields
gitkube has; ``render(headers, rows)`` aligns them with three spaces like kubectl.
"""

from __future__ import annotations

import calendar
import time
from collections.abc import Callable, Sequence
from typing import Any

Obj = dict[str, Any]


def parse_time(text: Any) -> float | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return float(calendar.timegm(time.strptime(text[:19], "%Y-%m-%dT%H:%M:%S")))
    except ValueError:
        return None


def human_duration(seconds: float) -> str:
    """kubectl's HumanDuration: 45s, 3m20s, 15m, 2h5m, 10h, 3d4h, 20d, 2y30d."""
    s = int(max(0, seconds))
    m, h, d = s // 60, s // 3600, s // 86400
    if s < 120:
        return f"{s}s"
    if m < 10:
        return f"{m}m{s % 60}s" if s % 60 else f"{m}m"
    if m < 180:
        return f"{m}m" if h == 0 else f"{h}h{m % 60}m" if m % 60 else f"{h}h"
    if h < 8:
        return f"{h}h{m % 60}m" if m % 60 else f"{h}h"
    if h < 48:
        return f"{h}h"
    if h < 24 * 8:
        return f"{d}d{h % 24}h" if h % 24 else f"{d}d"
    if d < 365 * 2:
        return f"{d}d"
    return f"{d // 365}y{d % 365}d"


def age(obj: Obj, now: float, field: str = "creationTimestamp") -> str:
    t = parse_time((obj.get("metadata") or {}).get(field))
    return human_duration(now - t) if t is not None else "<unknown>"


def _meta(obj: Obj) -> Obj:
    return obj.get("metadata") or {}


def _spec(obj: Obj) -> Obj:
    return obj.get("spec") or {}


def _status(obj: Obj) -> Obj:
    return obj.get("status") or {}


def _selector_text(sel: Any) -> str:
    if not isinstance(sel, dict):
        return "<none>"
    parts = [f"{k}={v}" for k, v in sorted((sel.get("matchLabels") or sel).items())
             if isinstance(v, str)]
    return ",".join(parts) or "<none>"


def pod_status_text(pod: Obj) -> str:
    """The STATUS column of ``kubectl get pods``."""
    st = _status(pod)
    reason = str(st.get("reason") or st.get("phase") or "Pending")
    inits = st.get("initContainerStatuses") or []
    total_init = len(_spec(pod).get("initContainers") or [])
    initializing = False
    for i, cs in enumerate(inits):
        state = cs.get("state") or {}
        term = state.get("terminated")
        if term and term.get("exitCode") == 0:
            continue
        initializing = True
        if term:
            reason = f"Init:{term.get('reason') or 'ExitCode:' + str(term.get('exitCode'))}"
        elif state.get("waiting", {}).get("reason") not in (None, "", "PodInitializing"):
            reason = f"Init:{state['waiting']['reason']}"
        else:
            reason = f"Init:{i}/{total_init}"
        break
    if not initializing:
        has_running = False
        for cs in reversed(st.get("containerStatuses") or []):
            state = cs.get("state") or {}
            if state.get("waiting", {}).get("reason"):
                reason = str(state["waiting"]["reason"])
            elif state.get("terminated"):
                term = state["terminated"]
                reason = str(term.get("reason") or f"ExitCode:{term.get('exitCode')}")
            elif state.get("running") and cs.get("ready"):
                has_running = True
        if reason == "Completed" and has_running:
            reason = "Running"
    if _meta(pod).get("deletionTimestamp"):
        reason = "Terminating"
    return reason


def _restarts(pod: Obj, now: float) -> str:
    total = 0
    last: float | None = None
    for cs in _status(pod).get("containerStatuses") or []:
        total += int(cs.get("restartCount") or 0)
        finished = parse_time(((cs.get("lastState") or {}).get("terminated") or {}).get(
            "finishedAt"))
        if finished is not None and (last is None or finished > last):
            last = finished
    if total and last is not None:
        return f"{total} ({human_duration(now - last)} ago)"
    return str(total)


def _pod(pod: Obj, now: float, wide: bool) -> list[str]:
    statuses = _status(pod).get("containerStatuses") or []
    containers = _spec(pod).get("containers") or []
    ready = sum(1 for cs in statuses if cs.get("ready"))
    row = [_meta(pod).get("name", ""), f"{ready}/{len(containers)}", pod_status_text(pod),
           _restarts(pod, now), age(pod, now)]
    if wide:
        row += [_status(pod).get("podIP") or "<none>", _spec(pod).get("nodeName") or "<none>"]
    return row


def _deploy(d: Obj, now: float, wide: bool) -> list[str]:
    st = _status(d)
    want = int(_spec(d).get("replicas", 1))
    row = [_meta(d).get("name", ""), f"{int(st.get('readyReplicas') or 0)}/{want}",
           str(int(st.get("updatedReplicas") or 0)), str(int(st.get("availableReplicas") or 0)),
           age(d, now)]
    if wide:
        row += _template_cols(d)
    return row


def _template_cols(obj: Obj) -> list[str]:
    cs = ((_spec(obj).get("template") or {}).get("spec") or {}).get("containers") or []
    return [",".join(c.get("name", "") for c in cs), ",".join(c.get("image", "") for c in cs),
            _selector_text(_spec(obj).get("selector"))]


def _rs(rs: Obj, now: float, wide: bool) -> list[str]:
    st = _status(rs)
    row = [_meta(rs).get("name", ""), str(int(_spec(rs).get("replicas", 1))),
           str(int(st.get("replicas") or 0)), str(int(st.get("readyReplicas") or 0)),
           age(rs, now)]
    return row + (_template_cols(rs) if wide else [])


def _sts(s: Obj, now: float, wide: bool) -> list[str]:
    row = [_meta(s).get("name", ""),
           f"{int(_status(s).get('readyReplicas') or 0)}/{int(_spec(s).get('replicas', 1))}",
           age(s, now)]
    return row + (_template_cols(s)[:2] if wide else [])


def _ds(ds: Obj, now: float, wide: bool) -> list[str]:
    st = _status(ds)
    selector = ((_spec(ds).get("template") or {}).get("spec") or {}).get("nodeSelector")
    row = [_meta(ds).get("name", "")] + [str(int(st.get(k) or 0)) for k in (
        "desiredNumberScheduled", "currentNumberScheduled", "numberReady",
        "updatedNumberScheduled", "numberAvailable")]
    row += [",".join(f"{k}={v}" for k, v in sorted((selector or {}).items())) or "<none>",
            age(ds, now)]
    return row + (_template_cols(ds) if wide else [])


def _job(job: Obj, now: float, wide: bool) -> list[str]:
    st = _status(job)
    conds = {c.get("type"): c.get("status") for c in st.get("conditions") or []}
    status = ("Complete" if conds.get("Complete") == "True" else
              "Failed" if conds.get("Failed") == "True" else
              "Suspended" if _spec(job).get("suspend") else "Running")
    start, done = parse_time(st.get("startTime")), parse_time(st.get("completionTime"))
    duration = human_duration((done or now) - start) if start is not None else ""
    completions = _spec(job).get("completions")
    row = [_meta(job).get("name", ""), status,
           f"{int(st.get('succeeded') or 0)}/{completions if completions is not None else 1}",
           duration, age(job, now)]
    return row + (_template_cols(job) if wide else [])


def _svc(svc: Obj, now: float, wide: bool) -> list[str]:
    spec = _spec(svc)
    ports = []
    for p in spec.get("ports") or []:
        text = f"{p.get('port')}"
        if p.get("nodePort"):
            text += f":{p['nodePort']}"
        ports.append(f"{text}/{p.get('protocol', 'TCP')}")
    ingress = ((_status(svc).get("loadBalancer") or {}).get("ingress") or [])
    external = ",".join(i.get("ip") or i.get("hostname", "") for i in ingress) or (
        ",".join(spec.get("externalIPs") or []) or
        (spec.get("externalName") if spec.get("type") == "ExternalName" else "") or
        ("<pending>" if spec.get("type") == "LoadBalancer" else "<none>"))
    row = [_meta(svc).get("name", ""), spec.get("type", "ClusterIP"),
           spec.get("clusterIP") or "<none>", external, ",".join(ports) or "<none>",
           age(svc, now)]
    return row + ([_selector_text(spec.get("selector"))] if wide else [])


def _node(node: Obj, now: float, wide: bool) -> list[str]:
    st = _status(node)
    ready = next((c for c in st.get("conditions") or [] if c.get("type") == "Ready"), None)
    status = "Ready" if ready and ready.get("status") == "True" else "NotReady" if ready \
        else "Unknown"
    if _spec(node).get("unschedulable"):
        status += ",SchedulingDisabled"
    roles = sorted(k.split("/", 1)[1] for k in (_meta(node).get("labels") or {})
                   if k.startswith("node-role.kubernetes.io/"))
    info = st.get("nodeInfo") or {}
    row = [_meta(node).get("name", ""), status, ",".join(roles) or "<none>", age(node, now),
           info.get("kubeletVersion", "")]
    if wide:
        addrs = {a.get("type"): a.get("address") for a in st.get("addresses") or []}
        row += [addrs.get("InternalIP") or "<none>", addrs.get("ExternalIP") or "<none>",
                info.get("osImage", ""), info.get("kernelVersion", ""),
                info.get("containerRuntimeVersion", "")]
    return row


def _sa(sa: Obj, now: float, wide: bool) -> list[str]:
    return [_meta(sa).get("name", ""), str(len(sa.get("secrets") or [])), age(sa, now)]


def _cm(cm: Obj, now: float, wide: bool) -> list[str]:
    n = len(cm.get("data") or {}) + len(cm.get("binaryData") or {})
    return [_meta(cm).get("name", ""), str(n), age(cm, now)]


def _secret(s: Obj, now: float, wide: bool) -> list[str]:
    return [_meta(s).get("name", ""), s.get("type", "Opaque"), str(len(s.get("data") or {})),
            age(s, now)]


def _pvc(pvc: Obj, now: float, wide: bool) -> list[str]:
    spec, st = _spec(pvc), _status(pvc)
    cap = (st.get("capacity") or {}).get("storage") or ""
    modes = {"ReadWriteOnce": "RWO", "ReadOnlyMany": "ROX", "ReadWriteMany": "RWX",
             "ReadWriteOncePod": "RWOP"}
    am = ",".join(modes.get(m, m) for m in (st.get("accessModes") or []))
    return [_meta(pvc).get("name", ""), st.get("phase", "Pending"), spec.get("volumeName", ""),
            cap, am, spec.get("storageClassName") or "<unset>", age(pvc, now)]


def _ns(ns: Obj, now: float, wide: bool) -> list[str]:
    return [_meta(ns).get("name", ""), _status(ns).get("phase", "Active"), age(ns, now)]


def _ep(ep: Obj, now: float, wide: bool) -> list[str]:
    addrs = []
    for subset in ep.get("subsets") or []:
        for a in subset.get("addresses") or []:
            for p in subset.get("ports") or [{}]:
                addrs.append(f"{a.get('ip')}:{p.get('port')}" if p.get("port") else a.get("ip"))
    text = ",".join(addrs[:3]) + (f" + {len(addrs) - 3} more..." if len(addrs) > 3 else "")
    return [_meta(ep).get("name", ""), text or "<none>", age(ep, now)]


def _event(ev: Obj, now: float, wide: bool) -> list[str]:
    last = parse_time(ev.get("lastTimestamp") or ev.get("eventTime")) or \
        parse_time(_meta(ev).get("creationTimestamp"))
    obj = ev.get("involvedObject") or {}
    return [human_duration(now - last) if last else "<unknown>", ev.get("type", ""),
            ev.get("reason", ""), f"{str(obj.get('kind', '')).lower()}/{obj.get('name', '')}",
            str(ev.get("message", "")).strip()]


def _generic(obj: Obj, now: float, wide: bool) -> list[str]:
    return [_meta(obj).get("name", ""), age(obj, now)]


Row = Callable[[Obj, float, bool], list[str]]
_TABLES: dict[str, tuple[list[str], list[str], Row]] = {
    "Pod": (["NAME", "READY", "STATUS", "RESTARTS", "AGE"], ["IP", "NODE"], _pod),
    "Deployment": (["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"],
                   ["CONTAINERS", "IMAGES", "SELECTOR"], _deploy),
    "ReplicaSet": (["NAME", "DESIRED", "CURRENT", "READY", "AGE"],
                   ["CONTAINERS", "IMAGES", "SELECTOR"], _rs),
    "StatefulSet": (["NAME", "READY", "AGE"], ["CONTAINERS", "IMAGES"], _sts),
    "DaemonSet": (["NAME", "DESIRED", "CURRENT", "READY", "UP-TO-DATE", "AVAILABLE",
                   "NODE SELECTOR", "AGE"], ["CONTAINERS", "IMAGES", "SELECTOR"], _ds),
    "Job": (["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"],
            ["CONTAINERS", "IMAGES", "SELECTOR"], _job),
    "Service": (["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"], ["SELECTOR"],
                _svc),
    "Node": (["NAME", "STATUS", "ROLES", "AGE", "VERSION"],
             ["INTERNAL-IP", "EXTERNAL-IP", "OS-IMAGE", "KERNEL-VERSION", "CONTAINER-RUNTIME"],
             _node),
    "ConfigMap": (["NAME", "DATA", "AGE"], [], _cm),
    "ServiceAccount": (["NAME", "SECRETS", "AGE"], [], _sa),
    "Secret": (["NAME", "TYPE", "DATA", "AGE"], [], _secret),
    "PersistentVolumeClaim": (["NAME", "STATUS", "VOLUME", "CAPACITY", "ACCESS MODES",
                               "STORAGECLASS", "AGE"], [], _pvc),
    "Namespace": (["NAME", "STATUS", "AGE"], [], _ns),
    "Endpoints": (["NAME", "ENDPOINTS", "AGE"], [], _ep),
    "Event": (["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"], [], _event),
}


def columns(kind: str, wide: bool = False) -> list[str]:
    base, extra, _ = _TABLES.get(kind, (["NAME", "AGE"], [], _generic))
    return base + (extra if wide else [])


def row(obj: Obj, now: float, wide: bool = False) -> list[str]:
    _, _, fn = _TABLES.get(str(obj.get("kind")), (["NAME", "AGE"], [], _generic))
    return [str(c) for c in fn(obj, now, wide)]


def render(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns left-aligned, separated by three spaces, no trailing blanks."""
    widths = [len(h) for h in headers]
    for r in rows:
        for i, cell in enumerate(r):
            widths[i] = max(widths[i], len(cell))
    lines = []
    for r in [list(headers), *map(list, rows)]:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(r)]
        lines.append("   ".join(cells).rstrip())
    return "\n".join(lines) + "\n"
