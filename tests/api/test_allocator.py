"""Service ClusterIP and NodePort allocation in the api write path."""

from __future__ import annotations

import ipaddress
import random
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from gitkube.api import LocalClient
from gitkube.api.allocator import (
    IP_PREFIX,
    PORT_PREFIX,
    Ranges,
    dns_address,
    plan_allocation,
)
from gitkube.api.client import CreateOp
from gitkube.errors import Invalid
from gitkube.store import open_store
from tests.cliapp import app

Obj = dict[str, Any]
NET = ipaddress.IPv4Network("10.96.0.0/16")


def svc(name: str, **spec: Any) -> Obj:
    spec.setdefault("ports", [{"port": 80}])
    spec.setdefault("selector", {"app": name})
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": "default"}, "spec": spec}


@pytest.fixture
def client() -> LocalClient:
    return LocalClient(open_store("memory://"))


def test_allocates_an_ip_in_range_and_claims_it(client: LocalClient) -> None:
    out = client.create(svc("web"))
    ip = out["spec"]["clusterIP"]
    assert ipaddress.IPv4Address(ip) in NET
    assert out["spec"]["clusterIPs"] == [ip]
    assert out["spec"]["ipFamilies"] == ["IPv4"]
    record = client.get_record(IP_PREFIX + ip)
    assert record is not None and record.value["service"] == "default/web"
    assert record.value["uid"] == out["metadata"]["uid"]


def test_requested_ip_kept_taken_or_out_of_range_refused(client: LocalClient) -> None:
    assert client.create(svc("a", clusterIP="10.96.5.5"))["spec"]["clusterIP"] == "10.96.5.5"
    with pytest.raises(Invalid, match="already allocated"):
        client.create(svc("b", clusterIP="10.96.5.5"))
    with pytest.raises(Invalid, match="not in the valid range"):
        client.create(svc("c", clusterIP="192.0.2.7"))
    assert client.get_record(IP_PREFIX + "192.0.2.7") is None


def test_headless_allocates_nothing(client: LocalClient) -> None:
    out = client.create(svc("h", clusterIP="None"))
    assert out["spec"]["clusterIP"] == "None" and out["spec"]["clusterIPs"] == ["None"]
    assert client.list_records("/gitkube/allocations/") == []


def test_delete_releases_and_the_address_can_be_reused(client: LocalClient) -> None:
    client.create(svc("a", clusterIP="10.96.1.1", type="NodePort",
                      ports=[{"port": 80, "nodePort": 30080}]))
    assert len(client.list_records("/gitkube/allocations/")) == 2
    client.delete("v1", "Service", "default", "a")
    assert client.list_records("/gitkube/allocations/") == []
    again = client.create(svc("b", clusterIP="10.96.1.1", type="NodePort",
                              ports=[{"port": 80, "nodePort": 30080}]))
    assert again["spec"]["ports"][0]["nodePort"] == 30080


def test_node_ports_allocated_requested_and_checked(client: LocalClient) -> None:
    out = client.create(svc("np", type="NodePort", ports=[
        {"name": "http", "port": 80}, {"name": "dns", "port": 53, "protocol": "UDP",
                                       "nodePort": 30053}]))
    ports = out["spec"]["ports"]
    assert 30000 <= ports[0]["nodePort"] <= 32767 and ports[1]["nodePort"] == 30053
    with pytest.raises(Invalid, match="already allocated"):
        client.create(svc("np2", type="NodePort", ports=[{"port": 1, "nodePort": 30053}]))
    with pytest.raises(Invalid, match="not in the valid range"):
        client.create(svc("np3", type="NodePort", ports=[{"port": 1, "nodePort": 8080}]))


def test_update_keeps_allocated_values_and_forbids_changing_the_ip(client: LocalClient) -> None:
    out = client.create(svc("web", type="NodePort"))
    ip, node_port = out["spec"]["clusterIP"], out["spec"]["ports"][0]["nodePort"]
    again = svc("web", type="NodePort")  # as apply sends it: no allocated fields
    again["metadata"]["labels"] = {"x": "y"}
    updated = client.update(again)
    assert updated["spec"]["clusterIP"] == ip
    assert updated["spec"]["ports"][0]["nodePort"] == node_port
    moved = svc("web", type="NodePort", clusterIP="10.96.9.9")
    with pytest.raises(Invalid, match="may not change"):
        client.update(moved)
    # NodePort -> ClusterIP releases the port
    client.update(svc("web"))
    assert client.get_record(f"{PORT_PREFIX}{node_port}") is None
    assert client.get_record(IP_PREFIX + ip) is not None


def test_one_transaction_never_hands_out_one_address_twice() -> None:
    client = LocalClient(open_store("memory://"))
    client.allocator.ranges = Ranges(ipaddress.IPv4Network("10.96.0.0/28"))
    result = client.transaction([CreateOp(svc(f"s{i}")) for i in range(10)])
    ips = [r["spec"]["clusterIP"] for r in result.results if r is not None]
    assert len(set(ips)) == 10
    with pytest.raises(Invalid, match="range is full"):
        client.transaction([CreateOp(svc(f"t{i}")) for i in range(3)])


def test_reserved_addresses_never_allocated() -> None:
    ranges = Ranges(ipaddress.IPv4Network("10.96.0.0/28"))
    seen = set()
    taken: set[str] = set()
    for i in range(12):
        s = svc(f"s{i}")
        plan_allocation(s, None, ranges, lambda k: k in taken, random.Random(i))
        taken.add(IP_PREFIX + s["spec"]["clusterIP"])
        seen.add(s["spec"]["clusterIP"])
    assert {"10.96.0.0", "10.96.0.1", dns_address(ranges.cidr), "10.96.0.15"}.isdisjoint(seen)


MANIFEST = """\
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: default}
spec:
  clusterIP: None
  selector: {app: db}
  ports: [{port: 5432}]
"""


def test_plan_shows_no_diff_for_allocated_fields(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITKUBE_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("GITKUBE_STORE", f"sqlite:///{tmp_path / 'state.db'}")
    monkeypatch.setenv("GITKUBE_AUTHOR", "tester")
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "svc.yaml").write_text(MANIFEST)
    runner = CliRunner()
    applied = runner.invoke(app, ["apply", str(tmp_path / "m"), "--yes"])
    assert applied.exit_code == 0, applied.output
    live = LocalClient(open_store(f"sqlite:///{tmp_path / 'state.db'}")).get(
        "v1", "Service", "default", "web")
    assert live["spec"]["clusterIP"] and live["spec"]["ports"][0]["nodePort"]
    again = runner.invoke(app, ["plan", str(tmp_path / "m"), "--detailed-exitcode"])
    assert again.exit_code == 0, again.output
    # a second apply (an update from git) keeps the addresses
    (tmp_path / "m" / "svc.yaml").write_text(MANIFEST.replace("targetPort: 8080",
                                                              "targetPort: 8081"))
    assert runner.invoke(app, ["apply", str(tmp_path / "m"), "--yes"]).exit_code == 0
    after = LocalClient(open_store(f"sqlite:///{tmp_path / 'state.db'}")).get(
        "v1", "Service", "default", "web")
    assert after["spec"]["clusterIP"] == live["spec"]["clusterIP"]
    assert after["spec"]["ports"][0]["nodePort"] == live["spec"]["ports"][0]["nodePort"]
