"""`gitkube agent simulate|kubelet`: run node agents against the store until interrupted."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

import typer

from gitkube.api.client import Client
from gitkube.cli.app import STORE_HELP, app
from gitkube.config import default_store_url

agent_app = typer.Typer(help="Run node agents (kubelet, simulated nodes) in the foreground.",
                        no_args_is_help=True)
app.add_typer(agent_app, name="agent")


def _client(store: str | None) -> Client:
    from gitkube.api.local import LocalClient
    from gitkube.store import open_store

    return LocalClient(open_store(store or default_store_url()))


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
    from gitkube.agents.kubelet.simulate import SimulatedCluster

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    cluster = SimulatedCluster(_client(store), nodes=nodes, cpu=cpu, memory=memory, pods=pods,
                               start_delay=start_delay, heartbeat_interval=heartbeat,
                               mode=mode, prefix=prefix)
    cluster.start()
    typer.echo(f"{nodes} simulated nodes ({prefix}0..{prefix}{nodes - 1}) running; "
               "Ctrl-C stops them", err=True)
    try:
        _run_until_interrupted(duration)
    finally:
        cluster.stop()


@agent_app.command()
def kubelet(
    node: str | None = typer.Option(None, "--node", help="Node name (default: host name)."),
    store: str | None = typer.Option(None, "--store", envvar="GITKUBE_STORE", help=STORE_HELP),
    duration: float | None = typer.Option(None, "--duration",
                                          help="Stop after this many seconds."),
) -> None:
    """Run the kubelet on local Podman for one node until interrupted."""
    from gitkube.agents.kubelet.agent import Kubelet, KubeletConfig
    from gitkube.agents.runtime import Manager
    from gitkube.runtime.podman import PodmanRuntime

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    runtime = PodmanRuntime()
    manager = Manager(_client(store))
    config = KubeletConfig(node_name=node) if node else KubeletConfig()
    manager.add(Kubelet(manager, runtime, config))
    manager.start()
    typer.echo(f"kubelet for node {config.node_name} running; Ctrl-C stops it "
               "(containers keep running)", err=True)
    try:
        _run_until_interrupted(duration)
    finally:
        manager.stop()
        runtime.close()
