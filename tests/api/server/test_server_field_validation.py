"""fieldValidation=Ignore|Warn|Strict over HTTP: unknown fields dropped silently, dropped with
a Warning header each, or refused with every field named; duplicate JSON fields likewise."""

from __future__ import annotations

import http.client
import json
from typing import Any

from tests.api.server.httphelp import assert_status, call, deployment
from tests.api.server.serving import Served

DEPLOYS = "/apis/apps/v1/namespaces/default/deployments"


def _warnings(port: int, method: str, path: str, body: Any) -> list[str]:
    """Every Warning header of one answer (the shared helper keeps one per name)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=json.dumps(body).encode(),
                     headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
        assert response.status < 300, response.status
        return response.msg.get_all("Warning") or []
    finally:
        conn.close()


def _with_unknown(name: str) -> dict[str, object]:
    obj = deployment(name)
    obj["spec"]["foo"] = 1
    obj["spec"]["template"]["spec"]["containers"][0]["bar"] = "x"
    return obj


def test_ignore_drops_unknown_fields_silently(served: Served) -> None:
    made = call(served.port, "POST", f"{DEPLOYS}?fieldValidation=Ignore", _with_unknown("a"))
    assert made.code == 201 and "warning" not in made.headers
    assert "foo" not in made.json["spec"]
    assert "bar" not in made.json["spec"]["template"]["spec"]["containers"][0]


def test_warn_drops_them_and_names_each_in_a_warning_header(served: Served) -> None:
    made = call(served.port, "POST", f"{DEPLOYS}?fieldValidation=Warn", _with_unknown("b"))
    assert made.code == 201 and "foo" not in made.json["spec"]
    assert _warnings(served.port, "PUT", f"{DEPLOYS}/b?fieldValidation=Warn",
                     _with_unknown("b")) == [
        '299 - "unknown field \\"spec.template.spec.containers[0].bar\\""',
        '299 - "unknown field \\"spec.foo\\""']  # in the body's order
    patched = call(served.port, "PATCH", f"{DEPLOYS}/b?fieldValidation=Warn",
                   [{"op": "add", "path": "/spec/zzz", "value": 1},
                    {"op": "replace", "path": "/spec/replicas", "value": 3}],
                   content_type="application/json-patch+json")
    assert patched.code == 200 and patched.json["spec"]["replicas"] == 3
    assert patched.headers["warning"] == '299 - "unknown field \\"spec.zzz\\""'


def test_strict_and_the_default_refuse_with_every_field_named(served: Served) -> None:
    for query in ("?fieldValidation=Strict", ""):
        refused = call(served.port, "POST", DEPLOYS + query, _with_unknown("c"))
        assert_status(refused, 422, "Invalid")
        fields = sorted(c["field"] for c in refused.json["details"]["causes"])
        assert fields == ["spec.foo", "spec.template.spec.containers[0].bar"]
        assert {c["reason"] for c in refused.json["details"]["causes"]} == {"FieldValueNotFound"}


def test_duplicate_fields_are_warned_or_refused(served: Served) -> None:
    text = json.dumps(deployment("d")).replace('"replicas": 1', '"replicas": 1, "replicas": 2')
    refused = call(served.port, "POST", f"{DEPLOYS}?fieldValidation=Strict", text)
    assert_status(refused, 400, "BadRequest")
    assert 'duplicate field \\"spec.replicas\\"' in refused.body.decode()
    made = call(served.port, "POST", f"{DEPLOYS}?fieldValidation=Warn", text)
    assert made.code == 201 and made.json["spec"]["replicas"] == 2  # the last one wins
    assert made.headers["warning"] == '299 - "duplicate field \\"spec.replicas\\""'
    # without a directive (gitkube's agents, the Python client) JSON's rule: the last wins
    quiet = call(served.port, "POST", DEPLOYS, text.replace('"d"', '"f"'))
    assert quiet.code == 201 and quiet.json["spec"]["replicas"] == 2


def test_an_unknown_directive_is_invalid(served: Served) -> None:
    bad = call(served.port, "POST", f"{DEPLOYS}?fieldValidation=Lax", deployment("e"))
    assert_status(bad, 422, "Invalid")
    assert bad.json["details"]["causes"][0]["field"] == "fieldValidation"
