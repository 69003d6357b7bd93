"""The resource verbs: a routed request turned into Client calls and a response.

Pure of HTTP: takes a ``Request`` and a ``Route``, returns a ``Response`` or a ``Stream``,
raises ``APIError`` (the transport turns it into a Status).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any, cast

from gitkube.api.client import Client, PatchType, PropagationPolicy
from gitkube.api.codec import copy_json
from gitkube.api.server import bodies, dryrun, liststream
from gitkube.api.server.bodies import (
    PATCH_TYPES,
    MethodNotAllowed,
    RequestEntityTooLarge,
    UnsupportedMediaType,
    flag,
    int_param,
    media_type,
    parse_body,
)
from gitkube.api.server.liststream import ItemLister
from gitkube.api.server.logs import LogsProvider, limited, log_options
from gitkube.api.server.messages import Answer, Request, Response, Stream
from gitkube.api.server.nodestreams import NoStreams, StreamsProvider
from gitkube.api.server.routes import Route
from gitkube.api.server.streaming import SUBRESOURCES as STREAM_SUBRESOURCES
from gitkube.api.server.streaming import Streaming
from gitkube.api.server.tables import as_table, table_parts, wants_table
from gitkube.api.server.watchstream import WatchQuery, WatchStream
from gitkube.api.subresources import patch_invalid
from gitkube.errors import BadRequest, Invalid, NotFound
from gitkube.model.kinds import ResourceType
from gitkube.model.patch import (
    MAX_OPERATIONS,
    PatchError,
    json_patch,
    merge_patch,
    strategic_merge_patch,
)

Obj = dict[str, Any]
_POLICIES = ("Orphan", "Background", "Foreground")
# The one kind a subresource's body may be (upstream decodes it into exactly this type).
_SUBRESOURCE_KINDS = {"Scale": "autoscaling/v1", "Binding": "v1"}


def _check_subresource_kind(body: Obj, kind: str) -> None:
    """A subresource body is its own kind (a Scale, a Binding), defaulted when left out;
    anything else — a Deployment PUT to ``/scale`` — is a 400, as upstream answers."""
    api_version = _SUBRESOURCE_KINDS[kind]
    body.setdefault("apiVersion", api_version)
    body.setdefault("kind", kind)
    got_version, got_kind = body.get("apiVersion"), body.get("kind")
    if (got_version, got_kind) != (api_version, kind):
        version = str(got_version).rsplit("/", 1)[-1]
        raise BadRequest(f'{got_kind} in version "{version}" cannot be handled as a {kind}: '
                         f"the body must be a {api_version} {kind}")


def verb_of(method: str, route: Route, query: Any) -> str:
    """The Kubernetes verb (RBAC's) of a resource request. exec, attach and portforward are
    ``create`` whichever the method (a WebSocket upgrade is a GET), as upstream checks them:
    a read-only identity may not run commands in a pod."""
    if route.subresource in STREAM_SUBRESOURCES:
        return "create"
    if method in ("GET", "HEAD"):
        if route.legacy_watch or flag(query, "watch"):
            return "watch"
        return "list" if route.collection else "get"
    if method == "POST":
        return "create"
    if method == "PUT":
        return "update"
    if method == "PATCH":
        return "patch"
    if method == "DELETE":
        return "deletecollection" if route.collection else "delete"
    return method.lower()


def _dry(req: Request) -> bool:
    """``dryRun=All`` on this request (any other value is a BadRequest)."""
    value = req.query.get("dryRun")
    if value:
        dryrun.check_mode(value)
    return bool(value)


class Resources:
    """Serves ``/api/v1/...`` and ``/apis/G/V/...`` resource requests over a Client."""

    def __init__(self, client: Client, logs: LogsProvider, stopping: threading.Event,
                 streams: StreamsProvider | None = None):
        self.client = client
        self.logs = logs
        self.stopping = stopping
        self.streaming = Streaming(client, streams if streams is not None else NoStreams())

    def handle(self, req: Request, route: Route) -> Answer:
        method = req.method
        if route.subresource in STREAM_SUBRESOURCES:
            return self.streaming.handle(req, route)
        if method in ("GET", "HEAD"):
            return self._get(req, route)
        _dry(req)
        if route.legacy_watch:
            raise MethodNotAllowed("watch paths accept GET only")
        if method == "POST":
            return self._post(req, route)
        if method == "PUT":
            return self._put(req, route)
        if method == "PATCH":
            return self._patch(req, route)
        if method == "DELETE":
            return self._delete(req, route)
        raise MethodNotAllowed(f"the server does not allow this method on the requested "
                               f"resource: {method}")

    # --- reads ----------------------------------------------------------------------------

    def _ns(self, route: Route) -> str | None:
        return route.namespace or None

    def _get(self, req: Request, route: Route) -> Answer:
        rt, q = route.rt, req.query
        if route.collection:
            if route.legacy_watch or flag(q, "watch"):
                return self._watch(req, route)
            return self._list(req, route)
        if route.legacy_watch or flag(q, "watch"):
            # a watch on one object: the collection filtered by name, as the API server does
            name_sel = f"metadata.name={route.name}"
            extra = q.get("fieldSelector")
            query = {**q, "fieldSelector": f"{name_sel},{extra}" if extra else name_sel}
            return self._watch(Request(req.method, req.path, query, req.headers), route)
        sub = route.subresource
        if sub == "scale":
            return Response.json(self.client.get_scale(rt.api_version, rt.kind,
                                                       route.namespace, route.name))
        if sub == "log":
            return self._log(req, route)
        if sub == "binding":
            raise MethodNotAllowed("pods/binding accepts POST only")
        obj = self.client.get(rt.api_version, rt.kind, route.namespace, route.name)
        if wants_table(req.headers.get("accept")):
            return Response.json(as_table(rt, [obj], obj["metadata"].get("resourceVersion",
                                                                          "")))
        return Response.json(obj)

    def _list(self, req: Request, route: Route) -> Answer:
        """A list, encoded and sent a batch at a time (gitkube/api/server/liststream.py);
        from a client with ``iter_list`` (LocalClient) the objects are also read one at a
        time, so a large list never sits whole in memory."""
        rt, q = route.rt, req.query
        labels = q.get("labelSelector") or None
        fields = q.get("fieldSelector") or None
        items: Iterable[Obj]
        if isinstance(self.client, ItemLister):
            rv, items = self.client.iter_list(rt.api_version, rt.kind, self._ns(route),
                                              label_selector=labels, field_selector=fields)
        else:
            listed = self.client.list(rt.api_version, rt.kind, self._ns(route),
                                      label_selector=labels, field_selector=fields)
            rv, items = listed.resource_version, listed.items
        if wants_table(req.headers.get("accept")):
            head, row = table_parts(rt, rv, wide=q.get("includeObject") == "Object")
            chunks = liststream.pieces(head, "rows", items, row)
        else:
            head = {"kind": f"{rt.kind}List", "apiVersion": rt.api_version,
                    "metadata": {"resourceVersion": rv}}
            chunks = liststream.pieces(head, "items", items)
        return liststream.answer(chunks, head_only=req.method == "HEAD")

    def _watch(self, req: Request, route: Route) -> Answer:
        rt, q = route.rt, req.query
        send_initial = flag(q, "sendInitialEvents")
        bookmarks = flag(q, "allowWatchBookmarks")
        if send_initial and not bookmarks:
            raise Invalid("sendInitialEvents requires allowWatchBookmarks=true",
                          causes=[{"reason": "FieldValueForbidden",
                                   "field": "allowWatchBookmarks",
                                   "message": "sendInitialEvents requires bookmarks"}])
        query = WatchQuery(
            resource_version=q.get("resourceVersion") or None,
            label_selector=q.get("labelSelector") or None,
            field_selector=q.get("fieldSelector") or None,
            timeout_seconds=int_param(q, "timeoutSeconds"),
            send_initial_events=send_initial, bookmarks=bookmarks)
        stream = WatchStream(self.client, rt, self._ns(route), query, stopping=self.stopping,
                             render=self._table_renderer(req, rt))
        return Stream(iter(stream), close=stream.close)

    @staticmethod
    def _table_renderer(req: Request, rt: ResourceType) -> Callable[[Obj], Obj] | None:
        """For ``kubectl get -w``: each watched object as a one-row Table."""
        if not wants_table(req.headers.get("accept")):
            return None
        return lambda obj: as_table(rt, [obj], str((obj.get("metadata") or {}).get(
            "resourceVersion") or ""))

    def _log(self, req: Request, route: Route) -> Answer:
        q = req.query
        pod = self.client.get("v1", "Pod", route.namespace, route.name)
        options = log_options(pod, q)
        lines = self.logs(pod, options)
        chunks: Iterator[bytes | None] = limited(lines, options.limit_bytes)
        if not options.follow:
            return Response(200, b"".join(c for c in chunks if c), "text/plain")
        close = getattr(lines, "close", None)
        return Stream(chunks, "text/plain", close=close if callable(close) else lambda: None)

    # --- writes ---------------------------------------------------------------------------

    def _object_body(self, req: Request, route: Route, kind: str | None = None) -> Obj:
        body = parse_body(req.body, req.content_type)
        if not isinstance(body, dict):
            raise BadRequest(f"the request body must be a JSON object, not "
                             f"{type(body).__name__}")
        rt = route.rt
        if kind is None:
            body.setdefault("apiVersion", rt.api_version)
            body.setdefault("kind", rt.kind)
            if (body.get("apiVersion"), body.get("kind")) != (rt.api_version, rt.kind):
                raise BadRequest(f"the body is a {body.get('apiVersion')}/{body.get('kind')}, "
                                 f"but the path is for {rt.api_version}/{rt.kind}")
        else:
            _check_subresource_kind(body, kind)
        meta = body.get("metadata")
        if meta is None:
            meta = body["metadata"] = {}
        if not isinstance(meta, dict):
            raise BadRequest("metadata must be an object")
        if rt.namespaced and route.namespace:
            ns = meta.get("namespace")
            if ns and ns != route.namespace:
                raise BadRequest("the namespace of the provided object does not match the "
                                 "namespace sent on the request")
            meta["namespace"] = route.namespace
        if route.name:
            if meta.get("name") and meta["name"] != route.name:
                raise BadRequest(f"the name of the object ({meta['name']}) does not match "
                                 f"the name on the URL ({route.name})")
            meta["name"] = route.name
        return body

    def _post(self, req: Request, route: Route) -> Answer:
        rt = route.rt
        if route.subresource == "binding":
            body = self._object_body(req, route, kind="Binding")
            target = body.get("target") or {}
            if not isinstance(target, dict) or not target.get("name"):
                raise BadRequest("a Binding needs target.name (the node)")
            uid = body["metadata"].get("uid")
            if _dry(req):
                raise BadRequest("dryRun of a binding is not supported")
            self.client.bind(route.namespace, route.name, str(target["name"]),
                             uid=str(uid) if uid else None)
            return Response.json({"kind": "Status", "apiVersion": "v1", "metadata": {},
                                  "status": "Success", "code": 201}, 201)
        if not route.collection:
            raise MethodNotAllowed(f"POST is not allowed on a single {rt.kind}; POST to its "
                                   "collection to create it")
        if rt.namespaced and not route.namespace:
            raise MethodNotAllowed(f"POST to {rt.plural} needs a namespace in the path "
                                   f"(/namespaces/NS/{rt.plural})")
        body = self._object_body(req, route)
        if _dry(req):
            return Response.json(dryrun.create(self.client, rt, body), 201)
        return Response.json(self.client.create(body), 201)

    def _put(self, req: Request, route: Route) -> Answer:
        rt = route.rt
        if route.collection:
            raise MethodNotAllowed("PUT needs an object name in the path")
        sub = route.subresource
        if sub == "scale":
            body = self._object_body(req, route, kind="Scale")
            replicas = (body.get("spec") or {}).get("replicas")
            if not isinstance(replicas, int) or isinstance(replicas, bool):
                raise Invalid(f'Scale.autoscaling "{route.name}" is invalid: spec.replicas: '
                              "Required value", kind="Scale", name=route.name,
                              group="autoscaling",
                              causes=[{"reason": "FieldValueRequired", "field": "spec.replicas",
                                       "message": "Required value"}])
            rv = body["metadata"].get("resourceVersion") or None
            if _dry(req):
                return Response.json(dryrun.scale(self.client, rt, route.namespace,
                                                  route.name, replicas, rv))
            return Response.json(self.client.update_scale(
                rt.api_version, rt.kind, route.namespace, route.name, replicas,
                resource_version=rv))
        if sub in ("log", "binding"):
            raise MethodNotAllowed(f"PUT is not allowed on {rt.plural}/{sub}")
        body = self._object_body(req, route)
        if _dry(req):
            return Response.json(dryrun.update(self.client, rt, route.namespace, route.name,
                                               body, status=sub == "status"))
        if sub == "status":
            return Response.json(self.client.update_status(body))
        return Response.json(self.client.update(body))

    def _patch(self, req: Request, route: Route) -> Answer:
        rt = route.rt
        if route.collection or route.subresource in ("log", "binding"):
            raise MethodNotAllowed("PATCH needs an object (or its status or scale) in the "
                                   "path")
        kind = media_type(req.content_type)
        patch_type = PATCH_TYPES.get(kind)
        if patch_type is None:
            raise UnsupportedMediaType(
                f'the body of the request was in an unknown format - accepted media types '
                f'include: {", ".join(PATCH_TYPES)} (got "{kind or "none"}")')
        body = parse_body(req.body, req.content_type)
        if patch_type == "json" and isinstance(body, list) and len(body) > MAX_OPERATIONS:
            raise RequestEntityTooLarge(f"The allowed maximum operations in a JSON patch is "
                                        f"{MAX_OPERATIONS}, got {len(body)}")
        if patch_type == "apply":
            return Response.json(self._apply(req, route, body))
        if route.subresource == "scale":
            return Response.json(self._patch_scale(route, body, patch_type, _dry(req)))
        if _dry(req):
            return Response.json(dryrun.patch(self.client, rt, route.namespace, route.name,
                                              body, patch_type,
                                              status=route.subresource == "status"))
        return Response.json(self.client.patch(
            rt.api_version, rt.kind, route.namespace, route.name, body,
            cast(PatchType, patch_type),
            subresource="status" if route.subresource == "status" else None))

    def _patch_scale(self, route: Route, patch: Any, patch_type: str, dry: bool) -> Obj:
        rt = route.rt
        current = self.client.get_scale(rt.api_version, rt.kind, route.namespace, route.name)
        try:
            if patch_type == "merge":
                patched = merge_patch(current, patch)
            elif patch_type == "json":
                patched = json_patch(current, patch)
            else:
                patched = strategic_merge_patch(current, patch)
        except PatchError as e:
            if e.invalid:
                raise patch_invalid(rt, route.name, e, "the scale of ") from e
            raise BadRequest(f"invalid {patch_type} patch of the scale: {e}") from e
        spec = patched.get("spec") if isinstance(patched, dict) else None
        replicas = spec.get("replicas") if isinstance(spec, dict) else None
        if not isinstance(replicas, int) or isinstance(replicas, bool):
            raise BadRequest("the patched Scale has no integer spec.replicas")
        rv = (patched.get("metadata") or {}).get("resourceVersion")
        if dry:
            return dryrun.scale(self.client, rt, route.namespace, route.name, replicas,
                                rv if rv != current["metadata"].get("resourceVersion") else None)
        return self.client.update_scale(
            rt.api_version, rt.kind, route.namespace, route.name, replicas,
            resource_version=rv if rv != current["metadata"].get("resourceVersion") else None)

    def _apply(self, req: Request, route: Route, body: Any) -> Obj:
        """A simplified server-side apply (see docs/HTTP_API.md): create when missing, else a
        strategic merge of the applied configuration (fields it leaves out are kept)."""
        if not req.query.get("fieldManager"):
            raise Invalid("PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required "
                          "value: is required for apply patch",
                          causes=[{"reason": "FieldValueRequired", "field": "fieldManager",
                                   "message": "Required value: is required for apply patch"}])
        if route.subresource:
            raise UnsupportedMediaType(f"apply patches of {route.subresource} are not "
                                       "supported by gitkube")
        rt = route.rt
        applied = self._object_body(
            Request(req.method, req.path, req.query,
                    {**req.headers, "content-type": bodies.JSON}, bodies.encode_json(body)),
            route)
        dry = _dry(req)
        try:
            self.client.get(rt.api_version, rt.kind, route.namespace, route.name)
        except NotFound:
            return dryrun.create(self.client, rt, applied) if dry else self.client.create(
                applied)
        patch = copy_json(applied)
        patch["metadata"].pop("resourceVersion", None)
        if dry:
            return dryrun.patch(self.client, rt, route.namespace, route.name, patch,
                                "strategic")
        return self.client.patch(rt.api_version, rt.kind, route.namespace, route.name, patch,
                                 "strategic")

    def _delete(self, req: Request, route: Route) -> Answer:
        rt = route.rt
        options = self._delete_options(req)
        policy = cast(PropagationPolicy | None, options.get("propagationPolicy"))
        dry = bool(options.get("dryRun")) or _dry(req)
        if route.collection:
            q = req.query
            if dry:
                listed = self.client.list(rt.api_version, rt.kind, self._ns(route),
                                          label_selector=q.get("labelSelector") or None,
                                          field_selector=q.get("fieldSelector") or None)
                return Response.json(listed.to_dict())
            deleted = self.client.delete_collection(
                rt.api_version, rt.kind, self._ns(route),
                label_selector=q.get("labelSelector") or None,
                field_selector=q.get("fieldSelector") or None, propagation_policy=policy,
                grace_period_seconds=options.get("gracePeriodSeconds"))
            return Response.json(deleted.to_dict())
        if route.subresource:
            raise MethodNotAllowed(f"DELETE is not allowed on {rt.plural}/{route.subresource}")
        pre = options.get("preconditions") or {}
        grace = options.get("gracePeriodSeconds")
        if dry:
            return Response.json(dryrun.delete(self.client, rt, route.namespace, route.name,
                                               pre.get("uid") or None,
                                               pre.get("resourceVersion") or None))
        return Response.json(self.client.delete(
            rt.api_version, rt.kind, route.namespace, route.name, propagation_policy=policy,
            grace_period_seconds=grace if isinstance(grace, int) else None,
            resource_version=pre.get("resourceVersion") or None, uid=pre.get("uid") or None))

    @staticmethod
    def _delete_options(req: Request) -> Obj:
        """DeleteOptions from the query, overridden by a body (kubectl sends a body)."""
        q = req.query
        options: Obj = {}
        if q.get("propagationPolicy"):
            options["propagationPolicy"] = q["propagationPolicy"]
        grace = int_param(q, "gracePeriodSeconds")
        if grace is not None:
            options["gracePeriodSeconds"] = grace
        if q.get("orphanDependents"):
            options["orphanDependents"] = flag(q, "orphanDependents")
        if req.body.strip():
            body = parse_body(req.body, req.content_type)
            if not isinstance(body, dict):
                raise BadRequest("the DeleteOptions body must be a JSON object")
            options.update({k: v for k, v in body.items() if v is not None})
        dry_run = options.get("dryRun")
        if dry_run is not None and (not isinstance(dry_run, list)
                                    or any(v != "All" for v in dry_run)):
            raise BadRequest('DeleteOptions.dryRun must be a list of "All"')
        if "propagationPolicy" not in options and "orphanDependents" in options:
            options["propagationPolicy"] = "Orphan" if options["orphanDependents"] \
                else "Background"
        policy = options.get("propagationPolicy")
        if policy is not None and policy not in _POLICIES:
            raise BadRequest(f"propagationPolicy must be one of {', '.join(_POLICIES)}, not "
                             f"{policy!r}")
        grace = options.get("gracePeriodSeconds")
        if grace is not None and (not isinstance(grace, int) or isinstance(grace, bool)):
            raise BadRequest("gracePeriodSeconds must be an integer")
        pre = options.get("preconditions")
        if pre is not None and not isinstance(pre, dict):
            raise BadRequest("preconditions must be an object")
        return options
