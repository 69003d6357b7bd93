"""The CLI's side of reaching the api: the routing of gitkube.daemon.client with the
command's settings, and container logs through the daemon or the local runtime."""

from __future__ import annotations

import http.client
import json
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote, urlencode

from gitkube.api.client import Client
from gitkube.cli.app import settings
from gitkube.daemon import client as routing
from gitkube.daemon.client import socket_client, through_daemon
from gitkube.daemon.state import DaemonInfo
from gitkube.daemon.status import UnixConnection
from gitkube.errors import GitkubeError

__all__ = ["client_for", "connect", "daemon_for", "pod_logs", "socket_client",
           "through_daemon"]


def daemon_for(store: str | None) -> DaemonInfo | None:
    """The running daemon serving this command's store (``--store`` given as ``store``)."""
    return routing.daemon_for(settings(store))


def connect(store: str | None) -> tuple[Client, str]:
    """The api for this command (``--store`` given as ``store``) and the URL of the store
    it reaches: the daemon's when one serves it (gitkube.daemon.client.connect)."""
    return routing.connect(settings(store))


def client_for(store: str | None) -> Client:
    """``connect(store)``'s client."""
    return connect(store)[0]


def pod_logs(client: Client, pod: dict[str, Any], container: str | None, *,
             previous: bool = False, follow: bool = False, tail: int | None = None,
             since_seconds: int | None = None, since_time: str | None = None,
             timestamps: bool = False,
             note: Callable[[str], None] = lambda _t: None) -> Iterator[str]:
    """A container's output lines: through the daemon's ``pods/log`` when ``client`` talks
    to one (its kubelet's runtime has the containers), else from the local runtime.
    ``since_seconds``/``since_time`` (RFC 3339) and ``timestamps`` are pods/log's
    ``sinceSeconds``, ``sinceTime`` and ``timestamps``."""
    import time

    from gitkube.cli.logs import container_logs, parse_since_time

    server = getattr(client, "server", None)
    if not through_daemon(client) or not isinstance(server, str) \
            or not server.startswith("unix://"):
        since = parse_since_time(since_time) if since_time else \
            None if since_seconds is None else time.time() - since_seconds
        return container_logs(pod, container, previous=previous, follow=follow, tail=tail,
                              since=since, timestamps=timestamps, note=note)
    meta, spec = pod["metadata"], pod.get("spec") or {}
    names = [c["name"] for c in spec.get("containers") or []]
    if container is None and names:
        container = names[0]
        if len(names) > 1:
            every = [c["name"] for c in spec.get("initContainers") or []] + names
            note(f'Defaulted container "{container}" out of: {", ".join(every)}')
    query: dict[str, str] = {}
    if container:
        query["container"] = container
    if follow:
        query["follow"] = "true"
    if previous:
        query["previous"] = "true"
    if tail is not None:
        query["tailLines"] = str(tail)
    if since_seconds is not None:
        query["sinceSeconds"] = str(since_seconds)
    if since_time:
        query["sinceTime"] = since_time
    if timestamps:
        query["timestamps"] = "true"
    path = (f"/api/v1/namespaces/{quote(str(meta.get('namespace') or 'default'))}/pods/"
            f"{quote(str(meta['name']))}/log?{urlencode(query)}")
    return _stream_text(server[len("unix://"):], path)


def _stream_text(socket_path: str, path: str) -> Iterator[str]:
    """GET ``path`` over the unix socket and yield the text answer line by line as it
    arrives (chunked when following); a Status error becomes its APIError."""
    from gitkube.api.http_client import error_from_status

    conn = UnixConnection(socket_path, None)
    try:
        conn.request("GET", path, headers={"Accept": "text/plain, application/json"})
        resp = conn.getresponse()
        if resp.status >= 400:
            raw = resp.read()
            try:
                body: Any = json.loads(raw)
            except ValueError:
                body = raw.decode(errors="replace")
            raise error_from_status(body, resp.status)
        while True:
            line = resp.readline()
            if not line:
                return
            yield line.decode(errors="replace")
    except (OSError, http.client.HTTPException) as exc:
        raise GitkubeError(f"reading logs from the daemon failed: {exc}") from exc
    finally:
        conn.close()
