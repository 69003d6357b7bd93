"""Which Client a CLI command uses: the daemon's API when one runs on that store, else the
store directly.

``client_for(store)`` returns an HTTP client over the daemon's unix socket when a
``gitkube serve`` of this state directory is running and either no store was named (no
``--store``, no ``$GITKUBE_STORE``: the daemon's store, whatever it is) or the named store is
the daemon's (compared by ``store_identity``: the same SQLite file, the same etcd endpoint).
Otherwise it is a ``LocalClient`` over the store, opened in this process. Both implement the
one Client protocol, so every command behaves the same either way. ``GITKUBE_NO_DAEMON=1``
forces the embedded path (debugging, benchmarks).
"""

from __future__ import annotations

import http.client
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from gitkube.api.client import Client
from gitkube.config import STORE_ENV, default_store_url
from gitkube.daemon.state import DaemonInfo, store_identity
from gitkube.daemon.status import UnixConnection, running_daemon
from gitkube.errors import GitkubeError

NO_DAEMON_ENV = "GITKUBE_NO_DAEMON"


def daemon_for(store: str | None) -> DaemonInfo | None:
    """The running daemon serving ``store`` (None: any store, see the module docstring)."""
    if os.environ.get(NO_DAEMON_ENV, "") not in ("", "0"):
        return None
    info = running_daemon()
    if info is None or not Path(info.socket).exists():
        return None
    store = store or os.environ.get(STORE_ENV) or None
    if store is not None and info.store_id != store_identity(store):
        return None
    return info


def connect(store: str | None) -> tuple[Client, str]:
    """``client_for(store)`` and the URL of the store it reaches (the daemon's when it
    goes through one), for commands that record it (plan files, apply history)."""
    info = daemon_for(store)
    if info is not None:
        return socket_client(info.socket), info.store
    url = store or default_store_url()
    from gitkube.api.local import LocalClient
    from gitkube.store import open_store

    return LocalClient(open_store(url)), url


def socket_client(socket_path: str | Path) -> Client:
    """An HTTP client over a daemon's unix socket (no token: the socket is mode 0600)."""
    from gitkube.api.http_client import HTTPClient

    return HTTPClient(f"unix://{socket_path}")


def client_for(store: str | None) -> Client:
    """The daemon's API when it serves ``store``, else a LocalClient (module docstring)."""
    return connect(store)[0]


def through_daemon(client: Client) -> bool:
    """True when ``client`` talks to a daemon (its agents run there, not in this process)."""
    from gitkube.api.local import LocalClient

    return not isinstance(client, LocalClient)


def pod_logs(client: Client, pod: dict[str, Any], container: str | None, *,
             previous: bool = False, follow: bool = False, tail: int | None = None,
             note: Callable[[str], None] = lambda _t: None) -> Iterator[str]:
    """A container's output lines: through the daemon's ``pods/log`` when ``client`` talks
    to one (its kubelet's runtime has the containers), else from the local runtime."""
    from gitkube.cli.logs import container_logs

    server = getattr(client, "server", None)
    if not through_daemon(client) or not isinstance(server, str) \
            or not server.startswith("unix://"):
        return container_logs(pod, container, previous=previous, follow=follow, tail=tail,
                              note=note)
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
