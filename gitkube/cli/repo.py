"""`gitkube repo init` (a deploy repository whose pushes reconcile) and its hooks' entry."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

from gitkube.cli.app import STORE_HELP, app, settings
from gitkube.errors import UsageError

repo_app = typer.Typer(help="Deploy repositories: git push validates and reconciles.",
                       no_args_is_help=True)
app.add_typer(repo_app, name="repo")


@repo_app.command("init")
def init(
    path: Path = typer.Argument(..., help="The bare repository to create or configure "
                                          "(e.g. deploy.git)."),
    branch: str | None = typer.Option(None, "--branch", "-b",
                                      help="The branch that deploys (default main)."),
    store: str | None = typer.Option(None, "--store", envvar="GITKUBE_STORE", help=STORE_HELP),
    manifest_path: str | None = typer.Option(
        None, "--path", help="Manifest directory inside the repository (default: the top)."),
    notify: str | None = typer.Option(
        None, "--notify-command",
        help="Shell command run after each apply, JSON summary on stdin ('' removes it)."),
    wait: float | None = typer.Option(
        None, "--wait", help="Seconds post-receive waits for the objects to converge "
                             "(default 0: apply and return)."),
    source: str | None = typer.Option(
        None, "--source", help="Source identity for ownership (default: the repository "
                               "path, which a clone made from that path also reports)."),
    force: bool = typer.Option(False, "--force", help="Replace hooks gitkube did not write."),
) -> None:
    """Create or re-configure a deploy repository: pushes validated, BRANCH applied.

    pre-receive rejects a push whose manifests are invalid (diagnostics in the pusher's
    terminal); post-receive plans and applies BRANCH's new tip and prints the plan into the
    push. Other branches are validated only. Settings live in the repository's git config
    (gitkube.*); see docs/GITOPS.md."""
    from gitkube.gitops.repo import RepoChanges, init_repo

    changes = RepoChanges(branch=branch, store=store, path=manifest_path, notify=notify,
                          source=source, wait=wait)
    cfg, created = init_repo(path, settings(), changes, force=force)
    verb = "Created" if created else "Configured"
    typer.echo(f"{verb} {cfg.git_dir}")
    typer.echo(f"  deploys:   {cfg.branch} ({cfg.path}) -> {cfg.store}")
    typer.echo("  validates: every other branch (a push of invalid manifests is rejected)")
    if cfg.notify:
        typer.echo(f"  notify:    {cfg.notify}")
    typer.echo(f"\nPush to it: git remote add deploy {cfg.git_dir} && "
               f"git push deploy {cfg.branch}")


@repo_app.command("sync")
def sync(
    path: Path = typer.Argument(..., help="The deploy repository (made by `repo init`)."),
) -> None:
    """Apply the deploy branch's tip now, as post-receive does.

    For a retry after a failed apply, or to heal drift of a pushed source: plan, apply,
    print, notify."""
    from gitkube.gitops.repo import ZERO, RefUpdate, branch_head, post_receive, read_config

    current = settings()
    cfg = read_config(path, current)
    head = branch_head(cfg)
    if head is None:
        raise UsageError(f"{cfg.git_dir} has no branch {cfg.branch} yet",
                         hint=f"push it first: git push {cfg.git_dir} {cfg.branch}")
    raise typer.Exit(post_receive(cfg.git_dir, [RefUpdate(ZERO, head, cfg.ref)], sys.stdout,
                                  current, trigger="repo sync"))


@repo_app.command("hook", hidden=True)
def hook(name: str = typer.Argument(..., help="pre-receive or post-receive")) -> None:
    """What the repository's hooks run (git passes the ref updates on stdin)."""
    from gitkube.gitops.repo import parse_updates, post_receive, pre_receive

    git_dir = Path(os.path.abspath(os.environ.get("GIT_DIR") or "."))
    # git passes GIT_DIR=".": the git processes gitkube runs from elsewhere need it absolute
    os.environ["GIT_DIR"] = str(git_dir)
    updates = parse_updates(sys.stdin.read())
    if name == "pre-receive":
        code = pre_receive(git_dir, updates, sys.stderr, settings())
    elif name == "post-receive":
        code = post_receive(git_dir, updates, sys.stderr, settings())
    else:
        raise UsageError(f"unknown hook {name!r}", hint="pre-receive or post-receive")
    raise typer.Exit(code)


@app.command("sync-status")
def sync_status(
    store: str | None = typer.Option(None, "--store", envvar="GITKUBE_STORE", help=STORE_HELP),
    output: str = typer.Option("text", "--output", "-o", help="text or json."),
) -> None:
    """Show each GitOps source: synced / out of sync / degraded, last apply, last error.

    Exit 1 when any source is not synced. `gitkube status` shows the same below the
    daemon's state."""
    import json

    from gitkube.gitops.connect import connect
    from gitkube.gitops.status import SYNCED, gitops_status, render_status

    statuses = gitops_status(connect(settings(store)))
    if output == "json":
        typer.echo(json.dumps([s.to_json() for s in statuses], indent=2))
    else:
        typer.echo(render_status(statuses), nl=False)
    if any(s.state != SYNCED for s in statuses):
        raise typer.Exit(1)
