"""One reconcile of a GitOps source: validate, plan, apply, record — through gitkube.plan.

``sync_once`` is what every trigger runs (a file saved under ``gitkube watch``, a moved git
ref, drift seen in the store, the periodic full reconcile, a ``git push``): it reads the
manifests (``plan.build.load_desired``), plans against the live store
(``plan.build.build_plan``) and, when the plan has changes, writes them in one transaction
(``plan.apply.apply_plan``, which also records the history entry). It never raises for the
outcomes a loop must survive — invalid manifests, a refused apply, an unreadable revision —
it returns them as a ``SyncResult``; invalid manifests apply nothing, so the last good state
stays.
"""

from __future__ import annotations

import dataclasses
import posixpath
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitkube.api.client import Client
from gitkube.diagnostics import Diagnostic
from gitkube.errors import GitkubeError, ValidationFailed
from gitkube.plan.history import now_iso
from gitkube.plan.mask import masked_fields
from gitkube.plan.model import Action, Change, Plan, SourceInfo, display
from gitkube.plan.planner import Desired
from gitkube.plan.render import scalar
from gitkube.source.loader import SourceOptions

# Outcomes, in the words the log lines, status and notify JSON use.
APPLIED = "applied"  # changes written
UNCHANGED = "unchanged"  # the store already matches git
INVALID = "invalid"  # the manifests have errors: nothing applied
REFUSED = "refused"  # git holds no objects while the source owns live ones
FAILED = "failed"  # the revision could not be read, or the api refused the transaction

_MAX_FIELDS = 3  # fields shown per changed object in a log line


@dataclass(frozen=True)
class Target:
    """Where the desired state is read: ``path`` (a directory; for a bare repository, the
    repository directory joined with the configured subdirectory) at ``revision`` (None: the
    files on disk). ``source`` overrides the identity ``plan.sourceinfo.describe`` would give
    (a bare repository has no work tree or origin to describe). ``shown`` prefixes
    diagnostics' file names so they read as paths in the repository."""

    path: Path
    revision: str | None = None
    source: SourceInfo | None = None
    shown: str = ""


@dataclass(frozen=True)
class SyncResult:
    """What one reconcile did (see the outcome constants above)."""

    outcome: str
    trigger: str
    source: SourceInfo | None
    plan: Plan | None = None
    history: int | None = None
    store_revision: int | None = None
    error: str | None = None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    elapsed: float = 0.0
    time: str = ""
    author: str = ""
    desired: list[Desired] | None = field(default=None, repr=False, compare=False)
    held: str | None = None  # deletions held back this time, and why (gitops/safety.py)

    @property
    def ok(self) -> bool:
        return self.outcome in (APPLIED, UNCHANGED)

    @property
    def commit(self) -> str | None:
        return self.source.commit if self.source is not None else None

    def to_json(self) -> dict[str, Any]:
        """The notify payload (docs/GITOPS.md, "Notifications")."""
        summary = self.plan.summary.to_json() if self.plan is not None else None
        changes = [f"{c.action.value} {display(c.ref)}" for c in self.plan.actionable] \
            if self.plan is not None else []
        return {
            "kind": "GitkubeSync",
            "version": 1,
            "outcome": self.outcome,
            "trigger": self.trigger,
            "time": self.time,
            "author": self.author,
            "source": self.source.to_json() if self.source is not None else None,
            "summary": summary,
            "changes": changes,
            "drifted": [display(c.ref) for c in self.plan.actionable if c.drifted]
            if self.plan is not None else [],
            "history": self.history,
            "storeRevision": self.store_revision,
            "error": self.error,
            "diagnostics": [d.to_json() for d in self.diagnostics],
            "durationSeconds": round(self.elapsed, 3),
            "held": self.held,
        }


def one_line(err: GitkubeError) -> str:
    """An error's message and hint on one line (a log line, a status field)."""
    return f"{err.message} (hint: {err.hint})" if err.hint else err.message


def short(commit: str | None) -> str:
    return commit[:12] if commit else "-"


def _field_text(change: Change) -> str:
    parts = []
    fields = masked_fields(change)
    for f in fields[:_MAX_FIELDS]:
        if f.op == "add":
            text = f"{f.dotted}: + {scalar(f.after)}"
        elif f.op == "remove":
            text = f"{f.dotted}: - {scalar(f.before)}"
        else:
            text = f"{f.dotted}: {scalar(f.before)} -> {scalar(f.after)}"
        parts.append(text + (" (drift)" if f.drift else ""))
    if len(fields) > _MAX_FIELDS:
        parts.append(f"+{len(fields) - _MAX_FIELDS} more")
    return "; ".join(parts)


def change_lines(plan: Plan) -> list[str]:
    """One line per change: ``  update Deployment demo/web: spec.replicas: 5 -> 2 (drift)``."""
    lines = []
    for c in plan.actionable:
        text = f"  {c.action.value} {display(c.ref)}"
        if c.action is Action.UPDATE and c.fields:
            text += f": {_field_text(c)}"
        elif c.reason:
            text += f" ({c.reason})"
        lines.append(text)
    return lines


