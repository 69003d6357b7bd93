"""The Client contract for list and watch, against every store backend."""

from __future__ import annotations

from typing import Any

import pytest

from gitkube.api import LocalClient, Watcher, WatchEvent
from gitkube.errors import BadRequest, Gone

Obj = dict[str, Any]


def pod(name: str, namespace: str = "default", *, labels: dict[str, str] | None = None,
        node: str | None = None) -> Obj:
    spec: Obj = {"containers": [{"name": "c", "image": "busybox:1"}]}
    if node:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "labels": labels or {}},
            "spec": spec}


def names(items: list[Obj]) -> list[str]:
    return [o["metadata"]["name"] for o in items]


def drain(watcher: Watcher, n: int, timeout: float = 2.0) -> list[WatchEvent]:
    events: list[WatchEvent] = []
    for _ in range(n):
        event = watcher.next_event(timeout)
        assert event is not None, f"expected {n} events, got {len(events)}: {events}"
        events.append(event)
    return events


def test_list_namespaces_and_selectors(client: LocalClient) -> None:
    client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "other"}})
    client.create(pod("a", labels={"app": "web", "tier": "front"}, node="n1"))
    client.create(pod("b", labels={"app": "web"}))
    client.create(pod("c", "other", labels={"app": "db"}, node="n1"))
    everything = client.list("v1", "Pod")
    assert names(everything.items) == ["a", "b", "c"]
    assert int(everything.resource_version) >= 3
    assert everything.to_dict()["kind"] == "PodList"
    assert names(client.list("v1", "Pod", "default").items) == ["a", "b"]
    assert names(client.list("v1", "Pod", label_selector="app=web,tier").items) == ["a"]
    assert names(client.list("v1", "Pod", label_selector="app in (web,db),!tier").items) == [
        "b", "c"]
    assert names(client.list("v1", "Pod", label_selector={"matchExpressions": [
        {"key": "app", "operator": "NotIn", "values": ["web"]}]}).items) == ["c"]
    assert names(client.list("v1", "Pod", field_selector="spec.nodeName=n1").items) == [
        "a", "c"]
    assert names(client.list("v1", "Pod", field_selector="spec.nodeName=").items) == ["b"]
    assert names(client.list("v1", "Pod", field_selector="metadata.namespace!=default,"
                                                        "status.phase=Pending").items) == ["c"]


def test_bad_selectors_are_bad_requests(client: LocalClient) -> None:
    with pytest.raises(BadRequest, match="field label not supported"):
        client.list("v1", "Pod", field_selector="spec.bogus=1")
    with pytest.raises(BadRequest):
        client.list("v1", "Pod", label_selector="app in (web")


def test_watch_from_none_sends_existing_then_changes_in_order(client: LocalClient) -> None:
    client.create(pod("a"))
    client.create(pod("b"))
    with client.watch("v1", "Pod") as w:
        first = drain(w, 2)
        assert [(e.type, e.object["metadata"]["name"]) for e in first] == [
            ("ADDED", "a"), ("ADDED", "b")]
        current = client.get("v1", "Pod", "default", "a")
        client.update_status({**current, "status": {"phase": "Running"}})
        client.delete("v1", "Pod", "default", "b")
        client.create(pod("c"))
        later = drain(w, 3)
        assert [(e.type, e.object["metadata"]["name"]) for e in later] == [
            ("MODIFIED", "a"), ("DELETED", "b"), ("ADDED", "c")]
        versions = [int(e.object["metadata"]["resourceVersion"]) for e in later]
        assert versions == sorted(versions) and len(set(versions)) == 3
        assert later[0].object["status"]["phase"] == "Running"
        assert w.next_event(0.05) is None


def test_watch_resumes_after_a_resource_version(client: LocalClient) -> None:
    client.create(pod("a"))
    listed = client.list("v1", "Pod")
    client.create(pod("b"))
    client.delete("v1", "Pod", "default", "a")
    with client.watch("v1", "Pod", resource_version=listed.resource_version) as w:
        events = drain(w, 2)
        assert [(e.type, e.object["metadata"]["name"]) for e in events] == [
            ("ADDED", "b"), ("DELETED", "a")]
        assert w.next_event(0.05) is None


def test_watch_of_one_namespace(client: LocalClient) -> None:
    client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}})
    with client.watch("v1", "Pod", "team", resource_version="0") as w:
        client.create(pod("x", "default"))
        client.create(pod("y", "team"))
        events = drain(w, 1)
        assert events[0].object["metadata"]["name"] == "y"
        assert w.next_event(0.05) is None


def test_watch_selector_turns_label_changes_into_added_and_deleted(client: LocalClient) -> None:
    client.create(pod("a", labels={"app": "web"}))
    with client.watch("v1", "Pod", label_selector="app=web") as w:
        assert drain(w, 1)[0].type == "ADDED"
        current = client.get("v1", "Pod", "default", "a")
        current["metadata"]["labels"] = {"app": "db"}
        moved = client.update(current)
        assert drain(w, 1)[0].type == "DELETED"
        moved["metadata"]["labels"] = {"app": "web"}
        client.update(moved)
        assert drain(w, 1)[0].type == "ADDED"


def test_watch_of_compacted_history_is_gone(client: LocalClient) -> None:
    first = client.create(pod("a"))
    for i in range(4):
        client.create(pod(f"p{i}"))
    client.store.compact(client.store.revision())
    with pytest.raises(Gone) as info:
        w = client.watch("v1", "Pod", resource_version=first["metadata"]["resourceVersion"])
        w.next_event(0.5)
    status = info.value.status()
    assert status["code"] == 410 and status["reason"] == "Expired"


def test_no_op_update_sends_no_event(client: LocalClient) -> None:
    client.create(pod("a"))
    with client.watch("v1", "Pod") as w:
        drain(w, 1)
        client.update(pod("a"))
        assert w.next_event(0.1) is None


def test_records_are_invisible_to_object_lists(client: LocalClient) -> None:
    from gitkube.api import PutRecord

    client.transaction([PutRecord("/gitkube/history/1", {"ok": True})])
    assert client.list("v1", "Pod").items == []
    record = client.get_record("/gitkube/history/1")
    assert record is not None and record.value == {"ok": True}


def test_kubelet_style_watch_by_node(client: LocalClient) -> None:
    client.create(pod("elsewhere", node="n2"))
    with client.watch("v1", "Pod", field_selector="spec.nodeName=n1") as w:
        client.create(pod("p"))
        assert w.next_event(0.1) is None  # not bound yet: not this node's business
        client.bind("default", "p", "n1")
        event = drain(w, 1)[0]
        assert (event.type, event.object["spec"]["nodeName"]) == ("ADDED", "n1")
        client.delete("v1", "Pod", "default", "p")  # graceful: the kubelet's to finish
        event = drain(w, 1)[0]
        assert event.type == "MODIFIED"
        assert event.object["metadata"]["deletionGracePeriodSeconds"] == 30
        client.delete("v1", "Pod", "default", "p", grace_period_seconds=0)  # its confirmation
        assert drain(w, 1)[0].type == "DELETED"
