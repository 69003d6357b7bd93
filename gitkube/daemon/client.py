"""Which Client a command uses: the daemon's API when one runs on that store, else the
store directly.

``connect(settings)`` returns an HTTP client over the daemon's unix socket when a
``gitkube serve`` of the settings' state directory is running and either no store was named
(no ``--store``, no ``$GITKUBE_STORE``: the daemon's store, whatever it is) or the named
store is the daemon's (compared by ``store_identity``: the same SQLite file, the same etcd
endpoint). Otherwise it is a ``LocalClient`` over the store, opened in this process. Both
implement the one Client protocol, so every command behaves the same either way.
``settings.no_daemon`` (``GITKUBE_NO_DAEMON=1``) forces the embedded path (debugging,
benchmarks). ``settings.server`` (``GITKUBE_SERVER=URL[,URL...]`` with ``GITKUBE_TOKEN``
and ``GITKUBE_CA``) names remote API servers instead: an HTTPClient that fails over
between them.

It lives below the CLI so that the GitOps loop and the git hooks route exactly like every
command does.
"""

from __future__ import annotations

from pathlib import Path

from gitkube.api.client import Client
from gitkube.daemon.paths import DaemonPaths
from gitkube.daemon.state import DaemonInfo, store_identity
from gitkube.daemon.status import running_daemon
from gitkube.settings import Settings


def daemon_for(settings: Settings) -> DaemonInfo | None:
    """The running daemon serving the settings' store (any store when none is named: see
    the module docstring)."""
    if settings.no_daemon:
        return None
    info = running_daemon(DaemonPaths.of(settings))
    if info is None or not Path(info.socket).exists():
        return None
    if settings.store is not None and info.store_id != store_identity(settings.store):
        return None
    return info


def connect(settings: Settings) -> tuple[Client, str]:
    """``client_for(settings)`` and the URL of the store it reaches (the daemon's when it
    goes through one), for commands that record it (plan files, apply history)."""
    if settings.server:  # remote API servers (an HA control plane: the client fails over)
        from gitkube.api.http_client import HTTPClient

        cas = [c for c in (settings.ca or "").split(",") if c]
        return HTTPClient(settings.server, token=settings.token, ca=cas or None), \
            settings.server
    info = daemon_for(settings)
    if info is not None:
        return socket_client(info.socket), info.store
    url = settings.store_url
    from gitkube.api.local import LocalClient
    from gitkube.store import open_store

    return LocalClient(open_store(url), service_cidr=settings.network.service_cidr), url


def socket_client(socket_path: str | Path) -> Client:
    """An HTTP client over a daemon's unix socket (no token: the socket is mode 0600)."""
    from gitkube.api.http_client import HTTPClient

    return HTTPClient(f"unix://{socket_path}")


def client_for(settings: Settings) -> Client:
    """The daemon's API when it serves the settings' store, else a LocalClient (module
    docstring)."""
    return connect(settings)[0]


def through_daemon(client: Client) -> bool:
    """True when ``client`` talks to a daemon (its agents run there, not in this process)."""
    from gitkube.api.local import LocalClient

    return not isinstance(client, LocalClient)
