"""The agents of a command that waits (``apply --wait``, ``delete --wait``).

Without a daemon, the command runs every agent in this process (composed from its
settings by gitkube/agents/compose.py) until what it applied or deleted has converged, and
stops them; containers keep running. Through a daemon it only waits: the daemon's agents
do the work (two kubelets for one node would fight over its pods).

Starting Podman's API service takes a moment, so ``prestart(settings)`` starts the runtime
in the background while the command reads and plans; ``wait_for`` takes it (or starts one).
A runtime started and never used is closed when the process exits.
"""

from __future__ import annotations

import atexit
import sys
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor

from gitkube.agents.compose import AgentSet, open_runtime
from gitkube.agents.converge import ConvergeResult, Deleted, converge
from gitkube.api.client import Client
from gitkube.cli.progress import finish, show_progress
from gitkube.daemon.client import through_daemon
from gitkube.model.objects import ObjectRef
from gitkube.runtime.base import ContainerRuntime
from gitkube.settings import Settings

_prestarted: Future[ContainerRuntime] | None = None


def _start_runtime(settings: Settings) -> ContainerRuntime:
    runtime = open_runtime(settings, linger=settings.podman_linger)
    runtime.version()  # the API service sets itself up on its first real request
    return runtime


def _close_unused() -> None:
    future = _prestarted
    if future is not None and future.done() and future.exception() is None:
        future.result().close()


def prestart(settings: Settings) -> None:
    """Start the container runtime in the background, for ``wait_for`` to take."""
    global _prestarted
    if _prestarted is None:
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="runtime-start")
        _prestarted = pool.submit(_start_runtime, settings)
        pool.shutdown(wait=False)
        atexit.register(_close_unused)


def _take_runtime(settings: Settings) -> ContainerRuntime:
    global _prestarted
    future, _prestarted = _prestarted, None
    return future.result() if future is not None else _start_runtime(settings)


def wait_for(client: Client, refs: Iterable[ObjectRef], settings: Settings, *,
             timeout: float, gone: Iterable[Deleted] = ()) -> ConvergeResult:
    """Wait until ``refs`` converge and ``gone`` are gone, showing progress on stdout; the
    agents run here unless ``client`` goes through a daemon (module docstring)."""
    sink = show_progress(sys.stdout)
    try:
        if through_daemon(client):
            return converge(client, refs, gone=gone, timeout=timeout, on_progress=sink)
        runtime = _take_runtime(settings)
        try:
            return converge(client, refs, gone=gone, timeout=timeout, on_progress=sink,
                            agents=AgentSet(client, settings, runtime))
        finally:
            runtime.close()
    finally:
        finish(sink)


__all__ = ["prestart", "wait_for"]
