"""Which api the GitOps loop talks to: the running daemon's, or the store directly.

When ``gitkube serve`` runs for the store (issue 7), the CLI's routing
(``gitkube.cli.connect.client_for``) returns an HTTP client to it, and the daemon's agents
converge what the loop applies. Without a daemon (or before that routing exists) the loop
opens the store in-process (``LocalClient``) and, for ``gitkube watch``, runs the agents
itself.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from gitkube.api.client import Client


@dataclass(frozen=True)
class Connection:
    client: Client
    store_url: str
    daemon: bool  # True: an HTTP client to a running daemon (its agents converge)


def connect(store_url: str) -> Connection:
    """The api for ``store_url``: the daemon's when one runs for it, else in-process."""
    from gitkube.api.local import LocalClient

    try:
        routing = importlib.import_module("gitkube.cli.connect")
    except ImportError:
        routing = None
    client_for = getattr(routing, "client_for", None)
    if client_for is not None:
        client: Client = client_for(store_url)
        return Connection(client, store_url, not isinstance(client, LocalClient))
    from gitkube.store import open_store

    return Connection(LocalClient(open_store(store_url)), store_url, False)
