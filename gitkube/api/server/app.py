"""The request router: authentication, authorization, then discovery, OpenAPI, resources or
gitkube's extension endpoints. Transport-free: ``Router.answer(Request) -> Answer``."""

from __future__ import annotations

import logging
import threading
from typing import Literal

from gitkube.api.client import Client
from gitkube.api.server import (
    absent,
    aggregated,
    discovery,
    extension,
    fieldvalidation,
    openapi,
    reviews,
)
from gitkube.api.server.auth import Attributes, Auth, Identity
from gitkube.api.server.bodies import MethodNotAllowed
from gitkube.api.server.handlers import Resources, verb_of
from gitkube.api.server.logs import LogsProvider
from gitkube.api.server.messages import Answer, Request, Response
from gitkube.api.server.nodestreams import StreamsProvider
from gitkube.api.server.routes import Route, group_version, not_found, resolve, split
from gitkube.errors import APIError, Forbidden, GitkubeError, StoreError, Unauthorized

log = logging.getLogger("gitkube.api.server")
HEALTH_PATHS = frozenset({"/healthz", "/readyz", "/livez"})


def attributes(req: Request, route: Route | None) -> Attributes:
    if route is None:
        return Attributes(req.method.lower(), req.path)
    rt = route.rt
    return Attributes(verb_of(req.method, route, req.query), req.path, rt.group, rt.version,
                      rt.plural, route.subresource, route.namespace, route.name)


