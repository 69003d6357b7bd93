"""`gitkube logs`: find the pod (or a workload's first pod) and stream a container's output
from the runtime. The container is found by the labels the kubelet put on it (pod uid and
container name); ``previous`` is the instance before the latest restart. ``--since`` takes
kubectl's durations (``parse_since``)."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from typing import Any

from gitkube.api.client import Client
from gitkube.errors import GitkubeError, NotFound, UsageError
from gitkube.model import kinds
from gitkube.model.times import parse_time
from gitkube.runtime.base import LABEL_ATTEMPT, LABEL_CONTAINER, LABEL_POD_UID, ContainerRuntime

Obj = dict[str, Any]


def find_pod(client: Client, target: str, namespace: str) -> Obj:
    """``NAME`` or ``pod/NAME``: that pod; ``deploy/NAME`` etc.: its first pod by name."""
    kind, sep, name = target.partition("/")
    if not sep:
        kind, name = "pod", target
    rt = kinds.by_name(kind)
    if rt is None:
        raise GitkubeError(f'unknown resource type "{kind}"')
    if rt.kind == "Pod":
        try:
            return client.get("v1", "Pod", namespace, name)
        except NotFound as e:
            raise GitkubeError(f'pods "{name}" not found in namespace "{namespace}"',
                               hint=f"gitkube get pods -n {namespace}") from e
    try:
        owner = client.get(rt.api_version, rt.kind, namespace, name)
    except NotFound as e:
        raise GitkubeError(f'{rt.plural} "{name}" not found in namespace "{namespace}"') from e
    selector = (owner.get("spec") or {}).get("selector")
    if rt.kind == "Job" and not selector:
        selector = {"matchLabels": {"job-name": name}}
    pods = client.list("v1", "Pod", namespace, label_selector=selector).items if selector \
        else []
    if not pods:
        raise GitkubeError(f"{rt.kind} {namespace}/{name} has no pods")
    running = [p for p in pods if (p.get("status") or {}).get("phase") == "Running"]
    return sorted(running or pods, key=lambda p: p["metadata"]["name"])[0]


def check_node(client: Client, pod: Obj) -> None:
    """Refuse pods that have no node, or run on a simulated one (no containers there)."""
    node = (pod.get("spec") or {}).get("nodeName")
    if not node:
        raise GitkubeError(f"pod {pod['metadata']['name']} is not scheduled yet: no logs")
    try:
        labels = client.get("v1", "Node", None, node)["metadata"].get("labels") or {}
    except NotFound:
        return
    if labels.get("type") == "simulated":
        raise GitkubeError(f"pod {pod['metadata']['name']} runs on simulated node {node}: "
                           "it has no containers, so no logs")


_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0,
                 "m": 60.0, "h": 3600.0}


def parse_since(text: str) -> int:
    """``--since``: a duration as kubectl takes it (Go's: ``30s``, ``5m``, ``1h30m``,
    ``1.5h``) in whole seconds, rounded up as kubectl rounds; UsageError for anything else
    or for no time at all."""
    parts = _DURATION.findall(text)
    if not text or "".join(number + unit for number, unit in parts) != text:
        raise UsageError(f"invalid --since {text!r}: not a duration",
                         hint="e.g. --since 30s, 5m or 1h30m")
    seconds = sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts)
    if seconds <= 0:
        raise UsageError("--since must be greater than 0", hint="e.g. --since 30s")
    return math.ceil(seconds)


def parse_since_time(text: str) -> float:
    """``--since-time``: an RFC 3339 time, as epoch seconds; UsageError for anything else."""
    when = parse_time(text) if "T" in text else None
    if when is None:
        raise UsageError(f"invalid --since-time {text!r}: not an RFC 3339 time",
                         hint="e.g. --since-time 2026-01-02T03:04:05Z")
    return when


def _attempt(labels: Any) -> int:
    try:
        return int(labels.get(LABEL_ATTEMPT, "0"))
    except ValueError:
        return 0


def container_logs(pod: Obj, container: str | None, *, previous: bool = False,
                   follow: bool = False, tail: int | None = None, since: float | None = None,
                   timestamps: bool = False, note: Callable[[str], None] = lambda _t: None,
                   runtime: ContainerRuntime | None = None) -> Iterator[str]:
    """The output lines of one container of ``pod`` (see the module docstring); ``since``
    and ``timestamps`` as the runtime's ``logs`` takes them."""
    meta, spec = pod["metadata"], pod.get("spec") or {}
    names = [c["name"] for c in (spec.get("initContainers") or []) +
             (spec.get("containers") or [])]
    app_names = [c["name"] for c in spec.get("containers") or []]
    if container is None:
        container = app_names[0] if app_names else ""
        if len(app_names) > 1:
            note(f'Defaulted container "{container}" out of: {", ".join(names)}')
    elif container not in names:
        raise GitkubeError(f'container {container} is not valid for pod {meta["name"]}',
                           hint=f"one of: {', '.join(names)}")
    own = runtime is None
    if runtime is None:
        from gitkube.agents.compose import open_runtime
        from gitkube.cli.app import settings

        current = settings()
        runtime = open_runtime(current, linger=current.podman_linger)
    try:
        found = runtime.list_containers({LABEL_POD_UID: str(meta["uid"]),
                                         LABEL_CONTAINER: container})
        found.sort(key=lambda i: _attempt(i.labels))
        if previous:
            if len(found) < 2:
                raise GitkubeError(f'previous terminated container "{container}" in pod '
                                   f'"{meta["name"]}" not found')
            chosen = found[-2]
        elif not found:
            reason = _waiting_reason(pod, container)
            raise GitkubeError(f'container "{container}" in pod "{meta["name"]}" is waiting '
                               f"to start{': ' + reason if reason else ''}")
        else:
            chosen = found[-1]
        yield from runtime.logs(chosen.id, follow=follow, tail=tail, since=since,
                                timestamps=timestamps)
    finally:
        if own:
            runtime.close()


def _waiting_reason(pod: Obj, container: str) -> str:
    st = pod.get("status") or {}
    for cs in (st.get("containerStatuses") or []) + (st.get("initContainerStatuses") or []):
        if cs.get("name") == container:
            return str(((cs.get("state") or {}).get("waiting") or {}).get("reason") or "")
    return ""
