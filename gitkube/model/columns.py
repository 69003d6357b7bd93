"""The columns kubectl prints for each kind: one table that ``gitkube get`` renders as text
and the API serves as a meta.k8s.io Table (which the real kubectl prints), so both show the
same thing.

Each kind's columns are upstream's (kubernetes/pkg/printers/internalversion), in upstream's
order, for the fields gitkube has: name, type ("string"/"integer"), priority (1: only with
``-o wide``) and the cell computed from the object at a time ``now``. A kind not listed
gets Name and Age. The cell rules live in ``model/printers.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from gitkube.model.labels import SelectorError, selector_string
from gitkube.model.printers import (
    age,
    endpoints_text,
    job_completions_text,
    job_duration_text,
    job_status_text,
    labels_text,
    node_roles,
    node_status_text,
    pod_columns,
    service_external_ip,
    service_ports,
    since,
)
from gitkube.model.views import ObjectView, PodSpec, Raw, child, children, number, text
from gitkube.model.workloads import DaemonSet, Deployment, ReplicaSet, StatefulSet

Cell = str | int
Obj = dict[str, Any]
CellFn = Callable[[Mapping[str, Any], float], Cell]


@dataclass(frozen=True)
class Column:
    """One column: ``name`` as the API's Table names it (kubectl upper-cases it)."""

    name: str
    type: str
    cell: CellFn
    priority: int = 0
    format: str = ""


def _name(obj: Mapping[str, Any], now: float) -> Cell:
    return ObjectView(obj).metadata.name


NAME = Column("Name", "string", _name, format="name")
AGE = Column("Age", "string", age)


def _spec(obj: Mapping[str, Any]) -> Raw:
    return ObjectView(obj).spec_raw


def _status(obj: Mapping[str, Any]) -> Raw:
    return ObjectView(obj).status_raw


def _template_spec(obj: Mapping[str, Any]) -> PodSpec:
    return PodSpec(child(child(_spec(obj), "template"), "spec"))


def _containers(obj: Mapping[str, Any], now: float) -> Cell:
    return ",".join(c.name for c in _template_spec(obj).containers)


def _images(obj: Mapping[str, Any], now: float) -> Cell:
    return ",".join(c.image for c in _template_spec(obj).containers)


def _selector(obj: Mapping[str, Any], now: float) -> Cell:
    """Upstream's FormatLabelSelector."""
    selector = _spec(obj).get("selector")
    if not isinstance(selector, Mapping):
        return "<none>"
    try:
        return selector_string(selector) or "<none>"
    except SelectorError:
        return "<error>"


def _status_count(field: str) -> CellFn:
    return lambda obj, now: number(_status(obj), field)


def _text(of: Callable[[Mapping[str, Any]], Raw], field: str, default: str = "") -> CellFn:
    return lambda obj, now: text(of(obj), field) or default


TEMPLATE = [Column("Containers", "string", _containers, 1),
            Column("Images", "string", _images, 1)]
TEMPLATE_AND_SELECTOR = [*TEMPLATE, Column("Selector", "string", _selector, 1)]


def _pod_cell(field: str) -> CellFn:
    return lambda obj, now: str(getattr(pod_columns(obj, now), field))


def _node_info(field: str, default: str) -> CellFn:
    return lambda obj, now: text(child(_status(obj), "nodeInfo"), field) or default


def _node_address(kind: str) -> CellFn:
    def cell(obj: Mapping[str, Any], now: float) -> Cell:
        for address in children(_status(obj), "addresses"):
            if text(address, "type") == kind:
                return text(address, "address")
        return "<none>"
    return cell


def _cluster_ip(obj: Mapping[str, Any], now: float) -> Cell:
    ips = _spec(obj).get("clusterIPs")
    if isinstance(ips, list) and ips and isinstance(ips[0], str):
        return ips[0]
    return text(_spec(obj), "clusterIP") or "<none>"


_ACCESS_MODES = {"ReadWriteOnce": "RWO", "ReadOnlyMany": "ROX", "ReadWriteMany": "RWX",
                 "ReadWriteOncePod": "RWOP"}


