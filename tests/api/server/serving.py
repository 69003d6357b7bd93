"""An APIServer over a LocalClient on a real store, on 127.0.0.1 (a free port), and
HTTPClients for it: what the HTTP API tests start and talk to."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from gitkube.api import LocalClient
from gitkube.api.http_client import HTTPClient
from gitkube.api.server import APIServer, LogOptions
from gitkube.store import Store

Obj = dict[str, Any]


class StoreHTTPClient(HTTPClient):
    """An HTTPClient that also exposes the server's store, as the shared contract tests
    reach for ``client.store`` (compaction, revisions)."""

    store: Store


def fake_logs(pod: Obj, options: LogOptions) -> Iterator[str]:
    """A pods/log provider without a container runtime: three numbered lines."""
    lines = [f"{pod['metadata']['name']}/{options.container} line {i}\n" for i in range(1, 4)]
    if options.tail_lines is not None:
        lines = lines[-options.tail_lines:] if options.tail_lines else []
    return iter(lines)


@dataclass
class Served:
    """A running server and how to reach it."""

    server: APIServer
    store: Store
    local: LocalClient
    url: str  # http://127.0.0.1:PORT
    port: int

    def client(self, **kwargs: Any) -> StoreHTTPClient:
        c = StoreHTTPClient(self.url, **kwargs)
        c.store = self.store
        return c


def start(store: Store, **kwargs: Any) -> Served:
    local = LocalClient(store)
    kwargs.setdefault("logs", fake_logs)
    server = APIServer(local, **kwargs)
    port = server.serve_tcp("127.0.0.1", 0)
    return Served(server, store, local, f"http://127.0.0.1:{port}", port)
