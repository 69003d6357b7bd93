"""``gitkube watch``: keep the live state equal to a manifest directory while things change.

Four sources of triggers feed one worker (the thread that called ``WatchLoop.run``):

- **files**: watchfiles on the manifest directory (hidden files and editor droppings ignored);
- **git**: watchfiles on the repository's ``HEAD``, ``packed-refs`` and ``refs/heads/`` — a
  commit without file changes, a checkout, a reset;
- **drift**: a watch per kind the source owns (``Client.watch`` with the
  ``gitkube.io/source-id`` label selector): an owned object deleted, or changed outside its
  status, by anything but this loop's own applies;
- **interval**: a periodic full reconcile that catches whatever a watch missed.

The worker debounces (it waits until no trigger arrived for ``debounce`` seconds, at most
``MAX_DEBOUNCE_FACTOR`` times that), then runs ``sync.sync_once`` on the files on disk and
prints the result. Invalid manifests apply nothing: the last good state stays. Events caused
by the loop's own applies are recognised by their store revision and ignored.

Without a daemon the loop runs the agents (kubelet, scheduler, controllers) in-process for as
long as it runs; stopping it stops them and leaves the cluster as it is (containers keep
running; the next agents adopt them).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from gitkube.agents.compose import AgentSet, open_runtime
from gitkube.errors import GitkubeError, Gone
from gitkube.gitops import state
from gitkube.gitops.connect import Connection
from gitkube.gitops.repo import (
    RepoConfig,
    branch_head,
    commit_author,
    repo_lock,
    repo_target,
)
from gitkube.gitops.safety import (
    CONFIRM_DELAY,
    SETTLE_BOUND,
    SETTLE_STEP,
    PruneSafety,
    confirmed,
    files_in_progress,
)
from gitkube.gitops.sync import (
    APPLIED,
    INVALID,
    UNCHANGED,
    ApplyOptions,
    SyncResult,
    Target,
    apply_desired,
    read_target,
    render_lines,
)
from gitkube.model.objects import ObjectRef
from gitkube.plan import annotations as ann
from gitkube.plan.model import Action, Plan, SourceInfo, display
from gitkube.plan.planner import Desired
from gitkube.runtime.base import ContainerRuntime
from gitkube.source.tree import is_manifest

MAX_DEBOUNCE_FACTOR = 10
PUSH_GRACE = 2.0  # seconds a watch of a deploy repository leaves post-receive to apply a push
_EDITOR_SUFFIXES = ("~", ".swp", ".swx", ".swo", ".tmp", ".part")


@dataclass(frozen=True)
class Trigger:
    kind: str  # "start" | "file" | "git" | "drift" | "interval"
    text: str
    revision: int | None = None  # the store revision of a drift event
    subject: str = ""  # a drift event's object, as plans name it: "Deployment demo/web"


class Triggers:
    """A debounced, thread-safe bag of triggers."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._items: list[Trigger] = []
        self._last = 0.0
        self._closed = False

    def add(self, trigger: Trigger) -> None:
        with self._cond:
            self._items.append(trigger)
            self._last = time.monotonic()
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def take(self, debounce: float) -> list[Trigger] | None:
        """Block until there are triggers and none arrived for ``debounce`` seconds (at most
        ``MAX_DEBOUNCE_FACTOR * debounce`` after the first); None once closed."""
        with self._cond:
            while not self._items and not self._closed:
                self._cond.wait(0.5)
            if self._closed:
                return None
            first = time.monotonic()
            while not self._closed:
                now = time.monotonic()
                quiet = self._last + debounce - now
                if quiet <= 0 or now - first >= MAX_DEBOUNCE_FACTOR * debounce:
                    break
                self._cond.wait(quiet)
            if self._closed:
                return None
            items, self._items = self._items, []
            return items


def find_git_dir(path: Path) -> Path | None:
    """The git directory of the work tree holding ``path`` (``.git``, or where a ``.git``
    file points for a linked work tree); None outside git."""
    for probe in (path, *path.parents):
        dot = probe / ".git"
        if dot.is_dir():
            return dot
        if dot.is_file():
            text = dot.read_text(errors="replace").strip()
            if text.startswith("gitdir:"):
                target = Path(text[len("gitdir:"):].strip())
                return target if target.is_absolute() else (probe / target).resolve()
    return None


