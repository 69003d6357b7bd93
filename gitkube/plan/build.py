"""The effectful shell around the pure planner: read git and the store, then make the plan.

``load_desired`` reads and validates the manifests (gitkube.source: invalid manifests raise
ValidationFailed and nothing is planned); ``read_live`` lists the live objects the plan needs
through the api Client; ``build_plan`` puts them together.
"""

from __future__ import annotations

import hashlib
import marshal
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from gitkube.api.client import Client
from gitkube.model import kinds
from gitkube.model.objects import ObjectRef
from gitkube.plan import annotations as ann
from gitkube.plan.apply import no_gc
from gitkube.plan.liveview import Index
from gitkube.plan.model import Plan, SourceInfo
from gitkube.plan.planner import (
    Desired,
    DictView,
    LiveLookups,
    LiveView,
    NoopCache,
    NoopCaches,
    controller_made,
    make_plan,
)
from gitkube.source.loader import SourceOptions


def load_desired(path: Path, revision: str | None = None, *,
                 options: SourceOptions | None = None) -> list[Desired]:
    """Every valid document under ``path`` (at ``revision``), in file order. Raises
    ValidationFailed with every diagnostic when any manifest has a problem."""
    from gitkube.validate import load_valid

    result = load_valid(path, revision, options=options)
    return [
        Desired(doc.obj, doc.file, f"{doc.blob_id}:{doc.index}:{doc.item}")
        for doc in result.documents
    ]


def _kinds_to_list(desired: Sequence[Desired]) -> list[kinds.ResourceType]:
    # Every kind a user can write (objects of this source may be of any of them), plus any
    # other known kind that appears in git.
    wanted = {rt for rt in kinds.RESOURCES if rt.has_schema}
    for item in desired:
        rt = kinds.for_object(item.obj)
        if rt is not None:
            wanted.add(rt)
    return sorted(wanted, key=lambda rt: rt.plural)


def read_live(
    client: Client, source: SourceInfo, desired: Sequence[Desired]
) -> tuple[dict[ObjectRef, dict[str, Any]], int]:
    """The live objects at desired identities and those owned by ``source``, and the highest
    store revision the reads saw."""
    refs = {d.ref for d in desired}
    live: dict[ObjectRef, dict[str, Any]] = {}
    revision = 0
    for rt in _kinds_to_list(desired):
        listed = client.list(rt.api_version, rt.kind)
        revision = max(revision, int(listed.resource_version or 0))
        for obj in listed.items:
            ref = ObjectRef.of(obj)
            labels = (obj.get("metadata") or {}).get("labels") or {}
            if ref in refs or labels.get(ann.SOURCE_ID) == source.id:
                live[ref] = obj
    return live, revision


def read_last_applied(client: Client, ref: ObjectRef, digest: str) -> dict[str, Any] | None:
    """The recorded last-applied object of ``ref`` when its digest is ``digest`` (the value on
    the live object); None when missing or replaced outside gitkube."""
    key = ann.last_applied_key(ref.api_version, ref.kind, ref.namespace, ref.name)
    record = client.get_record(key)
    if record is None or record.value.get("digest") != digest:
        return None
    value = record.value.get("object")
    return value if isinstance(value, dict) else None


def namespace_members(client: Client, namespace: str) -> Iterable[dict[str, Any]]:
    """Every live object in ``namespace``, of every namespaced kind."""
    for rt in kinds.RESOURCES:
        if rt.namespaced:
            yield from client.list(rt.api_version, rt.kind, namespace).items


# Bump when normalization or diff rules change: cached no-op decisions become invalid.
CACHE_VERSION = 2  # 2: Endpoints of the endpoints controller are controller-made


def _cache_file(cache_dir: Path, store_id: str, source: SourceInfo) -> Path:
    digest = hashlib.sha256(f"{store_id}\n{source.id}".encode()).hexdigest()[:20]
    return cache_dir / "plan" / f"{digest}.marshal"


def _cache_tag() -> str:
    import sys

    from gitkube import __version__

    return f"{__version__}/{CACHE_VERSION}/{sys.version_info[:2]}"


def store_id(client: Client) -> str | None:
    """The id the first apply recorded in the store (None before any apply)."""
    record = client.get_record(ann.STORE_ID_RECORD)
    value = record.value.get("id") if record is not None else None
    return str(value) if value else None


