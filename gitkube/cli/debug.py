"""`gitkube debug POD --image IMAGE [--target C] [-it] [-- COMMAND...]`: kubectl debug's
ephemeral-container form.

It adds an ephemeral container to the pod (a strategic merge patch of the pod's
``ephemeralcontainers`` subresource, as kubectl sends it), waits until the kubelet runs it,
and with ``-i``/``-t`` attaches this terminal to it. Through a daemon, the daemon's kubelet
starts it; without one, this command runs the node's kubelet in-process until the container
runs (as ``apply --wait`` runs the agents), and the container keeps running after that, like
any other. The container stays in the pod spec (ephemeral containers are never removed) and
is not restarted when it ends.
"""

from __future__ import annotations

import random
import string
import time
from typing import Any

import typer

from gitkube.api.client import Client
from gitkube.cli.app import STORE_HELP, app, settings
from gitkube.cli.streams import NS_HELP, PodAccess, run_session
from gitkube.errors import GitkubeError, UsageError
from gitkube.runtime.base import StreamOptions

Obj = dict[str, Any]
WAIT_SECONDS = 120.0


def debug_container(name: str, image: str, *, target: str | None, command: list[str],
                    stdin: bool, tty: bool, pull_policy: str | None) -> Obj:
    """The ephemeral container to add, as kubectl debug makes it."""
    c: Obj = {"name": name, "image": image, "terminationMessagePolicy": "File",
              "stdin": stdin, "tty": tty}
    if target:
        c["targetContainerName"] = target
    if command:
        c["command"] = command
    if pull_policy:
        c["imagePullPolicy"] = pull_policy
    return c


def _state(pod: Obj, name: str) -> Obj:
    for cs in (pod.get("status") or {}).get("ephemeralContainerStatuses") or []:
        if cs.get("name") == name:
            return dict(cs.get("state") or {})
    return {}


def _wait_running(client: Client, pod: Obj, name: str, timeout: float) -> Obj:
    """The pod once ``name`` runs or ended; GitkubeError when it does not within
    ``timeout``, with the reason it waits for."""
    meta = pod["metadata"]
    deadline = time.monotonic() + timeout
    said = ""
    while True:
        current = client.get("v1", "Pod", meta.get("namespace"), meta["name"])
        state = _state(current, name)
        if "running" in state or "terminated" in state:
            return current
        message = str((state.get("waiting") or {}).get("message") or "")
        if message and message != said:
            typer.echo(f"Waiting for container {name}: {message}", err=True)
            said = message
        if time.monotonic() > deadline:
            raise GitkubeError(f"ephemeral container {name} of pod {meta['name']} did not "
                               f"start within {timeout:.0f}s",
                               hint="`gitkube describe`/`kubectl describe pod` shows its "
                                    "events; is the image present on the node?")
        time.sleep(0.2)


def _start(client: Client, pod: Obj, name: str, timeout: float) -> Obj:
    """Wait for the kubelet to run ``name``: the daemon's, or one run here (module
    docstring)."""
    from gitkube.daemon.client import through_daemon

    if through_daemon(client):
        return _wait_running(client, pod, name, timeout)
    from gitkube.agents.compose import NODE_AGENTS, AgentSet, open_runtime

    current = settings()
    runtime = open_runtime(current, linger=current.podman_linger)
    try:
        with AgentSet(client, current, runtime, names=NODE_AGENTS):
            return _wait_running(client, pod, name, timeout)
    finally:
        runtime.close()


@app.command()
def debug(
    pod: str = typer.Argument(..., help="POD or pod/POD."),
    command: list[str] | None = typer.Argument(None, help="The command, after --."),
    image: str = typer.Option(..., "--image", help="The debug container's image."),
    target: str | None = typer.Option(None, "--target",
                                      help="Share this container's process namespace."),
    container: str | None = typer.Option(None, "--container", "-c",
                                         help="The debug container's name."),
    stdin: bool = typer.Option(False, "--stdin", "-i", help="Keep stdin open and attach."),
    tty: bool = typer.Option(False, "--tty", "-t", help="Allocate a TTY."),
    pull_policy: str | None = typer.Option(None, "--image-pull-policy",
                                           help="Always, IfNotPresent or Never."),
    namespace: str = typer.Option("default", "--namespace", "-n", help=NS_HELP),
    store: str | None = typer.Option(None, "--store", envvar="GITKUBE_STORE", help=STORE_HELP),
) -> None:
    """Add an ephemeral container to a pod and attach to it (kubectl debug)."""
    from gitkube.cli.connect import client_for
    from gitkube.cli.logs import find_pod

    if pod.startswith(("node/", "nodes/")):
        raise UsageError("gitkube debug adds ephemeral containers to pods; node debugging "
                         "is not supported", hint="use `kubectl debug node/NAME` through "
                                                  "the daemon")
    name = container or "debugger-" + "".join(random.choices(string.ascii_lowercase, k=5))
    if container is None:
        typer.echo(f"Defaulting debug container name to {name}.", err=True)
    argv = list(command or [])
    argv = argv[1:] if argv[:1] == ["--"] else argv
    client = client_for(store)
    the_pod = find_pod(client, pod, namespace)
    meta = the_pod["metadata"]
    spec = debug_container(name, image, target=target, command=argv, stdin=stdin or tty,
                           tty=tty, pull_policy=pull_policy)
    client.patch("v1", "Pod", meta.get("namespace"), meta["name"],
                 {"spec": {"ephemeralContainers": [spec]}}, "strategic",
                 subresource="ephemeralcontainers")
    running = _start(client, the_pod, name, WAIT_SECONDS)
    if not (stdin or tty):
        return
    access = PodAccess(client)
    try:
        stream = access.process(running, name, None, StreamOptions(stdin=stdin, tty=tty))
        code = run_session(stream, stdin=stdin, tty=tty)
    finally:
        access.close()
    if code:
        raise typer.Exit(code)


__all__ = ["debug", "debug_container"]
