"""The pure parts of the HA control plane: which API servers are endpoints of
default/kubernetes, the leader-election settings a user can give, and etcd store URLs."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from gitkube.daemon.apiserver_endpoints import ENDPOINT_ANNOTATION, endpoints_from
from gitkube.errors import GitkubeError, UsageError
from gitkube.model.leases import micro_time
from gitkube.settings import LeaderElectionSettings
from gitkube.store import open_store
from tests.cliapp import app

runner = CliRunner()


def _lease(endpoint: str, renewed: float, duration: int = 30) -> dict[str, object]:
    return {"metadata": {"annotations": {ENDPOINT_ANNOTATION: endpoint}},
            "spec": {"renewTime": micro_time(renewed), "leaseDurationSeconds": duration}}


def test_endpoints_from_live_leases_grouped_by_port() -> None:
    now = 1_000_000.0
    items = [_lease("10.0.0.2:7443", now - 5), _lease("10.0.0.1:7443", now - 1),
             _lease("127.0.0.1:17443", now - 29), _lease("10.0.0.9:7443", now - 31),
             _lease("garbage", now)]
    assert endpoints_from(items, now) == [
        {"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}],
         "ports": [{"name": "https", "port": 7443, "protocol": "TCP"}]},
        {"addresses": [{"ip": "127.0.0.1"}],
         "ports": [{"name": "https", "port": 17443, "protocol": "TCP"}]},
    ]
    assert endpoints_from([], now) == []


@pytest.mark.parametrize(("lease", "renew", "retry"), [
    (15, 15, 2), (15, 10, 10), (15, 10, 0), (10, 15, 2), (15.5, 10, 2)])
def test_leader_election_settings_refused(lease: float, renew: float, retry: float) -> None:
    with pytest.raises(GitkubeError) as info:
        LeaderElectionSettings(True, lease, renew, retry).check()
    assert info.value.hint


def test_serve_refuses_bad_election_flags_with_one_line() -> None:
    result = runner.invoke(app, ["serve", "--leader-elect-renew-deadline", "20s"])
    assert result.exit_code != 0
    assert isinstance(result.exception, GitkubeError)
    assert "must grow in that order" in result.exception.message
    result = runner.invoke(app, ["serve", "--leader-elect-retry-period", "soon"])
    assert isinstance(result.exception, GitkubeError)
    assert "--leader-elect-retry-period" in result.exception.message


def test_serve_refuses_cluster_init_with_join_or_a_store() -> None:
    result = runner.invoke(app, ["serve", "--cluster-init", "--join", "http://x:2379"])
    assert isinstance(result.exception, UsageError)
    result = runner.invoke(app, ["serve", "--cluster-init", "--store", "etcd://a:1"])
    assert isinstance(result.exception, UsageError)
    assert "--store" in result.exception.message


@pytest.mark.parametrize("url", ["etcd://a:1,,b:2", "etcd://a:1,b:port"])
def test_etcd_member_lists_that_cannot_be_read(url: str) -> None:
    with pytest.raises(UsageError):
        open_store(url)


def test_embedded_etcd_flags_on_the_serve_command_line_up_starts() -> None:
    from gitkube.daemon.embedded_etcd import EmbeddedEtcd

    assert EmbeddedEtcd(client_port=12379, peer_port=12380).argv() == [
        "--cluster-init", "--etcd-host", "127.0.0.1", "--etcd-client-port", "12379",
        "--etcd-peer-port", "12380"]
    assert EmbeddedEtcd(join="http://h:2379").argv()[:2] == ["--join", "http://h:2379"]