def load_cache(cache_dir: Path, store_id: str, source: SourceInfo) -> tuple[NoopCache, Index]:
    """The no-op decisions and the live index of earlier plans against this store and
    source (empty when there are none)."""
    # marshal: ~10x faster than JSON for 10,000 entries, and it cannot run code when loaded
    try:
        data = marshal.loads(_cache_file(cache_dir, store_id, source).read_bytes())
        if not isinstance(data, dict) or data.get("tag") != _cache_tag():
            return {}, {}
        entries, index = data["entries"], data["index"]
        if isinstance(entries, dict) and isinstance(index, dict):
            return entries, index
    except (OSError, ValueError, EOFError, KeyError, TypeError):
        pass
    return {}, {}


def save_cache(cache_dir: Path, store_id: str, source: SourceInfo, entries: NoopCache,
               index: Index) -> None:
    """Best effort: a cache that cannot be written only costs time."""
    path = _cache_file(cache_dir, store_id, source)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(marshal.dumps({"tag": _cache_tag(), "entries": entries, "index": index}))
        os.replace(tmp, path)
    except OSError:
        pass


def build_plan(
    client: Client,
    desired: Sequence[Desired],
    source: SourceInfo,
    *,
    store_url: str,
    prune: bool = True,
    cache_dir: Path | None = None,
) -> Plan:
    """Read the live objects and compute the plan. With a ``cache_dir``, no-op decisions of
    earlier plans are reused while the document content and the live object's
    resourceVersion and uid are unchanged (a saved plan needs full comparisons: its stale
    check digests every compared object, so ``plan --out`` does not use the cache). With
    the cache and the in-process client, live objects whose store revisions did not move
    since the last plan are not even decoded (liveview.py)."""
    with no_gc():
        return _build_plan(client, desired, source, store_url=store_url, prune=prune,
                           cache_dir=cache_dir)


def _build_plan(
    client: Client,
    desired: Sequence[Desired],
    source: SourceInfo,
    *,
    store_url: str,
    prune: bool,
    cache_dir: Path | None,
) -> Plan:
    from gitkube.api.local import LocalClient
    from gitkube.plan.liveview import StoreView

    sid = store_id(client) if cache_dir is not None else None
    use_cache = sid is not None  # no cache before the store has an identity
    cache, index = load_cache(cache_dir, sid, source) \
        if cache_dir is not None and sid is not None else ({}, {})
    live: LiveView
    if use_cache and isinstance(client, LocalClient):
        refs = {d.ref for d in desired}
        store_view = StoreView(client, _kinds_to_list(desired), refs, source.id, index)
        live, revision, index_out = store_view, store_view.revision, store_view.index
    else:
        objects, revision = read_live(client, source, desired)
        live, index_out = DictView(objects), {}
    cache_out: NoopCache = {}
    plan = make_plan(
        desired,
        live,
        source=source,
        store_url=store_url,
        store_revision=revision,
        prune=prune,
        lookups=LiveLookups(
            namespace_members=lambda ns: namespace_members(client, ns),
            last_applied=lambda ref, digest: read_last_applied(client, ref, digest),
        ),
        caches=NoopCaches(read=cache if use_cache else None, write=cache_out),
    )
    if cache_dir is not None and sid is not None and (cache_out != cache or index_out != index):
        save_cache(cache_dir, sid, source, cache_out, index_out)
    return plan


def _get(client: Client, key: str) -> dict[str, Any] | None:
    from gitkube.errors import NotFound

    api_kind, namespace, name = key.rsplit("/", 2)
    api_version, kind = api_kind.rsplit("/", 1)
    try:
        return client.get(api_version, kind, namespace or None, name)
    except NotFound:
        return None


def fresh_saved_plan(saved: Plan, client: Client, *,
                     options: SourceOptions | None = None) -> Plan:
    """A loaded plan checked against the live store (StalePlan when the objects it saw moved),
    with preconditions at the current resourceVersions and Secret values re-read from the
    recorded source."""
    from gitkube.plan import planfile
    from gitkube.plan.planner import ref_key

    keys = set(saved.seen) | {ref_key(c.ref) for c in saved.actionable}
    live = {key: obj for key in sorted(keys) if (obj := _get(client, key)) is not None}
    owned: list[str] = []
    for rt in kinds.RESOURCES:
        if rt.has_schema:
            items = client.list(
                rt.api_version, rt.kind, label_selector={ann.SOURCE_ID: saved.source.id}
            ).items
            owned += [ref_key(ObjectRef.of(o)) for o in items if not controller_made(o)]
    planfile.check_fresh(saved, live, owned)
    fresh = planfile.refresh_versions(saved, live)
    if any(c.sensitive and c.desired is not None for c in fresh.actionable):
        docs = load_desired(Path(saved.source.path), saved.source.revision, options=options)
        fresh = planfile.restore_secrets(fresh, [d.obj for d in docs])
    return fresh
