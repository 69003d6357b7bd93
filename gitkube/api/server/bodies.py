"""Request bodies and query parameters: JSON or YAML in, JSON out, errors as Status."""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from typing import Any

from gitkube.errors import APIError, BadRequest

JSON = "application/json"
PROTOBUF = "application/vnd.kubernetes.protobuf"
YAML_TYPES = frozenset({"application/yaml", "application/x-yaml", "text/yaml"})
APPLY_PATCH = "application/apply-patch+yaml"
PATCH_TYPES: dict[str, str] = {
    "application/merge-patch+json": "merge",
    "application/json-patch+json": "json",
    "application/strategic-merge-patch+json": "strategic",
    APPLY_PATCH: "apply",
}


class UnsupportedMediaType(APIError):
    code = 415
    reason = "UnsupportedMediaType"


class RequestEntityTooLarge(APIError):
    code = 413
    reason = "RequestEntityTooLarge"


class MethodNotAllowed(APIError):
    code = 405
    reason = "MethodNotAllowed"


def media_type(content_type: str | None) -> str:
    """``application/json`` from ``application/json; charset=utf-8``; "" when absent."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def encode_json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def parse_body(raw: bytes, content_type: str | None, *, allow_yaml: bool = True) -> Any:
    """The decoded body. No Content-Type means JSON (the Python client sends none).
    BadRequest for malformed data, UnsupportedMediaType for other media types."""
    kind = media_type(content_type)
    if not raw.strip():
        raise BadRequest("the request body is empty; an object was expected")
    if kind in ("", JSON, "*/*") or (kind in PATCH_TYPES and kind != APPLY_PATCH):
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError) as e:
            raise BadRequest(f"the request body is not valid JSON: {e}") from e
    if (allow_yaml and kind in YAML_TYPES) or kind == APPLY_PATCH:
        return parse_yaml(raw)
    if allow_yaml and kind == PROTOBUF:
        return parse_protobuf(raw)
    raise UnsupportedMediaType(
        f'the body of the request was in an unknown format - accepted media types include: '
        f'application/json, application/yaml, {PROTOBUF} (got "{kind}")')


def parse_protobuf(raw: bytes) -> Any:
    """kubectl's typed clients send protobuf (``kubectl create namespace ...``)."""
    from gitkube.api.server.protobuf import UndecodableProtobuf, decode

    try:
        return decode(raw)
    except UndecodableProtobuf as e:
        raise UnsupportedMediaType(
            f"gitkube cannot decode this protobuf body ({e}); send it as application/json",
            hint="kubectl create -f FILE sends JSON") from e
    except (ValueError, UnicodeDecodeError) as e:
        raise BadRequest(f"the request body is not valid protobuf: {e}") from e


def parse_yaml(raw: bytes) -> Any:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        docs = [d for d in YAML(typ="safe", pure=False).load_all(io.BytesIO(raw))
                if d is not None]
    except (YAMLError, ValueError, UnicodeDecodeError) as e:
        raise BadRequest(f"the request body is not valid YAML: {e}") from e
    if len(docs) != 1:
        raise BadRequest(f"the request body must hold exactly one YAML document, "
                         f"got {len(docs)}")
    try:  # only JSON-compatible values (YAML dates, sets... are refused here)
        return json.loads(json.dumps(docs[0], allow_nan=False))
    except (TypeError, ValueError) as e:
        raise BadRequest(f"the YAML body is not plain JSON data: {e}",
                         hint="quote values that look like dates") from e


def flag(query: Mapping[str, str], name: str) -> bool:
    """A boolean query parameter: true/True/1 (as the API server's conversion)."""
    return query.get(name, "").lower() in ("true", "1")


def int_param(query: Mapping[str, str], name: str) -> int | None:
    value = query.get(name)
    if value in (None, ""):
        return None
    try:
        return int(str(value))
    except ValueError as e:
        raise BadRequest(f"invalid value for query parameter {name}: {value!r} is not an "
                         "integer") from e
