"""`gitkube rollout status|history|undo|pause|resume`: kubectl's rollout commands over the
live store.

- ``status`` reads only the object's status and prints kubectl's messages until the rollout
  is complete (exit 0), exceeded its progress deadline (exit 1) or ``--timeout`` passed
  (exit 1). Deployments, StatefulSets and DaemonSets (RollingUpdate only, as kubectl). The
  rule is gitkube/model/rollout.py's, the one ``apply --wait`` uses too. The agents must be
  running somewhere (``gitkube serve``, ``apply --wait``) for anything to move.
- ``history`` lists a Deployment's revisions from its ReplicaSets' revision annotations.
- ``pause``/``resume`` set the Deployment's ``spec.paused`` (a merge patch). Apply leaves a
  field git does not set alone (as ``kubectl apply`` does), so a pause lasts across applies.
- ``undo`` patches the Deployment's pod template (a JSON patch of ``/spec/template``) to the
  chosen revision's ReplicaSet template (``--to-revision``, default: the previous one).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import typer

from gitkube.api.client import Client
from gitkube.cli.app import STORE_HELP, app
from gitkube.errors import GitkubeError, NotFound, UsageError
from gitkube.model import kinds
from gitkube.model.rollout import (
    RolloutStatus,
    daemonset_rollout,
    deployment_rollout,
    statefulset_rollout,
)

Obj = dict[str, Any]
REVISION = "deployment.kubernetes.io/revision"
HASH_LABEL = "pod-template-hash"
CHANGE_CAUSE = "kubernetes.io/change-cause"
SUPPORTED = ("Deployment", "StatefulSet", "DaemonSet")

rollout_app = typer.Typer(help="Manage the rollout of a Deployment (also StatefulSet and "
                               "DaemonSet for status).", no_args_is_help=True)
app.add_typer(rollout_app, name="rollout")


def _client(store: str | None) -> Client:
    from gitkube.cli.connect import client_for  # the daemon's API when one serves the store

    return client_for(store)


def parse_target(target: str, name: str | None = None) -> tuple[kinds.ResourceType, str]:
    """``deploy/web``, ``deployment.apps/web`` or ``deployment web`` -> (type, name)."""
    if "/" in target:
        if name is not None:
            raise UsageError("give either TYPE/NAME or TYPE NAME, not both")
        kind_text, _, name = target.partition("/")
    else:
        kind_text = target
    rt = kinds.by_name(kind_text)
    if rt is None and "." in kind_text:  # deployment.apps, deploy.apps
        short, _, group = kind_text.partition(".")
        rt = kinds.by_name(short)
        rt = rt if rt is not None and rt.group == group else None
    if rt is None or not name:
        raise UsageError(f"expected TYPE/NAME such as deploy/web, got {target!r}",
                         hint="gitkube rollout status deploy/web -n default")
    if rt.kind not in SUPPORTED:
        raise UsageError(f"no rollout support for {rt.kind}: use one of "
                         f"{', '.join(s.lower() for s in SUPPORTED)}")
    return rt, name


def _ref(rt: kinds.ResourceType, name: str) -> str:
    return f"{rt.plural}.{rt.group}/{name}" if rt.group else f"{rt.plural}/{name}"


# --- status: kubectl's messages (the rules: gitkube/model/rollout.py) ---------------------


def _answer(obj: Obj, found: RolloutStatus) -> tuple[str, bool]:
    """(message, done); kubectl's errors become a GitkubeError (exit 1)."""
    if found.error:
        ns = (obj.get("metadata") or {}).get("namespace") or "default"
        raise GitkubeError(found.error, hint=f"gitkube events -n {ns}")
    return found.message, found.done


def deployment_status(d: Obj) -> tuple[str, bool]:
    """(message, done) of a Deployment; GitkubeError past its progress deadline."""
    return _answer(d, deployment_rollout(d))


def daemonset_status(ds: Obj) -> tuple[str, bool]:
    """(message, done) of a DaemonSet; GitkubeError unless it rolls updates out."""
    return _answer(ds, daemonset_rollout(ds))