def _access_modes(obj: Mapping[str, Any], now: float) -> Cell:
    modes = _status(obj).get("accessModes")
    return ",".join(_ACCESS_MODES.get(str(m), str(m)) for m in modes) \
        if isinstance(modes, list) else ""


def _event_last_seen(obj: Mapping[str, Any], now: float) -> Cell:
    series = child(obj, "series")
    for stamp in (text(series, "lastObservedTime"), text(obj, "lastTimestamp"),
                  text(obj, "firstTimestamp"), text(obj, "eventTime"),
                  ObjectView(obj).metadata.creation_timestamp):
        if stamp:
            return since(stamp, now)
    return "<unknown>"


def _event_object(obj: Mapping[str, Any], now: float) -> Cell:
    ref = child(obj, "involvedObject")
    kind, name = text(ref, "kind").lower(), text(ref, "name")
    return f"{kind}/{name}" if name else kind


COLUMNS: dict[str, list[Column]] = {
    "Pod": [NAME, Column("Ready", "string", _pod_cell("ready")),
            Column("Status", "string", _pod_cell("status")),
            Column("Restarts", "string", _pod_cell("restarts")), AGE,
            Column("IP", "string", lambda o, now: text(_status(o), "podIP") or "<none>", 1),
            Column("Node", "string", lambda o, now: text(_spec(o), "nodeName") or "<none>", 1)],
    "Deployment": [
        NAME, Column("Ready", "string", lambda o, now: f"{Deployment(o).ready_replicas}/"
                                                      f"{Deployment(o).replicas}"),
        Column("Up-to-date", "integer", _status_count("updatedReplicas")),
        Column("Available", "integer", _status_count("availableReplicas")), AGE,
        *TEMPLATE_AND_SELECTOR],
    "ReplicaSet": [NAME, Column("Desired", "integer", lambda o, now: ReplicaSet(o).replicas),
                   Column("Current", "integer", _status_count("replicas")),
                   Column("Ready", "integer", _status_count("readyReplicas")), AGE,
                   *TEMPLATE_AND_SELECTOR],
    "StatefulSet": [NAME, Column("Ready", "string", lambda o, now: (
        f"{StatefulSet(o).ready_replicas}/{StatefulSet(o).replicas}")), AGE, *TEMPLATE],
    "DaemonSet": [NAME, Column("Desired", "integer", lambda o, now: DaemonSet(o).desired),
                  Column("Current", "integer", lambda o, now: DaemonSet(o).current),
                  Column("Ready", "integer", lambda o, now: DaemonSet(o).ready),
                  Column("Up-to-date", "integer", lambda o, now: DaemonSet(o).updated),
                  Column("Available", "integer", lambda o, now: DaemonSet(o).available),
                  Column("Node Selector", "string", lambda o, now: labels_text(
                      _template_spec(o).node_selector)), AGE, *TEMPLATE_AND_SELECTOR],
    "Job": [NAME, Column("Status", "string", lambda o, now: job_status_text(o)),
            Column("Completions", "string", lambda o, now: job_completions_text(o)),
            Column("Duration", "string", job_duration_text), AGE, *TEMPLATE_AND_SELECTOR],
    "Service": [NAME, Column("Type", "string", _text(_spec, "type", "ClusterIP")),
                Column("Cluster-IP", "string", _cluster_ip),
                Column("External-IP", "string", lambda o, now: service_external_ip(o)),
                Column("Port(s)", "string", lambda o, now: service_ports(o)), AGE,
                Column("Selector", "string", lambda o, now: labels_text(
                    _spec(o).get("selector")), 1)],
    "Node": [NAME, Column("Status", "string", lambda o, now: node_status_text(o)),
             Column("Roles", "string", lambda o, now: node_roles(o)), AGE,
             Column("Version", "string", _node_info("kubeletVersion", "")),
             Column("Internal-IP", "string", _node_address("InternalIP"), 1),
             Column("External-IP", "string", _node_address("ExternalIP"), 1),
             Column("OS-Image", "string", _node_info("osImage", "<unknown>"), 1),
             Column("Kernel-Version", "string", _node_info("kernelVersion", "<unknown>"), 1),
             Column("Container-Runtime", "string",
                    _node_info("containerRuntimeVersion", "<unknown>"), 1)],
    "ConfigMap": [NAME, Column("Data", "integer", lambda o, now: len(child(o, "data"))
                               + len(child(o, "binaryData"))), AGE],
    "Secret": [NAME, Column("Type", "string", lambda o, now: text(o, "type") or "Opaque"),
               Column("Data", "integer", lambda o, now: len(child(o, "data"))), AGE],
    "ServiceAccount": [NAME, Column("Secrets", "integer",
                                    lambda o, now: len(children(o, "secrets"))), AGE],
    "PersistentVolumeClaim": [
        NAME, Column("Status", "string", _text(_status, "phase", "Pending")),
        Column("Volume", "string", _text(_spec, "volumeName")),
        Column("Capacity", "string", lambda o, now: str(
            child(_status(o), "capacity").get("storage") or "")),
        Column("Access Modes", "string", _access_modes),
        Column("StorageClass", "string", _text(_spec, "storageClassName", "<unset>")), AGE],
    "Namespace": [NAME, Column("Status", "string", _text(_status, "phase", "Active")), AGE],
    "Endpoints": [NAME, Column("Endpoints", "string", lambda o, now: endpoints_text(o)), AGE],
    "Event": [Column("Last Seen", "string", _event_last_seen),
              Column("Type", "string", lambda o, now: text(o, "type")),
              Column("Reason", "string", lambda o, now: text(o, "reason")),
              Column("Object", "string", _event_object),
              Column("Message", "string", lambda o, now: text(o, "message").strip()),
              Column("Name", "string", _name, 1, "name")],
    "Lease": [NAME, Column("Holder", "string", _text(_spec, "holderIdentity")), AGE],
}


