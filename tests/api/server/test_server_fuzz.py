"""Property-based bad input (hypothesis) against one real server on 127.0.0.1, and the
server's memory under a hostile burst, measured on a server in a subprocess.

The properties, for any body, name or patch: an answer comes (never a connection dropped
without one), it is not a 5xx, and the server goes on answering. Example counts are modest
and derandomized, so the suite stays fast and CI sees the same cases every run."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitkube.store import open_store
from tests.api.server.rawhttp import connect, read_reply, request
from tests.api.server.serving import Served, start

PROPERTY = settings(max_examples=100, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.function_scoped_fixture])
CMS = "/api/v1/namespaces/default/configmaps"
DEPLOYS = "/apis/apps/v1/namespaces/default/deployments"
CONTENT_TYPES = [None, "application/json", "application/yaml", "application/merge-patch+json",
                 "application/json-patch+json", "application/strategic-merge-patch+json",
                 "application/apply-patch+yaml", "application/vnd.kubernetes.protobuf",
                 "text/plain", "application/json; charset=utf-16"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    store = open_store(f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'state.db'}")
    s = start(store)
    send(s.port, "POST", CMS, json.dumps({"metadata": {"name": "target"},
                                          "data": {"a": "1"}}).encode())
    send(s.port, "POST", DEPLOYS, json.dumps({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "main",
                                                       "image": "nginx:1"}]}}}}).encode())
    try:
        yield s
    finally:
        s.server.shutdown()
        store.close()


def send(port: int, method: str, path: str, body: bytes | None = None,
         content_type: str | None = "application/json") -> tuple[int, bytes]:
    """One request on a fresh connection: the status and body (any failure to get an
    answer raises, failing the property)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        headers = {"Content-Type": content_type} if content_type and body is not None else {}
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def answered(port: int, method: str, path: str, body: bytes | None,
             content_type: str | None) -> None:
    code, data = send(port, method, path, body, content_type)
    assert code < 500, (code, data[:500])
    if code >= 400:
        assert json.loads(data)["kind"] == "Status"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20)
lone = st.sampled_from(["\ud800", "\udfff", "\udbff\udbff", ""])
names = st.builds(lambda a, b, c: a + b + c, st.text(max_size=12), lone, st.text(max_size=4))


def objects_named(name: str) -> st.SearchStrategy[Any]:
    return st.fixed_dictionaries({"metadata": st.fixed_dictionaries({"name": st.just(name)}),
                                  "data": json_values})


@PROPERTY
@given(method=st.sampled_from(["POST", "PUT", "PATCH", "DELETE"]),
       path=st.sampled_from([CMS, f"{CMS}/target", f"{DEPLOYS}/web/scale", f"{DEPLOYS}/web",
                             "/api/v1/namespaces/default/pods/p/binding",
                             "/apis/gitkube.io/v1/transactions"]),
       body=st.binary(max_size=300) | json_values.map(lambda v: json.dumps(v).encode()),
       content_type=st.sampled_from(CONTENT_TYPES))
def test_any_body_gets_an_answer_that_is_not_a_5xx(server: Served, method: str, path: str,
                                                   body: bytes,
                                                   content_type: str | None) -> None:
    answered(server.port, method, path, body, content_type)


@PROPERTY
@given(name=names, method=st.sampled_from(["GET", "PUT", "DELETE", "PATCH", "POST"]))
def test_any_name_gets_an_answer_that_is_not_a_5xx(server: Served, name: str,
                                                   method: str) -> None:
    encoded = quote(name.encode("utf-8", "surrogatepass"), safe="")
    body = json.dumps({"metadata": {"name": name}}).encode()  # surrogates as \\u escapes
    path = CMS if method == "POST" else f"{CMS}/{encoded}"
    content_type = "application/merge-patch+json" if method == "PATCH" else "application/json"
    answered(server.port, method, path, body if method != "GET" else None, content_type)


pointer = st.lists(st.sampled_from(["data", "a", "metadata", "labels", "0", "-", "~1", "~0",
                                    "spec", "replicas", ""]), max_size=4).map(
    lambda parts: "".join("/" + p for p in parts))
