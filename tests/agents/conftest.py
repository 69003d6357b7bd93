"""Fixtures for the controller tests: a real SQLite store, a Manager, a manual clock."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gitkube.agents.runtime import Manager, ManualClock
from gitkube.api.local import LocalClient
from gitkube.store import open_store


class Cluster:
    def __init__(self, path: Path):
        self.store = open_store(f"sqlite:///{path}")
        self.client = LocalClient(self.store)
        self.clock = ManualClock()
        self.manager = Manager(self.client, clock=self.clock)

    def close(self) -> None:
        self.manager.stop()
        self.store.close()


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(tmp_path / "state.db")
    try:
        yield c
    finally:
        c.close()


@pytest.fixture
def make_cluster(tmp_path: Path) -> Iterator[Callable[..., Any]]:
    made: list[Cluster] = []

    def make(name: str = "state.db") -> Cluster:
        c = Cluster(tmp_path / name)
        made.append(c)
        return c

    try:
        yield make
    finally:
        for c in made:
            c.close()
