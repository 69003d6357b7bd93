"""The exception tree. Every error a user can cause is a GitkubeError.

Classes with no module named beside them live here; the others live in the module named
(under ``gitkube/``), where they are raised. ``+ValueError`` marks a class that is also a
ValueError, as it was before it joined the tree, so ``except ValueError`` still catches it.

    GitkubeError                 message + hint (+ location); exit code 1
    ├── UsageError               bad flags or arguments; exit code 2
    ├── SourceError              a manifest directory or revision cannot be read
    ├── ValidationFailed         manifests have problems; carries every Diagnostic
    ├── StoreError               the live store
    │   ├── StoreUnavailable     cannot open or reach it (file, URL)
    │   ├── StoreCorrupt         not a gitkube store, or an incompatible schema version
    │   ├── KeyExists            create of a key that exists
    │   ├── KeyNotFound          get/update/delete of a missing key
    │   ├── RevisionConflict     compare-and-swap lost: expected revision differs
    │   └── Compacted            watch asked for history that was compacted: relist
    ├── APIError                 an api-layer refusal shaped like a Kubernetes Status
    │   ├── NotFound (404)  AlreadyExists (409)  Conflict (409)  Invalid (422)
    │   ├── BadRequest (400)  Gone (410)  Forbidden (403)  Unauthorized (401)
    │   ├── NotAcceptable (406)  api/server/openapi.py: an Accept no OpenAPI form meets
    │   ├── NotServed (405)  api/server/absent.py: a write to a list-only, always-empty kind
    │   ├── UnsupportedMediaType (415)  RequestEntityTooLarge (413)  MethodNotAllowed (405)
    │   │                        api/server/bodies.py
    │   └── TooManyRequests (429)  an eviction a PodDisruptionBudget does not allow now
    ├── PatchError +ValueError   model/patch.py: a patch does not apply to the object
    ├── ApplyConflicts           api/ssa/managed.py: a server-side apply would take fields
    │                            other managers own (the API answers 409 Conflict)
    ├── SelectorError +ValueError  model/labels.py: a label or field selector does not parse
    ├── UndecodableProtobuf +ValueError  api/server/protobuf.py: a kind or field gitkube
    │                                    cannot read (415)
    ├── MalformedProtobuf +ValueError    api/server/protobuf.py: not protobuf (400)
    ├── SpdyError +ValueError    api/server/spdy.py: a port-forward stream is not SPDY/3.1
    ├── CronError +ValueError    model/cron.py: a CronJob schedule or time zone Kubernetes
    │                            refuses
    ├── PriorityRefused +ValueError  model/priority.py: a pod's priority class is missing
    │                                or its priority disagrees with it
    ├── ServerUnavailable        api/http_client.py: the API server cannot be reached
    ├── StalePlan                plan/planfile.py: the store moved since the plan was saved
    ├── EmptyDesiredRefused      plan/apply.py: git holds nothing, so all would be deleted
    ├── ApplyFailed              plan/apply.py: the apply transaction was refused
    ├── ApplyInterrupted         plan/apply.py: the apply was sent and its answer lost
    ├── SchedulerConfigError     agents/scheduler/config.py: a profile that cannot be used
    ├── UnknownPlugin            agents/scheduler/registry.py: no plugin of that name
    ├── ContainerConfigError     agents/kubelet/volumes.py: a container cannot be configured
    │                            yet (missing ConfigMap, Secret or key)
    ├── NftError                 agents/proxy/nft.py: nft is missing or refused a ruleset
    ├── LeadershipLost           agents/leaderelection.py: a write by agents whose Lease ran
    │                            out
    ├── NetworkError             runtime/network.py: the host network cannot be set up
    └── RuntimeFailure           runtime/base.py: the container engine refused or failed
        ├── RuntimeUnavailable   runtime/base.py: it cannot be reached or started
        ├── ImageError           runtime/base.py: an image is absent and cannot be pulled
        ├── NoSuchObject         runtime/base.py: a container or sandbox that does not exist
        └── NamespaceDenied      runtime/netns.py: a pod's network namespace cannot be
                                 joined (not root, or the process is gone)

Left out on purpose: ``_Refused`` (source/yamlfast.py) and ``_CompactedRead``
(store/etcd.py) are private control flow, raised and caught inside their own module and
never seen outside it. (``Deleted`` in agents/converge.py, a deleted object that
``apply --wait`` waits for, is not an exception.)

Adapters translate foreign exceptions at the boundary with ``raise ... from exc``;
the CLI maps GitkubeError to a one-line message, a hint and an exit code in one place.
"""

