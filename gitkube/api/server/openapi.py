"""``/openapi/v3`` and ``/openapi/v2``: gitkube's schemas published as upstream publishes its.

- ``/openapi/v3`` is an index ``{paths: {"apis/apps/v1": {serverRelativeURL:
  "/openapi/v3/apis/apps/v1?hash=H"}}}``; each group-version document
  (gitkube/api/server/openapi_docs.py) is served with ``ETag: "H"``. Asked with the current
  ``hash`` it may be cached for good (``Cache-Control: public, immutable``); with a stale one
  the answer is a 301 to the current URL, as kube-openapi answers; ``If-None-Match`` with the
  ETag is a 304.
- ``/openapi/v2`` is the whole API in one Swagger 2.0 document: JSON, or gnostic protobuf
  when the client accepts that (kubectl asks only for protobuf and decodes the body as such;
  it reads v2 for the client-side validation of a ``kind: List`` file and when v3 fails).
  Any other Accept that admits neither is a 406.

kubectl decides from the v3 documents whether the server validates fields itself: a
``patch`` operation tagged with the kind's ``x-kubernetes-group-version-kind`` that takes a
``fieldValidation`` query parameter. ``kubectl explain`` finds a kind's schema by the same
extension on its definition.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from functools import cache

from gitkube.api.server import openapi_proto
from gitkube.api.server.bodies import JSON, encode_json
from gitkube.api.server.messages import Response
from gitkube.api.server.openapi_docs import group_version_path, v2_document, v3_document
from gitkube.api.server.routes import GROUP_VERSIONS, not_found
from gitkube.errors import APIError

_IMMUTABLE = (("Cache-Control", "public, immutable"),
              ("Expires", "Thu, 31 Dec 2099 23:59:59 GMT"))
_REVALIDATE = (("Cache-Control", "no-cache, private"),)


class NotAcceptable(APIError):
    code = 406
    reason = "NotAcceptable"


@cache
def _encoded(group: str, version: str) -> tuple[bytes, str] | None:
    doc = v3_document(group, version)
    if doc is None:
        return None
    body = encode_json(doc)
    return body, hashlib.sha512(body).hexdigest().upper()


@cache
def index() -> bytes:
    paths = {}
    for group, version in GROUP_VERSIONS:
        encoded = _encoded(group, version)
        assert encoded is not None
        key = group_version_path(group, version)
        paths[key] = {"serverRelativeURL": f"/openapi/v3/{key}?hash={encoded[1]}"}
    return encode_json({"paths": paths})


@cache
def _v2_json() -> tuple[bytes, str]:
    body = encode_json(v2_document())
    return body, hashlib.sha512(body).hexdigest().upper()


@cache
def _v2_proto() -> tuple[bytes, str]:
    body = openapi_proto.document(v2_document())
    return body, hashlib.sha512(body).hexdigest().upper()


def _accepts(accept: str) -> list[str]:
    return [part.split(";", 1)[0].strip().lower() for part in accept.split(",") if part.strip()]


def _cached(body: bytes, etag: str, content_type: str, headers: Mapping[str, str],
            immutable: bool = False) -> Response:
    quoted = f'"{etag}"'
    extra = (("ETag", quoted), ("Vary", "Accept"), *(_IMMUTABLE if immutable else _REVALIDATE))
    if quoted in [t.strip() for t in headers.get("if-none-match", "").split(",")]:
        return Response(304, b"", content_type, extra)
    return Response(200, body, content_type, extra)


def _v3(rest: list[str], query: Mapping[str, str], headers: Mapping[str, str]) -> Response:
    if not rest:
        return Response(200, index(), JSON, _REVALIDATE)
    encoded = None
    if len(rest) == 2 and rest[0] == "api":
        encoded = _encoded("", rest[1])
    elif len(rest) == 3 and rest[0] == "apis":
        encoded = _encoded(rest[1], rest[2])
    if encoded is None:
        raise not_found("/openapi/v3/" + "/".join(rest))
    accept = _accepts(headers.get("accept", ""))
    if accept and not any(a in (JSON, "application/*", "*/*") for a in accept):
        raise NotAcceptable("only application/json is served for /openapi/v3")
    body, digest = encoded
    wanted = query.get("hash")
    if wanted is not None and wanted != digest:
        location = f"/openapi/v3/{'/'.join(rest)}?hash={digest}"
        return Response(301, b"", JSON, (("Location", location), *_REVALIDATE))
    return _cached(body, digest, JSON, headers, immutable=wanted is not None)


def _v2(headers: Mapping[str, str]) -> Response:
    accept = _accepts(headers.get("accept", ""))
    for media in accept or [JSON]:
        if media in openapi_proto.MEDIA_TYPES:
            body, digest = _v2_proto()
            # Go's media type parser refuses the "@" of the Accept spelling
            return _cached(body, digest, openapi_proto.CONTENT_TYPE, headers)
        if media in (JSON, "application/*", "*/*"):
            body, digest = _v2_json()
            return _cached(body, digest, JSON, headers)
    raise NotAcceptable("/openapi/v2 is served as application/json or "
                        f"{openapi_proto.MEDIA_TYPE}")


def document(parts: list[str], query: Mapping[str, str],
             headers: Mapping[str, str] | None = None) -> Response:
    """``/openapi/v3`` (the index), ``/openapi/v3/api/v1``, ``/openapi/v3/apis/G/V`` and
    ``/openapi/v2``; ``parts`` is the path after ``/openapi``."""
    headers = headers or {}
    if parts[:1] == ["v3"]:
        return _v3(parts[1:], query, headers)
    if parts == ["v2"]:
        return _v2(headers)
    raise not_found("/openapi/" + "/".join(parts))
