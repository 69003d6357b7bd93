"""``dryRun=All``: what a write would store, computed and validated, and nothing written.

``kubectl diff`` and ``kubectl apply --dry-run=server`` send their writes with ``dryRun=All``
and show the answer. Reads go through the Client; the write is prepared with the api's own
pure steps (gitkube/api/strategy.py: defaults, server metadata, status separation,
generation) and validated exactly as a real write would be. Not checked without writing: a
compare-and-swap race, namespace termination, and finalizer-driven removal.
"""

from __future__ import annotations

from typing import Any

from gitkube.api import admission, strategy
from gitkube.api.client import Client
from gitkube.api.codec import copy_json, now_rfc3339, parse_revision
from gitkube.api.refusals import conflict
from gitkube.api.ssa import managed
from gitkube.api.ssa.shape import shape_of
from gitkube.api.subresources import apply_patch, scale_of
from gitkube.errors import AlreadyExists, BadRequest, Conflict, NotFound
from gitkube.model.kinds import ResourceType

Obj = dict[str, Any]


def check_mode(value: str) -> None:
    if value != "All":
        raise BadRequest(f'unsupported dryRun value "{value}": only "All" is supported')


def _lister(client: Client) -> admission.Lister:
    return lambda rt, namespace: client.list(rt.api_version, rt.kind, namespace).items


def create(client: Client, rt: ResourceType, obj: Obj) -> Obj:
    new = strategy.prepare_create(rt, obj, now=now_rfc3339())
    admission.admit_create(rt, new, _lister(client))
    strategy.validate(rt, new)
    meta = new["metadata"]
    try:
        client.get(rt.api_version, rt.kind, meta.get("namespace"), str(meta.get("name")))
    except NotFound:
        return new
    raise AlreadyExists(f'{rt.plural}{"." + rt.group if rt.group else ""} '
                        f'"{meta.get("name")}" already exists', kind=rt.plural,
                        name=str(meta.get("name")), group=rt.group)


def _current(client: Client, rt: ResourceType, namespace: str, name: str, obj: Obj) -> Obj:
    current = client.get(rt.api_version, rt.kind, namespace, name)
    expected = parse_revision((obj.get("metadata") or {}).get("resourceVersion"))
    if expected is not None and str(expected) != current["metadata"].get("resourceVersion"):
        raise conflict(rt, name)
    return current


def update(client: Client, rt: ResourceType, namespace: str, name: str, obj: Obj, *,
           status: bool = False) -> Obj:
    current = _current(client, rt, namespace, name, obj)
    if status:
        if not strategy.has_status_subresource(rt):
            raise NotFound(f"{rt.kind} has no status subresource")
        new = strategy.prepare_status_update(rt, obj, current)
    else:
        new = strategy.prepare_update(rt, admission.carry_over(rt, obj, current), current)
        admission.admit_update(rt, new, current, _lister(client))
    strategy.validate(rt, new)
    new["metadata"]["resourceVersion"] = current["metadata"].get("resourceVersion")
    return new


def patch(client: Client, rt: ResourceType, namespace: str, name: str, body: Any,
          patch_type: str, *, status: bool = False) -> Obj:
    current = client.get(rt.api_version, rt.kind, namespace, name)
    patched = apply_patch(rt, copy_json(current), body, patch_type)
    return update(client, rt, namespace, name, patched, status=status)


def scale(client: Client, rt: ResourceType, namespace: str, name: str, replicas: int,
          resource_version: str | None) -> Obj:
    current = client.get(rt.api_version, rt.kind, namespace, name)
    if resource_version and resource_version != current["metadata"].get("resourceVersion"):
        raise conflict(rt, name)
    out = scale_of(current)
    out["spec"]["replicas"] = replicas
    return out


def delete(client: Client, rt: ResourceType, namespace: str, name: str,
           uid: str | None, resource_version: str | None) -> Obj:
    current = client.get(rt.api_version, rt.kind, namespace, name)
    meta = current["metadata"]
    if uid and uid != meta.get("uid"):
        raise conflict(rt, name, f"Precondition failed: UID in precondition: {uid}, UID in "
                       f"object meta: {meta.get('uid')}")
    if resource_version and resource_version != meta.get("resourceVersion"):
        raise conflict(rt, name, "Precondition failed: ResourceVersion in precondition: "
                       f"{resource_version}, ResourceVersion in object meta: "
                       f"{meta.get('resourceVersion')}")
    return current


def apply(client: Client, rt: ResourceType, config: Obj, manager: str, force: bool,
          subresource: str) -> Obj:
    """What a server-side apply would store (its conflicts raised as the write would)."""
    meta = config.get("metadata") or {}
    try:
        live: Obj | None = client.get(rt.api_version, rt.kind, meta.get("namespace"),
                                      str(meta.get("name")))
    except NotFound:
        if subresource:
            raise
        live = None
    status_apart = strategy.has_status_subresource(rt)
    body = managed.applied_part(config, subresource, status_apart)
    try:
        merged, fields = managed.apply(live, body, shape_of(rt.api_version, rt.kind),
                                       manager=manager, api_version=rt.api_version,
                                       now=now_rfc3339(), force=force,
                                       scope=managed.Scope(subresource, status_apart))
    except managed.ApplyConflicts as e:
        raise Conflict(e.message, causes=e.causes(), hint=e.hint) from e
    if live is None:
        new = strategy.prepare_create(rt, merged, now=now_rfc3339())
    elif subresource == "status":
        new = strategy.prepare_status_update(rt, merged, live)
    else:
        new = strategy.prepare_update(rt, merged, live)
    new["metadata"]["managedFields"] = fields
    strategy.validate(rt, new)
    if live is not None:
        new["metadata"]["resourceVersion"] = live["metadata"].get("resourceVersion")
    return scale_of(new) if subresource == "scale" else new
