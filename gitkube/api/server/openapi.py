"""A minimal OpenAPI v3 for ``kubectl apply``'s validation step (see docs/HTTP_API.md)."""

from __future__ import annotations

from collections.abc import Mapping

from gitkube.api.server.messages import Response
from gitkube.api.server.routes import not_found


def document(parts: list[str], query: Mapping[str, str]) -> Response:
    raise not_found("/openapi/" + "/".join(parts))
