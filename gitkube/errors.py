"""The exception tree. Every error a user can cause is a GitkubeError.

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
    └── APIError                 an api-layer refusal shaped like a Kubernetes Status
        ├── NotFound (404)  AlreadyExists (409)  Conflict (409)  Invalid (422)
        └── BadRequest (400)  Gone (410)  Forbidden (403)  Unauthorized (401)

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
