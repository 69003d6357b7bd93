"""The agent machinery: work queue semantics, informers over a real SQLite store, Manager."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from gitkube.agents.events import EventRecorder
from gitkube.agents.manager import (
    Controller,
    Informer,
    Manager,
    Result,
    WorkQueue,
    index_by_owner_uid,
    key_of,
    owner_mapper,
    split_key,
)
from gitkube.api.client import Client, ObjectList, Watcher
from gitkube.api.local import LocalClient
from gitkube.store import open_store
from tests.agents.agenttest import eventually


def _cm(name: str, ns: str = "default", data: str = "1") -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": ns}, "data": {"v": data}}


def test_keys() -> None:
    assert key_of({"metadata": {"namespace": "a", "name": "b"}}) == "a/b"
    assert key_of({"metadata": {"name": "n1"}}) == "n1"
    assert split_key("a/b") == ("a", "b")
    assert split_key("n1") == (None, "n1")


def test_queue_dedups_and_requeues_when_added_during_processing() -> None:
    q = WorkQueue()
    q.add("a")
    q.add("a")
    q.add("b")
    assert len(q) == 2
    assert q.get(0) == "a"
    q.add("a")  # while processing: held back, not handed out twice
    assert q.get(0) == "b"
    assert q.get(0) is None
    q.done("a")
    assert q.get(0) == "a"
    q.done("a")
    q.done("b")
    assert q.idle()


def test_queue_delays_and_backoff() -> None:
    q = WorkQueue(base_delay=0.01)
    q.add_after("x", 0.05)
    assert q.get(0) is None
    start = time.monotonic()
    assert q.get(2) == "x"
    assert time.monotonic() - start >= 0.03
    q.done("x")
    q.add_rate_limited("y")
    q.add_rate_limited("y")
    assert q.failures("y") == 2
    assert q.get(2) == "y"
    q.forget("y")
    assert q.failures("y") == 0
    q.shutdown()
    assert q.get(1) is None


def test_informer_lists_watches_and_drops_unchanged(tmp_path: Path) -> None:
    client = LocalClient(open_store(f"sqlite:///{tmp_path / 's.db'}"))
    client.create(_cm("before"))
    seen: list[tuple[str, str]] = []
    lock = threading.Lock()

    def rec(kind: str) -> Callable[..., None]:
        def h(*objs: dict[str, object]) -> None:
            with lock:
                seen.append((kind, key_of(objs[-1])))
        return h

    inf = Informer(client, "v1", "ConfigMap")
    inf.add_handler(rec("add"), rec("update"), rec("delete"))
    inf.start()
    try:
        assert inf.wait_for_sync(5)
        client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "other"}})
        client.create(_cm("after", ns="other"))
        cm = client.get("v1", "ConfigMap", "default", "before")
        client.update(cm)  # no change: no write, no event
        cm["data"] = {"v": "2"}
        client.update(cm)
        client.delete("v1", "ConfigMap", "other", "after")
        assert eventually(lambda: ("delete", "other/after") in seen)
        assert seen == [("add", "default/before"), ("add", "other/after"),
                        ("update", "default/before"), ("delete", "other/after")]
        assert [key_of(o) for o in inf.list()] == ["default/before"]
        assert inf.list("other") == []
        assert inf.get("default/before") is not None
    finally:
        inf.stop()


class _Recording:
    def __init__(self, fail_first: int = 0) -> None:
        self.keys: list[str] = []
        self.fail_first = fail_first

    def reconcile(self, key: str) -> Result:
        self.keys.append(key)
        if self.fail_first:
            self.fail_first -= 1
            raise RuntimeError("boom")
        return Result()


def test_controller_maps_children_to_owners_and_retries(tmp_path: Path) -> None:
    client = LocalClient(open_store(f"sqlite:///{tmp_path / 's.db'}"))
    mgr = Manager(client)
    rec = _Recording(fail_first=2)
    ctl = Controller("test", rec, mgr.informer("v1", "ConfigMap"), resync_period=None)
    pods = mgr.informer("v1", "Secret")
    pods.add_index("owner", index_by_owner_uid)
    ctl.watches(pods, owner_mapper("ConfigMap"))
    mgr.add(ctl)
    with mgr:
        owner = client.create(_cm("owner"))
        assert mgr.run_until(lambda: rec.keys.count("default/owner") >= 3, timeout=10)
        n = len(rec.keys)
        client.create({"apiVersion": "v1", "kind": "Secret",
                       "metadata": {"name": "child", "namespace": "default",
                                    "ownerReferences": [{
                                        "apiVersion": "v1", "kind": "ConfigMap",
                                        "name": "owner", "uid": owner["metadata"]["uid"],
                                        "controller": True}]}})
        assert mgr.run_until(lambda: len(rec.keys) > n, timeout=10)
        assert rec.keys[n] == "default/owner"
        assert [key_of(o) for o in pods.by_index("owner", owner["metadata"]["uid"])] == \
            ["default/child"]
    assert not mgr.running


def test_event_recorder_aggregates_repeats(tmp_path: Path) -> None:
    client = LocalClient(open_store(f"sqlite:///{tmp_path / 's.db'}"))
    cm = client.create(_cm("web"))
    rec = EventRecorder(client, "test-controller", "host1")
    rec.normal(cm, "Synced", "all good")
    rec.normal(cm, "Synced", "all good")
    rec.warning(cm, "Failed", "bad")
    events = client.list("v1", "Event", "default").items
    assert sorted((e["reason"], e["count"], e["type"]) for e in events) == [
        ("Failed", 1, "Warning"), ("Synced", 2, "Normal")]
    synced = next(e for e in events if e["reason"] == "Synced")
    assert synced["involvedObject"]["uid"] == cm["metadata"]["uid"]
    assert synced["involvedObject"]["kind"] == "ConfigMap"
    assert synced["source"] == {"component": "test-controller", "host": "host1"}
    found = client.list("v1", "Event", "default",
                        field_selector="involvedObject.name=web").items
    assert len(found) == 2


def test_event_recorder_remembers_a_bounded_number_of_events(tmp_path: Path) -> None:
    """The aggregation memory is an LRU of ``cache_size`` events: a repeat of a recent event
    bumps its count; a repeat of one pushed out writes a new Event (as upstream's LRU)."""
    client = LocalClient(open_store(f"sqlite:///{tmp_path / 's.db'}"))
    cm = client.create(_cm("web"))
    rec = EventRecorder(client, "test-controller", cache_size=3)
    for i in range(3):
        rec.normal(cm, "Step", f"step {i}")
    rec.normal(cm, "Step", "step 0")  # remembered: aggregated, and now the most recent
    rec.normal(cm, "Step", "step 3")  # pushes out the least recently used: step 1
    rec.normal(cm, "Step", "step 0")  # still remembered
    rec.normal(cm, "Step", "step 1")  # forgotten: a new Event
    events = client.list("v1", "Event", "default").items
    assert sorted((e["message"], e["count"]) for e in events) == [
        ("step 0", 3), ("step 1", 1), ("step 1", 1), ("step 2", 1), ("step 3", 1)]
    assert len(rec._seen) == 3


def test_event_recorder_keeps_events_made_at_the_same_instant(tmp_path: Path) -> None:
    """Event names are times; a clock that stands still (tests, coarse clocks) repeats them,
    and every event must still be written."""
    client = LocalClient(open_store(f"sqlite:///{tmp_path / 's.db'}"))
    cm = client.create(_cm("web"))
    rec = EventRecorder(client, "test-controller", clock=lambda: 1000.0)
    for i in range(5):
        rec.normal(cm, "Step", f"step {i}")
    events = client.list("v1", "Event", "default").items
    assert sorted(e["message"] for e in events) == [f"step {i}" for i in range(5)]
    assert len({e["metadata"]["name"] for e in events}) == 5


def test_informer_rewatches_when_the_stream_closes(tmp_path: Path) -> None:
    """A watch the server ends (None at once, over and over) is opened again from the last
    resourceVersion, without a relist and without spinning."""
    client = LocalClient(open_store(f"sqlite:///{tmp_path / 's.db'}"))
    calls = {"watch": 0, "list": 0}

    class Closing:
        def __getattr__(self, name: str) -> object:
            return getattr(client, name)

        def list(self, *a: Any, **k: Any) -> ObjectList:
            calls["list"] += 1
            return client.list(*a, **k)

        def watch(self, *a: Any, **k: Any) -> Watcher:
            calls["watch"] += 1
            w = client.watch(*a, **k)
            if calls["watch"] == 1:
                w.close()  # the "server" ended the first stream
            return w

    inf = Informer(cast(Client, Closing()), "v1", "ConfigMap")  # a Client by delegation
    inf.start()
    try:
        assert inf.wait_for_sync(5)
        client.create(_cm("late"))
        assert eventually(lambda: inf.get("default/late") is not None, timeout=10)
        assert eventually(lambda: calls["watch"] >= 2, timeout=10)
        assert calls["list"] == 1, calls  # watched again, not relisted
    finally:
        inf.stop()