def statefulset_status(sts: Obj) -> tuple[str, bool]:
    """(message, done) of a StatefulSet; GitkubeError unless it rolls updates out."""
    return _answer(sts, statefulset_rollout(sts))


STATUS_VIEWERS: dict[str, Callable[[Obj], tuple[str, bool]]] = {
    "Deployment": deployment_status, "DaemonSet": daemonset_status,
    "StatefulSet": statefulset_status,
}


# --- history and undo ---------------------------------------------------------------------


def revision_of(obj: Obj) -> int:
    try:
        return int(((obj.get("metadata") or {}).get("annotations") or {}).get(REVISION, 0))
    except (TypeError, ValueError):
        return 0


def owned_replicasets(client: Client, d: Obj) -> list[Obj]:
    """The Deployment's ReplicaSets (selector match and controller ownerReference with its
    uid, as kubectl requires), oldest revision first."""
    selector = (d.get("spec") or {}).get("selector") or {}
    uid = d["metadata"]["uid"]
    items = client.list("apps/v1", "ReplicaSet", d["metadata"]["namespace"],
                        label_selector=selector).items
    mine = [rs for rs in items if any(
        r.get("controller") is True and r.get("uid") == uid
        for r in rs["metadata"].get("ownerReferences") or [])]
    return sorted(mine, key=revision_of)


