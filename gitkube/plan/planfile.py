"""Saved plans: ``gitkube plan --out FILE`` then ``gitkube apply FILE`` applies exactly that.

A saved plan records what it saw: the store revision and, for every live object it depends
on, the resourceVersion and a digest of its content (without status). Before applying,
``check_fresh`` re-reads them and refuses the plan as stale ("Saved plan is stale") when any
of them changed in content, disappeared, when an object it would create now exists, or when
a new object of the same source appeared. A status-only write (an agent reporting progress)
does not make a plan stale: only the content the plan compared counts.

Secret values are never written to the file: Secrets are saved masked, and apply re-reads
them from the recorded source (``restore_secrets``), refusing when they changed since.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from gitkube.errors import GitkubeError
from gitkube.model.objects import ObjectRef
from gitkube.plan.mask import mask_object
from gitkube.plan.model import (
    FORMAT_VERSION,
    Action,
    Change,
    FieldChange,
    ItemKey,
    PathPart,
    Plan,
    Skipped,
    SourceInfo,
    display,
    ref_from_json,
    ref_json,
)
from gitkube.plan.normalize import digest, hash_secret_values, normalize_desired, normalize_live
from gitkube.plan.planner import ref_key

FILE_FORMAT = "gitkube-plan"


class StalePlan(GitkubeError):
    """The live store moved since the saved plan was made."""

    def __init__(self, detail: str):
        super().__init__(
            f"Saved plan is stale: {detail}",
            hint="run `gitkube plan --out FILE` again and review the new plan",
        )


def _path_to_json(path: tuple[PathPart, ...]) -> list[Any]:
    """A field path as JSON: a keyed list item is ``{"key": "name", "value": "httpd"}``."""
    return [{"key": p.key, "value": p.value} if isinstance(p, ItemKey) else p for p in path]


def _path_from_json(parts: list[Any]) -> tuple[PathPart, ...]:
    return tuple(ItemKey(p["key"], p["value"]) if isinstance(p, dict) else p for p in parts)


def _change_to_json(change: Change) -> dict[str, Any]:
    return {
        "object": ref_json(change.ref),
        "action": change.action.value,
        "fields": [
            {"path": _path_to_json(f.path), "op": f.op, "before": f.before, "after": f.after,
             "drift": f.drift, "owner": f.owner}
            for f in change.fields
        ] if not change.sensitive else [
            {"path": _path_to_json(f.path), "op": f.op, "before": None, "after": None,
             "drift": f.drift, "owner": f.owner}
            for f in change.fields
        ],
        "desired": mask_object(change.desired) if change.desired is not None else None,
        "resourceVersion": change.live_version,
        "file": change.file,
        "reason": change.reason,
        "deletedWithNamespace": change.via_namespace,
        "lastApplied": change.last_applied,
    }


def _change_from_json(data: dict[str, Any]) -> Change:
    return Change(
        ref=ref_from_json(data["object"]),
        action=Action(data["action"]),
        fields=tuple(
            FieldChange(_path_from_json(f["path"]), f["op"], f.get("before"), f.get("after"),
                        bool(f.get("drift")), f.get("owner"))
            for f in data.get("fields") or ()
        ),
        desired=data.get("desired"),
        live_version=data.get("resourceVersion"),
        file=data.get("file"),
        reason=data.get("reason"),
        via_namespace=data.get("deletedWithNamespace"),
        last_applied=data.get("lastApplied"),
    )


def dumps(plan: Plan) -> str:
    """The saved form of a plan (JSON; Secret values masked)."""
    seen = {
        key: {"resourceVersion": version,
              "digest": digest(plan.compared[key]) if key in plan.compared else None}
        for key, version in sorted(plan.seen.items())
    }
    data = {
        "format": FILE_FORMAT,
        "formatVersion": FORMAT_VERSION,
        "source": plan.source.to_json(),
        "store": {"url": plan.store_url, "revision": plan.store_revision},
        "prune": plan.prune,
        "desiredCount": plan.desired_count,
        "ownedCount": plan.owned_count,
        "changes": [_change_to_json(c) for c in plan.actionable],
        "unchanged": plan.summary.unchanged,
        "skipped": [{"object": ref_json(s.ref), "reason": s.reason} for s in plan.skipped],
        "warnings": list(plan.warnings),
        "seen": seen,
    }
    return json.dumps(data, indent=1) + "\n"  # "format" first: is_planfile reads the head


def save(plan: Plan, path: Path) -> None:
    """Write the plan atomically (a reader never sees half a file)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=".plan-", dir=path.parent or Path("."))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(dumps(plan))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def is_planfile(path: Path) -> bool:
    """True when ``path`` is a file that starts like a saved plan."""
    try:
        with open(path, encoding="utf-8") as fh:
            head = fh.read(4096)
    except (OSError, UnicodeDecodeError):
        return False
    return f'"format": "{FILE_FORMAT}"' in head


