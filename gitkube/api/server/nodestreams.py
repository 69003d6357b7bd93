"""Where exec, attach and port-forward reach a pod's containers: the provider the API server
is given (``streams=``), by default none.

``RuntimeStreams`` (the daemon's) finds the pod's containers in the kubelet's container
runtime by the labels the kubelet puts on them, as the pods/log provider does, and opens
the runtime's streams. The runtime is created on first use and shared.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from typing import Any, Protocol

from gitkube.errors import BadRequest, GitkubeError, NotFound
from gitkube.runtime.base import (
    LABEL_ATTEMPT,
    LABEL_CONTAINER,
    LABEL_POD_UID,
    ContainerInfo,
    ContainerRuntime,
    NoSuchObject,
    ProcessStream,
    StreamOptions,
)

Obj = dict[str, Any]
Connector = Callable[[int], socket.socket]


class StreamsProvider(Protocol):
    """The node side of exec, attach and port-forward. Each call raises an APIError (a
    Status for the client) when it cannot start."""

    def exec(self, pod: Obj, container: str, command: list[str],
             options: StreamOptions) -> ProcessStream: ...

    def attach(self, pod: Obj, container: str, options: StreamOptions) -> ProcessStream: ...

    def connector(self, pod: Obj) -> Connector:
        """Connections to the pod's ports (made when called, each a blocking socket)."""
        ...


class NoStreams:
    """The provider of an API server beside no container runtime."""

    @staticmethod
    def _refuse(pod: Obj) -> NotFound:
        name = pod["metadata"]["name"]
        return NotFound(f'pod "{name}" cannot be reached here: this API server has no '
                        "container runtime", kind="pods", name=name)

    def exec(self, pod: Obj, container: str, command: list[str],
             options: StreamOptions) -> ProcessStream:
        raise self._refuse(pod)

    def attach(self, pod: Obj, container: str, options: StreamOptions) -> ProcessStream:
        raise self._refuse(pod)

    def connector(self, pod: Obj) -> Connector:
        raise self._refuse(pod)


def _attempt(info: ContainerInfo) -> int:
    try:
        return int(info.labels.get(LABEL_ATTEMPT, "0"))
    except ValueError:
        return 0


class RuntimeStreams:
    """The default provider: the kubelet's containers in the local runtime (module
    docstring). ``close()`` releases the runtime it created."""

    def __init__(self, factory: Callable[[], ContainerRuntime], *, timeout: float = 10.0):
        self._factory = factory
        self._runtime: ContainerRuntime | None = None
        self._lock = threading.Lock()
        self.timeout = timeout

    def _get_runtime(self) -> ContainerRuntime:
        with self._lock:
            if self._runtime is None:
                self._runtime = self._factory()
            return self._runtime

    def _running(self, pod: Obj, container: str | None) -> tuple[ContainerRuntime, str]:
        """The runtime and the id of the pod's running ``container`` (None: any of the
        pod's); BadRequest when there is none, as the kubelet words it."""
        meta = pod["metadata"]
        labels = {LABEL_POD_UID: str(meta.get("uid"))}
        if container:
            labels[LABEL_CONTAINER] = container
        try:
            runtime = self._get_runtime()
            if not runtime.capabilities().streaming:
                raise BadRequest(f'pod "{meta["name"]}" runs on a simulated node: its '
                                 "containers run no process")
            found = runtime.list_containers(labels)
        except GitkubeError as e:
            if isinstance(e, BadRequest):
                raise
            raise BadRequest(f'pod "{meta["name"]}" cannot be reached here: {e.message}') \
                from e
        running = sorted((c for c in found if c.state == "running"), key=_attempt)
        if not running:
            raise BadRequest(f'container not found ("{container or meta["name"]}")')
        return runtime, running[-1].id

    def exec(self, pod: Obj, container: str, command: list[str],
             options: StreamOptions) -> ProcessStream:
        runtime, cid = self._running(pod, container)
        return _translated(lambda: runtime.exec_stream(cid, command, options), container)

    def attach(self, pod: Obj, container: str, options: StreamOptions) -> ProcessStream:
        runtime, cid = self._running(pod, container)
        return _translated(lambda: runtime.attach(cid, options), container)

    def connector(self, pod: Obj) -> Connector:
        runtime, cid = self._running(pod, None)
        timeout = self.timeout
        return lambda port: runtime.connect_port(cid, port, timeout)

    def close(self) -> None:
        with self._lock:
            if self._runtime is not None:
                self._runtime.close()
                self._runtime = None


def _translated(start: Callable[[], ProcessStream], container: str) -> ProcessStream:
    try:
        return start()
    except NoSuchObject as e:
        raise BadRequest(f'container not found ("{container}")') from e
    except GitkubeError as e:
        raise BadRequest(e.message) from e


__all__ = ["Connector", "NoStreams", "RuntimeStreams", "StreamsProvider"]
