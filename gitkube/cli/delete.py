"""`gitkube delete`: delete objects by TYPE/NAME, by name list, by label selector or --all,
like kubectl delete.

Each deletion prints kubectl's line (``deployment.apps "web" deleted``). Children are removed
by the garbage collector per ``--cascade`` (background, foreground, orphan). A pod is
deleted gracefully (Terminating until its kubelet has stopped the containers) within its own
terminationGracePeriodSeconds, or ``--grace-period``; ``--force`` removes it at once.

``--wait`` (the default) waits until the deletion is finished:

- a daemon runs the agents: when finalizers or a graceful pod termination keep an object
  for a while, a watch on its name until it is gone;
- embedded (no daemon): nothing else would finish the deletion, so when there is something
  to finish (an object held by finalizers, dependents left for the garbage collector, a
  Namespace's content, containers of deleted pods) the command runs the agents in-process
  (gitkube/cli/embedded.py, as ``apply --wait`` does) until the deleted objects, their
  dependents and their pods' containers are gone, then stops them. On ``--timeout`` it names
  what is left and why.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import typer

from gitkube.api.client import Client
from gitkube.cli.app import STORE_HELP, app, settings
from gitkube.cli.connect import client_for, through_daemon
from gitkube.errors import GitkubeError, NotFound, UsageError
from gitkube.model import kinds
from gitkube.model.kinds import ResourceType

Obj = dict[str, Any]


class Cascade(StrEnum):
    background = "background"
    foreground = "foreground"
    orphan = "orphan"


def display(rt: ResourceType, name: str) -> str:
    """kubectl's ``deployment.apps "web"`` form."""
    return f'{rt.singular}.{rt.group} "{name}"' if rt.group else f'{rt.singular} "{name}"'


def _resolve(text: str) -> ResourceType:
    rt = kinds.by_name(text)
    if rt is None:
        raise UsageError(f'the server doesn\'t have a resource type "{text}"',
                         hint="e.g. gitkube delete deploy/web")
    return rt


def targets(args: list[str]) -> list[tuple[ResourceType, str | None]]:
    """``TYPE/NAME ...`` or ``TYPE [NAME ...]`` -> (type, name) pairs (name None: TYPE only)."""
    if not args:
        raise UsageError("nothing to delete", hint="gitkube delete deploy/web, or "
                                                   "gitkube delete pods -l app=web")
    if "/" in args[0]:
        out: list[tuple[ResourceType, str | None]] = []
        for a in args:
            kind, sep, name = a.partition("/")
            if not sep or not name:
                raise UsageError(f"expected TYPE/NAME, got {a!r}",
                                 hint="do not mix TYPE/NAME with TYPE NAME")
            out.append((_resolve(kind), name))
        return out
    rt = _resolve(args[0])
    if len(args) == 1:
        return [(rt, None)]
    return [(rt, n) for n in args[1:]]


def grace_seconds(grace_period: int, force: bool) -> int | None:
    """The deletion's gracePeriodSeconds from kubectl's flags: -1 (and no --force) is none
    (each pod's own); --force alone is 0; 0 without --force means 1, as kubectl reads it."""
    if grace_period < -1:
        raise UsageError(f"--grace-period {grace_period} is invalid",
                         hint="-1 (the pod's own), 0 with --force, or more seconds")
    if grace_period == -1:
        return 0 if force else None
    if grace_period == 0 and not force:
        return 1
    return grace_period


def _wait_gone(client: Client, rt: ResourceType, namespace: str | None, name: str,
               timeout: float) -> bool:
    """Block until the object is gone (watch on its name); False on timeout."""
    deadline = time.monotonic() + timeout
    try:
        current = client.get(rt.api_version, rt.kind, namespace, name)
    except NotFound:
        return True
    with client.watch(rt.api_version, rt.kind, namespace if rt.namespaced else None,
                      resource_version=str(current["metadata"].get("resourceVersion") or ""),
                      field_selector=f"metadata.name={name}") as watcher:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            event = watcher.next_event(timeout=min(left, 1.0))
            if event is not None and event.type == "DELETED":
                return True
            if event is None:  # nothing arrived: make sure we did not miss the end
                try:
                    client.get(rt.api_version, rt.kind, namespace, name)
                except NotFound:
                    return True


def _finish_embedded(client: Client, deleted: list[Obj], timeout: float) -> None:
    """No daemon: run the agents here until the deleted objects, their dependents and their
    pods' containers are gone (module docstring); nothing to finish: return at once."""
    from gitkube.agents.converge import Converger, Deleted, report
    from gitkube.cli.embedded import wait_for

    gone = [Deleted.of(obj) for obj in deleted]
    # A pod's containers are the kubelet's to stop; anything else only when something is
    # left in the store (held by finalizers, dependents, a Namespace's content).
    if not any(g.ref.kind == "Pod" for g in gone) and \
            all(v.done for v in Converger(client, [], gone=gone).evaluate().values()):
        return
    typer.echo(f"Waiting for {len(gone)} deleted object(s), their dependents and containers "
               f"to go (timeout {timeout:g}s)...")
    result = wait_for(client, [], settings(), gone=gone, timeout=timeout)
    typer.echo(report(result))
    if not result.ok:
        raise GitkubeError(
            f"{len(result.unconverged) + len(result.failed)} deleted object(s) not gone after "
            f"{timeout:g}s", hint="see above; `gitkube describe KIND/NAME` shows finalizers "
                                  "and events, `gitkube get pods -A` what is left")


