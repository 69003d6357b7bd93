"""PersistentVolume: named by discovery, listed empty, nothing else (CronJob and Ingress,
once absent too, are served kinds now)."""

from __future__ import annotations

import json

import pytest

from gitkube.api.server import absent, discovery
from gitkube.api.server.messages import Request
from gitkube.api.server.routes import split
from gitkube.errors import APIError


def _answer(method: str, path: str, **query: str) -> tuple[int, dict[str, object]]:
    route = absent.route_of(split(path))
    assert route is not None, path
    try:
        response = absent.handle(Request(method, path, query), route)
    except APIError as e:
        return e.code, e.status()
    return response.code, json.loads(response.body)


def test_lists_are_empty_and_everything_else_is_refused() -> None:
    code, body = _answer("GET", "/api/v1/persistentvolumes")
    assert code == 200 and body["kind"] == "PersistentVolumeList" and body["items"] == []
    assert _answer("GET", "/api/v1/persistentvolumes/pv0")[0] == 404
    code, body = _answer("POST", "/api/v1/persistentvolumes")
    assert code == 405 and "without PersistentVolumes" in str(body["message"])
    assert _answer("GET", "/api/v1/persistentvolumes", watch="true")[0] == 405
    assert absent.route_of(split("/api/v1/namespaces/x/persistentvolumes")) is None
    assert absent.route_of(split("/apis/batch/v1/jobs")) is None
    assert absent.route_of(split("/apis/batch/v1/namespaces/default/cronjobs")) is None
    assert absent.route_of(split("/apis/networking.k8s.io/v1/ingresses")) is None


@pytest.mark.parametrize(("group", "version", "name"), [("", "v1", "persistentvolumes")])
def test_discovery_names_them(group: str, version: str, name: str) -> None:
    doc = discovery.resource_list(group, version)
    assert doc is not None
    entry = next(r for r in doc["resources"] if r["name"] == name)
    assert entry["verbs"] == ["get", "list"]
    if group:
        assert any(g["name"] == group for g in discovery.api_group_list()["groups"])
