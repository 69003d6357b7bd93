"""The deploy repository: a bare git repository whose hooks validate and reconcile pushes.

``init_repo`` creates (or re-configures) the repository and writes two hooks:

- **pre-receive** validates the manifests of every pushed branch tip (read straight from the
  pushed commit in git's quarantine, no work tree) and refuses the whole push, diagnostics
  in the pusher's terminal, when any is invalid;
- **post-receive** reconciles the configured branch's new tip — plan and apply through the
  api (the daemon's when one runs, else the store directly; no waiting for pods unless
  ``gitkube.wait`` asks for it) — and prints the plan and its result into ``git push``'s
  output. Other branches are validated only.

Configuration lives in the repository's git config (``gitkube.*``, see ``KEYS``); the hooks
are small shell scripts that set a minimal environment and exec the gitkube that ran
``repo init``, by absolute path, so they work under ``env -i``.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from gitkube.errors import GitkubeError, UsageError
from gitkube.gitops.sync import (
    APPLIED,
    INVALID,
    UNCHANGED,
    ApplyOptions,
    SyncResult,
    Target,
    render_lines,
    short,
    sync_once,
)
from gitkube.plan.model import SourceInfo
from gitkube.procenv import child_env
from gitkube.settings import Settings
from gitkube.source.loader import SourceOptions
from gitkube.statedir import secure_dir

if TYPE_CHECKING:
    from gitkube.gitops.connect import Connection

ZERO = "0" * 40
MARKER = "# gitkube-hook"
HOOKS = ("pre-receive", "post-receive")
# git config keys of a deploy repository (section gitkube)
KEYS = {
    "branch": "the branch that deploys (others are validated only)",
    "path": "the manifest directory inside the repository ('.' for the top)",
    "store": "the store URL applies go to",
    "stateDir": "gitkube's state directory (caches) for the hooks",
    "notify": "a shell command run after each apply with the JSON summary on stdin",
    "source": "the source identity (ownership of applied objects); default: the path",
    "wait": "seconds post-receive waits for the applied objects to converge (default 0)",
    "allowEmpty": "true: a deploy-branch commit without objects may delete everything",
}


@dataclass(frozen=True)
class RepoConfig:
    git_dir: Path
    branch: str
    path: str
    store: str
    state_dir: str
    notify: str | None
    source: str
    wait: float
    allow_empty: bool = False
    # what the hooks run with: the caller's settings, with this repository's store and the
    # state directory captured at ``repo init`` (its daemon, its caches)
    settings: Settings | None = None

    @property
    def hook_settings(self) -> Settings:
        assert self.settings is not None, "read_config sets it"
        return self.settings

    @property
    def ref(self) -> str:
        return f"refs/heads/{self.branch}"

    def manifest_dir(self) -> Path:
        return self.git_dir if self.path in ("", ".") else self.git_dir / self.path


def _git(git_dir: Path, *args: str, check: bool = True) -> str:
    env = child_env(drop=("GIT_DIR",))
    proc = subprocess.run(["git", "--git-dir", str(git_dir), *args], capture_output=True,
                          text=True, env=env, check=False)
    if check and proc.returncode != 0:
        raise GitkubeError(f"git {' '.join(args)} failed: {proc.stderr.strip()}",
                           hint=f"is {git_dir} a git repository?")
    return proc.stdout.strip()


def _config_get(git_dir: Path, key: str) -> str | None:
    value = _git(git_dir, "config", "--get", f"gitkube.{key}", check=False)
    return value or None


def read_config(git_dir: Path, settings: Settings) -> RepoConfig:
    """The ``gitkube.*`` settings of a deploy repository, with their defaults (the store
    and state directory of ``settings``)."""
    git_dir = Path(os.path.abspath(git_dir))
    wait = _config_get(git_dir, "wait") or "0"
    try:
        wait_s = float(wait)
    except ValueError:
        wait_s = 0.0
    store = _config_get(git_dir, "store") or settings.store_url
    state_dir = _config_get(git_dir, "stateDir") or str(settings.state_dir)
    return RepoConfig(
        git_dir=git_dir,
        branch=_config_get(git_dir, "branch") or "main",
        path=(_config_get(git_dir, "path") or ".").strip("/") or ".",
        store=store,
        state_dir=state_dir,
        settings=replace(settings, store=store, state_dir=Path(state_dir)),
        notify=_config_get(git_dir, "notify"),
        source=_config_get(git_dir, "source") or str(git_dir),
        wait=wait_s,
        allow_empty=(_config_get(git_dir, "allowEmpty") or "").lower() in ("true", "yes", "1"),
    )


def gitkube_command() -> list[str]:
    """How the hooks run this gitkube: the ``gitkube`` script next to the running Python (a
    virtualenv's bin/), else the one on PATH, else this Python with the module."""
    beside = Path(sys.executable).parent / "gitkube"
    if beside.is_file() and os.access(beside, os.X_OK):
        return [str(beside.absolute())]
    found = shutil.which("gitkube")
    if found:
        return [os.path.abspath(found)]
    return [os.path.abspath(sys.executable), "-m", "gitkube.cli.main"]


def hook_script(name: str) -> str:
    """The hook's shell script: a minimal environment, then exec gitkube's handler (stdin,
    the ref updates, passes through)."""
    command = " ".join(shlex.quote(part) for part in gitkube_command())
    git = shutil.which("git")
    dirs = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]
    if git and os.path.dirname(git) not in dirs:
        dirs.insert(0, os.path.dirname(git))
    home = str(Path.home())
    return f"""#!/bin/sh
{MARKER}: {name}. Written by `gitkube repo init`; run it again to update, not by hand.
# git may run hooks with almost no environment (env -i): set what gitkube needs.
: "${{HOME:={shlex.quote(home)}}}"
PATH="{':'.join(dirs)}${{PATH:+:$PATH}}"
export HOME PATH
exec {command} repo hook {name}
"""


