"""The GitOps state of every source: where it syncs from, what was last applied, whether the
cluster matches it now, and the last error.

``gitops_status`` re-plans each source's current desired state (the deploy branch's tip, or
the watched directory) against the live store without applying anything:

- **out of sync**: the plan has changes (drift, or a commit not applied yet), the manifests
  are invalid now, or the branch moved past what was last synced;
- **degraded**: nothing to apply, but an owned workload is not converged (the reasons are
  ``apply --wait``'s verdicts: "1/2 available", a failed Job, ...);
- **synced**: nothing to apply and every owned workload converged.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitkube.api.client import Client
from gitkube.errors import GitkubeError, NotFound, ValidationFailed
from gitkube.gitops.connect import Connection
from gitkube.gitops.state import read_all
from gitkube.gitops.sync import Target, change_lines, short
from gitkube.plan.model import Action, Plan, display
from gitkube.settings import Settings

SYNCED = "synced"
OUT_OF_SYNC = "out of sync"
DEGRADED = "degraded"
UNKNOWN = "unknown"


@dataclass
class SourceStatus:
    name: str
    mode: str
    where: str  # "branch main of /srv/deploy.git" or "/home/me/app/manifests"
    state: str
    reasons: list[str] = field(default_factory=list)
    head: str | None = None  # the commit the source is at now
    record: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.name,
            "mode": self.mode,
            "where": self.where,
            "state": self.state,
            "reasons": self.reasons,
            "head": self.head,
            "synced": self.record.get("synced"),
            "lastApplied": self.record.get("lastApplied"),
            "lastAttempt": self.record.get("lastAttempt"),
            "lastError": self.record.get("lastError"),
        }


def _branch_head(repository: str, branch: str) -> str | None:
    proc = subprocess.run(["git", "--git-dir", repository, "rev-parse", "--verify", "-q",
                           f"refs/heads/{branch}"], capture_output=True, text=True, check=False)
    return proc.stdout.strip() or None


def _target(record: dict[str, Any],
            settings: Settings) -> tuple[Target | None, str, str | None]:
    """The desired state to compare with now, a description, and the current commit."""
    target = record.get("target") or {}
    if record.get("mode") == "push":
        from gitkube.gitops.repo import read_config, repo_target

        cfg = read_config(Path(str(target.get("repository"))), settings)
        where = f"branch {cfg.branch} of {cfg.git_dir}"
        head = _branch_head(str(cfg.git_dir), cfg.branch)
        return (repo_target(cfg, head) if head else None), where, head
    path = Path(str(target.get("path", ".")))
    return Target(path), str(path), None


def _degraded(client: Client, plan: Plan) -> list[str]:
    from gitkube.agents.converge import verdict

    reasons = []
    for change in plan.changes:
        if change.action is not Action.NOOP or change.ref.kind not in (
                "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "Pod"):
            continue
        ref = change.ref
        try:
            obj = client.get(ref.api_version, ref.kind, ref.namespace or None, ref.name)
        except NotFound:
            continue
        v = verdict(obj)
        if not v.done:
            reasons.append(f"{display(ref)}: {v.detail}")
    return reasons


def source_status(conn: Connection, record: dict[str, Any]) -> SourceStatus:
    """One source's status (see the module docstring)."""
    from gitkube.plan.build import build_plan, load_desired

    name = str((record.get("source") or {}).get("name", "?"))
    mode = str(record.get("mode", "?"))
    try:
        target, where, head = _target(record, conn.settings)
    except GitkubeError as err:
        return SourceStatus(name, mode, "?", UNKNOWN, [err.message], record=record)
    status = SourceStatus(name, mode, where, SYNCED, head=head, record=record)
    if target is None:
        status.state, status.reasons = UNKNOWN, ["the deploy branch does not exist"]
        return status
    synced = (record.get("synced") or {}).get("commit")
    if head and synced and head != synced:
        status.reasons.append(f"branch is at {short(head)}, last synced {short(synced)}")
    try:
        desired = load_desired(target.path, target.revision, options=conn.source_options)
        source = target.source
        if source is None:
            from gitkube.plan.sourceinfo import describe

            source = describe(target.path, target.revision)
        plan = build_plan(conn.client, desired, source, store_url=conn.store_url,
                          cache_dir=conn.cache_dir)
    except ValidationFailed as err:
        status.state = OUT_OF_SYNC
        status.reasons.append(f"the manifests are invalid now ({len(err.diagnostics)} "
                              "problems); the last good state stays applied")
        return status
    except GitkubeError as err:
        status.state = UNKNOWN
        status.reasons.append(err.message)
        return status
    if plan.actionable:
        status.state = OUT_OF_SYNC
        status.reasons += [line.strip() for line in change_lines(plan)]
        return status
    if status.reasons:
        status.state = OUT_OF_SYNC
        return status
    degraded = _degraded(conn.client, plan)
    if degraded:
        status.state, status.reasons = DEGRADED, degraded
    return status


def gitops_status(conn: Connection) -> list[SourceStatus]:
    """Every GitOps source's status, by source id."""
    return [source_status(conn, record) for record in read_all(conn.client)]


def render_status(statuses: list[SourceStatus]) -> str:
    """The text ``gitkube status`` (or ``sync-status``) prints for the GitOps sources."""
    if not statuses:
        return ("GitOps: no source synced yet (`gitkube watch DIR`, or push to a repository "
                "made by `gitkube repo init`).\n")
    lines = []
    for s in statuses:
        lines.append(f"GitOps source {s.name} ({s.mode}: {s.where})")
        lines.append(f"  state:         {s.state}")
        lines += [f"    - {r}" for r in s.reasons]
        applied = s.record.get("lastApplied")
        if applied:
            lines.append(f"  last applied:  {short(applied.get('commit'))} by "
                         f"{applied.get('author') or '?'} at {applied.get('time')} "
                         f"(history #{applied.get('history')})")
        synced = s.record.get("synced")
        if synced:
            dirty = " (uncommitted changes)" if synced.get("dirty") else ""
            lines.append(f"  synced to:     {short(synced.get('commit'))}{dirty} at "
                         f"{synced.get('time')}")
        error = s.record.get("lastError")
        attempt = s.record.get("lastAttempt") or {}
        if error:
            current = error.get("time") == attempt.get("time")
            lines.append(f"  last error:    {error.get('time')} {error.get('outcome')} "
                         f"{short(error.get('commit'))}: {error.get('message')}"
                         + ("" if current else " (since resolved)"))
            if current:
                lines += [f"    {d.splitlines()[0]}" for d in error.get("diagnostics") or []]
        else:
            lines.append("  last error:    none")
    return "\n".join(lines) + "\n"


def status_section(settings: Settings) -> tuple[str, list[dict[str, Any]]]:
    """The GitOps part of ``gitkube status`` for the settings' store: its text and JSON.
    Never raises: a store that does not exist yet has no sources, and one that cannot be
    read is said in the text."""
    from gitkube.gitops.connect import connect

    url = settings.store_url
    if url.startswith("sqlite:///") and not Path(url[len("sqlite://"):]).exists():
        return render_status([]), []
    try:
        statuses = gitops_status(connect(settings))
    except GitkubeError as err:
        return f"GitOps: cannot read the store {url}: {err.message}\n", []
    return render_status(statuses), [s.to_json() for s in statuses]
