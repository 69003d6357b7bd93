"""Podman's REST wire format, as gitkube speaks it (pure): the bodies of the requests that
create pods and containers, and how the answers are read back into the runtime's values.

``sandbox_body(spec)`` is a ``POST /pods/create`` body, ``container_body(pod_id, spec)`` a
``POST /containers/create`` one; ``container_info(item)`` reads a container of
``GET /containers/json`` (or the fields of an inspect, put in that shape); ``epoch`` reads
Podman's times and ``demux`` strips the multiplexing headers of a non-tty stream;
``log_frames`` reads a log stream's frames and ``stamped_lines`` turns frames asked for with
``timestamps=true`` into lines, filtered by time and stamped as the kubelet stamps them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from typing import Any

from gitkube.model.times import parse_time, parse_time_ns, rfc3339_nano
from gitkube.runtime.base import (
    ContainerInfo,
    ContainerSpec,
    ContainerStateName,
    PortMapping,
    SandboxSpec,
    Security,
)

Body = dict[str, Any]
CPU_PERIOD = 100_000  # microseconds: a CPU limit is a quota of this period
MIN_CPU_QUOTA = 1000


def demux(data: bytes) -> bytes:
    """Strip the 8-byte multiplexing headers of a non-tty stream (stdout and stderr)."""
    out = bytearray()
    i = 0
    while len(data) - i >= 8:
        size = int.from_bytes(data[i + 4:i + 8], "big")
        out += data[i + 8:i + 8 + size]
        i += 8 + size
    return bytes(out)


def log_frames(read: Any) -> Iterator[bytes]:
    """The payloads of a multiplexed log stream (8-byte header: stream, 0, 0, 0, size),
    ``read(n)`` being the stream's read; one frame is one line or part of one."""
    while True:
        header = read(8)
        if len(header) < 8:
            return
        size = int.from_bytes(header[4:8], "big")
        yield read(size) if size else b""


def stamped_lines(frames: Iterable[bytes], *, since: float | None,
                  timestamps: bool) -> Iterator[str]:
    """Lines of a log stream asked for with ``timestamps=true``: each frame starts with
    Podman's stamp (RFC 3339, nanoseconds, any zone) and a space; a line that came in
    several frames (partial lines) keeps its first frame's stamp. Lines written before
    ``since`` (epoch seconds) are dropped; with ``timestamps`` the stamp is written again in
    UTC with nine fraction digits, else left out."""
    since_ns = None if since is None else int(since * 1_000_000_000)
    stamp: int | None = None
    text = b""
    for frame in frames:
        head, sep, rest = frame.partition(b" ")
        when = parse_time_ns(head.decode("ascii", "replace")) if sep else None
        if when is None:  # not stamped after all: keep the bytes, and the line's time
            rest = frame
        elif stamp is None:
            stamp = when
        text += rest
        if not text.endswith(b"\n"):
            continue
        if since_ns is None or stamp is None or stamp >= since_ns:
            line = text.decode(errors="replace")
            yield f"{rfc3339_nano(stamp or 0)} {line}" if timestamps else line
        stamp, text = None, b""
    if text and (since_ns is None or stamp is None or stamp >= since_ns):
        line = text.decode(errors="replace")
        yield f"{rfc3339_nano(stamp or 0)} {line}" if timestamps else line


_GONE = re.compile(r"no such (pod|container|object)\b|no pod with (name or )?id .* found",
                   re.IGNORECASE)


def is_missing(status: int, message: str) -> bool:
    """Whether Podman's answer means "that object is not there": a 404, or a 500 saying "no
    such pod/container" when it went away between a look and the request (removed by
    someone else meanwhile)."""
    return status == 404 or (status >= 500 and _GONE.search(message) is not None)


def epoch(value: Any) -> float | None:
    """Podman's list API gives epoch seconds (negative: never); inspect gives RFC 3339 with
    nanoseconds (year 1: never)."""
    if isinstance(value, int | float):
        return float(value) if value > 0 else None
    if isinstance(value, str) and value and not value.startswith("0001"):
        return parse_time(value)
    return None


