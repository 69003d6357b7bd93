"""The gRPC probe: the standard health-checking protocol, ``grpc.health.v1.Health/Check``.

A container is healthy when its server answers ``SERVING`` for the probe's ``service`` (""
asks about the server as a whole) within the probe's timeout, as upstream's kubelet decides.
Everything else is a failure whose message says why: another status (``NOT_SERVING``), an
unknown service (the server answers ``NOT_FOUND``), a server without the health service
(``UNIMPLEMENTED``), no connection (refused, unreachable), or no answer in time.

The wire protocol is grpcio's (the reference gRPC implementation for Python, maintained by
the gRPC project) with the health messages of grpcio-health-checking (the generated code of
the standard ``health.proto``): gRPC runs over HTTP/2 with its own framing and status
trailers, which nothing in the standard library speaks. Plaintext only, like upstream's
default ``mode``; one short-lived channel per check (a probe must see a restarted server, not
a connection kept from before), no proxy and no retries.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import grpc

_OPTIONS = (
    ("grpc.enable_http_proxy", 0),  # a probe goes straight to the pod, never via a proxy
    ("grpc.enable_retries", 0),
    ("grpc.primary_user_agent", "kube-probe/gitkube"),
)


# The standard method (grpc/doc/health-checking.md), called without a generated stub class.
_CHECK = "/grpc.health.v1.Health/Check"


def target(host: str, port: int) -> str:
    """The channel target of ``host:port`` (an IPv6 address in brackets)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def grpc_check(host: str, port: int, service: str, timeout: float) -> tuple[bool, str]:
    """Ask the health service at ``host:port`` about ``service``: (healthy, message).
    Never raises for what the server does or does not do."""
    import grpc  # imported on first use: only kubelets with gRPC probes pay for it
    from grpc_health.v1 import health_pb2

    address = target(host, port)
    with grpc.insecure_channel(address, options=_OPTIONS) as channel:
        health_check = channel.unary_unary(
            _CHECK, request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
            response_deserializer=health_pb2.HealthCheckResponse.FromString)
        try:
            response: health_pb2.HealthCheckResponse = health_check(
                health_pb2.HealthCheckRequest(service=service), timeout=timeout)
        except grpc.RpcError as err:
            return False, _failure(err, address, service, timeout)
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
    if response.status != health_pb2.HealthCheckResponse.SERVING:
        return False, f'service unhealthy (responded with "{status}")'
    return True, ""


def _failure(err: grpc.RpcError, address: str, service: str, timeout: float) -> str:
    """The message of a failed health RPC (what a call raises is also a grpc.Call)."""
    import grpc

    call = err if isinstance(err, grpc.Call) else None
    code = call.code() if call is not None else None
    details = (call.details() or "") if call is not None else str(err)
    if code is grpc.StatusCode.DEADLINE_EXCEEDED:
        return f"timeout: health rpc to {address} did not complete within {timeout:g}s"
    if code is grpc.StatusCode.UNIMPLEMENTED:
        return ("this server does not implement the gRPC health protocol "
                f"(grpc.health.v1.Health): {details}")
    if code is grpc.StatusCode.NOT_FOUND:  # the protocol's answer for an unknown service
        return f'health rpc to {address} failed: NOT_FOUND: unknown service "{service}"'
    name = code.name if code is not None else "UNKNOWN"  # UNAVAILABLE: no connection
    return f"health rpc to {address} failed: {name}: {details}"
