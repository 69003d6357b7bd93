"""The kinds gitkube knows: API group/version, REST resource names, scope and short names.

One table serves the schema validator (which kinds have schemas), the store (key layout),
plan (apply order), the CLI (``get deploy``) and the HTTP API (discovery documents).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ResourceType:
    group: str  # "" for the core group
    version: str
    kind: str
    plural: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    # Kinds a user writes in git; others (Node, Endpoints, Event) are made by agents,
    # though a manifest may still contain them.
    has_schema: bool = True
    verbs: tuple[str, ...] = field(
        default=("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
    )

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self) -> str:
        return self.kind.lower()

    def key(self, namespace: str | None, name: str) -> str:
        """The store key of one object: ``/registry/<plural>/[<namespace>/]<name>``."""
        if self.namespaced:
            return f"/registry/{self.plural}/{namespace}/{name}"
        return f"/registry/{self.plural}/{name}"

    def prefix(self, namespace: str | None = None) -> str:
        """The store prefix of a list: every namespace when ``namespace`` is None."""
        if self.namespaced and namespace:
            return f"/registry/{self.plural}/{namespace}/"
        return f"/registry/{self.plural}/"


_ALL = "all"

RESOURCES: tuple[ResourceType, ...] = (
    ResourceType("", "v1", "Namespace", "namespaces", False, ("ns",), subresources=("status",)),
    ResourceType("", "v1", "Node", "nodes", False, ("no",), subresources=("status",)),
    ResourceType("", "v1", "Pod", "pods", True, ("po",), (_ALL,),
                 subresources=("status", "log", "binding", "exec", "attach", "portforward",
                               "eviction", "ephemeralcontainers")),
    ResourceType("", "v1", "Service", "services", True, ("svc",), (_ALL,),
                 subresources=("status",)),
    ResourceType("", "v1", "ConfigMap", "configmaps", True, ("cm",)),
    ResourceType("", "v1", "Secret", "secrets", True),
    ResourceType("", "v1", "ServiceAccount", "serviceaccounts", True, ("sa",)),
    ResourceType("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", True, ("pvc",),
                 subresources=("status",)),
    ResourceType("", "v1", "Endpoints", "endpoints", True, ("ep",)),
    ResourceType("", "v1", "Event", "events", True, ("ev",)),
    ResourceType("apps", "v1", "Deployment", "deployments", True, ("deploy",), (_ALL,),
                 subresources=("status", "scale")),
    ResourceType("apps", "v1", "ReplicaSet", "replicasets", True, ("rs",), (_ALL,),
                 subresources=("status", "scale")),
    ResourceType("apps", "v1", "DaemonSet", "daemonsets", True, ("ds",), (_ALL,),
                 subresources=("status",)),
    ResourceType("apps", "v1", "StatefulSet", "statefulsets", True, ("sts",), (_ALL,),
                 subresources=("status", "scale")),
    ResourceType("batch", "v1", "Job", "jobs", True, (), (_ALL,), subresources=("status",)),
    ResourceType("batch", "v1", "CronJob", "cronjobs", True, ("cj",), (_ALL,),
                 subresources=("status",)),
    ResourceType("scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses", False,
                 ("pc",)),
    ResourceType("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", True,
                 ("pdb",), subresources=("status",)),
    ResourceType("", "v1", "ResourceQuota", "resourcequotas", True, ("quota",),
                 subresources=("status",)),
    ResourceType("", "v1", "LimitRange", "limitranges", True, ("limits",)),
    ResourceType("networking.k8s.io", "v1", "Ingress", "ingresses", True, ("ing",),
                 subresources=("status",)),
    ResourceType("networking.k8s.io", "v1", "IngressClass", "ingressclasses", False),
    ResourceType("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", True),
    ResourceType("", "v1", "ReplicationController", "replicationcontrollers", True, ("rc",),
                 (_ALL,), subresources=("status", "scale")),
    ResourceType("apps", "v1", "ControllerRevision", "controllerrevisions", True),
    ResourceType("coordination.k8s.io", "v1", "Lease", "leases", True),
)

_BY_GVK: dict[tuple[str, str], ResourceType] = {(r.api_version, r.kind): r for r in RESOURCES}
_BY_KIND: dict[str, ResourceType] = {r.kind: r for r in RESOURCES}
_BY_NAME: dict[str, ResourceType] = {}
for _r in RESOURCES:
    for _n in (_r.plural, _r.singular, _r.kind.lower(), *_r.short_names):
        _BY_NAME[_n] = _r
    if _r.group:
        _BY_NAME[f"{_r.plural}.{_r.group}"] = _r


def lookup(api_version: str, kind: str) -> ResourceType | None:
    """The ResourceType for an object's apiVersion and kind, or None if gitkube lacks it."""
    return _BY_GVK.get((api_version, kind))


def by_kind(kind: str) -> ResourceType | None:
    return _BY_KIND.get(kind)


def by_name(name: str) -> ResourceType | None:
    """Resolve what a user types: ``deploy``, ``deployments``, ``Deployment``, ``pod``..."""
    return _BY_NAME.get(name) or _BY_NAME.get(name.lower())


def for_object(obj: dict[str, Any]) -> ResourceType | None:
    return lookup(str(obj.get("apiVersion", "")), str(obj.get("kind", "")))
