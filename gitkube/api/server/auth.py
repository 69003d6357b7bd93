"""The authentication and authorization seam of the HTTP API.

The server calls ``auth.authenticate(headers)`` on every request (headers as a dict with
lower-cased names) and, when it returns an Identity, ``auth.authorize(identity, verb,
attributes)``. None from authenticate is 401 Unauthorized, False from authorize is 403
Forbidden, both as Status objects. With no ``auth`` every request is allowed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

READ_VERBS = frozenset({"get", "list", "watch"})


@dataclass(frozen=True)
class Identity:
    """Who made a request: a user name, its groups (e.g. a role) and any extra data."""

    name: str
    groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class Attributes:
    """What a request does, as Kubernetes' RBAC sees it.

    ``verb`` is one of get, list, watch, create, update, patch, delete, deletecollection for
    resource requests, and the lower-cased HTTP method for other paths (``/version``,
    discovery, ``/openapi``), where ``resource`` is "". ``group`` is "" for the core group;
    ``resource`` is the plural (``deployments``), ``subresource`` e.g. ``status`` or ``log``.
    """

    verb: str
    path: str
    group: str = ""
    version: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""

    @property
    def is_resource(self) -> bool:
        return bool(self.resource)

    @property
    def read_only(self) -> bool:
        """True for verbs that change nothing (get, list, watch, and GET/HEAD elsewhere)."""
        return self.verb in READ_VERBS or self.verb in ("head", "options")


class Auth(Protocol):
    """What the daemon plugs into ``APIServer(auth=...)``."""

    def authenticate(self, headers: Mapping[str, str]) -> Identity | None:
        """The caller's identity from the request headers (lower-cased names, e.g.
        ``authorization``), or None when it cannot be established (401)."""
        ...

    def authorize(self, identity: Identity, verb: str, resource: Attributes) -> bool:
        """Whether ``identity`` may do ``verb`` (== ``resource.verb``) on ``resource``."""
        ...
