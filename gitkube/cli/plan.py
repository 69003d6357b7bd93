"""`gitkube plan`, `apply`, `history` and `rollback`: parse, call gitkube.plan, render."""

from __future__ import annotations

import dataclasses
import os
import posixpath
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from gitkube.api.client import Client
from gitkube.cli.app import STORE_HELP, app, settings
from gitkube.errors import GitkubeError, NotFound, UsageError, ValidationFailed
from gitkube.plan import planfile
from gitkube.plan.apply import (
    ApplyInterrupted,
    ApplyResult,
    apply_plan,
    no_gc,
    read_history,
)
from gitkube.plan.build import build_plan, fresh_saved_plan, load_desired
from gitkube.plan.history import Entry, render_history
from gitkube.plan.model import Action, Plan
from gitkube.plan.planner import Desired
from gitkube.plan.render import render_json, render_text
from gitkube.plan.sourceinfo import describe
from gitkube.source.loader import SourceOptions

if TYPE_CHECKING:
    from gitkube.agents.converge import Deleted


class Output(StrEnum):
    text = "text"
    json = "json"


def _colour() -> bool:
    return sys.stdout.isatty() and "NO_COLOR" not in os.environ


def _client(store: str | None) -> tuple[Client, str]:
    from gitkube.cli.connect import connect  # the daemon's API when one serves the store

    return connect(store)


def _make_plan(path: Path, revision: str | None, store: str | None, prune: bool,
               *, use_cache: bool = True) -> tuple[Plan, Client]:
    with no_gc():
        desired = load_desired_or_report(path, revision)
    source = describe(path, revision)
    client, url = _client(store)
    the_plan = build_plan(client, desired, source, store_url=url, prune=prune,
                          cache_dir=settings().cache_dir if use_cache else None)
    return the_plan, client


def load_desired_or_report(path: Path, revision: str | None) -> list[Desired]:
    """The desired objects; on invalid manifests every diagnostic goes to stderr first."""
    try:
        return load_desired(path, revision, options=SourceOptions.of(settings()))
    except ValidationFailed as err:
        prefix = path.as_posix()
        for diag in err.diagnostics:
            if diag.file and prefix not in (".", ""):
                diag = dataclasses.replace(diag, file=posixpath.join(prefix, diag.file))
            typer.echo(diag.render(), err=True)
        raise


@app.command()
def plan(
    path: Path = typer.Argument(Path("."), help="Manifest directory (in a git work tree or not)."),
    revision: str | None = typer.Option(None, "--revision", "-r",
                                        help="Plan the manifests as of this git revision."),
    store: str | None = typer.Option(None, "--store", envvar="GITKUBE_STORE", help=STORE_HELP),
    output: Output = typer.Option(Output.text, "--output", "-o", help="text or json."),
    out: Path | None = typer.Option(None, "--out", help="Save the plan to apply it exactly."),
    prune: bool = typer.Option(True, "--prune/--no-prune",
                               help="Delete objects of this source that are gone from git."),
    detailed_exitcode: bool = typer.Option(
        False, "--detailed-exitcode",
        help="Exit 0 when there are no changes, 2 when there are, 1 on error."),
) -> None:
    """Show what apply would change: create, update (with drift), delete."""
    the_plan, _ = _make_plan(path, revision, store, prune, use_cache=out is None)
    if output is Output.json:
        typer.echo(render_json(the_plan), nl=False)
    else:
        typer.echo(render_text(the_plan, colour=_colour()), nl=False)
    if out is not None:
        planfile.save(the_plan, out)
        if output is Output.text:
            typer.echo(f"\nSaved the plan to {out}. To apply exactly this plan: "
                       f"gitkube apply {out}")
    if detailed_exitcode and the_plan.summary.has_changes:
        raise typer.Exit(2)


def _confirm(yes: bool) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise GitkubeError(
            "refusing to apply without confirmation: there is no terminal to ask on",
            hint="review the plan above, then run again with --yes",
        )
    typer.echo("\nDo you want to apply these changes? Only 'yes' will be accepted.")
    answer = typer.prompt("  Enter a value", default="", show_default=False)
    if answer.strip() != "yes":
        raise GitkubeError("apply cancelled", hint="nothing was written")


