"""Endpoints controller: for every Service with a selector, an Endpoints object of the same
name listing the pods it selects.

- Pods with an IP, not finished and not being deleted are listed: Ready ones under
  ``addresses``, the rest under ``notReadyAddresses`` (``publishNotReadyAddresses`` puts
  every one under ``addresses``). Each address has ``ip``, ``nodeName``, ``hostname`` (when
  the pod sets it with a matching subdomain) and ``targetRef`` to the pod.
- Ports: each Service port's ``targetPort`` — a number, or a name looked up in the pod's
  containers' ports (with the same protocol). Pods whose resolved ports differ land in
  different subsets, as upstream; a pod on which a named port does not exist is listed
  without that port.
- The Endpoints object carries the Service's labels; it is written only when it changes
  and removed when the Service goes or loses its selector (an Endpoints object for a
  Service without a selector is the user's and left alone).
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from gitkube.agents.controllers.common import selects
from gitkube.agents.manager import Controller, Informer, Manager, Result, key_of, split_key
from gitkube.api.client import Client
from gitkube.errors import AlreadyExists, NotFound
from gitkube.model.pods import is_pod_active, is_pod_ready

Obj = dict[str, Any]
log = logging.getLogger("gitkube.agents.endpoints")
MANAGED_BY = "endpoints.kubernetes.io/managed-by"  # upstream labels EndpointSlices this way
CONTROLLER = "endpoint-controller"


def resolve_port(service_port: Obj, pod: Obj) -> int | None:
    """The pod's port number for a Service port's targetPort (None: not on this pod)."""
    target = service_port.get("targetPort", service_port.get("port"))
    if isinstance(target, int):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    protocol = service_port.get("protocol", "TCP")
    for c in (pod.get("spec") or {}).get("containers") or []:
        for p in c.get("ports") or []:
            if p.get("name") == target and p.get("protocol", "TCP") == protocol:
                return int(p["containerPort"])
    return None


def _address(pod: Obj, service: Obj) -> Obj:
    meta, spec = pod["metadata"], pod.get("spec") or {}
    addr: Obj = {"ip": (pod.get("status") or {}).get("podIP")}
    if spec.get("nodeName"):
        addr["nodeName"] = spec["nodeName"]
    if spec.get("hostname") and spec.get("subdomain") == service["metadata"]["name"]:
        addr["hostname"] = spec["hostname"]
    # no resourceVersion (as upstream): a pod's status writes must not rewrite Endpoints
    addr["targetRef"] = {"kind": "Pod", "namespace": meta["namespace"], "name": meta["name"],
                         "uid": meta.get("uid")}
    return addr


def compute_subsets(service: Obj, pods: list[Obj]) -> list[Obj]:
    """Pure: the Endpoints subsets for a Service and the pods of its namespace."""
    spec = service.get("spec") or {}
    selector = spec.get("selector")
    if not selector:
        return []
    publish_all = bool(spec.get("publishNotReadyAddresses"))
    groups: dict[tuple[tuple[str, int, str], ...], tuple[list[Obj], list[Obj]]] = {}
    for pod in pods:
        labels = (pod.get("metadata") or {}).get("labels") or {}
        if not all(labels.get(k) == v for k, v in selector.items()):
            continue
        if not is_pod_active(pod) or not (pod.get("status") or {}).get("podIP"):
            continue
        ports = []
        for sp in spec.get("ports") or []:
            number = resolve_port(sp, pod)
            if number is not None:
                ports.append((str(sp.get("name") or ""), number, sp.get("protocol", "TCP")))
        key = tuple(sorted(ports))
        ready, not_ready = groups.setdefault(key, ([], []))
        (ready if publish_all or is_pod_ready(pod) else not_ready).append(
            _address(pod, service))
    subsets = []
    for ports_key, (ready, not_ready) in sorted(groups.items()):
        subset: Obj = {}
        if ready:
            subset["addresses"] = sorted(ready, key=lambda a: (a["ip"], a["targetRef"]["name"]))
        if not_ready:
            subset["notReadyAddresses"] = sorted(not_ready, key=lambda a: (
                a["ip"], a["targetRef"]["name"]))
        if ports_key:
            subset["ports"] = [{**({"name": n} if n else {}), "port": p, "protocol": proto}
                               for n, p, proto in ports_key]
        subsets.append(subset)
    return subsets


def endpoints_for(service: Obj, subsets: list[Obj]) -> Obj:
    meta = service["metadata"]
    labels = {**(meta.get("labels") or {}), MANAGED_BY: CONTROLLER}
    out: Obj = {"apiVersion": "v1", "kind": "Endpoints",
                "metadata": {"name": meta["name"], "namespace": meta["namespace"],
                             "labels": labels}}
    if subsets:
        out["subsets"] = subsets
    return out


class EndpointsReconciler:
    def __init__(self, client: Client, services: Informer, pods: Informer,
                 endpoints: Informer):
        self.client = client
        self.services = services
        self.pods = pods
        self.endpoints = endpoints

    def reconcile(self, key: str) -> Result:
        ns, name = split_key(key)
        service = self.services.get(key)
        current = self.endpoints.get(key)
        if service is None or not (service.get("spec") or {}).get("selector"):
            if current is not None and ((current["metadata"].get("labels") or {})
                                        .get(MANAGED_BY) == CONTROLLER):
                with contextlib.suppress(NotFound):
                    self.client.delete("v1", "Endpoints", ns, name,
                                       uid=current["metadata"].get("uid"))
            return Result()
        subsets = compute_subsets(service, self.pods.list(ns))
        desired = endpoints_for(service, subsets)
        if current is None:
            try:
                self.client.create(desired)
            except AlreadyExists:
                current = self.client.get("v1", "Endpoints", ns, name)
            else:
                return Result()
        if (current.get("subsets") or []) == subsets and \
                (current["metadata"].get("labels") or {}) == desired["metadata"]["labels"]:
            return Result()
        desired["metadata"]["resourceVersion"] = current["metadata"].get("resourceVersion")
        self.client.update(desired)
        return Result()


def controller(manager: Manager) -> Controller:
    """The Endpoints controller on ``manager``'s shared informers."""
    services = manager.informer("v1", "Service")
    pods = manager.informer("v1", "Pod")
    endpoints = manager.informer("v1", "Endpoints")
    rec = EndpointsReconciler(manager.client, services, pods, endpoints)
    ctl = Controller("endpoint-controller", rec, services)

    def services_of(pod: Obj) -> list[str]:
        ns = (pod.get("metadata") or {}).get("namespace")
        return [key_of(s) for s in services.list(ns)
                if (s.get("spec") or {}).get("selector") and
                selects({"matchLabels": s["spec"]["selector"]}, pod)]

    ctl.watches(pods, services_of)
    ctl.watches(endpoints, lambda ep: [key_of(ep)])
    return ctl
