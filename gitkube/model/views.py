"""Typed, read-only views of the parts of Kubernetes objects that rules compute on.

Objects stay in their wire form (JSON-compatible dicts, docs/ARCHITECTURE.md). A view wraps
one without copying it and reads each field with its type and Kubernetes' zero value, so a
rule says ``Pod(obj).status.phase`` instead of chaining ``.get(...) or {}``. A missing or
mistyped field reads as its zero value ("" / 0 / False / empty); nothing here writes.

Views of workloads (Deployment, DaemonSet, StatefulSet, Job) live in ``model/workloads.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

Raw = Mapping[str, Any]
_EMPTY: Raw = {}


def child(raw: Raw, key: str) -> Raw:
    """The mapping under ``key``; empty when absent or not a mapping."""
    value = raw.get(key)
    return value if isinstance(value, Mapping) else _EMPTY


def children(raw: Raw, key: str) -> list[Raw]:
    """The mappings in the list under ``key`` (other items skipped); [] when absent."""
    value = raw.get(key)
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, Mapping)]


def text(raw: Raw, key: str, default: str = "") -> str:
    """The string under ``key``; ``default`` when absent, null or not a string."""
    value = raw.get(key)
    return value if isinstance(value, str) else default


def number(raw: Raw, key: str, default: int = 0) -> int:
    """The integer under ``key`` (a numeric string counts); ``default`` otherwise."""
    value = raw.get(key)
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return default
    return default


def string_map(raw: Raw, key: str) -> dict[str, str]:
    """A ``map[string]string`` field (labels, nodeSelector) with its values as strings."""
    return {str(k): str(v) for k, v in child(raw, key).items()}


class View:
    """The base of every view: ``raw`` is the wrapped mapping (never a copy)."""

    __slots__ = ("raw",)

    def __init__(self, raw: object = None) -> None:
        self.raw: Raw = raw if isinstance(raw, Mapping) else _EMPTY


class ObjectMeta(View):
    """``metadata``."""

    __slots__ = ()

    @property
    def name(self) -> str:
        return text(self.raw, "name")

    @property
    def namespace(self) -> str:
        return text(self.raw, "namespace")

    @property
    def uid(self) -> str:
        return text(self.raw, "uid")

    @property
    def generation(self) -> int:
        return number(self.raw, "generation")

    @property
    def labels(self) -> dict[str, str]:
        return string_map(self.raw, "labels")

    @property
    def creation_timestamp(self) -> str:
        return text(self.raw, "creationTimestamp")

    @property
    def deletion_timestamp(self) -> str:
        return text(self.raw, "deletionTimestamp")


class Condition(View):
    """One entry of ``status.conditions`` (any kind's)."""

    __slots__ = ()

    @property
    def type(self) -> str:
        return text(self.raw, "type")

    @property
    def status(self) -> str:
        """"True", "False", "Unknown" (or "" when unset)."""
        return text(self.raw, "status")

    @property
    def is_true(self) -> bool:
        return self.status == "True"

    @property
    def reason(self) -> str:
        return text(self.raw, "reason")

    @property
    def message(self) -> str:
        return text(self.raw, "message")

    @property
    def last_transition_time(self) -> str:
        return text(self.raw, "lastTransitionTime")

    @property
    def last_update_time(self) -> str:
        return text(self.raw, "lastUpdateTime")

    @property
    def last_heartbeat_time(self) -> str:
        return text(self.raw, "lastHeartbeatTime")


class ObjectView(View):
    """Any object: ``metadata``, ``spec``, ``status`` and the status' conditions."""

    __slots__ = ()

    @property
    def kind(self) -> str:
        return text(self.raw, "kind")

    @property
    def metadata(self) -> ObjectMeta:
        return ObjectMeta(child(self.raw, "metadata"))

    @property
    def spec_raw(self) -> Raw:
        return child(self.raw, "spec")

    @property
    def status_raw(self) -> Raw:
        return child(self.raw, "status")

    @property
    def observed_generation(self) -> int:
        return number(self.status_raw, "observedGeneration")

    @property
    def conditions(self) -> list[Condition]:
        return [Condition(c) for c in children(self.status_raw, "conditions")]

    def condition(self, type_: str) -> Condition | None:
        """The first condition of ``type_`` (None when there is none)."""
        for c in children(self.status_raw, "conditions"):
            if c.get("type") == type_:
                return Condition(c)
        return None


class ContainerState(View):
    """``state`` or ``lastState`` of a container status: one of waiting, running,
    terminated (or none of them)."""

    __slots__ = ()

    @property
    def waiting(self) -> bool:
        return isinstance(self.raw.get("waiting"), Mapping)

    @property
    def running(self) -> bool:
        return isinstance(self.raw.get("running"), Mapping)

    @property
    def terminated(self) -> bool:
        return isinstance(self.raw.get("terminated"), Mapping)

    @property
    def reason(self) -> str:
        """The waiting or terminated reason ("" for running or none)."""
        return text(child(self.raw, "waiting"), "reason") or \
            text(child(self.raw, "terminated"), "reason")

    @property
    def message(self) -> str:
        return text(child(self.raw, "waiting"), "message") or \
            text(child(self.raw, "terminated"), "message")

    @property
    def exit_code(self) -> int:
        return number(child(self.raw, "terminated"), "exitCode")

    @property
    def signal(self) -> int:
        return number(child(self.raw, "terminated"), "signal")

    @property
    def finished_at(self) -> str:
        return text(child(self.raw, "terminated"), "finishedAt")


class ContainerStatus(View):
    """One entry of ``containerStatuses`` / ``initContainerStatuses``."""

    __slots__ = ()

    @property
    def name(self) -> str:
        return text(self.raw, "name")

    @property
    def ready(self) -> bool:
        return self.raw.get("ready") is True

    @property
    def started(self) -> bool:
        """``started`` (unset reads as False, as upstream's ``*Started`` check does)."""
        return self.raw.get("started") is True

    @property
    def restart_count(self) -> int:
        return number(self.raw, "restartCount")

    @property
    def state(self) -> ContainerState:
        return ContainerState(child(self.raw, "state"))

    @property
    def last_state(self) -> ContainerState:
        return ContainerState(child(self.raw, "lastState"))


class Container(View):
    """One entry of a pod spec's ``containers`` / ``initContainers``."""

    __slots__ = ()

    @property
    def name(self) -> str:
        return text(self.raw, "name")

    @property
    def image(self) -> str:
        return text(self.raw, "image")

    @property
    def restartable(self) -> bool:
        """An init container with ``restartPolicy: Always`` (a sidecar): it keeps running
        beside the containers (upstream's IsRestartableInitContainer)."""
        return text(self.raw, "restartPolicy") == "Always"


class PodSpec(View):
    """A pod's (or a pod template's) ``spec``."""

    __slots__ = ()

    @property
    def node_name(self) -> str:
        return text(self.raw, "nodeName")

    @property
    def containers(self) -> list[Container]:
        return [Container(c) for c in children(self.raw, "containers")]

    @property
    def init_containers(self) -> list[Container]:
        return [Container(c) for c in children(self.raw, "initContainers")]

    @property
    def node_selector(self) -> dict[str, str]:
        return string_map(self.raw, "nodeSelector")

    @property
    def tolerations(self) -> list[Raw]:
        return children(self.raw, "tolerations")

    @property
    def required_node_selector(self) -> Raw | None:
        """``affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution`` (None
        when the pod has none: then nothing beyond ``nodeSelector`` is required)."""
        node_affinity = child(child(self.raw, "affinity"), "nodeAffinity")
        required = node_affinity.get("requiredDuringSchedulingIgnoredDuringExecution")
        return required if isinstance(required, Mapping) else None

    @property
    def preferred_node_terms(self) -> list[Raw]:
        node_affinity = child(child(self.raw, "affinity"), "nodeAffinity")
        return children(node_affinity, "preferredDuringSchedulingIgnoredDuringExecution")


class PodStatus(View):
    """A pod's ``status``."""

    __slots__ = ()

    @property
    def phase(self) -> str:
        """The phase; an unset one reads as "Pending" (what a new pod is)."""
        return text(self.raw, "phase") or "Pending"

    @property
    def reason(self) -> str:
        return text(self.raw, "reason")

    @property
    def pod_ip(self) -> str:
        return text(self.raw, "podIP")

    @property
    def container_statuses(self) -> list[ContainerStatus]:
        return [ContainerStatus(c) for c in children(self.raw, "containerStatuses")]

    @property
    def init_container_statuses(self) -> list[ContainerStatus]:
        return [ContainerStatus(c) for c in children(self.raw, "initContainerStatuses")]


class Pod(ObjectView):
    """A Pod."""

    __slots__ = ()

    @property
    def spec(self) -> PodSpec:
        return PodSpec(self.spec_raw)

    @property
    def status(self) -> PodStatus:
        return PodStatus(self.status_raw)


__all__ = ["Condition", "Container", "ContainerState", "ContainerStatus", "ObjectMeta",
           "ObjectView", "Pod", "PodSpec", "PodStatus", "Raw", "View", "child", "children",
           "number", "string_map", "text"]
