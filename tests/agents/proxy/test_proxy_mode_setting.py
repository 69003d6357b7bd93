"""``$GITKUBE_PROXY_MODE``: how the proxy the CLI and the daemon run forwards ClusterIPs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gitkube.agents.compose import compose
from gitkube.agents.manager import Manager
from gitkube.agents.proxy import ProxyAgent
from gitkube.api.local import LocalClient
from gitkube.errors import GitkubeError
from gitkube.settings import Settings
from gitkube.store import open_store

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(("value", "mode"), [(None, "auto"), ("", "auto"),
                                             ("userspace", "userspace"),
                                             (" Kernel ", "kernel"), ("auto", "auto")])
def test_the_proxy_runs_in_the_mode_the_environment_names(
        monkeypatch: pytest.MonkeyPatch, value: str | None, mode: str) -> None:
    monkeypatch.delenv("GITKUBE_SERVICES", raising=False)
    if value is None:
        monkeypatch.delenv("GITKUBE_PROXY_MODE", raising=False)
    else:
        monkeypatch.setenv("GITKUBE_PROXY_MODE", value)
    agents = compose(Manager(LocalClient(open_store("memory://"))),
                     Settings.from_env(os.environ), names=["proxy", "dns"])
    proxies = [a for a in agents if isinstance(a, ProxyAgent)]
    assert len(proxies) == 1
    assert proxies[0].config.backend == mode


def test_an_unknown_proxy_mode_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITKUBE_PROXY_MODE", "ipvs")
    with pytest.raises(GitkubeError) as info:
        Settings.from_env(os.environ)
    assert "GITKUBE_PROXY_MODE='ipvs' is not a proxy mode" in info.value.message
    assert info.value.hint is not None and "userspace" in info.value.hint


def test_apply_wait_with_an_unknown_mode_stops_before_writing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "GITKUBE_STATE_DIR": str(tmp_path),
           "GITKUBE_STORE": url, "GITKUBE_PROXY_MODE": "ipvs"}
    proc = subprocess.run([sys.executable, "-m", "gitkube.cli.main", "apply", "--yes", "--wait",
                           str(REPO / "manifests")], capture_output=True, text=True,
                          timeout=120, env=env)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: GITKUBE_PROXY_MODE='ipvs' is not a proxy mode")
    assert "hint:" in proc.stderr
    client = LocalClient(open_store(url))
    assert client.list("apps/v1", "Deployment").items == []
    assert client.list("v1", "Namespace").items == []
