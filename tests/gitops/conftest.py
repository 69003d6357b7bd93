"""Fixtures for the GitOps tests: the store, its client, and a deploy repository made by
`gitkube repo init` with a clone of it (helpers live in gitops_env.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gitkube.api.client import Client
from gitkube.api.local import LocalClient
from gitkube.store import open_store
from tests.gitops.gitops_env import GITKUBE, Clone, run


@pytest.fixture
def store_url(_isolated_state_dir: Path) -> str:
    return f"sqlite:///{_isolated_state_dir / 'state.db'}"


@pytest.fixture
def client(store_url: str) -> Iterator[Client]:
    store = open_store(store_url)
    yield LocalClient(store)
    store.close()


@pytest.fixture
def deploy_repo(tmp_path: Path, store_url: str) -> Callable[..., tuple[Path, Clone]]:
    """``deploy_repo(*init_args)``: ``gitkube repo init`` a bare repository, clone it."""

    def make(*init_args: str) -> tuple[Path, Clone]:
        bare = tmp_path / "deploy.git"
        run([GITKUBE, "repo", "init", str(bare), "--store", store_url, *init_args], tmp_path)
        run(["git", "clone", "-q", str(bare), "work"], tmp_path)
        return bare, Clone(tmp_path / "work")

    return make
