"""CronJob, Ingress and PersistentVolume: named by discovery, listed empty, nothing else."""

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
    code, body = _answer("GET", "/apis/batch/v1/namespaces/default/cronjobs")
    assert code == 200 and body["kind"] == "CronJobList" and body["items"] == []
    code, body = _answer("GET", "/api/v1/persistentvolumes")
    assert code == 200 and body["kind"] == "PersistentVolumeList"
    assert _answer("GET", "/apis/networking.k8s.io/v1/namespaces/x/ingresses/web")[0] == 404
    code, body = _answer("POST", "/apis/batch/v1/namespaces/default/cronjobs")
    assert code == 405 and "no CronJob controller" in str(body["message"])
    assert _answer("GET", "/apis/batch/v1/cronjobs", watch="true")[0] == 405
    assert absent.route_of(split("/api/v1/namespaces/x/persistentvolumes")) is None
    assert absent.route_of(split("/apis/batch/v1/jobs")) is None


@pytest.mark.parametrize(("group", "version", "name"), [
    ("batch", "v1", "cronjobs"), ("networking.k8s.io", "v1", "ingresses"),
    ("", "v1", "persistentvolumes")])
def test_discovery_names_them(group: str, version: str, name: str) -> None:
    doc = discovery.resource_list(group, version)
    assert doc is not None
    entry = next(r for r in doc["resources"] if r["name"] == name)
    assert entry["verbs"] == ["get", "list"]
    if group:
        assert any(g["name"] == group for g in discovery.api_group_list()["groups"])
