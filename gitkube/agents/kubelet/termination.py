"""Termination messages: the file a container may write why it ended, and what becomes of it.

Every container gets an empty, world-writable file bind-mounted at its
``terminationMessagePath`` (default ``/dev/termination-log``), kept under
``<root>/pods/<uid>/termination/<container>-<attempt>`` and removed with the pod's
directory. When the container has exited, up to 4096 bytes of it become the terminated
state's ``message``; with ``terminationMessagePolicy: FallbackToLogsOnError`` a failed
container that wrote nothing there gets the last 80 lines of its log (at most 2048 bytes),
as upstream. Each message is read once per container instance.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gitkube.agents.kubelet.actions import attempt_of
from gitkube.agents.kubelet.volumes import ContainerConfigError
from gitkube.runtime.base import ContainerInfo, ContainerRuntime, Mount, RuntimeFailure

MESSAGE_LIMIT = 4096  # bytes of a terminationMessagePath file, as upstream
LOG_MESSAGE_LIMIT = 2048  # bytes of log tail for FallbackToLogsOnError, as upstream
LOG_LINES = 80
Container = Mapping[str, Any]


def message_file(root: Path, uid: str, name: str, attempt: int) -> Path:
    """Where instance ``attempt`` of container ``name`` of pod ``uid`` writes its message."""
    return root / "pods" / uid / "termination" / f"{name}-{attempt}"


class TerminationMessages:
    """The message files of the pods under ``root`` (thread-safe)."""

    def __init__(self, root: Path, runtime: ContainerRuntime):
        self.root = root
        self.runtime = runtime
        self._read: dict[str, str] = {}  # exited container id -> its message
        self._lock = threading.Lock()

    def mount(self, pod: Mapping[str, Any], container: Container,
              attempt: int) -> tuple[Mount, ...]:
        """An empty file at the container's terminationMessagePath for it to write why it
        ended (ContainerConfigError for a relative path)."""
        target = str(container.get("terminationMessagePath") or "/dev/termination-log")
        if not target.startswith("/"):
            raise ContainerConfigError(f"terminationMessagePath {target!r} must be an "
                                       "absolute path")
        path = message_file(self.root, str(pod["metadata"]["uid"]), str(container["name"]),
                            attempt)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
        path.chmod(0o666)  # whatever user the container runs as may write it
        return (Mount(source=str(path), target=target),)

    def message(self, uid: str, container: Container, info: ContainerInfo) -> str:
        """What exited instance ``info`` left (see the module docstring); read once."""
        with self._lock:
            cached = self._read.get(info.id)
        if cached is not None:
            return cached
        try:
            text = message_file(self.root, uid, str(container["name"]), attempt_of(info)) \
                .read_bytes()[:MESSAGE_LIMIT].decode(errors="replace")
        except OSError:
            text = ""
        if not text.strip() and info.exit_code not in (0, None) and \
                container.get("terminationMessagePolicy") == "FallbackToLogsOnError":
            with contextlib.suppress(RuntimeFailure):
                text = "".join(self.runtime.logs(info.id, tail=LOG_LINES))[-LOG_MESSAGE_LIMIT:]
        with self._lock:
            self._read[info.id] = text
        return text


__all__ = ["LOG_MESSAGE_LIMIT", "MESSAGE_LIMIT", "TerminationMessages", "message_file"]
