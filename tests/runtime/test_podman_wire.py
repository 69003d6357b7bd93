"""The bodies gitkube sends Podman and how it reads the answers, without Podman."""

from __future__ import annotations

import pytest

from gitkube.runtime.base import ContainerSpec, Mount, PortMapping, SandboxSpec, Security
from gitkube.runtime.podman_wire import (
    container_body,
    container_info,
    demux,
    epoch,
    is_missing,
    sandbox_body,
)

PORT = PortMapping(80, 8080, "TCP")


def test_a_sandbox_without_infra_shares_nothing_and_carries_no_network() -> None:
    body = sandbox_body(SandboxSpec(name="p", labels={"a": "b"}, infra=False, hostname="h",
                                    ports=(PORT,), network="net"))
    assert body == {"name": "p", "labels": {"a": "b"}, "shared_namespaces": [],
                    "exit_policy": "continue", "no_infra": True}


def test_a_sandbox_with_infra_carries_the_pod_network() -> None:
    body = sandbox_body(SandboxSpec(name="p", labels={}, hostname="h", ports=(PORT,),
                                    hosts=(("db", "10.0.0.2"),), network="net",
                                    dns_servers=("10.0.0.1",), share_pid=True, host_ipc=True))
    assert body["shared_namespaces"] == ["net", "uts", "pid"]
    assert body["hostname"] == "h" and body["hostadd"] == ["db:10.0.0.2"]
    assert body["portmappings"] == [{"container_port": 80, "host_port": 8080,
                                     "protocol": "tcp", "host_ip": ""}]
    assert body["Networks"] == {"net": {}} and body["dns_server"] == ["10.0.0.1"]


def test_a_host_network_sandbox_keeps_only_the_resolv_conf() -> None:
    body = sandbox_body(SandboxSpec(name="p", labels={}, hostname="h", ports=(PORT,),
                                    network="net", dns_servers=("1.1.1.1",),
                                    host_network=True))
    assert body["netns"] == {"nsmode": "host"} and body["utsns"] == {"nsmode": "host"}
    assert "Networks" not in body and "hostname" not in body and "portmappings" not in body
    assert body["dns_server"] == ["1.1.1.1"]


def test_a_container_owning_its_network_asks_for_its_address() -> None:
    body = container_body("pod1", ContainerSpec(
        name="c", image="img", labels={}, entrypoint=("sh",), hostname="h", ports=(PORT,),
        network="net", ip="10.244.0.7", mounts=(Mount("/h", "/c", read_only=True),),
        security=Security(user="1000", cap_drop=("ALL",)), memory_limit=1 << 20,
        cpu_limit_milli=1))
    assert body["entrypoint"] == ["sh"] and body["command"] == []
    assert body["netns"] == {"nsmode": "bridge"}
    assert body["Networks"] == {"net": {"static_ips": ["10.244.0.7"]}}
    assert body["mounts"] == [{"destination": "/c", "source": "/h", "type": "bind",
                               "options": ["rbind", "ro"]}]
    assert (body["user"], body["cap_drop"]) == ("1000", ["ALL"])
    assert body["resource_limits"] == {"memory": {"limit": 1 << 20},
                                       "cpu": {"quota": 1000, "period": 100_000}}
    assert "resource_limits" not in container_body("pod1", ContainerSpec(
        name="c", image="img", labels={}, memory_limit=1), limits=False)


def test_a_host_network_container_publishes_nothing() -> None:
    body = container_body("pod1", ContainerSpec(
        name="c", image="img", labels={}, hostname="h", ports=(PORT,), network="net",
        host_network=True, host_pid=True))
    assert body["netns"] == {"nsmode": "host"} and body["pidns"] == {"nsmode": "host"}
    assert "portmappings" not in body and "hostname" not in body and "Networks" not in body


@pytest.mark.parametrize(("state", "mapped", "code", "reason"), [
    ("running", "running", None, ""), ("stopping", "running", None, ""),
    ("exited", "exited", 0, "Completed"), ("stopped", "exited", 3, "Error"),
    ("configured", "created", None, ""), ("weird", "unknown", None, ""),
])
def test_container_states(state: str, mapped: str, code: int | None, reason: str) -> None:
    info = container_info({"Id": "x", "Names": ["n"], "State": state, "ExitCode": code or 0,
                           "StartedAt": 10, "ExitedAt": 20, "Labels": {"k": "v"}})
    assert (info.state, info.exit_code, info.reason) == (mapped, code, reason)
    assert info.finished_at == (20.0 if mapped == "exited" else None)


@pytest.mark.parametrize(("value", "seconds"), [
    (-1, None), (0, None), (12, 12.0), ("0001-01-01T00:00:00Z", None),
    ("1970-01-01T00:00:01.123456789Z", 1.123456), ("nonsense", None),
])
def test_epoch(value: object, seconds: float | None) -> None:
    assert epoch(value) == (pytest.approx(seconds) if seconds is not None else None)


def test_demux_strips_the_stream_headers() -> None:
    frame = bytes([1, 0, 0, 0, 0, 0, 0, 3]) + b"abc" + bytes([2, 0, 0, 0, 0, 0, 0, 1]) + b"d"
    assert demux(frame) == b"abcd"


@pytest.mark.parametrize(("status", "message", "missing"), [
    (404, "no such container", True),
    (500, "no pod with ID be57912541ee found in database: no such pod", True),
    (500, "no container with name or ID \"x\" found: no such container", True),
    (500, "crun: cgroups in hybrid mode not supported", False),
    (409, "no such pod", False),  # a conflict is not "gone"
])
def test_an_object_removed_meanwhile_is_missing(status: int, message: str,
                                                missing: bool) -> None:
    """Seen in the suite's teardowns: Podman answered 500 "no such pod" for a pod removed
    between a look and the DELETE; that is "not found", not a failure."""
    assert is_missing(status, message) is missing
