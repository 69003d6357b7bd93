"""Fixtures for the scheduler tests: a real SQLite store, its LocalClient and a Manager."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gitkube.agents.manager import Manager
from gitkube.api.local import LocalClient
from gitkube.store import open_store


class SchedCluster:
    def __init__(self, path: Path):
        self.store = open_store(f"sqlite:///{path}")
        self.client = LocalClient(self.store)
        self.manager = Manager(self.client)

    def close(self) -> None:
        self.manager.stop()
        self.store.close()


@pytest.fixture
def make_sched_cluster(tmp_path: Path) -> Iterator[Callable[[str], SchedCluster]]:
    made: list[SchedCluster] = []

    def make(name: str = "state.db") -> SchedCluster:
        c = SchedCluster(tmp_path / name)
        made.append(c)
        return c

    try:
        yield make
    finally:
        for c in made:
            c.close()


@pytest.fixture
def sched_cluster(make_sched_cluster: Callable[[str], SchedCluster]) -> SchedCluster:
    return make_sched_cluster("state.db")
