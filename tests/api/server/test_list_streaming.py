"""Large lists are streamed (chunked, a batch at a time) and stay byte-for-byte the JSON
document a whole-list encoding gives; label-selected lists return exactly the matching
objects (LocalClient.iter_list skips most non-matching objects without decoding them)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import gitkube.api.local as local_module
from gitkube.api.client import CreateOp
from gitkube.api.codec import decode, encode
from gitkube.api.server import liststream
from gitkube.api.server.bodies import encode_json
from gitkube.model.kinds import lookup
from gitkube.model.labels import as_field_selector, as_selector
from tests.api.server.httphelp import call, pod
from tests.api.server.serving import Served

NS = "big"
COUNT = 2000
PODS = f"/api/v1/namespaces/{NS}/pods"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"


def big_pod(i: int) -> dict[str, Any]:
    obj = pod(f"pod-{i:05d}", NS, labels={"app": f"bench-{i % 100}", "tier": "web"})
    if i % 7 == 0:
        obj["metadata"]["labels"]["canary"] = "true"
    if i % 500 == 0:  # escapes and non-ASCII in the stored JSON: never skipped unread
        obj["metadata"]["annotations"] = {"note": 'a "quoted" \\ path, caf\u00e9'}
    return obj


@pytest.fixture
def loaded(served: Served) -> Served:
    served.local.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    for first in range(0, COUNT, 500):
        served.local.transaction([CreateOp(big_pod(i)) for i in range(first, first + 500)])
    return served


def test_a_large_list_is_chunked_and_is_the_whole_list_document(loaded: Served) -> None:
    answer = call(loaded.port, "GET", PODS)
    assert answer.code == 200
    assert answer.headers.get("transfer-encoding") == "chunked"
    assert "content-length" not in answer.headers
    listed = loaded.local.list("v1", "Pod", NS)
    assert len(listed.items) == COUNT
    # byte for byte what encoding the whole list at once gives
    assert answer.body == encode_json(listed.to_dict())
    doc = answer.json
    assert doc["kind"] == "PodList" and doc["apiVersion"] == "v1"
    assert doc["metadata"] == {"resourceVersion": listed.resource_version}
    assert doc["items"] == listed.items

    # across namespaces, and through gitkube's own HTTPClient (keep-alive after the stream)
    everywhere = call(loaded.port, "GET", "/api/v1/pods")
    assert everywhere.headers.get("transfer-encoding") == "chunked"
    assert everywhere.json["items"] == loaded.local.list("v1", "Pod").items
    client = loaded.client()
    try:
        for _ in range(2):
            over_http = client.list("v1", "Pod", NS)
            assert over_http.items == listed.items
            assert over_http.resource_version == listed.resource_version
    finally:
        client.close()


def test_a_small_list_keeps_one_body_and_head_has_no_body(loaded: Served) -> None:
    small = call(loaded.port, "GET", f"{PODS}?fieldSelector=metadata.name%3Dpod-00003")
    assert small.code == 200 and "transfer-encoding" not in small.headers
    assert int(small.headers["content-length"]) == len(small.body)
    assert [p["metadata"]["name"] for p in small.json["items"]] == ["pod-00003"]
    empty = call(loaded.port, "GET", "/api/v1/namespaces/default/pods")
    assert empty.json["items"] == [] and "content-length" in empty.headers
    head = call(loaded.port, "HEAD", PODS)
    assert head.code == 200 and head.body == b""
    assert int(head.headers["content-length"]) == len(call(loaded.port, "GET", PODS).body)


def test_a_large_table_is_chunked_with_every_row(loaded: Served) -> None:
    answer = call(loaded.port, "GET", PODS, headers={"Accept": TABLE})
    assert answer.code == 200 and answer.headers.get("transfer-encoding") == "chunked"
    table = answer.json
    assert table["kind"] == "Table" and table["apiVersion"] == "meta.k8s.io/v1"
    assert [c["name"] for c in table["columnDefinitions"]][:4] == ["Name", "Ready", "Status",
                                                                   "Restarts"]
    assert [r["cells"][0] for r in table["rows"]] == [f"pod-{i:05d}" for i in range(COUNT)]
    assert table["rows"][0]["object"]["kind"] == "PartialObjectMetadata"
    assert table["rows"][5]["object"]["metadata"]["labels"] == {"app": "bench-5",
                                                                 "tier": "web"}
    wide = call(loaded.port, "GET", f"{PODS}?includeObject=Object",
                headers={"Accept": TABLE}).json
    assert [r["object"] for r in wide["rows"]] == loaded.local.list("v1", "Pod", NS).items


def test_pieces_are_the_whole_encoding_for_any_batch_size() -> None:
    head = {"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "7"}}
    items = [{"n": i, "s": "caf\u00e9" * i} for i in range(50)]
    whole = encode_json({**head, "items": items})
    for batch in (1, 10, 100, 10_000):
        parts = list(liststream.pieces(head, "items", iter(items), batch_bytes=batch))
        assert b"".join(parts) == whole
        assert all(len(p) >= batch for p in parts[:-1])
    assert b"".join(liststream.pieces(head, "items", [])) == encode_json({**head, "items": []})


SELECTORS = [
    ("app=bench-7", None),
    ("app==bench-7", None),
    ("app in (bench-7,bench-42)", None),
    ("app=bench-7,canary", None),
    ("canary=true", None),
    ("app!=bench-7,tier=web", None),
    ("!canary", None),
    ("app notin (bench-1,bench-2)", None),
    ("app=nothing-has-this", None),
    ("tier=web", "metadata.name=pod-01234"),
    (None, "metadata.name=pod-00500"),
    (None, "status.phase=Pending"),
    (None, "spec.nodeName="),
]


@pytest.mark.parametrize(("labels", "fields"), SELECTORS)
def test_a_selected_list_returns_only_the_matching_objects(
        loaded: Served, labels: str | None, fields: str | None) -> None:
    everything = loaded.local.list("v1", "Pod", NS).items
    label_sel, field_sel = as_selector(labels), as_field_selector(fields)
    expected = [o for o in everything
                if label_sel.matches_object(o) and field_sel.matches(o)]
    query = "&".join(f"{k}={v}" for k, v in (("labelSelector", labels),
                                              ("fieldSelector", fields)) if v)
    from urllib.parse import quote
    path = f"{PODS}?{quote(query, safe='=&')}"
    answer = call(loaded.port, "GET", path)
    assert answer.code == 200, answer.body[:300]
    assert answer.json["items"] == expected
    assert loaded.local.list("v1", "Pod", NS, label_selector=labels,
                             field_selector=fields).items == expected
    client = loaded.client()
    try:
        assert client.list("v1", "Pod", NS, label_selector=labels,
                           field_selector=fields).items == expected
    finally:
        client.close()


def test_the_label_prefilter_skips_decoding_but_never_a_match(
        loaded: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    # An object written by another encoder, with its label value in a \u escape: the raw
    # bytes do not contain "bench-7", and it must still be found.
    rt = lookup("v1", "Pod")
    assert rt is not None
    odd = loaded.local.get("v1", "Pod", NS, "pod-00107")
    raw = encode(odd).replace(b'"bench-7"', b'"bench\\u002d7"')
    assert b'"bench-7"' not in raw
    key = rt.key(NS, "pod-00107")
    kv = loaded.store.get(key)
    assert kv is not None
    from gitkube.store.base import Update
    loaded.store.txn([Update(key, raw, kv.mod_revision)])

    decoded: list[int] = []
    real = decode

    def counting(*args: Any, **kwargs: Any) -> Any:
        decoded.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(local_module, "decode", counting)
    rv, items = loaded.local.iter_list("v1", "Pod", NS, label_selector="app=bench-7")
    names = [o["metadata"]["name"] for o in items]
    assert names == [f"pod-{i:05d}" for i in range(7, COUNT, 100)]
    assert rv == str(loaded.store.revision())
    # 20 matches, plus the few with escapes that are always decoded
    assert len(decoded) <= 20 + COUNT // 500 + 1, len(decoded)


def test_iter_list_raises_before_the_first_item(served: Served) -> None:
    from gitkube.errors import BadRequest, NotFound

    with pytest.raises(BadRequest):
        served.local.iter_list("v1", "Pod", "default", label_selector="app in (")
    with pytest.raises(NotFound):
        served.local.iter_list("v1", "Nope", "default")
    rv, items = served.local.iter_list("v1", "Pod", "default", label_selector="a=b,!a")
    assert list(items) == [] and rv


@pytest.fixture
def k8s_api(loaded: Served) -> Iterator[Any]:
    kubernetes = pytest.importorskip("kubernetes")
    config = kubernetes.client.Configuration()
    config.host = loaded.url
    with kubernetes.client.ApiClient(config) as api_client:
        yield api_client


def test_the_official_python_client_reads_a_streamed_list(loaded: Served,
                                                           k8s_api: Any) -> None:
    from kubernetes import client as k8s

    core: Any = k8s.CoreV1Api(k8s_api)  # its hints make every field optional
    listed = core.list_namespaced_pod(NS)
    assert [p.metadata.name for p in listed.items] == [f"pod-{i:05d}" for i in range(COUNT)]
    assert listed.metadata.resource_version == loaded.local.list("v1", "Pod",
                                                                 NS).resource_version
    few = core.list_namespaced_pod(NS, label_selector="app=bench-42")
    assert [p.metadata.name for p in few.items] == [f"pod-{i:05d}"
                                                    for i in range(42, COUNT, 100)]


KUBECTL = shutil.which("kubectl", path=str(Path(sys.executable).parent)) or shutil.which(
    "kubectl")


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")
def test_kubectl_reads_a_streamed_list_and_table(loaded: Served, tmp_path: Path) -> None:
    assert KUBECTL is not None
    config = tmp_path / "kubeconfig"
    config.write_text(
        "apiVersion: v1\nkind: Config\n"
        f"clusters: [{{name: g, cluster: {{server: '{loaded.url}'}}}}]\n"
        "users: [{name: me, user: {}}]\n"
        f"contexts: [{{name: g, context: {{cluster: g, user: me, namespace: {NS}}}}}]\n"
        "current-context: g\n")
    env = {"KUBECONFIG": str(config), "HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}

    def kubectl(*args: str) -> str:
        done = subprocess.run([KUBECTL, "--cache-dir", str(tmp_path / "cache"),
                               "--request-timeout=60s", *args],
                              capture_output=True, text=True, env=env, timeout=120)
        assert done.returncode == 0, (args, done.stderr)
        return done.stdout

    table = kubectl("get", "pods", "--no-headers").splitlines()  # the Table path
    assert [line.split()[0] for line in table] == [f"pod-{i:05d}" for i in range(COUNT)]
    as_json = json.loads(kubectl("get", "pods", "-o", "json"))
    assert len(as_json["items"]) == COUNT
    selected = kubectl("get", "pods", "-l", "app=bench-3,canary", "-o", "name").split()
    assert selected == [f"pod/pod-{i:05d}" for i in range(3, COUNT, 100) if i % 7 == 0]
