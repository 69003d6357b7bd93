"""`gitkube agent simulate|kubelet`: run node agents against the store until interrupted."""

from __future__ import annotations

import dataclasses
import logging
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any, cast

import typer

from gitkube.api.client import Client
from gitkube.cli.app import STORE_HELP, app, settings
from gitkube.errors import UsageError
from gitkube.settings import RuntimeName

agent_app = typer.Typer(help="Run node agents (kubelet, simulated nodes) in the foreground.",
                        no_args_is_help=True)
app.add_typer(agent_app, name="agent")


def _client(store: str | None) -> Client:
    from gitkube.cli.connect import client_for  # the daemon's API when one serves the store

    return client_for(store)


def _run_until_interrupted(duration: float | None) -> None:
    done = threading.Event()

    def handler(_sig: int, _frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    done.wait(duration)


@agent_app.command()
def simulate(
    nodes: int = typer.Option(10, "--nodes", "-n", help="How many simulated nodes."),
    cpu: str = typer.Option("32", "--cpu", help="Each node's cpu capacity."),
    memory: str = typer.Option("256Gi", "--memory", help="Each node's memory capacity."),
    pods: int = typer.Option(110, "--pods", help="Each node's pod capacity."),
    start_delay: float = typer.Option(0.0, "--start-delay",
                                      help="Seconds before a bound pod is Running."),
    heartbeat: float = typer.Option(10.0, "--heartbeat", help="Heartbeat interval, seconds."),
    mode: str = typer.Option("light", "--mode",
                             help="light: one shared loop (thousands of nodes); full: a real "
                                  "kubelet per node on the simulated runtime."),
    prefix: str = typer.Option("sim-node-", "--prefix", help="Node name prefix."),
    duration: float | None = typer.Option(None, "--duration",
                                          help="Stop after this many seconds."),
    store: str | None = typer.Option(None, "--store", envvar="GITKUBE_STORE", help=STORE_HELP),
) -> None:
    """Register N simulated nodes, heartbeat for them and run their pods (no containers)."""
    from gitkube.agents.compose import AgentSet
    from gitkube.agents.kubelet.simulate import NodeTemplate, SimulatedCluster

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    client = _client(store)
    agents = AgentSet(client, settings(store), None, names=())  # the nodes' own Manager
    # the simulated nodes add their loop (or their kubelets) to that Manager
    SimulatedCluster(client, nodes=nodes,
                     template=NodeTemplate(cpu=cpu, memory=memory, pods=pods, prefix=prefix),
                     start_delay=start_delay, heartbeat_interval=heartbeat, mode=mode,
                     manager=agents.manager)
    with agents:
        typer.echo(f"{nodes} simulated nodes ({prefix}0..{prefix}{nodes - 1}) running; "
                   "Ctrl-C stops them", err=True)
        _run_until_interrupted(duration)


def _remote_client(server: str, token: str | None, token_file: Path | None,
                   ca: Path | None) -> Client:
    """An HTTPClient for ``--server`` (a remote kubelet: docs/DAEMON.md, Remote agents)."""
    from gitkube.api.http_client import HTTPClient

    if token_file is not None:
        token = token_file.read_text(encoding="utf-8").strip()
    return HTTPClient(server, token=token, ca=ca)


def _serve_streams(client: Client, runtime: Any, node: str, state_dir: Path,
                   ca: Path | None, listen: str | None, advertise: str) -> Callable[[], None]:
    """Start the kubelet's server when ``listen`` asks for one; what stops it."""
    if not listen:
        return lambda: None
    from gitkube.daemon.kubeletserver import KubeletServer

    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit():
        raise UsageError(f"--streams-listen {listen!r}: expected HOST:PORT",
                         hint="e.g. --streams-listen 127.0.0.1:10250")
    if ca is None:
        raise UsageError("--streams-listen needs --certificate-authority (the daemon's "
                         "tls/ca.crt): only the API server may connect")
    server = KubeletServer(client, runtime, node_name=node, tls_dir=state_dir / "kubelet-tls",
                           ca=ca)
    bound = server.start(host.strip("[]"), int(port), advertise=advertise)
    typer.echo(f"kubelet server for exec, attach, port-forward and logs on "
               f"{host}:{bound}", err=True)
    return server.stop


@agent_app.command()
def kubelet(
    node: str | None = typer.Option(None, "--node", "--node-name",
                                    help="Node name (default: host name)."),
    store: str | None = typer.Option(None, "--store", envvar="GITKUBE_STORE", help=STORE_HELP),
    server: str | None = typer.Option(None, "--server", envvar="GITKUBE_SERVER",
                                      help="A gitkube serve API (https://HOST:PORT) to work "
                                           "against instead of the store; several, "
                                           "comma-separated: an HA control plane (the "
                                           "kubelet moves to the next when one fails)."),
    token: str | None = typer.Option(None, "--token", envvar="GITKUBE_TOKEN",
                                     help="Bearer token (admin role) for --server."),
    token_file: Path | None = typer.Option(None, "--token-file",
                                           help="Read the token from this file instead."),
    ca: Path | None = typer.Option(None, "--certificate-authority",
                                   help="CA certificate to verify --server (the daemon's "
                                        "tls/ca.crt)."),
    runtime_name: str = typer.Option("podman", "--runtime", hidden=True,
                                     help="podman, or simulated (tests)."),
    duration: float | None = typer.Option(None, "--duration",
                                          help="Stop after this many seconds."),
    streams_listen: str | None = typer.Option(
        None, "--streams-listen", help="Serve exec, attach, port-forward and logs of this "
                                       "node's pods to the API server on HOST:PORT (TLS; "
                                       "needs --certificate-authority)."),
    streams_advertise: str = typer.Option(
        "", "--streams-advertise", help="The address the API server reaches "
                                        "--streams-listen at (default: its host)."),
) -> None:
    """Run the kubelet on local Podman for one node until interrupted."""
    from gitkube.agents.compose import NODE_AGENTS, AgentSet, open_runtime

    if runtime_name not in ("podman", "simulated"):
        raise UsageError(f"--runtime {runtime_name!r}: podman or simulated")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    current = settings(store)
    # A node agent runs no cluster DNS and no proxy for its pods to use: they stay on
    # Podman's default network with the host's resolv.conf.
    current = dataclasses.replace(current, node_name=node,
                                  runtime=cast(RuntimeName, runtime_name),
                                  network=dataclasses.replace(current.network, name=""))
    client = _remote_client(server, token, token_file, ca) if server else _client(store)
    runtime = open_runtime(current)
    try:
        with AgentSet(client, current, runtime, names=NODE_AGENTS) as agents:
            kubelet = agents.kubelet
            assert kubelet is not None
            stop = _serve_streams(client, runtime, kubelet.node_name, current.state_dir,
                                  ca, streams_listen, streams_advertise)
            typer.echo(f"kubelet for node {kubelet.node_name} running; Ctrl-C stops it "
                       "(containers keep running)", err=True)
            try:
                _run_until_interrupted(duration)
            finally:
                stop()
    finally:
        runtime.close()