def _is_bare(path: Path) -> bool:
    proc = subprocess.run(["git", "--git-dir", str(path), "rev-parse", "--is-bare-repository"],
                          capture_output=True, text=True, check=False,
                          env=child_env(drop=("GIT_DIR",)))
    return proc.returncode == 0 and proc.stdout.strip() == "true"


@dataclass(frozen=True)
class RepoChanges:
    """What ``repo init`` sets in a deploy repository's configuration (RepoConfig says what
    each means; ``path`` is the manifest directory). None keeps the configured value (or the
    default); ``notify=""`` removes the notify command."""

    branch: str | None = None
    store: str | None = None
    path: str | None = None
    notify: str | None = None
    source: str | None = None
    wait: float | None = None


def init_repo(path: Path, settings: Settings, changes: RepoChanges = RepoChanges(), *,
              force: bool = False) -> tuple[RepoConfig, bool]:
    """Create the bare repository at ``path`` (or re-configure it) with ``changes``, write
    the hooks; return its configuration and whether it was created."""
    branch, store, manifest_path = changes.branch, changes.store, changes.path
    notify, source, wait = changes.notify, changes.source, changes.wait
    path = Path(os.path.abspath(path))
    created = False
    if not path.exists() or (path.is_dir() and not any(path.iterdir())):
        path.mkdir(parents=True, exist_ok=True)
        _git(path, "init", "--bare", "-q", f"--initial-branch={branch or 'main'}")
        created = True
    elif not _is_bare(path):
        raise UsageError(f"{path} exists and is not a bare git repository",
                         hint="give a new path (e.g. deploy.git) or an existing bare repository")
    for name in HOOKS:
        hook = path / "hooks" / name
        if hook.exists() and MARKER not in hook.read_text(errors="replace") and not force:
            raise UsageError(f"{hook} exists and was not written by gitkube",
                             hint="move it away, or pass --force to replace it")
    current = read_config(path, settings)
    values = {
        "branch": branch or current.branch,
        "path": (manifest_path if manifest_path is not None else current.path).strip("/")
        or ".",
        "store": store or current.store,
        "stateDir": str(settings.state_dir.absolute()),
        "source": source or current.source,
    }
    if wait is not None:
        values["wait"] = f"{wait:g}"
    for key, value in values.items():
        _git(path, "config", f"gitkube.{key}", value)
    if notify is not None:
        if notify:
            _git(path, "config", "gitkube.notify", notify)
        else:
            _git(path, "config", "--unset-all", "gitkube.notify", check=False)
    for name in HOOKS:
        hook = path / "hooks" / name
        hook.parent.mkdir(exist_ok=True)
        tmp = hook.with_name(f".{name}.{os.getpid()}")
        tmp.write_text(hook_script(name))
        tmp.chmod(0o755)
        os.replace(tmp, hook)
    return read_config(path, settings), created


# --- the hooks ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RefUpdate:
    old: str
    new: str
    ref: str


def parse_updates(text: str) -> list[RefUpdate]:
    """git's hook input: one ``<old> <new> <ref>`` per line."""
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3:
            out.append(RefUpdate(*parts))
    return out


def source_info(cfg: RepoConfig, commit: str) -> SourceInfo:
    """The identity of the deploy repository's manifests at ``commit``
    (``plan.sourceinfo.describe`` of a bare repository: named by ``gitkube.source``, else by
    the repository's path, which is also the origin URL of a clone made from that path, so a
    clone's ``gitkube plan`` sees the same ownership)."""
    from gitkube.plan.sourceinfo import describe

    return describe(cfg.manifest_dir(), commit)


