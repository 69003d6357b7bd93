"""`gitkube get`, `describe` and `logs`: read the live state like kubectl does.

Embedded mode: the store is opened directly (``--store``), and ``logs`` reads a container's
output from the local Podman through the runtime, finding the container by the pod's labels.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from enum import StrEnum
from typing import Any

import typer

from gitkube.api.client import Client
from gitkube.cli import tables
from gitkube.cli.app import STORE_HELP, app
from gitkube.errors import GitkubeError, NotFound, UsageError
from gitkube.model import kinds
from gitkube.model.kinds import ResourceType

Obj = dict[str, Any]


class GetOutput(StrEnum):
    table = "table"
    wide = "wide"
    yaml = "yaml"
    json = "json"
    name = "name"


def _client(store: str | None) -> Client:
    from gitkube.cli.connect import client_for  # the daemon's API when one serves the store

    return client_for(store)


def resolve(resource: str) -> ResourceType:
    """``pods``, ``po``, ``deploy``, ``Deployment``, ``deployments.apps``... -> its type."""
    rt = kinds.by_name(resource)
    if rt is None:
        known = ", ".join(sorted({r.plural for r in kinds.RESOURCES}))
        raise UsageError(f'the server doesn\'t have a resource type "{resource}"',
                         hint=f"one of: {known}")
    return rt


def _split_target(target: str, name: str | None) -> tuple[ResourceType, str | None]:
    if "/" in target and name is None:
        kind, _, obj_name = target.partition("/")
        return resolve(kind), obj_name
    return resolve(target), name


def _dump(value: Any, output: GetOutput) -> str:
    if output is GetOutput.json:
        return json.dumps(value, indent=4) + "\n"
    from io import StringIO

    from ruamel.yaml import YAML

    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    buf = StringIO()
    yaml.dump(value, buf)
    return buf.getvalue()


@app.command()
def get(
    resource: str = typer.Argument(..., help="pods, deploy, svc, nodes, rs, ds, sts, jobs, cm, "
                                             "secrets, sa, pvc, ns, ep, events (or KIND/NAME, "
                                             "or several: deploy,svc)."),
    name: str | None = typer.Argument(None, help="One object's name."),
    namespace: str = typer.Option("default", "--namespace", "-n", help="Namespace."),
    all_namespaces: bool = typer.Option(False, "--all-namespaces", "-A",
                                        help="Every namespace."),
    output: GetOutput = typer.Option(GetOutput.table, "--output", "-o",
                                     help="wide, yaml, json or name."),
    selector: str | None = typer.Option(None, "--selector", "-l", help="Label selector."),
    watch: bool = typer.Option(False, "--watch", "-w",
                               help="After listing, print each change as it happens."),
    watch_timeout: float = typer.Option(0, "--watch-timeout",
                                        help="Stop watching after this many seconds (0: "
                                             "until Ctrl-C)."),
    store: str | None = typer.Option(None, "--store", envvar="GITKUBE_STORE", help=STORE_HELP),
) -> None:
    """List objects as tables like kubectl's (or one object, or yaml/json)."""
    if "," in resource and "/" not in resource:
        if name is not None or watch:
            raise UsageError("several resource types take no name and no --watch",
                             hint=f"gitkube get {resource.split(',')[0]} NAME")
        _get_many([resolve(r) for r in resource.split(",") if r], _client(store), namespace,
                  all_namespaces, output, selector)
        return
    rt, obj_name = _split_target(resource, name)
    client = _client(store)
    ns = None if (all_namespaces or not rt.namespaced) else namespace
    if watch:  # gitkube/cli/getwatch.py
        from gitkube.cli.getwatch import Watched, watch_get

        with contextlib.suppress(KeyboardInterrupt):
            watch_get(client, Watched(rt, ns, obj_name, selector), output.value,
                      timeout=watch_timeout, echo=typer.echo)
        return
    if obj_name is not None:
        try:
            items = [client.get(rt.api_version, rt.kind, ns or namespace, obj_name)]
        except NotFound as e:
            raise GitkubeError(f'{rt.plural} "{obj_name}" not found'
                               + (f' in namespace "{namespace}"' if rt.namespaced else ""),
                               hint=f"gitkube get {rt.plural}"
                                    + (" -A" if rt.namespaced else "")) from e
    else:
        items = client.list(rt.api_version, rt.kind, ns, label_selector=selector).items
    if rt.kind == "Event":
        items.sort(key=lambda e: str(e.get("lastTimestamp") or e["metadata"].get(
            "creationTimestamp") or ""))
    if output in (GetOutput.yaml, GetOutput.json):
        doc = items[0] if obj_name is not None else {
            "apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""},
            "items": items}
        typer.echo(_dump(doc, output), nl=False)
        return
    if output is GetOutput.name:
        for obj in items:
            typer.echo(f"{_type_prefix(rt)}/{obj['metadata']['name']}")
        return
    if not items:
        where = "" if ns is None else f" in {ns} namespace"
        typer.echo(f"No resources found{where}.", err=True)
        return
    typer.echo(_table(rt, items, ns, output is GetOutput.wide), nl=False)


def _type_prefix(rt: ResourceType) -> str:
    """``deployment.apps``, ``pod``: how kubectl names a type before ``/NAME``."""
    return rt.singular if not rt.group else f"{rt.singular}.{rt.group}"