def fingerprint(obj: dict[str, Any]) -> str:
    """What a change outside git would alter: everything but status and server bookkeeping."""
    meta = {k: v for k, v in (obj.get("metadata") or {}).items()
            if k not in ("resourceVersion", "generation", "managedFields")}
    body = {k: v for k, v in obj.items() if k not in ("status", "metadata")}
    data = json.dumps([meta, body], sort_keys=True, default=str)
    return hashlib.sha256(data.encode()).hexdigest()


def _stamp() -> str:
    return datetime.now().strftime("%H:%M:%S")


class EmbeddedAgents:
    """The kubelet, scheduler and controllers run in this process (no daemon). When a daemon
    starts for the same store later, they stop and leave the work to the daemon's agents
    (two kubelets for one node would fight over its pods)."""

    HANDOVER_CHECK = 2.0  # seconds between looks for a daemon

    def __init__(self, conn: Connection, out: Callable[[str], None]):
        self.conn = conn
        self.runtime_name = conn.settings.runtime
        self.say = out
        self.agents: AgentSet | None = None
        self.runtime: ContainerRuntime | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._monitor: threading.Thread | None = None

    def start(self) -> None:
        try:
            self.runtime = open_runtime(self.conn.settings)
            self.agents = AgentSet(self.conn.client, self.conn.settings, self.runtime).start()
        except Exception as err:  # no Podman here: apply anyway, say why nothing runs
            self.say(f"agents not started ({self.runtime_name}): {err}; applying only")
            self.stop()
            return
        self.say(f"agents running in this process (kubelet on {self.runtime_name}, scheduler, "
                 "controllers)")
        self._monitor = threading.Thread(target=self._watch_for_daemon, daemon=True,
                                         name="gitkube-watch-handover")
        self._monitor.start()

    def _watch_for_daemon(self) -> None:
        from gitkube.daemon.client import daemon_for

        while not self._stop.wait(self.HANDOVER_CHECK):
            try:
                info = daemon_for(self.conn.settings)
            except Exception:  # a half-written daemon.json: look again later
                continue
            if info is not None:
                self.say(f"a daemon now serves this store (pid {info.pid}): its agents take "
                         "over; stopped the agents of this process")
                self._stop_agents()
                return

    def _stop_agents(self) -> None:
        with self._lock:
            agents, runtime = self.agents, self.runtime
            self.agents = self.runtime = None
        if agents is not None:
            agents.stop()
        if runtime is not None:
            runtime.close()

    def stop(self) -> None:
        self._stop.set()
        if self._monitor is not None and self._monitor is not threading.current_thread():
            self._monitor.join(5)
        self._stop_agents()


@dataclass(frozen=True)
class WatchOptions:
    """What a watch is told: seconds of quiet before a change is reconciled (``debounce``)
    and between full reconciles (``interval``, 0: none), the command run after each apply
    (``notify``), whether it prunes, may delete every object (``allow_empty``) or many at
    once without a second look (``allow_large_prune``; ``prune_safety`` says how many is
    many), and the author it records."""

    debounce: float = 0.2
    interval: float = 30.0
    notify: str | None = None
    prune: bool = True
    allow_empty: bool = False
    allow_large_prune: bool = False
    prune_safety: PruneSafety = field(default_factory=PruneSafety)
    author: str = "gitkube-watch"