def _job_template(obj: Mapping[str, Any]) -> Obj:
    """A CronJob seen as the Job it makes (for the template and selector columns)."""
    return {"spec": child(child(_spec(obj), "jobTemplate"), "spec")}


def _of_job_template(cell: CellFn) -> CellFn:
    return lambda obj, now: cell(_job_template(obj), now)


def _suspend(obj: Mapping[str, Any], now: float) -> Cell:
    value = _spec(obj).get("suspend")
    return "<unset>" if not isinstance(value, bool) else str(value)


def _last_schedule(obj: Mapping[str, Any], now: float) -> Cell:
    stamp = text(_status(obj), "lastScheduleTime")
    return since(stamp, now) if stamp else "<none>"


COLUMNS["CronJob"] = [
    NAME, Column("Schedule", "string", _text(_spec, "schedule")),
    Column("Timezone", "string", _text(_spec, "timeZone", "<none>")),
    Column("Suspend", "string", _suspend),
    Column("Active", "integer", lambda o, now: len(children(_status(o), "active"))),
    Column("Last Schedule", "string", _last_schedule), AGE,
    *[Column(c.name, c.type, _of_job_template(c.cell), c.priority)
      for c in TEMPLATE_AND_SELECTOR]]


COLUMNS["PriorityClass"] = [
    NAME, Column("Value", "integer", lambda o, now: number(o, "value")),
    Column("Global-Default", "string", lambda o, now: str(o.get("globalDefault") is True)),
    AGE, Column("PreemptionPolicy", "string", lambda o, now: text(o, "preemptionPolicy")
                or "PreemptLowerPriority")]


def _budget(field: str) -> CellFn:
    def cell(obj: Mapping[str, Any], now: float) -> Cell:
        value = _spec(obj).get(field)
        return "N/A" if value is None else str(value)
    return cell


COLUMNS["PodDisruptionBudget"] = [
    NAME, Column("Min Available", "string", _budget("minAvailable")),
    Column("Max Unavailable", "string", _budget("maxUnavailable")),
    Column("Allowed Disruptions", "integer", _status_count("disruptionsAllowed")), AGE]


def _quota_cell(limits: bool) -> CellFn:
    """Upstream's REQUEST (every resource but limits.*) or LIMIT column: ``name: used/hard``."""
    def cell(obj: Mapping[str, Any], now: float) -> Cell:
        hard, used = child(_status(obj), "hard"), child(_status(obj), "used")
        names = sorted(n for n in hard if str(n).startswith("limits.") == limits)
        return ", ".join(f"{n}: {used.get(n, '0')}/{hard[n]}" for n in names)
    return cell