def _table(rt: ResourceType, items: list[Obj], ns: str | None, wide: bool, *,
           prefixed: bool = False) -> str:
    """kubectl's table of ``items`` (NAMESPACE first when listing every namespace; names as
    ``type/NAME`` when several types are listed)."""
    now = time.time()
    headers = tables.columns(rt.kind, wide)
    rows = [tables.row(obj, now, wide) for obj in items]
    if prefixed:
        rows = [[f"{_type_prefix(rt)}/{r[0]}", *r[1:]] for r in rows]
    if ns is None and rt.namespaced:
        headers = ["NAMESPACE", *headers]
        rows = [[str(obj["metadata"].get("namespace", "")), *r] for obj, r in zip(
            items, rows, strict=True)]
    return tables.render(headers, rows)


@app.command()
def describe(
    target: str = typer.Argument(..., help="KIND/NAME, or KIND."),
    name: str | None = typer.Argument(None, help="NAME when KIND is given separately."),
    namespace: str = typer.Option("default", "--namespace", "-n", help="Namespace."),
    store: str | None = typer.Option(None, "--store", envvar="GITKUBE_STORE", help=STORE_HELP),
) -> None:
    """Show one object in detail, with its Events."""
    from gitkube.cli.describe import describe_text

    rt, obj_name = _split_target(target, name)
    client = _client(store)
    if obj_name is None:
        objs = client.list(rt.api_version, rt.kind, namespace if rt.namespaced else None).items
    else:
        try:
            objs = [client.get(rt.api_version, rt.kind, namespace, obj_name)]
        except NotFound as e:
            raise GitkubeError(f'{rt.plural} "{obj_name}" not found', hint=f"gitkube get "
                               f"{rt.plural} -n {namespace}") from e
    texts = [describe_text(client, obj, time.time()) for obj in objs]
    typer.echo("\n\n".join(texts), nl=False)


@app.command()
def logs(
    pod: str = typer.Argument(..., help="POD, or deploy/NAME, job/NAME, sts/NAME, ..."),
    container: str | None = typer.Option(None, "--container", "-c", help="Container name."),
    namespace: str = typer.Option("default", "--namespace", "-n", help="Namespace."),
    follow: bool = typer.Option(False, "--follow", "-f", help="Stream new output."),
    previous: bool = typer.Option(False, "--previous", "-p",
                                  help="The previous (restarted) instance's output."),
    tail: int | None = typer.Option(None, "--tail", help="Only the last N lines."),
    since: str | None = typer.Option(None, "--since",
                                     help="Only lines newer than this duration (5s, 2m, 3h)."),
    since_time: str | None = typer.Option(None, "--since-time",
                                          help="Only lines written at or after this RFC 3339 "
                                               "time."),
    timestamps: bool = typer.Option(False, "--timestamps",
                                    help="Start each line with the time it was written "
                                         "(RFC 3339, nanoseconds)."),
    store: str | None = typer.Option(None, "--store", envvar="GITKUBE_STORE", help=STORE_HELP),
) -> None:
    """Print a container's output (from Podman, through the runtime)."""
    from gitkube.cli.connect import pod_logs  # the daemon's pods/log, or local Podman
    from gitkube.cli.logs import check_node, find_pod, parse_since, parse_since_time

    if since is not None and since_time is not None:
        raise UsageError("at most one of --since and --since-time may be given")
    since_seconds = None if since is None else parse_since(since)
    if since_time is not None:
        parse_since_time(since_time)  # refused here, before any pod is looked up
    client = _client(store)
    the_pod = find_pod(client, pod, namespace)
    check_node(client, the_pod)
    lines = pod_logs(client, the_pod, container, previous=previous, follow=follow, tail=tail,
                     since_seconds=since_seconds, since_time=since_time,
                     timestamps=timestamps, note=lambda text: typer.echo(text, err=True))
    try:
        for line in lines:
            sys.stdout.write(line)
            if follow:
                sys.stdout.flush()
    except KeyboardInterrupt:
        pass


def _get_many(types: list[ResourceType], client: Client, namespace: str, all_namespaces: bool,
              output: GetOutput, selector: str | None) -> None:
    """``get deploy,svc``: kubectl's form. One table per type (names as ``kind/name``), or one
    List of every object for yaml/json."""
    listed: list[tuple[ResourceType, str | None, list[Obj]]] = []
    for rt in types:
        ns = None if (all_namespaces or not rt.namespaced) else namespace
        listed.append((rt, ns, client.list(rt.api_version, rt.kind, ns,
                                           label_selector=selector).items))
    if output in (GetOutput.yaml, GetOutput.json):
        doc = {"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""},
               "items": [obj for _, _, items in listed for obj in items]}
        typer.echo(_dump(doc, output), nl=False)
        return
    shown = False
    for rt, ns, items in listed:
        if output is GetOutput.name:
            for obj in items:
                typer.echo(f"{_type_prefix(rt)}/{obj['metadata']['name']}")
            continue
        if not items:
            continue
        table = _table(rt, items, ns, output is GetOutput.wide, prefixed=True)
        typer.echo(("\n" if shown else "") + table, nl=False)
        shown = True
    if not shown and output is not GetOutput.name:
        where = "" if all_namespaces else f" in {namespace} namespace"
        typer.echo(f"No resources found{where}.", err=True)
