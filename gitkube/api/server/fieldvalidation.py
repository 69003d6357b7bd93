"""``fieldValidation=Ignore|Warn|Strict`` on writes (POST, PUT, PATCH), as upstream defines it,
and kubectl's ``--validate=false|warn|strict`` which send it.

- ``Strict``: an unknown field fails the request (422, from the api layer's validation,
  every field named in ``details.causes``), and so does a field given twice in a JSON body
  (400, as upstream's strict decoder answers) when the directive is given explicitly.
- ``Warn``: unknown fields are dropped and the request goes on; each dropped field and each
  duplicate comes back in a ``Warning: 299 - "unknown field \\"spec.foo\\""`` header, which
  kubectl prints as ``Warning: unknown field "spec.foo"``.
- ``Ignore``: unknown fields are dropped silently.

Without the parameter gitkube is Strict (upstream's default is Warn): a GitOps engine should
not apply a manifest whose misspelt field would be lost. The body is rewritten only when
something is dropped; the decision of which fields are unknown is gitkube/schema/prune.py's.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from gitkube.api.server.bodies import JSON, PATCH_TYPES, encode_json, media_type, parse_body
from gitkube.api.server.messages import Answer, Request, Response
from gitkube.api.server.routes import Route
from gitkube.errors import APIError, BadRequest, Invalid
from gitkube.schema.prune import prune, prune_json_patch

DIRECTIVES = ("Ignore", "Warn", "Strict")
_JSON_TYPES = frozenset({"", JSON, *(t for t, k in PATCH_TYPES.items() if k != "apply")})


def directive(req: Request) -> str:
    """The request's directive; Invalid (422) for a value upstream does not know."""
    value = req.query.get("fieldValidation") or "Strict"
    if value not in DIRECTIVES:
        message = (f'Unsupported value: "{value}": supported values: "Ignore", "Strict", '
                   '"Warn"')
        raise Invalid(f"fieldValidation: {message}", causes=[{
            "reason": "FieldValueNotSupported", "field": "fieldValidation",
            "message": message}])
    return value


class _Pairs(dict[str, Any]):
    """A decoded JSON object that remembers the keys its text gave more than once."""

    duplicates: list[str]


def _pairs(items: list[tuple[str, Any]]) -> _Pairs:
    out = _Pairs(items)
    out.duplicates = [] if len(out) == len(items) else sorted(
        {k for i, (k, _) in enumerate(items) if any(k == o for o, _ in items[:i])})
    return out


def _duplicate_paths(value: Any, path: str = "") -> list[str]:
    found: list[str] = []
    if isinstance(value, _Pairs):
        found += [f"{path}.{k}" if path else k for k in value.duplicates]
        for key, item in value.items():
            found += _duplicate_paths(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found += _duplicate_paths(item, f"{path}[{i}]")
    return found


def _has_duplicates(raw: bytes) -> bool:
    found = False

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal found
        out = dict(items)
        found = found or len(out) != len(items)
        return out

    json.loads(raw, object_pairs_hook=pairs)
    return found


def duplicates(raw: bytes) -> list[str]:
    """The paths of the fields a JSON text gives more than once ([] for anything else).
    The common case, none, costs one decoding with a plain hook; paths are built only when
    there is one."""
    if raw.count(b'"') < 4:
        return []
    try:
        if not _has_duplicates(raw):
            return []
        return _duplicate_paths(json.loads(raw, object_pairs_hook=_pairs))
    except (ValueError, RecursionError):
        return []  # the handler's own parse reports malformed JSON


def _warning(text: str) -> tuple[str, str]:
    return ("Warning", '299 - ' + json.dumps(text))


def _drop_unknown(req: Request, route: Route) -> tuple[Request, list[str]]:
    """``req`` with the unknown fields of its body dropped, and their paths."""
    try:
        body = parse_body(req.body, req.content_type)
    except APIError:
        return req, []  # the handler answers the malformed body
    rt = route.rt
    kind = media_type(req.content_type)
    if PATCH_TYPES.get(kind) == "json":
        dropped = prune_json_patch(body, rt.api_version, rt.kind)
    else:
        dropped = prune(body, rt.api_version, rt.kind)
    if not dropped:
        return req, []
    content_type = req.content_type if kind in PATCH_TYPES else JSON
    headers = {**req.headers, "content-type": content_type or JSON}
    return replace(req, body=encode_json(body), headers=headers), dropped


def handle(req: Request, route: Route, inner: Callable[[Request], Answer]) -> Answer:
    """``inner(req)`` under the request's field validation directive (writes of an object
    or its status; other requests pass through)."""
    if req.method not in ("POST", "PUT", "PATCH") or route.subresource not in ("", "status"):
        return inner(req)
    mode = directive(req)
    # Duplicates cost a second decoding with a Python hook (about ten times the first):
    # looked for only when the client chose a directive (kubectl always does), not on the
    # writes of gitkube's own agents and of clients that send none.
    doubled = duplicates(req.body) if "fieldValidation" in req.query and media_type(
        req.content_type) in _JSON_TYPES else []
    if mode == "Strict":
        if doubled:
            listed = ", ".join(f'duplicate field "{p}"' for p in doubled)
            raise BadRequest(f"{route.rt.kind} in version \"{route.rt.version}\" cannot be "
                             f"handled as a {route.rt.kind}: strict decoding error: {listed}")
        return inner(req)
    req, dropped = _drop_unknown(req, route)
    answer = inner(req)
    if mode == "Warn" and isinstance(answer, Response):
        warnings = [_warning(f'unknown field "{p}"') for p in dropped]
        warnings += [_warning(f'duplicate field "{p}"') for p in doubled]
        answer.headers = (*answer.headers, *warnings)
    return answer
