"""Discovery documents built from the kinds table: /version, /api, /apis, resource lists.

kubectl resolves ``get deploy`` through these: short names, categories (``get all``),
verbs and the subresource entries (``deployments/scale`` is an autoscaling/v1 Scale).
"""

from __future__ import annotations

import platform
from typing import Any

from gitkube.api.server import absent, reviews
from gitkube.api.server.routes import GROUP_VERSIONS as _KIND_GROUP_VERSIONS
from gitkube.model import kinds
from gitkube.model.kinds import ResourceType

Obj = dict[str, Any]
GROUP_VERSIONS = tuple(dict.fromkeys(
    (*_KIND_GROUP_VERSIONS, *reviews.GROUP_VERSIONS, *absent.GROUP_VERSIONS)))

# The Kubernetes version whose API shape gitkube follows (kubectl warns on big skews).
KUBE_MAJOR, KUBE_MINOR = "1", "32"

_SUBRESOURCE_VERBS: dict[str, tuple[str, ...]] = {
    "status": ("get", "patch", "update"),
    "scale": ("get", "patch", "update"),
    "log": ("get",),
    "binding": ("create",),
}


def git_version(build: str) -> str:
    """``v1.32.0-gitkube.<build>``; a full version string (``v...``) is kept as given."""
    return build if build.startswith("v") else f"v{KUBE_MAJOR}.{KUBE_MINOR}.0-gitkube.{build}"


def version(build: str) -> Obj:
    """The ``/version`` document; ``build`` is gitkube's version or a full gitVersion."""
    return {
        "major": KUBE_MAJOR,
        "minor": KUBE_MINOR,
        "gitVersion": git_version(build),
        "gitCommit": "",
        "gitTreeState": "clean",
        "buildDate": "1970-01-01T00:00:00Z",
        "goVersion": "",
        "compiler": "cpython",
        "platform": f"{platform.system().lower()}/{platform.machine()}",
    }


def api_versions() -> Obj:
    return {"kind": "APIVersions", "apiVersion": "v1", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": ""}]}


def _group(name: str) -> Obj:
    versions = [{"groupVersion": f"{name}/{v}", "version": v}
                for g, v in GROUP_VERSIONS if g == name]
    return {"name": name, "versions": versions, "preferredVersion": versions[0]}


def api_group_list() -> Obj:
    names = list(dict.fromkeys(g for g, _ in GROUP_VERSIONS if g))
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [_group(n) for n in names]}


def api_group(name: str) -> Obj | None:
    if not name or all(g != name for g, _ in GROUP_VERSIONS):
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(name)}


def _entry(rt: ResourceType) -> Obj:
    out: Obj = {"name": rt.plural, "singularName": rt.singular, "namespaced": rt.namespaced,
                "kind": rt.kind, "verbs": list(rt.verbs)}
    if rt.short_names:
        out["shortNames"] = list(rt.short_names)
    if rt.categories:
        out["categories"] = list(rt.categories)
    return out


def subresource_verbs(sub: str) -> tuple[str, ...]:
    """The verbs discovery lists for subresource ``sub``."""
    return _SUBRESOURCE_VERBS.get(sub, ("get",))


def _sub_entry(rt: ResourceType, sub: str) -> Obj:
    out: Obj = {"name": f"{rt.plural}/{sub}", "singularName": "", "namespaced": rt.namespaced,
                "kind": rt.kind, "verbs": list(subresource_verbs(sub))}
    if sub == "scale":
        out.update(group="autoscaling", version="v1", kind="Scale")
    elif sub == "log":
        out["kind"] = "Pod"
    elif sub == "binding":
        out["kind"] = "Binding"
    return out


def resource_list(group: str, version: str) -> Obj | None:
    """The APIResourceList of one group/version, or None when gitkube serves none there."""
    rts = [r for r in kinds.RESOURCES if r.group == group and r.version == version]
    others = [*reviews.discovery_entries(group, version),
              *absent.discovery_entries(group, version)]
    if not rts and not others:
        return None
    resources: list[Obj] = []
    for rt in rts:
        resources.append(_entry(rt))
        resources.extend(_sub_entry(rt, s) for s in rt.subresources)
    resources += others
    return {"kind": "APIResourceList", "apiVersion": "v1",
            "groupVersion": f"{group}/{version}" if group else version,
            "resources": resources}