def _network_fields(body: Body, spec: SandboxSpec | ContainerSpec) -> None:
    """Join the pod to ``spec.network`` and give it the resolv.conf asked for."""
    if spec.network:
        body["netns"] = {"nsmode": "bridge"}
        body["Networks"] = {spec.network: {}}
    if spec.dns_servers:
        body["dns_server"] = list(spec.dns_servers)
    if spec.dns_searches:
        body["dns_search"] = list(spec.dns_searches)
    if spec.dns_options:
        body["dns_option"] = list(spec.dns_options)


def _security_fields(body: Body, sec: Security) -> None:
    """The securityContext (as ``Security``) in Podman's terms."""
    if sec.user:
        body["user"] = sec.user
    if sec.groups:
        body["groups"] = list(sec.groups)
    if sec.privileged:
        body["privileged"] = True
    if sec.cap_add:
        body["cap_add"] = list(sec.cap_add)
    if sec.cap_drop:
        body["cap_drop"] = list(sec.cap_drop)
    if sec.read_only_root:
        body["read_only_filesystem"] = True
    if sec.no_new_privileges:
        body["no_new_privileges"] = True
    if sec.seccomp:
        body["seccomp_profile_path"] = sec.seccomp


def _port_mappings(ports: tuple[PortMapping, ...]) -> list[Body]:
    return [{"container_port": p.container_port, "host_port": p.host_port,
             "protocol": p.protocol.lower(), "host_ip": p.host_ip} for p in ports]


def sandbox_body(spec: SandboxSpec) -> Body:
    """The pod to create for ``spec``: shared namespaces (none without infra), and with
    infra its hostname, /etc/hosts entries, published ports and network (the host's with
    ``host_network``: then only the resolv.conf)."""
    body: Body = {
        "name": spec.name,
        "labels": dict(spec.labels),
        "shared_namespaces": ["net", "ipc", "uts"] + (["pid"] if spec.share_pid else []),
        "exit_policy": "continue",
    }
    if spec.host_ipc:  # each container joins the host's IPC namespace instead
        body["shared_namespaces"].remove("ipc")
    if not spec.infra:
        body.update(no_infra=True, shared_namespaces=[])
        return body  # the container owns its namespaces: see container_body
    if spec.host_network:
        body["netns"] = {"nsmode": "host"}
        body["utsns"] = {"nsmode": "host"}
        _network_fields(body, replace(spec, network=""))  # resolv.conf only
    else:
        if spec.hostname:
            body["hostname"] = spec.hostname
        if spec.ports:
            body["portmappings"] = _port_mappings(spec.ports)
        _network_fields(body, spec)
    if spec.hosts:  # the pod's containers share the infra's /etc/hosts
        body["hostadd"] = [f"{name}:{ip}" for name, ip in spec.hosts]
    return body


