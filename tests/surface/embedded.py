"""The embedded path: `gitkube validate`, `plan`, `apply` and `get` through the CLI over a
SQLite store with no daemon, and apply --wait's converge with the agents on the simulated
runtime (no containers)."""

from __future__ import annotations

import dataclasses
import io
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from gitkube.agents.compose import CONTROLLERS, AgentSet
from gitkube.agents.converge import ConvergeResult, PlainProgress, converge, report
from gitkube.api.local import LocalClient
from gitkube.errors import GitkubeError
from gitkube.model.objects import ObjectRef
from gitkube.runtime.simulated import SimulatedRuntime
from gitkube.settings import Settings
from gitkube.store import open_store
from tests.cliapp import app
from tests.surface.kubectl_daemon import wait_until

Obj = dict[str, Any]


class Embedded:
    """A manifests directory and a store of this test's own."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
        self.url = f"sqlite:///{tmp_path / 'state.db'}"
        monkeypatch.setenv("GITKUBE_STATE_DIR", str(tmp_path / "state"))
        monkeypatch.setenv("GITKUBE_STORE", self.url)
        monkeypatch.setenv("GITKUBE_NO_DAEMON", "1")
        self.root = tmp_path / "manifests"
        self.root.mkdir()
        self.client = LocalClient(open_store(self.url))

    def write(self, text: str, name: str = "all.yaml") -> None:
        (self.root / name).write_text(text)

    def run(self, *args: str) -> tuple[int, str]:
        """A gitkube command: (exit code, output with a GitkubeError's rendering)."""
        result = CliRunner().invoke(app, list(args), catch_exceptions=True)
        if isinstance(result.exception, GitkubeError):
            return 1, result.output + "error: " + result.exception.render()
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return result.exit_code, result.output

    def apply(self) -> str:
        code, out = self.run("apply", str(self.root), "--yes", "--no-wait")
        assert code == 0, out
        return out

    def agents(self) -> AgentSet:
        settings = dataclasses.replace(Settings.from_env(os.environ),
                                       node_name=socket.gethostname())
        names = (*CONTROLLERS, "scheduler", "kubelet")
        return AgentSet(self.client, settings, SimulatedRuntime(), names=names)

    def converge(self, objs: list[Obj], timeout: float = 60,
                 until: Callable[[], bool] | None = None) -> ConvergeResult:
        """What apply --wait does after the apply: the agents run until ``objs`` converge
        (and ``until`` holds)."""
        with self.agents() as agents:
            agents.wait_initial_sync(timeout)
            result = converge(self.client, [ObjectRef.of(o) for o in objs], timeout=timeout,
                              on_progress=PlainProgress(io.StringIO()))
            assert result.ok, report(result)
            if until is not None:
                assert wait_until(until, timeout)
        return result