def repo_target(cfg: RepoConfig, commit: str) -> Target:
    """What post-receive reconciles: the manifests of ``commit`` in the repository."""
    return Target(cfg.manifest_dir(), commit, source_info(cfg, commit),
                  shown="" if cfg.path == "." else cfg.path)


def pre_receive(git_dir: Path, updates: list[RefUpdate], out: TextIO,
                settings: Settings) -> int:
    """Validate every pushed branch tip; 1 (git refuses the whole push) when any is invalid,
    or when the deploy branch would empty the cluster (``gitkube.allowEmpty`` permits it)."""
    cfg = read_config(git_dir, settings)
    secure_dir(cfg.hook_settings.state_dir)  # the hooks' state (store, caches) is private
    refused = 0
    for update in updates:
        if not update.ref.startswith("refs/heads/"):
            continue
        if update.new == ZERO:
            if update.ref == cfg.ref:
                out.write(f"gitkube: deleting {cfg.branch} deploys nothing; the cluster stays "
                          "as it is\n")
            continue
        refused += not _check_update(cfg, update, out)
    out.flush()
    return 1 if refused else 0


def _check_update(cfg: RepoConfig, update: RefUpdate, out: TextIO) -> bool:
    """Whether one pushed branch tip may land; the reasons when not go to ``out``."""
    from gitkube.validate import validate

    branch = update.ref[len("refs/heads/"):]
    head = f"gitkube: {branch} {short(update.new)}"
    deploys = update.ref == cfg.ref
    if cfg.path != "." and not deploys and _git(
            cfg.git_dir, "cat-file", "-t", f"{update.new}:{cfg.path}", check=False) != "tree":
        out.write(f"{head}: no {cfg.path}/ on this branch; nothing to validate\n")
        return True
    try:
        report = validate(cfg.manifest_dir(), update.new,
                          options=SourceOptions.of(cfg.hook_settings))
    except GitkubeError as err:
        out.write(f"{head}: cannot read the manifests: {err.render()}; push rejected\n")
        return False
    if report.valid:
        if deploys and report.documents == 0 and not _empty_allowed(cfg, update.new, out):
            return False
        role = "deploys" if deploys else "validated only"
        out.write(f"{head}: {report.documents} documents in {report.files} files valid "
                  f"({role})\n")
        return True
    errors = sum(1 for d in report.diagnostics if d.severity == "error")
    out.write(f"{head}: {errors} error(s) in {cfg.path}; push rejected:\n")
    prefix = "" if cfg.path == "." else cfg.path + "/"
    for diag in report.diagnostics:
        text = diag.render()
        if diag.file and prefix:
            text = prefix + text
        out.write("".join(f"  {line}\n" for line in text.splitlines()))
    if deploys:
        _record_rejection(cfg, update.new, report.diagnostics)
    return False


def _empty_allowed(cfg: RepoConfig, commit: str, out: TextIO) -> bool:
    """A deploy-branch commit without objects would delete everything the repository
    deployed: refused unless ``gitkube.allowEmpty`` is true (a broken commit must not wipe
    the cluster)."""
    from gitkube.gitops.connect import connect
    from gitkube.plan.build import build_plan

    if cfg.allow_empty:
        return True
    try:
        conn = connect(cfg.hook_settings)
        plan = build_plan(conn.client, [], source_info(cfg, commit), store_url=cfg.store)
    except GitkubeError:
        return True  # post-receive's apply refuses it too, and says why
    if not plan.empty_desired_guard:
        return True
    out.write(f"gitkube: {cfg.branch} {short(commit)}: {cfg.path} holds no objects; applying "
              f"it would delete all {plan.owned_count} objects this repository deployed. "
              "Push rejected (git config gitkube.allowEmpty true permits it)\n")
    return False


def _record_rejection(cfg: RepoConfig, commit: str, diagnostics: list[Any]) -> None:
    """Keep the rejected push as the source's last error (``gitkube status``); best effort."""
    from gitkube.gitops import state
    from gitkube.gitops.connect import connect
    from gitkube.plan.history import now_iso

    result = SyncResult(INVALID, "push (rejected)", source_info(cfg, commit),
                        error="push rejected: invalid manifests", diagnostics=diagnostics,
                        time=now_iso(), author=commit_author(cfg.git_dir, commit))
    with contextlib.suppress(GitkubeError):
        state.record(connect(cfg.hook_settings).client, result, mode="push", target={
            "repository": str(cfg.git_dir), "branch": cfg.branch, "path": cfg.path})


