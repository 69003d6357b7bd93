"""A gRPC server with the standard health service, for the gRPC probe tests.

Imported by the unit tests (``serve`` on 127.0.0.1), and run as a program inside a
container by the end-to-end test: ``python grpc_health_server.py PORT [DOWN_FILE]`` serves
on every address of the container's network on PORT; the whole server ("") and the service
``shop`` answer SERVING, or NOT_SERVING while DOWN_FILE exists (checked every 0.1 s).
"""

from __future__ import annotations

import sys
import time
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class SlowHealth(health.HealthServicer):
    """A health service that answers only after ``delay`` seconds."""

    def __init__(self, delay: float):
        super().__init__()
        self.delay = delay

    def Check(self, request: health_pb2.HealthCheckRequest,
              context: grpc.ServicerContext) -> health_pb2.HealthCheckResponse:
        time.sleep(self.delay)
        return super().Check(request, context)


@dataclass
class Server:
    """A running server: its port, its health service (set statuses on it) and the grpc
    server (stop it)."""

    port: int
    health: health.HealthServicer
    server: grpc.Server

    def stop(self) -> None:
        self.server.stop(grace=0).wait(5)


def serve(address: str = "127.0.0.1:0", *, with_health: bool = True,
          delay: float = 0.0) -> Server:
    """Start a server on ``address`` (port 0: any free port). ``with_health=False``: a
    server that has no health service at all; ``delay``: the health service answers late."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    servicer = SlowHealth(delay) if delay else health.HealthServicer()
    if with_health:
        health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port(address)
    server.start()
    servicer.set("", SERVING)
    servicer.set("shop", SERVING)
    return Server(port, servicer, server)


def main(argv: list[str]) -> int:
    port = int(argv[1])
    down = Path(argv[2]) if len(argv) > 2 else None
    running = serve(f"0.0.0.0:{port}")
    print(f"serving gRPC health on port {running.port}", flush=True)
    current: int = SERVING
    while True:
        wanted = NOT_SERVING if down is not None and down.exists() else SERVING
        if wanted != current:
            for service in ("", "shop"):
                running.health.set(service, wanted)
            current = wanted
        time.sleep(0.1)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
