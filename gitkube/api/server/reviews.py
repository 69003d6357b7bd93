"""The self reviews: who am I, and what may I do, answered by the server's own authorizer.

- ``authorization.k8s.io/v1`` SelfSubjectAccessReview (``kubectl auth can-i VERB RESOURCE``):
  the request's resource or non-resource attributes are put to ``Auth.authorize``, the very
  function that admits real requests, so the answer cannot disagree with what the server
  then does.
- ``authorization.k8s.io/v1`` SelfSubjectRulesReview (``kubectl auth can-i --list``): the
  rules are found by asking ``Auth.authorize`` about every served resource, subresource and
  verb in the namespace (and the non-resource paths gitkube serves), then folded into
  upstream's rule shape; everything allowed folds into the ``*`` rule. Nothing here knows
  the roles, so an RBAC authorizer plugged in as ``Auth`` gets correct reviews for free.
- ``authentication.k8s.io/v1`` SelfSubjectReview (``kubectl auth whoami``): the caller's
  user name and groups as ``Auth.authenticate`` established them.

Every authenticated caller may create the three (upstream's ``system:basic-user`` role).
They are never stored. Without an ``Auth`` (the unix socket, where the file mode is the
access control) the caller is ``LOCAL`` and everything is allowed.
"""

from __future__ import annotations

from typing import Any

from gitkube.api.server.auth import Attributes, Auth, Identity
from gitkube.api.server.bodies import MethodNotAllowed, parse_body
from gitkube.api.server.messages import Request, Response
from gitkube.errors import BadRequest, Unauthorized
from gitkube.model import kinds

Obj = dict[str, Any]

AUTHORIZATION = "authorization.k8s.io"
AUTHENTICATION = "authentication.k8s.io"
# (group, version, plural, kind)
REVIEWS: tuple[tuple[str, str, str, str], ...] = (
    (AUTHORIZATION, "v1", "selfsubjectaccessreviews", "SelfSubjectAccessReview"),
    (AUTHORIZATION, "v1", "selfsubjectrulesreviews", "SelfSubjectRulesReview"),
    (AUTHENTICATION, "v1", "selfsubjectreviews", "SelfSubjectReview"),
)
GROUP_VERSIONS: tuple[tuple[str, str], ...] = tuple(
    dict.fromkeys((g, v) for g, v, _, _ in REVIEWS))
LOCAL = Identity("gitkube:local", ("gitkube:admin", "system:authenticated"))
# The non-resource paths gitkube serves, as upstream's rules name them.
NON_RESOURCE_URLS = ("/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi",
                     "/openapi/*", "/readyz", "/version", "/version/")
_SUBRESOURCE_VERBS: dict[str, tuple[str, ...]] = {
    "status": ("get", "patch", "update"), "scale": ("get", "patch", "update"),
    "log": ("get",), "binding": ("create",), "exec": ("create", "get"),
    "attach": ("create", "get"), "portforward": ("create", "get"),
}


def review_of(path_parts: list[str]) -> tuple[str, str, str, str] | None:
    """The review a path names (``/apis/authorization.k8s.io/v1/selfsubjectaccessreviews``),
    or None."""
    if len(path_parts) == 4 and path_parts[0] == "apis":
        for review in REVIEWS:
            if tuple(path_parts[1:]) == review[:3]:
                return review
    return None


def discovery_entries(group: str, version: str) -> list[Obj]:
    """The APIResourceList entries of the reviews in one group/version."""
    return [{"name": plural, "singularName": kind.lower(), "namespaced": False, "kind": kind,
             "verbs": ["create"]}
            for g, v, plural, kind in REVIEWS if (g, v) == (group, version)]


