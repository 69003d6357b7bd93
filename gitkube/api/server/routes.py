"""Request paths: Kubernetes REST URLs resolved to a resource, namespace, name, subresource.

``/api/v1/namespaces/NS/pods/NAME/log``, ``/apis/apps/v1/deployments`` (all namespaces),
``/api/v1/nodes/NAME/status``, the legacy ``/api/v1/watch/...`` prefix. Pure functions.
"""

from __future__ import annotations

from dataclasses import dataclass

from gitkube.errors import NotFound
from gitkube.model import kinds
from gitkube.model.kinds import ResourceType

# Subresources of a Namespace reached as /api/v1/namespaces/NAME/<sub>, which would otherwise
# read as "the collection <sub> in namespace NAME".
_NAMESPACE_SUBRESOURCES = frozenset({"status", "finalize"})

_BY_PATH: dict[tuple[str, str, str], ResourceType] = {
    (r.group, r.version, r.plural): r for r in kinds.RESOURCES
}
GROUP_VERSIONS: tuple[tuple[str, str], ...] = tuple(
    dict.fromkeys((r.group, r.version) for r in kinds.RESOURCES)
)


@dataclass(frozen=True)
class Route:
    """A resource request: the kind, the namespace in the path ("" = none: cluster-scoped
    kind or all namespaces), the object name ("" = the collection), the subresource."""

    rt: ResourceType
    namespace: str = ""
    name: str = ""
    subresource: str = ""
    legacy_watch: bool = False

    @property
    def collection(self) -> bool:
        return not self.name


def not_found(path: str) -> NotFound:
    return NotFound(f"the server could not find the requested resource (path {path})")


def split(path: str) -> list[str]:
    return [p for p in path.split("/") if p]


def group_version(parts: list[str]) -> tuple[str, str, list[str]] | None:
    """(group, version, the rest) for ``/api/v1/...`` and ``/apis/G/V/...``; None otherwise."""
    if len(parts) >= 2 and parts[0] == "api":
        return "", parts[1], parts[2:]
    if len(parts) >= 3 and parts[0] == "apis":
        return parts[1], parts[2], parts[3:]
    return None


def resolve(group: str, version: str, rest: list[str], path: str) -> Route:
    """The Route for the part of a path after the group and version; NotFound (404) for
    resources gitkube does not serve and shapes that are not a resource URL."""
    legacy = bool(rest) and rest[0] == "watch"
    if legacy:
        rest = rest[1:]
    namespace = ""
    if len(rest) >= 3 and rest[0] == "namespaces" and not (
            group == "" and len(rest) == 3 and rest[2] in _NAMESPACE_SUBRESOURCES):
        namespace, rest = rest[1], rest[2:]
    if not rest or len(rest) > 3:
        raise not_found(path)
    rt = _BY_PATH.get((group, version, rest[0]))
    if rt is None:
        raise not_found(path)
    if namespace and not rt.namespaced:
        raise not_found(path)
    name = rest[1] if len(rest) > 1 else ""
    if name and rt.namespaced and not namespace:
        raise not_found(path)  # a namespaced object is only addressed inside its namespace
    sub = rest[2] if len(rest) > 2 else ""
    if sub and sub not in rt.subresources:
        plural = f"{rt.plural}.{rt.group}" if rt.group else rt.plural
        raise NotFound(f"the server could not find the requested resource ({plural}/{sub}): "
                       f"{rt.kind} has no {sub} subresource")
    return Route(rt, namespace, name, sub, legacy)
