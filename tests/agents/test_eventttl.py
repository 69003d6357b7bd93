"""Event expiry: Events last seen longer than the TTL ago are deleted."""

from __future__ import annotations

from gitkube.agents.controllers import eventttl
from gitkube.agents.events import EventRecorder
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