def resource_limits(spec: ContainerSpec) -> Body:
    """Memory and CPU limits as cgroup settings (empty: none)."""
    limits: Body = {}
    if spec.memory_limit:
        limits["memory"] = {"limit": spec.memory_limit}
    if spec.cpu_limit_milli:
        limits["cpu"] = {"quota": max(MIN_CPU_QUOTA, spec.cpu_limit_milli * CPU_PERIOD // 1000),
                         "period": CPU_PERIOD}
    return limits


def _namespaces(body: Body, spec: ContainerSpec) -> ContainerSpec:
    """The host's PID, IPC, network namespaces when asked; what is left of ``spec`` to
    place on a network of its own."""
    if spec.host_pid:
        body["pidns"] = {"nsmode": "host"}
    if spec.host_ipc:
        body["ipcns"] = {"nsmode": "host"}
    if spec.pid_of:
        body["pidns"] = {"nsmode": "container", "value": spec.pid_of}
    if spec.share_with:  # another container's: nothing of its own to set up
        for ns in ("netns", "ipcns", "utsns"):
            body[ns] = {"nsmode": "container", "value": spec.share_with}
        return replace(spec, hostname="", hosts=(), ports=(), network="", host_network=False)
    if spec.host_network:  # the host's namespaces: its name, addresses and ports
        body["netns"] = {"nsmode": "host"}
        body["utsns"] = {"nsmode": "host"}
        _network_fields(body, replace(spec, network=""))  # resolv.conf only
        spec = replace(spec, hostname="", ports=(), network="")
    return spec


def _process_fields(body: Body, spec: ContainerSpec) -> None:
    """The process: entrypoint and command, working directory, stdin kept open, terminal."""
    if spec.entrypoint is not None:
        body["entrypoint"] = list(spec.entrypoint)
        body["command"] = list(spec.command or [])
    elif spec.command is not None:
        body["command"] = list(spec.command)
    if spec.working_dir:
        body["work_dir"] = spec.working_dir
    if spec.stdin:  # conmon keeps the process's stdin open for attach sessions
        body["stdin"] = True
    if spec.tty:
        body["terminal"] = True


def container_body(pod_id: str, spec: ContainerSpec, *, limits: bool = True) -> Body:
    """The container to create for ``spec`` in pod ``pod_id`` (without ``resource_limits``
    when ``limits`` is False: a host whose cgroups refuse them)."""
    body: Body = {
        "name": spec.name,
        "pod": pod_id,
        "image": spec.image,
        "labels": dict(spec.labels),
        "env": dict(spec.env),
        "log_configuration": {"driver": "k8s-file"},
    }
    _process_fields(body, spec)
    spec = _namespaces(body, spec)
    if spec.hostname:
        body["hostname"] = spec.hostname
    if spec.hosts:
        body["hostadd"] = [f"{name}:{ip}" for name, ip in spec.hosts]
    if spec.ports:
        body["portmappings"] = _port_mappings(spec.ports)
    if spec.hostname or spec.ports or spec.network:
        body["netns"] = {"nsmode": "bridge"}
        _network_fields(body, spec)
    _security_fields(body, spec.security)
    if spec.network and spec.ip:  # Podman allocates it at start: taken -> start fails
        body["Networks"] = {spec.network: {"static_ips": [spec.ip]}}
    if spec.mounts:
        body["mounts"] = [
            {"destination": m.target, "source": m.source, "type": "bind",
             "options": ["rbind", "ro" if m.read_only else "rw"]} for m in spec.mounts]
    cgroup = resource_limits(spec)
    if cgroup and limits:
        body["resource_limits"] = cgroup
    return body


def container_info(item: Mapping[str, Any]) -> ContainerInfo:
    """A container as ``GET /containers/json`` lists it."""
    state = str(item.get("State", "unknown")).lower()
    mapped: ContainerStateName = (
        "running" if state in ("running", "paused", "stopping")
        else "exited" if state in ("exited", "stopped", "dead")
        else "created" if state in ("created", "configured", "initialized")
        else "unknown")
    exit_code = int(item.get("ExitCode") or 0) if mapped == "exited" else None
    reason = ""
    if mapped == "exited":
        reason = "Completed" if exit_code == 0 else "Error"
    names = item.get("Names") or [item.get("Name", "")]
    return ContainerInfo(
        id=str(item.get("Id")), name=str(names[0] if isinstance(names, list) else names),
        sandbox_id=str(item.get("Pod") or ""), labels=dict(item.get("Labels") or {}),
        state=mapped, exit_code=exit_code, started_at=epoch(item.get("StartedAt")),
        finished_at=epoch(item.get("ExitedAt")) if mapped == "exited" else None,
        image=str(item.get("Image", "")), image_id=str(item.get("ImageID", "")),
        reason=reason)


__all__ = ["CPU_PERIOD", "container_body", "container_info", "demux", "epoch", "is_missing",
           "resource_limits", "sandbox_body"]
