"""Which api the GitOps loop talks to: the running daemon's, or the store directly.

The daemon's routing decides (``gitkube.daemon.client.client_for``): when ``gitkube
serve`` runs for the store, an HTTP client over its unix socket, and the daemon's agents
converge what the loop applies; otherwise a ``LocalClient`` over the store opened in this
process, and ``gitkube watch`` runs the agents itself. Using the same routing as every other
command keeps "same results either way" true for the hooks and the loop too.
"""

from __future__ import annotations

from dataclasses import dataclass

from gitkube.api.client import Client


@dataclass(frozen=True)
class Connection:
    client: Client
    store_url: str
    daemon: bool  # True: an HTTP client to a running daemon (its agents converge)


def connect(store_url: str) -> Connection:
    """The api for ``store_url``: the daemon's when one runs for it, else in-process."""
    from gitkube.daemon.client import client_for, through_daemon

    client = client_for(store_url)
    return Connection(client, store_url, through_daemon(client))
