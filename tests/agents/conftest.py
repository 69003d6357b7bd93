"""Fixtures for the controller tests: a real SQLite store, a Manager, a manual clock."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.agents.agenttest import Cluster


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(tmp_path / "state.db")
    try:
        yield c
    finally:
        c.close()