operation = st.fixed_dictionaries(
    {"op": st.sampled_from(["add", "remove", "replace", "move", "copy", "test", "bogus"]),
     "path": pointer},
    optional={"from": pointer, "value": json_values})
smp_keys = st.sampled_from(["data", "metadata", "labels", "$patch", "$retainKeys", "$foo",
                            "$setElementOrder/containers", "$deleteFromPrimitiveList/x",
                            "containers", "name", "spec", "replicas"])
smp = st.recursive(json_values, lambda c: st.dictionaries(smp_keys, c, max_size=4)
                   | st.lists(c, max_size=3), max_leaves=15)


@PROPERTY
@given(patch=st.lists(operation, max_size=8).map(json.dumps) | smp.map(json.dumps),
       kind=st.sampled_from(["application/json-patch+json", "application/merge-patch+json",
                             "application/strategic-merge-patch+json"]),
       path=st.sampled_from([f"{CMS}/target", f"{DEPLOYS}/web", f"{DEPLOYS}/web/scale"]))
def test_any_patch_gets_an_answer_that_is_not_a_5xx(server: Served, patch: str, kind: str,
                                                    path: str) -> None:
    answered(server.port, "PATCH", path, patch.encode(), kind)
    code, _ = send(server.port, "GET", f"{CMS}/target")
    assert code in (200, 404)


# --- memory under a hostile burst --------------------------------------------------------------

SERVER = """
import sys
from gitkube.api import LocalClient
from gitkube.api.server import APIServer
from gitkube.store import open_store
server = APIServer(LocalClient(open_store(sys.argv[1])))
print(server.serve_tcp("127.0.0.1", 0), flush=True)
sys.stdin.read()
"""


def rss_mb(pid: int) -> dict[str, float]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) / 1024
    return out


def _endless_chunk(port: int, size_line: bytes, megabytes: int) -> None:
    """A chunked body with a bad size line, then ``megabytes`` of data (the old parser read
    all of it into memory)."""
    try:
        with connect(port, 30) as sock:
            sock.sendall(request("POST", CMS, headers={"Transfer-Encoding": "chunked"})
                         + size_line + b"\r\n")
            block = b"x" * (1 << 20)
            for _ in range(megabytes):
                sock.sendall(block)
            read_reply(sock, wait=5)
    except OSError:
        pass  # the server answered and closed early: what a fixed server does


def _oversized(port: int, megabytes: int) -> None:
    try:
        with connect(port, 30) as sock:
            sock.sendall(request("POST", CMS, headers={"Content-Length": str(megabytes << 20)}))
            block = b"y" * (1 << 20)
            for _ in range(megabytes):
                sock.sendall(block)
            read_reply(sock, wait=5)
    except OSError:
        pass


@pytest.mark.slow
def test_memory_stays_bounded_under_a_hostile_burst(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])}
    proc = subprocess.Popen([sys.executable, "-c", SERVER, f"sqlite:///{tmp_path / 'db'}"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        send(port, "POST", CMS, json.dumps({"metadata": {"name": "amp"},
                                            "data": {"a": "x" * 1000}}).encode())
        before = rss_mb(proc.pid)
        burst = [threading.Thread(target=_endless_chunk, args=(port, line, 40))
                 for line in (b"-1", b"-2", b"-1", b"-2")]
        burst += [threading.Thread(target=_oversized, args=(port, 30)) for _ in range(4)]
        for t in burst:
            t.start()
        ops = [{"op": "copy", "from": "/data", "path": f"/data/k{i}"} for i in range(25)]
        code, _ = send(port, "PATCH", f"{CMS}/amp", json.dumps(ops).encode(),
                       "application/json-patch+json")
        assert code == 422
        deep = b'{"metadata": {"name": "d"}, "data": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
        assert send(port, "POST", CMS, deep)[0] == 400
        for t in burst:
            t.join(timeout=60)
        time.sleep(0.5)
        after = rss_mb(proc.pid)
        grown = after["VmHWM"] - before["VmRSS"]
        assert grown < 120, (before, after)  # 4 bodies of at most 3 MiB, parsing, threads
        assert send(port, "GET", "/healthz", None)[0] == 200
        with socket.create_connection(("127.0.0.1", port), timeout=10):
            pass  # still accepting
    finally:
        proc.terminate()  # this PID only
        proc.wait(30)
