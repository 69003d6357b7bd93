"""Small helpers on Kubernetes objects (JSON-compatible dicts)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, order=True)
class ObjectRef:
    """Identity of an object: apiVersion, kind, namespace ('' if cluster-scoped), name."""

    api_version: str
    kind: str
    namespace: str
    name: str

    @classmethod
    def of(cls, obj: dict[str, Any]) -> ObjectRef:
        meta = obj.get("metadata") or {}
        return cls(
            str(obj.get("apiVersion", "")),
            str(obj.get("kind", "")),
            str(meta.get("namespace") or ""),
            str(meta.get("name") or ""),
        )

    def __str__(self) -> str:
        ns = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind}/{ns}{self.name}"

    @property
    def short(self) -> str:
        """``Kind/name`` as diagnostics print it."""
        return f"{self.kind}/{self.name}"


def meta(obj: dict[str, Any]) -> dict[str, Any]:
    m = obj.get("metadata")
    return m if isinstance(m, dict) else {}


# Namespaces every Kubernetes cluster has, whether or not a Namespace object was written:
# objects may be created in them (the api) and manifests may name them (validate). The
# names in upstream's order, for messages, then the set.
SYSTEM_NAMESPACE_NAMES = ("default", "kube-system", "kube-public", "kube-node-lease")
SYSTEM_NAMESPACES = frozenset(SYSTEM_NAMESPACE_NAMES)
