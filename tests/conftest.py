"""Fixtures shared by the whole suite. Keep this small and additive."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.gitrepo import GitRepo


@pytest.fixture(autouse=True)
def _isolated_state_dir(tmp_path_factory: pytest.TempPathFactory,
                        monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own GITKUBE_STATE_DIR (store, caches), never the user's."""
    state = tmp_path_factory.mktemp("state")
    monkeypatch.setenv("GITKUBE_STATE_DIR", str(state))
    # a Podman service a CLI command starts exits 1 s after its last use, not 120 s
    monkeypatch.setenv("GITKUBE_PODMAN_LINGER", "1")
    return state


@pytest.fixture(scope="session", autouse=True)
def _stop_recorded_podman_services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """At the end of the run, stop every Podman API service a test's CLI command started
    (each recorded its PID in its state directory): Podman 4.3's idle timer does not
    reliably end them, and the suite must leave no process behind."""
    yield
    from gitkube.runtime.podman import stop_recorded_service

    for pid_file in tmp_path_factory.getbasetemp().glob("**/podman/service.pid"):
        stop_recorded_service(pid_file.parent)


@pytest.fixture
def git_repo(tmp_path: Path) -> Callable[..., GitRepo]:
    """A factory: ``git_repo()`` makes an empty repository under tmp_path."""
    counter = iter(range(1_000_000))

    def make(name: str | None = None) -> GitRepo:
        root = tmp_path / (name or f"repo{next(counter)}")
        root.mkdir(parents=True)
        return GitRepo(root)

    return make
