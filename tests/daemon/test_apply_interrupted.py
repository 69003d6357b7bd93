"""The connection to the daemon lost while an apply was sent: `gitkube apply` looks in the
store whether the apply landed (its history record is written with the objects) and says
so, instead of only "cannot reach the API server"."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from gitkube.api.http_client import HTTPClient, ServerUnavailable
from gitkube.api.local import LocalClient
from gitkube.store import open_store
from tests.cliapp import app
from tests.daemon.daemon_env import RunningDaemon

CONFIGMAPS = "".join(f"---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c{i}, "
                     f"namespace: default}}\n" for i in range(3))


def _lose_the_answer(monkeypatch: pytest.MonkeyPatch, *, after_sending: bool) -> None:
    """The daemon's answer to the apply's transaction never arrives: the request reached it
    (``after_sending``) or it did not."""
    real: Callable[..., Any] = HTTPClient.transaction

    def transaction(self: HTTPClient, ops: Any) -> Any:
        if after_sending:
            real(self, ops)
        raise ServerUnavailable("cannot reach the API server: connection reset by peer")

    monkeypatch.setattr(HTTPClient, "transaction", transaction)


def _store(daemon: RunningDaemon) -> LocalClient:
    return LocalClient(open_store(daemon.info.store))


@pytest.mark.parametrize("after_sending", [True, False])
def test_an_interrupted_apply_says_whether_it_landed(daemon: RunningDaemon, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     after_sending: bool) -> None:
    (tmp_path / "c.yaml").write_text(CONFIGMAPS)
    _lose_the_answer(monkeypatch, after_sending=after_sending)
    result = CliRunner().invoke(app, ["apply", str(tmp_path), "--yes", "--no-wait"])
    names = sorted(o["metadata"]["name"] for o in _store(daemon).list("v1", "ConfigMap").items)
    if after_sending:
        assert result.exit_code == 0, result.output
        assert "the store shows it landed (history #1)" in result.output
        assert "Apply complete! Objects: 3 added" in result.output
        assert names == ["c0", "c1", "c2"]
    else:
        assert result.exit_code == 1
        assert "it did not land: nothing was written" in str(result.exception)
        assert names == []