def template_of(rs: Obj) -> Obj:
    template: Obj = json.loads(json.dumps((rs.get("spec") or {}).get("template") or {}))
    labels = (template.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(HASH_LABEL, None)
    return template


def undo_target(d: Obj, rss: list[Obj], to_revision: int) -> Obj:
    """The ReplicaSet to roll back to: revision ``to_revision``, or (0) the one before the
    current. GitkubeError when there is none."""
    name = d["metadata"]["name"]
    if to_revision:
        for rs in rss:
            if revision_of(rs) == to_revision:
                return rs
        raise GitkubeError(f"unable to find specified revision {to_revision} in history",
                           hint=f"gitkube rollout history deploy/{name}")
    if len(rss) < 2:
        raise GitkubeError(f'no rollout history found for deployment "{name}"')
    return rss[-2]


# --- commands -----------------------------------------------------------------------------

NamespaceOption = typer.Option("default", "--namespace", "-n", help="The namespace.")
StoreOpt = typer.Option(None, "--store", envvar="GITKUBE_STORE", help=STORE_HELP)


@rollout_app.command("status")
def status(
    target: str = typer.Argument(..., help="TYPE/NAME, e.g. deploy/web."),
    name: str | None = typer.Argument(None, help="NAME, when TYPE is given apart."),
    namespace: str = NamespaceOption,
    watch: bool = typer.Option(True, "--watch/--no-watch", "-w",
                               help="Wait until the rollout finishes."),
    timeout: float = typer.Option(0, "--timeout",
                                  help="Seconds to wait (0: forever, like kubectl)."),
    interval: float = typer.Option(0.5, "--interval", hidden=True),
    store: str | None = StoreOpt,
) -> None:
    """Show the rollout status, and wait for it to finish."""
    rt, obj_name = parse_target(target, name)
    client = _client(store)
    viewer = STATUS_VIEWERS[rt.kind]
    deadline = time.monotonic() + timeout if timeout > 0 else None
    last = ""
    while True:
        try:
            obj = client.get(rt.api_version, rt.kind, namespace, obj_name)
        except NotFound as e:
            raise GitkubeError(f'{rt.plural}.{rt.group} "{obj_name}" not found in namespace '
                               f"{namespace}") from e
        message, done = viewer(obj)
        if message != last:
            typer.echo(message)
            last = message
        if done or not watch:
            return
        if deadline is not None and time.monotonic() >= deadline:
            raise GitkubeError("timed out waiting for the condition",
                               hint="the agents may not be running: `gitkube serve`, or "
                                    "`gitkube apply --wait`")
        time.sleep(interval)


@rollout_app.command("history")
def history(
    target: str = typer.Argument(..., help="deploy/NAME."),
    name: str | None = typer.Argument(None),
    namespace: str = NamespaceOption,
    revision: int = typer.Option(0, "--revision", help="Show this revision's pod template."),
    store: str | None = StoreOpt,
) -> None:
    """List a Deployment's revisions (from its ReplicaSets)."""
    rt, obj_name = parse_target(target, name)
    if rt.kind != "Deployment":
        raise UsageError("rollout history supports deployments only in gitkube")
    client = _client(store)
    d = client.get(rt.api_version, rt.kind, namespace, obj_name)
    rss = owned_replicasets(client, d)
    if revision:
        rs = undo_target(d, rss, revision)
        typer.echo(f"{_ref(rt, obj_name)} with revision #{revision}")
        typer.echo("Pod Template:")
        typer.echo(json.dumps(template_of(rs), indent=2))
        return
    typer.echo(_ref(rt, obj_name))
    typer.echo(f"{'REVISION':<10}{'CHANGE-CAUSE'}")
    for rs in rss:
        cause = (rs["metadata"].get("annotations") or {}).get(CHANGE_CAUSE) or "<none>"
        typer.echo(f"{revision_of(rs):<10}{cause}")


@rollout_app.command("undo")
def undo(
    target: str = typer.Argument(..., help="deploy/NAME."),
    name: str | None = typer.Argument(None),
    namespace: str = NamespaceOption,
    to_revision: int = typer.Option(0, "--to-revision",
                                    help="The revision to roll back to (0: the previous)."),
    store: str | None = StoreOpt,
) -> None:
    """Roll a Deployment back to an earlier revision's pod template."""
    rt, obj_name = parse_target(target, name)
    if rt.kind != "Deployment":
        raise UsageError("rollout undo supports deployments only in gitkube")
    client = _client(store)
    d = client.get(rt.api_version, rt.kind, namespace, obj_name)
    rss = owned_replicasets(client, d)
    rs = undo_target(d, rss, to_revision)
    template = template_of(rs)
    if template == (d.get("spec") or {}).get("template"):
        typer.echo(f"{_ref(rt, obj_name)} skipped rollback (current template already "
                   f"matches revision {revision_of(rs)})")
        return
    patch = [{"op": "test", "path": "/metadata/resourceVersion",
              "value": d["metadata"]["resourceVersion"]},
             {"op": "replace", "path": "/spec/template", "value": template}]
    client.patch(rt.api_version, rt.kind, namespace, obj_name, patch, "json")
    typer.echo(f"{_ref(rt, obj_name)} rolled back")


def _set_paused(target: str, name: str | None, namespace: str, store: str | None,
                paused: bool) -> None:
    rt, obj_name = parse_target(target, name)
    if rt.kind != "Deployment":
        raise UsageError(f"rollout {'pause' if paused else 'resume'} supports deployments only",
                         hint=f"gitkube rollout {'pause' if paused else 'resume'} deploy/NAME")
    client = _client(store)
    d = client.get(rt.api_version, rt.kind, namespace, obj_name)
    word = "paused" if paused else "resumed"
    if bool((d.get("spec") or {}).get("paused")) == paused:
        state = "already paused" if paused else "not paused"
        raise GitkubeError(f'{rt.plural}.{rt.group} "{obj_name}" is {state}',
                           hint=f"gitkube get deploy {obj_name} -n {namespace} -o yaml")
    client.patch(rt.api_version, rt.kind, namespace, obj_name,
                 {"spec": {"paused": True if paused else None}}, "merge")
    typer.echo(f"{_ref(rt, obj_name)} {word}")


@rollout_app.command("pause")
def pause(
    target: str = typer.Argument(..., help="deploy/NAME."),
    name: str | None = typer.Argument(None),
    namespace: str = NamespaceOption,
    store: str | None = StoreOpt,
) -> None:
    """Pause a Deployment: template changes wait, scaling still applies."""
    _set_paused(target, name, namespace, store, True)


@rollout_app.command("resume")
def resume(
    target: str = typer.Argument(..., help="deploy/NAME."),
    name: str | None = typer.Argument(None),
    namespace: str = NamespaceOption,
    store: str | None = StoreOpt,
) -> None:
    """Resume a paused Deployment: its rollout goes on."""
    _set_paused(target, name, namespace, store, False)
