"""`gitkube logs`: find the pod (or a workload's first pod) and stream a container's output
from the runtime. The container is found by the labels the kubelet put on it (pod uid and
container name); ``previous`` is the instance before the latest restart."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from gitkube.api.client import Client
from gitkube.errors import GitkubeError, NotFound
from gitkube.model import kinds
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


def _attempt(labels: Any) -> int:
    try:
        return int(labels.get(LABEL_ATTEMPT, "0"))
    except ValueError:
        return 0


def container_logs(pod: Obj, container: str | None, *, previous: bool = False,
                   follow: bool = False, tail: int | None = None,
                   note: Callable[[str], None] = lambda _t: None,
                   runtime: ContainerRuntime | None = None) -> Iterator[str]:
    """The output lines of one container of ``pod`` (see the module docstring)."""
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
        yield from runtime.logs(chosen.id, follow=follow, tail=tail)
    finally:
        if own:
            runtime.close()


def _waiting_reason(pod: Obj, container: str) -> str:
    st = pod.get("status") or {}
    for cs in (st.get("containerStatuses") or []) + (st.get("initContainerStatuses") or []):
        if cs.get("name") == container:
            return str(((cs.get("state") or {}).get("waiting") or {}).get("reason") or "")
    return ""