def handle(req: Request, review: tuple[str, str, str, str], auth: Auth | None) -> Response:
    """Answer one review request (POST only): the review with its ``status`` filled in."""
    group, version, _, kind = review
    if req.method != "POST":
        raise MethodNotAllowed(f"the server does not allow this method on the requested "
                               f"resource: {req.method} {req.path}")
    body = parse_body(req.body, req.content_type)
    if not isinstance(body, dict):
        raise BadRequest(f"the body of a {kind} must be an object")
    identity = LOCAL if auth is None else auth.authenticate(req.headers)
    if identity is None:
        raise Unauthorized("Unauthorized")
    spec = body.get("spec") if isinstance(body.get("spec"), dict) else {}
    assert isinstance(spec, dict)
    if kind == "SelfSubjectAccessReview":
        status = access_status(spec, identity, auth)
    elif kind == "SelfSubjectRulesReview":
        status = rules_status(str(spec.get("namespace") or ""), identity, auth)
    else:
        status = {"userInfo": user_info(identity)}
    meta = body.get("metadata") if isinstance(body.get("metadata"), dict) else {}
    return Response.json({"kind": kind, "apiVersion": f"{group}/{version}",
                          "metadata": {**(meta or {}), "creationTimestamp": None},
                          "spec": spec, "status": status}, 201)


def user_info(identity: Identity) -> Obj:
    groups = list(identity.groups)
    if "system:authenticated" not in groups:
        groups.append("system:authenticated")
    return {"username": identity.name, "groups": groups}


def _allowed(auth: Auth | None, identity: Identity, attrs: Attributes) -> bool:
    return True if auth is None else auth.authorize(identity, attrs.verb, attrs)


def access_status(spec: Obj, identity: Identity, auth: Auth | None) -> Obj:
    """``status`` of a SelfSubjectAccessReview: the authorizer's decision on the attributes."""
    res, non = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
    if isinstance(res, dict):
        attrs = Attributes(str(res.get("verb") or ""), "", str(res.get("group") or ""),
                           str(res.get("version") or ""), str(res.get("resource") or ""),
                           str(res.get("subresource") or ""), str(res.get("namespace") or ""),
                           str(res.get("name") or ""))
    elif isinstance(non, dict):
        attrs = Attributes(str(non.get("verb") or ""), str(non.get("path") or ""))
    else:
        raise BadRequest("spec.resourceAttributes or spec.nonResourceAttributes is required")
    if _allowed(auth, identity, attrs):
        return {"allowed": True, "reason": f"gitkube: {identity.name} may {attrs.verb}"}
    return {"allowed": False}


def rules_status(namespace: str, identity: Identity, auth: Auth | None) -> Obj:
    """``status`` of a SelfSubjectRulesReview in ``namespace``: every served resource and
    subresource probed with every verb it has, folded into rules."""
    by_group: dict[tuple[str, tuple[str, ...]], list[str]] = {}
    everything = True
    for rt in kinds.RESOURCES:
        names = [(rt.plural, "", rt.verbs)]
        names += [(f"{rt.plural}/{s}", s, _SUBRESOURCE_VERBS.get(s, ("get",)))
                  for s in rt.subresources]
        for name, sub, verbs in names:
            ns = namespace if rt.namespaced else ""
            allowed = tuple(v for v in verbs if _allowed(auth, identity, Attributes(
                v, "", rt.group, rt.version, rt.plural, sub, ns)))
            everything = everything and allowed == tuple(verbs)
            if allowed:
                by_group.setdefault((rt.group, allowed), []).append(name)
    for g, _v, plural, _ in REVIEWS:  # every caller may create them
        by_group.setdefault((g, ("create",)), []).append(plural)
    readable = [p for p in NON_RESOURCE_URLS
                if _allowed(auth, identity, Attributes("get", p.rstrip("*") or "/"))]
    if everything and len(readable) == len(NON_RESOURCE_URLS):
        return {"resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
                "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
                "incomplete": False}
    rules = [{"verbs": list(verbs), "apiGroups": [group], "resources": sorted(names)}
             for (group, verbs), names in sorted(by_group.items())]
    non_rules = [{"verbs": ["get"], "nonResourceURLs": readable}] if readable else []
    return {"resourceRules": rules, "nonResourceRules": non_rules, "incomplete": False}