def loads(text: str, *, origin: str = "plan file") -> Plan:
    """A Plan from its saved form; GitkubeError when it is not one."""
    try:
        data = json.loads(text)
        if data.get("format") != FILE_FORMAT:
            raise ValueError("not a gitkube plan")
        if data.get("formatVersion") != FORMAT_VERSION:
            raise GitkubeError(
                f"{origin}: plan format {data.get('formatVersion')} is not supported "
                f"(this gitkube writes {FORMAT_VERSION})",
                hint="make the plan again with this gitkube version",
            )
        changes = [_change_from_json(c) for c in data["changes"]]
        unchanged = int(data.get("unchanged", 0))
        noops = [
            Change(ObjectRef("", "", "", f"unchanged-{i}"), Action.NOOP) for i in range(unchanged)
        ]
        seen = {k: str(v.get("resourceVersion") or "") for k, v in data["seen"].items()}
        digests = {k: str(v["digest"]) for k, v in data["seen"].items() if v.get("digest")}
        plan = Plan(
            source=SourceInfo.from_json(data["source"]),
            store_url=str(data["store"]["url"]),
            store_revision=int(data["store"]["revision"]),
            changes=(*changes, *noops),
            skipped=tuple(
                Skipped(ref_from_json(s["object"]), str(s["reason"])) for s in data["skipped"]
            ),
            warnings=tuple(data.get("warnings") or ()),
            prune=bool(data["prune"]),
            desired_count=int(data["desiredCount"]),
            owned_count=int(data["ownedCount"]),
            seen=seen,
            compared={k: {"digest": d} for k, d in digests.items()},
        )
    except GitkubeError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise GitkubeError(
            f"{origin} is not a readable gitkube plan ({exc})",
            hint="make one with `gitkube plan --out FILE`",
        ) from exc
    return plan


def load(path: Path) -> Plan:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise GitkubeError(f"cannot read plan file {path}: {exc}") from exc
    return loads(text, origin=str(path))


def saved_digest(plan: Plan, key: str) -> str | None:
    value = plan.compared.get(key)
    return str(value["digest"]) if value and "digest" in value else None


def _shown(key: str) -> str:
    """``apps/v1/Deployment/demo/web`` -> ``Deployment demo/web``."""
    head, namespace, name = key.rsplit("/", 2)
    kind = head.rsplit("/", 1)[-1]
    return f"{kind} {namespace}/{name}" if namespace else f"{kind} {name}"


def check_fresh(
    plan: Plan,
    live: Mapping[str, dict[str, Any]],
    owned_now: Iterable[str],
) -> None:
    """Raise StalePlan unless the live objects the plan depends on are as it saw them.

    ``live`` maps ``ref_key`` to the current live object for every key the plan touches or
    saw; ``owned_now`` is every ``ref_key`` currently labelled with the plan's source."""
    for change in plan.actionable:
        key = ref_key(change.ref)
        if change.action is Action.CREATE and key in live:
            raise StalePlan(f"{display(change.ref)} was created since the plan was made")
    for key, version in plan.seen.items():
        current = live.get(key)
        if current is None:
            raise StalePlan(f"{_shown(key)} was deleted since the plan was made")
        now_version = str((current.get("metadata") or {}).get("resourceVersion") or "")
        if now_version == version:
            continue
        expected = saved_digest(plan, key)
        if expected is None or digest(normalize_live(current)) != expected:
            raise StalePlan(
                f"{_shown(key)} changed since the plan was made "
                f"(resourceVersion {version} -> {now_version})"
            )
    new = sorted(set(owned_now) - set(plan.seen))
    if new:
        raise StalePlan(
            f"{_shown(new[0])} now belongs to this source but the plan did not see it"
        )


def refresh_versions(plan: Plan, live: Mapping[str, dict[str, Any]]) -> Plan:
    """The plan with each write's precondition moved to the current resourceVersion (only
    after check_fresh proved the content unchanged: status writes move the version)."""
    out: list[Change] = []
    for change in plan.changes:
        current = live.get(ref_key(change.ref))
        if current is None or change.action in (Action.CREATE, Action.NOOP):
            out.append(change)
            continue
        version = str((current.get("metadata") or {}).get("resourceVersion") or "")
        desired = change.desired
        if desired is not None:
            desired = {**desired, "metadata": {**desired["metadata"], "resourceVersion": version}}
        out.append(dataclasses.replace(change, desired=desired, live_version=version))
    return Plan(plan.source, plan.store_url, plan.store_revision, tuple(out), plan.skipped,
                plan.warnings, plan.prune, plan.desired_count, plan.owned_count, plan.seen,
                plan.compared)


def restore_secrets(plan: Plan, desired: Iterable[dict[str, Any]]) -> Plan:
    """Put the Secret values back into a loaded plan from the source's objects; StalePlan
    when a Secret's content is no longer what the plan recorded."""
    secrets: dict[ObjectRef, dict[str, Any]] = {}
    for obj in desired:
        if obj.get("kind") == "Secret":
            norm = normalize_desired(obj)
            secrets[ObjectRef.of(norm)] = norm
    out: list[Change] = []
    for change in plan.changes:
        if not change.sensitive or change.desired is None:
            out.append(change)
            continue
        source = secrets.get(change.ref)
        if source is None or hash_secret_values(source) != change.last_applied:
            raise StalePlan(f"{display(change.ref)} changed in the source since the plan was made")
        restored = dict(change.desired)
        for key in ("data", "stringData"):
            if key in source:
                restored[key] = source[key]
            else:
                restored.pop(key, None)
        out.append(dataclasses.replace(change, desired=restored))
    return Plan(plan.source, plan.store_url, plan.store_revision, tuple(out), plan.skipped,
                plan.warnings, plan.prune, plan.desired_count, plan.owned_count, plan.seen,
                plan.compared)