@contextlib.contextmanager
def repo_lock(git_dir: Path) -> Iterator[None]:
    """Serialize the reconciles of one repository (two pushes in a row) with flock on the
    repository directory itself: the kernel drops it with the process, so a killed hook
    leaves no lock behind (and no lock file)."""
    fd = os.open(git_dir, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def branch_head(cfg: RepoConfig) -> str | None:
    """The commit the deploy branch is at, or None before its first push."""
    return _git(cfg.git_dir, "rev-parse", "--verify", "-q", cfg.ref, check=False) or None


def is_bare(path: Path) -> bool:
    """Whether ``path`` is a bare git repository (what ``repo init`` makes)."""
    return path.is_dir() and _is_bare(path)


def commit_author(git_dir: Path, commit: str) -> str:
    return _git(git_dir, "log", "-1", "--format=%an", commit, check=False) or "unknown"


def deploy(cfg: RepoConfig, commit: str, out: TextIO, *, trigger: str = "push") -> SyncResult:
    """Plan and apply the manifests of ``commit`` (post-receive's work), print the plan and
    result, record the state and run the notify command."""
    from gitkube.gitops import state
    from gitkube.gitops.connect import connect

    conn = connect(cfg.hook_settings)
    author = commit_author(cfg.git_dir, commit)
    with repo_lock(cfg.git_dir):
        how = ApplyOptions(store_url=cfg.store, allow_empty=cfg.allow_empty,
                           cache_dir=conn.cache_dir)
        result = sync_once(conn.client, repo_target(cfg, commit), how,
                           options=conn.source_options, author=author, trigger=trigger)
        state.record(conn.client, result, mode="push", target={
            "repository": str(cfg.git_dir), "branch": cfg.branch, "path": cfg.path})
    where = "the daemon" if conn.daemon else cfg.store
    out.write(f"gitkube: {cfg.branch} {short(commit)} -> {where}\n")
    for line in render_lines(result):
        out.write(f"gitkube: {line}\n")
    out.flush()
    if result.outcome == APPLIED and cfg.wait > 0:
        _wait(conn, result, cfg.wait, out)
    state.notify(cfg.notify, result, out)
    return result


def _wait(conn: Connection, result: SyncResult, timeout: float, out: TextIO) -> None:
    """Bounded wait for the applied objects: the daemon's agents converge them; without a
    daemon the agents run here (kubelet on Podman) for at most ``timeout`` seconds."""
    from gitkube.agents.compose import AgentSet, open_runtime
    from gitkube.agents.converge import PlainProgress, converge, report
    from gitkube.plan.model import Action

    if result.plan is None:
        return
    refs = [c.ref for c in result.plan.actionable if c.action is not Action.DELETE]
    if not refs:
        return
    sink = PlainProgress(out)
    if conn.daemon:
        outcome = converge(conn.client, refs, timeout=timeout, on_progress=sink)
    else:
        runtime = open_runtime(conn.settings, linger=conn.settings.podman_linger)
        try:
            outcome = converge(conn.client, refs, timeout=timeout, on_progress=sink,
                               agents=AgentSet(conn.client, conn.settings, runtime))
        finally:
            runtime.close()
    out.write("".join(f"gitkube: {line}\n" for line in report(outcome).splitlines()))
    out.flush()


def post_receive(git_dir: Path, updates: list[RefUpdate], out: TextIO, settings: Settings,
                 *, trigger: str = "push") -> int:
    """Reconcile the configured branch's new tip; other branches change nothing."""
    cfg = read_config(git_dir, settings)
    secure_dir(cfg.hook_settings.state_dir)
    status = 0
    for update in updates:
        if update.ref == cfg.ref:
            continue
        if update.ref.startswith("refs/heads/") and update.new != ZERO:
            out.write(f"gitkube: {update.ref[len('refs/heads/'):]} is not deployed "
                      f"(only {cfg.branch} is); nothing applied\n")
    mine = [u for u in updates if u.ref == cfg.ref]
    if not mine:
        out.flush()
        return 0
    update = mine[-1]
    if update.new == ZERO:
        out.write(f"gitkube: {cfg.branch} deleted; the cluster stays as it is\n")
        out.flush()
        return 0
    try:
        result = deploy(cfg, update.new, out, trigger=trigger)
    except GitkubeError as err:  # the store cannot be opened, say
        out.write(f"gitkube: {cfg.branch} {short(update.new)}: not applied: "
                  f"{err.render()}\n")
        out.flush()
        return 1
    if result.outcome not in (APPLIED, UNCHANGED):
        status = 1
    return status
