"""Raw HTTP helpers for the API tests: exact bytes on the wire, no client library."""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass
from typing import Any

Obj = dict[str, Any]


@dataclass
class Answer:
    code: int
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")


def call(port: int, method: str, path: str, body: Any = None, *,
         content_type: str | None = "application/json",
         headers: dict[str, str] | None = None, timeout: float = 30) -> Answer:
    """One request on a fresh connection; ``body`` is JSON-encoded unless bytes/str."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        data: bytes | None
        if body is None:
            data = None
        elif isinstance(body, bytes):
            data = body
        elif isinstance(body, str):
            data = body.encode()
        else:
            data = json.dumps(body).encode()
        hdrs = dict(headers or {})
        if data is not None and content_type:
            hdrs["Content-Type"] = content_type
        conn.request(method, path, body=data, headers=hdrs)
        response = conn.getresponse()
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()},
                      response.read())
    finally:
        conn.close()


def assert_status(answer: Answer, code: int, reason: str) -> Obj:
    """The answer is a Kubernetes Status failure with this code and reason."""
    assert answer.code == code, (answer.code, answer.body[:500])
    assert answer.content_type.startswith("application/json"), answer.content_type
    status: Obj = answer.json
    assert status["kind"] == "Status" and status["apiVersion"] == "v1", status
    assert status["status"] == "Failure" and status["code"] == code, status
    assert status["reason"] == reason, status
    assert status["message"], status
    return status


class WatchReader:
    """A raw watch: the response lines, read as they come (with a socket timeout so a test
    never hangs)."""

    def __init__(self, port: int, path: str, *, timeout: float = 20,
                 headers: dict[str, str] | None = None):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        self.conn.request("GET", path, headers=headers or {})
        self.response = self.conn.getresponse()

    def next(self) -> Obj | None:
        """The next event, or None when the server ended the stream."""
        line = self.response.readline()
        return json.loads(line) if line else None

    def take(self, n: int) -> list[Obj]:
        events: list[Obj] = []
        for _ in range(n):
            event = self.next()
            assert event is not None, f"stream ended after {events}"
            events.append(event)
        return events

    def rest(self) -> list[Obj]:
        out = []
        while (event := self.next()) is not None:
            out.append(event)
        return out

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> WatchReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def pod(name: str, namespace: str = "default", *, labels: dict[str, str] | None = None,
        containers: tuple[str, ...] = ("c",)) -> Obj:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "labels": labels or {}},
            "spec": {"containers": [{"name": c, "image": "busybox:1"} for c in containers]}}


def deployment(name: str = "web", replicas: int = 1) -> Obj:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "main",
                                                           "image": "nginx:1.25"}]}}}}