COLUMNS["ResourceQuota"] = [NAME, AGE, Column("Request", "string", _quota_cell(False)),
                            Column("Limit", "string", _quota_cell(True))]
COLUMNS["LimitRange"] = [NAME, Column("Created At", "string", lambda o, now: ObjectView(
    o).metadata.creation_timestamp)]


def _ingress_hosts(obj: Mapping[str, Any], now: float) -> Cell:
    hosts = [text(r, "host") for r in children(_spec(obj), "rules") if text(r, "host")]
    return ",".join(hosts) or "*"


def _ingress_address(obj: Mapping[str, Any], now: float) -> Cell:
    found = [text(i, "ip") or text(i, "hostname")
             for i in children(child(_status(obj), "loadBalancer"), "ingress")]
    return ",".join(a for a in found if a)


def _ingress_class_parameters(obj: Mapping[str, Any], now: float) -> Cell:
    params = child(_spec(obj), "parameters")
    return f"{text(params, 'kind')}/{text(params, 'name')}" if params else "<none>"


COLUMNS["Ingress"] = [
    NAME, Column("Class", "string", _text(_spec, "ingressClassName", "<none>")),
    Column("Hosts", "string", _ingress_hosts),
    Column("Address", "string", _ingress_address),
    Column("Ports", "string", lambda o, now: "80, 443" if children(_spec(o), "tls")
           else "80"), AGE]
COLUMNS["IngressClass"] = [
    NAME, Column("Controller", "string", _text(_spec, "controller")),
    Column("Parameters", "string", _ingress_class_parameters), AGE]
def _slice_ports(obj: Mapping[str, Any], now: float) -> Cell:
    """Upstream's formatDiscoveryPorts: the first three port numbers (or names)."""
    ports = [str(p.get("port") if p.get("port") is not None else p.get("name") or "*")
             for p in children(obj, "ports")]
    return _first_three(ports)


def _slice_endpoints(obj: Mapping[str, Any], now: float) -> Cell:
    """Upstream's formatDiscoveryEndpoints: the first three addresses."""
    return _first_three([str(a) for e in children(obj, "endpoints")
                         for a in (e.get("addresses") or [])])


def _first_three(items: list[str]) -> str:
    text_ = ",".join(items[:3])
    if len(items) > 3:
        return f"{text_} + {len(items) - 3} more..."
    return text_ or "<unset>"


def _revision_controller(obj: Mapping[str, Any], now: float) -> Cell:
    for ref in children(child(obj, "metadata"), "ownerReferences"):
        if ref.get("controller") is True:
            group = text(ref, "apiVersion").rpartition("/")[0]
            kind = text(ref, "kind") + (f".{group}" if group else "")
            return f"{kind.lower()}/{text(ref, 'name')}"
    return "<none>"


COLUMNS["EndpointSlice"] = [NAME, Column("AddressType", "string",
                                          lambda o, now: text(o, "addressType")),
                            Column("Ports", "string", _slice_ports),
                            Column("Endpoints", "string", _slice_endpoints), AGE]
COLUMNS["ReplicationController"] = [
    NAME, Column("Desired", "integer", lambda o, now: number(_spec(o), "replicas")),
    Column("Current", "integer", _status_count("replicas")),
    Column("Ready", "integer", _status_count("readyReplicas")), AGE, *TEMPLATE,
    Column("Selector", "string", lambda o, now: labels_text(_spec(o).get("selector")), 1)]
COLUMNS["ControllerRevision"] = [NAME, Column("Controller", "string", _revision_controller),
                                 Column("Revision", "integer",
                                        lambda o, now: number(o, "revision")), AGE]


def columns_for(kind: str) -> list[Column]:
    """``kind``'s columns, wide ones (priority 1) included, in kubectl's order."""
    return COLUMNS.get(kind, [NAME, AGE])


def cells(columns: list[Column], obj: Mapping[str, Any], now: float) -> list[Cell]:
    """One object's cells for ``columns`` at ``now``."""
    return [c.cell(obj, now) for c in columns]


__all__ = ["AGE", "COLUMNS", "NAME", "Cell", "Column", "cells", "columns_for"]
