"""Fixtures for the scheduler tests: a cluster per test (see schedtest.SchedCluster)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.agents.scheduler.schedtest import SchedCluster


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