def _report(result: ApplyResult, the_plan: Plan, wait: bool) -> None:
    s = the_plan.summary
    if result.entry is None:
        typer.echo("No changes to apply.")
        return
    where = f"history #{result.entry.number}" + (
        f", store revision {result.revision}" if result.revision is not None else "")
    typer.echo(
        f"\nApply complete! Objects: {s.add} added, {s.change} changed, {s.destroy} destroyed."
        f" ({where})"
    )


def _to_delete(the_plan: Plan, client: Client) -> list[Deleted]:
    """What the plan deletes, with the live uids (read before apply: the dependents of a
    deleted object are found by its uid)."""
    from gitkube.agents.converge import Deleted

    out = []
    for change in the_plan.changes:
        if change.action is Action.DELETE:
            ref = change.ref
            try:
                live = client.get(ref.api_version, ref.kind, ref.namespace or None, ref.name)
            except NotFound:
                continue
            out.append(Deleted.of(live))
    return out


def _wait_converged(the_plan: Plan, client: Client, timeout: float,
                    gone: list[Deleted] | None = None) -> None:
    """Run the agents in-process until every applied object converged and every deleted one
    is gone with its dependents and containers (agents/converge.py)."""
    from gitkube.agents.converge import report
    from gitkube.cli.embedded import wait_for

    refs = [c.ref for c in the_plan.changes if c.action is not Action.DELETE]
    gone = gone or []
    if not refs and not gone:
        return
    also = f" and {len(gone)} deleted objects to go" if gone else ""
    typer.echo(f"\nWaiting for {len(refs)} objects to converge{also} "
               f"(timeout {timeout:g}s)...")
    result = wait_for(client, refs, settings(), timeout=timeout, gone=gone)
    typer.echo(report(result))
    if not result.ok:
        raise GitkubeError(
            f"{len(result.unconverged) + len(result.failed)} of {result.total} objects did not "
            "converge", hint="see above; `gitkube get pods -A`, `gitkube describe KIND/NAME`")


def _after_interruption(err: ApplyInterrupted, store_url: str) -> ApplyResult:
    """The connection was lost with the apply sent: look in the store (directly: the daemon
    may be gone) whether its history record, written with the objects, is there."""
    from gitkube.api.local import LocalClient
    from gitkube.store import open_store

    try:
        store = open_store(store_url)
        try:
            entry = err.landed(LocalClient(store))
        finally:
            store.close()
    except GitkubeError as check:
        raise GitkubeError(f"{err.message}; whether it landed is unknown: the store cannot "
                           f"be read ({check.message})",
                           hint="`gitkube history` shows it once the store can be read") \
            from err
    if entry is None:
        raise GitkubeError(f"{err.message}; it did not land: nothing was written",
                           hint="run `gitkube apply` again") from err
    typer.echo(f"warning: {err.message}; the store shows it landed (history "
               f"#{entry.number})", err=True)
    return ApplyResult(entry, entry.store_revision)


def _apply(the_plan: Plan, client: Client, *, yes: bool, allow_empty: bool, wait: bool,
           kind: str = "apply", timeout: float = 300.0) -> None:
    typer.echo(render_text(the_plan, colour=_colour()), nl=False)
    if not the_plan.summary.has_changes and not any(
        c.action is Action.UPDATE for c in the_plan.changes
    ):
        if wait:
            _wait_converged(the_plan, client, timeout)
        return
    if the_plan.empty_desired_guard and not allow_empty:
        from gitkube.plan.apply import EmptyDesiredRefused

        raise EmptyDesiredRefused(the_plan.owned_count)
    _confirm(yes)
    gone = _to_delete(the_plan, client) if wait else []
    try:
        result = apply_plan(client, the_plan, author=settings().author,
                            allow_empty=allow_empty, kind=kind)
    except ApplyInterrupted as err:
        result = _after_interruption(err, the_plan.store_url)
    _report(result, the_plan, wait)
    if wait:
        _wait_converged(the_plan, client, timeout, gone)


