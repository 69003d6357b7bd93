"""Optimistic concurrency under contention: no lost update, and watchers see every write."""

from __future__ import annotations

import threading

from gitkube.api import LocalClient
from gitkube.errors import Conflict

THREADS = 4
INCREMENTS = 15


def _increment(client: LocalClient, errors: list[BaseException]) -> None:
    try:
        for _ in range(INCREMENTS):
            while True:
                current = client.get("v1", "ConfigMap", "default", "counter")
                current["data"]["n"] = str(int(current["data"]["n"]) + 1)
                try:
                    client.update(current)
                    break
                except Conflict:
                    continue
    except BaseException as e:  # reported by the main thread
        errors.append(e)


def test_compare_and_swap_increments_lose_nothing(client: LocalClient) -> None:
    created = client.create({"apiVersion": "v1", "kind": "ConfigMap",
                             "metadata": {"name": "counter"}, "data": {"n": "0"}})
    errors: list[BaseException] = []
    with client.watch("v1", "ConfigMap",
                      resource_version=created["metadata"]["resourceVersion"]) as watcher:
        threads = [threading.Thread(target=_increment, args=(client, errors))
                   for _ in range(THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert not errors, errors
        total = THREADS * INCREMENTS
        final = client.get("v1", "ConfigMap", "default", "counter")
        assert final["data"]["n"] == str(total)
        seen = []
        for _ in range(total):
            event = watcher.next_event(5)
            assert event is not None
            seen.append(int(event.object["data"]["n"]))
        assert seen == list(range(1, total + 1))  # every value once, in order
