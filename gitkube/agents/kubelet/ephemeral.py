"""Where an ephemeral container (``kubectl debug``) runs in its pod, decided purely.

It joins the pod's sandbox like any container; beyond that, as upstream's kubelet:

- ``targetContainerName``: it shares that container's PID namespace, so it sees (and can
  signal, ``ps``, ``/proc/1/root``) the target's processes; with
  ``shareProcessNamespace`` the pod already shares one;
- a sandbox without infra (a pod of one container owns its namespaces) has no pod-wide
  network, IPC and UTS namespaces: it joins the target's (or the first running
  container's), so it sees the pod's address and hostname;
- it publishes no ports and takes no address of its own.

Until the container it joins runs, it waits (``ContainerCreating`` with a message).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from gitkube.runtime.base import LABEL_CONTAINER, LABEL_EPHEMERAL, ContainerInfo, ContainerSpec

Obj = dict[str, Any]


def _running(containers: Sequence[ContainerInfo], name: str) -> ContainerInfo | None:
    found = [c for c in containers
             if c.labels.get(LABEL_CONTAINER) == name and c.state == "running"]
    return found[-1] if found else None


def ephemeral_config(pod: Obj, container: Mapping[str, Any], spec: ContainerSpec, *,
                     infra: bool, containers: Sequence[ContainerInfo]) -> ContainerSpec | str:
    """``spec`` (made as for any container) placed as an ephemeral container (module
    docstring), or the reason it cannot start yet. ``containers``: the pod's containers as
    the runtime holds them now."""
    pod_spec = pod.get("spec") or {}
    target = str(container.get("targetContainerName") or "")
    pid_of = share_with = ""
    if target and not pod_spec.get("shareProcessNamespace"):
        info = _running(containers, target)
        if info is None:
            return f'waiting for target container "{target}" to run'
        pid_of = info.id
    if not infra:
        names = [target] if target else [str(c.get("name"))
                                         for c in pod_spec.get("containers") or []]
        info = next((i for i in (_running(containers, n) for n in names) if i), None)
        if info is None:
            return "waiting for a container of the pod to run"
        share_with = info.id
    return replace(spec, labels={**spec.labels, LABEL_EPHEMERAL: "true"}, ports=(), ip="",
                   pid_of=pid_of, share_with=share_with)


__all__ = ["ephemeral_config"]