def summary_text(result: SyncResult) -> str:
    """The one-line result: ``applied abc123def456: +1 ~0 -0 (history #3, revision 42)``."""
    head = f"{result.outcome} {short(result.commit)}"
    if result.source is not None and result.source.dirty:
        head += "+dirty"
    if result.plan is not None:
        s = result.plan.summary
        head += f": +{s.add} ~{s.change} -{s.destroy}"
        if s.drifted:
            head += f" ({s.drifted} drifted)"
        if result.outcome == UNCHANGED:
            head += f", {s.unchanged} objects match git"
    if result.history is not None:
        head += f" (history #{result.history}, store revision {result.store_revision})"
    if result.error:
        head += f": {result.error}"
    return f"{head} in {result.elapsed:.2f}s"


def render_lines(result: SyncResult) -> list[str]:
    """The summary line, then the changes, then (invalid) every diagnostic."""
    lines = [summary_text(result)]
    if result.plan is not None and result.outcome in (APPLIED, FAILED, REFUSED):
        lines += change_lines(result.plan)
    if result.held:
        lines.append(f"  held: {result.held}")
    for diag in result.diagnostics:
        lines += ["  " + line for line in diag.render().splitlines()]
    return lines


def _shown(diags: list[Diagnostic], prefix: str) -> list[Diagnostic]:
    if not prefix or prefix == ".":
        return diags
    return [dataclasses.replace(d, file=posixpath.join(prefix, d.file)) if d.file else d
            for d in diags]


@dataclass(frozen=True)
class ApplyOptions:
    """How a sync plans and applies: the store's URL (recorded in the plan), whether it
    prunes, whether it may delete every object when git is empty, and the plan's cache
    directory (None: none)."""

    store_url: str
    prune: bool = True
    allow_empty: bool = False
    cache_dir: Path | None = None


def sync_once(client: Client, target: Target, how: ApplyOptions, *, author: str, trigger: str,
              options: SourceOptions | None = None) -> SyncResult:
    """Validate, plan and (when there are changes) apply ``target``; never raises a
    GitkubeError (see the module docstring). A valid result carries the desired objects
    (``desired``), so a loop can re-apply this last good state later. ``options``: how
    manifests are read."""
    start = time.monotonic()
    read = read_target(target, author=author, trigger=trigger, options=options)
    if isinstance(read, SyncResult):
        return read
    desired, source = read
    return apply_desired(client, desired, source, how, author=author, trigger=trigger,
                         start=start)


def read_target(target: Target, *, author: str, trigger: str,
                options: SourceOptions | None = None) -> tuple[list[Desired], SourceInfo] | \
        SyncResult:
    """The valid desired objects of ``target`` and its source identity, or the INVALID or
    FAILED result saying why there are none."""
    from gitkube.plan.apply import no_gc
    from gitkube.plan.build import load_desired
    from gitkube.plan.sourceinfo import describe

    start = time.monotonic()
    stamp = now_iso()
    source = target.source
    try:
        if source is None:
            source = describe(target.path, target.revision)
        with no_gc():
            desired = load_desired(target.path, target.revision, options=options)
    except ValidationFailed as err:
        errors = sum(1 for d in err.diagnostics if d.severity == "error")
        return SyncResult(INVALID, trigger, source, time=stamp, author=author,
                          error=f"{errors} error(s) in the manifests; nothing applied",
                          diagnostics=_shown(list(err.diagnostics), target.shown),
                          elapsed=time.monotonic() - start)
    except GitkubeError as err:
        return SyncResult(FAILED, trigger, source, time=stamp, author=author,
                          error=one_line(err), elapsed=time.monotonic() - start)
    return desired, source


def apply_desired(
    client: Client,
    desired: list[Desired],
    source: SourceInfo,
    how: ApplyOptions,
    *,
    author: str,
    trigger: str,
    start: float | None = None,
    hold_prune: Callable[[Plan], str | None] | None = None,
) -> SyncResult:
    """Plan ``desired`` (already validated) against the live store and apply the changes;
    never raises a GitkubeError. ``hold_prune(plan)`` may hold the plan's deletions back
    (it says why): the other changes are applied, and the result's ``held`` says so."""
    from gitkube.plan.apply import ApplyFailed, EmptyDesiredRefused, apply_plan
    from gitkube.plan.build import build_plan

    began = time.monotonic() if start is None else start
    stamp = now_iso()

    def done(outcome: str, **kw: Any) -> SyncResult:
        return SyncResult(outcome, trigger, source, elapsed=time.monotonic() - began,
                          time=stamp, author=author, desired=desired, **kw)

    plan: Plan | None = None
    held: str | None = None
    try:
        plan = build_plan(client, desired, source, store_url=how.store_url, prune=how.prune,
                          cache_dir=how.cache_dir)
        held = hold_prune(plan) if hold_prune is not None else None
        if held is not None:
            plan = build_plan(client, desired, source, store_url=how.store_url, prune=False,
                              cache_dir=how.cache_dir)
        if not plan.actionable:
            return done(UNCHANGED, plan=plan, held=held)
        applied = apply_plan(client, plan, author=author, allow_empty=how.allow_empty)
    except EmptyDesiredRefused as err:
        return done(REFUSED, plan=plan, error=err.message)
    except ApplyFailed as err:
        return done(FAILED, plan=plan, error=err.message)
    except GitkubeError as err:
        return done(FAILED, plan=plan, error=one_line(err))
    if applied.entry is None:
        return done(UNCHANGED, plan=plan, held=held)
    return done(APPLIED, plan=plan, history=applied.entry.number,
                store_revision=applied.revision, held=held)
