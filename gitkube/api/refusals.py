"""The api's refusals, worded as the Kubernetes API server words them.

``deployments.apps "web" not found``, ``Operation cannot be fulfilled on ...``; a transaction
prefixes the failing op: ``op 3 (create Deployment default/web): ...``.
"""

from __future__ import annotations

from collections.abc import Sequence

from gitkube.api.client import ApplyOp, BindOp, CreateOp, DeleteOp, TxnOp, UpdateOp
from gitkube.errors import (
    AlreadyExists,
    APIError,
    Conflict,
    KeyExists,
    KeyNotFound,
    NotFound,
)
from gitkube.model.kinds import ResourceType


def qualified(rt: ResourceType) -> str:
    """``deployments.apps``, ``pods``: how upstream names a resource in messages."""
    return f"{rt.plural}.{rt.group}" if rt.group else rt.plural


def ref(rt: ResourceType, name: str) -> str:
    return f'{qualified(rt)} "{name}"'


def not_found(rt: ResourceType, name: str) -> NotFound:
    return NotFound(f'{qualified(rt)} "{name}" not found', kind=rt.plural, name=name,
                    group=rt.group)


def conflict(rt: ResourceType, name: str, why: str = "") -> Conflict:
    return Conflict(
        f'Operation cannot be fulfilled on {qualified(rt)} "{name}": '
        + (why or "the object has been modified; please apply your changes to the latest "
           "version and try again"),
        kind=rt.plural, name=name, group=rt.group,
        hint="read the object again, reapply your change, and retry",
    )


def with_prefix(error: APIError, prefix: str) -> APIError:
    """The same error (same class, status and causes) with ``prefix: `` before its message."""
    out = type(error)(f"{prefix}: {error.message}", hint=error.hint, kind=error.kind,
                      name=error.name, group=error.group, causes=error.causes)
    out.__cause__ = error
    return out


def describe(op: TxnOp) -> str:
    """``create Deployment default/web``: a transaction op as error messages name it."""
    if isinstance(op, CreateOp | UpdateOp | ApplyOp):
        obj = op.object if isinstance(op.object, dict) else {}
        meta = obj.get("metadata") or {}
        verb = {CreateOp: "create", UpdateOp: "update", ApplyOp: "apply"}[type(op)]
        ns = f"{meta.get('namespace')}/" if meta.get("namespace") else ""
        name = meta.get("name") or meta.get("generateName") or ""
        return f"{verb} {obj.get('kind', '?')} {ns}{name}"
    if isinstance(op, DeleteOp):
        ns = f"{op.namespace}/" if op.namespace else ""
        return f"delete {op.kind} {ns}{op.name}"
    if isinstance(op, BindOp):
        ns = f"{op.namespace}/" if op.namespace else ""
        return f"bind Pod {ns}{op.name} to {op.node_name}"
    return f"{type(op).__name__} {op.key}"


def store_error(error: Exception, keys: Sequence[str], refs: Sequence[str],
                single: bool) -> APIError:
    """A store refusal at commit time (KeyExists, KeyNotFound, RevisionConflict) as the api
    error for the op whose key it names."""
    key = getattr(error, "key", "")
    index = next((i for i, k in enumerate(keys) if k == key), 0)
    name = refs[index] if refs else key
    if isinstance(error, KeyExists):
        out: APIError = AlreadyExists(f"{name} already exists",
                                      hint="update it instead, or delete it first")
    elif isinstance(error, KeyNotFound):
        out = NotFound(f"{name} not found")
    else:
        out = Conflict(f"Operation cannot be fulfilled on {name}: the object has been "
                       "modified; please apply your changes to the latest version and "
                       "try again", hint="read the object again and retry")
    return out if single else with_prefix(out, f"op {index} ({name})")
