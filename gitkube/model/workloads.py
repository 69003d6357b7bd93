"""Typed views of the workload kinds (see ``model/views.py`` for what a view is): the spec
and status fields that rollout status, ``apply --wait`` and the printers read.

Spec defaults are Kubernetes' where the API fills them (replicas 1, strategy RollingUpdate),
so a view of an object that skipped defaulting reads like one that did not.
"""

from __future__ import annotations

from collections.abc import Mapping

from gitkube.model.views import ObjectView, child, number, text


class Deployment(ObjectView):
    """An apps/v1 Deployment."""

    __slots__ = ()

    @property
    def replicas(self) -> int:
        return number(self.spec_raw, "replicas", 1)

    @property
    def paused(self) -> bool:
        return self.spec_raw.get("paused") is True

    @property
    def status_replicas(self) -> int:
        return number(self.status_raw, "replicas")

    @property
    def updated_replicas(self) -> int:
        return number(self.status_raw, "updatedReplicas")

    @property
    def ready_replicas(self) -> int:
        return number(self.status_raw, "readyReplicas")

    @property
    def available_replicas(self) -> int:
        return number(self.status_raw, "availableReplicas")


class ReplicaSet(ObjectView):
    """An apps/v1 ReplicaSet."""

    __slots__ = ()

    @property
    def replicas(self) -> int:
        return number(self.spec_raw, "replicas", 1)

    @property
    def status_replicas(self) -> int:
        return number(self.status_raw, "replicas")

    @property
    def ready_replicas(self) -> int:
        return number(self.status_raw, "readyReplicas")

    @property
    def available_replicas(self) -> int:
        return number(self.status_raw, "availableReplicas")


class DaemonSet(ObjectView):
    """An apps/v1 DaemonSet."""

    __slots__ = ()

    @property
    def strategy_type(self) -> str:
        """``updateStrategy.type``: RollingUpdate (the default) or OnDelete."""
        return text(child(self.spec_raw, "updateStrategy"), "type") or "RollingUpdate"

    @property
    def has_desired(self) -> bool:
        """The controller has counted the nodes (desiredNumberScheduled is set)."""
        return "desiredNumberScheduled" in self.status_raw

    @property
    def desired(self) -> int:
        return number(self.status_raw, "desiredNumberScheduled")

    @property
    def current(self) -> int:
        return number(self.status_raw, "currentNumberScheduled")

    @property
    def ready(self) -> int:
        return number(self.status_raw, "numberReady")

    @property
    def updated(self) -> int:
        return number(self.status_raw, "updatedNumberScheduled")

    @property
    def available(self) -> int:
        return number(self.status_raw, "numberAvailable")


class StatefulSet(ObjectView):
    """An apps/v1 StatefulSet."""

    __slots__ = ()

    @property
    def replicas(self) -> int:
        return number(self.spec_raw, "replicas", 1)

    @property
    def strategy_type(self) -> str:
        """``updateStrategy.type``: RollingUpdate (the default) or OnDelete."""
        return text(child(self.spec_raw, "updateStrategy"), "type") or "RollingUpdate"

    @property
    def partition(self) -> int | None:
        """``updateStrategy.rollingUpdate.partition``; None when there is no rollingUpdate
        (the API defaults it to 0 whenever the strategy is RollingUpdate)."""
        rolling = child(self.spec_raw, "updateStrategy").get("rollingUpdate")
        if not isinstance(rolling, Mapping):
            return None
        return number(rolling, "partition")

    @property
    def ready_replicas(self) -> int:
        return number(self.status_raw, "readyReplicas")

    @property
    def current_replicas(self) -> int:
        return number(self.status_raw, "currentReplicas")

    @property
    def updated_replicas(self) -> int:
        return number(self.status_raw, "updatedReplicas")

    @property
    def current_revision(self) -> str:
        return text(self.status_raw, "currentRevision")

    @property
    def update_revision(self) -> str:
        return text(self.status_raw, "updateRevision")


class Job(ObjectView):
    """A batch/v1 Job."""

    __slots__ = ()

    @property
    def completions(self) -> int | None:
        """``spec.completions``; None when unset (any one success completes the Job)."""
        value = self.spec_raw.get("completions")
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    @property
    def parallelism(self) -> int:
        return number(self.spec_raw, "parallelism", 1)

    @property
    def suspend(self) -> bool:
        return self.spec_raw.get("suspend") is True

    @property
    def succeeded(self) -> int:
        return number(self.status_raw, "succeeded")

    @property
    def start_time(self) -> str:
        return text(self.status_raw, "startTime")

    @property
    def completion_time(self) -> str:
        return text(self.status_raw, "completionTime")


__all__ = ["DaemonSet", "Deployment", "Job", "ReplicaSet", "StatefulSet"]
