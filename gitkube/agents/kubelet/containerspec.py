"""What the runtime is asked to create for a pod, built purely (upstream's
``generateContainerConfig`` and ``generatePodSandboxConfig``).

``sandbox_config(pod, scope=..., network=...)`` is the pod's ``SandboxSpec``;
``container_config(pod, container, resolved, attempt=..., ...)`` a container's
``ContainerSpec``. The inputs that need reading the world (the environment with its
ConfigMaps and Secrets, the mounts, the security settings, the pod network's fields) are
resolved by the caller and passed in (``Resolved``).

Naming and labels: a sandbox is ``<pod>_<namespace>_<uid8>``, a container
``<sandbox>_<container>_<attempt>``; everything carries the pod's labels (``pod_labels``)
plus this kubelet's scope (node, cluster), and containers their name, attempt and image (as
the spec names it: engines rewrite names). A pod of one container (no init containers, no
shared PID namespace, no ``status.podIP`` in its env) needs no infra container
(``needs_infra``): its container then owns the network namespace, so its hostname, ports,
/etc/hosts entries and network go on the container, and a restart asks for the pod's IP
again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from gitkube.agents.kubelet.volumes import expand
from gitkube.model.quantity import parse_quantity
from gitkube.runtime.base import (
    LABEL_ATTEMPT,
    LABEL_CONTAINER,
    LABEL_GRACE,
    LABEL_IMAGE,
    LABEL_INIT,
    LABEL_MANAGED,
    LABEL_NAMESPACE,
    LABEL_POD_NAME,
    LABEL_POD_UID,
    ContainerSpec,
    Mount,
    PortMapping,
    SandboxInfo,
    SandboxSpec,
    Security,
)

Obj = dict[str, Any]
Container = Mapping[str, Any]
DEFAULT_GRACE = 30


def pod_labels(pod: Obj, scope: Mapping[str, str]) -> dict[str, str]:
    """The labels of everything made for ``pod``: managed, its uid, namespace and name, and
    ``scope`` (this kubelet's node and cluster, and any extra labels)."""
    meta = pod["metadata"]
    return {LABEL_MANAGED: "true", LABEL_POD_UID: str(meta["uid"]),
            LABEL_NAMESPACE: str(meta.get("namespace") or "default"),
            LABEL_POD_NAME: str(meta["name"]), **scope}


def grace_period(pod: Obj) -> float:
    """``spec.terminationGracePeriodSeconds`` (30 when not set)."""
    value = (pod.get("spec") or {}).get("terminationGracePeriodSeconds")
    return float(DEFAULT_GRACE if value is None else value)


def host_ports(pod: Obj) -> tuple[PortMapping, ...]:
    """The ports of every container that asks for a ``hostPort``."""
    ports = []
    for c in (pod.get("spec") or {}).get("containers") or []:
        for p in c.get("ports") or []:
            if p.get("hostPort"):
                ports.append(PortMapping(container_port=int(p["containerPort"]),
                                         host_port=int(p["hostPort"]),
                                         protocol=str(p.get("protocol") or "TCP"),
                                         host_ip=str(p.get("hostIP") or "")))
    return tuple(ports)


def host_aliases(pod: Obj) -> tuple[tuple[str, str], ...]:
    """``spec.hostAliases`` as /etc/hosts entries (name, ip), in their order."""
    return tuple((str(name), str(alias.get("ip")))
                 for alias in (pod.get("spec") or {}).get("hostAliases") or []
                 for name in alias.get("hostnames") or [])


def needs_infra(pod: Obj) -> bool:
    """A pod of one container (no init containers, no shared PID namespace, no
    status.podIP in its env) has nothing to share: its sandbox needs no infra container,
    which makes it start about a third faster. Its IP is then its container's."""
    spec = pod.get("spec") or {}
    containers = spec.get("containers") or []
    if len(containers) != 1 or spec.get("initContainers") or \
            spec.get("shareProcessNamespace"):
        return True
    for e in containers[0].get("env") or []:
        ref = ((e.get("valueFrom") or {}).get("fieldRef") or {}).get("fieldPath")
        if ref == "status.podIP":
            return True
    return False


def hostname(pod: Obj) -> str:
    """``spec.hostname``, else the pod's name (at most 63 characters)."""
    return str((pod.get("spec") or {}).get("hostname") or pod["metadata"]["name"])[:63]


def pod_network(pod: Obj, network: Mapping[str, Any]) -> dict[str, Any]:
    """The network fields (``network``, ``dns_*``) for ``pod``: a hostNetwork pod joins no
    network and keeps only the resolv.conf."""
    fields = dict(network)
    if (pod.get("spec") or {}).get("hostNetwork"):
        fields.pop("network", None)
    return fields


def sandbox_name(pod: Obj) -> str:
    meta = pod["metadata"]
    return f"{meta['name']}_{meta.get('namespace', 'default')}_{str(meta['uid'])[:8]}"


def sandbox_config(pod: Obj, *, scope: Mapping[str, str],
                   network: Mapping[str, Any]) -> SandboxSpec:
    """The pod's sandbox. ``network``: the pod network's fields (runtime/network.py's
    ``sandbox_fields``; empty: the engine's default network)."""
    spec = pod.get("spec") or {}
    infra = needs_infra(pod)
    host_net = bool(spec.get("hostNetwork"))
    labels = pod_labels(pod, scope)
    labels[LABEL_GRACE] = str(spec.get("terminationGracePeriodSeconds", DEFAULT_GRACE))
    return SandboxSpec(
        name=sandbox_name(pod), labels=labels, hostname=hostname(pod),
        share_pid=bool(spec.get("shareProcessNamespace")),
        ports=host_ports(pod) if infra and not host_net else (), infra=infra,
        hosts=host_aliases(pod), host_network=host_net, host_ipc=bool(spec.get("hostIPC")),
        **pod_network(pod, network))


def resource_limits(container: Container) -> tuple[int | None, int | None]:
    """(memory bytes, cpu millis) of ``resources.limits`` (None: not set)."""
    limits = (container.get("resources") or {}).get("limits") or {}
    memory = parse_quantity(limits["memory"]).to_int() if limits.get("memory") else None
    cpu = parse_quantity(limits["cpu"]).milli if limits.get("cpu") else None
    return memory, cpu


@dataclass(frozen=True)
class Resolved:
    """What the caller resolved for a container by reading the world: its environment
    (ConfigMaps, Secrets, service links), mounts, security settings, and the pod network's
    fields (runtime/network.py's ``sandbox_fields``; unused with an infra container)."""

    env: Mapping[str, str]
    mounts: tuple[Mount, ...]
    security: Security
    network: Mapping[str, Any]


def container_config(pod: Obj, container: Container, resolved: Resolved, *, attempt: int,
                     init: bool, sandbox: SandboxInfo, scope: Mapping[str, str],
                     restart: bool) -> ContainerSpec:
    """Instance ``attempt`` of ``container`` in ``sandbox``: command and args with ``$(VAR)``
    expanded from the resolved environment, limits, mounts, security; without infra also the
    pod's hostname, host ports, /etc/hosts entries and network (a ``restart`` asks for the
    pod's IP again, so the pod keeps it)."""
    env, mounts, security = resolved.env, resolved.mounts, resolved.security
    name = str(container["name"])
    spec = pod.get("spec") or {}
    image = str(container.get("image"))
    labels = pod_labels(pod, scope)
    labels.update({LABEL_CONTAINER: name, LABEL_ATTEMPT: str(attempt), LABEL_IMAGE: image})
    if init:
        labels[LABEL_INIT] = "true"
    command = container.get("command")
    args = container.get("args")
    memory, cpu = resource_limits(container)
    out = ContainerSpec(
        name=f"{sandbox.name}_{name}_{attempt}", image=image, labels=labels,
        entrypoint=tuple(expand(str(x), env) for x in command) if command else None,
        command=tuple(expand(str(x), env) for x in args) if args is not None else None,
        env=dict(env), working_dir=str(container.get("workingDir") or ""), mounts=mounts,
        memory_limit=memory, cpu_limit_milli=cpu, security=security,
        host_pid=bool(spec.get("hostPID")), host_ipc=bool(spec.get("hostIPC")),
        stdin=bool(container.get("stdin")), stdin_once=bool(container.get("stdinOnce")),
        tty=bool(container.get("tty")))
    if sandbox.infra:
        return out
    # the container owns the network namespace: name, ports, DNS
    net = pod_network(pod, resolved.network)
    host_net = bool(spec.get("hostNetwork"))
    out = replace(out, hostname=hostname(pod), ports=() if host_net else host_ports(pod),
                  hosts=host_aliases(pod), host_network=host_net, **net)
    if restart and net.get("network"):  # a restart keeps the pod's IP
        out = replace(out, ip=str((pod.get("status") or {}).get("podIP") or ""))
    return out


__all__ = [
    "Resolved",
    "container_config",
    "grace_period",
    "host_aliases",
    "host_ports",
    "hostname",
    "needs_infra",
    "pod_labels",
    "pod_network",
    "resource_limits",
    "sandbox_config",
    "sandbox_name",
]