class WatchLoop:
    """See the module docstring."""

    def __init__(self, path: Path, conn: Connection, *, out: TextIO,
                 options: WatchOptions = WatchOptions(), repo: RepoConfig | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.repo = repo  # a deploy repository: reconcile its branch's tip, not files
        self.path = repo.manifest_dir() if repo is not None else Path(os.path.abspath(path))
        self.conn = conn
        self.out = out
        self.debounce = options.debounce
        self.interval = options.interval
        self.notify = options.notify
        self.allow_large_prune = options.allow_large_prune
        self.prune_safety = options.prune_safety
        self.how = ApplyOptions(store_url=conn.store_url, prune=options.prune,
                                allow_empty=options.allow_empty, cache_dir=conn.cache_dir)
        self.clock = clock
        self.author = options.author
        self.git_dir = repo.git_dir if repo is not None else find_git_dir(self.path)
        self.stop_event = threading.Event()
        self.triggers = Triggers()
        self._threads: list[threading.Thread] = []
        self._watched: set[tuple[str, str]] = set()
        self._own_revisions: set[int] = set()
        self._source_id: str | None = None
        self._kinds: set[tuple[str, str]] = set()
        self._live = False
        self._good: tuple[list[Desired], SourceInfo] | None = None  # the last valid state
        self._settling: dict[str, float] = {}  # file being written -> when first seen so
        self._held: frozenset[ObjectRef] | None = None  # deletions waiting for a second look
        self._last_problem: tuple[str | None, ...] = ()
        self._lock = threading.Lock()
        self.results: list[SyncResult] = []

    # -- output

    def say(self, text: str) -> None:
        with self._lock:
            for line in text.splitlines():
                self.out.write(f"{_stamp()} {line}\n")
            self.out.flush()

    # -- the worker

    def _repo_lock(self) -> contextlib.AbstractContextManager[None]:
        return repo_lock(self.repo.git_dir) if self.repo is not None \
            else contextlib.nullcontext()

    def _target(self) -> tuple[Target | None, str]:
        """What to reconcile now, and the author to record: the files on disk, or the deploy
        branch's tip (None, said once, while the branch does not exist)."""
        if self.repo is None:
            return Target(self.path), self.author
        head = branch_head(self.repo)
        if head is None:
            self.say(f"{self.repo.git_dir} has no branch {self.repo.branch} yet; waiting for "
                     "a push")
            return None, self.author
        return repo_target(self.repo, head), commit_author(self.repo.git_dir, head)

    def _later(self, delay: float, trigger: Trigger) -> None:
        timer = threading.Timer(delay, self.triggers.add, args=(trigger,))
        timer.daemon = True
        timer.start()

    def _in_progress(self, desired: list[Desired]) -> bool:
        """Whether a file that gave objects is empty now while it still exists: then look
        again shortly instead of pruning (gitops/safety.py), until SETTLE_BOUND."""
        if self.repo is not None or self._good is None:
            return False
        files = files_in_progress(self._good[0], desired, lambda f: (self.path / f).exists())
        now = self.clock()
        self._settling = {f: self._settling.get(f, now) for f in files}
        waiting = [f for f, since in self._settling.items() if now - since < SETTLE_BOUND]
        if not waiting:
            self._settling = {}
            return False
        if any(self._settling[f] == now for f in waiting):  # said once per file
            self.say(f"{', '.join(waiting)}: no objects now; waiting for it to be written "
                     f"(up to {SETTLE_BOUND:g}s; nothing is deleted meanwhile)")
        self._later(SETTLE_STEP, Trigger("file", f"settling: {', '.join(waiting)}"))
        return True

    def _hold_prune(self, plan: Plan) -> str | None:
        """Hold a large prune back until a second look sees the same deletions (or
        --allow-large-prune); None lets it through."""
        deleting = frozenset(c.ref for c in plan.actionable if c.action is Action.DELETE)
        large = self.prune_safety.large(len(deleting), plan.owned_count)
        if large is None or self.allow_large_prune or confirmed(self._held, deleting):
            self._held = None
            return None
        self._held = deleting
        self._later(CONFIRM_DELAY, Trigger("file", "confirming a large prune"))
        return (f"{large}: applied once a second look sees them too (in {CONFIRM_DELAY:g}s); "
                "--allow-large-prune applies them at once")

    def sync(self, triggers: list[Trigger]) -> SyncResult | None:
        """One reconcile for a batch of triggers: report it, record it, notify."""
        drift = [t for t in triggers if t.kind == "drift"]
        reason = ", ".join(sorted({t.text for t in triggers if t.kind != "drift"}))
        if drift:
            reason = ", ".join(filter(None, [reason, "drift"]))
        with self._repo_lock():  # one reconcile at a time with the repository's hooks
            target, author = self._target()
            if target is None:
                return None
            trigger = reason or "change"
            read = read_target(target, author=author, trigger=trigger,
                               options=self.conn.source_options)
            if isinstance(read, SyncResult):
                result = read
            else:
                desired, source = read
                if self._in_progress(desired):
                    return None
                result = apply_desired(self.conn.client, desired, source, self.how,
                                       author=author, trigger=trigger,
                                       hold_prune=self._hold_prune)
        background = all(t.kind in ("drift", "interval") for t in triggers)
        self._finish(result, drift, background)
        if result.outcome == INVALID and drift and self._good is not None:
            # The files are invalid right now, but the cluster drifted from the last good
            # state, which stays the desired state until the files are valid again.
            desired, source = self._good
            healed = apply_desired(self.conn.client, desired, source, self.how,
                                   author=self.author, trigger="drift (last good state)")
            self._finish(healed, drift, True, last_good=True)
        return result

    def _finish(self, result: SyncResult, drift: list[Trigger], background: bool, *,
                last_good: bool = False) -> None:
        self.results.append(result)
        if result.store_revision is not None:
            self._own_revisions.add(result.store_revision)
        # the same problem found again by a background trigger is not news
        problem = (result.outcome, result.error, *(d.render() for d in result.diagnostics))
        repeated = not result.ok and problem == self._last_problem
        if not last_good:
            self._last_problem = () if result.ok else problem
        quiet = background and (result.outcome == UNCHANGED or repeated)
        if not quiet:
            self._report(result, drift, last_good)
        if not last_good:
            self._record(result)
        if result.outcome != UNCHANGED and not quiet:
            state.notify(self.notify, result, self.out)
        self._remember(result, last_good)

    def _report(self, result: SyncResult, drift: list[Trigger], last_good: bool) -> None:
        """Print the result, after the drift it heals."""
        if drift and result.outcome == APPLIED and result.plan is not None:
            changed = {display(c.ref) for c in result.plan.actionable}
            what = "the last good state (the files are invalid now)" if last_good \
                else "git's version"
            for text in sorted({t.text for t in drift if t.subject in changed}):
                self.say(f"drift: {text}; re-applying {what}")
        lines = render_lines(result)
        lines[0] = f"{lines[0]} [{result.trigger}]"
        self.say("\n".join(lines))

    def _record(self, result: SyncResult) -> None:
        """Record the result as the sync state of what this loop watches."""
        if self.repo is None:
            state.record(self.conn.client, result, mode="watch",
                         target={"path": str(self.path)})
        else:
            state.record(self.conn.client, result, mode="push", target={
                "repository": str(self.repo.git_dir), "branch": self.repo.branch,
                "path": self.repo.path})

    def _remember(self, result: SyncResult, last_good: bool) -> None:
        """Keep what later syncs and the drift watches need: the last good state, the
        source and the kinds it applies (watched from now on)."""
        if result.ok and result.desired is not None and result.source is not None \
                and not last_good:
            self._good = (result.desired, result.source)
        if result.source is not None:
            self._source_id = result.source.id
        if result.plan is not None:
            self._kinds = {(c.ref.api_version, c.ref.kind) for c in result.plan.changes
                           if c.action is not Action.DELETE}
            if self._live:
                self._watch_kinds(self._kinds)

    def run(self, *, once: bool = False) -> int:
        """Reconcile now; with ``once`` return (0 when in sync or applied, 1 otherwise), else
        keep reconciling on every trigger until ``stop()``; returns 0."""
        if once:
            first = self.sync([Trigger("start", "start")])
            return 0 if first is not None and first.ok else 1
        # files first: an edit saved during the first reconcile triggers the next one
        self._start_thread(self._files, "gitkube-watch-files")
        self.sync([Trigger("start", "start")])
        self._live = True
        self._watch_kinds(self._kinds)
        if self.interval > 0:
            self._start_thread(self._ticker, "gitkube-watch-interval")
        watching = f"watching {self.path}"
        if self.repo is not None:
            watching = f"watching branch {self.repo.branch} of {self.repo.git_dir}"
        elif self.git_dir is not None:
            watching += " and the git HEAD"
        every = f"full reconcile every {self.interval:g}s" if self.interval > 0 \
            else "no periodic reconcile"
        self.say(f"{watching}; drift in the store heals; {every}. Ctrl-C stops (the cluster "
                 "stays as it is).")
        while not self.stop_event.is_set():
            batch = self.triggers.take(self.debounce)
            if batch is None:
                break
            batch = [t for t in batch
                     if not (t.kind == "drift" and t.revision in self._own_revisions)]
            if batch:
                self.sync(batch)
        return 0

    def stop(self) -> None:
        self.stop_event.set()
        self.triggers.close()

    def join(self, timeout: float = 5.0) -> None:
        for t in self._threads:
            t.join(timeout)

    def _start_thread(self, target: Callable[..., None], name: str, *args: Any) -> None:
        t = threading.Thread(target=target, args=args, name=name, daemon=True)
        t.start()
        self._threads.append(t)

    # -- trigger sources

    def _ticker(self) -> None:
        while not self.stop_event.wait(self.interval):
            self.triggers.add(Trigger("interval", "interval"))

    def _file_filter(self, _change: object, raw: str) -> bool:
        path = Path(raw)
        if self.git_dir is not None and path.is_relative_to(self.git_dir):
            rel = path.relative_to(self.git_dir).as_posix()
            if rel.endswith(".lock"):
                return False
            if self.repo is not None:
                return rel in ("packed-refs", self.repo.ref)
            return rel in ("HEAD", "packed-refs") or rel.startswith("refs/heads/")
        if not path.is_relative_to(self.path):
            return False
        rel_parts = path.relative_to(self.path).parts
        if any(p.startswith(".") for p in rel_parts):
            return False
        return not path.name.endswith(_EDITOR_SUFFIXES) and path.name != "4913"

    def _files(self) -> None:
        import watchfiles

        paths = [self.path] if self.repo is None else []
        if self.git_dir is not None and not (paths and self.git_dir.is_relative_to(self.path)):
            paths.append(self.git_dir)
        try:
            for changes in watchfiles.watch(*paths, watch_filter=self._file_filter,
                                            stop_event=self.stop_event, step=20,
                                            rust_timeout=1000, raise_interrupt=False):
                names = sorted({c[1] for c in changes})
                git = [n for n in names if self.git_dir is not None
                       and Path(n).is_relative_to(self.git_dir)]
                files = [os.path.relpath(n, self.path) for n in names if n not in git]
                shown_files = [f for f in files if is_manifest(f)] or files
                if git and self.repo is not None:
                    # a push: post-receive applies it and prints the plan into the push; look
                    # a little later (a ref moved by other means, a fetch, is applied then)
                    timer = threading.Timer(PUSH_GRACE, self.triggers.add,
                                            args=(Trigger("git", f"{self.repo.branch} moved"),))
                    timer.daemon = True
                    timer.start()
                elif git:
                    self.triggers.add(Trigger("git", "git HEAD moved"))
                if files:
                    shown = ", ".join(shown_files[:3]) + (
                        f" +{len(shown_files) - 3}" if len(shown_files) > 3 else "")
                    self.triggers.add(Trigger("file", f"changed: {shown}"))
        except Exception as err:  # the directory vanished, inotify limits: say it, keep
            if not self.stop_event.is_set():  # the interval and drift triggers running
                self.say(f"file watch stopped: {err}")

    def _watch_kinds(self, kinds: set[tuple[str, str]]) -> None:
        for api_version, kind in sorted(kinds - self._watched):
            self._watched.add((api_version, kind))
            if self._source_id is not None:
                self._start_thread(self._drift, f"gitkube-watch-{kind}", api_version, kind,
                                   self._source_id)

    def _drift(self, api_version: str, kind: str, source_id: str) -> None:
        selector = {ann.SOURCE_ID: source_id}
        client = self.conn.client
        while not self.stop_event.is_set():
            try:
                listed = client.list(api_version, kind, label_selector=selector)
                seen = {self._key(o): fingerprint(o) for o in listed.items}
                with client.watch(api_version, kind, resource_version=listed.resource_version,
                                  label_selector=selector) as watcher:
                    while not self.stop_event.is_set():
                        event = watcher.next_event(0.5)
                        if event is not None:
                            self._on_event(kind, event.type, event.object, seen)
            except Gone:
                continue  # relist, then watch from there
            except Exception as err:  # the daemon went away, say: keep trying
                message = err.message if isinstance(err, GitkubeError) else repr(err)
                if not self.stop_event.is_set():
                    self.say(f"watch of {kind} failed: {message}; retrying")
                self.stop_event.wait(2.0)

    @staticmethod
    def _key(obj: dict[str, Any]) -> str:
        meta = obj.get("metadata") or {}
        ns = meta.get("namespace")
        return f"{ns}/{meta.get('name')}" if ns else str(meta.get("name"))

    def _on_event(self, kind: str, type_: str, obj: dict[str, Any],
                  seen: dict[str, str]) -> None:
        key = self._key(obj)
        subject = f"{kind} {key}"
        try:
            revision: int | None = int(str((obj.get("metadata") or {})["resourceVersion"]))
        except (KeyError, TypeError, ValueError):
            revision = None
        if type_ == "DELETED":
            seen.pop(key, None)
            self.triggers.add(Trigger("drift", f"{subject} was deleted outside git",
                                      revision, subject))
            return
        digest = fingerprint(obj)
        before = seen.get(key)
        seen[key] = digest
        if type_ == "MODIFIED" and before is not None and before != digest:
            self.triggers.add(Trigger("drift", f"{subject} was changed outside git",
                                      revision, subject))
