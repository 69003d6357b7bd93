"""EndpointSlice controller: for every Service with a selector, ``discovery.k8s.io/v1``
EndpointSlices listing the pods it selects, beside the Endpoints object (endpoints.py).

- One slice per set of resolved ports (pods whose named ports resolve alike share one), at
  most ``MAX_ENDPOINTS`` endpoints each (upstream's default), ``addressType: IPv4``. A
  Service that selects nothing keeps one slice with no endpoints, as upstream.
- Each endpoint: ``addresses: [podIP]``, ``conditions`` as upstream computes them
  (``ready``: the pod is Ready and not terminating, or the Service publishes not-ready
  addresses; ``serving``: the pod is Ready; ``terminating``: it has a deletionTimestamp),
  ``nodeName``, ``hostname`` (when the pod sets it with the Service as subdomain),
  ``targetRef`` to the pod. Terminating pods stay listed (ready false) until they go.
- Labels: the Service's, plus ``kubernetes.io/service-name`` and
  ``endpointslice.kubernetes.io/managed-by: endpointslice-controller.k8s.io``; a controller
  ownerReference to the Service (the garbage collector removes them with it).
- Names are ``<service>-<hash of the port set>`` (upstream uses generateName): a reconcile on
  a stale cache cannot create a second slice for the same ports. Slices are written only
  when they change; the ones no longer wanted (and all, when the Service loses its
  selector) are deleted. Slices without the managed-by label are the user's.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from gitkube.agents.controllers.common import fnv32a, owner_ref, safe_encode, selects
from gitkube.agents.controllers.endpoints import resolve_port
from gitkube.agents.manager import Controller, Informer, Manager, Result, key_of, split_key
from gitkube.api.client import Client
from gitkube.errors import AlreadyExists, NotFound
from gitkube.model.pods import is_pod_ready, is_terminating, pod_phase

Obj = dict[str, Any]
log = logging.getLogger("gitkube.agents.endpointslice")
API_VERSION = "discovery.k8s.io/v1"
SERVICE_NAME = "kubernetes.io/service-name"
MANAGED_BY = "endpointslice.kubernetes.io/managed-by"
CONTROLLER = "endpointslice-controller.k8s.io"
MAX_ENDPOINTS = 100

PortKey = tuple[tuple[str, int, str], ...]


def endpoint_of(pod: Obj, service: Obj) -> Obj:
    """One pod as an EndpointSlice endpoint of ``service`` (upstream's podToEndpoint)."""
    meta, spec = pod["metadata"], pod.get("spec") or {}
    terminating = is_terminating(pod)
    ready = is_pod_ready(pod)
    publish = bool((service.get("spec") or {}).get("publishNotReadyAddresses"))
    out: Obj = {"addresses": [(pod.get("status") or {}).get("podIP")],
                "conditions": {"ready": publish or (ready and not terminating),
                               "serving": ready, "terminating": terminating}}
    if spec.get("hostname") and spec.get("subdomain") == service["metadata"]["name"]:
        out["hostname"] = spec["hostname"]
    if spec.get("nodeName"):
        out["nodeName"] = spec["nodeName"]
    out["targetRef"] = {"kind": "Pod", "namespace": meta["namespace"], "name": meta["name"],
                        "uid": meta.get("uid")}
    return out


def _listed(pod: Obj) -> bool:
    """Upstream's ShouldPodBeInEndpoints with terminating pods included."""
    return bool((pod.get("status") or {}).get("podIP")) and \
        pod_phase(pod) not in ("Succeeded", "Failed")


def slice_name(service_name: str, ports: PortKey, index: int) -> str:
    digest = safe_encode(str(fnv32a(repr(ports).encode())))[:8]
    return f"{service_name}-{digest}" + (f"-{index}" if index else "")


def desired_slices(service: Obj, pods: list[Obj]) -> list[Obj]:
    """Pure: the EndpointSlices a Service with a selector should have for the pods of its
    namespace (empty when it has no selector)."""
    spec, meta = service.get("spec") or {}, service["metadata"]
    selector = spec.get("selector")
    if not selector:
        return []
    groups: dict[PortKey, list[Obj]] = {}
    for pod in pods:
        if not selects({"matchLabels": selector}, pod) or not _listed(pod):
            continue
        ports = []
        for sp in spec.get("ports") or []:
            number = resolve_port(sp, pod)
            if number is not None:
                ports.append((str(sp.get("name") or ""), number, str(sp.get("protocol", "TCP"))))
        groups.setdefault(tuple(sorted(ports)), []).append(endpoint_of(pod, service))
    if not groups:
        groups[()] = []
    labels = {**(meta.get("labels") or {}), SERVICE_NAME: meta["name"], MANAGED_BY: CONTROLLER}
    out = []
    for ports_key, endpoints in sorted(groups.items()):
        endpoints.sort(key=lambda e: (str(e["addresses"][0]), e["targetRef"]["name"]))
        chunks = [endpoints[i:i + MAX_ENDPOINTS]
                  for i in range(0, len(endpoints), MAX_ENDPOINTS)] or [[]]
        for index, chunk in enumerate(chunks):
            es: Obj = {"apiVersion": API_VERSION, "kind": "EndpointSlice",
                       "metadata": {"name": slice_name(meta["name"], ports_key, index),
                                    "namespace": meta["namespace"], "labels": dict(labels),
                                    "ownerReferences": [owner_ref(service)]},
                       "addressType": "IPv4", "endpoints": chunk,
                       "ports": [{"name": n, "port": p, "protocol": proto}
                                 for n, p, proto in ports_key]}
            out.append(es)
    return out


def _same(current: Obj, desired: Obj) -> bool:
    return all(current.get(f) == desired.get(f) for f in ("addressType", "endpoints", "ports")) \
        and (current["metadata"].get("labels") or {}) == desired["metadata"]["labels"]


class EndpointSliceReconciler:
    def __init__(self, client: Client, services: Informer, pods: Informer, slices: Informer):
        self.client = client
        self.services = services
        self.pods = pods
        self.slices = slices

    def _managed(self, ns: str | None, name: str) -> list[Obj]:
        return [s for s in self.slices.list(ns)
                if (s["metadata"].get("labels") or {}).get(SERVICE_NAME) == name and
                (s["metadata"].get("labels") or {}).get(MANAGED_BY) == CONTROLLER]

    def reconcile(self, key: str) -> Result:
        ns, name = split_key(key)
        service = self.services.get(key)
        desired = desired_slices(service, self.pods.list(ns)) if service is not None else []
        current = {s["metadata"]["name"]: s for s in self._managed(ns, name)}
        for want in desired:
            have = current.pop(want["metadata"]["name"], None)
            if have is None:
                try:
                    self.client.create(want)
                    continue
                except AlreadyExists:
                    have = self.client.get(API_VERSION, "EndpointSlice", ns,
                                           want["metadata"]["name"])
            if not _same(have, want):
                want["metadata"]["resourceVersion"] = have["metadata"].get("resourceVersion")
                self.client.update(want)
        for gone in current.values():
            with contextlib.suppress(NotFound):
                self.client.delete(API_VERSION, "EndpointSlice", ns, gone["metadata"]["name"],
                                   uid=gone["metadata"].get("uid"))
        return Result()


def controller(manager: Manager) -> Controller:
    """The EndpointSlice controller on ``manager``'s shared informers."""
    services = manager.informer("v1", "Service")
    pods = manager.informer("v1", "Pod")
    slices = manager.informer(API_VERSION, "EndpointSlice")
    rec = EndpointSliceReconciler(manager.client, services, pods, slices)
    ctl = Controller("endpointslice-controller", rec, services)

    def services_of(pod: Obj) -> list[str]:
        ns = (pod.get("metadata") or {}).get("namespace")
        return [key_of(s) for s in services.list(ns)
                if (s.get("spec") or {}).get("selector") and
                selects({"matchLabels": s["spec"]["selector"]}, pod)]

    def service_of(es: Obj) -> list[str]:
        name = (es["metadata"].get("labels") or {}).get(SERVICE_NAME)
        return [f"{es['metadata']['namespace']}/{name}"] if name else []

    ctl.watches(pods, services_of)
    ctl.watches(slices, service_of)
    return ctl
