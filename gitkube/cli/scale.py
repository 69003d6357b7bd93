"""`gitkube scale deploy/NAME --replicas N`: set a workload's replicas through its Scale
subresource, like kubectl scale (``--current-replicas`` is a precondition)."""

from __future__ import annotations

import typer

from gitkube.cli.app import STORE_HELP, app
from gitkube.cli.connect import client_for
from gitkube.errors import GitkubeError, NotFound, UsageError
from gitkube.model import kinds

SCALABLE = ("Deployment", "ReplicaSet", "StatefulSet")


@app.command()
def scale(
    target: str = typer.Argument(..., help="deploy/NAME, rs/NAME or sts/NAME (or TYPE)."),
    name: str | None = typer.Argument(None, help="NAME when TYPE is given separately."),
    replicas: int = typer.Option(..., "--replicas", min=0, help="The new replica count."),
    current_replicas: int | None = typer.Option(
        None, "--current-replicas",
        help="Only scale if the current spec.replicas is this (a precondition)."),
    namespace: str = typer.Option("default", "--namespace", "-n", help="Namespace."),
    store: str | None = typer.Option(None, "--store", envvar="GITKUBE_STORE", help=STORE_HELP),
) -> None:
    """Set the number of replicas of a Deployment, ReplicaSet or StatefulSet."""
    kind_text, sep, obj_name = target.partition("/")
    if sep and name is not None:
        raise UsageError("give either TYPE/NAME or TYPE NAME, not both")
    obj_name = obj_name if sep else (name or "")
    rt = kinds.by_name(kind_text)
    if rt is None or rt.kind not in SCALABLE or not obj_name:
        raise UsageError(f"cannot scale {target!r}",
                         hint="gitkube scale deploy/NAME --replicas N (also rs/, sts/)")
    client = client_for(store)
    try:
        resource_version = None
        if current_replicas is not None:
            current = client.get_scale(rt.api_version, rt.kind, namespace, obj_name)
            have = int((current.get("spec") or {}).get("replicas") or 0)
            if have != current_replicas:
                raise GitkubeError(f"Expected replicas to be {current_replicas}, was {have}")
            resource_version = str(current["metadata"].get("resourceVersion") or "") or None
        # its own field manager: a scale run on purpose is not gitkube's apply, so a plan
        # names it as the owner of the replicas it set (docs/PLAN.md, "Field ownership")
        client.update_scale(rt.api_version, rt.kind, namespace, obj_name, replicas,
                            resource_version=resource_version, field_manager="gitkube-scale")
    except NotFound as exc:
        raise GitkubeError(f'{rt.plural}{"." + rt.group if rt.group else ""} "{obj_name}" '
                           f'not found in namespace "{namespace}"',
                           hint=f"gitkube get {rt.plural} -n {namespace}") from exc
    typer.echo(f"{rt.singular}.{rt.group}/{obj_name} scaled" if rt.group
               else f"{rt.singular}/{obj_name} scaled")
