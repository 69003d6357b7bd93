"""`gitkube watch`: keep the cluster equal to a manifest directory (gitkube/gitops/watch.py)."""

from __future__ import annotations

import dataclasses
import signal
import sys
from enum import StrEnum
from pathlib import Path
from types import FrameType

import typer

from gitkube.cli.app import STORE_HELP, app, settings


class Agents(StrEnum):
    auto = "auto"
    podman = "podman"
    simulated = "simulated"
    none = "none"


@app.command()
def watch(
    path: Path = typer.Argument(Path("."), help="Manifest directory (in a git work tree or "
                                                "not), or a deploy repository (repo init)."),
    store: str | None = typer.Option(None, "--store", envvar="GITKUBE_STORE", help=STORE_HELP),
    interval: float = typer.Option(30.0, "--interval",
                                   help="Seconds between full reconciles (0: none)."),
    once: bool = typer.Option(False, "--once", help="Reconcile once and exit (1 when the "
                                                    "manifests are invalid or apply fails)."),
    debounce: int = typer.Option(200, "--debounce", help="Milliseconds of quiet before a "
                                                         "change is reconciled."),
    notify: str | None = typer.Option(None, "--notify-command",
                                      help="Shell command run after each apply (or refused "
                                           "change), JSON summary on stdin."),
    agents: Agents = typer.Option(
        Agents.auto, "--agents",
        help="Without a daemon, run the agents here: kubelet on podman (auto), on the "
             "simulated runtime, or none (apply only)."),
    prune: bool = typer.Option(True, "--prune/--no-prune",
                               help="Delete objects of this source that are gone from git."),
    allow_empty: bool = typer.Option(False, "--allow-empty",
                                     help="Allow deleting every object when git is empty."),
    allow_large_prune: bool = typer.Option(
        False, "--allow-large-prune",
        help="Delete many objects at once without a second look (more than 10, or more "
             "than half of what this source owns, otherwise waits to be seen twice)."),
) -> None:
    """Keep the cluster equal to PATH: validate, plan and apply on every change.

    Changes are files saved, a commit or checkout, an owned object changed or deleted in
    the store (drift), and every --interval. Invalid manifests apply nothing. Without a
    daemon the agents run in this process; Ctrl-C leaves the cluster as it is."""
    from gitkube.gitops.connect import connect
    from gitkube.gitops.repo import is_bare, read_config
    from gitkube.gitops.watch import EmbeddedAgents, WatchLoop, WatchOptions

    current = settings()
    repo = None
    if is_bare(path):  # a deploy repository: keep its branch's tip applied (drift heals)
        repo = read_config(path, current)
        # the daemon and caches the repository's hooks use
        current = dataclasses.replace(current, state_dir=Path(repo.state_dir))
        store = store or repo.store
        notify = notify if notify is not None else repo.notify
        allow_empty = allow_empty or repo.allow_empty
    if agents is Agents.simulated:
        current = dataclasses.replace(current, runtime="simulated")
    conn = connect(current.with_store(store))
    options = WatchOptions(debounce=debounce / 1000.0, interval=interval, notify=notify,
                           prune=prune, allow_empty=allow_empty,
                           allow_large_prune=allow_large_prune, author=current.author)
    loop = WatchLoop(path, conn, out=sys.stdout, options=options, repo=repo)
    if once:
        raise typer.Exit(loop.run(once=True))

    def stop(_sig: int, _frame: FrameType | None) -> None:
        loop.stop()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    runner: EmbeddedAgents | None = None
    if conn.daemon:
        loop.say("using the running daemon (its agents converge what is applied)")
    elif agents is not Agents.none:
        runner = EmbeddedAgents(conn, loop.say)
        runner.start()
    try:
        loop.run()
    finally:
        loop.stop()
        if runner is not None:
            runner.stop()
        loop.join()
        loop.say("stopped; the cluster stays as it is (containers keep running)")