@app.command()
def apply(
    target: Path = typer.Argument(Path("."), help="Manifest directory, or a saved plan file."),
    revision: str | None = typer.Option(None, "--revision", "-r",
                                        help="Apply the manifests as of this git revision."),
    store: str | None = typer.Option(None, "--store", envvar="GITKUBE_STORE", help=STORE_HELP),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    prune: bool = typer.Option(True, "--prune/--no-prune",
                               help="Delete objects of this source that are gone from git."),
    allow_empty: bool = typer.Option(False, "--allow-empty",
                                     help="Allow deleting every object when git is empty."),
    wait: bool | None = typer.Option(
        None, "--wait/--no-wait",
        help="Run the agents until everything applied has converged (default: on a terminal)."),
    timeout: float = typer.Option(300.0, "--timeout", help="Seconds --wait may take."),
) -> None:
    """Show the plan, ask, then write every change in one transaction (all or nothing)."""
    if wait is None:
        wait = sys.stdout.isatty()
    current = settings(store)  # a setting that cannot be used stops here, before any write
    if wait:  # start the container runtime while planning (cli/embedded.py)
        from gitkube.cli.embedded import prestart
        from gitkube.daemon.client import daemon_for

        if daemon_for(current) is None:  # a daemon's agents converge: no runtime here
            prestart(current)
    if target.is_file() and planfile.is_planfile(target):
        if revision is not None or not prune:
            raise UsageError(
                "--revision and --no-prune do not apply to a saved plan",
                hint="a saved plan applies exactly what `gitkube plan --out` showed",
            )
        saved = planfile.load(target)
        client, url = _client(store)
        if saved.store_url and saved.store_url != url:
            raise GitkubeError(
                f"the saved plan was made against {saved.store_url}, not {url}",
                hint="pass the same --store the plan was made with",
            )
        the_plan = fresh_saved_plan(saved, client, options=SourceOptions.of(current))
        _apply(the_plan, client, yes=yes, allow_empty=allow_empty, wait=wait, timeout=timeout)
        return
    the_plan, client = _make_plan(target, revision, store, prune)
    _apply(the_plan, client, yes=yes, allow_empty=allow_empty, wait=wait, timeout=timeout)


@app.command()
def history(
    store: str | None = typer.Option(None, "--store", envvar="GITKUBE_STORE", help=STORE_HELP),
    output: Output = typer.Option(Output.text, "--output", "-o", help="text or json."),
) -> None:
    """List every apply: number, time, result, commit, author, summary."""
    import json

    client, _ = _client(store)
    entries = read_history(client)
    if output is Output.json:
        typer.echo(json.dumps([e.to_json() for e in entries], indent=2))
    else:
        typer.echo(render_history(entries), nl=False)


@app.command()
def rollback(
    rev: str = typer.Argument(..., help="A history number (see `gitkube history`) or a git "
                                        "revision."),
    path: Path | None = typer.Argument(None, help="Manifest directory (default: the one the "
                                                 "history entry was applied from)."),
    store: str | None = typer.Option(None, "--store", envvar="GITKUBE_STORE", help=STORE_HELP),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    prune: bool = typer.Option(True, "--prune/--no-prune",
                               help="Delete objects of this source that are gone from git."),
    allow_empty: bool = typer.Option(False, "--allow-empty",
                                     help="Allow deleting every object when git is empty."),
) -> None:
    """Plan and apply the manifests as of an earlier revision, showing the plan first."""
    client, url = _client(store)
    entries = read_history(client)
    commit, recorded_path = resolve_rollback(rev, entries)
    where = path or (Path(recorded_path) if recorded_path else Path("."))
    desired = load_desired_or_report(where, commit)
    source = describe(where, commit)
    the_plan = build_plan(client, desired, source, store_url=url, prune=prune)
    shown = os.path.relpath(where) if not os.path.relpath(where).startswith("..") else where
    typer.echo(f"Rolling back to {commit[:12]} ({shown}):\n")
    _apply(the_plan, client, yes=yes, allow_empty=allow_empty, wait=False, kind="rollback")


def resolve_rollback(rev: str, entries: list[Entry]) -> tuple[str, str | None]:
    """A history number names that entry's commit and path; anything else is a git revision
    (then the path defaults to the latest entry's)."""
    latest_path = entries[-1].source.get("path") if entries else None
    if rev.isdigit() and len(rev) < 7:
        for entry in entries:
            if entry.number == int(rev):
                if not entry.commit:
                    raise GitkubeError(
                        f"history entry {rev} was not applied from a git commit",
                        hint="roll back with a git revision instead",
                    )
                return entry.commit, entry.source.get("path")
        raise GitkubeError(f"no history entry {rev}", hint="`gitkube history` lists them")
    return rev, latest_path