@app.command()
def delete(
    args: list[str] = typer.Argument(None, help="TYPE/NAME ..., or TYPE [NAME ...]."),
    namespace: str = typer.Option("default", "--namespace", "-n", help="Namespace."),
    selector: str | None = typer.Option(None, "--selector", "-l",
                                        help="Delete every TYPE object matching this."),
    all_: bool = typer.Option(False, "--all", help="Delete every TYPE object in the "
                                                   "namespace."),
    cascade: Cascade = typer.Option(Cascade.background, "--cascade",
                                    help="background, foreground or orphan (children)."),
    wait: bool = typer.Option(True, "--wait/--no-wait",
                              help="Wait until the objects are gone (no daemon: run the "
                                   "agents until they, their dependents and containers are)."),
    timeout: float = typer.Option(60.0, "--timeout", help="Seconds --wait may take."),
    grace_period: int = typer.Option(
        -1, "--grace-period",
        help="Seconds a pod is given to stop (-1: its terminationGracePeriodSeconds; 0 only "
             "with --force, else it means 1)."),
    force: bool = typer.Option(False, "--force",
                               help="Remove pods from the API at once, without waiting for "
                                    "their containers to stop (grace period 0)."),
    ignore_not_found: bool = typer.Option(False, "--ignore-not-found",
                                          help="A missing object is not an error."),
    store: str | None = typer.Option(None, "--store", envvar="GITKUBE_STORE", help=STORE_HELP),
) -> None:
    """Delete objects (like kubectl delete); the garbage collector removes their children."""
    pairs = targets(args or [])
    grace = grace_seconds(grace_period, force)
    client = client_for(store)
    names = _named(client, pairs, namespace, selector, all_)
    outcome = _delete_all(client, names, namespace, cascade, ignore_not_found, grace)
    if outcome.deleted and wait and not through_daemon(client):
        _finish_embedded(client, outcome.deleted, timeout)
    elif outcome.pending and wait:  # the daemon's agents finish it
        for rt, name in outcome.pending:
            ns = namespace if rt.namespaced else None
            if not _wait_gone(client, rt, ns, name, timeout):
                raise GitkubeError(f"timed out waiting for {display(rt, name)} to be "
                                   "deleted", hint="`gitkube describe` shows its "
                                                   "finalizers and events")
    if outcome.failed:
        raise typer.Exit(1)


def _named(client: Client, pairs: list[tuple[ResourceType, str | None]], namespace: str,
           selector: str | None, all_: bool) -> list[tuple[ResourceType, str]]:
    """The objects to delete, by name: those named, and those a TYPE alone selects (with
    --selector or --all)."""
    names: list[tuple[ResourceType, str]] = []
    for rt, name in pairs:
        ns = namespace if rt.namespaced else None
        if name is not None:
            if selector or all_:
                raise UsageError("give names, or --selector/--all, not both")
            names.append((rt, name))
            continue
        if not (selector or all_):
            raise UsageError(f"which {rt.plural}? give a name, --selector or --all",
                             hint=f"gitkube delete {rt.singular}/NAME")
        found = client.list(rt.api_version, rt.kind, ns, label_selector=selector).items
        if not found:
            typer.echo("No resources found" + (f" in {ns} namespace." if ns else "."))
        names += [(rt, o["metadata"]["name"]) for o in found]
    return names


@dataclass
class _Deleted:
    """What the deletions did: the objects deleted (as the api returned them), those still
    finishing (deletionTimestamp set), and how many were not found."""

    deleted: list[Obj] = field(default_factory=list)
    pending: list[tuple[ResourceType, str]] = field(default_factory=list)
    failed: int = 0


def _delete_all(client: Client, names: list[tuple[ResourceType, str]], namespace: str,
                cascade: Cascade, ignore_not_found: bool, grace: int | None) -> _Deleted:
    """Delete each object (pods within ``grace``: ``grace_seconds``), printing kubectl's
    line (or its NotFound error)."""
    policy: Any = cascade.value.capitalize()
    out = _Deleted()
    if grace == 0 and names:
        typer.echo("Warning: Immediate deletion does not wait for confirmation that the running "
                   "resource has been terminated. The resource may continue to run on the "
                   "cluster indefinitely.", err=True)
    for rt, name in names:
        ns = namespace if rt.namespaced else None
        try:
            result = client.delete(rt.api_version, rt.kind, ns, name,
                                   propagation_policy=policy, grace_period_seconds=grace)
        except NotFound:
            if not ignore_not_found:
                where = f' in namespace "{ns}"' if ns else ""
                typer.echo(f"Error from server (NotFound): {rt.plural}"
                           f"{'.' + rt.group if rt.group else ''} \"{name}\" not found{where}",
                           err=True)
                out.failed += 1
            continue
        typer.echo(f"{display(rt, name)} {'force ' if grace == 0 else ''}deleted")
        out.deleted.append(result)
        if (result.get("metadata") or {}).get("deletionTimestamp"):
            out.pending.append((rt, name))
    return out
