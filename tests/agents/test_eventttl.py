"""Event expiry: Events last seen longer than the TTL ago are deleted."""

from __future__ import annotations

from typing import Any, cast

from gitkube.agents.controllers import eventttl
from gitkube.agents.events import EventRecorder
from gitkube.api.client import Client
from gitkube.model.times import parse_time
from tests.agents.agenttest import Cluster, eventually


def test_expired_events_are_deleted(cluster: Cluster) -> None:
    c, clock = cluster.client, cluster.clock
    cm = c.create({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "cm", "namespace": "default"}})
    rec = EventRecorder(c, "test", clock=clock)
    rec.normal(cm, "Old", "first")
    clock.advance(3000)
    rec.normal(cm, "New", "second")
    agent = eventttl.controller(cluster.manager, ttl=3600, period=0.05)
    cluster.manager.add(agent)
    cluster.manager.start()
    assert len(c.list("v1", "Event", "default").items) == 2
    clock.advance(700)  # "Old" is now 3,700 s old, "New" 700 s
    assert eventually(lambda: [e["reason"] for e in c.list("v1", "Event", "default").items]
                      == ["New"])
    assert agent.deleted == 1


def test_events_written_or_bumped_after_start_expire_by_their_last_sighting(
        cluster: Cluster) -> None:
    c, clock = cluster.client, cluster.clock
    cm = c.create({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "cm", "namespace": "default"}})
    agent = eventttl.controller(cluster.manager, ttl=3600, period=0.05)
    cluster.manager.add(agent)
    cluster.manager.start()
    rec = EventRecorder(c, "test", clock=clock)
    rec.normal(cm, "Once", "once")
    rec.normal(cm, "Again", "again")
    assert eventually(lambda: len(agent.seen) == 2)
    clock.advance(3000)
    rec.normal(cm, "Again", "again")  # a repeat: same Event, lastTimestamp moved on
    events = {e["reason"]: e for e in c.list("v1", "Event", "default").items}
    assert (events["Again"]["count"], events["Once"]["count"]) == (2, 1)
    again = events["Again"]["metadata"]["name"]
    bumped, first = (parse_time(events[r]["lastTimestamp"]) for r in ("Again", "Once"))
    assert bumped is not None and first is not None and bumped > first
    assert eventually(lambda: agent.seen.when("default", again) == bumped)
    clock.advance(700)  # "Once" is 3,700 s old; "Again" was last seen 700 s ago
    assert eventually(lambda: [e["reason"] for e in c.list("v1", "Event", "default").items]
                      == ["Again"])
    assert eventually(lambda: len(agent.seen) == 1)


def test_expiry_lists_events_once_and_then_follows_the_watch(cluster: Cluster) -> None:
    """The agent keeps a float per Event, not the objects: it never lists every Event again
    while its watch holds, however many sweeps it makes."""
    lists = [0]
    real = cluster.client

    class Counting:
        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

        def list(self, *args: Any, **kwargs: Any) -> Any:
            lists[0] += 1
            return real.list(*args, **kwargs)

    agent = eventttl.EventExpiry(cast(Client, Counting()), cluster.clock, ttl=60, period=0.02)
    cm = real.create({"apiVersion": "v1", "kind": "ConfigMap",
                      "metadata": {"name": "cm", "namespace": "default"}})
    rec = EventRecorder(real, "test", clock=cluster.clock)
    agent.start()
    try:
        for i in range(5):
            rec.normal(cm, "Step", f"step {i}")
            cluster.clock.advance(61)
        assert eventually(lambda: agent.deleted == 5)
        assert real.list("v1", "Event", "default").items == []
        assert lists[0] == 1
    finally:
        agent.stop()


def test_last_seen_keeps_the_latest_sighting_and_forgets_deleted_events() -> None:
    seen = eventttl.LastSeen()
    event = {"metadata": {"namespace": "a", "name": "e1"},
             "lastTimestamp": "2026-01-01T00:00:00Z"}
    seen.saw(event)
    seen.saw({"metadata": {"namespace": "b", "name": "e2"},
              "firstTimestamp": "2026-01-01T00:10:00Z"})
    base = parse_time("2026-01-01T00:00:00Z")
    assert base is not None
    assert seen.expired(base + 700, ttl=600) == [("a", "e1")]
    seen.saw({**event, "lastTimestamp": "2026-01-01T00:05:00Z"})
    assert seen.expired(base + 700, ttl=600) == []
    seen.gone(event)
    assert len(seen) == 1 and seen.expired(base + 10_000, ttl=600) == [("b", "e2")]