from __future__ import annotations

from typing import Any


class GitkubeError(Exception):
    """A failure the user can act on: a one-line cause, where, and what to do."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None, location: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.location = location

    def render(self) -> str:
        """One line for the cause (prefixed by the location), one for the hint."""
        head = f"{self.location}: {self.message}" if self.location else self.message
        return f"{head}\n  hint: {self.hint}" if self.hint else head


class UsageError(GitkubeError):
    exit_code = 2


class SourceError(GitkubeError):
    """A manifest directory, file or git revision cannot be read."""


class ValidationFailed(GitkubeError):
    """Manifests have problems; ``diagnostics`` holds every one of them."""

    def __init__(self, diagnostics: list[Any], *, message: str | None = None):
        n = len(diagnostics)
        super().__init__(
            message or f"{n} problem{'s' if n != 1 else ''} in the manifests",
            hint="fix the problems listed above; `gitkube validate` shows them again",
        )
        self.diagnostics = diagnostics


class StoreError(GitkubeError):
    """Something about the live store."""


class StoreUnavailable(StoreError):
    pass


class StoreCorrupt(StoreError):
    pass


class KeyExists(StoreError):
    def __init__(self, key: str):
        super().__init__(f"key {key} already exists")
        self.key = key


class KeyNotFound(StoreError):
    def __init__(self, key: str):
        super().__init__(f"key {key} not found")
        self.key = key


class RevisionConflict(StoreError):
    def __init__(self, key: str, expected: int, actual: int | None):
        super().__init__(
            f"key {key} was modified: expected revision {expected}, found {actual}",
            hint="read the object again and retry",
        )
        self.key = key
        self.expected = expected
        self.actual = actual


class Compacted(StoreError):
    def __init__(self, requested: int, compacted: int):
        super().__init__(
            f"revision {requested} has been compacted (oldest kept: {compacted + 1})",
            hint="relist, then watch from the list's revision",
        )
        self.requested = requested
        self.compacted = compacted


class APIError(GitkubeError):
    """An api-layer refusal; ``status()`` is the Kubernetes Status object for it."""

    code = 500
    reason = "InternalError"

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        kind: str | None = None,
        name: str | None = None,
        group: str = "",
        causes: list[dict[str, str]] | None = None,
    ):
        super().__init__(message, hint=hint)
        self.kind = kind
        self.name = name
        self.group = group
        self.causes = causes or []

    def status(self) -> dict[str, Any]:
        details: dict[str, Any] = {}
        if self.name is not None:
            details["name"] = self.name
        if self.kind is not None:
            details["kind"] = self.kind
            details["group"] = self.group
        if self.causes:
            details["causes"] = self.causes
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "details": details,
            "code": self.code,
        }


class NotFound(APIError):
    code = 404
    reason = "NotFound"


class AlreadyExists(APIError):
    code = 409
    reason = "AlreadyExists"


class Conflict(APIError):
    code = 409
    reason = "Conflict"


class Invalid(APIError):
    code = 422
    reason = "Invalid"


class BadRequest(APIError):
    code = 400
    reason = "BadRequest"


class Gone(APIError):
    code = 410
    reason = "Expired"


class Forbidden(APIError):
    code = 403
    reason = "Forbidden"


class Unauthorized(APIError):
    code = 401
    reason = "Unauthorized"


class TooManyRequests(APIError):
    code = 429
    reason = "TooManyRequests"
