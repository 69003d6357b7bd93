"""Watch events shared by every watcher of one store event: decoded once for matching,
encoded once for HTTP, and still each watcher's own object, own event type (selectors) and
own rendering (Tables). Runs on every store backend (the api fixtures)."""

from __future__ import annotations

import gc
import json
import threading
import weakref
from typing import Any

from gitkube.api import LocalClient, WatchEvent
from gitkube.api.server.bodies import encode_json
from gitkube.api.server.watchstream import WatchQuery, WatchStream
from gitkube.api.shared import SharedObject
from gitkube.model.kinds import ResourceType
from gitkube.store.base import Create, KeyValue, StoreEvent
from gitkube.store.etcd import EtcdStore
from gitkube.store.memory import MemoryStore
from tests.api.test_client_reads import drain, pod

Obj = dict[str, Any]


def _lines(stream: WatchStream, n: int) -> list[bytes]:
    """The next ``n`` lines; fails after a few quiet ticks instead of waiting forever."""
    out: list[bytes] = []
    quiet = 0
    for line in stream:
        if line is None:
            quiet += 1
            assert quiet < 5, f"expected {n} lines, got {out}"
            continue
        out.append(line)
        if len(out) == n:
            break
    return out


def _pods(client: LocalClient) -> ResourceType:
    return client.resource("v1", "Pod")


def test_watchers_of_one_event_get_equal_objects_of_their_own(client: LocalClient) -> None:
    mark = client.list("v1", "Pod", "default").resource_version
    watchers = [client.watch("v1", "Pod", "default", resource_version=mark) for _ in range(3)]
    try:
        client.create(pod("a", labels={"app": "x"}))
        events = [drain(w, 1)[0] for w in watchers]
    finally:
        for w in watchers:
            w.close()
    first = events[0]
    assert first.shared is not None
    # one decode and one encoding for all: the memory and SQLite backends hand their
    # watchers one event (etcd gives each watch its own stream, so its own events)
    if not isinstance(client.store, EtcdStore):
        assert all(e.shared is first.shared for e in events)
    assert all(e.type == "ADDED" for e in events)
    assert all(e.object == first.object for e in events)
    assert first.object["metadata"]["resourceVersion"] == \
        client.get("v1", "Pod", "default", "a")["metadata"]["resourceVersion"]
    # each object is the consumer's own: changing one changes neither the others nor the
    # shared form other watchers encode
    first.object["metadata"]["labels"]["app"] = "changed"
    assert events[1].object["metadata"]["labels"] == {"app": "x"}
    assert first.shared.view()["metadata"]["labels"] == {"app": "x"}


def test_selectors_still_decide_each_watchers_event_type(client: LocalClient) -> None:
    all_pods = client.watch("v1", "Pod", "default")
    selected = client.watch("v1", "Pod", "default", label_selector="app=x")
    try:
        obj = client.create(pod("a", labels={"app": "y"}))
        obj["metadata"]["labels"] = {"app": "x"}
        obj = client.update(obj)
        obj["metadata"]["labels"] = {"app": "z"}
        client.update(obj)
        everything = drain(all_pods, 3)
        chosen = drain(selected, 2)
    finally:
        all_pods.close()
        selected.close()
    assert [e.type for e in everything] == ["ADDED", "MODIFIED", "MODIFIED"]
    # the same store events, seen through the selector: it started, then stopped matching
    assert [e.type for e in chosen] == ["ADDED", "DELETED"]
    assert [e.object["metadata"]["labels"] for e in chosen] == [{"app": "x"}, {"app": "z"}]
    assert chosen[0].shared is not None and everything[1].shared is not None


def test_shared_lines_are_the_bytes_of_each_event(client: LocalClient) -> None:
    """Two HTTP watch streams write the same shared bytes, equal to encoding the event on
    its own; the event type in the line is each stream's own."""
    rt = _pods(client)
    mark = client.list("v1", "Pod", "default").resource_version
    stopping = threading.Event()
    # from "now" with a selector: the watcher tracks what it has seen, so an object that stops
    # matching is DELETED for it
    query = WatchQuery(label_selector="app=x")
    plain = WatchStream(client, rt, "default", WatchQuery(resource_version=mark),
                        stopping=stopping)
    selected = WatchStream(client, rt, "default", query, stopping=stopping)
    try:
        obj = client.create(pod("a", labels={"app": "x"}))
        obj["metadata"]["labels"] = {"app": "z"}
        obj["metadata"]["annotations"] = {"note": "ünïcode"}
        client.update(obj)
        client.delete("v1", "Pod", "default", "a")
        plain_lines = _lines(plain, 3)
        selected_lines = _lines(selected, 2)
    finally:
        plain.close()
        selected.close()
    events = [json.loads(line) for line in plain_lines]
    assert [e["type"] for e in events] == ["ADDED", "MODIFIED", "DELETED"]
    for line, event in zip(plain_lines, events, strict=True):
        assert line == encode_json(event) + b"\n"
    assert [json.loads(line)["type"] for line in selected_lines] == ["ADDED", "DELETED"]
    # the selected stream's DELETED carries the same object JSON as the plain MODIFIED
    assert selected_lines[1] == plain_lines[1].replace(b'"type":"MODIFIED"',
                                                       b'"type":"DELETED"', 1)


def test_a_table_watch_renders_its_own_rows(client: LocalClient) -> None:
    rt = _pods(client)
    mark = client.list("v1", "Pod", "default").resource_version
    stopping = threading.Event()

    def render(obj: Obj) -> Obj:
        return {"kind": "Table", "rows": [{"cells": [obj["metadata"]["name"]]}]}

    table = WatchStream(client, rt, "default", WatchQuery(resource_version=mark),
                        stopping=stopping, render=render)
    plain = WatchStream(client, rt, "default", WatchQuery(resource_version=mark),
                        stopping=stopping)
    try:
        client.create(pod("a"))
        [table_line] = _lines(table, 1)
        [plain_line] = _lines(plain, 1)
    finally:
        table.close()
        plain.close()
    assert json.loads(table_line) == {"type": "ADDED", "object": {
        "kind": "Table", "rows": [{"cells": ["a"]}]}}
    assert json.loads(plain_line)["object"]["metadata"]["name"] == "a"


def test_watch_events_compare_by_type_and_object() -> None:
    assert WatchEvent("ADDED", {"a": 1}) == WatchEvent("ADDED", {"a": 1})
    assert WatchEvent("ADDED", {"a": 1}) != WatchEvent("MODIFIED", {"a": 1})
    assert WatchEvent("ADDED", {"a": 1}).to_dict() == {"type": "ADDED", "object": {"a": 1}}



def test_a_consumed_event_is_freed_without_the_cyclic_collector() -> None:
    """The shared object must not point back at its event: every write's event would then
    wait for the cyclic garbage collector (memory growing between collections)."""
    event = StoreEvent("ADDED", KeyValue("/registry/pods/default/a", b'{"metadata":{}}', 3, 3))
    assert SharedObject.of(event).view()["metadata"]["resourceVersion"] == "3"
    gone = weakref.ref(event)
    gc.disable()
    try:
        del event
        assert gone() is None
    finally:
        gc.enable()


def test_the_memory_stores_history_keeps_no_derived_objects() -> None:
    store = MemoryStore()
    watch = store.watch("/registry/", 0)
    store.txn([Create("/registry/pods/default/a", b'{"metadata":{}}')])
    delivered = watch.next_event(1.0)
    assert delivered is not None
    SharedObject.of(delivered).view()
    caught_up = store.watch("/registry/", 0).next_event(1.0)
    assert caught_up is not None and caught_up.memo == {}
    store.close()
