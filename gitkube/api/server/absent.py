"""Kinds kubectl takes for granted that gitkube does not have: listed, always empty.

``kubectl apply --prune`` without ``--prune-allowlist`` lists every kind of its default
allowlist (ConfigMap, Endpoints, Namespace, PersistentVolumeClaim, PersistentVolume, Pod,
ReplicationController, Secret, Service, Job, CronJob, Ingress, DaemonSet, Deployment,
ReplicaSet, StatefulSet) and fails on the first its discovery lacks. gitkube has no
CronJobs, Ingresses or PersistentVolumes (``gitkube validate`` says why), so none exist:
discovery names them with the verbs ``get`` and ``list``, a list is empty, a get is 404,
and every other request is 405 with the reason. Nothing is stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gitkube.api.server.auth import Attributes
from gitkube.api.server.messages import Request, Response
from gitkube.errors import APIError, NotFound

Obj = dict[str, Any]


@dataclass(frozen=True)
class AbsentKind:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    short_name: str
    why: str


ABSENT: tuple[AbsentKind, ...] = (
    AbsentKind("batch", "v1", "cronjobs", "CronJob", True, "cj",
               "gitkube has no CronJob controller"),
    AbsentKind("networking.k8s.io", "v1", "ingresses", "Ingress", True, "ing",
               "gitkube has no ingress controller"),
    AbsentKind("", "v1", "persistentvolumes", "PersistentVolume", False, "pv",
               "gitkube provisions PersistentVolumeClaims itself, without PersistentVolumes"),
)
GROUP_VERSIONS: tuple[tuple[str, str], ...] = tuple(
    dict.fromkeys((a.group, a.version) for a in ABSENT))


@dataclass(frozen=True)
class AbsentRoute:
    kind: AbsentKind
    namespace: str
    name: str

    def attributes(self, method: str, path: str) -> Attributes:
        verb = "get" if self.name else "list"
        if method not in ("GET", "HEAD"):
            verb = method.lower()
        return Attributes(verb, path, self.kind.group, self.kind.version, self.kind.plural,
                          "", self.namespace, self.name)


def route_of(parts: list[str]) -> AbsentRoute | None:
    """The absent kind a path names (collection or object, namespaced or not), or None."""
    if parts[:1] == ["api"]:
        group, rest = "", parts[1:]
    elif parts[:1] == ["apis"] and len(parts) > 1:
        group, rest = parts[1], parts[2:]
    else:
        return None
    if not rest:
        return None
    version, rest = rest[0], rest[1:]
    namespace = ""
    if len(rest) >= 3 and rest[0] == "namespaces":
        namespace, rest = rest[1], rest[2:]
    if not rest or len(rest) > 2:
        return None
    for a in ABSENT:
        if (a.group, a.version, a.plural) == (group, version, rest[0]) and \
                (a.namespaced or not namespace):
            return AbsentRoute(a, namespace, rest[1] if len(rest) > 1 else "")
    return None


def discovery_entries(group: str, version: str) -> list[Obj]:
    return [{"name": a.plural, "singularName": a.kind.lower(), "namespaced": a.namespaced,
             "kind": a.kind, "verbs": ["get", "list"], "shortNames": [a.short_name]}
            for a in ABSENT if (a.group, a.version) == (group, version)]


class NotServed(APIError):
    code = 405
    reason = "MethodNotAllowed"


def handle(req: Request, route: AbsentRoute) -> Response:
    a = route.kind
    api_version = f"{a.group}/{a.version}" if a.group else a.version
    if req.method not in ("GET", "HEAD") or req.query.get("watch") in ("true", "True", "1"):
        raise NotServed(f"{a.kind} is valid in Kubernetes, not supported by gitkube: {a.why}; "
                        f"{a.plural} can only be listed (always empty)")
    if route.name:
        resource = f"{a.plural}.{a.group}" if a.group else a.plural
        raise NotFound(f'{resource} "{route.name}" not found', kind=a.plural, name=route.name,
                       group=a.group)
    return Response.json({"kind": f"{a.kind}List", "apiVersion": api_version,
                          "metadata": {"resourceVersion": "0"}, "items": []})
