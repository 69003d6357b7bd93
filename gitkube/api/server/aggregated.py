"""Aggregated discovery: ``/api`` and ``/apis`` as one ``APIGroupDiscoveryList`` each, when the
client asks for it (``Accept: application/json;g=apidiscovery.k8s.io;v=v2;
as=APIGroupDiscoveryList``; ``v2beta1`` too). kubectl then learns every resource in two
requests instead of one more per group-version.

The documents are built from the same kinds table as the per-group-version resource lists
(gitkube/api/server/discovery.py), so both paths describe the same resources. The answer's
Content-Type names the format (client-go reads it to tell the aggregated answer from an
``APIVersions``/``APIGroupList``) and carries an ETag. The setting ``aggregated_discovery``
(``GITKUBE_AGGREGATED_DISCOVERY=0``) turns it off: the old path, for comparison
(benchmarks/bench_discovery.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from functools import cache
from typing import Any

from gitkube.api.server import absent, reviews
from gitkube.api.server.bodies import encode_json
from gitkube.api.server.discovery import GROUP_VERSIONS, subresource_verbs
from gitkube.api.server.messages import Response
from gitkube.model import kinds
from gitkube.model.kinds import ResourceType

Obj = dict[str, Any]
GROUP = "apidiscovery.k8s.io"
VERSIONS = ("v2", "v2beta1")
_SUB_KINDS = {"scale": ("autoscaling", "v1", "Scale"), "binding": ("", "v1", "Binding"),
              "exec": ("", "v1", "PodExecOptions"), "attach": ("", "v1", "PodAttachOptions"),
              "portforward": ("", "v1", "PodPortForwardOptions")}


def wanted(accept: str | None) -> str | None:
    """The aggregated discovery version the Accept header asks for first ("v2" or
    "v2beta1"), or None when it prefers something else."""
    for part in (accept or "").split(","):
        media, *params = [p.strip() for p in part.split(";")]
        values = dict(p.split("=", 1) for p in params if "=" in p)
        if media != "application/json" and media != "*/*":
            continue
        if values.get("g") == GROUP and values.get("as") == "APIGroupDiscoveryList" and \
                values.get("v") in VERSIONS:
            return values["v"]
        if not values:  # plain JSON preferred over any aggregated form listed later
            return None
    return None


def _kind(group: str, version: str, kind: str) -> Obj:
    return {"group": group, "version": version, "kind": kind}


def _resource(rt: ResourceType) -> Obj:
    out: Obj = {"resource": rt.plural,
                "responseKind": _kind(rt.group, rt.version, rt.kind),
                "scope": "Namespaced" if rt.namespaced else "Cluster",
                "singularResource": rt.singular, "verbs": list(rt.verbs)}
    if rt.short_names:
        out["shortNames"] = list(rt.short_names)
    if rt.categories:
        out["categories"] = list(rt.categories)
    subs = [{"subresource": sub,
             "responseKind": _kind(*_SUB_KINDS.get(sub, (rt.group, rt.version, rt.kind))),
             "verbs": list(subresource_verbs(sub))} for sub in rt.subresources]
    if subs:
        out["subresources"] = subs
    return out


def _from_entry(group: str, version: str, entry: Obj) -> Obj:
    """A resource that is not in the kinds table (the self reviews, the list-only kinds),
    from its per-group-version discovery entry."""
    out: Obj = {"resource": entry["name"],
                "responseKind": _kind(group, version, entry["kind"]),
                "scope": "Namespaced" if entry["namespaced"] else "Cluster",
                "singularResource": entry.get("singularName", ""),
                "verbs": list(entry["verbs"])}
    if entry.get("shortNames"):
        out["shortNames"] = list(entry["shortNames"])
    return out


def _resources(group: str, version: str) -> list[Obj]:
    others = [*reviews.discovery_entries(group, version),
              *absent.discovery_entries(group, version)]
    return [*(_resource(r) for r in kinds.RESOURCES if (r.group, r.version) == (group, version)),
            *(_from_entry(group, version, e) for e in others)]


def _group(name: str) -> Obj:
    versions = [{"version": v, "resources": _resources(g, v),
                 "freshness": "Current"}
                for g, v in GROUP_VERSIONS if g == name]
    return {"metadata": {"name": name, "creationTimestamp": None}, "versions": versions}


@cache
def _encoded(core: bool, version: str) -> tuple[bytes, str]:
    names = [""] if core else list(dict.fromkeys(g for g, _ in GROUP_VERSIONS if g))
    doc = {"kind": "APIGroupDiscoveryList", "apiVersion": f"{GROUP}/{version}",
           "metadata": {}, "items": [_group(n) for n in names]}
    body = encode_json(doc)
    return body, hashlib.sha512(body).hexdigest()[:64]


def answer(core: bool, headers: Mapping[str, str]) -> Response | None:
    """The aggregated document of ``/api`` (``core``) or ``/apis`` when asked for; None for
    the plain APIVersions/APIGroupList answer."""
    version = wanted(headers.get("accept"))
    if version is None:
        return None
    body, etag = _encoded(core, version)
    content_type = f"application/json;g={GROUP};v={version};as=APIGroupDiscoveryList"
    extra = (("ETag", f'"{etag}"'), ("Vary", "Accept"))
    if headers.get("if-none-match", "").strip() == f'"{etag}"':
        return Response(304, b"", content_type, extra)
    return Response(200, body, content_type, extra)
