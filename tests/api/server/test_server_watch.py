"""Watch over HTTP: chunked JSON lines, resume from a resourceVersion, 410 as an ERROR event,
synthetic ADDED, bookmarks and sendInitialEvents, timeoutSeconds, shutdown. No test depends
on timing: streams are bounded by timeoutSeconds or read event by event."""

from __future__ import annotations

import threading

import pytest

from gitkube.api import WatchEvent
from gitkube.errors import Gone
from tests.api.server.httphelp import WatchReader, assert_status, call, pod
from tests.api.server.serving import Served

PODS = "/api/v1/namespaces/default/pods"


def test_watch_resumed_from_a_resource_version_sees_exactly_the_later_events(
        served: Served) -> None:
    call(served.port, "POST", PODS, pod("before"))
    mark = call(served.port, "GET", PODS).json["metadata"]["resourceVersion"]
    call(served.port, "POST", PODS, pod("after1"))
    obj = call(served.port, "POST", PODS, pod("after2")).json
    obj["metadata"]["labels"] = {"x": "y"}
    call(served.port, "PUT", f"{PODS}/after2", obj)
    call(served.port, "DELETE", f"{PODS}/after1")
    with WatchReader(served.port, f"{PODS}?watch=true&resourceVersion={mark}"
                                  "&timeoutSeconds=1") as w:
        assert w.response.status == 200
        assert w.response.getheader("Transfer-Encoding") == "chunked"
        assert w.response.getheader("Content-Type") == "application/json"
        events = w.rest()  # the server ends the stream after timeoutSeconds
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", "after1"), ("ADDED", "after2"), ("MODIFIED", "after2"),
        ("DELETED", "after1")]
    rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
    assert rvs == sorted(rvs) and rvs[0] > int(mark)


def test_watch_from_zero_starts_with_synthetic_added_then_live_events(served: Served) -> None:
    call(served.port, "POST", PODS, pod("a"))
    call(served.port, "POST", PODS, pod("b"))
    for flag in ("true", "1", "True"):
        with WatchReader(served.port, f"{PODS}?watch={flag}&resourceVersion=0") as w:
            assert [e["type"] for e in w.take(2)] == ["ADDED", "ADDED"]
    with WatchReader(served.port, f"{PODS}?watch=true") as w:
        assert [e["object"]["metadata"]["name"] for e in w.take(2)] == ["a", "b"]
        call(served.port, "POST", PODS, pod("c"))  # live: arrives while we wait
        event = w.next()
        assert event is not None
        assert (event["type"], event["object"]["metadata"]["name"]) == ("ADDED", "c")


def test_compacted_history_is_an_error_event_with_status_410(served: Served) -> None:
    first = call(served.port, "POST", PODS, pod("a")).json["metadata"]["resourceVersion"]
    for i in range(3):
        call(served.port, "POST", PODS, pod(f"p{i}"))
    served.store.compact(served.store.revision())
    with WatchReader(served.port, f"{PODS}?watch=1&resourceVersion={first}") as w:
        assert w.response.status == 200
        events = w.rest()
    assert len(events) == 1 and events[0]["type"] == "ERROR"
    status = events[0]["object"]
    assert status["kind"] == "Status" and status["code"] == 410
    assert status["reason"] == "Expired" and status["message"]


def test_bookmarks_only_when_allowed_and_send_initial_events(served: Served) -> None:
    call(served.port, "POST", PODS, pod("a"))
    with WatchReader(served.port, f"{PODS}?watch=1&timeoutSeconds=1") as w:
        assert [e["type"] for e in w.rest()] == ["ADDED"]
    path = (f"{PODS}?watch=1&sendInitialEvents=true&allowWatchBookmarks=true"
            "&resourceVersionMatch=NotOlderThan&timeoutSeconds=1")
    with WatchReader(served.port, path) as w:
        events = w.rest()
    assert [e["type"] for e in events] == ["ADDED", "BOOKMARK"]
    mark = events[1]["object"]
    assert mark["kind"] == "Pod" and mark["apiVersion"] == "v1"
    assert mark["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
    assert int(mark["metadata"]["resourceVersion"]) >= int(
        events[0]["object"]["metadata"]["resourceVersion"])
    assert_status(call(served.port, "GET", f"{PODS}?watch=1&sendInitialEvents=true"), 422,
                  "Invalid")


def test_watch_selectors_legacy_path_and_single_object(served: Served) -> None:
    call(served.port, "POST", PODS, pod("a", labels={"app": "web"}))
    call(served.port, "POST", PODS, pod("b", labels={"app": "db"}))
    with WatchReader(served.port, f"{PODS}?watch=1&labelSelector=app%3Dweb"
                                  "&timeoutSeconds=1") as w:
        assert [e["object"]["metadata"]["name"] for e in w.rest()] == ["a"]
    with WatchReader(served.port, "/api/v1/watch/namespaces/default/pods?timeoutSeconds=1"
                     ) as w:
        assert len(w.rest()) == 2
    with WatchReader(served.port, f"{PODS}/b?watch=1") as w:
        assert w.take(1)[0]["object"]["metadata"]["name"] == "b"
        call(served.port, "DELETE", f"{PODS}/a")
        call(served.port, "DELETE", f"{PODS}/b")
        event = w.next()
        assert event is not None
        assert (event["type"], event["object"]["metadata"]["name"]) == ("DELETED", "b")


def test_http_client_watch_resume_and_gone(served: Served) -> None:
    client = served.client()
    first = client.create(pod("a"))
    mark = first["metadata"]["resourceVersion"]
    client.create(pod("b"))
    with client.watch("v1", "Pod", resource_version=mark) as w:
        event = w.next_event(10)
        assert isinstance(event, WatchEvent)
        assert (event.type, event.object["metadata"]["name"]) == ("ADDED", "b")
    for i in range(3):
        client.create(pod(f"p{i}"))
    served.store.compact(served.store.revision())
    w = client.watch("v1", "Pod", resource_version=mark)
    try:
        raised = False
        try:
            w.next_event(10)
        except Gone as e:
            raised = e.status()["code"] == 410
        assert raised
    finally:
        w.close()


def test_shutdown_ends_open_watches(served: Served) -> None:
    client = served.client()
    watcher = client.watch("v1", "Pod")
    ended = threading.Event()

    def consume() -> None:
        for _ in watcher:
            pass
        ended.set()

    thread = threading.Thread(target=consume)
    thread.start()
    served.server.shutdown()
    thread.join(timeout=30)
    assert ended.is_set() and watcher.ended
    assert watcher.next_event(0) is None
    watcher.close()


def test_a_store_failure_mid_watch_is_an_error_event(served: Served,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from gitkube.api.watch import LocalWatcher
    from gitkube.errors import StoreUnavailable

    call(served.port, "POST", PODS, pod("a"))
    real = LocalWatcher.next_event
    calls = []

    def failing(self: LocalWatcher, timeout: float | None = None) -> WatchEvent | None:
        calls.append(1)
        if len(calls) > 1:
            raise StoreUnavailable("the database file vanished")
        return real(self, timeout)

    monkeypatch.setattr(LocalWatcher, "next_event", failing)
    with WatchReader(served.port, f"{PODS}?watch=1") as w:
        events = w.rest()
    assert [e["type"] for e in events] == ["ADDED", "ERROR"]
    assert events[1]["object"]["code"] == 503
