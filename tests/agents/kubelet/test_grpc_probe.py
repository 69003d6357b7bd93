"""gRPC probes' verdicts against real gRPC servers on loopback, started by each test."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from gitkube.agents.kubelet.grpcprobe import grpc_check, target
from gitkube.agents.kubelet.probes import Prober, check
from gitkube.runtime.base import Capabilities
from gitkube.runtime.simulated import SimulatedRuntime
from tests.agents.kubelet.grpc_health_server import NOT_SERVING, SERVING, Server, serve

LOOPBACK = "127.0.0.1"


class NetworkRuntime(SimulatedRuntime):
    """A simulated runtime whose pods are reachable (here: on loopback), as Podman's are."""

    def capabilities(self) -> Capabilities:
        return Capabilities(network_probes=True)


@pytest.fixture
def server() -> Iterator[Server]:
    running = serve()
    yield running
    running.stop()


def _closed_port() -> int:
    """A loopback port nothing listens on (bound but not listening while the test runs
    would be refused too; closed is the plain case)."""
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def test_serving_is_success(server: Server) -> None:
    assert grpc_check(LOOPBACK, server.port, "", 1.0) == (True, "")
    assert grpc_check(LOOPBACK, server.port, "shop", 1.0) == (True, "")


def test_not_serving_is_failure_naming_the_status(server: Server) -> None:
    server.health.set("shop", NOT_SERVING)
    assert grpc_check(LOOPBACK, server.port, "shop", 1.0) == (
        False, 'service unhealthy (responded with "NOT_SERVING")')
    assert grpc_check(LOOPBACK, server.port, "", 1.0) == (True, "")  # the server as a whole
    server.health.set("shop", SERVING)
    assert grpc_check(LOOPBACK, server.port, "shop", 1.0) == (True, "")


def test_an_unknown_service_is_failure(server: Server) -> None:
    assert grpc_check(LOOPBACK, server.port, "nosuch", 1.0) == (
        False, f'health rpc to {LOOPBACK}:{server.port} failed: NOT_FOUND: '
               'unknown service "nosuch"')


def test_a_server_without_the_health_service_is_failure() -> None:
    running = serve(with_health=False)
    try:
        ok, message = grpc_check(LOOPBACK, running.port, "", 1.0)
    finally:
        running.stop()
    assert not ok
    assert message.startswith("this server does not implement the gRPC health protocol"), \
        message


def test_connection_refused_is_failure() -> None:
    port = _closed_port()
    ok, message = grpc_check(LOOPBACK, port, "", 2.0)
    assert not ok
    assert message.startswith(f"health rpc to {LOOPBACK}:{port} failed: UNAVAILABLE: "), \
        message
    assert "Connection refused" in message


def test_an_answer_later_than_the_timeout_is_failure() -> None:
    running = serve(delay=1.5)
    try:
        ok, message = grpc_check(LOOPBACK, running.port, "", 0.3)
    finally:
        running.stop()
    assert (ok, message) == (
        False, f"timeout: health rpc to {LOOPBACK}:{running.port} did not complete within 0.3s")


def test_a_peer_that_never_speaks_http2_times_out() -> None:
    """A TCP listener that accepts and stays silent: the HTTP/2 handshake never finishes."""
    with socket.socket() as listener:
        listener.bind((LOOPBACK, 0))
        listener.listen(4)
        port = int(listener.getsockname()[1])
        ok, message = grpc_check(LOOPBACK, port, "", 0.5)
    assert not ok
    assert message.startswith("timeout:") or "UNAVAILABLE" in message, message


def test_ipv6_targets_are_bracketed() -> None:
    assert target("10.88.0.5", 50051) == "10.88.0.5:50051"
    assert target("fd00::5", 50051) == "[fd00::5]:50051"


def test_check_runs_the_grpc_handler_at_the_pods_address(server: Server) -> None:
    runtime = NetworkRuntime()
    probe: dict[str, Any] = {"grpc": {"port": server.port, "service": "shop"},
                             "timeoutSeconds": 1}
    assert check(probe, {"name": "c"}, runtime=runtime, container_id="x",
                 pod_ip=LOOPBACK) == (True, "")
    server.health.set("shop", NOT_SERVING)
    assert check(probe, {"name": "c"}, runtime=runtime, container_id="x",
                 pod_ip=LOOPBACK) == (False, 'service unhealthy (responded with "NOT_SERVING")')
    # the whole server: no service named
    assert check({"grpc": {"port": server.port}}, {"name": "c"}, runtime=runtime,
                 container_id="x", pod_ip=LOOPBACK) == (True, "")


def test_a_simulated_pod_passes_without_a_connection() -> None:
    """Simulated pods listen nowhere: network probes pass, as httpGet and tcpSocket do."""
    assert check({"grpc": {"port": _closed_port()}}, {"name": "c"},
                 runtime=SimulatedRuntime(), container_id="x", pod_ip=LOOPBACK) == (True, "")


def test_a_readiness_worker_follows_the_servers_status(server: Server) -> None:
    """The prober's gRPC readiness result flips with what the server answers."""
    flips = threading.Semaphore(0)
    prober = Prober(NetworkRuntime(), lambda _key: flips.release(), tick=0.02)
    container = {"name": "c", "readinessProbe": {
        "grpc": {"port": server.port, "service": "shop"}, "periodSeconds": 1,
        "timeoutSeconds": 1, "failureThreshold": 1}}
    prober.start()
    try:
        prober.ensure("ns/p", "uid-1", container, "cid-1", LOOPBACK, started=0.0)
        assert flips.acquire(timeout=10)
        assert prober.passing("uid-1", "c", "readiness")
        server.health.set("shop", NOT_SERVING)
        assert flips.acquire(timeout=10)
        worker = prober.state("uid-1", "c", "readiness")
        assert worker is not None and worker.result is False
        assert worker.message == 'service unhealthy (responded with "NOT_SERVING")'
    finally:
        prober.stop()
