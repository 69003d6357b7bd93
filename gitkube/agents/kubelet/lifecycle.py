"""Container lifecycle hooks: ``postStart`` and ``preStop``, as the upstream kubelet runs them.

A handler is ``exec`` (a command in the container: exit 0 is success), ``httpGet`` (a GET to
the pod's IP, or ``host``; a 2xx/3xx answer is success) or ``sleep`` (``seconds``).
``tcpSocket`` is not a hook handler upstream either (the schema refuses it).

- ``postStart`` runs right after the container starts. The container is not reported
  running until it is done. A failure is a ``FailedPostStartHook`` event, and the container is
  stopped and restarted per the pod's restartPolicy. It may take at most ``POST_START_LIMIT``
  seconds.
- ``preStop`` runs before SIGTERM whenever the kubelet stops a running container (pod
  deletion, failed liveness or startup probe, changed image). It runs inside the grace
  period: SIGTERM follows when it is done, with what is left of the period, and at least
  ``MIN_AFTER_PRE_STOP`` seconds, as upstream. A failure is a ``FailedPreStopHook`` event and
  the container is stopped all the same.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from gitkube.agents.kubelet.probes import check
from gitkube.runtime.base import ContainerRuntime

POST_START_LIMIT = 30.0
MIN_AFTER_PRE_STOP = 2.0


def run_handler(handler: Mapping[str, Any], container: Mapping[str, Any], *,
                runtime: ContainerRuntime, container_id: str, pod_ip: str,
                timeout: float) -> str:
    """Run one lifecycle handler within ``timeout`` s: "" on success, else why it failed."""
    timeout = max(0.1, timeout)
    if "sleep" in handler:
        time.sleep(min(float((handler["sleep"] or {}).get("seconds") or 0), timeout))
        return ""
    if "exec" in handler:
        probe: dict[str, Any] = {"exec": handler["exec"], "timeoutSeconds": timeout}
        ok, output = check(probe, container, runtime=runtime, container_id=container_id,
                           pod_ip=pod_ip)
        command = list((handler["exec"] or {}).get("command") or [])
        return "" if ok else f"command {command!r} failed: {output or 'non-zero exit code'}"
    if "httpGet" in handler:
        probe = {"httpGet": handler["httpGet"], "timeoutSeconds": timeout}
        ok, message = check(probe, container, runtime=runtime, container_id=container_id,
                            pod_ip=pod_ip)
        return "" if ok else f"HTTP lifecycle hook ({handler['httpGet'].get('path', '/')}) " \
                             f"failed: {message}"
    return "the hook has no exec, httpGet or sleep handler"


def hook(container: Mapping[str, Any], which: str) -> Mapping[str, Any] | None:
    """The container's ``postStart`` or ``preStop`` handler, or None."""
    found = (container.get("lifecycle") or {}).get(which)
    return found if isinstance(found, Mapping) and found else None


__all__ = ["MIN_AFTER_PRE_STOP", "POST_START_LIMIT", "hook", "run_handler"]
