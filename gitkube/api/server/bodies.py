"""Request bodies and query parameters: JSON or YAML in, JSON out, errors as Status.

A body is refused with 400 BadRequest, never a 500 or a dropped connection, when it is not
UTF-8, holds a lone surrogate (``"\\ud800"``), or nests deeper than ``MAX_DEPTH`` levels
(the same bound ``gitkube validate`` puts on manifests; Kubernetes objects are a few dozen
levels deep). YAML bodies are read by the manifest reader (gitkube/source/yamlfast.py):
kubectl's YAML semantics, and aliases cannot expand a small body into a huge one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from gitkube.errors import APIError, BadRequest
from gitkube.source.yamlfast import MAX_DEPTH
from gitkube.source.yamlfast import parse_yaml as parse_yaml_stream

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


# A JSON escape of a UTF-16 surrogate: only then can decoded text hold a lone one.
_SURROGATE_ESCAPE = re.compile(rb"\\[uU][dD][89a-fA-F]")


def encode_json(value: Any) -> bytes:
    """Compact JSON as UTF-8. Text that cannot be UTF-8 (a lone surrogate, e.g. echoed in an
    error message) is written as a JSON escape instead: an answer is always sent."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    try:
        return text.encode()
    except UnicodeEncodeError:
        return json.dumps(value, separators=(",", ":")).encode()


def check_value(value: Any, max_depth: int = MAX_DEPTH, *, text: bool = True) -> None:
    """BadRequest when ``value`` nests deeper than ``max_depth`` containers or (``text``)
    holds text that is not valid Unicode (a lone surrogate). Iterative: any depth is safe
    to check."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth >= max_depth:
            raise _too_deep(max_depth)
        children = item.values() if isinstance(item, dict) else item
        if text:
            if isinstance(item, dict):
                for key in item:
                    _check_text(key)
            for child in children:
                _check_text(child)
        stack.extend((child, depth + 1) for child in children
                     if isinstance(child, (dict, list)))


def _check_text(text: Any) -> None:
    if isinstance(text, str) and not text.isascii():
        try:
            text.encode()
        except UnicodeEncodeError as e:
            raise BadRequest("the request body holds text that is not valid Unicode (a lone "
                             "UTF-16 surrogate)") from e


def _too_deep(max_depth: int) -> BadRequest:
    return BadRequest(f"the request body nests deeper than {max_depth} levels",
                      hint="Kubernetes objects are a few dozen levels deep")


def parse_json(raw: bytes) -> Any:
    """A JSON body, checked as the module docstring says."""
    try:
        value = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as e:
        raise BadRequest(f"the request body is not valid UTF-8: {e}") from e
    except ValueError as e:
        raise BadRequest(f"the request body is not valid JSON: {e}") from e
    except RecursionError as e:
        raise _too_deep(MAX_DEPTH) from e
    surrogates = _SURROGATE_ESCAPE.search(raw) is not None
    if surrogates or raw.count(b"{") + raw.count(b"[") > MAX_DEPTH:
        if isinstance(value, (dict, list)):
            check_value(value, text=surrogates)
        else:
            _check_text(value)
    return value


def parse_body(raw: bytes, content_type: str | None, *, allow_yaml: bool = True) -> Any:
    """The decoded body. No Content-Type means JSON (the Python client sends none).
    BadRequest for malformed data, UnsupportedMediaType for other media types."""
    kind = media_type(content_type)
    if not raw.strip():
        raise BadRequest("the request body is empty; an object was expected")
    if kind in ("", JSON, "*/*") or (kind in PATCH_TYPES and kind != APPLY_PATCH):
        return parse_json(raw)
    if kind == APPLY_PATCH and raw.lstrip()[:1] == b"{":
        # what kubectl and the clients send: JSON, which YAML reads the same, only slower
        try:
            return parse_json(raw)
        except BadRequest:
            return parse_yaml(raw)  # a YAML flow mapping, say
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
    except RecursionError as e:
        raise BadRequest("the protobuf body nests too deeply") from e


def parse_yaml(raw: bytes) -> Any:
    """A YAML body holding exactly one document of plain JSON data, read as kubectl reads
    YAML; checked as the module docstring says."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise BadRequest(f"the request body is not valid UTF-8: {e}") from e
    parsed, problem = parse_yaml_stream(raw)
    if problem is not None:
        where = f" at line {problem.line}, column {problem.column}" if problem.line else ""
        raise BadRequest(f"the request body is not valid YAML{where}: {problem.message}",
                         hint=problem.hint)
    docs = [value for value, _line, _column in parsed if value is not None]
    if len(docs) != 1:
        raise BadRequest(f"the request body must hold exactly one YAML document, "
                         f"got {len(docs)}")
    if isinstance(docs[0], (dict, list)):
        check_value(docs[0])
    else:
        _check_text(docs[0])
    try:  # only JSON-compatible values (NaN and infinities are refused here)
        json.dumps(docs[0], allow_nan=False)
    except (TypeError, ValueError) as e:
        raise BadRequest(f"the YAML body is not plain JSON data: {e}") from e
    return docs[0]


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