class Router:
    def __init__(self, client: Client, *, auth: Auth | None, logs: LogsProvider,
                 stopping: threading.Event, git_version: str = "dev",
                 streams: StreamsProvider | None = None, aggregated_discovery: bool = True):
        self.client = client
        self.aggregated_discovery = aggregated_discovery
        self.auth = auth
        self.resources = Resources(client, logs, stopping, streams)
        self.git_version = git_version

    def admit(self, req: Request, auth: Auth | Literal["default"] | None = "default"
              ) -> Response | None:
        """Authentication, then the path, then authorization, from the request's head alone
        (its body is not needed, nor read yet): None when the request may go on, else the
        Status that refuses it. The transport calls this before it reads a body, so a
        client without a token cannot make the server read one."""
        try:
            self._admit(req, self.auth if auth == "default" else auth)
        except APIError as e:
            return Response.error(e)
        except Exception as e:  # a bug in an auth hook: no traceback for the client
            log.exception("internal error admitting %s %s", req.method, req.path)
            return Response.error(APIError(f"an internal error occurred: {type(e).__name__}"))
        return None

    def answer(self, req: Request, auth: Auth | Literal["default"] | None = "default", *,
               admitted: bool = False) -> Answer:
        """The answer to ``req``; every failure is a Status response, never an exception.
        ``auth`` overrides the router's hook for this request (a listener's own);
        ``admitted``: ``admit`` already let this request in (no second authentication)."""
        effective = self.auth if auth == "default" else auth
        try:
            review = reviews.review_of(split(req.path))
            if review is not None:  # every caller may ask; the answer needs the identity
                return reviews.handle(req, review, effective)
            missing = absent.route_of(split(req.path))
            if missing is not None:
                if not admitted:
                    self._authorize(effective, self._identity(req, effective),
                                    missing.attributes(req.method, req.path))
                return absent.handle(req, missing)
            return self._answer(req, None if admitted else effective)
        except APIError as e:
            return Response.error(e)
        except StoreError as e:  # the store is down or broken: not the client's doing
            log.warning("store failure serving %s %s: %s", req.method, req.path, e)
            unavailable = APIError(f"the store is unavailable: {e.message}")
            unavailable.code, unavailable.reason = 503, "ServiceUnavailable"
            return Response.error(unavailable)
        except GitkubeError as e:  # a failure with a message meant for people
            log.warning("error serving %s %s: %s", req.method, req.path, e)
            return Response.error(APIError(e.message))
        except Exception as e:  # a bug: log it here, show no traceback to the client
            log.exception("internal error serving %s %s", req.method, req.path)
            err = APIError(f"an internal error occurred: {type(e).__name__}")
            return Response.error(err)

    def _admit(self, req: Request, auth: Auth | None) -> None:
        if req.path in HEALTH_PATHS or auth is None:
            return
        identity = self._identity(req, auth)
        parts = split(req.path)
        if reviews.review_of(parts) is not None:
            return
        missing = absent.route_of(parts)
        if missing is not None:
            self._authorize(auth, identity, missing.attributes(req.method, req.path))
            return
        gv = group_version(parts)
        route: Route | None = None
        if gv is not None and gv[2] and not req.path.startswith(extension.PREFIX):
            route = resolve(gv[0], gv[1], gv[2], req.path)
        self._authorize(auth, identity, attributes(req, route))

    @staticmethod
    def _identity(req: Request, auth: Auth | None) -> Identity | None:
        if auth is None:
            return None
        identity = auth.authenticate(req.headers)
        if identity is None:
            raise Unauthorized("Unauthorized")
        return identity

    @staticmethod
    def _authorize(auth: Auth | None, identity: Identity | None, attrs: Attributes) -> None:
        if auth is None or identity is None:
            return
        if not auth.authorize(identity, attrs.verb, attrs):
            what = (f'{attrs.resource}{"/" + attrs.subresource if attrs.subresource else ""}'
                    if attrs.is_resource else attrs.path)
            group = f' in API group "{attrs.group}"' if attrs.is_resource else ""
            scope = f' in the namespace "{attrs.namespace}"' if attrs.namespace else (
                " at the cluster scope" if attrs.is_resource else "")
            raise Forbidden(f'{what} is forbidden: User "{identity.name}" cannot {attrs.verb} '
                            f'resource "{what}"{group}{scope}',
                            kind=attrs.resource or None, name=attrs.name or None,
                            group=attrs.group)

    def _answer(self, req: Request, auth: Auth | None) -> Answer:
        path = req.path
        if path in HEALTH_PATHS:
            return Response(200, b"ok", "text/plain")
        identity = self._identity(req, auth)
        parts = split(path)
        gv = group_version(parts)
        route: Route | None = None
        if gv is not None and gv[2] and not path.startswith(extension.PREFIX):
            route = resolve(gv[0], gv[1], gv[2], path)
        if auth is not None:
            self._authorize(auth, identity, attributes(req, route))
        if route is not None:
            return fieldvalidation.handle(req, route, lambda r: self.resources.handle(r, route))
        if path.startswith(extension.PREFIX):
            return extension.handle(self.client, req)
        if req.method not in ("GET", "HEAD"):
            raise MethodNotAllowed(f"the server does not allow this method on the requested "
                                   f"resource: {req.method} {path}")
        return self._document(req, parts, gv)

    def _document(self, req: Request, parts: list[str],
                  gv: tuple[str, str, list[str]] | None) -> Response:
        path = req.path
        if parts == ["version"]:
            return Response.json(discovery.version(self.git_version))
        if parts in (["api"], ["apis"]) and self.aggregated_discovery:
            one_document = aggregated.answer(parts == ["api"], req.headers)
            if one_document is not None:
                return one_document
        if parts == ["api"]:
            return Response.json(discovery.api_versions())
        if parts == ["apis"]:
            return Response.json(discovery.api_group_list())
        if len(parts) == 2 and parts[0] == "apis":
            group = discovery.api_group(parts[1])
            if group is not None:
                return Response.json(group)
        if gv is not None and not gv[2]:
            doc = discovery.resource_list(gv[0], gv[1])
            if doc is not None:
                return Response.json(doc)
        if parts[:1] == ["openapi"]:
            return openapi.document(parts[1:], req.query, req.headers)
        raise not_found(path)
